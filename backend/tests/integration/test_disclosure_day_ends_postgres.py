"""A day end's stored figures on PostgreSQL are the record: a fresh count at that instant, made
after the next days' enrollments, cancellations and claim decisions, equals them (the count
compares only recording instants, and a claim's status then comes from its timeline)."""

from __future__ import annotations

import uuid
from datetime import date, timedelta

import pytest
from flask import Flask

from huiminbao.core.clock import MovableClock, to_china_time
from huiminbao.core.container import Container
from huiminbao.disclosure import snapshots
from huiminbao.disclosure.figures import Figures, count_figures
from tests.api.enrollment_helpers import enroll, sign_in
from tests.api.test_claims_support import decide, into_coverage, refresh, staff, submit

pytestmark = pytest.mark.postgres


def _day_end_matches_a_fresh_count(wired: Container, product_id: int, day: date) -> Figures:
    stored = snapshots.stored_day_end(wired, product_id, day)
    assert stored is not None
    assert stored == count_figures(wired, product_id, snapshots.day_end(day))
    return stored


def test_a_stored_day_end_equals_a_fresh_count_after_the_next_days_changes(
        pg_app: Flask, pg_wired: Container, clock: MovableClock) -> None:
    client = pg_app.test_client()
    product = pg_wired.products.get(
        int(client.get("/api/v1/products").get_json()["items"][0]["id"]))
    assert product is not None
    # A day of the window: two enrollments; its end is stored once settled.
    zhang = sign_in(pg_app.test_client(), "张伟")
    assert enroll(zhang, "personal_account").status_code == 201
    li = sign_in(pg_app.test_client(), "李娜")
    li_order = enroll(li, "personal_account").get_json()
    enrolled_on = to_china_time(clock.now()).date()
    clock.travel_to(snapshots.day_end(enrolled_on) + snapshots.DAY_END_SETTLE)
    assert list(snapshots.store_missing_day_ends(pg_wired, product, 1)) == [enrolled_on]
    # The next day: another enrollment and a cancellation.
    assert enroll(sign_in(pg_app.test_client(), "孙丽"), "subsidy").status_code == 201
    li = refresh(pg_wired, li)
    cancelled = client.post(f"/api/v1/policies/{li_order['policies'][0]['policy_no']}/cancel",
                            headers={**li.bearer, "Idempotency-Key": uuid.uuid4().hex})
    assert cancelled.status_code == 200, cancelled.get_json()
    first = _day_end_matches_a_fresh_count(pg_wired, product.id, enrolled_on)
    assert first.enrolled_total == 2 and first.premium_income_fen == 2 * 15000
    assert count_figures(pg_wired, product.id, clock.now()).enrolled_total == 2  # 张伟, 孙丽

    # In coverage: a claim received and approved on one day.
    (zhang,) = into_coverage(clock, pg_wired, zhang)
    reviewer = staff(client, pg_wired, "13900000071")
    claim = submit(zhang, {"in_policy_self_pay_fen": 2_000_999, "items": []}).get_json()
    assert decide(reviewer, claim["claim_no"], "approve").status_code == 200
    claims_day = to_china_time(clock.now()).date()
    # Forty days on, not paid: past its payment day. Those day ends are stored.
    late_day = claims_day + timedelta(days=40)
    clock.travel_to(snapshots.day_end(late_day) + timedelta(hours=2))
    stored_days = snapshots.store_missing_day_ends(pg_wired, product, None, claims_day, late_day)
    assert set(stored_days) == {claims_day + timedelta(days=n) for n in range(41)}
    # The next day it is paid, and another claim comes in and is approved.
    reviewer, zhang = refresh(pg_wired, reviewer), refresh(pg_wired, zhang)
    assert decide(reviewer, claim["claim_no"], "mark_paid").status_code == 200
    later = submit(zhang, {"in_policy_self_pay_fen": 3_000_000, "items": []}).get_json()
    assert decide(reviewer, later["claim_no"], "approve").status_code == 200
    clock.advance(timedelta(days=2))

    on_claims_day = _day_end_matches_a_fresh_count(pg_wired, product.id, claims_day)
    assert (on_claims_day.claims.accepted, on_claims_day.claims.paid) == (1, 0)
    assert on_claims_day.claims.median_days_to_decision is not None
    on_late_day = _day_end_matches_a_fresh_count(pg_wired, product.id, late_day)
    # Overdue at that day's end, though paid since: its status then, not today's.
    assert on_late_day.claims.overdue == 1
    assert (on_late_day.claims.accepted, on_late_day.claims.paid) == (1, 0)
    now = count_figures(pg_wired, product.id, clock.now())
    assert (now.claims.accepted, now.claims.paid, now.claims.overdue) == (2, 1, 0)
