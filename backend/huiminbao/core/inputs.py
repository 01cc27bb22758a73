"""Bad input answers 4xx in the error shape, never 500.

- ``Id``: the marshmallow field for every id a client sends (body or query): an integer in
  ``1..MAX_ID`` (a 64-bit signed column), so nothing beyond 64 bits is ever bound to SQL.
- ``BoundedIntConverter``: replaces Flask's ``<int:...>`` path converter app-wide: ASCII digits
  only and at most ``MAX_ID``; anything else is no route (404).
- ``check_request_input``: runs before every request. A JSON body is parsed once, here, with
  bounded integers (at most 64 bits: no integer of ours is bigger, and Python refuses to parse
  very long ones) and a bounded nesting depth; every string in it (keys too), in the query string
  and in the path must be free of NUL characters and unpaired surrogates (PostgreSQL refuses the
  one, UTF-8 cannot encode the other). The message names the offending field. The same holds
  for the fields (and file names) of a form or multipart upload, and no header value may hold
  a NUL character (the app copies several into the database: Idempotency-Key, X-Acting-For, the
  hospitals' signature headers).
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from typing import Any

from flask import Flask, request
from marshmallow import fields, validate
from werkzeug.routing import IntegerConverter, Map

from huiminbao.core.errors import DomainError, InvalidInput

MAX_ID = 2**63 - 1
MAX_JSON_DEPTH = 32
# The longest integer literal that can still be a 64-bit value ("-9223372036854775808").
_MAX_INT_LITERAL = 20


_FORM_TYPES = frozenset({"multipart/form-data", "application/x-www-form-urlencoded"})


class BadRequest(DomainError):
    http_status = 400
    code = "bad_request"


class Id(fields.Integer):
    """An id sent by a client: an integer in ``1..MAX_ID`` (pass ``strict=True`` for JSON)."""

    def __init__(self, **kwargs: Any) -> None:
        validators = kwargs.pop("validate", None)
        extra = [] if validators is None else (
            list(validators) if isinstance(validators, list | tuple) else [validators])
        super().__init__(validate=[validate.Range(min=1, max=MAX_ID, error="编号超出允许范围"),
                                   *extra], **kwargs)


class BoundedIntConverter(IntegerConverter):
    """``<int:...>``: ASCII digits, at most ``MAX_ID`` (beyond: 404, not an overflow)."""

    regex = r"[0-9]{1,19}"

    def __init__(self, map: Map, fixed_digits: int = 0, min: int | None = None,
                 max: int | None = None, signed: bool = False) -> None:
        super().__init__(map, fixed_digits=fixed_digits, min=min,
                         max=MAX_ID if max is None else max, signed=False)


def _bounded_int(literal: str) -> int:
    if len(literal) > _MAX_INT_LITERAL:
        raise _TooBig
    value = int(literal)
    if not -MAX_ID - 1 <= value <= MAX_ID:
        raise _TooBig
    return value


class _TooBig(ValueError):
    pass


def parse_json_body(raw: bytes) -> Any:
    """Parse a request body, refusing what would fail deeper in (400/422 in the error shape).
    A body that is not JSON at all answers None here."""
    try:
        document = json.loads(raw, parse_int=_bounded_int)
    except _TooBig:
        raise InvalidInput("提交的数值超出允许范围", code="number_too_large") from None
    except RecursionError:
        raise BadRequest("请求内容嵌套层级过深", code="json_too_deep") from None
    except ValueError:  # JSONDecodeError, UnicodeDecodeError
        # Not JSON at all: left to the view, which checks who is calling first (a signed
        # endpoint answers an unsigned request 401 whatever its body) and whose parser answers
        # 400 in the error shape.
        return None
    for path, value, depth in _walk(document):
        if depth > MAX_JSON_DEPTH:
            raise BadRequest("请求内容嵌套层级过深", code="json_too_deep")
        if isinstance(value, str):
            _check_text(path, value)
    return document


def _walk(document: Any) -> Iterator[tuple[str, Any, int]]:
    """Every value and every key of a parsed JSON document, with its path and depth, without
    recursion (the depth is checked by the caller as the walk goes)."""
    stack: list[tuple[str, Any, int]] = [("", document, 0)]
    while stack:
        path, value, depth = stack.pop()
        yield path, value, depth
        if isinstance(value, Mapping):
            for key, item in value.items():
                name = f"{path}.{key}" if path else str(key)
                yield name, str(key), depth + 1
                stack.append((name, item, depth + 1))
        elif isinstance(value, list):
            for index, item in enumerate(value):
                stack.append((f"{path}.{index}" if path else str(index), item, depth + 1))


def text_problem(value: str) -> str | None:
    """Why a text cannot be stored, in Chinese, or None."""
    if "\x00" in value:
        return "不能包含空字符（NUL）"
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return "包含无效的字符（不成对的代理项）"
    return None


def _check_text(path: str, value: str) -> None:
    problem = text_problem(value)
    if problem is not None:
        # The path may itself hold the bad characters (a key): name it safely.
        field = path.encode("utf-8", "backslashreplace").decode("utf-8") or "_schema"
        field = field.replace("\x00", "\\x00")
        raise InvalidInput(f"字段 {field} {problem}", errors={field: [problem]},
                           code="invalid_text")


def check_request_input() -> None:
    for name, value in request.args.items(multi=True):
        _check_text(name, name)
        _check_text(name, value)
    for name, value in (request.view_args or {}).items():
        if isinstance(value, str):
            _check_text(name, value)
    for name, value in request.headers.items():
        if "\x00" in value:
            _check_text(name, value)
    if request.mimetype in _FORM_TYPES:
        for name, value in request.form.items(multi=True):
            _check_text(name, name)
            _check_text(name, value)
        for name, upload in request.files.items(multi=True):
            _check_text(name, name)
            _check_text(name, upload.filename or "")
    if request.is_json and request.method not in {"GET", "HEAD", "OPTIONS"}:
        raw = request.get_data(cache=True)
        if raw.strip():
            parse_json_body(raw)


def init_input_checks(app: Flask) -> None:
    """Call before any blueprint is registered (the converter applies to rules added after)."""
    app.url_map.converters["int"] = BoundedIntConverter
    app.before_request(check_request_input)
