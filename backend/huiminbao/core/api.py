"""The flask-smorest ``Api`` with the one error payload shape of the whole API.

Every error, whatever raised it, answers::

    {"code": "invalid_input", "message": "中文说明", "errors": {"field": ["中文说明"]},
     "request_id": "..."}
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping
from typing import Any

import marshmallow as ma
from flask import Flask, Response, g, jsonify
from flask_limiter import RateLimitExceeded
from flask_smorest import Api as SmorestApi
from werkzeug.exceptions import HTTPException

from huiminbao.core.db import is_database_unavailable
from huiminbao.core.errors import DomainError, RemoteUnavailable
from huiminbao.core.ratelimit import retry_after_seconds, throttled_message

log = logging.getLogger(__name__)

_HAS_CJK = re.compile(r"[\u3400-\u9fff\U00020000-\U0003134f]")

# marshmallow's own messages, in Chinese. Our validators already speak Chinese; any English message
# not listed here falls back to a generic Chinese one rather than leaking through.
_MARSHMALLOW_MESSAGES = {
    "Missing data for required field.": "此项为必填项",
    "Field may not be null.": "此项不能为空",
    "Unknown field.": "不支持的字段",
    "Not a valid string.": "应为文本",
    "Not a valid integer.": "应为整数",
    "Not a valid number.": "应为数字",
    "Not a valid boolean.": "应为是或否",
    "Not a valid list.": "应为列表",
    "Not a valid mapping type.": "应为对象",
    "Not a valid datetime.": "时间格式不正确，应为 ISO 8601 格式",
    "Not a valid date.": "日期格式不正确，应为 YYYY-MM-DD",
    "Invalid input type.": "格式不正确",
    "Invalid value.": "取值不正确",
    "Shorter than minimum length 1.": "不能为空",
}

_STATUS_MESSAGES = {
    400: ("bad_request", "请求格式不正确"),
    401: ("unauthenticated", "请先登录"),
    403: ("forbidden", "无权进行此操作"),
    404: ("not_found", "未找到相关记录"),
    405: ("method_not_allowed", "不支持该请求方式"),
    409: ("conflict", "请求与当前状态冲突"),
    412: ("precondition_failed", "数据已被修改，请刷新后重试"),
    413: ("too_large", "上传内容过大"),
    415: ("unsupported_media_type", "请以 JSON 格式提交"),
    422: ("invalid_input", "提交的信息有误，请检查后重试"),
    428: ("precondition_required", "缺少必要的请求头"),
    429: ("too_many_requests", "操作过于频繁，请稍后再试"),
    500: ("internal_error", "系统繁忙，请稍后再试"),
    503: ("unavailable", "服务暂不可用，请稍后再试"),
}

# Database trouble (unreachable, timed out, locked) passes: the client may retry after this long.
DATABASE_RETRY_AFTER_SECONDS = 3
DATABASE_UNAVAILABLE_MESSAGE = "系统繁忙，请稍后再试"
# The registry or the gateway did not answer: whatever was asked is settled by querying later.
REMOTE_RETRY_AFTER_SECONDS = 5
REMOTE_UNAVAILABLE_MESSAGE = "医保或支付平台暂时无法访问，请稍后再试；如已提交扣款，结果以订单为准"


def database_unavailable_response() -> Response:
    return error_response(503, "unavailable", DATABASE_UNAVAILABLE_MESSAGE,
                          headers={"Retry-After": str(DATABASE_RETRY_AFTER_SECONDS)})


def translate_message(message: str) -> str:
    if _HAS_CJK.search(message):
        return message
    if message in _MARSHMALLOW_MESSAGES:
        return _MARSHMALLOW_MESSAGES[message]
    if message.startswith("Must be one of"):
        return "取值不在允许范围内"
    if message.startswith(("Length must be", "Shorter than", "Longer than")):
        return "长度不符合要求"
    if message.startswith("Must be greater") or message.startswith("Must be less"):
        return "数值超出允许范围"
    return "格式不正确"


def _flatten_field_errors(errors: Any, prefix: str = "") -> dict[str, list[str]]:
    """marshmallow nests errors by location and field; flatten to ``{"field.sub": [msg]}``."""
    flat: dict[str, list[str]] = {}
    if isinstance(errors, Mapping):
        for key, value in errors.items():
            name = f"{prefix}.{key}" if prefix else str(key)
            flat.update(_flatten_field_errors(value, name))
    elif isinstance(errors, list | tuple):
        if all(isinstance(item, str) for item in errors):
            flat[prefix or "_schema"] = [translate_message(item) for item in errors]
        else:
            for index, item in enumerate(errors):
                name = f"{prefix}.{index}" if prefix else str(index)
                flat.update(_flatten_field_errors(item, name))
    elif isinstance(errors, str):
        flat[prefix or "_schema"] = [translate_message(errors)]
    return flat


def _strip_location(errors: Mapping[str, Any]) -> Mapping[str, Any]:
    # webargs groups errors by location ("json", "query", "headers"); clients want field names.
    if len(errors) == 1:
        (location, inner), = errors.items()
        if location in {"json", "query", "form", "headers", "files", "path", "view_args"}:
            return inner if isinstance(inner, Mapping) else {"_schema": inner}
    return errors


def error_response(
    status: int,
    code: str,
    message: str,
    errors: Mapping[str, list[str]] | None = None,
    headers: Mapping[str, str] | None = None,
) -> Response:
    payload = {"code": code, "message": message, "errors": dict(errors or {}),
               "request_id": g.get("request_id")}
    response = jsonify(payload)
    response.status_code = status
    for name, value in (headers or {}).items():
        response.headers[name] = value
    return response


def _http_headers(error: HTTPException) -> dict[str, str]:
    """The headers the HTTP error itself carries (405's ``Allow``, 401's ``WWW-Authenticate``),
    without its HTML content type."""
    return {name: value for name, value in error.get_headers()
            if name.lower() != "content-type"}


class ErrorSchema(ma.Schema):
    """Every error answer, whatever its status (``error_response``): what the OpenAPI documents
    as the default error response of every operation."""

    code = ma.fields.String(required=True, metadata={"description": "machine-readable, e.g. "
                                                     "validation_error, order_paid"})
    message = ma.fields.String(required=True, metadata={"description": "Chinese, for people"})
    errors = ma.fields.Dict(keys=ma.fields.String(),
                            values=ma.fields.List(ma.fields.String()),
                            metadata={"description": "field -> Chinese messages"})
    request_id = ma.fields.String(allow_none=True)


class Api(SmorestApi):  # type: ignore[misc]
    ERROR_SCHEMA = ErrorSchema
    def handle_http_exception(self, error: HTTPException) -> Response:
        status = error.code or 500
        code, message = _STATUS_MESSAGES.get(status, ("error", "请求未能完成"))
        field_errors: dict[str, list[str]] = {}
        data = getattr(error, "data", None) or {}
        if isinstance(data.get("messages"), Mapping):
            field_errors = _flatten_field_errors(_strip_location(data["messages"]))
            if "_schema" in field_errors and len(field_errors) == 1:
                message = field_errors["_schema"][0]
        if isinstance(data.get("message"), str) and _HAS_CJK.search(data["message"]):
            message = data["message"]
        headers = _http_headers(error) | dict(data.get("headers") or {})
        if status >= 500:
            log.error("request failed with status %s", status)
        return error_response(status, code, message, field_errors, headers)


def register_error_handlers(app: Flask) -> None:
    @app.errorhandler(RateLimitExceeded)
    def _throttled(error: RateLimitExceeded) -> Response:
        seconds = retry_after_seconds(error)
        return error_response(429, "too_many_requests", throttled_message(seconds),
                              headers={"Retry-After": str(seconds)})

    @app.errorhandler(DomainError)
    def _domain_error(error: DomainError) -> Response:
        return error_response(error.http_status, error.code, error.message, error.errors,
                              error.headers)

    @app.errorhandler(Exception)
    def _unexpected(error: Exception) -> Response:
        if isinstance(error, HTTPException):
            code, message = _STATUS_MESSAGES.get(error.code or 500, ("error", "请求未能完成"))
            return error_response(error.code or 500, code, message, headers=_http_headers(error))
        if isinstance(error, RemoteUnavailable):
            log.warning("remote service unavailable: %s", type(error).__name__)
            return error_response(503, "remote_unavailable", REMOTE_UNAVAILABLE_MESSAGE,
                                  headers={"Retry-After": str(REMOTE_RETRY_AFTER_SECONDS)})
        if is_database_unavailable(error):
            # Not a defect: the request may succeed once the database answers again. The
            # driver's first line says why; the statement and its parameters stay out of logs.
            reason = str(getattr(error, "orig", None) or error).strip().splitlines()
            log.warning("database unavailable: %s: %s", type(error).__name__,
                        reason[0] if reason else "")
            return database_unavailable_response()
        log.exception("unhandled error")
        code, message = _STATUS_MESSAGES[500]
        return error_response(500, code, message)
