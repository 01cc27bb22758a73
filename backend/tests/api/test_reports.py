"""The bureau report: periods (a month, a custom range, refusals in Chinese), who may read it,
its figures against the disclosure and the ledger, and its CSV."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from flask.testing import FlaskClient

from huiminbao.core.clock import MovableClock
from huiminbao.core.container import Container
from huiminbao.identity.domain import Role
from huiminbao.payments import ledger

from .enrollment_helpers import enroll, product, sign_in
from .helpers import Session
from .test_claims_support import decide, into_coverage, refresh, staff, submit
from .test_complaints import file, reply


def report(admin: Session, product_id: int, **query: str) -> Any:
    return admin.client.get(f"/api/v1/admin/products/{product_id}/report",
                            query_string=query, headers=admin.bearer)


def rows(answer: dict[str, Any], section: str) -> dict[str, dict[str, Any]]:
    found = next(s for s in answer["sections"] if s["key"] == section)
    return {row["key"]: row for row in found["rows"]}


def test_a_month_report_counts_the_months_enrollments_and_downloads_as_csv(
    client: FlaskClient, wired: Container
) -> None:
    demo = product(client)
    for name, method in (("张伟", "personal_account"), ("孙丽", "subsidy")):
        assert enroll(sign_in(client, name), method).status_code == 201
    admin = staff(client, wired, "13900000051", Role.ADMIN)
    month = f"{wired.clock.today():%Y-%m}"
    answer = report(admin, demo["id"], month=month)
    assert answer.status_code == 200, answer.get_json()
    data = answer.get_json()
    assert data["period"]["from"] == f"{month}-01"
    assert data["period"]["label"] == f"{month[:4]}年{int(month[5:])}月"
    assert rows(data, "enrolled")["total"]["period"] == 2
    assert rows(data, "enrolled")["total"]["total"] == 2
    assert {k: r["total"] for k, r in rows(data, "by_district").items()} == {
        "330106": 1, "330110": 1}
    assert rows(data, "by_district")["330106"]["label"] == "西湖区"
    assert rows(data, "by_channel")["subsidy"]["period"] == 1
    assert rows(data, "by_scheme")["employee"]["total"] == 1
    premium = 2 * demo["tiers"][0]["premium_fen"]
    assert rows(data, "premiums")["premium_income"] == {
        "key": "premium_income", "label": "保费收入", "unit": "fen", "unit_label": "元",
        "period": premium, "total": premium, "period_text": f"{premium // 100:,}.00",
        "total_text": f"{premium // 100:,}.00"}
    charts = {s["key"]: s["chart"] for s in data["sections"]}
    assert charts["by_district"] == "total" and charts["premiums"] is None
    # The month runs: its figures are as of now, and the disclosure says the same then.
    as_of = datetime.fromisoformat(data["as_of"])
    assert abs(as_of - wired.clock.now()) < timedelta(minutes=1)
    public = client.get(f"/api/v1/disclosure/{demo['id']}",
                        query_string={"as_of": data["as_of"]}).get_json()
    assert public["enrolled"]["total"] == 2 and public["premium_income_fen"] == premium

    download = admin.client.get(data["csv_url"], headers=admin.bearer)
    assert download.status_code == 200
    assert download.headers["Content-Type"].startswith("text/csv")
    table = list(csv.reader(io.StringIO(download.data.decode("utf-8-sig"))))
    assert table[3] == ["分组", "指标", "单位", "本期", "期末累计"]
    by_label = {(row[0], row[1]): row for row in table[4:]}
    assert by_label[("参保人数", "参保人数合计")][3:] == ["2", "2"]
    assert by_label[("保费收入（元）", "保费收入")][3] == f"{premium // 100}.00"
    assert by_label[("参保人数（按参保区县，未登记的按身份证号前6位）", "余杭区")][4] == "1"


def test_a_custom_period_and_the_month_it_spans_agree(client: FlaskClient,
                                                       wired: Container) -> None:
    demo = product(client)
    assert enroll(sign_in(client, "李娜"), "personal_account").status_code == 201
    admin = staff(client, wired, "13900000052", Role.ADMIN)
    today = wired.clock.today()
    by_month = report(admin, demo["id"], month=f"{today:%Y-%m}").get_json()
    custom = report(admin, demo["id"], **{"from": f"{today:%Y-%m}-01",
                                          "to": f"{today:%Y-%m}-{today.day:02d}"}).get_json()
    assert custom["period"]["label"] == f"{today:%Y年%m月}01日至{today:%Y年%m月%d日}"
    assert rows(custom, "enrolled") == rows(by_month, "enrolled")
    before = report(admin, demo["id"], **{"from": "2026-01-01", "to": "2026-01-31"}).get_json()
    assert rows(before, "enrolled")["total"]["total"] == 0
    assert rows(before, "premiums")["premium_income"]["period"] == 0


@pytest.mark.parametrize(("query", "field", "message"), [
    ({}, "month", "请选择统计月份，或填写开始日期和结束日期"),
    ({"month": "2026-13"}, "month", "月份格式应为“年-月”，例如 2027-03"),
    ({"month": "十一月"}, "month", "月份格式应为“年-月”，例如 2027-03"),
    ({"month": "2026-11", "from": "2026-11-01"}, "month",
     "请按月份或按起止日期选择统计期间，二者选其一"),
    ({"from": "2026-11-01"}, "to", "请填写结束日期"),
    ({"to": "2026-11-01"}, "from", "请填写开始日期"),
    ({"from": "2026-11-10", "to": "2026-11-01"}, "to", "结束日期不能早于开始日期"),
    ({"from": "2025-01-01", "to": "2026-01-31"}, "to", "统计期间最长为366天，请缩短起止日期"),
    ({"month": "2030-01"}, "month", "统计期间尚未开始，请选择今天或以前的日期"),
])
def test_impossible_periods_are_refused_in_chinese(client: FlaskClient, wired: Container,
                                                   query: dict[str, str], field: str,
                                                   message: str) -> None:
    admin = staff(client, wired, "13900000053", Role.ADMIN)
    answer = report(admin, product(client)["id"], **query)
    assert answer.status_code == 422, answer.get_json()
    assert answer.get_json()["errors"] == {field: [message]}


def test_a_date_that_is_not_a_date_is_refused_in_chinese(client: FlaskClient,
                                                         wired: Container) -> None:
    admin = staff(client, wired, "13900000054", Role.ADMIN)
    answer = report(admin, product(client)["id"], **{"from": "2026-02-30", "to": "2026-03-01"})
    assert answer.status_code == 422
    assert "from" in answer.get_json()["errors"]
    assert all(ord(ch) > 127 for ch in answer.get_json()["errors"]["from"][0][:2])


def test_only_administrators_read_reports(client: FlaskClient, wired: Container) -> None:
    demo_id = product(client)["id"]
    reviewer = staff(client, wired, "13900000055")
    resident = sign_in(client.application.test_client(), "周强")
    for session in (reviewer, resident):
        for path in ("report", "report.csv"):
            answer = session.client.get(f"/api/v1/admin/products/{demo_id}/{path}?month=2026-11",
                                        headers=session.bearer)
            assert answer.status_code == 403
    assert client.application.test_client().get(
        f"/api/v1/admin/products/{demo_id}/report?month=2026-11"
                      ).status_code == 401
    admin = staff(client, wired, "13900000056", Role.ADMIN)
    assert report(admin, 987654, month="2026-11").status_code == 404


def test_claims_turnaround_and_complaints_of_a_month(client: FlaskClient, wired: Container,
                                                    clock: MovableClock) -> None:
    demo = product(client)
    people = []
    for name in ("张伟", "李娜"):
        people.append(sign_in(client, name))
        assert enroll(people[-1], "personal_account").status_code == 201
    zhang, li = into_coverage(clock, wired, *people)  # 2027-03-20, 10:00 in Hangzhou
    reviewer = staff(client, wired, "13900000057")
    paid = submit(zhang, {"in_policy_self_pay_fen": 2_000_999, "items": [
        {"code": "TY001", "name": "信迪利单抗注射液", "amount_fen": 500_000}]}).get_json()
    refused = submit(li, {"in_policy_self_pay_fen": 100_000, "items": []}).get_json()
    clock.advance(timedelta(days=1))
    reviewer = refresh(wired, reviewer)
    assert decide(reviewer, paid["claim_no"], "approve").status_code == 200
    assert decide(reviewer, refused["claim_no"], "reject", "不在保障范围").status_code == 200
    clock.advance(timedelta(days=2))
    reviewer = refresh(wired, reviewer)
    payout = decide(reviewer, paid["claim_no"], "mark_paid").get_json()["payout_fen"]
    zhang = refresh(wired, zhang)
    complaint = file(zhang, category="claims").get_json()["complaint_no"]
    assert reply(reviewer, complaint, "已核实，马上处理", "in_progress").status_code == 201
    assert reply(reviewer, complaint, "已办结", "resolved").status_code == 201
    file(refresh(wired, li), category="service")

    admin = staff(client, wired, "13900000058", Role.ADMIN)
    data = report(admin, demo["id"], month="2027-03").get_json()
    assert rows(data, "claims_received")["total"]["period"] == 2
    assert rows(data, "claims_received")["online"]["period"] == 2
    assert rows(data, "claims_paid")["total"]["period"] == 1
    payouts = rows(data, "payouts")
    assert payouts["total"]["period"] == payouts["total"]["total"] == payout
    assert payouts["online"]["period"] == payout and payouts["settlement"]["period"] == 0
    assert sum(payouts[k]["period"] for k in ("compliant", "reasonable", "special_drug")) \
        == payout
    assert payouts["special_drug"]["period"] > 0
    turnaround = rows(data, "turnaround")
    assert turnaround["decided"]["period"] == 2
    assert turnaround["to_decision"]["period"] == 10  # one day
    assert turnaround["to_decision"]["period_text"] == "1.0"
    assert turnaround["to_payment"]["period"] == 30  # three days
    complaints = rows(data, "complaints")
    assert complaints["filed"]["period"] == 2
    assert complaints["claims"]["period"] == complaints["service"]["period"] == 1
    assert complaints["resolved_on_time"]["period"] == 1
    assert complaints["resolved_late"]["period"] == 0
    assert complaints["open"]["total"] == 1
    with wired.db.read() as session:  # the ledger's own payout figure
        assert -ledger.balance(session, ledger.claims_payable(demo["id"])) == payout
    february = report(admin, demo["id"], month="2027-02").get_json()
    assert rows(february, "payouts")["total"]["period"] == 0
    assert rows(february, "turnaround")["to_decision"]["period"] is None
    assert rows(february, "turnaround")["to_decision"]["period_text"] == "—"
    assert datetime.fromisoformat(february["as_of"]) == datetime(2027, 2, 28, 16, tzinfo=UTC)
