"""The built-in gateway's notifications: delivering what paying queued, signed, along WeChat
Pay's retry schedule, and the daemon thread that does it in demo mode.

Deliverers claim due notifications with ``FOR UPDATE SKIP LOCKED`` (ignored by SQLite, which
serializes anyway) and push them a lease into the future before delivering outside any
transaction, so two deliverers (threads, processes) never send the same attempt at once.
"""

from __future__ import annotations

import logging
import threading
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Select, select

from huiminbao.core.clock import Clock
from huiminbao.core.db import Database
from huiminbao.payments.gateway.models import (
    REASON_MAX_LENGTH,
    GatewayNotificationRow,
    GatewayPaymentRow,
    NotificationStatus,
)

log = logging.getLogger(__name__)

# Waits after the 1st, 2nd, ... failed delivery; after the last one the notification has failed.
RETRY_SCHEDULE: tuple[timedelta, ...] = tuple(
    timedelta(seconds=seconds)
    for seconds in (
        15, 15, 30, 3 * 60, 10 * 60, 20 * 60, 30 * 60, 30 * 60, 30 * 60, 60 * 60,
        3 * 3600, 3 * 3600, 3 * 3600, 6 * 3600, 6 * 3600,
    )
)
MAX_DELIVERY_ATTEMPTS = len(RETRY_SCHEDULE) + 1
# How long a claimed delivery keeps others away (well above the transport's timeout).
DELIVERY_LEASE = timedelta(seconds=60)
DELIVERY_TIMEOUT_SECONDS = 5.0
DELIVERY_BATCH = 50

# The merchant's notify endpoint: (absolute notify URL, signed JSON body) -> success. True, or an
# HTTP status of 200 or 204, is success; False, any other status or an exception is a failure.
Transport = Callable[[str, bytes], bool | int]


@dataclass(frozen=True)
class NotificationState:
    """Where the notification of one payment stands (for tests, demos and operators)."""

    status: NotificationStatus
    attempts: int
    next_attempt_at: datetime | None
    delivered_at: datetime | None
    last_error: str | None


@dataclass(frozen=True)
class _Claim:
    notification_id: int
    attempt: int
    notify_url: str
    out_trade_no: str
    transaction_id: str
    amount_fen: int
    paid_at: datetime


# A signed notification body: (out_trade_no, transaction_id, amount_fen, paid_at) -> JSON bytes.
Signer = Callable[[str, str, int, datetime], bytes]


class NotificationOutbox:
    """The queued payment notifications of one gateway, delivered by ``deliver_due``."""

    def __init__(self, db: Database, clock: Clock, sign: Signer) -> None:
        self._db = db
        self._clock = clock
        self._sign = sign

    def state(self, out_trade_no: str) -> NotificationState | None:
        with self._db.read() as session:
            row = session.scalars(
                select(GatewayNotificationRow)
                .join(GatewayPaymentRow, GatewayPaymentRow.id == GatewayNotificationRow.payment_id)
                .where(GatewayPaymentRow.out_trade_no == out_trade_no)
            ).one_or_none()
            if row is None:
                return None
            return NotificationState(
                status=NotificationStatus(row.status),
                attempts=row.attempts,
                next_attempt_at=row.next_attempt_at,
                delivered_at=row.delivered_at,
                last_error=row.last_error,
            )

    def deliver_due(self, transport: Transport, *, batch: int = DELIVERY_BATCH) -> int:
        """Make one delivery attempt of every notification that is due; returns how many the
        merchant accepted. Failures are rescheduled along ``RETRY_SCHEDULE``."""
        delivered = 0
        for _round in range(100):
            if not self._any_due():
                break
            claims = self._claim_due(batch)
            for claim in claims:
                accepted, error = self._attempt(transport, claim)
                self._record_attempt(claim, accepted, error)
                delivered += accepted
            if len(claims) < batch:
                break
        return delivered

    @staticmethod
    def _due(now: datetime) -> Select[GatewayNotificationRow]:
        return select(GatewayNotificationRow).where(
            GatewayNotificationRow.status == NotificationStatus.PENDING.value,
            GatewayNotificationRow.next_attempt_at <= now,
        )

    def _any_due(self) -> bool:
        """A read before claiming: on SQLite claiming takes the database's write lock."""
        with self._db.read() as session:
            return session.scalars(self._due(self._clock.now()).limit(1)).first() is not None

    def _claim_due(self, batch: int) -> list[_Claim]:
        with self._db.transaction() as session:
            now = self._clock.now()
            rows = session.execute(
                self._due(now)
                .add_columns(GatewayPaymentRow)
                .join(GatewayPaymentRow, GatewayPaymentRow.id == GatewayNotificationRow.payment_id)
                .order_by(GatewayNotificationRow.next_attempt_at, GatewayNotificationRow.id)
                .limit(batch)
                .with_for_update(skip_locked=True, of=GatewayNotificationRow)
                .execution_options(populate_existing=True)
            ).all()
            claims: list[_Claim] = []
            for notification, payment in rows:
                notification.attempts += 1
                notification.last_attempt_at = now
                notification.next_attempt_at = now + DELIVERY_LEASE
                assert payment.transaction_id is not None
                assert payment.paid_at is not None
                claims.append(
                    _Claim(
                        notification_id=notification.id,
                        attempt=notification.attempts,
                        notify_url=payment.notify_url,
                        out_trade_no=payment.out_trade_no,
                        transaction_id=payment.transaction_id,
                        amount_fen=payment.amount_fen,
                        paid_at=payment.paid_at,
                    )
                )
            return claims

    def _attempt(self, transport: Transport, claim: _Claim) -> tuple[bool, str | None]:
        body = self._sign(claim.out_trade_no, claim.transaction_id, claim.amount_fen,
                          claim.paid_at)
        try:
            answer = transport(claim.notify_url, body)
        except Exception as exc:
            error = f"{type(exc).__name__}: {exc}"
        else:
            accepted = answer if isinstance(answer, bool) else answer in (200, 204)
            if accepted:
                return True, None
            error = "rejected" if isinstance(answer, bool) else f"HTTP {answer}"
        log.warning(
            "payment notification for %s not accepted (attempt %d of %d): %s",
            claim.out_trade_no, claim.attempt, MAX_DELIVERY_ATTEMPTS, error[:200],
        )
        return False, error[:REASON_MAX_LENGTH]

    def _record_attempt(self, claim: _Claim, accepted: bool, error: str | None) -> None:
        with self._db.transaction() as session:
            row = session.scalars(
                select(GatewayNotificationRow)
                .where(
                    GatewayNotificationRow.id == claim.notification_id,
                    GatewayNotificationRow.attempts == claim.attempt,
                    GatewayNotificationRow.status == NotificationStatus.PENDING.value,
                )
                .with_for_update()
                .execution_options(populate_existing=True)
            ).one_or_none()
            if row is None:  # the lease ran out and another deliverer took over
                return
            now = self._clock.now()
            if accepted:
                row.status = NotificationStatus.DELIVERED.value
                row.delivered_at = now
                row.next_attempt_at = None
                row.last_error = None
            elif claim.attempt >= MAX_DELIVERY_ATTEMPTS:
                row.status = NotificationStatus.FAILED.value
                row.next_attempt_at = None
                row.last_error = error
            else:
                row.next_attempt_at = now + RETRY_SCHEDULE[claim.attempt - 1]
                row.last_error = error


# --- delivery over HTTP ------------------------------------------------------------------------

# No proxies: the notify URL is the merchant's own server, often on this machine.
_opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def http_transport(url: str, body: bytes, *, timeout: float = DELIVERY_TIMEOUT_SECONDS) -> int:
    """POST the JSON body to the absolute notify URL; returns the HTTP status (200/204 accept)."""
    if not url.startswith(("http://", "https://")):
        raise ValueError("notify_url must be an absolute http(s) URL")
    request = urllib.request.Request(  # noqa: S310 (scheme checked above)
        url,
        data=body,
        method="POST",
        headers={
            "Content-Type": "application/json; charset=utf-8",
            "User-Agent": "huiminbao-simulated-gateway/1",
        },
    )
    try:
        with _opener.open(request, timeout=timeout) as response:
            return int(response.status)
    except urllib.error.HTTPError as exc:
        status = exc.code
        exc.close()
        return status


class NotificationDispatcher:
    """A daemon thread that delivers due notifications every ``interval`` seconds."""

    def __init__(
        self,
        outbox: NotificationOutbox,
        transport: Transport = http_transport,
        *,
        interval: float = 1.0,
    ) -> None:
        self._outbox = outbox
        self._transport = transport
        self._interval = interval
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def start(self) -> None:
        if self.running:
            return
        self._stopping.clear()
        self._thread = threading.Thread(
            target=self._run, name="gateway-notifications", daemon=True
        )
        self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        self._stopping.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None

    def _run(self) -> None:
        while not self._stopping.is_set():
            try:
                self._outbox.deliver_due(self._transport)
            except Exception:
                log.exception("delivering payment notifications failed")
            self._stopping.wait(self._interval)
