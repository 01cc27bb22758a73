"""What the CSV uploads (employer batches, subsidy rosters) share: ``Idempotency-Key`` for
multipart requests, and closing an upload once its rows are processed.

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
from sqlalchemy import Select
from sqlalchemy.orm import Session

from huiminbao.audit import services as audit
from huiminbao.audit.services import AuditActor, AuditEntry
from huiminbao.console.models import EmployerBatch, SubsidyRosterImport
from huiminbao.core.container import Container
from huiminbao.core.idempotency import idempotent
from huiminbao.identity.auth import Actor

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


def close_upload(session: Session, c: Container, staff: Actor,
                 upload: EmployerBatch | SubsidyRosterImport, outcomes: Select[str],
                 counts: dict[str, int], *, action: str, object_type: str,
                 object_id: str) -> None:
    """Within the caller's transaction: the upload is done, and the audit log records how
    many of its rows ended in each outcome (``counts`` holds the outcomes always reported)."""
    upload.status, upload.finished_at = "done", c.clock.now()
    for outcome in session.scalars(outcomes):
        counts[outcome] = counts.get(outcome, 0) + 1
    audit.record(session, c.clock, AuditEntry(
        action=action, actor=AuditActor(staff.account_id, staff.role.value),
        object_type=object_type, object_id=object_id, details=counts,
    ))


def open_upload(session: Session, c: Container, staff: Actor,
                upload: EmployerBatch | SubsidyRosterImport, details: dict[str, Any], *,
                action: str, object_type: str, object_id: str) -> None:
    """Within the caller's transaction: store the upload with its rows (its id assigned) and
    record in the audit log who uploaded it."""
    session.add(upload)
    session.flush()
    audit.record(session, c.clock, AuditEntry(
        action=action, actor=AuditActor(staff.account_id, staff.role.value),
        object_type=object_type, object_id=object_id, details=details,
    ))
