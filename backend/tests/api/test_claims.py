"""Online claims through the API: submit, documents, review, payment; look-up with the timeline
and breakdown; the estimator; agents acting for the insured; staff-only endpoints."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime

import pytest
from flask.testing import FlaskClient
from sqlalchemy import select
from sqlalchemy.orm import Session as DbSession

from huiminbao.audit.models import AuditEvent
from huiminbao.claims import services
from huiminbao.claims.services import check_books
from huiminbao.core.clock import MovableClock
from huiminbao.core.container import Container
from huiminbao.identity.domain import Action, Role
from huiminbao.payments import ledger

from .helpers import login
from .test_claims_support import (
    PDF_BYTES,
    PNG_BYTES,
    SECOND_CLAIM,
    WORKED_EXAMPLE,
    decide,
    enrolled,
    hospital,
    id_number,
    image_bytes,
    into_coverage,
    person_id,
    settle,
    settlement_body,
    sms_texts,
    staff,
    submit,
    upload,
)

ZHANG_PHONE = "13800000001"


# ---------------------------------------------------------------- the online journey


def test_online_claim_supplement_upload_approve_and_pay(
    client: FlaskClient, wired: Container, clock: MovableClock
) -> None:
    zhang = enrolled(client)
    [zhang] = into_coverage(clock, wired, zhang)
    reviewer = staff(client, wired)

    response = submit(zhang, WORKED_EXAMPLE, key="zw-claim-0001")
    assert response.status_code == 201, response.get_json()
    claim = response.get_json()
    number = claim["claim_no"]
    assert claim["status"] == "submitted" and claim["status_label"] == "已提交"
    assert claim["breakdown"] is None and claim["can_upload"] is True
    assert claim["insured_name"] == "张*" and claim["insured_id_number"] == "3****************0"
    replay = submit(zhang, WORKED_EXAMPLE, key="zw-claim-0001")
    assert replay.get_json() == claim and replay.headers["Idempotency-Replayed"] == "true"

    # The reviewer sees it in the queue, with what approving now would pay.
    queue = client.get("/api/v1/admin/claims", headers=reviewer.bearer).get_json()["items"]
    assert [c["claim_no"] for c in queue] == [number]
    review = client.get(f"/api/v1/admin/claims/{number}", headers=reviewer.bearer).get_json()
    assert review["breakdown_is_estimate"] is True
    assert review["breakdown"]["total_fen"] == 1_150_000

    asked = decide(reviewer, number, "request_supplement", "请上传住院费用明细清单")
    assert asked.status_code == 200, asked.get_json()
    assert asked.get_json()["status"] == "supplement_requested"
    assert sms_texts(client, ZHANG_PHONE)[0].endswith(
        f"您的理赔申请（编号{number}）需要补充材料：请登录查看")

    uploaded = upload(zhang, number, "费用清单.pdf", PDF_BYTES)
    assert uploaded.status_code == 201, uploaded.get_json()
    assert uploaded.get_json()["claim"]["status"] == "under_review"
    document = uploaded.get_json()["document"]
    assert document["filename"] == "费用清单.pdf" and document["content_type"] == "application/pdf"

    approved = decide(reviewer, number, "approve")
    assert approved.status_code == 200, approved.get_json()
    assert approved.get_json()["status"] == "approved"
    assert approved.get_json()["payout_fen"] == 1_150_000
    with wired.db.read() as session:
        assert ledger.balance(session, ledger.claim_payout(person_id(zhang))) == 0  # not yet

    paid = decide(reviewer, number, "mark_paid")
    assert paid.status_code == 200, paid.get_json()
    with wired.db.read() as session:
        assert ledger.balance(session, ledger.claim_payout(person_id(zhang))) == 1_150_000
    assert check_books(wired) == []

    detail = client.get(f"/api/v1/claims/{number}", headers=zhang.bearer).get_json()
    assert detail["status"] == "paid" and detail["status_label"] == "已赔付"
    assert [entry["status"] for entry in detail["timeline"]] == [
        "submitted", "under_review", "supplement_requested", "under_review", "approved", "paid"]
    assert detail["timeline"][2]["message"] == "请补充以下理赔材料：请上传住院费用明细清单"
    assert detail["timeline"][2]["by"] == "保险公司"
    assert "actor_account_id" not in detail["timeline"][2] or (
        detail["timeline"][2]["actor_account_id"] is None)
    assert detail["breakdown"]["summary"] == [
        "医保范围内合规费用 ¥30,000.00，扣除免赔额 ¥20,000.00 后按 75% 赔付 ¥7,500.00",
        "医保范围外合理费用 ¥10,000.00，全部计入年度免赔额（本年度免赔额尚余 ¥10,000.00），"
        "本次赔付 ¥0.00",
        "特定药品费用 ¥5,000.00，按 80% 赔付 ¥4,000.00",
        "合计赔付 ¥11,500.00",
    ]
    assert detail["can_upload"] is False
    assert "不是基本医疗保险" in detail["notice"]
    texts = sms_texts(client, ZHANG_PHONE)
    assert "¥11,500.00已支付" in texts[0]
    assert all(id_number("张伟") not in text for text in texts)

    # Closed: nothing more to upload, no second payment.
    assert upload(zhang, number, "b.pdf", PDF_BYTES).get_json()["code"] == "claim_closed"
    again = decide(reviewer, number, "mark_paid")
    assert again.status_code == 409 and again.get_json()["code"] == "invalid_transition"
    assert "已赔付" in again.get_json()["message"]


def test_a_rejection_needs_a_reason_and_tells_the_claimant(
    client: FlaskClient, wired: Container, clock: MovableClock
) -> None:
    zhang = enrolled(client)
    [zhang] = into_coverage(clock, wired, zhang)
    reviewer = staff(client, wired)
    number = submit(zhang, WORKED_EXAMPLE).get_json()["claim_no"]
    missing = decide(reviewer, number, "reject", "  ")
    assert missing.status_code == 422 and missing.get_json()["message"] == "请填写拒赔原因"
    refused = decide(reviewer, number, "reject", "所附发票非本次住院发票")
    assert refused.get_json()["status"] == "rejected"
    assert refused.get_json()["reject_reason"] == "所附发票非本次住院发票"
    detail = client.get(f"/api/v1/claims/{number}", headers=zhang.bearer).get_json()
    assert detail["status_label"] == "未予赔付"
    assert detail["timeline"][-1]["message"] == (
        "经审核，您的理赔申请未予赔付。原因：所附发票非本次住院发票")
    assert "审核未通过" in sms_texts(client, ZHANG_PHONE)[0]
    assert decide(reviewer, number, "approve").status_code == 409


def test_approval_order_decides_who_uses_the_deductible(
    client: FlaskClient, wired: Container, clock: MovableClock
) -> None:
    zhang = enrolled(client)
    [zhang] = into_coverage(clock, wired, zhang)
    reviewer = staff(client, wired)
    later = submit(zhang, SECOND_CLAIM).get_json()["claim_no"]
    earlier = submit(zhang, WORKED_EXAMPLE).get_json()["claim_no"]
    # Submitted first, approved second: the second approval gets what is left.
    assert decide(reviewer, earlier, "approve").get_json()["payout_fen"] == 1_150_000
    assert decide(reviewer, later, "approve").get_json()["payout_fen"] == 950_000
    # A rejected claim uses nothing.
    third = submit(zhang, {"in_policy_self_pay_fen": 100_000, "items": []}).get_json()["claim_no"]
    decide(reviewer, third, "reject", "重复申请")
    fourth = submit(zhang, {"in_policy_self_pay_fen": 100_000, "items": []}).get_json()
    assert decide(reviewer, fourth["claim_no"], "approve").get_json()["payout_fen"] == 75_000


def test_a_stay_outside_the_coverage_period_is_refused(
    client: FlaskClient, wired: Container, clock: MovableClock
) -> None:
    zhang = enrolled(client)
    [zhang] = into_coverage(clock, wired, zhang)
    early = submit(zhang, WORKED_EXAMPLE, admitted_on="2027-01-01", discharged_on="2027-01-10")
    assert early.status_code == 422 and early.get_json()["code"] == "stay_not_covered"
    assert "保障期" in early.get_json()["message"]
    future = submit(zhang, WORKED_EXAMPLE, admitted_on="2027-03-19", discharged_on="2027-03-25")
    assert future.status_code == 422
    backwards = submit(zhang, WORKED_EXAMPLE, admitted_on="2027-03-10",
                       discharged_on="2027-03-01")
    assert backwards.status_code == 422
    assert backwards.get_json()["errors"]["discharged_on"] == ["出院日期不能早于入院日期"]
    nothing = submit(zhang, {"in_policy_self_pay_fen": 0, "items": []})
    assert nothing.status_code == 422


def test_without_a_policy_there_is_nothing_to_claim(client: FlaskClient) -> None:
    from .enrollment_helpers import sign_in

    li = sign_in(client, "李娜")
    response = submit(li, WORKED_EXAMPLE, admitted_on="2026-11-01", discharged_on="2026-11-10")
    assert response.status_code == 422 and response.get_json()["code"] == "no_policy"


# ---------------------------------------------------------------- documents


def test_a_pdf_name_with_other_content_is_refused_in_chinese(
    client: FlaskClient, wired: Container, clock: MovableClock
) -> None:
    zhang = enrolled(client)
    [zhang] = into_coverage(clock, wired, zhang)
    number = submit(zhang, WORKED_EXAMPLE).get_json()["claim_no"]
    fake = upload(zhang, number, "发票.pdf", b"MZ\x90\x00\x03 this is an executable")
    assert fake.status_code == 422
    body = fake.get_json()
    assert body["code"] == "unacceptable_document"
    assert "不是有效的 PDF 文件" in body["message"]
    assert body["errors"]["file"] == [body["message"]]
    mismatch = upload(zhang, number, "photo.pdf", PNG_BYTES)
    assert mismatch.status_code == 422 and "扩展名与内容不符" in mismatch.get_json()["message"]
    # A real PNG with a web page behind it: judged whole, not by its first bytes.
    polyglot = upload(zhang, number, "发票.png", PNG_BYTES + b"<html><script>x()</script>")
    assert polyglot.status_code == 422 and "不是完整的 PNG 文件" in polyglot.get_json()["message"]
    detail = client.get(f"/api/v1/claims/{number}", headers=zhang.bearer).get_json()
    assert detail["documents"] == []
    root = wired.documents.root / "claims"  # type: ignore[attr-defined]
    assert not root.exists() or [p for p in root.rglob("*") if p.is_file()] == []


def test_documents_are_downloaded_by_the_claimant_and_staff_only(
    client: FlaskClient, wired: Container, clock: MovableClock, app  # type: ignore[no-untyped-def]
) -> None:
    zhang = enrolled(client)
    [zhang] = into_coverage(clock, wired, zhang)
    number = submit(zhang, WORKED_EXAMPLE).get_json()["claim_no"]
    document = upload(zhang, number, "出院小结.png", PNG_BYTES).get_json()["document"]
    mine = client.get(document["url"], headers=zhang.bearer)
    assert mine.status_code == 200 and mine.data == PNG_BYTES
    assert mine.headers["Content-Type"] == "image/png"
    assert mine.headers["Cache-Control"] == "private, no-store"
    assert "filename*=UTF-8''" in mine.headers["Content-Disposition"]

    reviewer = staff(app.test_client(), wired)
    assert reviewer.client.get(document["url"], headers=reviewer.bearer).data == PNG_BYTES
    review = reviewer.client.get(f"/api/v1/admin/claims/{number}",
                                 headers=reviewer.bearer).get_json()
    assert [d["id"] for d in review["documents"]] == [document["id"]]
    with wired.db.read() as session:
        reads = session.scalars(select(AuditEvent).where(
            AuditEvent.action == "claim.document_read")).all()
    assert [event.actor_account_id for event in reads] == [reviewer.me["account_id"]]

    stranger = login(app.test_client(), "13800000006")
    hidden = stranger.client.get(document["url"], headers=stranger.bearer)
    assert hidden.status_code == 404
    ghost = stranger.client.get(f"/api/v1/claims/{number}/documents/999999",
                                headers=stranger.bearer)
    assert ghost.get_json()["code"] == hidden.get_json()["code"]


# ---------------------------------------------------------------- look-up and the estimator


def test_the_estimator_equals_the_settlement(
    client: FlaskClient, wired: Container, clock: MovableClock
) -> None:
    zhang = enrolled(client)
    [zhang] = into_coverage(clock, wired, zhang)
    issued = hospital(wired)
    for figures, expected in ((WORKED_EXAMPLE, 1_150_000), (SECOND_CLAIM, 950_000)):
        estimate = client.post("/api/v1/claims/estimate", headers=zhang.bearer, json=figures)
        assert estimate.status_code == 200, estimate.get_json()
        settled = settle(client, wired, issued, settlement_body("张伟", figures)).get_json()
        assert estimate.get_json()["payout_fen"] == settled["payout_fen"] == expected
        assert estimate.get_json()["breakdown"] == settled["breakdown"]
    after = client.post("/api/v1/claims/estimate", headers=zhang.bearer,
                        json=SECOND_CLAIM).get_json()
    assert after["used_before"]["compliant"] == {"deductible_used_fen": 2_000_000,
                                                 "paid_fen": 1_350_000}
    assert "仅供参考" in after["notice"]


def test_the_estimator_works_before_buying(client: FlaskClient) -> None:
    from .enrollment_helpers import product, sign_in

    li = sign_in(client, "李娜")
    item = product(client)
    answer = client.post("/api/v1/claims/estimate", headers=li.bearer, json={
        **WORKED_EXAMPLE, "product_id": item["id"], "tier": "premium"})
    assert answer.status_code == 200, answer.get_json()
    # 升级版: (30,000 − 10,000) × 85 % + 0 + 5,000 × 85 % = 17,000 + 4,250
    assert answer.get_json()["payout_fen"] == 2_125_000
    assert answer.get_json()["policy_no"] is None
    nothing = client.post("/api/v1/claims/estimate", headers=li.bearer, json=WORKED_EXAMPLE)
    assert nothing.status_code == 422 and nothing.get_json()["code"] == "no_policy"


def test_product_item_lists_are_public(client: FlaskClient) -> None:
    from .enrollment_helpers import product

    lists = client.get(f"/api/v1/products/{product(client)['id']}/claim-items").get_json()
    assert {"kind": "special_drug", "code": "TY001", "name": "信迪利单抗注射液"} in (
        lists["special_drugs"])
    assert {i["code"] for i in lists["reasonable_items"]} >= {"HL001", "HL002", "HL003"}
    assert client.get("/api/v1/products/99999/claim-items").status_code == 404


# ---------------------------------------------------------------- agents


@dataclass
class FakeGrants:
    """Grants as (agent person, principal person) -> the actions they allow."""

    allowed: dict[tuple[int, int], set[Action]] = field(default_factory=dict)

    def active_grant_id(self, session: DbSession, agent_person_id: int,
                        principal_person_id: int, action: Action, now: datetime) -> int | None:
        actions = self.allowed.get((agent_person_id, principal_person_id), set())
        return 4242 if action in actions else None


def test_an_agent_submits_and_follows_claims_for_the_principal(
    client: FlaskClient, wired: Container, clock: MovableClock, app  # type: ignore[no-untyped-def]
) -> None:
    from .enrollment_helpers import sign_in

    zhang = enrolled(client)
    li = sign_in(app.test_client(), "李娜")
    grants = FakeGrants()
    wired.grants = grants
    [zhang, li] = into_coverage(clock, wired, zhang, li)
    acting = {"X-Acting-For": str(person_id(zhang))}

    refused = submit(li, WORKED_EXAMPLE, headers=acting)
    assert refused.status_code == 403

    grants.allowed[(person_id(li), person_id(zhang))] = {Action.SUBMIT_CLAIMS}
    submitted = submit(li, WORKED_EXAMPLE, headers=acting)
    assert submitted.status_code == 201, submitted.get_json()
    number = submitted.get_json()["claim_no"]
    assert submitted.get_json()["timeline"][0]["by"] == "代办人"
    assert upload(li, number, "发票.jpg", image_bytes("JPEG")).status_code == 201
    # Submitting is not viewing: without claims_view she cannot list or read them.
    assert li.client.get("/api/v1/claims", headers={**li.bearer, **acting}).status_code == 403
    assert li.client.get(f"/api/v1/claims/{number}", headers=li.bearer).status_code == 404

    grants.allowed[(person_id(li), person_id(zhang))] |= {Action.VIEW_CLAIMS}
    listed = li.client.get("/api/v1/claims", headers={**li.bearer, **acting}).get_json()
    assert [c["claim_no"] for c in listed["items"]] == [number]
    assert li.client.get("/api/v1/claims", headers=li.bearer).get_json()["items"] == []
    assert li.client.get(f"/api/v1/claims/{number}", headers=li.bearer).status_code == 200
    with wired.db.read() as session:
        event = session.scalars(select(AuditEvent).where(
            AuditEvent.action == "claim.submit")).one()
    assert (event.actor_account_id, event.acting_for_person_id, event.grant_id) == (
        li.me["account_id"], person_id(zhang), 4242)


# ---------------------------------------------------------------- staff only

STAFF_ENDPOINTS = [
    ("GET", "/api/v1/admin/claims", None),
    ("GET", "/api/v1/admin/claims/LP2027032000000000", None),
    ("POST", "/api/v1/admin/claims/LP2027032000000000/decision", {"decision": "approve"}),
]


@pytest.mark.parametrize(("method", "path", "body"), STAFF_ENDPOINTS,
                         ids=[f"{m} {p}" for m, p, _b in STAFF_ENDPOINTS])
def test_staff_endpoints_are_for_insurer_staff_and_administrators(
    app, wired: Container, method: str, path: str, body: dict[str, str] | None  # type: ignore[no-untyped-def]
) -> None:
    headers = {"Idempotency-Key": "staff-only-0001"}
    anonymous = app.test_client().open(path, method=method, json=body, headers=headers)
    assert anonymous.status_code == 401
    resident = login(app.test_client(), "13800000001")
    assert resident.client.open(path, method=method, json=body,
                                headers={**resident.bearer, **headers}).status_code == 403
    counter = staff(app.test_client(), wired, "13900000002", Role.COUNTER_STAFF)
    assert counter.client.open(path, method=method, json=body,
                               headers={**counter.bearer, **headers}).status_code == 403
    for phone, role in (("13900000003", Role.INSURER_STAFF), ("13900000004", Role.ADMIN)):
        member = staff(app.test_client(), wired, phone, role)
        answer = member.client.open(path, method=method, json=body,
                                    headers={**member.bearer, **headers})
        assert answer.status_code in {200, 404}, answer.get_json()


# ---------------------------------------------------------------- a retry after a crash


class ProcessKilled(BaseException):
    """A process killed mid-request: no cleanup runs, the key is left as the crash left it."""


def test_a_claim_written_before_a_crash_is_the_answer_to_its_retry_not_a_second_claim(
    client: FlaskClient, wired: Container, clock: MovableClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The first attempt wrote the claim and died before answering; once its key's
    lease has ended, a retry with the same key answers with that claim (never files another,
    which could be paid twice), and so does the next one."""
    from datetime import timedelta

    from huiminbao.claims import services as claims
    from huiminbao.claims.models import Claim

    zhang = enrolled(client)
    [zhang] = into_coverage(clock, wired, zhang)
    key = "zw-claim-killed-0001"

    def die(*_args: object, **_kwargs: object) -> None:
        raise ProcessKilled

    with monkeypatch.context() as patched:
        patched.setattr(claims, "load_details", die)
        with pytest.raises(ProcessKilled):
            submit(zhang, WORKED_EXAMPLE, key=key)
    clock.advance(timedelta(seconds=wired.settings.idempotency_lease_seconds + 1))
    retried = submit(zhang, WORKED_EXAMPLE, key=key)
    assert retried.status_code == 201, retried.get_json()
    assert retried.headers["Idempotency-Replayed"] == "true"
    again = submit(zhang, WORKED_EXAMPLE, key=key)
    assert (again.status_code, again.get_json()) == (201, retried.get_json())
    with wired.db.read() as session:
        numbers = session.scalars(select(Claim.claim_no).where(
            Claim.insured_person_id == person_id(zhang))).all()
    assert numbers == [retried.get_json()["claim_no"]]


def test_a_claim_takes_a_bounded_number_and_size_of_documents(
    client: FlaskClient, wired: Container, clock: MovableClock,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(services, "MAX_DOCUMENTS_PER_CLAIM", 2)
    zhang = enrolled(client)
    [zhang] = into_coverage(clock, wired, zhang)
    number = submit(zhang, WORKED_EXAMPLE).get_json()["claim_no"]
    assert upload(zhang, number, "1.png", PNG_BYTES).status_code == 201
    assert upload(zhang, number, "2.pdf", PDF_BYTES).status_code == 201
    third = upload(zhang, number, "3.png", PNG_BYTES)
    assert third.status_code == 422
    assert third.get_json()["code"] == "too_many_documents"
    assert "最多上传 2 份材料" in third.get_json()["message"]

    monkeypatch.setattr(services, "MAX_DOCUMENTS_PER_CLAIM", 30)
    monkeypatch.setattr(services, "MAX_CLAIM_DOCUMENT_BYTES", len(PNG_BYTES) + len(PDF_BYTES) + 10)
    large = upload(zhang, number, "4.png", PNG_BYTES)
    assert large.status_code == 422 and large.get_json()["code"] == "claim_documents_too_large"
    detail = client.get(f"/api/v1/claims/{number}", headers=zhang.bearer).get_json()
    assert len(detail["documents"]) == 2  # nothing of the refused ones was kept
    files = [p for p in (wired.documents.root / "claims").rglob("*")  # type: ignore[attr-defined]
             if p.is_file()]
    assert len(files) == 2


def test_the_review_queue_is_read_a_page_at_a_time(
    client: FlaskClient, wired: Container, clock: MovableClock
) -> None:
    people = [enrolled(client, name) for name in ("张伟", "李娜")]
    people = into_coverage(clock, wired, *people)
    reviewer = staff(client, wired)
    numbers = [submit(person, WORKED_EXAMPLE, key=f"page-claim-{n:04d}").get_json()["claim_no"]
               for n, person in enumerate(people)]
    pages = [client.get(f"/api/v1/admin/claims?page={page}&page_size=1",
                        headers=reviewer.bearer) for page in (1, 2)]
    assert [c["claim_no"] for p in pages for c in p.get_json()["items"]] == numbers  # oldest first
    assert [json.loads(p.headers["X-Pagination"])["total"] for p in pages] == [2, 2]
    assert client.get("/api/v1/admin/claims?page=3&page_size=1",
                      headers=reviewer.bearer).get_json()["items"] == []
    assert client.get("/api/v1/admin/claims?page=0",
                      headers=reviewer.bearer).status_code == 422
