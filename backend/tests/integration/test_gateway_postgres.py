"""The built-in payment gateway's money rules and notification delivery, on PostgreSQL.

Concurrency tests start 20 threads that wait on one barrier and then hit the gateway together, so
the row lock, the unique merchant numbers and the CHECK constraints are what keep the money right.
Every test uses its own numbers and notify URL: the schema is shared by the module.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from functools import partial
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TypeVar

import pytest
from sqlalchemy import func, select

from huiminbao.core.clock import MovableClock
from huiminbao.core.db import Database
from huiminbao.payments.gateway.models import (
    GatewayNotificationRow,
    GatewayPaymentRow,
    GatewayRefundRow,
    NotificationStatus,
)
from huiminbao.payments.gateway.notifications import (
    MAX_DELIVERY_ATTEMPTS,
    RETRY_SCHEDULE,
    NotificationDispatcher,
    http_transport,
)
from huiminbao.payments.gateway.port import (
    GatewayPayment,
    GatewayRefund,
    GatewayRequestConflict,
    GatewayUnavailable,
    InvalidNotification,
    RefundFailure,
    RefundStatus,
    TradeNotFound,
    TradeState,
)
from huiminbao.payments.gateway.simulator import PAYMENT_TTL, SimulatedGateway

pytestmark = pytest.mark.postgres

THREADS = 20
KEY = "gateway-test-merchant-key"
START = datetime(2026, 11, 22, 2, 0, tzinfo=UTC)
_T = TypeVar("_T")


@pytest.fixture
def clock() -> MovableClock:
    return MovableClock(START)


@pytest.fixture
def gateway(pg_db: Database, clock: MovableClock) -> SimulatedGateway:
    return SimulatedGateway(pg_db, clock, KEY)


def number(label: str) -> str:
    return f"{label}{uuid.uuid4().hex[:20]}"


def notify_url() -> str:
    return f"http://merchant.test/{uuid.uuid4().hex}/notify"


def create(gateway: SimulatedGateway, amount_fen: int = 15000,
           url: str | None = None) -> GatewayPayment:
    return gateway.create_payment(number("P"), amount_fen, "西湖益联保2027 个人参保",
                                  url or notify_url(), "/enroll/result.html?order=1")


def paid(gateway: SimulatedGateway, amount_fen: int = 15000,
         url: str | None = None) -> GatewayPayment:
    payment = create(gateway, amount_fen, url)
    gateway.confirm(payment.prepay_id)
    return payment


def all_at_once(calls: list[Callable[[], _T]]) -> list[_T | BaseException]:
    """Run the calls in as many threads, released together; each call's result or exception."""
    barrier = threading.Barrier(len(calls), timeout=30)

    def run(call: Callable[[], _T]) -> _T | BaseException:
        barrier.wait()
        try:
            return call()
        except Exception as exc:  # collected and asserted on by the test
            return exc

    with ThreadPoolExecutor(max_workers=len(calls)) as pool:
        return list(pool.map(run, calls))


def no_errors(outcomes: list[_T | BaseException]) -> list[_T]:
    for outcome in outcomes:
        if isinstance(outcome, BaseException):
            raise outcome
    return [outcome for outcome in outcomes if not isinstance(outcome, BaseException)]


def count(pg_db: Database, model: type, *where: object) -> int:
    with pg_db.read() as session:
        return int(session.scalar(select(func.count()).select_from(model).where(*where)) or 0)


class Recorder:
    """A transport that records calls to the URLs it watches and answers from a script."""

    def __init__(self, watch: set[str], answers: list[bool] | None = None,
                 delay: float = 0.0) -> None:
        self.watch = watch
        self.answers = list(answers or [])
        self.delay = delay
        self.calls: list[tuple[str, bytes]] = []
        self._lock = threading.Lock()

    def __call__(self, url: str, body: bytes) -> bool:
        if self.delay:
            time.sleep(self.delay)
        if url not in self.watch:
            return True  # other tests' notifications: accept them
        with self._lock:
            self.calls.append((url, body))
            return self.answers.pop(0) if self.answers else True


# --- paying -----------------------------------------------------------------------------------


def test_twenty_confirmations_pay_once_and_queue_one_notification(
    gateway: SimulatedGateway, pg_db: Database
) -> None:
    payment = create(gateway)
    outcomes = no_errors(all_at_once([lambda: gateway.confirm(payment.prepay_id)] * THREADS))
    assert all(outcome == payment for outcome in outcomes)

    with pg_db.read() as session:
        row = session.scalars(
            select(GatewayPaymentRow).where(GatewayPaymentRow.out_trade_no == payment.out_trade_no)
        ).one()
    assert row.status == TradeState.SUCCESS.value
    assert row.transaction_id is not None
    assert len(row.transaction_id) == 28
    assert row.transaction_id.isdigit()
    assert count(pg_db, GatewayNotificationRow, GatewayNotificationRow.payment_id == row.id) == 1

    result = gateway.query(payment.out_trade_no)
    assert result is not None
    assert result.trade_state is TradeState.SUCCESS
    assert result.transaction_id == row.transaction_id
    assert result.amount_fen == 15000
    assert result.paid_at == row.paid_at


def test_twenty_creations_with_one_number_make_one_payment(
    gateway: SimulatedGateway, pg_db: Database
) -> None:
    out_trade_no = number("P")
    outcomes = no_errors(all_at_once([
        lambda: gateway.create_payment(out_trade_no, 15000, "参保", notify_url(), "/r")
    ] * THREADS))
    assert len({outcome.prepay_id for outcome in outcomes}) == 1
    assert outcomes[0].pay_url == f"/gateway/pay/{outcomes[0].prepay_id}"
    expires_at = outcomes[0].expires_at
    assert START + PAYMENT_TTL <= expires_at < START + PAYMENT_TTL + timedelta(minutes=1)
    assert count(pg_db, GatewayPaymentRow, GatewayPaymentRow.out_trade_no == out_trade_no) == 1

    with pytest.raises(GatewayRequestConflict):
        gateway.create_payment(out_trade_no, 15001, "参保", notify_url(), "/r")


def test_query_of_an_unknown_number_is_none_and_of_a_new_payment_notpay(
    gateway: SimulatedGateway,
) -> None:
    assert gateway.query(number("UNKNOWN")) is None
    payment = create(gateway)
    result = gateway.query(payment.out_trade_no)
    assert result is not None
    assert result.trade_state is TradeState.NOTPAY
    assert result.transaction_id is None
    assert result.paid_at is None


def test_close_then_confirm_is_refused(gateway: SimulatedGateway) -> None:
    payment = create(gateway)
    gateway.close(payment.out_trade_no)
    gateway.close(payment.out_trade_no)  # closing again changes nothing
    with pytest.raises(GatewayRequestConflict):
        gateway.confirm(payment.prepay_id)
    result = gateway.query(payment.out_trade_no)
    assert result is not None
    assert result.trade_state is TradeState.CLOSED


def test_concurrent_close_and_confirm_end_in_one_consistent_state(
    gateway: SimulatedGateway,
) -> None:
    payment = create(gateway)
    calls: list[Callable[[], object]] = [
        (lambda: gateway.close(payment.out_trade_no)) if i % 2 else
        (lambda: gateway.confirm(payment.prepay_id))
        for i in range(THREADS)
    ]
    outcomes = all_at_once(calls)
    assert all(o is None or isinstance(o, GatewayPayment | GatewayRequestConflict)
               for o in outcomes)
    result = gateway.query(payment.out_trade_no)
    assert result is not None
    if result.trade_state is TradeState.SUCCESS:  # paid first: every close was refused
        assert not any(o is None for o in outcomes)
    else:  # closed first: every confirmation was refused
        assert result.trade_state is TradeState.CLOSED
        assert not any(isinstance(o, GatewayPayment) for o in outcomes)


def test_closing_a_paid_or_unknown_payment_is_refused(gateway: SimulatedGateway) -> None:
    payment = paid(gateway)
    with pytest.raises(GatewayRequestConflict):
        gateway.close(payment.out_trade_no)
    with pytest.raises(TradeNotFound):
        gateway.close(number("UNKNOWN"))


def test_an_unpaid_payment_expires_after_two_hours(
    gateway: SimulatedGateway, clock: MovableClock
) -> None:
    payment = create(gateway)
    clock.travel_to(START + PAYMENT_TTL + timedelta(seconds=1))
    result = gateway.query(payment.out_trade_no)
    assert result is not None
    assert result.trade_state is TradeState.CLOSED
    with pytest.raises(GatewayRequestConflict):
        gateway.confirm(payment.prepay_id)
    page = gateway.page(payment.prepay_id)
    assert page is not None
    assert page.expired
    assert not page.payable


def test_confirming_an_unknown_prepay_id_is_refused(gateway: SimulatedGateway) -> None:
    with pytest.raises(TradeNotFound):
        gateway.confirm("wx20261122100000nosuchpayment")


def test_lost_answers_are_resolved_by_querying(gateway: SimulatedGateway) -> None:
    out_trade_no = number("P")
    gateway.fail_next("create_payment", committed=True)
    with pytest.raises(GatewayUnavailable):
        gateway.create_payment(out_trade_no, 15000, "参保", notify_url(), "/r")
    found = gateway.query(out_trade_no)
    assert found is not None
    assert found.trade_state is TradeState.NOTPAY
    again = gateway.create_payment(out_trade_no, 15000, "参保", notify_url(), "/r")
    assert again.out_trade_no == out_trade_no

    lost = number("P")
    gateway.fail_next("create_payment", committed=False)
    with pytest.raises(GatewayUnavailable):
        gateway.create_payment(lost, 15000, "参保", notify_url(), "/r")
    assert gateway.query(lost) is None

    gateway.fail_next("query", committed=False)
    with pytest.raises(GatewayUnavailable):
        gateway.query(out_trade_no)
    assert gateway.query(out_trade_no) is not None


# --- refunds ----------------------------------------------------------------------------------


def test_concurrent_refunds_never_exceed_what_was_paid(
    gateway: SimulatedGateway, pg_db: Database
) -> None:
    payment = paid(gateway, 15000)
    refund_nos = [number("R") for _ in range(THREADS)]
    outcomes = no_errors(all_at_once([
        partial(gateway.refund, n, payment.out_trade_no, 10000, "退保") for n in refund_nos
    ]))
    succeeded = [o for o in outcomes if o.succeeded]
    assert len(succeeded) == 1
    assert all(o.failure_reason is RefundFailure.NOT_ENOUGH for o in outcomes if not o.succeeded)
    result = gateway.query(payment.out_trade_no)
    assert result is not None
    assert result.trade_state is TradeState.REFUND
    assert result.refunded_fen == 10000
    with pg_db.read() as session:
        total = session.scalar(
            select(func.sum(GatewayRefundRow.amount_fen)).where(
                GatewayRefundRow.out_trade_no == payment.out_trade_no,
                GatewayRefundRow.status == RefundStatus.SUCCESS.value,
            )
        )
    assert total == 10000


def test_one_refund_number_twenty_times_refunds_once(
    gateway: SimulatedGateway, pg_db: Database
) -> None:
    payment = paid(gateway, 15000)
    out_refund_no = number("R")
    outcomes = no_errors(all_at_once([
        lambda: gateway.refund(out_refund_no, payment.out_trade_no, 15000, "退保")
    ] * THREADS))
    assert len(set(outcomes)) == 1
    assert outcomes[0].succeeded
    assert outcomes[0].refund_id is not None
    assert count(pg_db, GatewayRefundRow, GatewayRefundRow.out_refund_no == out_refund_no) == 1
    result = gateway.query(payment.out_trade_no)
    assert result is not None
    assert result.refunded_fen == 15000

    with pytest.raises(GatewayRequestConflict):
        gateway.refund(out_refund_no, payment.out_trade_no, 100, "退保")


def test_one_refund_number_on_an_unknown_trade_from_twenty_threads(
    gateway: SimulatedGateway,
) -> None:
    out_refund_no = number("R")
    out_trade_no = number("UNKNOWN")
    outcomes = no_errors(all_at_once([
        lambda: gateway.refund(out_refund_no, out_trade_no, 100, "退保")
    ] * THREADS))
    assert len(set(outcomes)) == 1
    assert outcomes[0].failure_reason is RefundFailure.ORDER_NOT_EXIST


def test_refunds_of_unpaid_trades_fail_and_partial_refunds_add_up(
    gateway: SimulatedGateway,
) -> None:
    unpaid = create(gateway)
    refused = gateway.refund(number("R"), unpaid.out_trade_no, 100, "退保")
    assert refused.status is RefundStatus.FAILED
    assert refused.failure_reason is RefundFailure.TRADE_NOT_PAID

    payment = paid(gateway, 15000)
    parts: list[GatewayRefund] = [
        gateway.refund(number("R"), payment.out_trade_no, amount, "部分退款")
        for amount in (5000, 5000, 5000, 1)
    ]
    assert [part.succeeded for part in parts] == [True, True, True, False]
    assert parts[-1].failure_reason is RefundFailure.NOT_ENOUGH
    with pytest.raises(ValueError, match="amount_fen"):
        gateway.refund(number("R"), payment.out_trade_no, 0, "退保")


# --- notifications ----------------------------------------------------------------------------


def test_failed_deliveries_follow_the_retry_schedule_then_give_up(
    gateway: SimulatedGateway, clock: MovableClock
) -> None:
    url = notify_url()
    payment = paid(gateway, url=url)
    failing = Recorder({url}, answers=[False] * MAX_DELIVERY_ATTEMPTS)

    gateway.notifications.deliver_due(failing)
    assert len(failing.calls) == 1
    due = START
    for attempt, wait in enumerate(RETRY_SCHEDULE, start=2):
        state = gateway.notifications.state(payment.out_trade_no)
        assert state is not None
        assert state.status is NotificationStatus.PENDING
        assert state.next_attempt_at is not None
        assert wait - timedelta(seconds=1) < state.next_attempt_at - clock.now() <= wait
        due = state.next_attempt_at
        clock.travel_to(due - timedelta(seconds=1))
        gateway.notifications.deliver_due(failing)
        assert len(failing.calls) == attempt - 1, "delivered before it was due"
        clock.travel_to(due)
        gateway.notifications.deliver_due(failing)
        assert len(failing.calls) == attempt

    state = gateway.notifications.state(payment.out_trade_no)
    assert state is not None
    assert state.status is NotificationStatus.FAILED
    assert state.attempts == MAX_DELIVERY_ATTEMPTS == 16
    assert state.last_error == "rejected"
    assert due - START >= sum(RETRY_SCHEDULE, timedelta()) == timedelta(hours=24, minutes=4)
    clock.advance(timedelta(days=2))
    gateway.notifications.deliver_due(failing)
    assert len(failing.calls) == MAX_DELIVERY_ATTEMPTS

    # Every attempt carried a valid, freshly signed notification of this payment.
    nonces = set()
    for _url, body in failing.calls:
        notification = gateway.verify_notification(body)
        assert notification.out_trade_no == payment.out_trade_no
        assert notification.amount_fen == 15000
        nonces.add(notification.nonce)
    assert len(nonces) == MAX_DELIVERY_ATTEMPTS


def test_a_successful_delivery_stops_the_retries(
    gateway: SimulatedGateway, clock: MovableClock
) -> None:
    url = notify_url()
    payment = paid(gateway, url=url)
    transport = Recorder({url}, answers=[False, False, True])

    def explode(_url: str, _body: bytes) -> bool:
        if _url == url:
            raise ConnectionRefusedError("connection refused")
        return True

    gateway.notifications.deliver_due(explode)
    state = gateway.notifications.state(payment.out_trade_no)
    assert state is not None
    assert state.last_error is not None
    assert state.last_error.startswith("ConnectionRefusedError")
    for _ in range(3):
        clock.advance(timedelta(minutes=1))
        gateway.notifications.deliver_due(transport)
    assert len(transport.calls) == 3
    state = gateway.notifications.state(payment.out_trade_no)
    assert state is not None
    assert state.status is NotificationStatus.DELIVERED
    assert state.attempts == 4
    assert state.next_attempt_at is None
    assert state.last_error is None

    clock.advance(timedelta(days=2))
    gateway.notifications.deliver_due(transport)
    assert len(transport.calls) == 3


def test_concurrent_deliverers_deliver_each_due_notification_once(
    gateway: SimulatedGateway,
) -> None:
    urls = {notify_url() for _ in range(5)}
    payments = [paid(gateway, url=url) for url in urls]
    transport = Recorder(urls, delay=0.02)
    deliver = gateway.notifications.deliver_due
    no_errors(all_at_once([lambda: deliver(transport, batch=2)] * THREADS))
    assert sorted(url for url, _body in transport.calls) == sorted(urls)
    for payment in payments:
        state = gateway.notifications.state(payment.out_trade_no)
        assert state is not None
        assert state.status is NotificationStatus.DELIVERED
        assert state.attempts == 1


def test_signed_notification_verifies_and_a_forged_one_does_not(
    gateway: SimulatedGateway, pg_db: Database, clock: MovableClock
) -> None:
    payment = paid(gateway)
    body = gateway.signed_notification(payment.out_trade_no)
    notification = gateway.verify_notification(body)
    assert notification.trade_state is TradeState.SUCCESS
    assert START <= notification.paid_at < START + timedelta(minutes=1)
    other = SimulatedGateway(pg_db, clock, "another-key")
    with pytest.raises(InvalidNotification):
        other.verify_notification(body)
    with pytest.raises(GatewayRequestConflict):
        gateway.signed_notification(create(gateway).out_trade_no)


# --- over HTTP --------------------------------------------------------------------------------


class _Merchant(BaseHTTPRequestHandler):
    received: list[bytes]
    statuses: list[int]

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length", "0"))
        self.received.append(self.rfile.read(length))
        status = self.statuses.pop(0) if self.statuses else 200
        self.send_response(status)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def merchant() -> Iterator[tuple[str, type[_Merchant]]]:
    handler = type("Merchant", (_Merchant,), {"received": [], "statuses": []})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/api/v1/payments/online/notify", handler
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


def test_http_transport_answers_the_status(merchant: tuple[str, type[_Merchant]]) -> None:
    url, handler = merchant
    handler.statuses.extend([500, 200])
    assert http_transport(url, b"{}") == 500
    assert http_transport(url, b"{}") == 200
    assert handler.received == [b"{}", b"{}"]
    with pytest.raises(ValueError, match="absolute"):
        http_transport("file:///etc/passwd", b"{}")


def test_the_dispatcher_delivers_over_http(
    gateway: SimulatedGateway, merchant: tuple[str, type[_Merchant]], clock: MovableClock
) -> None:
    url, handler = merchant
    handler.statuses.append(503)
    payment = paid(gateway, url=url)
    dispatcher = NotificationDispatcher(gateway.notifications, interval=0.05)
    dispatcher.start()
    try:
        deadline = time.monotonic() + 10
        while not handler.received and time.monotonic() < deadline:
            time.sleep(0.02)
        assert handler.received, "the first attempt never came"
        while time.monotonic() < deadline:  # wait until the failure is recorded
            state = gateway.notifications.state(payment.out_trade_no)
            if state is not None and state.last_error is not None:
                break
            time.sleep(0.02)
        assert state is not None
        assert state.last_error == "HTTP 503"
        clock.advance(RETRY_SCHEDULE[0])
        while len(handler.received) < 2 and time.monotonic() < deadline:
            time.sleep(0.02)
    finally:
        dispatcher.stop()
    assert not dispatcher.running
    assert len(handler.received) == 2
    notification = gateway.verify_notification(handler.received[-1])
    assert notification.out_trade_no == payment.out_trade_no
    state = gateway.notifications.state(payment.out_trade_no)
    assert state is not None
    assert state.status is NotificationStatus.DELIVERED
    assert state.attempts == 2
