"""Claim kinds, payees, the payout run, the one request for documents and the claim clock,
through the API (issue 17)."""

from __future__ import annotations

import secrets
import uuid
from datetime import date, timedelta
from typing import Any

from flask.testing import FlaskClient
from sqlalchemy import func, select

from huiminbao.audit.models import AuditEvent
from huiminbao.claims.filing import BANK_CHECK_DOWN
from huiminbao.claims.kinds import add_working_days
from huiminbao.claims.models import Claim, ClaimPayout, SimulatedTransfer
from huiminbao.claims.payees import (
    SIMULATED_OTHERS_CARDS,
    BankServiceUnavailable,
    CardCheck,
    with_check_digit,
)
from huiminbao.claims.payouts import LEASE, SIMULATED_REFUSED_CARDS, SimulatedPayouts
from huiminbao.claims.services import check_books
from huiminbao.core.clock import MovableClock
from huiminbao.core.container import Container
from huiminbao.identity.domain import Action, Role
from huiminbao.payments import ledger

from .helpers import Session
from .test_admin_products import valid_body
from .test_claims import FakeGrants
from .test_claims_support import (
    decide,
    enrolled,
    into_coverage,
    person_id,
    refresh,
    sms_texts,
    staff,
    submit,
)

LINA_PHONE = "13800000002"
OUTPATIENT: dict[str, Any] = {
    "kind": "outpatient_special", "diagnosis_code": "N18.5",
    "hospital_name": "浙江大学医学院附属第一医院（门诊）",
    "admitted_on": "2027-02-01", "discharged_on": "2027-03-15",
    "in_policy_self_pay_fen": 3_500_000, "items": [],
}
SPECIAL_DRUG: dict[str, Any] = {
    "kind": "special_drug", "diagnosis_code": "C34.1", "prescription_no": "CF20270301001",
    "pharmacy_code": "YD3301001", "hospital_name": "老百姓大药房（特药服务中心·延安路店）",
    "admitted_on": "2027-03-01", "discharged_on": "2027-03-02", "in_policy_self_pay_fen": 0,
    "items": [{"code": "TY003", "name": "奥希替尼片", "amount_fen": 5_100_000}],
}


def new_card(prefix: str = "622202") -> str:
    return with_check_digit(prefix + "".join(secrets.choice("0123456789") for _ in range(12)))


def run(admin: Session, key: str | None = None):  # type: ignore[no-untyped-def]
    return admin.client.post("/api/v1/admin/claim-payout-runs",
                             headers={**admin.bearer, "Idempotency-Key": key or uuid.uuid4().hex})


def lina_in_coverage(client: FlaskClient, wired: Container, clock: MovableClock) -> Session:
    [lina] = into_coverage(clock, wired, enrolled(client, "李娜"))
    return lina


def approved_claim(client: FlaskClient, wired: Container, clock: MovableClock,
                   card: str) -> tuple[Session, Session, Session, str]:
    lina = lina_in_coverage(client, wired, clock)
    reviewer = staff(client, wired)
    admin = staff(client.application.test_client(), wired, "13900000009", Role.ADMIN)
    submitted = submit(lina, OUTPATIENT, payee={"card_no": card})
    assert submitted.status_code == 201, submitted.get_json()
    number = submitted.get_json()["claim_no"]
    assert decide(reviewer, number, "approve").status_code == 200
    return lina, reviewer, admin, number


# ---------------------------------------------------------------- the journey


def test_outpatient_special_claim_is_paid_to_the_insureds_card_by_the_payout_run(
    client: FlaskClient, wired: Container, clock: MovableClock
) -> None:
    card = new_card()
    lina = lina_in_coverage(client, wired, clock)
    submitted = submit(lina, OUTPATIENT, payee={"card_no": card})
    assert submitted.status_code == 201, submitted.get_json()
    claim = submitted.get_json()
    assert claim["kind"] == "outpatient_special"
    assert claim["kind_label"] == "门诊特殊病、慢性病（门特/门慢）"
    assert claim["payee"] == {"kind": "self", "kind_label": "被保险人本人", "holder_name": "李*",
                              "bank_name": "中国工商银行",
                              "card": f"{card[:4]} **** **** {card[-4:]}"}
    assert card not in str(claim)  # the full card number never comes back
    assert "门特/门慢病种认定证明" in claim["documents_needed"]
    assert claim["clock"]["stage"] == "decision" and claim["clock"]["overdue"] is False
    today = wired.clock.today()
    assert claim["clock"]["due_on"] == add_working_days(today, 10).isoformat()
    assert "门特/门慢病种认定证明" in claim["timeline"][0]["message"]

    reviewer = staff(client, wired)
    admin = staff(client.application.test_client(), wired, "13900000009", Role.ADMIN)
    number = claim["claim_no"]
    approved = decide(reviewer, number, "approve").get_json()
    assert approved["status"] == "approved" and approved["payout_fen"] > 0
    assert approved["clock"]["stage"] == "payment"
    assert approved["pay_by"] == (today + timedelta(days=10)).isoformat()
    # Paid by the run, never by a click.
    refused = decide(reviewer, number, "mark_paid")
    assert refused.status_code == 409 and refused.get_json()["code"] == "paid_by_payout_run"

    # Only an administrator starts a run.
    assert run(reviewer).status_code == 403
    report = run(admin)
    assert report.status_code == 200, report.get_json()
    assert report.get_json()["paid"] == [number]
    seen = lina.client.get(f"/api/v1/claims/{number}", headers=lina.bearer).get_json()
    assert seen["status"] == "paid"
    assert seen["payout"]["status"] == "paid" and seen["payout"]["status_label"] == "已支付"
    assert seen["payout"]["amount_fen"] == approved["payout_fen"]
    assert f"尾号{card[-4:]}" in seen["timeline"][-1]["message"]
    assert any("已赔付" in text or "已支付" in text for text in sms_texts(client, LINA_PHONE))
    assert run(admin).get_json()["paid"] == []  # nothing is paid twice
    payouts = wired.payouts
    assert isinstance(payouts, SimulatedPayouts)
    assert payouts.paid_fen(card) == approved["payout_fen"]
    with wired.db.read() as session:
        assert ledger.balance(session, ledger.claim_payout(person_id(lina))) == \
            approved["payout_fen"]
    assert check_books(wired) == []


# ---------------------------------------------------------------- kinds


def _error(response: Any, field: str) -> str:
    assert response.status_code == 422, response.get_json()
    return str(response.get_json()["errors"][field][0])


def test_each_kind_is_refused_with_its_reasons_in_chinese(
    client: FlaskClient, wired: Container, clock: MovableClock
) -> None:
    lina = lina_in_coverage(client, wired, clock)
    assert "诊断编码" in _error(submit(lina, OUTPATIENT | {"diagnosis_code": None}),
                              "diagnosis_code")
    assert "定点药店" in _error(submit(lina, SPECIAL_DRUG | {"pharmacy_code": "YD9999"}),
                            "pharmacy_code")
    assert "适应症" in _error(submit(lina, SPECIAL_DRUG | {"diagnosis_code": "K80.2"}),
                           "diagnosis_code")
    assert "处方" in _error(submit(lina, SPECIAL_DRUG | {"prescription_no": ""}),
                          "prescription_no")
    not_listed = SPECIAL_DRUG | {"items": [{"code": "XX1", "name": "保健品", "amount_fen": 100}]}
    assert "特药目录" in _error(submit(lina, not_listed), "items")
    out_of_city = {**OUTPATIENT, "kind": "out_of_city", "diagnosis_code": None}
    assert "参保地相同" in _error(submit(lina, out_of_city | {"treatment_city_code": "330100"}),
                              "treatment_city_code")
    assert "行政区划" in _error(submit(lina, out_of_city), "treatment_city_code")
    assert _error(submit(lina, OUTPATIENT | {"kind": "dental"}), "kind") == "请选择理赔类型"

    drug = submit(lina, SPECIAL_DRUG)
    assert drug.status_code == 201, drug.get_json()
    assert drug.get_json()["pharmacy_code"] == "YD3301001"
    away = submit(lina, out_of_city | {"treatment_city_code": "310000"})
    assert away.status_code == 201, away.get_json()
    assert "异地就医备案证明" in away.get_json()["documents_needed"]


def test_the_product_lists_its_kinds_and_pharmacies_and_admins_set_a_drafts_within_the_law(
    client: FlaskClient, wired: Container
) -> None:
    listed = client.get("/api/v1/products/1/claim-kinds").get_json()
    assert [k["kind"] for k in listed["kinds"]] == [
        "inpatient", "outpatient_special", "special_drug", "out_of_city"]
    assert {p["code"] for p in listed["pharmacies"]} == {"YD3301001", "YD3301002"}
    admin = staff(client.application.test_client(), wired, "13900000009", Role.ADMIN)
    draft = client.post("/api/v1/admin/products", json=valid_body() | {"status": "draft"},
                        headers=admin.bearer)
    assert draft.status_code == 201, draft.get_json()
    draft_id = draft.get_json()["id"]
    path = f"/api/v1/admin/products/{draft_id}/claim-kinds"
    too_slow = {"kinds": [{"kind": "inpatient", "documents": ["发票"],
                           "decide_within_working_days": 25, "pay_within_days": 12}]}
    refused = client.put(path, json=too_slow, headers=admin.bearer)
    assert refused.status_code == 422
    errors = refused.get_json()["errors"]
    assert "保险法第二十三条" in errors["kinds.0.decide_within_working_days"][0]
    assert "1至10日" in errors["kinds.0.pay_within_days"][0]
    fine = {"kinds": [{"kind": "inpatient", "documents": ["发票", "出院小结"],
                       "decide_within_working_days": 5, "pay_within_days": 3}]}
    saved = client.put(path, json=fine, headers=admin.bearer)
    assert saved.status_code == 200, saved.get_json()
    assert saved.get_json()["kinds"][0]["decide_within_working_days"] == 5
    published = client.put("/api/v1/admin/products/1/claim-kinds", json=fine,
                           headers=admin.bearer)
    assert published.status_code == 422
    assert published.get_json()["code"] == "product_not_draft"


# ---------------------------------------------------------------- payees


def test_the_card_must_be_the_payees_and_an_agent_never_receives_the_money(
    client: FlaskClient, wired: Container, clock: MovableClock, app  # type: ignore[no-untyped-def]
) -> None:
    from .enrollment_helpers import PEOPLE

    [lina, zhang] = into_coverage(clock, wired, enrolled(client, "李娜"),
                                  enrolled(app.test_client(), "张伟"))
    others = next(iter(SIMULATED_OTHERS_CARDS))
    assert "不是被保险人名下" in _error(submit(lina, OUTPATIENT, payee={"card_no": others}),
                                    "payee.card_no")
    assert "无效" in _error(submit(lina, OUTPATIENT, payee={"card_no": "6222020000000001"}),
                          "payee.card_no")
    # A card is its holder's: once 李娜's, nobody else's.
    card = new_card()
    assert submit(lina, OUTPATIENT, payee={"card_no": card}).status_code == 201
    assert "不是被保险人名下" in _error(submit(zhang, OUTPATIENT, payee={"card_no": card}),
                                    "payee.card_no")
    # An adult's money goes to the adult.
    assert "已成年" in _error(submit(lina, OUTPATIENT, payee={
        "kind": "guardian", "card_no": new_card(), "name": "张伟",
        "id_number": PEOPLE["张伟"][1]}), "payee.kind")

    # 张伟 files for 李娜 under a grant: he cannot name himself as the heir receiving it.
    grants = FakeGrants()
    wired.grants = grants
    grants.allowed[(person_id(zhang), person_id(lina))] = {Action.SUBMIT_CLAIMS}
    acting = {"X-Acting-For": str(person_id(lina))}
    as_heir = submit(zhang, OUTPATIENT, headers=acting, payee={
        "kind": "heir", "card_no": new_card(), "name": "张伟", "id_number": PEOPLE["张伟"][1]})
    assert "代办人不能作为收款人" in _error(as_heir, "payee.id_number")
    # ... while the insured's own card is fine.
    own = submit(zhang, OUTPATIENT, headers=acting, payee={"card_no": card})
    assert own.status_code == 201, own.get_json()


# ---------------------------------------------------------------- failures


class DeadBank:
    """A bank-card check whose connection dies: every call raises, as the adapter does on a
    timeout or a reset (the check reads only, so nothing on the bank's side needs undoing)."""

    def __init__(self) -> None:
        self.calls = 0

    def verify(self, card_no: str, holder_name: str, holder_id_number: str) -> CardCheck:
        self.calls += 1
        raise BankServiceUnavailable("connection reset")


def test_a_bank_card_check_that_dies_writes_nothing_and_says_to_try_again(
    client: FlaskClient, wired: Container, clock: MovableClock
) -> None:
    lina = lina_in_coverage(client, wired, clock)
    card = new_card()
    filed = submit(lina, OUTPATIENT, payee={"card_no": card})
    assert filed.status_code == 201, filed.get_json()
    number = filed.get_json()["claim_no"]
    with wired.db.read() as session:
        claims_before = session.scalar(select(func.count(Claim.id)))
        audit_before = session.scalar(select(func.count(AuditEvent.id)))
    working_bank, wired.bank_cards = wired.bank_cards, DeadBank()

    refused = submit(lina, OUTPATIENT, payee={"card_no": new_card()})
    assert refused.status_code == 503, refused.get_json()
    assert refused.get_json()["code"] == "bank_card_check_unavailable"
    assert refused.get_json()["message"] == BANK_CHECK_DOWN
    changed = lina.client.put(f"/api/v1/claims/{number}/payee", json={"card_no": new_card()},
                              headers=lina.bearer)
    assert changed.status_code == 503, changed.get_json()
    assert changed.get_json()["code"] == "bank_card_check_unavailable"
    with wired.db.read() as session:
        assert session.scalar(select(func.count(Claim.id))) == claims_before
        assert session.scalar(select(func.count(AuditEvent.id))) == audit_before
    shown = lina.client.get(f"/api/v1/claims/{number}", headers=lina.bearer).get_json()
    assert shown["payee"]["card"].endswith(card[-4:])  # the first card still stands

    # The bank back: the same request goes through.
    wired.bank_cards = working_bank
    assert submit(lina, OUTPATIENT, payee={"card_no": new_card()}).status_code == 201


def test_a_payout_call_that_dies_half_way_is_queried_before_anything_is_sent_again(
    client: FlaskClient, wired: Container, clock: MovableClock
) -> None:
    card = new_card()
    _lina, _reviewer, admin, number = approved_claim(client, wired, clock, card)
    payouts = wired.payouts
    assert isinstance(payouts, SimulatedPayouts)
    payouts.die_after_send = 1  # the bank gets the request; the answer is lost

    first = run(admin).get_json()
    assert first["pending"] == [number] and first["paid"] == []
    with wired.db.read() as session:
        row = session.scalars(select(ClaimPayout)).one()
        assert row.status == "sending" and row.last_error and "结果未知" in row.last_error
        request_no = row.request_no
    # Another run within the lease leaves it alone: the first may still be sending.
    assert run(admin).get_json() == {**first, "pending": [], "message": first["message"]
                                     .replace("结果待确认1件", "结果待确认0件")}
    clock.advance(LEASE + timedelta(seconds=1))
    admin = refresh(wired, admin)
    second = run(admin).get_json()
    assert second["paid"] == [number]
    assert payouts.calls[-1] == f"query:{request_no}"  # asked, not sent again
    assert payouts.calls.count(f"transfer:{request_no}") == 1
    with wired.db.read() as session:
        transfers = session.scalars(select(SimulatedTransfer)).all()
        assert [t.request_no for t in transfers] == [request_no]
        row = session.scalars(select(ClaimPayout)).one()
        assert row.status == "paid" and row.attempts == 1
    assert check_books(wired) == []


def test_a_refused_payout_is_retried_with_a_new_request_number_then_left_to_staff(
    client: FlaskClient, wired: Container, clock: MovableClock
) -> None:
    card = next(iter(SIMULATED_REFUSED_CARDS))
    lina, _reviewer, admin, number = approved_claim(client, wired, clock, card)
    numbers = []
    for attempt in range(1, 4):
        report = run(admin).get_json()
        assert report["failed"] == [number], attempt
        with wired.db.read() as session:
            row = session.scalars(select(ClaimPayout)).one()
            assert (row.status, row.attempts) == ("failed", attempt)
            numbers.append(row.request_no)
    assert len(set(numbers)) == 3
    assert run(admin).get_json()["failed"] == []  # three attempts: staff take over
    seen = lina.client.get(f"/api/v1/claims/{number}", headers=lina.bearer).get_json()
    assert seen["status"] == "approved"
    assert seen["payout"]["status_label"] == "支付失败，请联系客服核对收款账户"
    with wired.db.read() as session:
        assert ledger.balance(session, ledger.claim_payout(person_id(lina))) == 0

    # She names another card of hers: the next run pays it, under a fourth request number.
    good = new_card("621661")
    changed = lina.client.put(f"/api/v1/claims/{number}/payee", json={"card_no": good},
                              headers=lina.bearer)
    assert changed.status_code == 200, changed.get_json()
    assert changed.get_json()["payee"]["bank_name"] == "中国银行"
    assert run(admin).get_json()["paid"] == [number]
    with wired.db.read() as session:
        row = session.scalars(select(ClaimPayout)).one()
        assert (row.status, row.attempts) == ("paid", 4) and row.request_no not in numbers
    payouts = wired.payouts
    assert isinstance(payouts, SimulatedPayouts) and payouts.paid_fen(good) == row.amount_fen
    assert payouts.paid_fen(card) == 0
    # Paid: the card can no longer change.
    late = lina.client.put(f"/api/v1/claims/{number}/payee", json={"card_no": new_card()},
                           headers=lina.bearer)
    assert late.status_code == 422 and late.get_json()["code"] == "payee_locked"


# ---------------------------------------------------------------- documents asked for once


def test_documents_are_asked_for_once_and_a_second_time_only_with_an_admins_reason(
    client: FlaskClient, wired: Container, clock: MovableClock
) -> None:
    from .test_claims_support import PDF_BYTES, upload

    lina = lina_in_coverage(client, wired, clock)
    reviewer = staff(client, wired)
    admin = staff(client.application.test_client(), wired, "13900000009", Role.ADMIN)
    number = submit(lina, OUTPATIENT).get_json()["claim_no"]
    asked = reviewer.client.post(
        f"/api/v1/admin/claims/{number}/decision",
        json={"decision": "request_supplement", "missing": ["门诊病历", "检验报告"]},
        headers={**reviewer.bearer, "Idempotency-Key": uuid.uuid4().hex}).get_json()
    assert asked["status"] == "supplement_requested" and asked["supplement_requests"] == 1
    assert asked["timeline"][-1]["message"] == (
        "请补充以下理赔材料：1. 门诊病历；2. 检验报告（以上为需补充的全部材料）")
    assert asked["clock"] is None  # the clock waits for the documents
    clock.advance(timedelta(days=3))
    lina = refresh(wired, lina)
    back = upload(lina, number, "病历.pdf", PDF_BYTES).get_json()["claim"]
    assert back["status"] == "under_review"
    assert back["clock"]["due_on"] == add_working_days(wired.clock.today(), 10).isoformat()

    reviewer = refresh(wired, reviewer)
    again = decide(reviewer, number, "request_supplement", "影像报告")
    assert again.status_code == 409 and again.get_json()["code"] == "supplement_limit"
    admin = refresh(wired, admin)
    no_reason = decide(admin, number, "request_supplement", "影像报告")
    assert no_reason.status_code == 409 and "填写理由" in no_reason.get_json()["message"]
    with_reason = admin.client.post(
        f"/api/v1/admin/claims/{number}/decision",
        json={"decision": "request_supplement", "missing": ["CT影像报告"],
              "supervisor_reason": "病历显示另有影像检查，核定需要"},
        headers={**admin.bearer, "Idempotency-Key": uuid.uuid4().hex})
    assert with_reason.status_code == 200, with_reason.get_json()
    with wired.db.read() as session:
        events = session.scalars(select(AuditEvent).where(
            AuditEvent.action == "claim.request_supplement").order_by(AuditEvent.id)).all()
    assert [e.details["supplement_request"] for e in events] == [1, 2]
    assert events[1].details["supervisor_reason"] == "病历显示另有影像检查，核定需要"


def test_overdue_claims_are_flagged_in_the_queue_and_counted_in_disclosure(
    client: FlaskClient, wired: Container, clock: MovableClock
) -> None:
    lina = lina_in_coverage(client, wired, clock)
    number = submit(lina, OUTPATIENT).get_json()["claim_no"]
    reviewer = staff(client, wired)
    queue = client.get("/api/v1/admin/claims", headers=reviewer.bearer).get_json()["items"]
    assert [(c["claim_no"], c["overdue"]) for c in queue] == [(number, False)]
    due = date.fromisoformat(queue[0]["decide_by"])
    clock.advance(timedelta(days=(due - wired.clock.today()).days + 1))
    reviewer = refresh(wired, reviewer)
    queue = client.get("/api/v1/admin/claims", headers=reviewer.bearer).get_json()["items"]
    assert [(c["claim_no"], c["overdue"]) for c in queue] == [(number, True)]
    lina = refresh(wired, lina)
    mine = lina.client.get(f"/api/v1/claims/{number}", headers=lina.bearer).get_json()
    assert mine["clock"]["overdue"] is True and "已超期1天" in mine["clock"]["text"]
    figures = client.get("/api/v1/disclosure/1").get_json()
    assert figures["claims"]["overdue"] == 1
    decide(reviewer, number, "approve")
    clock.advance(timedelta(minutes=10))  # the public figures are recounted every few minutes
    figures = client.get("/api/v1/disclosure/1").get_json()
    assert figures["claims"]["overdue"] == 0
    assert figures["claims"]["median_days_to_decision"] == round(
        (due - date(2027, 3, 20)).days + 1, 1)


def test_a_minors_money_goes_to_a_parent_the_registry_records(
    client: FlaskClient, wired: Container, clock: MovableClock
) -> None:
    from .enrollment_helpers import PEOPLE, sign_in
    from .test_family import _add, _buy

    zhang = sign_in(client, "张伟")
    added = _add(zhang, "张小宇", "330106201805090316", "child")
    assert added.status_code == 201, added.get_json()
    child = int(added.get_json()["person_id"])
    assert _buy(zhang, [child]).status_code == 201
    [zhang] = into_coverage(clock, wired, zhang)
    grants = FakeGrants()
    wired.grants = grants
    grants.allowed[(person_id(zhang), child)] = {Action.SUBMIT_CLAIMS}
    acting = {"X-Acting-For": str(child)}

    # Somebody the registry does not record as the child's parent is no guardian.
    stranger = submit(zhang, OUTPATIENT, headers=acting, payee={
        "kind": "guardian", "card_no": new_card(), "name": "孙丽",
        "id_number": PEOPLE["孙丽"][1]})
    assert "不是被保险人的父母" in _error(stranger, "payee.id_number")
    # The father, filing for his son, receives it as the guardian (not as "an agent").
    card = new_card()
    guardian = submit(zhang, OUTPATIENT, headers=acting, payee={
        "kind": "guardian", "card_no": card, "name": "张伟", "id_number": PEOPLE["张伟"][1]})
    assert guardian.status_code == 201, guardian.get_json()
    assert guardian.get_json()["payee"]["kind_label"] == "监护人"
    assert guardian.get_json()["payee"]["holder_name"] == "张*"
