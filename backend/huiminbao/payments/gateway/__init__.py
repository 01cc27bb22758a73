"""The payment gateway: the port every adapter implements (``port``; the WeChat Pay v3 adapter is
``payments.wechatpay_v3``), and the built-in simulator with its pay page and notifications."""
