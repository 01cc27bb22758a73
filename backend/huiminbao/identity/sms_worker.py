"""Delivering the SMS outbox through a provider: ``huiminbao worker``.

A worker loops: it *claims* a batch of due messages in one short transaction (``queued`` or
``failed`` whose ``next_attempt_at`` has come, or ``sending`` whose lease ran out), then sends
each through the provider outside any transaction, then marks each ``sent`` or ``failed`` (with
exponential back-off, ``sms_domain.RetryPolicy``) or ``given_up`` after too many tries.

Claiming is ``SELECT … FOR UPDATE SKIP LOCKED`` then ``UPDATE … RETURNING``: on PostgreSQL
workers running side by side take disjoint batches without waiting on each other, and the row
becomes ``sending`` with ``attempts + 1`` and ``lease_until = now + lease`` before any text
leaves. A second worker can only take it again once the lease has run out. ``attempts`` is the
lease's fencing token: a worker marks the row only if it still holds the attempt it claimed, so a
worker that comes back after its lease was taken over changes nothing.

A batch is sent one message after another (each provider call may take its whole timeout), so the
tail of a batch can outlive the lease it was claimed with. Immediately before each provider call
the worker therefore *renews* that message's lease with a conditional UPDATE (same attempt, still
``sending``, lease not yet ended) and skips the message when no row matches: it is only ever sent
by the worker holding a live lease at that moment, and the renewed lease (``lease``, longer than
the provider's timeout) covers the call. A skipped message is taken again once its lease ends.
Leases are taken and compared on the database's clock on PostgreSQL (``clock_timestamp()``), so
workers on hosts whose clocks disagree still agree on when a lease ends; on SQLite (one process)
the application's clock serves.

Delivery is *at least once*, and the one window for a duplicate is this: a worker dies (or loses
the database) after the provider accepted a text and before the row is marked ``sent``. The row
stays ``sending`` until its lease ends (``lease``, one minute by default), then another worker
sends it again: the resident may get that one text twice. Nothing else repeats a text: a failure
the provider answered is certain not to have been sent, and concurrent workers never hold one row.
A timeout after the request went out (``SmsProviderError.outcome_unknown``) is also retried and
may duplicate. Every attempt carries ``sms_outbox:<id>:<attempt>`` as the provider's session
context (Tencent ``SessionContext``), so a duplicate can be found in the provider's status reports
and the provider's message id is kept on the row. Texts are informational (a doubled debit notice
moves no money); one-time codes are never retried by a worker (``identity/services.send_code``).
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, case, func, or_, select, update
from sqlalchemy.orm import Session

from huiminbao.core.container import Container
from huiminbao.core.pagination import FIRST_PAGE, Page, Window, count_rows
from huiminbao.identity.domain import OTP_TTL
from huiminbao.identity.models import SmsMessage
from huiminbao.identity.sms import SmsProvider, SmsProviderError
from huiminbao.identity.sms_domain import (
    REDACTED_CODE,
    RetryPolicy,
    SmsStatus,
    SmsTemplate,
    SmsText,
    redacted_code_text,
)

log = logging.getLogger(__name__)

DEFAULT_LEASE = timedelta(seconds=60)
DEFAULT_BATCH = 20
_CODE_TEMPLATES = [template.value for template in SmsTemplate if template.is_code]
_RETRIED = [SmsStatus.QUEUED.value, SmsStatus.FAILED.value]
_FINAL = (SmsStatus.SENT, SmsStatus.GIVEN_UP)


@dataclass(frozen=True)
class ClaimedSms:
    """A message this worker holds: ``attempt`` is its fencing token."""

    id: int
    attempt: int
    phone: str
    template: SmsTemplate
    params: dict[str, str]


@dataclass
class DeliveryCounts:
    sent: int = 0
    failed: int = 0
    given_up: int = 0
    lost_lease: int = 0
    errors: list[str] = field(default_factory=list)

    @property
    def handled(self) -> int:
        return self.sent + self.failed + self.given_up + self.lost_lease

    def add(self, other: DeliveryCounts) -> None:
        self.sent += other.sent
        self.failed += other.failed
        self.given_up += other.given_up
        self.lost_lease += other.lost_lease
        self.errors.extend(other.errors)

    def format(self) -> str:
        return (f"短信：已发送 {self.sent} 条，失败待重试 {self.failed} 条，"
                f"已放弃 {self.given_up} 条")


# ---------------------------------------------------------------- claiming


def lease_time(session: Session, fallback: datetime) -> datetime:
    """The instant leases are taken at and compared with: the database's clock on PostgreSQL (one
    clock for every worker, whatever their hosts' clocks say), ``fallback`` (the application's
    clock) elsewhere: SQLite serves a single process."""
    if session.get_bind().dialect.name == "postgresql":
        instant: datetime = session.execute(select(func.clock_timestamp())).scalar_one()
        return instant
    return fallback


def _keep_codes(c: Container) -> bool:
    """Demo mode keeps one-time codes in the outbox: the development endpoint (GET
    /api/v1/dev/sms) and the e2e journeys read them there, also when a (fake) provider is
    configured. Production blanks them once sent or given up (``redacted_code_text``)."""
    return c.settings.is_demo


def _redacted_code_values() -> dict[str, Any]:
    """``text`` and ``params`` for an UPDATE over rows of any code template."""
    texts = {template.value: redacted_code_text(template) for template in SmsTemplate
             if template.is_code}
    return {"text": case({key: text for key, (text, _) in texts.items()},
                         value=SmsMessage.template, else_=SmsMessage.text),
            "params": {"code": REDACTED_CODE}}


def _due(now: datetime, lease_now: datetime, policy: RetryPolicy) -> Any:
    retried = and_(SmsMessage.status.in_(_RETRIED),
                   or_(SmsMessage.next_attempt_at.is_(None), SmsMessage.next_attempt_at <= now))
    lease_ended = and_(SmsMessage.status == SmsStatus.SENDING.value,
                       SmsMessage.lease_until <= lease_now,
                       SmsMessage.attempts < policy.max_attempts,
                       SmsMessage.template.not_in(_CODE_TEMPLATES))
    return and_(SmsMessage.template.is_not(None), or_(retried, lease_ended))


def claim_due(c: Container, *, now: datetime, limit: int = DEFAULT_BATCH,
              lease: timedelta = DEFAULT_LEASE,
              policy: RetryPolicy | None = None) -> list[ClaimedSms]:
    """Lease up to ``limit`` due messages (oldest first) in one transaction. ``now`` (the
    application's clock) decides back-off and code expiry; leases go by ``lease_time``."""
    policy = policy or RetryPolicy()
    with c.db.transaction() as session:
        lease_now = lease_time(session, now)
        _sweep(session, now, lease_now, policy, redact_codes=not _keep_codes(c))
        due = _due(now, lease_now, policy)
        # Two statements, not UPDATE … WHERE id IN (SELECT … LIMIT … SKIP LOCKED): PostgreSQL
        # may rescan such a subquery while updating, and each rescan skips what was just
        # updated and takes the next rows, so the LIMIT would not hold.
        ids = session.scalars(
            select(SmsMessage.id).where(due).order_by(SmsMessage.id).limit(limit)
            .with_for_update(skip_locked=True)).all()
        if not ids:
            return []
        rows = session.execute(
            update(SmsMessage)
            .where(SmsMessage.id.in_(ids), due)  # locked by this transaction: still due
            .values(status=SmsStatus.SENDING.value, attempts=SmsMessage.attempts + 1,
                    lease_until=lease_now + lease, updated_at=now)
            .returning(SmsMessage.id, SmsMessage.attempts, SmsMessage.phone,
                       SmsMessage.template, SmsMessage.params)
            .execution_options(synchronize_session=False)
        ).all()
    return sorted((ClaimedSms(row.id, row.attempts, row.phone, SmsTemplate(row.template),
                              dict(row.params or {})) for row in rows), key=lambda m: m.id)


def _sweep(session: Session, now: datetime, lease_now: datetime, policy: RetryPolicy, *,
           redact_codes: bool) -> None:
    """Give up what no worker may send any more: a lease that ran out on the last attempt, a
    one-time code whose sender died (stale by now), a code queued longer than it is valid.
    ``redact_codes``: blank the code of every code row given up here."""
    lease_ended = and_(SmsMessage.status == SmsStatus.SENDING.value,
                       SmsMessage.lease_until <= lease_now)
    last_attempt_ended = and_(lease_ended, SmsMessage.attempts >= policy.max_attempts,
                              SmsMessage.template.not_in(_CODE_TEMPLATES))
    code_lease_ended = and_(lease_ended, SmsMessage.template.in_(_CODE_TEMPLATES))
    code_expired = and_(SmsMessage.status.in_(_RETRIED),
                        SmsMessage.template.in_(_CODE_TEMPLATES),
                        SmsMessage.created_at <= now - OTP_TTL)
    redacted = _redacted_code_values() if redact_codes else {}
    interrupted = {"status": SmsStatus.GIVEN_UP.value, "lease_until": None,
                   "next_attempt_at": None, "updated_at": now,
                   "last_error": "发送方在确认前中断（可能已送达），不再重试"}
    session.execute(update(SmsMessage).where(last_attempt_ended).values(**interrupted)
                    .execution_options(synchronize_session=False))
    session.execute(update(SmsMessage).where(code_lease_ended).values(**interrupted, **redacted)
                    .execution_options(synchronize_session=False))
    session.execute(
        update(SmsMessage).where(code_expired)
        .values(status=SmsStatus.GIVEN_UP.value, next_attempt_at=None, updated_at=now,
                last_error="验证码已过期，不再发送", **redacted)
        .execution_options(synchronize_session=False))


def lease_now(session: Session, message_id: int, now: datetime,
              lease: timedelta = DEFAULT_LEASE) -> ClaimedSms:
    """In the transaction that wrote the row: the caller will send it itself (a one-time code),
    so no worker ever sees it ``queued``."""
    row = session.execute(
        update(SmsMessage)
        .where(SmsMessage.id == message_id, SmsMessage.status == SmsStatus.QUEUED.value)
        .values(status=SmsStatus.SENDING.value, attempts=SmsMessage.attempts + 1,
                lease_until=lease_time(session, now) + lease, updated_at=now)
        .returning(SmsMessage.id, SmsMessage.attempts, SmsMessage.phone, SmsMessage.template,
                   SmsMessage.params)
        .execution_options(synchronize_session=False)
    ).one()
    return ClaimedSms(row.id, row.attempts, row.phone, SmsTemplate(row.template),
                      dict(row.params or {}))


# ---------------------------------------------------------------- sending and marking


def renew_lease(c: Container, message: ClaimedSms, lease: timedelta = DEFAULT_LEASE) -> bool:
    """Immediately before the provider call: extend this worker's lease to ``lease`` from now,
    if it still holds a live one (same attempt, still ``sending``, not yet ended). False: the
    lease ended (another worker may hold the message now), so this worker must not send it."""
    with c.db.transaction() as session:
        lease_now = lease_time(session, c.clock.now())
        renewed = session.execute(  # type: ignore[attr-defined]
            update(SmsMessage)
            .where(SmsMessage.id == message.id, SmsMessage.status == SmsStatus.SENDING.value,
                   SmsMessage.attempts == message.attempt,
                   SmsMessage.lease_until > lease_now)
            .values(lease_until=lease_now + lease)
            .execution_options(synchronize_session=False)
        ).rowcount
    return bool(renewed)


def deliver(c: Container, provider: SmsProvider, message: ClaimedSms, *,
            policy: RetryPolicy | None = None, retry: bool = True,
            lease: timedelta = DEFAULT_LEASE) -> SmsStatus | None:
    """Send one claimed message and record the outcome. ``retry=False`` (a one-time code): a
    failure is final. Returns the new status, or None if the lease was lost: it ended before
    the provider call (nothing sent), or was taken over before the outcome was recorded.
    ``lease`` (renewed just before the call) must outlast the provider's timeout."""
    policy = policy or RetryPolicy()
    text = SmsText(message.template, message.params)
    if not renew_lease(c, message, lease):
        log.warning("sms %s attempt %s: lease ended before sending, skipped", message.id,
                    message.attempt)
        return None
    try:
        message_id = provider.send(
            message.phone, provider.template_id(message.template), text.ordered_params(),
            session_context=f"sms_outbox:{message.id}:{message.attempt}")
    except SmsProviderError as exc:
        now = c.clock.now()
        status, next_at = policy.after_failure(message.attempt, now)
        if not retry:
            status, next_at = SmsStatus.GIVEN_UP, None
        log.warning("sms %s attempt %s failed: %s", message.id, message.attempt, exc.code)
        return _mark(c, message, status=status.value, next_attempt_at=next_at,
                     last_error=str(exc)[:500], updated_at=now)
    except Exception as exc:  # a defect in an adapter must not stop the worker
        now = c.clock.now()
        status, next_at = policy.after_failure(message.attempt, now)
        log.exception("sms %s attempt %s broke", message.id, message.attempt)
        return _mark(c, message, status=status.value if retry else SmsStatus.GIVEN_UP.value,
                     next_attempt_at=next_at if retry else None,
                     last_error=f"internal: {type(exc).__name__}", updated_at=now)
    now = c.clock.now()
    return _mark(c, message, status=SmsStatus.SENT.value, provider_message_id=message_id[:128],
                 sent_at=now, next_attempt_at=None, last_error=None, updated_at=now)


def _mark(c: Container, message: ClaimedSms, **values: Any) -> SmsStatus | None:
    if (message.template.is_code and SmsStatus(values["status"]) in _FINAL
            and not _keep_codes(c)):
        values["text"], values["params"] = redacted_code_text(message.template)
    with c.db.transaction() as session:
        marked = session.execute(  # type: ignore[attr-defined]
            update(SmsMessage)
            .where(SmsMessage.id == message.id, SmsMessage.status == SmsStatus.SENDING.value,
                   SmsMessage.attempts == message.attempt)  # still this worker's lease
            .values(lease_until=None, **values)
            .execution_options(synchronize_session=False)
        ).rowcount
    if not marked:
        log.warning("sms %s attempt %s: lease lost before marking", message.id, message.attempt)
        return None
    return SmsStatus(values["status"])


def deliver_due(c: Container, provider: SmsProvider, *, limit: int = DEFAULT_BATCH,
                lease: timedelta = DEFAULT_LEASE,
                policy: RetryPolicy | None = None) -> DeliveryCounts:
    """Claim one batch and deliver it."""
    policy = policy or RetryPolicy()
    counts = DeliveryCounts()
    for message in claim_due(c, now=c.clock.now(), limit=limit, lease=lease, policy=policy):
        status = deliver(c, provider, message, policy=policy, lease=lease)
        if status is SmsStatus.SENT:
            counts.sent += 1
        elif status is SmsStatus.FAILED:
            counts.failed += 1
        elif status is SmsStatus.GIVEN_UP:
            counts.given_up += 1
        else:
            counts.lost_lease += 1
    return counts


class SmsWorker:
    """``huiminbao worker``: drains the outbox, then polls every ``idle_seconds``.
    ``once``: deliver everything due now (batch after batch) and return."""

    def __init__(self, c: Container, provider: SmsProvider, *, batch: int = DEFAULT_BATCH,
                 lease: timedelta = DEFAULT_LEASE, policy: RetryPolicy | None = None,
                 idle_seconds: float = 2.0) -> None:
        self.c, self.provider = c, provider
        self.batch, self.lease, self.policy = batch, lease, policy or RetryPolicy()
        self.idle_seconds = idle_seconds
        self.stopping = threading.Event()
        self.name = f"{os.uname().nodename}:{os.getpid()}" if hasattr(os, "uname") else "worker"

    def run_once(self) -> DeliveryCounts:
        """Every message due now, once each (a failure waits for its back-off)."""
        total = DeliveryCounts()
        while not self.stopping.is_set():
            counts = deliver_due(self.c, self.provider, limit=self.batch, lease=self.lease,
                                 policy=self.policy)
            total.add(counts)
            if counts.handled < self.batch:
                break
        return total

    def run(self, *, on_round: Callable[[DeliveryCounts], None] | None = None,
            alive: Callable[[], None] | None = None) -> None:
        """Rounds until ``stop()``. ``alive`` is called after every round that reached the
        database (a container health check watches it)."""
        while not self.stopping.is_set():
            try:
                counts = self.run_once()
            except Exception:  # the database went away: wait and try again
                log.exception("sms worker round failed")
                counts = DeliveryCounts()
            else:
                if alive is not None:
                    alive()
            if on_round is not None and counts.handled:
                on_round(counts)
            if counts.handled < self.batch:
                self.stopping.wait(self.idle_seconds)

    def stop(self) -> None:
        self.stopping.set()


# ---------------------------------------------------------------- the console's view


@dataclass(frozen=True)
class OutboxEntry:
    id: int
    phone: str
    template: str | None
    status: str
    attempts: int
    created_at: datetime
    next_attempt_at: datetime | None
    sent_at: datetime | None
    last_error: str | None
    provider_message_id: str | None


def recent_messages(c: Container, *, window: Window = FIRST_PAGE,
                    status: SmsStatus | None = None) -> Page[OutboxEntry]:
    """The messages, newest first, optionally of one status, a page at a time."""
    query = select(SmsMessage).order_by(SmsMessage.id.desc())
    if status is not None:
        query = query.where(SmsMessage.status == status.value)
    with c.db.read() as session:
        return Page([OutboxEntry(m.id, m.phone, m.template, m.status, m.attempts, m.created_at,
                                 m.next_attempt_at, m.sent_at, m.last_error,
                                 m.provider_message_id)
                     for m in session.scalars(query.offset(window.offset).limit(window.limit))],
                    count_rows(session, query))
