"""Proxy handling (授权办理、亲友代办): grants, acting for someone, what the principal sees."""
