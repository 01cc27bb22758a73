"""``Idempotency-Key`` for money-moving POSTs.

The first request with a key runs and its response is stored; a retry with the same key and the
same body gets that stored response without running again (money moves once); the same key with
a different body is refused. Concurrent duplicates wait for the first to finish, then replay it.
Keys belong to their caller (an account, or a service client), so two callers never collide.
"""

from __future__ import annotations

import functools
import hashlib
import json
import re
import time
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any, TypeVar

from flask import Response, make_response, request
from sqlalchemy import (
    JSON,
    CheckConstraint,
    Integer,
    String,
    UniqueConstraint,
    delete,
    insert,
    select,
    update,
)
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Mapped, mapped_column

from huiminbao.core.container import container
from huiminbao.core.db import Base, BigIntPk, UtcDateTime, table_of
from huiminbao.core.errors import Conflict, DomainError, InvalidInput

HEADER = "Idempotency-Key"
_KEY_SHAPE = re.compile(r"^[A-Za-z0-9._:-]{8,128}$")
KEEP_FOR = timedelta(days=2)
WAIT_FOR_FIRST = 30.0  # seconds a duplicate waits for the first request to finish
F = TypeVar("F", bound=Callable[..., Any])


class IdempotencyRecord(Base):
    __tablename__ = "idempotency_keys"
    __table_args__ = (
        UniqueConstraint("owner", "key", name="uq_idempotency_keys_owner_key"),
        CheckConstraint("state IN ('running', 'done')", name="state_values"),
    )

    id: Mapped[int] = mapped_column(BigIntPk, primary_key=True)
    owner: Mapped[str] = mapped_column(String(64))
    key: Mapped[str] = mapped_column(String(128))
    request_hash: Mapped[str] = mapped_column(String(64))
    state: Mapped[str] = mapped_column(String(8))
    response_status: Mapped[int | None] = mapped_column(Integer)
    response_body: Mapped[Any] = mapped_column(JSON, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, index=True)


def request_fingerprint(owner: str) -> str:
    body = request.get_json(silent=True)
    canonical = json.dumps(
        {"method": request.method, "path": request.path, "body": body,
         "acting_for": request.headers.get("X-Acting-For", "")},
        sort_keys=True, ensure_ascii=False, separators=(",", ":"),
    )
    return hashlib.sha256(f"{owner}|{canonical}".encode()).hexdigest()


def idempotent(owner_of_request: Callable[[], str],
               fingerprint_of: Callable[[str], str] = request_fingerprint) -> Callable[[F], F]:
    """Decorate a view method. ``owner_of_request`` names the caller (and authenticates it);
    ``fingerprint_of(owner)`` tells a retry from a different request under the same key (by
    default the JSON body; uploads hash their files instead)."""

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
            fingerprint = fingerprint_of(owner)
            record_id = _claim(owner, key, fingerprint)
            if record_id is None:
                return _replay(owner, key, fingerprint)
            try:
                response = make_response(view(*args, **kwargs))
            except DomainError as error:
                # A refusal is an answer too: a retry gets the same refusal, not a second try.
                from huiminbao.core.api import error_response

                response = error_response(error.http_status, error.code, error.message,
                                          error.errors)
                _finish(record_id, response)
                raise
            except Exception:
                _forget(record_id)  # an unexpected failure: let the client retry for real
                raise
            _finish(record_id, response)
            response.headers["Idempotency-Replayed"] = "false"
            return response

        return wrapper  # type: ignore[return-value]

    return decorate


def _claim(owner: str, key: str, fingerprint: str) -> int | None:
    c = container()
    try:
        with c.db.transaction() as session:
            keys = table_of(IdempotencyRecord)
            return int(session.execute(
                insert(keys).values(owner=owner, key=key, request_hash=fingerprint,
                                    state="running", created_at=c.clock.now())
                .returning(keys.c.id)).scalar_one())
    except IntegrityError:
        return None


def _replay(owner: str, key: str, fingerprint: str) -> Response:
    c = container()
    deadline = time.monotonic() + WAIT_FOR_FIRST
    while True:
        with c.db.read() as session:
            record = session.scalars(
                select(IdempotencyRecord).where(IdempotencyRecord.owner == owner,
                                                IdempotencyRecord.key == key)
            ).one_or_none()
        if record is None:  # the first attempt failed unexpectedly and was forgotten
            raise Conflict("上一次相同请求未完成，请稍后重试", code="idempotency_retry")
        if record.request_hash != fingerprint:
            raise Conflict("该幂等键已用于另一笔不同的请求，请勿重复使用",
                           code="idempotency_key_reused")
        if record.state == "done":
            response = make_response(record.response_body if record.response_body is not None
                                     else "", record.response_status or 200)
            response.headers["Idempotency-Replayed"] = "true"
            return response
        if time.monotonic() > deadline:
            raise Conflict("相同的请求正在处理中，请稍后查询结果", code="idempotency_in_progress")
        time.sleep(0.05)


def _finish(record_id: int, response: Response) -> None:
    c = container()
    body = response.get_json(silent=True) if response.is_json else None
    with c.db.transaction() as session:
        session.execute(update(IdempotencyRecord).where(IdempotencyRecord.id == record_id)
                        .values(state="done", response_status=response.status_code,
                                response_body=body))


def _forget(record_id: int) -> None:
    with container().db.transaction() as session:
        session.execute(delete(IdempotencyRecord).where(IdempotencyRecord.id == record_id))
