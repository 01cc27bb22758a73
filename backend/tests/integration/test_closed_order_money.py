"""Money that moves for an order being closed is never kept, on PostgreSQL.

A personal-account enrollment writes its order, then sends the debit; meanwhile the same user
(another tab) cancels the pending order. Whatever the interleaving, each try ends with the order
issued and debited once, or closed with nothing debited or the debit refunded. A payment that
lands after its order was closed is refunded by whoever sees it (the request, a late gateway
notification, or ``reconcile``), once; an order the payment side never heard of stops holding
its person after ``PAYMENT_ATTEMPT_WINDOW``.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import pytest
from click.testing import CliRunner
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select, update

from huiminbao.app import build_container, create_app
from huiminbao.catalog.demo import ensure_demo_product
from huiminbao.cli import main as cli
from huiminbao.core.clock import MovableClock
from huiminbao.core.config import Settings
from huiminbao.core.container import Container
from huiminbao.enrollment import completing, resolving
from huiminbao.enrollment.domain import PAYMENT_ATTEMPT_WINDOW, OrderStatus
from huiminbao.enrollment.models import Order, Refund
from huiminbao.enrollment.reconcile import reconcile
from huiminbao.payments import ledger
from huiminbao.registry.generator import generate_population
from huiminbao.registry.port import BalanceKind, OperationResult, RegistryPort
from huiminbao_bench.pool import PoolMember, sign_in_pool
from tests.conftest import TEST_NOW

pytestmark = pytest.mark.postgres

TRIES = 40
GATE_TIMEOUT_S = 5.0


class GatedRegistry:
    """The registry port with a network's timing: a debit can be held on its way to the
    registry ("before") or on its answer's way back ("after") until the test opens the gate.
    Everything else is the real simulator."""

    def __init__(self, inner: RegistryPort) -> None:
        self._inner = inner
        self.hold: str | None = None  # "before" | "after" | None
        self.gate = threading.Event()
        self.debit_sent = threading.Event()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)

    def debit(self, request_no: str, id_number: str, amount_fen: int, *,
              sources: Sequence[BalanceKind], purpose: str) -> OperationResult:
        if self.hold == "before":
            self.gate.wait(GATE_TIMEOUT_S)
        result = self._inner.debit(request_no, id_number, amount_fen, sources=sources,
                                   purpose=purpose)
        self.debit_sent.set()
        if self.hold == "after":
            self.gate.wait(GATE_TIMEOUT_S)
        return result


@dataclass
class World:
    app: Flask
    container: Container
    clock: MovableClock
    registry: GatedRegistry
    members: list[PoolMember]
    product_id: int


@pytest.fixture
def world(pg_url: str) -> Iterator[World]:
    clock = MovableClock(TEST_NOW)
    container = build_container(Settings(database_url=pg_url, testing=True), clock=clock)
    product = ensure_demo_product(container.db, clock)
    generate_population(container.db, clock, 800, seed=int(uuid.uuid4().int % 10**6))
    members = sign_in_pool(container, product.id, TRIES + 5)
    assert len(members) >= TRIES + 5
    gated = GatedRegistry(container.registry)
    container.registry = gated
    yield World(create_app(container=container), container, clock, gated, members, product.id)
    container.db.dispose()


def _bearer(member: PoolMember) -> dict[str, str]:
    return {"Authorization": f"Bearer {member.token}"}


def _enroll(client: FlaskClient, member: PoolMember, product: dict[str, Any]) -> Any:
    standard = next(tier for tier in product["tiers"] if tier["code"] == "standard")
    return client.post("/api/v1/enrollments", headers={
        **_bearer(member), "Idempotency-Key": uuid.uuid4().hex}, json={
        "product_id": product["id"], "tier": "standard", "payment_method": "personal_account",
        "confirmations": {"terms_version": product["terms"]["version"],
                          "not_basic_insurance": True,
                          "debit_amount_fen": standard["premium_fen"]}})


def _pending_order_of(client: FlaskClient, member: PoolMember) -> str | None:
    deadline = time.monotonic() + GATE_TIMEOUT_S
    while time.monotonic() < deadline:
        items = client.get("/api/v1/enrollments?status=pending_payment",
                           headers=_bearer(member)).get_json()["items"]
        if items:
            return str(items[0]["order_no"])
        time.sleep(0.005)
    return None


def _available(world: World, member: PoolMember) -> int:
    balance = world.container.registry.balance(member.id_number)
    assert balance is not None
    return balance.prior_years_fen + balance.current_year_fen


def _money_of(world: World, order_no: str) -> tuple[str, int, int]:
    """(order status, fen debited under its request number, fen refunded to it)."""
    with world.container.db.read() as session:
        order = session.scalars(select(Order).where(Order.order_no == order_no)).one()
    debit = world.container.registry.query(order.payment_request_no)
    debited = debit.amount_fen if debit is not None and debit.succeeded else 0
    refunded = sum(op.amount_fen for op in world.container.registry.statement()
                   if op.original_request_no == order.payment_request_no)
    return order.status, debited, refunded


def _product(client: FlaskClient) -> dict[str, Any]:
    return client.get("/api/v1/products").get_json()["items"][0]  # type: ignore[no-any-return]


def _race_cancel(world: World, member: PoolMember, hold: str | None,
                 before_cancel: Callable[[], None] = lambda: None) -> dict[str, Any]:
    """Thread A enrolls; thread B finds the pending order and cancels it while the debit is
    held where ``hold`` says (or, with no hold, whenever B gets there)."""
    product = _product(world.app.test_client())
    world.registry.hold, answers = hold, {}
    world.registry.gate.clear()
    world.registry.debit_sent.clear()

    def enroll() -> None:
        answers["enroll"] = _enroll(world.app.test_client(), member, product)

    def cancel() -> None:
        client = world.app.test_client()
        order_no = _pending_order_of(client, member)
        answers["order_no"] = order_no
        if hold == "after":
            world.registry.debit_sent.wait(GATE_TIMEOUT_S)
        if order_no is not None:
            before_cancel()
            answers["cancel"] = client.post(f"/api/v1/enrollments/{order_no}/cancel",
                                            headers=_bearer(member))
        world.registry.gate.set()

    threads = [threading.Thread(target=enroll), threading.Thread(target=cancel)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    world.registry.hold = None
    return answers


def test_cancelling_while_the_debit_is_in_flight_loses_nothing(world: World) -> None:
    """40 tries, two threads: the debit held on its way there, on its way back, or not held;
    and held on its way there while the cancel comes after the attempt window (so the cancel
    closes the order and the debit lands on a closed order)."""
    premium = next(t["premium_fen"] for t in _product(world.app.test_client())["tiers"]
                   if t["code"] == "standard")

    def late() -> None:
        world.clock.advance(PAYMENT_ATTEMPT_WINDOW + timedelta(seconds=1))

    plans: list[tuple[str | None, Callable[[], None]]] = [
        ("before", lambda: None), ("after", lambda: None), (None, lambda: None),
        ("before", late)]
    outcomes: dict[str, int] = {}
    for index in range(TRIES):
        member = world.members[index]
        before = _available(world, member)
        hold, before_cancel = plans[index % len(plans)]
        answers = _race_cancel(world, member, hold, before_cancel)
        enrolled = answers["enroll"]
        order_no = answers["order_no"] or enrolled.get_json().get("order_no")
        assert order_no, enrolled.get_json()
        status, debited, refunded = _money_of(world, order_no)
        after = _available(world, member)
        if status == OrderStatus.ISSUED.value:
            assert (debited, refunded) == (premium, 0)
            assert after == before - premium
            assert enrolled.status_code == 201, enrolled.get_json()
        else:
            assert status in {OrderStatus.CANCELLED.value, OrderStatus.EXPIRED.value}
            assert debited == refunded, (order_no, debited, refunded)
            assert after == before, "a closed order keeps no money"
            if debited:  # the payer hears that the money went back
                assert enrolled.get_json()["code"] == "order_closed"
                assert "已原路退回" in enrolled.get_json()["message"]
        cancel = answers.get("cancel")
        if cancel is not None and cancel.status_code != 200:
            # The user is told plainly why the order was not cancelled.
            assert cancel.get_json()["code"] in {"payment_in_progress", "order_paid",
                                                 "not_pending"}, cancel.get_json()
            assert "订单" in cancel.get_json()["message"]
        kind = status if status == OrderStatus.ISSUED.value else (
            "refunded" if debited else "closed unpaid")
        outcomes[kind] = outcomes.get(kind, 0) + 1
    assert sum(outcomes.values()) == TRIES
    # Both ways a try can end happened: issued (the cancel refused), and closed with the debit
    # that landed afterwards refunded.
    assert outcomes.get("issued", 0) >= TRIES // 2 and outcomes.get("refunded", 0) >= 1, outcomes
    report = reconcile(world.container)
    assert report.ok, report.violations
    assert report.healed == {}


def test_a_debit_that_lands_after_the_order_was_closed_goes_back(world: World) -> None:
    """Past the attempt window the cancel closes the order (nothing heard of a debit); the debit
    then lands: the enrollment answers that the money went back, and it did, once."""
    member = world.members[TRIES]
    before = _available(world, member)

    def late() -> None:
        world.clock.advance(PAYMENT_ATTEMPT_WINDOW + timedelta(seconds=1))

    answers = _race_cancel(world, member, "before", before_cancel=late)
    assert answers["cancel"].status_code == 200, answers["cancel"].get_json()
    assert answers["cancel"].get_json()["status"] == "cancelled"
    enrolled = answers["enroll"]
    assert enrolled.status_code == 409, enrolled.get_json()
    assert enrolled.get_json()["code"] == "order_closed"
    assert "已原路退回您的医保个人账户" in enrolled.get_json()["message"]
    status, debited, refunded = _money_of(world, answers["order_no"])
    assert status == "cancelled" and debited == refunded > 0
    assert _available(world, member) == before
    with world.container.db.read() as session:
        assert ledger.balance(session, ledger.STRAY_PAYMENTS) == 0
        refund = session.scalars(select(Refund).join(Order, Order.id == Refund.order_id).where(
            Order.order_no == answers["order_no"])).one()
    assert refund.policy_id is None and refund.status == "succeeded"
    report = reconcile(world.container)
    assert report.ok, report.violations
    # The person is free to enroll again, and does.
    again = _enroll(world.app.test_client(), member, _product(world.app.test_client()))
    assert again.status_code == 201, again.get_json()


def test_an_order_the_registry_never_heard_of_stops_holding_its_person(world: World) -> None:
    """A crash between writing the order and sending the debit: the retry is refused while the
    debit might still be on its way, and enrolls once the attempt window has passed."""
    member = world.members[TRIES + 1]
    product = _product(world.app.test_client())
    real_debit = world.registry.debit

    def crash(*_args: Any, **_kwargs: Any) -> Any:
        raise RuntimeError("process died before the debit was sent")

    world.registry.debit = crash  # type: ignore[method-assign]
    try:
        crashed = _enroll(world.app.test_client(), member, product)
    finally:
        world.registry.debit = real_debit  # type: ignore[method-assign]
    assert crashed.status_code == 500
    blocked = _enroll(world.app.test_client(), member, product)
    assert blocked.status_code == 422
    assert blocked.get_json()["code"] == "pending_order"
    world.clock.advance(PAYMENT_ATTEMPT_WINDOW + timedelta(seconds=1))
    retried = _enroll(world.app.test_client(), member, product)
    assert retried.status_code == 201, retried.get_json()
    assert retried.get_json()["status"] == "issued"
    with world.container.db.read() as session:
        statuses = sorted(session.scalars(select(Order.status).where(
            Order.buyer_person_id == member.person_id)))
        reasons = session.scalars(select(Order.failure_reason).where(
            Order.buyer_person_id == member.person_id,
            Order.status == "cancelled")).all()
    assert statuses == ["cancelled", "issued"]
    assert reasons == [resolving.NEVER_SENT]


def test_reconcile_refunds_a_kept_debit_once_and_is_clean_the_second_time(
    world: World, pg_url: str, monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Seeded as the old code left it: debit succeeded, order closed, no refund. ``huiminbao
    reconcile`` reports it, refunds it once and exits 1; run again, it exits 0."""
    member = world.members[TRIES + 2]
    product = _product(world.app.test_client())
    before = _available(world, member)
    enrolled = _enroll(world.app.test_client(), member, product)
    assert enrolled.status_code == 201
    kept_from = world.members[TRIES + 3]
    kept_before = _available(world, kept_from)
    order_no = _seed_kept_debit(world, kept_from, product, monkeypatch)
    assert _available(world, kept_from) < kept_before

    monkeypatch.setenv("DATABASE_URL", pg_url)
    monkeypatch.setenv("HUIMINBAO_MODE", "demo")
    first = CliRunner().invoke(cli, ["reconcile"])
    assert first.exit_code == 1, first.output
    assert order_no in first.output and "已发起退款" in first.output
    assert _available(world, kept_from) == kept_before
    second = CliRunner().invoke(cli, ["reconcile"])
    assert second.exit_code == 0, second.output
    assert "账实一致" in second.output
    assert _available(world, kept_from) == kept_before
    assert _available(world, member) == before - enrolled.get_json()["payable_fen"]
    status, debited, refunded = _money_of(world, order_no)
    assert status == "cancelled" and debited == refunded > 0


def _seed_kept_debit(world: World, member: PoolMember, product: dict[str, Any],
                     monkeypatch: pytest.MonkeyPatch) -> str:
    """An order debited at the registry and then closed without asking it (the old cancel)."""

    def crash(*_args: Any, **_kwargs: Any) -> Any:
        raise RuntimeError("process died after the debit")

    with monkeypatch.context() as patched:
        patched.setattr(completing, "complete_payment", crash)
        assert _enroll(world.app.test_client(), member, product).status_code == 500
    with world.container.db.transaction() as session:
        order = session.scalars(select(Order).where(
            Order.buyer_person_id == member.person_id)).one()
        session.execute(update(Order).where(Order.id == order.id).values(
            status="cancelled", closed_at=world.clock.now(), failure_reason="已由您取消"))
        completing._release(session, order.items)
    outcome = world.container.registry.query(order.payment_request_no)
    assert outcome is not None and outcome.succeeded
    return order.order_no


def test_a_late_gateway_notification_for_a_closed_order_is_refunded_once(world: World) -> None:
    """Paid at the gateway, but the order was closed before the notification came (seeded as an
    outage would leave it): the notification is answered 200, once refunded, never issued."""
    member = world.members[TRIES + 4]
    product = _product(world.app.test_client())
    created = world.app.test_client().post("/api/v1/enrollments", headers={
        **_bearer(member), "Idempotency-Key": uuid.uuid4().hex}, json={
        "product_id": product["id"], "tier": "standard", "payment_method": "online",
        "confirmations": {"terms_version": product["terms"]["version"],
                          "not_basic_insurance": True}})
    assert created.status_code == 201, created.get_json()
    order_no = created.get_json()["order_no"]
    gateway: Any = world.container.gateway
    gateway.confirm(created.get_json()["pay_url"].rsplit("/", 1)[1])
    with world.container.db.transaction() as session:
        order = session.scalars(select(Order).where(Order.order_no == order_no)).one()
        session.execute(update(Order).where(Order.id == order.id).values(
            status="expired", closed_at=world.clock.now(), failure_reason="超时"))
        completing._release(session, order.items)
    notification = gateway.signed_notification(order.payment_request_no)
    for _ in range(3):  # the gateway retries; each delivery is answered, one refund is made
        answer = world.app.test_client().post("/api/v1/payments/online/notify",
                                              data=notification,
                                              content_type="application/json")
        assert answer.status_code == 200, answer.get_json()
    with world.container.db.read() as session:
        refunds = session.scalars(select(Refund).where(Refund.order_id == order.id)).all()
        status = session.scalar(select(Order.status).where(Order.id == order.id))
    assert status == "expired"
    assert [(r.status, r.amount_fen, r.policy_id) for r in refunds] == [
        ("succeeded", order.payable_fen, None)]
    paid = world.container.gateway.query(order.payment_request_no)
    assert paid is not None and paid.refunded_fen == order.payable_fen
    report = reconcile(world.container)
    assert report.ok, report.violations


def test_a_reconcile_run_that_breaks_is_recorded_and_one_bad_item_does_not_stop_it(
        world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    from huiminbao.enrollment import reconcile as reconciliation

    product = _product(world.app.test_client())
    order_no = _seed_kept_debit(world, world.members[0], product, monkeypatch)

    def unreachable(*_args: Any, **_kwargs: Any) -> Any:
        raise RuntimeError("the registry went away mid-heal")

    with monkeypatch.context() as patched:  # one item fails: reported, the run goes on
        patched.setattr(completing, "complete_payment", unreachable)
        report = reconcile(world.container)
    assert any(order_no in v and "本次未能处理" in v for v in report.violations), report
    latest = reconciliation.latest_runs(world.container, 1)[0]
    assert latest.ok is False and latest.violations == report.violations

    with monkeypatch.context() as patched:  # a later step fails: recorded, then raised
        patched.setattr(reconciliation, "_check", unreachable)
        with pytest.raises(RuntimeError):
            reconcile(world.container)
    latest = reconciliation.latest_runs(world.container, 1)[0]
    assert not latest.ok and any("对账中断" in v for v in latest.violations)
    assert any(order_no in v and "已发起退款" in v for v in latest.violations)  # healed first
    _status, debited, refunded = _money_of(world, order_no)
    assert debited == refunded > 0
    assert reconcile(world.container).ok


def test_the_command_exits_2_when_a_run_breaks(
        world: World, pg_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """0 all clear, 1 something wrong (recorded), 2 the run itself broke: the schedule's health
    check tells a broken job from one that found something."""
    from huiminbao.enrollment import reconcile as reconciliation

    def broken(*_args: Any, **_kwargs: Any) -> Any:
        raise RuntimeError("a defect in a check")

    monkeypatch.setenv("DATABASE_URL", pg_url)
    monkeypatch.setenv("HUIMINBAO_MODE", "demo")
    monkeypatch.setattr(reconciliation, "_check", broken)
    result = CliRunner().invoke(cli, ["reconcile"])
    assert result.exit_code == 2, result.output
    assert "对账中断" in result.output


def test_an_order_cancelled_while_its_payment_is_being_opened_gets_no_pay_page(
        world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    """The gateway opens the payment, and before its answer is kept the buyer cancels in
    another tab (the cancel found nothing at the gateway yet): the enrollment answers that the
    order is closed, keeps no pay page, and closes the payment so nobody can pay it."""
    member = world.members[0]
    product = _product(world.app.test_client())
    gateway: Any = world.container.gateway
    real_create = gateway.create_payment
    opened: dict[str, str] = {}

    def opened_then_cancelled_elsewhere(out_trade_no: str, *args: Any, **kwargs: Any) -> Any:
        payment = real_create(out_trade_no, *args, **kwargs)
        with world.container.db.read() as session:
            opened["order_no"] = session.scalars(select(Order.order_no).where(
                Order.payment_request_no == out_trade_no)).one()
        completing.close_unpaid(world.container, opened["order_no"], OrderStatus.CANCELLED,
                              "已由您取消")
        return payment

    monkeypatch.setattr(gateway, "create_payment", opened_then_cancelled_elsewhere)
    answer = world.app.test_client().post("/api/v1/enrollments", headers={
        **_bearer(member), "Idempotency-Key": uuid.uuid4().hex}, json={
        "product_id": product["id"], "tier": "standard", "payment_method": "online",
        "confirmations": {"terms_version": product["terms"]["version"],
                          "not_basic_insurance": True}})
    assert answer.status_code == 409, answer.get_json()
    assert answer.get_json()["code"] == "order_closed"
    assert "订单已取消" in answer.get_json()["message"]
    with world.container.db.read() as session:
        order = session.scalars(select(Order).where(
            Order.order_no == opened["order_no"])).one()
    assert (order.status, order.pay_url) == ("cancelled", None)
    trade = gateway.query(order.payment_request_no)
    assert trade is not None and trade.trade_state.value == "CLOSED"
    assert reconcile(world.container).ok
