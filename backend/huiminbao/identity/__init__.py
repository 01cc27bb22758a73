"""Who is asking: SMS and WeChat login, sessions and tokens, real-name binding, roles, the gate."""
