"""The disclosure count on PostgreSQL: one REPEATABLE READ snapshot for all its queries, and the
registry's scheme counts with one array parameter (the paths SQLite does not take)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from flask import Flask
from sqlalchemy import text

from huiminbao.core.clock import MovableClock
from huiminbao.core.container import Container
from huiminbao.disclosure import snapshots
from huiminbao.disclosure.figures import consistent_read, count_figures
from huiminbao.registry.port import Scheme
from tests.api.enrollment_helpers import PEOPLE, enroll, sign_in

pytestmark = pytest.mark.postgres


def test_figures_on_postgresql(pg_app: Flask, pg_wired: Container, clock: MovableClock) -> None:
    client = pg_app.test_client()
    product_id = int(client.get("/api/v1/products").get_json()["items"][0]["id"])
    before_anyone = clock.now()
    for name, method in (("张伟", "personal_account"), ("孙丽", "subsidy")):
        response = enroll(sign_in(pg_app.test_client(), name), method)
        assert response.status_code == 201, response.get_json()

    figures = client.get(f"/api/v1/disclosure/{product_id}").get_json()
    assert figures["live"] is True
    assert figures["enrolled"]["total"] == 2
    assert {b["key"]: b["count"] for b in figures["enrolled"]["by_scheme"]} == {
        "employee": 1, "resident": 1}
    assert {b["key"]: b["count"] for b in figures["enrolled"]["by_channel"]} == {
        "personal_account": 1, "online": 0, "subsidy": 1, "employer": 0, "counter": 0}
    assert figures["premium_income_fen"] == 2 * 15000
    stored = snapshots.stored_figures(pg_wired, product_id)
    assert stored is not None and stored[0].enrolled_total == 2

    earlier = count_figures(pg_wired, product_id, before_anyone - timedelta(seconds=1))
    assert earlier.enrolled_total == 0 and earlier.premium_income_fen == 0
    assert earlier.by_scheme == {}


def test_one_snapshot_for_every_query_of_a_count(pg_wired: Container) -> None:
    with consistent_read(pg_wired.db) as session:
        settings = session.execute(text(
            "SELECT current_setting('transaction_isolation'), "
            "current_setting('transaction_read_only')")).one()
    assert tuple(settings) == ("repeatable read", "on")


def test_registry_scheme_counts_on_postgresql(pg_app: Flask, pg_wired: Container) -> None:
    employee, resident = PEOPLE["张伟"][1], PEOPLE["孙丽"][1]
    counts = pg_wired.registry.scheme_counts(
        [employee, resident, resident, "33010219430618052x", "110101190001010000"])
    assert counts == {Scheme.EMPLOYEE: 1, Scheme.RESIDENT: 2}
    assert pg_wired.registry.scheme_counts([]) == {}
