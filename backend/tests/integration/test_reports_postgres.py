"""The bureau report on PostgreSQL equals the public disclosure and the ledger at the same
instant (issue 19: "the bureau report for the demo period equals the disclosure figures and the
ledger")."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta

import pytest
from flask import Flask
from sqlalchemy import func, select

from huiminbao.core.clock import MovableClock
from huiminbao.core.container import Container
from huiminbao.identity.domain import Role
from huiminbao.payments import ledger
from huiminbao.registry.demo import demo_person
from huiminbao.registry.simulator import SimulatedRegistry
from tests.api.enrollment_helpers import enroll, sign_in
from tests.api.test_claims_support import decide, into_coverage, refresh, staff, submit

pytestmark = pytest.mark.postgres


def _ledger_balance(wired: Container, account: str, at: datetime) -> int:
    with wired.db.read() as session:
        return int(session.scalar(
            select(func.coalesce(func.sum(ledger.LedgerEntry.amount_fen), 0))
            .join(ledger.LedgerTransaction,
                  ledger.LedgerTransaction.id == ledger.LedgerEntry.transaction_id)
            .where(ledger.LedgerEntry.account == account,
                   ledger.LedgerTransaction.occurred_at <= at)) or 0)


def test_the_bureau_report_equals_the_disclosure_and_the_ledger(
    pg_app: Flask, pg_wired: Container, clock: MovableClock
) -> None:
    client = pg_app.test_client()
    product_id = int(client.get("/api/v1/products").get_json()["items"][0]["id"])
    people = []
    for name, method in (("张伟", "personal_account"), ("李娜", "personal_account"),
                         ("孙丽", "subsidy"), ("张建国", "personal_account")):
        people.append(sign_in(client, name))
        assert enroll(people[-1], method).status_code == 201, name
    zhang, li = into_coverage(clock, pg_wired, *people[:2])  # 2027-03-20
    reviewer = staff(client, pg_wired, "13900000061")
    paid = submit(zhang, {"in_policy_self_pay_fen": 2_000_999, "items": [
        {"code": "TY001", "name": "信迪利单抗注射液", "amount_fen": 500_000}]}).get_json()
    approved = submit(li, {"in_policy_self_pay_fen": 2_500_000, "items": []}).get_json()
    clock.advance(timedelta(hours=30))
    reviewer = refresh(pg_wired, reviewer)
    assert decide(reviewer, paid["claim_no"], "approve").status_code == 200
    assert decide(reviewer, approved["claim_no"], "approve").status_code == 200
    assert decide(reviewer, paid["claim_no"], "mark_paid").status_code == 200
    clock.advance(timedelta(days=20))  # into April: March is a closed period
    # Districts are the registry's: 张建国 (ID issued in 上城区) now belongs to 滨江区; the
    # registry has none for 李娜, who counts by her ID number's prefix (西湖区).
    registry = pg_wired.registry
    assert isinstance(registry, SimulatedRegistry)
    for name, district in (("张建国", "330108"), ("李娜", None)):
        person = registry.find_person(demo_person(name).id_number)
        assert person is not None
        registry.upsert_person(replace(person, district_code=district))
    admin = staff(client, pg_wired, "13900000062", Role.ADMIN)

    report = client.get(f"/api/v1/admin/products/{product_id}/report?month=2027-03",
                        headers=admin.bearer).get_json()
    assert "as_of" in report, report
    as_of = report["as_of"]
    assert datetime.fromisoformat(as_of) == datetime.fromisoformat("2027-04-01T00:00:00+08:00")
    public = client.get(f"/api/v1/disclosure/{product_id}",
                        query_string={"as_of": as_of}).get_json()
    sections = {s["key"]: {r["key"]: r for r in s["rows"]} for s in report["sections"]}

    def totals(section: str) -> dict[str, int]:
        return {key: row["total"] for key, row in sections[section].items()}

    # Report against the disclosure, figure by figure.
    assert sections["enrolled"]["total"]["total"] == public["enrolled"]["total"] == 4
    for section in ("by_scheme", "by_age_band", "by_channel"):
        assert totals(section) == {b["key"]: b["count"] for b in public["enrolled"][section]}
    assert totals("by_district") == {"330106": 2, "330110": 1, "330108": 1}
    assert sum(totals("by_district").values()) == public["enrolled"]["total"]
    assert sections["by_district"]["330108"]["label"] == "滨江区"
    premium = sections["premiums"]["premium_income"]["total"]
    assert premium == public["premium_income_fen"]
    assert sections["claims_received"]["total"]["total"] == public["claims"]["accepted"] == 2
    assert sections["claims_paid"]["total"]["total"] == public["claims"]["paid"] == 1
    payout = sections["payouts"]["total"]["total"]
    assert payout == public["claims"]["payout_fen"] > 0
    # Report against the ledger at the same instant.
    at = datetime.fromisoformat(as_of)
    assert premium == _ledger_balance(pg_wired, ledger.premium_income(product_id), at)
    assert payout == -_ledger_balance(pg_wired, ledger.claims_payable(product_id), at)
    # The period's breakdowns add up to its totals.
    payouts = sections["payouts"]
    assert payouts["online"]["period"] + payouts["settlement"]["period"] == payout
    assert sum(payouts[k]["period"] for k in ("compliant", "reasonable", "special_drug")) \
        == payout
    received = sections["claims_received"]
    assert received["online"]["period"] + received["settlement"]["period"] \
        == received["total"]["period"] == 2
    assert sections["turnaround"]["decided"]["period"] == 2
    assert sections["turnaround"]["to_decision"]["period"] == 13  # 30 hours: 1.25 days
    # Enrollments happened in November: March's stock did not change.
    assert sections["enrolled"]["total"]["period"] == 0
    november = client.get(f"/api/v1/admin/products/{product_id}/report?month=2026-11",
                          headers=admin.bearer).get_json()
    assert november["sections"][0]["rows"][0]["period"] == 4
