"""``Idempotency-Key`` for multipart uploads (a CSV file and form fields).

``core.idempotency.idempotent`` fingerprints the JSON body, which a multipart request does not
have: with it, the same key sent with a different file would replay the first answer. This
decorator keeps the same contract and the same stored records — first request runs, a retry
with the same key and the same content gets the stored answer, the same key with different
content is refused — with a fingerprint of the form fields and the files' SHA-256.
"""

from __future__ import annotations

import functools
import hashlib
import json
from collections.abc import Callable
from typing import Any, TypeVar

from flask import make_response, request

from huiminbao.core.errors import DomainError, InvalidInput
from huiminbao.core.idempotency import (
    _KEY_SHAPE,
    HEADER,
    _claim,
    _finish,
    _forget,
    _replay,
)

F = TypeVar("F", bound=Callable[..., Any])


def upload_fingerprint(owner: str) -> str:
    files = {}
    for name, storage in sorted(request.files.items()):
        data = storage.stream.read()
        storage.stream.seek(0)
        files[name] = hashlib.sha256(data).hexdigest()
    canonical = json.dumps(
        {"method": request.method, "path": request.path, "form": sorted(request.form.items()),
         "files": files}, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(f"{owner}|{canonical}".encode()).hexdigest()


def idempotent_upload(owner_of_request: Callable[[], str]) -> Callable[[F], F]:
    def decorate(view: F) -> F:
        @functools.wraps(view)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            key = request.headers.get(HEADER, "").strip()
            if not key:
                raise InvalidInput("缺少幂等键：请在请求头 Idempotency-Key 中提供唯一的请求编号",
                                   code="idempotency_key_required",
                                   errors={HEADER: ["此项为必填项"]})
            if not _KEY_SHAPE.match(key):
                raise InvalidInput("幂等键格式不正确：应为8至128位字母、数字或 . _ : -",
                                   code="idempotency_key_invalid",
                                   errors={HEADER: ["格式不正确"]})
            owner = owner_of_request()
            fingerprint = upload_fingerprint(owner)
            record_id = _claim(owner, key, fingerprint)
            if record_id is None:
                return _replay(owner, key, fingerprint)
            try:
                response = make_response(view(*args, **kwargs))
            except DomainError as error:
                from huiminbao.core.api import error_response

                _finish(record_id, error_response(error.http_status, error.code, error.message,
                                                  error.errors))
                raise
            except Exception:
                _forget(record_id)
                raise
            _finish(record_id, response)
            response.headers["Idempotency-Replayed"] = "false"
            return response

        return wrapper  # type: ignore[return-value]

    return decorate
