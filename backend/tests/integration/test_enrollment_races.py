"""Money under concurrency, on PostgreSQL: many requests at once for one person, replays of
one Idempotency-Key, duplicate gateway notifications, and a crash between debit and issue."""

from __future__ import annotations

import uuid
from collections import Counter
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import func, select

from huiminbao.core.container import Container
from huiminbao.enrollment import completing
from huiminbao.enrollment.domain import OrderStatus
from huiminbao.enrollment.models import Order, OrderItem, Policy, Refund
from huiminbao.enrollment.reconcile import reconcile
from huiminbao.identity.models import Person
from huiminbao.payments.ledger import LedgerTransaction
from tests.api.enrollment_helpers import body, sign_in
from tests.api.helpers import Session
from tests.races import race

pytestmark = pytest.mark.postgres


def _post(app: Flask, session: Session, json: dict[str, Any], key: str) -> tuple[int, Any]:
    response = app.test_client().post("/api/v1/enrollments", json=json,
                                      headers={**session.bearer, "Idempotency-Key": key})
    return response.status_code, response.get_json()


def _debits(container: Container, id_number: str) -> int:
    return sum(1 for entry in container.registry.entries(id_number) if entry.kind == "debit")


def _policies_of(container: Container, person_id: int) -> int:
    with container.db.read() as session:
        return int(session.scalar(select(func.count()).select_from(Policy).where(
            Policy.insured_person_id == person_id, Policy.status == "active")) or 0)


def test_fifty_enrollments_for_one_person_with_different_keys(
    pg_app: Flask, pg_wired: Container,
) -> None:
    app, container = pg_app, pg_wired
    zhang = sign_in(app.test_client(), "张伟")
    request = body(zhang.client, "personal_account")
    results = race(50, lambda i: _post(app, zhang, request, f"race-diff-{i}-{uuid.uuid4().hex}"))
    statuses = Counter(status for status, _body in results)
    assert statuses[201] == 1, statuses
    codes = Counter(answer["code"] for status, answer in results if status != 201)
    assert set(codes) <= {"already_insured", "pending_order"}, codes
    assert _debits(container, "330106198803150130") == 1
    assert _policies_of(container, zhang.me["identity"]["person_id"]) == 1
    balance = container.registry.balance("330106198803150130")
    assert balance is not None and balance.prior_years_fen == 200000 - 15000


def test_fifty_replays_of_one_key_execute_once(pg_app: Flask, pg_wired: Container) -> None:
    app, container = pg_app, pg_wired
    lin = sign_in(app.test_client(), "林𫖮")
    request = body(lin.client, "personal_account")
    key = f"race-same-{uuid.uuid4().hex}"
    results = race(50, lambda i: _post(app, lin, request, key))
    # A duplicate waits at most 1.5 s for the first answer; on a slow machine a late
    # one may be told 409 idempotency_in_progress instead, and its retry gets the same answer.
    first = _post(app, lin, request, key)[1]
    assert first["status"] == "issued", first
    for status, answer in results:
        assert answer == first or (status, answer["code"]) == (409, "idempotency_in_progress")
    assert sum(1 for status, _answer in results if status == 201) >= 1
    assert _debits(container, "330108199701130742") == 1
    with container.db.read() as session:
        orders = session.scalar(select(func.count()).select_from(Order).where(
            Order.buyer_person_id == lin.me["identity"]["person_id"]))
    assert orders == 1

    other_body = body(lin.client, "personal_account", tier="premium")
    status, answer = _post(app, lin, other_body, key)
    assert status == 409
    assert answer["code"] == "idempotency_key_reused"
    assert _debits(container, "330108199701130742") == 1


def test_twenty_duplicate_gateway_notifications_pay_once(
    pg_app: Flask, pg_wired: Container,
) -> None:
    app, container = pg_app, pg_wired
    liu = sign_in(app.test_client(), "刘䶮")
    status, order = _post(app, liu, body(liu.client, "online"), uuid.uuid4().hex)
    assert status == 201, order
    gateway: Any = container.gateway
    prepay_id = order["pay_url"].rsplit("/", 1)[1]
    gateway.confirm(prepay_id)
    captured: list[bytes] = []
    gateway.notifications.deliver_due(lambda url, payload: captured.append(payload) or True)
    assert len(captured) == 1

    def notify(_index: int) -> int:
        return app.test_client().post("/api/v1/payments/online/notify", data=captured[0],
                                      content_type="application/json").status_code

    assert set(race(20, notify)) == {200}
    with container.db.read() as session:
        payments = session.scalar(select(func.count()).select_from(LedgerTransaction).where(
            LedgerTransaction.order_no == order["order_no"], LedgerTransaction.kind == "payment"))
        issued = session.scalar(select(Order.status).where(Order.order_no == order["order_no"]))
    assert payments == 1
    assert issued == "issued"
    assert _policies_of(container, liu.me["identity"]["person_id"]) == 1

    forged = captured[0].replace(b'"total_fee": "15000"', b'"total_fee": "1"').replace(
        b'"total_fee":"15000"', b'"total_fee":"1"')
    assert forged != captured[0]
    refused = app.test_client().post("/api/v1/payments/online/notify", data=forged,
                                     content_type="application/json")
    assert refused.status_code != 200


def test_a_crash_after_the_debit_is_completed_by_reconcile(
    pg_app: Flask, pg_wired: Container, monkeypatch: pytest.MonkeyPatch
) -> None:
    app, container = pg_app, pg_wired
    li = sign_in(app.test_client(), "李娜")

    def crash(*_args: Any, **_kwargs: Any) -> Any:
        raise RuntimeError("process died after the registry debit")

    monkeypatch.setattr(completing, "complete_payment", crash)
    status, _answer = _post(app, li, body(li.client, "personal_account"), uuid.uuid4().hex)
    assert status == 500
    assert _debits(container, "330106199007220243") == 1
    with container.db.read() as session:
        pending = session.scalars(select(Order).where(
            Order.buyer_person_id == li.me["identity"]["person_id"])).one()
    assert pending.status == "pending_payment"
    monkeypatch.undo()

    report = reconcile(container)
    assert report.settled_orders == {pending.order_no: "issued"}
    assert report.ok, report.violations
    assert _debits(container, "330106199007220243") == 1
    assert _policies_of(container, li.me["identity"]["person_id"]) == 1
    assert reconcile(container).settled_orders == {}  # nothing left to do, nothing moves
    assert _debits(container, "330106199007220243") == 1


def test_both_parents_pay_for_their_child_at_once(pg_app: Flask, pg_wired: Container) -> None:
    """张伟 and 李娜 each try 30 times with different keys: one policy, one debit, and the
    loser is told 已参保 (or that an order is pending) and charged nothing."""
    app, container = pg_app, pg_wired
    parents = []
    for name in ("张伟", "李娜"):
        parent = sign_in(app.test_client(), name)
        added = parent.client.post("/api/v1/me/family", headers=parent.bearer, json={
            "name": "张小宇", "id_number": "330106201805090316", "relation": "child"})
        assert added.status_code in {201, 409}, added.get_json()
        parents.append(parent)
    with container.db.read() as session:
        child_id = session.scalars(select(Person.id).where(
            Person.id_number_is("330106201805090316"))).one()
    request = {**body(parents[0].client, "personal_account"),
               "insured": [{"person_id": child_id, "tier": "standard"}]}
    request.pop("tier")

    def attempt(index: int) -> tuple[int, Any]:
        parent = parents[index % 2]
        return _post(app, parent, request, f"child-{index}-{uuid.uuid4().hex}")

    results = race(60, attempt)
    statuses = Counter(status for status, _answer in results)
    assert statuses[201] == 1, statuses
    assert {answer["code"] for status, answer in results if status != 201} <= {
        "already_insured", "pending_order"}
    with container.db.read() as session:
        request_nos = session.scalars(
            select(Order.payment_request_no).join(OrderItem, OrderItem.order_id == Order.id)
            .where(OrderItem.insured_person_id == child_id)).all()
    debited = [no for no in request_nos
               if (outcome := container.registry.query(no)) is not None and outcome.succeeded]
    assert len(debited) == 1  # whichever parent won paid; the other was charged nothing
    assert _policies_of(container, child_id) == 1


def test_completions_racing_cancels_of_one_order_book_its_money_once(
    pg_app: Flask, pg_wired: Container,
) -> None:
    """The order is issued by one conditional UPDATE: ten completions (notifications, reads,
    reconcile) and ten cancels of one pending order at once leave it issued with one policy, or
    cancelled with its money held once for return, never both, and one payment in the ledger."""
    app, container = pg_app, pg_wired
    zhou = sign_in(app.test_client(), "周强")  # nobody else in this module enrolls him
    status, order = _post(app, zhou, body(zhou.client, "online"), uuid.uuid4().hex)
    assert status == 201, order
    gateway: Any = container.gateway
    gateway.confirm(order["pay_url"].rsplit("/", 1)[1])  # the money moved at the gateway
    order_no = order["order_no"]

    def attempt(index: int) -> str:
        if index % 2:
            completing.close_unpaid(container, order_no, OrderStatus.CANCELLED, "用户取消")
            return "cancel"
        completing.complete_payment(container, order_no, transaction_id=f"WX{order_no}")
        return "complete"

    assert Counter(race(20, attempt)) == {"cancel": 10, "complete": 10}
    with container.db.read() as session:
        final, closed_at = session.execute(select(Order.status, Order.closed_at).where(
            Order.order_no == order_no)).one()
        holds_place = session.scalar(select(OrderItem.holds_place).join(
            Order, Order.id == OrderItem.order_id).where(Order.order_no == order_no))
        payments = session.scalar(select(func.count()).select_from(LedgerTransaction).where(
            LedgerTransaction.order_no == order_no, LedgerTransaction.kind == "payment"))
        held_back = session.scalar(select(func.count()).select_from(Refund).join(
            Order, Order.id == Refund.order_id).where(Order.order_no == order_no,
                                                      Refund.policy_id.is_(None)))
    assert payments == 1
    person_id = zhou.me["identity"]["person_id"]
    if final == "issued":  # never cancelled first: still holds the person's place
        assert (_policies_of(container, person_id), held_back) == (1, 0)
        assert (closed_at, holds_place) == (None, True)
    else:
        assert final == "cancelled"
        assert (_policies_of(container, person_id), held_back) == (0, 1)
        assert closed_at is not None and holds_place is False
