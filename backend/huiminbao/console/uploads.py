"""``Idempotency-Key`` for multipart uploads (a CSV file and form fields).

``core.idempotency.idempotent`` fingerprints the JSON body by default, which a multipart request
does not have: with it, the same key sent with a different file would replay the first answer.
Uploads keep the same contract and records with a fingerprint of the form fields and the files'
SHA-256 instead.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from typing import Any, TypeVar

from flask import request

from huiminbao.core.idempotency import idempotent

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
    return idempotent(owner_of_request, fingerprint_of=upload_fingerprint)
