"""``Idempotency-Key`` for money-moving POSTs.

The first request with a key claims it ('running') and runs; its response is stored ('done'); a
retry with the same key and the same body gets that stored response without running again (money
moves once); the same key with a different body is refused. Keys belong to their caller (an
account, or a service client), so two callers never collide.

A request can die between its effects and storing its answer (a killed process, a lost
database), so a running key never holds for ever:

- it holds a *lease* of seconds (``Settings.idempotency_lease_seconds``), which ends by itself;
- the request links the key to what it creates (``link_resource``, inside the transaction that
  creates it: "order:<no>"), so from that moment the key knows its order;
- a retry that finds the lease ended takes the key over (one conditional UPDATE decides who) and
  answers from the linked object with the view's ``resume`` (settle the order, answer as the
  POST does) — or, when nothing was created yet, runs the request itself;
- a duplicate of a live key waits briefly for the answer, then gets 409 with ``Retry-After``:
  no worker thread is held for long.
"""

from __future__ import annotations

import functools
import hashlib
import json
import logging
import math
import re
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, TypeVar

from flask import Response, after_this_request, g, has_request_context, make_response, request
from sqlalchemy import (
    JSON,
    CheckConstraint,
    Integer,
    String,
    UniqueConstraint,
    bindparam,
    delete,
    insert,
    or_,
    select,
    update,
)
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Mapped, Session, mapped_column

from huiminbao.core.container import Container, container
from huiminbao.core.db import Base, BigIntPk, UtcDateTime, table_of
from huiminbao.core.errors import Conflict, DomainError, InvalidInput

log = logging.getLogger(__name__)

HEADER = "Idempotency-Key"
_KEY_SHAPE = re.compile(r"^[A-Za-z0-9._:-]{8,128}$")
KEEP_FOR = timedelta(days=2)
# How long a duplicate waits for a live first attempt to answer: a double click arrives while the
# first request is still running and usually gets its answer within this. A first attempt older
# than this is slow or dead: its duplicates are answered 409 at once.
WAIT_FOR_FIRST = 1.5  # seconds
_POLL_EVERY = 0.05  # seconds between reads while waiting
_LEASE_OF_REQUEST = "idempotency_lease"  # flask ``g``: the key lease this request holds
F = TypeVar("F", bound=Callable[..., Any])
# Answers a retry from the object its first attempt created ("order:<no>"), as the view would;
# it is handed the view too (``rerun``), for when settling that object lets the request run again.
Resume = Callable[[str, Callable[[], Any]], Any]


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
    # While 'running': until when the request that runs it holds it (none: ended).
    lease_expires_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    # What the request created, e.g. "order:<order_no>" (see ``link_resource``).
    resource: Mapped[str | None] = mapped_column(String(64))
    # Which attempt holds the lease (a random token): only it may link, store the answer or let
    # go, so a slow first attempt that was taken over cannot undo what its successor did.
    lease_holder: Mapped[str | None] = mapped_column(String(32))


def request_fingerprint(owner: str) -> str:
    body = request.get_json(silent=True)
    canonical = json.dumps(
        {"method": request.method, "path": request.path, "body": body,
         "acting_for": request.headers.get("X-Acting-For", "")},
        sort_keys=True, ensure_ascii=False, separators=(",", ":"),
    )
    # surrogatepass: a lone surrogate is refused before any view runs (core/inputs.py); should one
    # ever get here, the fingerprint still hashes rather than failing the request.
    return hashlib.sha256(f"{owner}|{canonical}".encode("utf-8", "surrogatepass")).hexdigest()


def link_resource(session: Session, resource: str) -> None:
    """Link the key of the current request to what it has just created ("order:<no>"). Call it
    inside the transaction that creates the object, so that both commit together: from then on a
    retry answers from that object instead of running again. It also renews the lease, since
    what follows (a debit) is what a retry must not settle under it. If this request no longer
    holds the key (it was so slow that a retry took it over), the creation is refused and rolls
    back. Outside a keyed request (a CLI job, a worker, a route without a key) it does nothing."""
    lease: _Lease | None = g.get(_LEASE_OF_REQUEST) if has_request_context() else None
    if lease is None:
        return
    c = container()
    held = session.execute(_LINK, {
        "record_id": lease.record_id, "holder": lease.holder, "resource": resource,
        "lease_expires_at": c.clock.now() + _lease_length(c)}).first()
    if held is None:
        raise Conflict("相同的请求已由另一次重试处理，请查看订单结果",
                       code="idempotency_taken_over")
    lease.linked = resource


def answer_with_resource(session: Session, resource: str) -> None:
    """The request's answer is the resource its key is linked to, now complete (an issued
    order): mark the key answered in the transaction that completes it, instead of storing the
    answer in a transaction of its own afterwards. A replay then answers from the resource
    through the view's ``resume``, as a retry after a crash does: the same resource, as it
    stands now (an order cancelled since shows so). Only views declared
    ``answer_from_resource`` are answered so; elsewhere
    (a CLI job, a notification, another view) it does nothing."""
    lease: _Lease | None = g.get(_LEASE_OF_REQUEST) if has_request_context() else None
    if lease is None or not lease.answers_from_resource or resource not in (
            lease.linked, lease.resource):
        return
    answered = session.execute(_ANSWERED_BY_RESOURCE, {
        "record_id": lease.record_id, "holder": lease.holder}).first()
    lease.answered = answered is not None


# The hot path's statements on the key, built once and given their values as parameters (a
# statement built per call costs about 0.2 ms more CPU). Each applies only while this attempt
# holds the key: a running key with this attempt's token.
_KEYS = table_of(IdempotencyRecord)
_HELD_BY_ME = (_KEYS.c.id == bindparam("record_id"), _KEYS.c.state == "running",
               _KEYS.c.lease_holder == bindparam("holder"))
_CLAIM = insert(_KEYS).returning(_KEYS.c.id)
_LINK = (update(_KEYS).where(*_HELD_BY_ME)
         .values(resource=bindparam("resource"),
                 lease_expires_at=bindparam("lease_expires_at"))
         .returning(_KEYS.c.id))
_ANSWERED_BY_RESOURCE = (update(_KEYS).where(*_HELD_BY_ME)
                         .values(state="done", response_status=None, response_body=None,
                                 lease_expires_at=None)
                         .returning(_KEYS.c.id))


@dataclass
class _Lease:
    record_id: int
    holder: str  # this attempt's token
    resource: str | None  # set when a retry took over a key whose first attempt created it
    # The view answers from what it creates (``answer_with_resource``): set by the decorator.
    answers_from_resource: bool = False
    linked: str | None = None  # what this attempt linked the key to
    answered: bool = False  # the key was marked answered in the view's own transaction


@dataclass(frozen=True)
class _FromResource:
    """A key answered by what its request created: replayed through the view's ``resume``."""

    resource: str


def idempotent(owner_of_request: Callable[[], str],
               fingerprint_of: Callable[[str], str] = request_fingerprint, *,
               resume: Resume | None = None,
               answer_from_resource: bool = False) -> Callable[[F], F]:
    """Decorate a view method. ``owner_of_request`` names the caller (and authenticates it);
    ``fingerprint_of(owner)`` tells a retry from a different request under the same key (by
    default the JSON body; uploads hash their files instead); ``resume(resource, rerun)``
    answers a retry whose first attempt died after creating ``resource``. Without ``resume``, or
    when nothing was linked, the retry runs the view again: a view whose effects are not linked
    must be safe to run twice (it then meets what the first attempt left).

    ``answer_from_resource`` (with ``resume``): a success is answered by what the request
    created, and the key is marked answered in the transaction that completes it
    (``answer_with_resource``); replays go through ``resume``. It saves the hot path a
    transaction of its own for the answer."""
    if answer_from_resource and resume is None:
        raise ValueError("answer_from_resource needs resume, which answers from the resource")

    def decorate(view: F) -> F:
        @functools.wraps(view)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            # The caller first: an anonymous request is told to sign in, whatever its headers.
            owner = owner_of_request()
            key = request.headers.get(HEADER, "").strip()
            if not key:
                raise InvalidInput("缺少幂等键：请在请求头 Idempotency-Key 中提供唯一的请求编号",
                                   code="idempotency_key_required",
                                   errors={HEADER: ["此项为必填项"]})
            if not _KEY_SHAPE.match(key):
                raise InvalidInput("幂等键格式不正确：应为8至128位字母、数字或 . _ : -",
                                   code="idempotency_key_invalid",
                                   errors={HEADER: ["格式不正确"]})
            held = _acquire(owner, key, fingerprint_of(owner))
            if isinstance(held, Response):
                return held
            run_view = functools.partial(view, *args, **kwargs)
            if isinstance(held, _FromResource):
                assert resume is not None  # only such views' keys are answered so
                return _replay_from_resource(held.resource, resume, run_view)
            held.answers_from_resource = answer_from_resource
            if held.resource is not None and resume is not None:
                return _run(held, functools.partial(resume, held.resource, run_view),
                            resumed=True)
            return _run(held, run_view, resumed=False)

        return wrapper  # type: ignore[return-value]

    return decorate


def _lease_length(c: Container) -> timedelta:
    return timedelta(seconds=c.settings.idempotency_lease_seconds)


def _acquire(owner: str, key: str, fingerprint: str) -> _Lease | _FromResource | Response:
    """The key's lease for this request to run under, or the stored answer to replay; raises
    409 when the key is someone else's request or still running elsewhere."""
    c = container()
    wait_until: float | None = None
    give_up_at = time.monotonic() + WAIT_FOR_FIRST  # for a key that keeps vanishing
    claim = True
    while True:
        if claim:
            claimed = _claim(c, owner, key, fingerprint)
            if claimed is not None:
                return claimed
        with c.db.read() as session:
            record = session.scalars(
                select(IdempotencyRecord).where(IdempotencyRecord.owner == owner,
                                                IdempotencyRecord.key == key)
            ).one_or_none()
        claim = record is None  # the first attempt failed before creating anything: forgotten
        if record is None:
            if time.monotonic() > give_up_at:
                raise Conflict("上一次相同请求未完成，请稍后重试", code="idempotency_retry",
                               headers={"Retry-After": "1"})
            continue
        if record.request_hash != fingerprint:
            raise Conflict("该幂等键已用于另一笔不同的请求，请勿重复使用",
                           code="idempotency_key_reused")
        if record.state == "done" and record.response_status is None \
                and record.resource is not None:
            return _FromResource(record.resource)
        if record.state == "done":
            response = make_response(record.response_body if record.response_body is not None
                                     else "", record.response_status or 200)
            response.headers["Idempotency-Replayed"] = "true"
            return response
        now = c.clock.now()
        lease_ends = record.lease_expires_at
        if lease_ends is None or lease_ends <= now:
            taken = _take_over(c, record.id, now)
            if taken is not None:
                return taken
            continue  # another retry took it over first: it is live now
        if wait_until is None:
            # Only a young first attempt is worth waiting for; an old one gets no wait at all.
            age = (now - (lease_ends - _lease_length(c))).total_seconds()
            wait_until = time.monotonic() + min(max(WAIT_FOR_FIRST - age, 0.0), WAIT_FOR_FIRST)
        if time.monotonic() >= wait_until:
            retry_after = max(1, math.ceil((lease_ends - now).total_seconds()))
            raise Conflict("相同的请求正在处理中，请稍后查询结果", code="idempotency_in_progress",
                           headers={"Retry-After": str(retry_after)})
        time.sleep(_POLL_EVERY)


def _claim(c: Container, owner: str, key: str, fingerprint: str) -> _Lease | None:
    now, holder = c.clock.now(), secrets.token_hex(8)
    try:
        with c.db.one_statement() as session:  # the claim is one INSERT: it commits by itself
            record_id = int(session.execute(_CLAIM, dict(
                owner=owner, key=key, request_hash=fingerprint, state="running",
                created_at=now, lease_holder=holder,
                lease_expires_at=now + _lease_length(c))).scalar_one())
    except IntegrityError:
        return None
    return _Lease(record_id, holder, None)


def _take_over(c: Container, record_id: int, now: datetime) -> _Lease | None:
    """Take over a running key whose lease has ended; of many retries at once, exactly one
    gets it (the row's lock orders them, and the others find a live lease)."""
    keys, holder = table_of(IdempotencyRecord), secrets.token_hex(8)
    with c.db.transaction() as session:
        taken = session.execute(
            update(keys)
            .where(keys.c.id == record_id, keys.c.state == "running",
                   or_(keys.c.lease_expires_at.is_(None), keys.c.lease_expires_at <= now))
            .values(lease_expires_at=now + _lease_length(c), lease_holder=holder)
            .returning(keys.c.resource)).one_or_none()
    if taken is None:
        return None
    log.warning("idempotency key %s taken over after its lease ended (linked to %s)",
                record_id, taken.resource or "nothing yet")
    return _Lease(record_id, holder, taken.resource)


def _run(lease: _Lease, action: Callable[[], Any], *, resumed: bool) -> Any:
    """Run the view (or resume it) under the lease and hand back what it returns, for the
    response decorator above it to dump: the answer is stored once it is the response the
    client gets (``after_this_request``), so the view returns data, never JSON it dumped."""
    setattr(g, _LEASE_OF_REQUEST, lease)  # for link_resource, during the action
    try:
        result = action()
    except DomainError as error:
        # A refusal is an answer too: a retry gets the same refusal, not a second try.
        from huiminbao.core.api import error_response

        _finish(lease, error_response(error.http_status, error.code, error.message,
                                      error.errors, error.headers))
        raise
    except Exception:
        _give_up(lease)
        raise
    finally:
        g.pop(_LEASE_OF_REQUEST, None)

    @after_this_request
    def _store(response: Response) -> Response:
        if response.status_code >= 500 and not lease.answered:  # it failed after the view
            _give_up(lease)
            return response
        if not lease.answered:  # else answered in the view's transaction, by the resource
            _finish(lease, response)
        # A resumed answer comes from what the first attempt did: nothing ran twice.
        response.headers["Idempotency-Replayed"] = "true" if resumed else "false"
        return response

    return result


def _replay_from_resource(resource: str, resume: Resume, run_view: Callable[[], Any]) -> Any:
    result = resume(resource, run_view)

    @after_this_request
    def _replayed(response: Response) -> Response:
        response.headers["Idempotency-Replayed"] = "true"
        return response

    return result


def _finish(lease: _Lease, response: Response) -> None:
    """Store the answer, if this attempt still holds the key (one taken over keeps its
    successor's answer). If storing fails (the database is gone), the client still gets its
    answer and the key stays running until its lease ends; then a retry resumes it."""
    c = container()
    body = response.get_json(silent=True) if response.is_json else None
    try:
        with c.db.transaction() as session:
            session.execute(update(IdempotencyRecord).where(
                IdempotencyRecord.id == lease.record_id,
                IdempotencyRecord.lease_holder == lease.holder)
                .values(state="done", response_status=response.status_code,
                        response_body=body, lease_expires_at=None))
    except Exception:
        log.exception("could not store the answer of idempotency key %s: a retry after its "
                      "lease resumes it", lease.record_id)


def _give_up(lease: _Lease) -> None:
    """An unexpected failure. If the request created nothing, forget the key: a retry runs for
    real. If it did, running again would do it twice: keep the key and end its lease now, so
    that the next retry resumes from what was created. (If the database is gone, the lease ends
    by itself.)"""
    c = container()
    try:
        with c.db.transaction() as session:
            mine = (IdempotencyRecord.id == lease.record_id,
                    IdempotencyRecord.lease_holder == lease.holder,
                    IdempotencyRecord.state == "running")
            forgotten = session.execute(
                delete(IdempotencyRecord).where(*mine, IdempotencyRecord.resource.is_(None))
                .returning(IdempotencyRecord.id)).first()
            if forgotten is None:
                session.execute(update(IdempotencyRecord).where(*mine)
                                .values(lease_expires_at=c.clock.now()))
    except Exception:
        log.exception("could not release idempotency key %s: its lease ends by itself",
                      lease.record_id)
