"""The hospitals' one-stop settlement feed: settled claims with the worked example's figures,
settlements without cover recorded with the reason, signatures, and idempotency by number."""

from __future__ import annotations

import json
from datetime import timedelta

from flask.testing import FlaskClient
from sqlalchemy import func, select

from huiminbao.claims.models import Claim, Settlement
from huiminbao.claims.services import check_books
from huiminbao.core.clock import MovableClock
from huiminbao.core.container import Container
from huiminbao.payments import ledger

from .test_claims_support import (
    SECOND_CLAIM,
    WORKED_EXAMPLE,
    client_pk,
    enrolled,
    hospital,
    id_number,
    into_coverage,
    person_id,
    settle,
    settlement_body,
    signed_headers,
    sms_texts,
)


def _count(wired: Container, model: type) -> int:
    with wired.db.read() as session:
        return int(session.scalar(select(func.count()).select_from(model)) or 0)


def test_zhang_weis_settlements_follow_the_worked_example(
    client: FlaskClient, wired: Container, clock: MovableClock
) -> None:
    zhang = enrolled(client)
    [zhang] = into_coverage(clock, wired, zhang)
    issued = hospital(wired)

    first = settle(client, wired, issued, settlement_body("张伟", WORKED_EXAMPLE))
    assert first.status_code == 201, first.get_json()
    answer = first.get_json()
    assert answer["outcome"] == "settled" and answer["accepted"] is True
    assert answer["payout_fen"] == 1_150_000
    assert answer["message"] == "一站式结算完成，惠民保赔付¥11,500.00"
    assert answer["patient"] == "3****************0"
    assert id_number("张伟") not in first.get_data(as_text=True)
    lines = {line["category"]: line for line in answer["breakdown"]["lines"]}
    assert lines["compliant"]["text"] == (
        "医保范围内合规费用 ¥30,000.00，扣除免赔额 ¥20,000.00 后按 75% 赔付 ¥7,500.00")
    assert (lines["reasonable"]["deductible_used_fen"], lines["reasonable"]["payout_fen"]) == (
        1_000_000, 0)
    assert lines["special_drug"]["payout_fen"] == 400_000
    assert answer["breakdown"]["summary"][-1] == "合计赔付 ¥11,500.00"

    second = settle(client, wired, issued, settlement_body("张伟", SECOND_CLAIM))
    assert second.status_code == 201, second.get_json()
    assert second.get_json()["payout_fen"] == 950_000
    assert second.get_json()["message"].endswith("¥9,500.00")

    # The claimant sees both as settled claims, with the breakdown in plain Chinese.
    mine = client.get("/api/v1/claims", headers=zhang.bearer).get_json()["items"]
    assert [(c["status"], c["status_label"], c["payout_fen"]) for c in mine] == [
        ("settled", "已一站式结算", 950_000), ("settled", "已一站式结算", 1_150_000)]
    detail = client.get(f"/api/v1/claims/{answer['claim_no']}", headers=zhang.bearer).get_json()
    assert detail["channel"] == "settlement"
    assert detail["hospital_name"] == "浙江大学医学院附属第一医院"
    assert [entry["status"] for entry in detail["timeline"]] == ["settled"]
    assert detail["timeline"][0]["by"] == "医院（一站式结算）"
    assert "医保范围内合规费用 ¥30,000.00，扣除免赔额 ¥20,000.00 后按 75% 赔付 ¥7,500.00" in (
        detail["breakdown"]["summary"])
    assert {i["code"]: i["category"] for i in detail["items"]} == {
        "HL001": "reasonable", "TY001": "special_drug"}

    # The payouts are booked, once each, as owed to the hospital that deducted them at its
    # counter (not as paid to the patient), and the books agree.
    with wired.db.read() as session:
        assert ledger.balance(session, ledger.claim_payout(person_id(zhang))) == 0
        assert ledger.balance(session, ledger.settlement_payable(
            client_pk(wired, issued))) == 2_100_000
        assert ledger.balance(session, ledger.claims_payable(detail["product_id"])) == -2_100_000
        assert not ledger.unbalanced_transactions(session)
    assert check_books(wired) == []

    texts = sms_texts(client, "13800000001")
    assert "一站式结算" in texts[0] and "¥9,500.00" in texts[0]
    assert all(id_number("张伟") not in text for text in texts)


def test_a_settlement_without_a_policy_is_recorded_with_the_reason(
    client: FlaskClient, wired: Container
) -> None:
    issued = hospital(wired)
    response = settle(client, wired, issued, settlement_body(
        "李娜", WORKED_EXAMPLE, stay={"admitted_on": "2026-11-01", "discharged_on": "2026-11-10"}))
    assert response.status_code == 200, response.get_json()
    answer = response.get_json()
    assert answer["outcome"] == "no_policy" and answer["accepted"] is False
    assert "没有有效的惠民保保单" in answer["reason"]
    assert answer["claim_no"] is None and answer["payout_fen"] == 0
    assert id_number("李娜") not in response.get_data(as_text=True)
    with wired.db.read() as session:
        recorded = session.scalars(select(Settlement)).one()
    assert recorded.outcome == "no_policy" and recorded.person_id is None
    assert recorded.id_number_masked == "3****************3"
    assert _count(wired, Claim) == 0


def test_a_settlement_outside_the_coverage_period_is_recorded_with_the_reason(
    client: FlaskClient, wired: Container, clock: MovableClock
) -> None:
    enrolled(client)
    clock.travel_to(clock.now() + timedelta(days=20))  # enrolled, coverage not yet started
    issued = hospital(wired)
    response = settle(client, wired, issued, settlement_body(
        "张伟", WORKED_EXAMPLE, stay={"admitted_on": "2026-12-01", "discharged_on": "2026-12-05"}))
    assert response.status_code == 200, response.get_json()
    answer = response.get_json()
    assert answer["outcome"] == "outside_coverage"
    assert "不在保单保障期内" in answer["reason"] and "2027年01月07日" in answer["reason"]
    assert _count(wired, Claim) == 0


def test_bad_signatures_and_stale_timestamps_are_refused(
    client: FlaskClient, wired: Container, clock: MovableClock
) -> None:
    enrolled(client)
    clock.travel_to(clock.now() + timedelta(days=120))
    issued = hospital(wired)
    body = settlement_body("张伟", WORKED_EXAMPLE)
    raw = json.dumps(body).encode()

    def post(headers: dict[str, str], data: bytes = raw):  # type: ignore[no-untyped-def]
        return client.post("/api/v1/settlements", data=data, content_type="application/json",
                           headers=headers)

    good = signed_headers(issued, raw, wired=wired)
    tampered = post(good, raw.replace(b"3000000", b"9000000"))
    assert tampered.status_code == 401 and tampered.get_json()["code"] == "invalid_signature"
    wrong_key = {**good, "X-Signature": "0" * 64}
    assert post(wrong_key).status_code == 401
    unknown = {**good, "X-Client-Id": "hc_0000000000000000"}
    assert post(unknown).get_json()["code"] == "invalid_signature"
    assert post({}).get_json()["code"] == "signature_required"
    stale_at = str(int((clock.now() - timedelta(minutes=6)).timestamp()))
    stale = post(signed_headers(issued, raw, timestamp=stale_at))
    assert stale.status_code == 401 and stale.get_json()["code"] == "stale_timestamp"
    assert "5分钟" in stale.get_json()["message"]
    iso = (clock.now() + timedelta(minutes=4)).isoformat()
    assert post(signed_headers(issued, raw, timestamp=iso)).status_code == 201
    assert _count(wired, Claim) == 1

    # An unauthenticated caller learns nothing about the body's validity either.
    assert post({}, b"{not json").status_code == 401


def test_a_repeated_settlement_number_answers_as_the_first_time(
    client: FlaskClient, wired: Container, clock: MovableClock
) -> None:
    enrolled(client)
    clock.travel_to(clock.now() + timedelta(days=120))
    issued = hospital(wired)
    body = settlement_body("张伟", WORKED_EXAMPLE, number="JS-2027-000123")
    first = settle(client, wired, issued, body)
    assert first.status_code == 201
    assert first.headers["Idempotency-Replayed"] == "false"
    again = settle(client, wired, issued, body)
    assert again.status_code == 201 and again.get_json() == first.get_json()
    assert again.headers["Idempotency-Replayed"] == "true"
    assert _count(wired, Claim) == 1

    changed = settle(client, wired, issued, {**body, "in_policy_self_pay_fen": 3_100_000})
    assert changed.status_code == 409 and changed.get_json()["code"] == "settlement_conflict"
    assert _count(wired, Claim) == 1

    # Another hospital's number space is its own.
    other = settle(client, wired, hospital(wired, "杭州市第一人民医院"), body)
    assert other.status_code == 201
    assert other.get_json()["claim_no"] != first.get_json()["claim_no"]


def test_an_invalid_id_number_is_refused_without_being_echoed(
    client: FlaskClient, wired: Container
) -> None:
    issued = hospital(wired)
    body = settlement_body("张伟", WORKED_EXAMPLE)
    body["id_number"] = "330106198803150131"  # wrong check character
    response = settle(client, wired, issued, body)
    assert response.status_code == 422
    assert "330106198803150131" not in response.get_data(as_text=True)
    assert _count(wired, Settlement) == 0
