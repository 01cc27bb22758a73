"""The payout run under concurrency, on PostgreSQL: runs started at once pay each approved
claim exactly once (one transfer per claim at the payout service, one ledger booking)."""

from __future__ import annotations

from typing import Any

import pytest
from flask import Flask
from sqlalchemy import func, select

from huiminbao.claims.models import ClaimPayout, SimulatedTransfer
from huiminbao.claims.payouts import RunReport, SimulatedPayouts, run_payouts
from huiminbao.claims.services import check_books
from huiminbao.core.container import Container
from huiminbao.payments.ledger import LedgerTransaction
from tests.api.enrollment_helpers import enroll, sign_in
from tests.api.test_claims_payouts import OUTPATIENT, new_card
from tests.api.test_claims_support import IN_COVERAGE, decide, refresh, staff, submit
from tests.conftest import TEST_NOW
from tests.races import race

pytestmark = pytest.mark.postgres

CLAIMS = 6
RUNS = 4


def test_payout_runs_started_at_once_pay_each_claim_once(
    pg_app: Flask, pg_wired: Container,
) -> None:
    app, container = pg_app, pg_wired
    container.clock.travel_to(TEST_NOW)  # type: ignore[attr-defined]
    lina = sign_in(app.test_client(), "李娜")
    assert enroll(lina, "personal_account").status_code == 201
    container.clock.travel_to(IN_COVERAGE)  # type: ignore[attr-defined]
    lina = refresh(container, lina)
    reviewer = staff(app.test_client(), container, "13900000077")
    card = new_card()
    numbers = []
    for _ in range(CLAIMS):
        submitted = submit(lina, OUTPATIENT, payee={"card_no": card})
        assert submitted.status_code == 201, submitted.get_json()
        number = submitted.get_json()["claim_no"]
        assert decide(reviewer, number, "approve").status_code == 200
        numbers.append(number)

    def pay(_index: int) -> RunReport:
        return run_payouts(container)

    reports: list[Any] = race(RUNS, pay)
    paid = [number for report in reports for number in report.paid]
    assert sorted(paid) == sorted(numbers), reports
    assert all(not report.failed and not report.pending for report in reports)
    assert run_payouts(container).total == 0
    payouts = container.payouts
    assert isinstance(payouts, SimulatedPayouts)
    with container.db.read() as session:
        transfers = session.scalar(select(func.count()).select_from(SimulatedTransfer))
        rows = session.scalars(select(ClaimPayout)).all()
        booked = session.scalar(select(func.count()).select_from(LedgerTransaction).where(
            LedgerTransaction.kind == "claim", LedgerTransaction.order_no.in_(numbers)))
    assert transfers == CLAIMS and booked == CLAIMS
    # Each request number was sent once: no run sent what another had taken.
    sent = [call for call in payouts.calls if call.startswith("transfer:")]
    assert len(sent) == len(set(sent)) == CLAIMS
    assert {(row.status, row.attempts) for row in rows} == {("paid", 1)}
    total = sum(row.amount_fen for row in rows)
    assert payouts.paid_fen(card) == total
    assert check_books(container) == []
