"""On PostgreSQL: a hospital's statement for a period equals the one-stop payouts booked to it,
in the ledger and in the CSV; clearings started at once clear it once."""

from __future__ import annotations

import csv
import io
from datetime import timedelta

import pytest
from flask import Flask
from sqlalchemy import func, select

from huiminbao.audit.services import AuditActor
from huiminbao.claims import statements
from huiminbao.claims.models import Claim, SettlementStatement
from huiminbao.claims.services import check_books
from huiminbao.core.container import Container
from huiminbao.core.errors import RuleViolation
from huiminbao.payments import ledger
from tests.api.enrollment_helpers import enroll, sign_in
from tests.api.test_claims_support import (
    IN_COVERAGE,
    SECOND_CLAIM,
    WORKED_EXAMPLE,
    client_pk,
    drug_body,
    hospital,
    pharmacy,
    settle,
    settle_drug,
    settlement_body,
    staff,
)
from tests.conftest import TEST_NOW
from tests.races import race

pytestmark = pytest.mark.postgres

CLEARINGS = 4


def test_a_hospitals_statement_equals_its_booked_payouts_and_clears_once(
    pg_app: Flask, pg_wired: Container,
) -> None:
    app, container = pg_app, pg_wired
    container.clock.travel_to(TEST_NOW)  # type: ignore[attr-defined]
    client = app.test_client()
    for name in ("张伟", "李娜"):
        assert enroll(sign_in(client, name), "personal_account").status_code == 201
    container.clock.travel_to(IN_COVERAGE)  # type: ignore[attr-defined]
    first, second, store = (hospital(container), hospital(container, "杭州市第一人民医院"),
                            pharmacy(container))
    payouts = []
    for name, figures in (("张伟", WORKED_EXAMPLE), ("李娜", WORKED_EXAMPLE),
                          ("张伟", SECOND_CLAIM)):
        answer = settle(client, container, first, settlement_body(name, figures))
        assert answer.status_code == 201, answer.get_json()
        payouts.append(answer.get_json()["payout_fen"])
    assert settle(client, container, second, settlement_body("李娜", SECOND_CLAIM)
                  ).status_code == 201
    drug = settle_drug(client, container, store, drug_body("张伟"))
    assert drug.status_code == 201, drug.get_json()
    # A settlement after the period: in the payable, not in the statement.
    container.clock.travel_to(IN_COVERAGE + timedelta(days=12))  # type: ignore[attr-defined]
    late = settle(client, container, first, settlement_body("李娜", SECOND_CLAIM, stay={
        "admitted_on": "2027-03-25", "discharged_on": "2027-03-28"}))
    assert late.status_code == 201

    owed = client_pk(container, first)
    march = statements.statement(container, first.client_id, IN_COVERAGE.date().replace(day=1),
                                 IN_COVERAGE.date().replace(day=31))
    assert march.settlement_count == 3 and march.total_fen == sum(payouts) > 0
    with container.db.read() as session:
        booked = int(session.scalar(
            select(func.sum(ledger.LedgerEntry.amount_fen))
            .join(ledger.LedgerTransaction,
                  ledger.LedgerTransaction.id == ledger.LedgerEntry.transaction_id)
            .join(Claim, Claim.claim_no == ledger.LedgerTransaction.order_no)
            .where(ledger.LedgerEntry.account == ledger.settlement_payable(owed),
                   Claim.claim_no.in_([line.claim_no for line in march.lines]))) or 0)
        payable = ledger.balance(session, ledger.settlement_payable(owed))
    assert booked == march.total_fen
    assert payable == march.total_fen + late.get_json()["payout_fen"]
    rows = list(csv.reader(io.StringIO(statements.statement_csv(march).decode("utf-8-sig"))))
    assert sorted(row[1] for row in rows[2:-1]) == sorted(line.claim_no for line in march.lines)
    assert sum(int(row[6]) for row in rows[2:-1]) == int(rows[-1][6]) == march.total_fen

    reviewer = staff(client, container, "13900000078")
    http = reviewer.client.get(
        "/api/v1/admin/settlement-statements.csv", headers=reviewer.bearer,
        query_string={"client_id": first.client_id, "from": "2027-03-01", "to": "2027-03-31"})
    assert http.status_code == 200
    assert http.get_data() == statements.statement_csv(march)

    def clear(_index: int) -> object:
        try:
            return statements.clear(container, first.client_id, march.period_from,
                                    march.period_to, actor=AuditActor(client="test"))
        except RuleViolation as exc:
            return exc

    results = race(CLEARINGS, clear)
    numbers = {result.statement_no for result in results
               if isinstance(result, statements.Statement)}
    assert len(numbers) == 1, results
    with container.db.read() as session:
        assert session.scalar(select(func.count()).select_from(SettlementStatement)) == 1
        assert ledger.balance(session, ledger.settlement_paid(owed)) == march.total_fen
        assert ledger.balance(session, ledger.settlement_payable(owed)) == (
            late.get_json()["payout_fen"])
        assert ledger.balance(session, ledger.settlement_payable(
            client_pk(container, store))) == drug.get_json()["payout_fen"]
        assert not ledger.unbalanced_transactions(session)
        assert not ledger.coinsurance_violations(session)
    assert check_books(container) == []
