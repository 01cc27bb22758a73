"""Rate limits (Flask-Limiter): Redis when ``REDIS_URL`` is set, so every app server shares them;
in-process otherwise."""

from __future__ import annotations

import math
import time

from flask import Flask, Response, request
from flask_limiter import Limiter, RateLimitExceeded
from flask_limiter.util import get_remote_address

from huiminbao.core.config import Settings

limiter = Limiter(key_func=get_remote_address, headers_enabled=True, strategy="fixed-window")


def init_rate_limits(app: Flask, settings: Settings) -> None:
    app.config["RATELIMIT_STORAGE_URI"] = settings.redis_url or "memory://"
    app.config["RATELIMIT_KEY_PREFIX"] = "huiminbao"
    # Limits are part of the product (OTP abuse costs money and privacy): on in tests too.
    app.config.setdefault("RATELIMIT_ENABLED", True)
    limiter.init_app(app)


def json_field_key(field: str) -> str:
    """Key a limit on a field of the JSON body (e.g. the phone number a code is sent to)."""
    body = request.get_json(silent=True)
    value = body.get(field) if isinstance(body, dict) else None
    return f"{field}:{str(value).strip()[:32]}" if value else f"{field}:-"


def unless_server_error(response: Response) -> bool:
    """``deduct_when`` of code-sending limits: a text the server or provider failed to send
    (5xx) does not count against the phone or ID number; the person may ask again at once."""
    return response.status_code < 500


def retry_after_seconds(error: RateLimitExceeded) -> int:
    current = limiter.current_limit
    if current is None:
        return 60
    # Flask-Limiter's Retry-After header truncates the same way: message and header agree.
    return max(1, int(current.reset_at - time.time()))


def throttled_message(seconds: int) -> str:
    """When to come back, in the unit a person would use."""
    if seconds >= 20 * 3600:
        return "操作过于频繁，请明天再试"
    if seconds >= 2 * 3600:
        return f"操作过于频繁，请{math.ceil(seconds / 3600)}小时后再试"
    if seconds > 120:
        return f"操作过于频繁，请{math.ceil(seconds / 60)}分钟后再试"
    return f"操作过于频繁，请{seconds}秒后再试"


def add_retry_after(response: Response, seconds: int) -> Response:
    response.headers["Retry-After"] = str(seconds)
    return response
