"""One-stop payouts owed to the hospital or pharmacy that deducted them at the counter, their
periodic statements (JSON and CSV) and the clearing of them; designated pharmacies settling
special drugs through the signed feed, and their refusals."""

from __future__ import annotations

import csv
import io
import uuid
from datetime import timedelta
from pathlib import Path
from typing import Any

from click.testing import CliRunner
from flask.testing import FlaskClient

from huiminbao.claims.cli import claims as claims_cli
from huiminbao.claims.services import check_books
from huiminbao.core.clock import MovableClock
from huiminbao.core.config import Settings
from huiminbao.core.container import Container
from huiminbao.payments import ledger

from .test_claims_support import (
    DRUG_PURCHASE,
    SECOND_CLAIM,
    WORKED_EXAMPLE,
    client_pk,
    drug_body,
    enrolled,
    hospital,
    id_number,
    into_coverage,
    person_id,
    pharmacy,
    settle,
    settle_drug,
    settlement_body,
    sms_texts,
    staff,
)

PERIOD = {"from": "2027-03-01", "to": "2027-03-31"}


def _statement(session: Any, client_id: str, period: dict[str, str] = PERIOD) -> Any:
    return session.client.get("/api/v1/admin/settlement-statements",
                              query_string={"client_id": client_id, **period},
                              headers=session.bearer)


def _clear(session: Any, client_id: str, period: dict[str, str] = PERIOD) -> Any:
    return session.client.post("/api/v1/admin/settlement-statements",
                               json={"client_id": client_id, **period},
                               headers={**session.bearer, "Idempotency-Key": uuid.uuid4().hex})


def _csv_rows(session: Any, client_id: str) -> list[list[str]]:
    response = session.client.get("/api/v1/admin/settlement-statements.csv",
                                  query_string={"client_id": client_id, **PERIOD},
                                  headers=session.bearer)
    assert response.status_code == 200, response.get_data(as_text=True)
    assert response.content_type.startswith("text/csv")
    return list(csv.reader(io.StringIO(response.get_data(as_text=True).lstrip("\ufeff"))))


def test_a_hospitals_statement_equals_the_payouts_booked_to_it_and_clears_once(
    client: FlaskClient, wired: Container, clock: MovableClock
) -> None:
    zhang = enrolled(client)
    [zhang] = into_coverage(clock, wired, zhang)
    first_hospital, other_hospital = hospital(wired), hospital(wired, "杭州市第一人民医院")
    answers = [settle(client, wired, first_hospital, settlement_body("张伟", figures)).get_json()
               for figures in (WORKED_EXAMPLE, SECOND_CLAIM)]
    assert [a["payout_fen"] for a in answers] == [1_150_000, 950_000]
    elsewhere = settle(client, wired, other_hospital, settlement_body("张伟", SECOND_CLAIM))
    assert elsewhere.status_code == 201
    owed = client_pk(wired, first_hospital)
    with wired.db.read() as session:
        assert ledger.balance(session, ledger.settlement_payable(owed)) == 2_100_000
        assert ledger.balance(session, ledger.claim_payout(person_id(zhang))) == 0
    assert check_books(wired) == []

    reviewer = staff(client, wired)
    found = _statement(reviewer, first_hospital.client_id)
    assert found.status_code == 200, found.get_json()
    body = found.get_json()
    assert (body["client_kind"], body["client_name"]) == ("hospital", "浙江大学医学院附属第一医院")
    assert body["settlement_count"] == 2 and body["total_fen"] == 2_100_000
    assert body["cleared"] is None
    assert sorted(line["claim_no"] for line in body["lines"]) == sorted(
        a["claim_no"] for a in answers)
    assert all(line["booked_fen"] == line["payout_fen"] for line in body["lines"])
    assert all(id_number("张伟") not in line["patient"] for line in body["lines"])

    rows = _csv_rows(reviewer, first_hospital.client_id)
    assert rows[1][0] == "结算单号"
    assert sum(int(row[6]) for row in rows[2:-1]) == int(rows[-1][6]) == 2_100_000
    assert rows[-1][5] == "21000.00"

    # The period has not ended: it cannot be cleared yet.
    still_open = _clear(reviewer, first_hospital.client_id, {"from": "2027-03-01",
                                                             "to": "2027-03-20"})
    assert still_open.status_code == 422
    assert still_open.get_json()["code"] == "statement_period_open"

    clock.travel_to(clock.now() + timedelta(days=12))  # 2027-04-01
    [reviewer] = [staff(client, wired, "13900000002")]
    cleared = _clear(reviewer, first_hospital.client_id)
    assert cleared.status_code == 200, cleared.get_json()
    statement_no = cleared.get_json()["cleared"]["statement_no"]
    assert cleared.get_json()["total_fen"] == 2_100_000
    with wired.db.read() as session:
        assert ledger.balance(session, ledger.settlement_payable(owed)) == 0
        assert ledger.balance(session, ledger.settlement_paid(owed)) == 2_100_000
        assert not ledger.unbalanced_transactions(session)

    again = _clear(reviewer, first_hospital.client_id)
    assert again.status_code == 200
    assert again.get_json()["cleared"]["statement_no"] == statement_no
    with wired.db.read() as session:
        assert ledger.balance(session, ledger.settlement_paid(owed)) == 2_100_000
    overlapping = _clear(reviewer, first_hospital.client_id, {"from": "2027-03-15",
                                                              "to": "2027-03-31"})
    assert overlapping.status_code == 422
    assert "重叠" in overlapping.get_json()["message"]
    assert _statement(reviewer, first_hospital.client_id).get_json()["cleared"][
        "statement_no"] == statement_no
    assert check_books(wired) == []

    # The other hospital is owed its own payout, untouched.
    with wired.db.read() as session:
        assert ledger.balance(session, ledger.settlement_payable(
            client_pk(wired, other_hospital))) == elsewhere.get_json()["payout_fen"] > 0


def test_statements_are_for_staff_and_refuse_unknown_clients_and_bad_periods(
    client: FlaskClient, wired: Container
) -> None:
    issued = hospital(wired)
    resident = enrolled(client)
    assert _statement(resident, issued.client_id).status_code == 403
    reviewer = staff(client, wired)
    assert _statement(reviewer, "hc_0000000000000000").status_code == 404
    backwards = _statement(reviewer, issued.client_id, {"from": "2027-03-31",
                                                        "to": "2027-03-01"})
    assert backwards.status_code == 422 and "截止日期不能早于起始日期" in backwards.get_json()[
        "message"]
    empty = _statement(reviewer, issued.client_id).get_json()
    assert (empty["settlement_count"], empty["total_fen"], empty["lines"]) == (0, 0, [])


def test_a_designated_pharmacy_settles_a_listed_special_drug_at_its_counter(
    client: FlaskClient, wired: Container, clock: MovableClock
) -> None:
    zhang = enrolled(client)
    [zhang] = into_coverage(clock, wired, zhang)
    store = pharmacy(wired)
    response = settle_drug(client, wired, store, drug_body("张伟"))
    assert response.status_code == 201, response.get_json()
    answer = response.get_json()
    assert answer["accepted"] is True and answer["payout_fen"] > 0
    assert answer["message"].startswith("特药直接结算完成，惠民保赔付")
    assert answer["hospital"] == "老百姓大药房（特药服务中心·延安路店）"

    detail = client.get(f"/api/v1/claims/{answer['claim_no']}", headers=zhang.bearer).get_json()
    assert (detail["kind"], detail["status"], detail["channel"]) == (
        "special_drug", "settled", "settlement")
    assert detail["timeline"][0]["by"] == "定点药店（直接结算）"
    assert "已在柜台抵扣药费" in detail["timeline"][0]["message"]
    with wired.db.read() as session:
        assert ledger.balance(session, ledger.settlement_payable(
            client_pk(wired, store))) == answer["payout_fen"]
        assert ledger.balance(session, ledger.claim_payout(person_id(zhang))) == 0
    assert check_books(wired) == []
    assert any("一站式结算" in text for text in sms_texts(client, "13800000001"))

    again = settle_drug(client, wired, store, drug_body("张伟", number=answer["settlement_no"]))
    assert again.status_code == 201 and again.headers["Idempotency-Replayed"] == "true"

    reviewer = staff(client, wired)
    statement = _statement(reviewer, store.client_id).get_json()
    assert statement["client_kind"] == "pharmacy" and statement["client_kind_label"] == "定点药店"
    assert statement["total_fen"] == answer["payout_fen"]


def test_a_pharmacy_settlement_is_refused_in_chinese_when_the_rules_do_not_allow_it(
    client: FlaskClient, wired: Container, clock: MovableClock
) -> None:
    zhang = enrolled(client)
    into_coverage(clock, wired, zhang)
    store = pharmacy(wired)

    unlisted = settle_drug(client, wired, store, drug_body("张伟", {"items": [
        {"code": "XY999", "name": "某普通药品", "amount_fen": 10_000}]}))
    assert unlisted.status_code == 422
    assert unlisted.get_json()["code"] == "special_drug_refused"
    assert "特药目录" in unlisted.get_json()["errors"]["items"][0]

    wrong_indication = settle_drug(client, wired, store, drug_body(
        "张伟", {"diagnosis_code": "E11.9"}))
    assert wrong_indication.status_code == 422
    assert "适应症" in wrong_indication.get_json()["errors"]["diagnosis_code"][0]

    elsewhere = pharmacy(wired, "YD9999999", "某社区药房")
    not_designated = settle_drug(client, wired, elsewhere, drug_body("张伟"))
    assert not_designated.status_code == 422
    assert "不是本产品的特药定点药店" in not_designated.get_json()["errors"]["pharmacy_code"][0]

    # Each feed takes its own clients only.
    from_hospital = settle_drug(client, wired, hospital(wired), drug_body("张伟"))
    assert from_hospital.status_code == 403 and "只有定点药店" in from_hospital.get_json()[
        "message"]
    inpatient = settle(client, wired, store, settlement_body("张伟", WORKED_EXAMPLE))
    assert inpatient.status_code == 403
    assert inpatient.get_json()["code"] == "wrong_settlement_feed"

    backwards = settle_drug(client, wired, store, drug_body("张伟", {
        "prescribed_on": DRUG_PURCHASE["purchased_on"],
        "purchased_on": DRUG_PURCHASE["prescribed_on"]}))
    assert backwards.status_code == 422
    with wired.db.read() as session:
        assert ledger.balance(session, ledger.settlement_payable(client_pk(wired, store))) == 0


def test_the_statement_command_prints_writes_the_csv_and_refuses_an_open_period(
    client: FlaskClient, wired: Container, clock: MovableClock, settings: Settings,
    tmp_path: Path,
) -> None:
    zhang = enrolled(client)
    into_coverage(clock, wired, zhang)
    store = pharmacy(wired)
    payout = settle_drug(client, wired, store, drug_body("张伟")).get_json()["payout_fen"]
    env = {"DATABASE_URL": settings.database_url, "HUIMINBAO_MODE": "demo"}
    out = tmp_path / "statement.csv"
    args = ["statement", "--client", store.client_id, "--from", PERIOD["from"],
            "--to", PERIOD["to"]]
    shown = CliRunner().invoke(claims_cli, [*args, "--csv", str(out)], env=env)
    assert shown.exit_code == 0, shown.output
    assert "定点药店：老百姓大药房" in shown.output and "一站式结算 1 笔" in shown.output
    assert "未结清" in shown.output
    rows = list(csv.reader(io.StringIO(out.read_text(encoding="utf-8").lstrip("\ufeff"))))
    assert int(rows[-1][6]) == payout
    # A period that has not ended (on the command's wall clock) cannot be cleared.
    refused = CliRunner().invoke(claims_cli, [
        "statement", "--client", store.client_id, "--from", "2099-01-01", "--to", "2099-12-31",
        "--clear"], env=env)
    assert refused.exit_code != 0 and "只能结清已经结束的期间" in refused.output
