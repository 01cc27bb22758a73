"""The built-in payment gateway: ``PaymentGateway`` over its own ``gateway_*`` tables, with its own
confirm page (``gateway.routes``) and asynchronous, signed, retried payment notifications.

It behaves like WeChat Pay for the merchant (this product):

* ``create_payment`` (统一下单) is idempotent on ``out_trade_no``; the payer confirms on
  ``pay_url``. An unpaid payment expires two hours after it was created; from then on it reports
  ``CLOSED`` and cannot be paid.
* Paying marks the payment paid exactly once and queues one notification, due at once. Deliveries
  follow WeChat Pay's retry schedule (15s, 15s, 30s, 3m, 10m, 20m, 30m, 30m, 30m, 60m, 3h, 3h,
  3h, 6h, 6h after successive failures) until the merchant answers HTTP 200; after the last one
  the notification is marked failed, and the merchant learns the outcome with ``query``.
* Refunds are idempotent on ``out_refund_no``, and together never exceed what was paid.

Money rules hold on PostgreSQL under concurrency: paying, closing and refunding lock the payment
row (``SELECT ... FOR UPDATE``) before they read anything else, and the merchant's numbers are
unique keys: two first-time requests with one number collide on the key, and the loser answers
from the winner's record. Refusals of refunds are recorded like successes, so a replay of an
``out_refund_no`` always gets the same answer. On SQLite, ``Database`` opens every transaction
with ``BEGIN IMMEDIATE``, which serializes writers in place of row locks.

Notifications are delivered by ``notifications``.

``fail_next`` injects "outcome unknown" failures for tests of the merchant's recovery.
"""

from __future__ import annotations

import hmac
import logging
import secrets
import string
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from huiminbao.core.clock import Clock, to_china_time
from huiminbao.core.db import Database
from huiminbao.identity.domain import hash_secret
from huiminbao.payments.gateway.models import (
    DESCRIPTION_MAX_LENGTH,
    REASON_MAX_LENGTH,
    URL_MAX_LENGTH,
    GatewayNotificationRow,
    GatewayPaymentRow,
    GatewayRefundRow,
    NotificationStatus,
)
from huiminbao.payments.gateway.notifications import NotificationOutbox
from huiminbao.payments.gateway.port import (
    GatewayPayment,
    GatewayQueryResult,
    GatewayRefund,
    GatewayRequestConflict,
    GatewayStatement,
    GatewayUnavailable,
    PaymentNotification,
    RefundFailure,
    RefundStatus,
    TradeNotFound,
    TradeState,
    check_amount,
    check_merchant_no,
    decode_notification,
    encode_notification,
)

log = logging.getLogger(__name__)

PAYMENT_TTL = timedelta(hours=2)
PAY_PAGE_PATH = "/gateway/pay/{prepay_id}"

_MAX_ATTEMPTS = 3  # at one request when a concurrent first-time request wins its number
_OUT_TRADE_NO_CONFLICT = ("uq_gateway_payments_out_trade_no", "gateway_payments.out_trade_no")
_OUT_REFUND_NO_CONFLICT = ("uq_gateway_refunds_out_refund_no", "gateway_refunds.out_refund_no")

Operation = Literal["create_payment", "query", "close", "refund"]


@dataclass(frozen=True)
class PayPage:
    """What the gateway's confirm page shows."""

    prepay_id: str
    out_trade_no: str
    merchant_name: str
    description: str
    amount_fen: int
    return_url: str
    trade_state: TradeState  # CLOSED once expired
    expired: bool
    expires_at: datetime

    @property
    def payable(self) -> bool:
        return self.trade_state is TradeState.NOTPAY


# --- argument checks ---------------------------------------------------------------------------


def _checked_text(value: str, label: str, max_length: int, *, allow_empty: bool = False) -> str:
    if not isinstance(value, str) or len(value) > max_length or (not value and not allow_empty):
        raise ValueError(f"{label} must be a string of at most {max_length} characters")
    return value


def _checked_notify_url(value: str) -> str:
    _checked_text(value, "notify_url", URL_MAX_LENGTH)
    if not value.startswith(("http://", "https://")):
        raise ValueError("notify_url must be an absolute http(s) URL")
    return value


# --- numbers the gateway makes up -------------------------------------------------------------


def _prepay_id(now: datetime) -> str:
    # Letters after the time stamp: no long digit runs that look like ID numbers in access logs.
    tail = "".join(secrets.choice(string.ascii_lowercase) for _ in range(18))
    return f"wx{to_china_time(now):%Y%m%d%H%M%S}{tail}"


def _transaction_id(now: datetime) -> str:
    """Like WeChat Pay's 28 digits, e.g. 4200001234202611221234567890."""
    return (
        f"4200{secrets.randbelow(10**6):06d}{to_china_time(now):%Y%m%d}"
        f"{secrets.randbelow(10**10):010d}"
    )


def _refund_id(now: datetime) -> str:
    return (
        f"5000{secrets.randbelow(10**7):07d}{to_china_time(now):%Y%m%d}"
        f"{secrets.randbelow(10**10):010d}"
    )


def _nonce() -> str:
    return secrets.token_hex(16).upper()


# --- row -> port values ------------------------------------------------------------------------


def _effective_state(row: GatewayPaymentRow, now: datetime) -> TradeState:
    state = TradeState(row.status)
    if state is TradeState.NOTPAY and now >= row.expires_at:
        return TradeState.CLOSED
    return state


def _payment(row: GatewayPaymentRow) -> GatewayPayment:
    return GatewayPayment(
        out_trade_no=row.out_trade_no,
        prepay_id=row.prepay_id,
        pay_url=PAY_PAGE_PATH.format(prepay_id=row.prepay_id),
        amount_fen=row.amount_fen,
        expires_at=row.expires_at,
    )


def _refund(row: GatewayRefundRow) -> GatewayRefund:
    return GatewayRefund(
        out_refund_no=row.out_refund_no,
        out_trade_no=row.out_trade_no,
        amount_fen=row.amount_fen,
        status=RefundStatus(row.status),
        failure_reason=RefundFailure(row.failure_reason) if row.failure_reason else None,
        refund_id=row.refund_id,
        created_at=row.created_at,
    )


def _is_conflict_on(error: IntegrityError, markers: tuple[str, ...]) -> bool:
    message = str(error.orig)
    return any(marker in message for marker in markers)


class SimulatedGateway:
    """``PaymentGateway`` backed by the ``gateway_*`` tables, plus the confirm page's actions;
    ``notifications`` delivers what paying queues."""

    def __init__(
        self,
        db: Database,
        clock: Clock,
        merchant_key: str,
        mch_id: str = "1900000109",
        app_id: str = "wxdemo",
        *,
        merchant_name: str = "西湖益联保",
    ) -> None:
        if not merchant_key:
            raise ValueError("the gateway needs a merchant key")
        self._db = db
        self._clock = clock
        self._key = merchant_key
        self.mch_id = mch_id
        self.app_id = app_id
        self.merchant_name = merchant_name
        self._faults: dict[str, list[bool]] = {}
        self._faults_lock = threading.Lock()
        self.notifications = NotificationOutbox(db, clock, self._body)

    @property
    def clock(self) -> Clock:
        return self._clock

    # --- the port ------------------------------------------------------------------------------

    def create_payment(
        self,
        out_trade_no: str,
        amount_fen: int,
        description: str,
        notify_url: str,
        return_url: str,
        *,
        expires_at: datetime | None = None,
        payer_ip: str | None = None,
    ) -> GatewayPayment:
        # expires_at and payer_ip: the simulator keeps its own PAYMENT_TTL and needs no address.
        check_merchant_no(out_trade_no, "out_trade_no")
        check_amount(amount_fen)
        _checked_text(description, "description", DESCRIPTION_MAX_LENGTH)
        _checked_notify_url(notify_url)
        _checked_text(return_url, "return_url", URL_MAX_LENGTH)
        self._fault("create_payment", committed=False)
        for _attempt in range(_MAX_ATTEMPTS):
            try:
                with self._db.transaction() as session:
                    existing = self._payment_row(session, out_trade_no=out_trade_no)
                    if existing is not None:
                        payment = self._replay_create(existing, amount_fen)
                    else:
                        now = self._clock.now()
                        row = GatewayPaymentRow(
                            out_trade_no=out_trade_no,
                            prepay_id=_prepay_id(now),
                            amount_fen=amount_fen,
                            refunded_fen=0,
                            description=description,
                            notify_url=notify_url,
                            return_url=return_url,
                            status=TradeState.NOTPAY.value,
                            created_at=now,
                            expires_at=now + PAYMENT_TTL,
                        )
                        session.add(row)
                        session.flush()
                        payment = _payment(row)
            except IntegrityError as exc:
                if not _is_conflict_on(exc, _OUT_TRADE_NO_CONFLICT):
                    raise
                with self._db.read() as session:
                    existing = self._payment_row(session, out_trade_no=out_trade_no)
                if existing is None:  # the winner rolled back: try again
                    continue
                payment = self._replay_create(existing, amount_fen)
            self._fault("create_payment", committed=True)
            return payment
        raise RuntimeError("create_payment did not settle after repeated conflicts")

    def query(self, out_trade_no: str) -> GatewayQueryResult | None:
        self._fault("query", committed=False)
        with self._db.read() as session:
            row = self._payment_row(session, out_trade_no=out_trade_no)
            result = None
            if row is not None:
                result = GatewayQueryResult(
                    out_trade_no=row.out_trade_no,
                    trade_state=_effective_state(row, self._clock.now()),
                    transaction_id=row.transaction_id,
                    amount_fen=row.amount_fen,
                    paid_at=row.paid_at,
                    refunded_fen=row.refunded_fen,
                )
        self._fault("query", committed=True)
        return result

    def statement(self, since: datetime | None = None,
                  until: datetime | None = None) -> GatewayStatement:
        def within(column: Any) -> list[Any]:
            bounds = []
            if since is not None:
                bounds.append(column >= since)
            if until is not None:
                bounds.append(column < until)
            return bounds

        now = self._clock.now()
        with self._db.read() as session:
            paid = session.scalars(
                select(GatewayPaymentRow).where(GatewayPaymentRow.paid_at.is_not(None),
                                                *within(GatewayPaymentRow.paid_at))
                .order_by(GatewayPaymentRow.id)).all()
            refunds = session.scalars(
                select(GatewayRefundRow).where(
                    GatewayRefundRow.status == RefundStatus.SUCCESS.value,
                    *within(GatewayRefundRow.created_at))
                .order_by(GatewayRefundRow.id)).all()
            return GatewayStatement(
                payments=[GatewayQueryResult(
                    out_trade_no=row.out_trade_no, trade_state=_effective_state(row, now),
                    transaction_id=row.transaction_id, amount_fen=row.amount_fen,
                    paid_at=row.paid_at, refunded_fen=row.refunded_fen) for row in paid],
                refunds=[_refund(row) for row in refunds])

    def close(self, out_trade_no: str) -> None:
        self._fault("close", committed=False)
        with self._db.transaction() as session:
            row = self._payment_row(session, out_trade_no=out_trade_no, for_update=True)
            if row is None:
                raise TradeNotFound(f"no payment {out_trade_no!r}")
            state = TradeState(row.status)
            if state.was_paid:
                raise GatewayRequestConflict("the payment was paid: refund it instead")
            if state is not TradeState.CLOSED:
                row.status = TradeState.CLOSED.value
                row.closed_at = self._clock.now()
        self._fault("close", committed=True)

    def refund(
        self, out_refund_no: str, out_trade_no: str, amount_fen: int, reason: str
    ) -> GatewayRefund:
        check_merchant_no(out_refund_no, "out_refund_no")
        check_merchant_no(out_trade_no, "out_trade_no")
        check_amount(amount_fen)
        _checked_text(reason, "reason", REASON_MAX_LENGTH, allow_empty=True)
        self._fault("refund", committed=False)
        for _attempt in range(_MAX_ATTEMPTS):
            try:
                with self._db.transaction() as session:
                    result = self._refund_in(session, out_refund_no, out_trade_no, amount_fen,
                                             reason)
            except IntegrityError as exc:
                if not _is_conflict_on(exc, _OUT_REFUND_NO_CONFLICT):
                    raise
                with self._db.read() as session:
                    existing = self._refund_row(session, out_refund_no)
                if existing is None:
                    continue
                result = self._replay_refund(existing, out_trade_no, amount_fen)
            self._fault("refund", committed=True)
            return result
        raise RuntimeError("refund did not settle after repeated conflicts")

    def verify_notification(
        self, body: bytes, headers: Mapping[str, str] | None = None
    ) -> PaymentNotification:
        """The signature is inside the body (v2 style): ``headers`` are not needed."""
        return decode_notification(body, self._key, app_id=self.app_id, mch_id=self.mch_id)

    # --- the confirm page ----------------------------------------------------------------------

    def page(self, prepay_id: str) -> PayPage | None:
        with self._db.read() as session:
            row = self._payment_row(session, prepay_id=prepay_id)
            if row is None:
                return None
            now = self._clock.now()
            state = _effective_state(row, now)
            return PayPage(
                prepay_id=row.prepay_id,
                out_trade_no=row.out_trade_no,
                merchant_name=self.merchant_name,
                description=row.description,
                amount_fen=row.amount_fen,
                return_url=row.return_url,
                trade_state=state,
                expired=row.status == TradeState.NOTPAY.value and state is TradeState.CLOSED,
                expires_at=row.expires_at,
            )

    def page_token(self, prepay_id: str) -> str:
        """The confirm page's token against cross-site posting (a keyed hash of the prepay_id)."""
        return hash_secret(self._key, f"pay-page:{prepay_id}")

    def check_page_token(self, prepay_id: str, token: str) -> bool:
        return hmac.compare_digest(self.page_token(prepay_id).encode(), token.encode())

    def confirm(self, prepay_id: str) -> GatewayPayment:
        """The payer confirms: the payment is paid (once; confirming again changes nothing) and
        its notification is queued, due now. Raises ``TradeNotFound`` for an unknown prepay_id
        and ``GatewayRequestConflict`` when the payment is closed or expired."""
        with self._db.transaction() as session:
            row = self._payment_row(session, prepay_id=prepay_id, for_update=True)
            if row is None:
                raise TradeNotFound("no such payment")
            now = self._clock.now()
            state = _effective_state(row, now)
            if state.was_paid:
                return _payment(row)
            if state is not TradeState.NOTPAY:
                raise GatewayRequestConflict("the payment is closed or expired")
            paid_at = now.replace(microsecond=0)  # what time_end can say
            row.status = TradeState.SUCCESS.value
            row.transaction_id = _transaction_id(now)
            row.paid_at = paid_at
            session.add(
                GatewayNotificationRow(
                    payment_id=row.id,
                    status=NotificationStatus.PENDING.value,
                    attempts=0,
                    next_attempt_at=now,
                    created_at=now,
                )
            )
            session.flush()
            return _payment(row)

    def cancel(self, prepay_id: str) -> str:
        """The payer backs out: nothing changes (the payment stays payable until it expires or
        the merchant closes it). Returns the merchant's return_url."""
        with self._db.read() as session:
            row = self._payment_row(session, prepay_id=prepay_id)
            if row is None:
                raise TradeNotFound("no such payment")
            return row.return_url

    # --- notifications -------------------------------------------------------------------------

    def signed_notification(self, out_trade_no: str) -> bytes:
        """A freshly signed notification body for a paid payment (what ``notifications`` delivers;
        tests post it to the merchant directly, e.g. twice)."""
        with self._db.read() as session:
            row = self._payment_row(session, out_trade_no=out_trade_no)
            if row is None:
                raise TradeNotFound(f"no payment {out_trade_no!r}")
            if row.transaction_id is None or row.paid_at is None:
                raise GatewayRequestConflict("the payment is not paid")
            return self._body(row.out_trade_no, row.transaction_id, row.amount_fen, row.paid_at)

    # --- test hooks ----------------------------------------------------------------------------

    def fail_next(self, operation: Operation, *, committed: bool) -> None:
        """Make the next call of ``operation`` raise ``GatewayUnavailable``: before anything
        happened (``committed=False``: the request was lost) or after the gateway did it
        (``committed=True``: the answer was lost). Queue several calls for several failures."""
        with self._faults_lock:
            self._faults.setdefault(operation, []).append(committed)

    def _fault(self, operation: Operation, *, committed: bool) -> None:
        with self._faults_lock:
            pending = self._faults.get(operation)
            if not pending or pending[0] is not committed:
                return
            pending.pop(0)
        raise GatewayUnavailable(f"simulated: {operation} timed out")

    # --- internals -----------------------------------------------------------------------------

    @staticmethod
    def _payment_row(
        session: Session,
        *,
        out_trade_no: str | None = None,
        prepay_id: str | None = None,
        for_update: bool = False,
    ) -> GatewayPaymentRow | None:
        statement = select(GatewayPaymentRow)
        if out_trade_no is not None:
            statement = statement.where(GatewayPaymentRow.out_trade_no == out_trade_no)
        else:
            statement = statement.where(GatewayPaymentRow.prepay_id == prepay_id)
        if for_update:
            # populate_existing: a row already in this session must show the locked values.
            statement = statement.with_for_update().execution_options(populate_existing=True)
        return session.scalars(statement).one_or_none()

    @staticmethod
    def _refund_row(session: Session, out_refund_no: str) -> GatewayRefundRow | None:
        return session.scalars(
            select(GatewayRefundRow).where(GatewayRefundRow.out_refund_no == out_refund_no)
        ).one_or_none()

    @staticmethod
    def _replay_create(existing: GatewayPaymentRow, amount_fen: int) -> GatewayPayment:
        if existing.amount_fen != amount_fen:
            raise GatewayRequestConflict(
                f"out_trade_no {existing.out_trade_no!r} was used with another amount"
            )
        return _payment(existing)

    @staticmethod
    def _replay_refund(
        existing: GatewayRefundRow, out_trade_no: str, amount_fen: int
    ) -> GatewayRefund:
        if existing.out_trade_no != out_trade_no or existing.amount_fen != amount_fen:
            raise GatewayRequestConflict(
                f"out_refund_no {existing.out_refund_no!r} was used for another refund"
            )
        return _refund(existing)

    def _refund_in(
        self, session: Session, out_refund_no: str, out_trade_no: str, amount_fen: int,
        reason: str,
    ) -> GatewayRefund:
        # Lock first, then look up the refund number: every refund of this payment, replays
        # included, queues on this lock and sees whatever committed before it.
        payment = self._payment_row(session, out_trade_no=out_trade_no, for_update=True)
        existing = self._refund_row(session, out_refund_no)
        if existing is not None:
            return self._replay_refund(existing, out_trade_no, amount_fen)
        now = self._clock.now()
        row = GatewayRefundRow(
            out_refund_no=out_refund_no,
            out_trade_no=out_trade_no,
            amount_fen=amount_fen,
            reason=reason,
            created_at=now,
        )
        failure: RefundFailure | None = None
        if payment is None:
            failure = RefundFailure.ORDER_NOT_EXIST
        elif not TradeState(payment.status).was_paid:
            failure = RefundFailure.TRADE_NOT_PAID
        elif amount_fen > payment.amount_fen - payment.refunded_fen:
            failure = RefundFailure.NOT_ENOUGH
        if failure is not None:
            row.status = RefundStatus.FAILED.value
            row.failure_reason = failure.value
            session.add(row)
            session.flush()
            return _refund(row)
        assert payment is not None
        row.status = RefundStatus.SUCCESS.value
        row.refund_id = _refund_id(now)
        session.add(row)
        # Insert the refund first: a concurrent holder of the number fails us here.
        session.flush()
        payment.refunded_fen += amount_fen
        payment.status = TradeState.REFUND.value
        session.flush()
        return _refund(row)

    def _body(self, out_trade_no: str, transaction_id: str, amount_fen: int,
              paid_at: datetime) -> bytes:
        notification = PaymentNotification(
            out_trade_no=out_trade_no,
            transaction_id=transaction_id,
            amount_fen=amount_fen,
            trade_state=TradeState.SUCCESS,
            paid_at=paid_at,
            nonce=_nonce(),
        )
        return encode_notification(notification, self._key, app_id=self.app_id,
                                   mch_id=self.mch_id)
