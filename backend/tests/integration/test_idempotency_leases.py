"""Idempotency keys that cannot get stuck, on PostgreSQL.

A process killed mid-request leaves its key 'running' (the answer was never stored). Here the
kill is a ``ProcessKilled`` raised at a chosen step: like ``kill -9`` it passes every ``except
Exception``, so nothing after it runs — no stored answer, no cleanup. A retry must then be
answered from what the first attempt did, once its lease has ended; duplicates meanwhile get a
quick 409 with ``Retry-After``, never a worker thread held for long.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from types import ModuleType
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import func, select, text

from huiminbao.catalog.demo import ensure_demo_product
from huiminbao.core import idempotency
from huiminbao.core.clock import MovableClock
from huiminbao.core.config import Settings
from huiminbao.core.container import Container
from huiminbao.core.idempotency import IdempotencyRecord
from huiminbao.enrollment import completing, order_reading, ordering, quoting, resolving
from huiminbao.enrollment.models import Order, Policy
from huiminbao.registry.generator import generate_population
from huiminbao_bench.pool import sign_in_pool
from tests.api.enrollment_helpers import PEOPLE, body, sign_in
from tests.api.helpers import Session
from tests.races import race

pytestmark = pytest.mark.postgres

LEASE = timedelta(seconds=Settings().idempotency_lease_seconds)
AFTER_THE_LEASE = LEASE + timedelta(seconds=1)


class ProcessKilled(BaseException):
    """The worker process died here (``kill -9``): no handler of the application runs."""


def _post(app: Flask, session: Session, json: dict[str, Any],
          key: str) -> tuple[int, Any, dict[str, str]]:
    response = app.test_client().post("/api/v1/enrollments", json=json,
                                      headers={**session.bearer, "Idempotency-Key": key})
    return response.status_code, response.get_json(), dict(response.headers)


# Where each step of an enrollment lives: patched there, as its callers reach it through its module.
STEPS: dict[str, ModuleType] = {
    "quote": quoting, "enroll": ordering, "create_order": ordering,
    "debit_personal_account": ordering, "complete_payment": completing,
    "load_order": order_reading, "resolve_pending": resolving,
}


def _killed_at(monkeypatch: pytest.MonkeyPatch, step: str, app: Flask, session: Session,
               json: dict[str, Any], key: str) -> None:
    """Post, and kill the process when the enrollment reaches ``step``."""

    def die(*_args: Any, **_kwargs: Any) -> Any:
        raise ProcessKilled(step)

    with monkeypatch.context() as patch:
        patch.setattr(STEPS[step], step, die)
        with pytest.raises(ProcessKilled):
            _post(app, session, json, key)


def _record(container: Container, session: Session, key: str) -> IdempotencyRecord:
    with container.db.read() as db:
        return db.scalars(select(IdempotencyRecord).where(
            IdempotencyRecord.owner == f"account:{session.me['account_id']}",
            IdempotencyRecord.key == key)).one()


def _orders_of(container: Container, session: Session) -> list[Order]:
    with container.db.read() as db:
        return list(db.scalars(select(Order).where(
            Order.buyer_person_id == session.me["identity"]["person_id"])).all())


def _debits(container: Container, name: str) -> int:
    return sum(1 for entry in container.registry.entries(PEOPLE[name][1])
               if entry.kind == "debit")


def _policies_of(container: Container, session: Session) -> int:
    with container.db.read() as db:
        return int(db.scalar(select(func.count()).select_from(Policy).where(
            Policy.insured_person_id == session.me["identity"]["person_id"],
            Policy.status == "active")) or 0)


def _counting(monkeypatch: pytest.MonkeyPatch, name: str) -> Counter[str]:
    """Count the calls of ``name`` (which still does its work)."""
    calls: Counter[str] = Counter()
    original: Callable[..., Any] = getattr(STEPS[name], name)

    def counted(*args: Any, **kwargs: Any) -> Any:
        calls[name] += 1
        return original(*args, **kwargs)

    monkeypatch.setattr(STEPS[name], name, counted)
    return calls


def test_a_key_killed_after_the_debit_is_answered_from_its_issued_order(
    pg_app: Flask, pg_wired: Container, clock: MovableClock, monkeypatch: pytest.MonkeyPatch,
) -> None:
    app, container = pg_app, pg_wired
    zhang = sign_in(app.test_client(), "张伟")
    request, key = body(zhang.client, "personal_account"), f"killed-{uuid.uuid4().hex}"
    _killed_at(monkeypatch, "complete_payment", app, zhang, request, key)
    (order,) = _orders_of(container, zhang)
    assert order.status == "pending_payment"
    assert _debits(container, "张伟") == 1
    record = _record(container, zhang, key)
    assert (record.state, record.resource) == ("running", f"order:{order.order_no}")

    clock.advance(AFTER_THE_LEASE)
    # Answered at once: no poll for a first attempt whose lease ran out (counted, not timed).
    polls: list[float] = []
    with monkeypatch.context() as patched:
        patched.setattr(idempotency.time, "sleep", polls.append)
        status, answer, headers = _post(app, zhang, request, key)
    assert polls == []
    assert status == 201, answer
    assert (answer["order_no"], answer["status"]) == (order.order_no, "issued")
    assert headers["Idempotency-Replayed"] == "true"
    assert _record(container, zhang, key).state == "done"

    again = _post(app, zhang, request, key)
    assert again[:2] == (201, answer)
    assert _debits(container, "张伟") == 1
    assert _policies_of(container, zhang) == 1
    balance = container.registry.balance(PEOPLE["张伟"][1])
    assert balance is not None and balance.prior_years_fen == 200000 - 15000


def test_a_key_killed_before_the_debit_releases_its_order(
    pg_app: Flask, pg_wired: Container, clock: MovableClock, monkeypatch: pytest.MonkeyPatch,
) -> None:
    app, container = pg_app, pg_wired
    li = sign_in(app.test_client(), "李娜")
    request, key = body(li.client, "personal_account"), f"killed-{uuid.uuid4().hex}"
    _killed_at(monkeypatch, "debit_personal_account", app, li, request, key)
    (order,) = _orders_of(container, li)
    assert _debits(container, "李娜") == 0

    clock.advance(AFTER_THE_LEASE)
    status, answer, _headers = _post(app, li, request, key)
    assert status == 201, answer
    assert (answer["order_no"], answer["status"]) == (order.order_no, "cancelled")
    assert _debits(container, "李娜") == 0
    # Released: the person may enroll again at once, with a new key.
    status, fresh, _headers = _post(app, li, request, f"fresh-{uuid.uuid4().hex}")
    assert (status, fresh["status"]) == (201, "issued"), fresh
    assert _debits(container, "李娜") == 1


def test_a_key_killed_before_its_order_existed_runs_the_request(
    pg_app: Flask, pg_wired: Container, clock: MovableClock, monkeypatch: pytest.MonkeyPatch,
) -> None:
    app, container = pg_app, pg_wired
    lin = sign_in(app.test_client(), "林𫖮")
    request, key = body(lin.client, "personal_account"), f"killed-{uuid.uuid4().hex}"
    _killed_at(monkeypatch, "create_order", app, lin, request, key)
    assert _orders_of(container, lin) == []
    assert _record(container, lin, key).resource is None

    clock.advance(AFTER_THE_LEASE)
    status, answer, headers = _post(app, lin, request, key)
    assert (status, answer["status"]) == (201, "issued"), answer
    assert headers["Idempotency-Replayed"] == "false"
    assert _debits(container, "林𫖮") == 1
    assert _policies_of(container, lin) == 1


def test_a_failure_after_the_order_existed_keeps_the_key_resumable(
    pg_app: Flask, pg_wired: Container, clock: MovableClock, monkeypatch: pytest.MonkeyPatch,
) -> None:
    """An unexpected error once the order exists: the key is not forgotten (a retry would enroll
    a second time), its lease ends at once, and the next retry completes that order."""
    app, container = pg_app, pg_wired
    father = sign_in(app.test_client(), "张建国")
    request, key = body(father.client, "personal_account"), f"failed-{uuid.uuid4().hex}"

    def fail(*_args: Any, **_kwargs: Any) -> Any:
        raise RuntimeError("the database went away after the debit")

    with monkeypatch.context() as patch:
        patch.setattr(completing, "complete_payment", fail)
        status, _answer, _headers = _post(app, father, request, key)
    assert status == 500
    (order,) = _orders_of(container, father)
    record = _record(container, father, key)
    assert (record.state, record.resource) == ("running", f"order:{order.order_no}")
    assert record.lease_expires_at is not None
    assert record.lease_expires_at <= container.clock.now()

    status, answer, _headers = _post(app, father, request, key)  # no waiting for a lease
    assert status == 201, answer
    assert (answer["order_no"], answer["status"]) == (order.order_no, "issued")
    assert _debits(container, "张建国") == 1
    assert _policies_of(container, father) == 1


def test_duplicates_of_a_live_key_get_409_quickly_and_after_its_lease_one_runs(
    pg_app: Flask, pg_wired: Container, clock: MovableClock, monkeypatch: pytest.MonkeyPatch,
) -> None:
    app, container = pg_app, pg_wired
    zhou = sign_in(app.test_client(), "周强")
    request, key = body(zhou.client, "online"), f"killed-{uuid.uuid4().hex}"
    _killed_at(monkeypatch, "create_order", app, zhou, request, key)

    # A duplicate of a young key waits a moment for the first answer, then gets 409. The clock
    # goes back to the claim: however long the box took to reach the kill, the key is young.
    lease_ends = _record(container, zhou, key).lease_expires_at
    assert lease_ends is not None
    clock.travel_to(lease_ends - LEASE)
    started = time.monotonic()
    status, answer, headers = _post(app, zhou, request, key)
    waited = time.monotonic() - started
    assert (status, answer["code"]) == (409, "idempotency_in_progress"), answer
    assert 1.0 <= waited < 2.5, waited
    assert 1 <= int(headers["Retry-After"]) <= LEASE.total_seconds()
    assert answer["message"] and answer["request_id"]

    # The first attempt is seconds old (dead, or stuck): its duplicates get 409 at once, and
    # twelve of them on eight worker threads leave the health check fast.
    clock.advance(timedelta(seconds=5))

    def retry() -> tuple[int, Any, dict[str, str], float]:
        began = time.monotonic()
        return (*_post(app, zhou, request, key), time.monotonic() - began)

    def health(submitted: float) -> tuple[int, float]:
        status = app.test_client().get("/api/v1/health").status_code
        return status, time.monotonic() - submitted

    with ThreadPoolExecutor(max_workers=8) as workers:  # gunicorn's 2 workers × 4 threads
        retries = [workers.submit(retry) for _ in range(12)]
        checked = workers.submit(health, time.monotonic())
        results = [future.result(timeout=60) for future in retries]
        health_status, health_took = checked.result(timeout=60)
    for status, answer, headers, took in results:
        assert (status, answer["code"]) == (409, "idempotency_in_progress"), answer
        assert 1 <= int(headers["Retry-After"]) <= LEASE.total_seconds() - 4
        assert took < 1.0, took
    assert health_status == 200
    assert health_took < 1.0, health_took

    # After the lease: of twenty retries at once, exactly one runs the enrollment.
    clock.advance(LEASE)
    enrolls = _counting(monkeypatch, "enroll")
    answers = race(20, lambda _i: _post(app, zhou, request, key))
    assert enrolls["enroll"] == 1
    created = [answer for status, answer, _headers in answers if status == 201]
    assert created and all(answer == created[0] for answer in created)
    assert all(answer["code"] == "idempotency_in_progress"
               for status, answer, _headers in answers if status != 201)
    assert len(_orders_of(container, zhou)) == 1
    assert _post(app, zhou, request, key)[:2] == (201, created[0])


def test_many_retries_after_the_lease_resume_the_order_once(
    pg_app: Flask, pg_wired: Container, clock: MovableClock, monkeypatch: pytest.MonkeyPatch,
) -> None:
    """An online order created (its payment opened at the gateway), the process killed before
    answering: after the lease, twenty retries at once settle it once and all answer with it."""
    app, container = pg_app, pg_wired
    liu = sign_in(app.test_client(), "刘䶮")
    request, key = body(liu.client, "online"), f"killed-{uuid.uuid4().hex}"
    _killed_at(monkeypatch, "load_order", app, liu, request, key)
    (order,) = _orders_of(container, liu)
    assert order.pay_url

    clock.advance(AFTER_THE_LEASE)
    resolves, enrolls = _counting(monkeypatch, "resolve_pending"), _counting(monkeypatch, "enroll")
    answers = race(20, lambda _i: _post(app, liu, request, key))
    assert resolves["resolve_pending"] == 1
    assert enrolls["enroll"] == 0
    created = [answer for status, answer, _headers in answers if status == 201]
    assert created and all(answer == created[0] for answer in created)
    assert (created[0]["order_no"], created[0]["status"]) == (order.order_no, "pending_payment")
    assert created[0]["pay_url"] == order.pay_url
    assert all(answer["code"] == "idempotency_in_progress"
               for status, answer, _headers in answers if status != 201)
    assert len(_orders_of(container, liu)) == 1


def test_an_issued_enrollment_is_answered_in_its_own_transaction_whatever_happens_after(
    pg_app: Flask, pg_wired: Container, clock: MovableClock, monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The database connection is terminated after the policy was issued, before the request
    ends: the client still gets its answer, and the key was answered in the transaction that
    issued the order (no answer left to store), so a retry is answered from the order at once,
    the same, without waiting for a lease. (An answer that is stored afterwards, an online
    order's pay page, is resumed after the lease: the tests above.)"""
    app, container = pg_app, pg_wired
    sun = sign_in(app.test_client(), "孙丽")
    request, key = body(sun.client, "subsidy"), f"lost-{uuid.uuid4().hex}"
    complete = completing.complete_payment

    def complete_then_lose_the_connection(*args: Any, **kwargs: Any) -> Any:
        order = complete(*args, **kwargs)
        with container.db.read() as db:  # the request's own connection
            pid = db.scalar(text("SELECT pg_backend_pid()"))
        with container.db.engine.connect() as admin:
            admin.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
            admin.commit()
        return order

    with monkeypatch.context() as patch:
        patch.setattr(completing, "complete_payment", complete_then_lose_the_connection)
        status, answer, _headers = _post(app, sun, request, key)
    assert (status, answer["status"]) == (201, "issued"), answer
    record = _record(container, sun, key)
    assert (record.state, record.resource) == ("done", f"order:{answer['order_no']}")
    assert (record.response_status, record.response_body) == (None, None)

    enrolls = _counting(monkeypatch, "enroll")
    again = _post(app, sun, request, key)
    assert again[:2] == (201, answer)
    assert again[2]["Idempotency-Replayed"] == "true"
    assert enrolls["enroll"] == 0
    assert _policies_of(container, sun) == 1


def test_an_online_order_killed_before_the_gateway_heard_of_it_gets_its_pay_page_on_retry(
    pg_app: Flask, pg_wired: Container, clock: MovableClock, monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Written, then the process died before the gateway was asked: the payer retries because
    they want to pay, so the retry after the lease opens the payment (same number) and answers
    with its page — one order, one payment at the gateway."""
    app, container = pg_app, pg_wired
    zhao = _fresh_resident(app, container)
    request, key = body(zhao.client, "online"), f"killed-{uuid.uuid4().hex}"

    def die(*_args: Any, **_kwargs: Any) -> Any:
        raise ProcessKilled("create_payment")

    with monkeypatch.context() as patch:
        patch.setattr(container.gateway, "create_payment", die)
        with pytest.raises(ProcessKilled):
            _post(app, zhao, request, key)
    (order,) = _orders_of(container, zhao)
    assert order.pay_url is None
    assert container.gateway.query(order.payment_request_no) is None

    clock.advance(AFTER_THE_LEASE)
    status, answer, _headers = _post(app, zhao, request, key)
    assert status == 201, answer
    assert (answer["order_no"], answer["status"]) == (order.order_no, "pending_payment")
    assert answer["pay_url"]
    opened = container.gateway.query(order.payment_request_no)
    assert opened is not None and opened.amount_fen == order.payable_fen
    assert _post(app, zhao, request, key)[:2] == (201, answer)
    assert len(_orders_of(container, zhao)) == 1


def _fresh_resident(app: Flask, container: Container) -> Session:
    """A signed-in person of a freshly generated population (the demo city's are all taken)."""
    product = ensure_demo_product(container.db, container.clock)
    generate_population(container.db, container.clock, 60, seed=uuid.uuid4().int % 10**6)
    member = sign_in_pool(container, product.id, 1)[0]
    return Session(app.test_client(), member.token, "", {
        "account_id": member.account_id, "identity": {"person_id": member.person_id}})


def test_a_slow_first_attempt_taken_over_cannot_undo_or_double_its_successor(
    pg_app: Flask, pg_wired: Container, clock: MovableClock, monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The first attempt is alive but slower than its lease; a retry takes the key over. When
    the first attempt moves on, it may not write an order (its link is refused and rolls the
    order back), nor store its answer over the retry's, which then enrolls once."""
    app, container = pg_app, pg_wired
    resident = _fresh_resident(app, container)
    request, key = body(resident.client, "personal_account"), f"slow-{uuid.uuid4().hex}"
    inside = [threading.Event(), threading.Event()]
    release = [threading.Event(), threading.Event()]
    real_quote, calls = quoting.quote, Counter[str]()

    def held_quote(*args: Any, **kwargs: Any) -> Any:
        attempt = calls["quote"]
        calls["quote"] += 1
        inside[attempt].set()
        release[attempt].wait(30)
        return real_quote(*args, **kwargs)

    monkeypatch.setattr(quoting, "quote", held_quote)
    answers: dict[str, Any] = {}

    def post_as(name: str) -> threading.Thread:
        thread = threading.Thread(target=lambda: answers.update(
            {name: _post(app, resident, request, key)}))
        thread.start()
        return thread

    slow = post_as("slow")
    assert inside[0].wait(30)
    clock.advance(AFTER_THE_LEASE)
    retry = post_as("retry")
    assert inside[1].wait(30)  # the retry took the key over and is running the request
    release[0].set()
    slow.join(30)
    slow_status, slow_answer, _headers = answers["slow"]
    assert (slow_status, slow_answer["code"]) == (409, "idempotency_taken_over"), slow_answer
    assert _orders_of(container, resident) == []  # its order was rolled back with the link
    release[1].set()
    retry.join(30)
    status, retried, _headers = answers["retry"]
    assert status == 201 and retried["status"] == "issued", retried
    assert _post(app, resident, request, key)[:2] == (201, retried)  # the retry's answer stands
    (order,) = _orders_of(container, resident)
    outcome = container.registry.query(order.payment_request_no)
    assert outcome is not None and outcome.succeeded
