"""Claims under concurrency, on PostgreSQL: one settlement repeated at once creates one claim;
many settlements and approvals for one policy year consume its deductibles exactly once."""

from __future__ import annotations

import json
import uuid
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import func, select

from huiminbao.claims.models import Claim, ClaimPayoutLine
from huiminbao.claims.services import check_books
from huiminbao.core.container import Container
from huiminbao.payments.ledger import LedgerTransaction
from tests.api.enrollment_helpers import enroll, sign_in
from tests.api.helpers import Session
from tests.api.test_claims_support import (
    IN_COVERAGE,
    WORKED_EXAMPLE,
    hospital,
    person_id,
    refresh,
    settlement_body,
    signed_headers,
    staff,
    submit,
)
from tests.conftest import TEST_NOW
from tests.races import race

pytestmark = pytest.mark.postgres


def _enrolled_in_coverage(app: Flask, container: Container, name: str) -> Session:
    container.clock.travel_to(TEST_NOW)  # type: ignore[attr-defined]
    session = sign_in(app.test_client(), name)
    assert enroll(session, "personal_account").status_code == 201
    container.clock.travel_to(IN_COVERAGE)  # type: ignore[attr-defined]
    return refresh(container, session)


def _claims_of(container: Container, person: int) -> list[Claim]:
    with container.db.read() as session:
        return list(session.scalars(select(Claim).where(Claim.insured_person_id == person)))


def test_one_settlement_sent_twenty_times_at_once_creates_one_claim(
    pg_app: Flask, pg_wired: Container,
) -> None:
    app, container = pg_app, pg_wired
    zhang = _enrolled_in_coverage(app, container, "张伟")
    issued = hospital(container)
    raw = json.dumps(settlement_body("张伟", WORKED_EXAMPLE, number="JS-RACE-0001")).encode()
    headers = signed_headers(issued, raw, wired=container)

    def send(_index: int) -> tuple[int, Any]:
        response = app.test_client().post("/api/v1/settlements", data=raw, headers=headers,
                                          content_type="application/json")
        return response.status_code, response.get_json()

    results = race(20, send)
    assert {status for status, _body in results} == {201}, results
    first = results[0][1]
    assert all(body == first for _status, body in results)
    assert first["payout_fen"] == 1_150_000
    claims = _claims_of(container, person_id(zhang))
    assert [claim.claim_no for claim in claims] == [first["claim_no"]]
    with container.db.read() as session:
        booked = session.scalar(select(func.count()).select_from(LedgerTransaction).where(
            LedgerTransaction.kind == "claim", LedgerTransaction.order_no == first["claim_no"]))
    assert booked == 1
    assert check_books(container) == []


def test_twenty_different_settlements_at_once_use_each_deductible_once(
    pg_app: Flask, pg_wired: Container,
) -> None:
    app, container = pg_app, pg_wired
    lin = _enrolled_in_coverage(app, container, "林𫖮")
    issued = hospital(container, "浙江省人民医院")

    def send(index: int) -> int:
        raw = json.dumps(settlement_body("林𫖮", WORKED_EXAMPLE,
                                         number=f"JS-MANY-{index:04d}")).encode()
        return app.test_client().post(
            "/api/v1/settlements", data=raw, content_type="application/json",
            headers=signed_headers(issued, raw, wired=container)).status_code

    assert set(race(20, send)) == {201}
    claims = _claims_of(container, person_id(lin))
    assert len(claims) == 20
    # In whatever order they were settled: 11,500, then 26,500, then 33,500 eighteen times.
    assert sorted(claim.payout_fen or 0 for claim in claims) == [
        1_150_000, 2_650_000, *[3_350_000] * 18]
    with container.db.read() as session:
        used = dict(session.execute(
            select(ClaimPayoutLine.category, func.sum(ClaimPayoutLine.deductible_used_fen))
            .join(Claim, Claim.id == ClaimPayoutLine.claim_id)
            .where(Claim.insured_person_id == person_id(lin))
            .group_by(ClaimPayoutLine.category)).all())
    assert used == {"compliant": 2_000_000, "reasonable": 2_000_000, "special_drug": 0}
    assert check_books(container) == []


def test_two_approvals_at_once_cannot_both_use_the_deductible(
    pg_app: Flask, pg_wired: Container,
) -> None:
    app, container = pg_app, pg_wired
    li = _enrolled_in_coverage(app, container, "李娜")
    reviewer = staff(app.test_client(), container, "13900000009")
    figures = {"in_policy_self_pay_fen": 3_000_000, "items": []}
    numbers = [submit(li, figures).get_json()["claim_no"] for _ in range(2)]

    def approve(index: int) -> tuple[int, Any]:
        response = app.test_client().post(
            f"/api/v1/admin/claims/{numbers[index]}/decision", json={"decision": "approve"},
            headers={**reviewer.bearer, "Idempotency-Key": uuid.uuid4().hex})
        return response.status_code, response.get_json()

    results = race(2, approve)
    assert [status for status, _body in results] == [200, 200], results
    # One of them gets (30,000 − 20,000) × 75 %, the other the full 30,000 × 75 %.
    assert sorted(body["payout_fen"] for _status, body in results) == [750_000, 2_250_000]
