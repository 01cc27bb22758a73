"""GET /api/v1/admin/reconcile-runs: the runs of ``huiminbao reconcile`` as the console shows
them — newest first, with their figures and violations — for administrators and insurer staff
only."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from flask import Flask
from flask.testing import FlaskClient

from huiminbao.core.clock import MovableClock
from huiminbao.core.container import Container
from huiminbao.enrollment import reconcile
from huiminbao.enrollment.models import ReconcileRun
from huiminbao.identity.domain import Role

from .enrollment_helpers import PEOPLE
from .helpers import Session, login
from .test_console_support import COUNTER_PHONE, INSURER_PHONE, admin, staff_session

URL = "/api/v1/admin/reconcile-runs"
KEPT_DEBIT = "订单 E20261122000001 已关闭，但个人账户扣款 15000 分既未出单也未退回"


def runs(session: Session, query: str = ""):  # type: ignore[no-untyped-def]
    return session.client.get(URL + query, headers=session.bearer)


def record_failed_run(wired: Container, clock: MovableClock) -> None:
    """A run that found something wrong (distinct counts, so a swapped field shows)."""
    started = clock.now()
    with wired.db.transaction() as session:
        session.add(ReconcileRun(
            started_at=started, finished_at=started + timedelta(seconds=3), ok=False,
            settled_orders=2, settled_refunds=1, healed=3,
            violations=[KEPT_DEBIT, "账户 stray_payments 余额与待退款项不符"]))


def test_the_runs_come_newest_first_with_their_figures(
    client: FlaskClient, wired: Container, clock: MovableClock
) -> None:
    administrator = admin(client, wired)
    before = runs(administrator)
    assert before.status_code == 200, before.get_json()
    assert before.get_json() == {"items": [], "latest_ok": None}

    first = reconcile.reconcile(wired)
    clock.advance(timedelta(minutes=5))
    record_failed_run(wired, clock)
    clock.advance(timedelta(minutes=5))
    last = reconcile.reconcile(wired)
    assert first.ok and last.ok, (first.violations, last.violations)

    response = runs(administrator)
    assert response.status_code == 200, response.get_json()
    answer = response.get_json()
    assert answer["latest_ok"] is True
    assert [run["ok"] for run in answer["items"]] == [True, False, True]
    newest, failed, oldest = answer["items"]
    started = [datetime.fromisoformat(run["started_at"]) for run in answer["items"]]
    assert started == sorted(started, reverse=True)
    assert all(when.utcoffset() is not None for when in started)  # ISO 8601 with an offset
    assert newest["started_at"].endswith("+00:00")
    assert datetime.fromisoformat(newest["finished_at"]) >= started[0]
    assert (failed["settled_orders"], failed["settled_refunds"], failed["healed"]) == (2, 1, 3)
    assert failed["violations"] == [KEPT_DEBIT, "账户 stray_payments 余额与待退款项不符"]
    assert datetime.fromisoformat(failed["finished_at"]) - started[1] == timedelta(seconds=3)
    for clean in (newest, oldest):
        assert clean["violations"] == []
        assert (clean["settled_orders"], clean["settled_refunds"], clean["healed"]) == (0, 0, 0)

    only_newest = runs(administrator, "?limit=1").get_json()
    assert only_newest == {"items": [newest], "latest_ok": True}


def test_twenty_runs_by_default_and_the_latest_result_is_the_newest_run(
    client: FlaskClient, wired: Container, clock: MovableClock
) -> None:
    for _ in range(21):
        reconcile.reconcile(wired)
        clock.advance(timedelta(minutes=5))
    record_failed_run(wired, clock)
    insurer = staff_session(client, wired, Role.INSURER_STAFF, INSURER_PHONE, "保险公司核对员")

    answer = runs(insurer).get_json()
    assert len(answer["items"]) == 20
    assert answer["latest_ok"] is False
    assert answer["items"][0]["violations"][0] == KEPT_DEBIT
    assert len(runs(insurer, "?limit=100").get_json()["items"]) == 22


@pytest.mark.parametrize("limit", ["0", "101", "-1"])
def test_a_limit_outside_1_to_100_is_refused_in_chinese(
    client: FlaskClient, wired: Container, limit: str
) -> None:
    response = runs(admin(client, wired), f"?limit={limit}")
    assert response.status_code == 422
    body = response.get_json()
    assert body["code"] == "invalid_input"
    assert body["errors"] == {"limit": ["条数应为1至100之间的整数"]}


def test_a_limit_that_is_not_a_number_is_refused_in_chinese(
    client: FlaskClient, wired: Container
) -> None:
    response = runs(admin(client, wired), "?limit=all")
    assert response.status_code == 422
    assert response.get_json()["errors"] == {"limit": ["应为整数"]}


def test_residents_and_counter_staff_are_refused(app: Flask, wired: Container) -> None:
    reconcile.reconcile(wired)
    resident = login(app.test_client(), PEOPLE["张伟"][0])
    counter = staff_session(app.test_client(), wired, Role.COUNTER_STAFF, COUNTER_PHONE,
                            "窗口王小二")
    for session in (resident, counter):
        response = runs(session)
        assert response.status_code == 403, session.me["role"]
        assert response.get_json()["code"] == "forbidden"
        assert response.get_json()["message"] == "无权进行此操作"
        assert "items" not in response.get_json()


def test_anonymous_callers_are_asked_to_log_in(app: Flask, wired: Container) -> None:
    reconcile.reconcile(wired)
    response = app.test_client().get(URL)
    assert response.status_code == 401
    assert response.get_json()["code"] == "unauthenticated"
    assert response.get_json()["message"] == "请先登录"
