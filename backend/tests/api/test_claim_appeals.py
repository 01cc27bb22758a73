"""Appeals of rejected claims (issue 19 item 1): once, by the claimant or an agent with the claims
scope; decided by staff of an insurer other than the one that rejected; audited; the claimant
sees the appeal and its outcome."""

from __future__ import annotations

from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import inspect, select, text
from sqlalchemy.exc import IntegrityError

from huiminbao.audit.models import AuditEvent
from huiminbao.core.clock import MovableClock
from huiminbao.core.container import Container
from huiminbao.core.migrate import downgrade_engine, upgrade_engine
from huiminbao.identity.domain import Action, Role
from huiminbao.payments import ledger

from .enrollment_helpers import enroll, product, sign_in
from .helpers import Session
from .test_claims import FakeGrants
from .test_claims_support import (
    decide,
    into_coverage,
    person_id,
    refresh,
    sms_texts,
    staff,
    submit,
)
from .test_coinsurance import GROUP, _assign, _insurers, clerk_account

REASON = "出院小结已写明为住院治疗，请重新审核"
SMALL = {"in_policy_self_pay_fen": 2_000_999, "items": []}


def appeal(session: Session, number: str, reason: str = REASON) -> Any:
    return session.client.post(f"/api/v1/claims/{number}/appeal", json={"reason": reason},
                               headers=session.bearer)


def _group(client: FlaskClient, wired: Container, admin_phone: str,
           product_id: int) -> tuple[Session, ...]:
    """The demo product under the 3-insurer group; staff of 甲 (two: a clerk and a supervisor)
    and 乙, a reviewer of no insurer, and staff of 丁, an insurer outside the group."""
    admin = staff(client, wired, admin_phone, Role.ADMIN)
    assert _insurers(admin, product_id, {"insurers": GROUP}).status_code == 200
    base = int(admin_phone[-2:]) * 10
    jia = _assign(admin, wired, f"139000{base + 1:05d}", "甲财产保险杭州分公司")
    jia_too = _assign(refresh(wired, admin), wired, f"139000{base + 2:05d}",
                      "甲财产保险杭州分公司", supervisor=True)
    yi = _assign(refresh(wired, admin), wired, f"139000{base + 3:05d}", "乙人寿保险杭州分公司")
    nobody = staff(client, wired, f"139000{base + 4:05d}")
    outsider = _assign(refresh(wired, admin), wired, f"139000{base + 5:05d}",
                       "丁健康保险杭州分公司")
    return tuple(refresh(wired, s) for s in (jia, jia_too, yi, nobody, outsider))


def _only_insurer(admin: Session) -> str:
    """The demo product's one insurer."""
    listed = admin.client.get(f"/api/v1/admin/products/{product(admin.client)['id']}/insurers",
                              headers=admin.bearer).get_json()["insurers"]
    assert len(listed) == 1
    return str(listed[0]["insurer"])


def test_an_appeal_is_decided_by_another_insurer_and_the_claimant_sees_it(
    app: Flask, client: FlaskClient, wired: Container, clock: MovableClock
) -> None:
    group = _group(client, wired, "13900000071", product(client)["id"])
    zhang = sign_in(app.test_client(), "张伟")
    assert enroll(zhang, "personal_account").status_code == 201
    zhang, jia, jia_too, yi, nobody, outsider = into_coverage(clock, wired, zhang, *group)
    claim = submit(zhang, SMALL).get_json()
    number = claim["claim_no"]
    assert claim["can_appeal"] is False and claim["appeal"] is None
    assert appeal(zhang, number).status_code == 409  # not rejected: nothing to appeal
    assert decide(jia, number, "reject", "非住院治疗").status_code == 200

    seen = zhang.client.get(f"/api/v1/claims/{number}", headers=zhang.bearer).get_json()
    assert seen["status"] == "rejected" and seen["can_appeal"] is True
    short = appeal(zhang, number, "不服")
    assert short.status_code == 422
    assert short.get_json()["errors"] == {"reason": ["请填写申诉理由（至少5个字）"]}
    filed = appeal(zhang, number)
    assert filed.status_code == 200, filed.get_json()
    body = filed.get_json()
    assert body["status"] == "appealed" and body["status_label"] == "申诉复核中"
    assert body["can_appeal"] is False
    assert body["appeal"]["state"] == "pending" and body["appeal"]["reason"] == REASON
    assert body["timeline"][-1]["message"].endswith(f"申诉理由：{REASON}")
    assert any("申诉" in text and number in text for text in sms_texts(client, "13800000001"))
    again = appeal(zhang, number)
    assert again.status_code == 409
    assert again.get_json()["message"] == "每件理赔只能申诉一次，本件已申诉过"

    queue = yi.client.get("/api/v1/admin/claims", headers=yi.bearer).get_json()
    assert number in [c["claim_no"] for c in queue["items"]]
    # Under a group the second decision is another insurer's: even a supervisor of 甲 may not.
    same = decide(jia_too, number, "approve")
    assert same.status_code == 409 and same.get_json()["code"] == "appeal_same_insurer"
    none = decide(nobody, number, "approve")
    assert none.status_code == 409 and none.get_json()["code"] == "appeal_no_insurer"
    # Another insurer, but not one of the product's group: not theirs to decide.
    foreign = decide(outsider, number, "approve")
    assert foreign.status_code == 409 and foreign.get_json()["code"] == "appeal_other_insurer"
    assert foreign.get_json()["message"] == "您的账号关联的不是本产品的承保机构，不能复核本申诉"
    supplement = decide(yi, number, "request_supplement", "请补充出院小结")
    assert supplement.status_code == 409  # an appeal is approved or upheld, nothing else
    approved = decide(yi, number, "approve")
    assert approved.status_code == 200, approved.get_json()
    assert approved.get_json()["status"] == "approved"
    assert approved.get_json()["appeal_rejected_by_insurer"] == "甲财产保险杭州分公司"
    assert approved.get_json()["second_decider"] == "another_insurer"
    payout = approved.get_json()["payout_fen"]
    assert payout > 0
    paid = decide(yi, number, "mark_paid")
    assert paid.get_json()["status"] == "paid"

    zhang = refresh(wired, zhang)
    outcome = zhang.client.get(f"/api/v1/claims/{number}", headers=zhang.bearer).get_json()
    assert outcome["appeal"]["state"] == "overturned"
    assert outcome["appeal"]["state_label"] == "申诉成立，予以赔付"
    assert outcome["appeal"]["decided_at"] is not None
    assert "appeal_rejected_by_insurer" not in outcome  # staff only
    assert "申诉成立" in outcome["timeline"][-2]["message"]
    with wired.db.read() as session:
        assert ledger.balance(session, ledger.claim_payout(person_id(zhang))) == payout
        trail = session.scalars(select(AuditEvent).where(
            AuditEvent.object_id == number,
            AuditEvent.action.in_(["claim.reject", "claim.appeal", "claim.approve"]))
            .order_by(AuditEvent.id)).all()
    assert [e.action for e in trail] == ["claim.reject", "claim.appeal", "claim.approve"]
    assert trail[1].details == {"rejected_by_insurer": "甲财产保险杭州分公司"}
    assert trail[2].details["appeal"] == {
        "rejected_by_insurer": "甲财产保险杭州分公司",
        "rejected_by_account_id": trail[0].actor_account_id,
        "decided_by_insurer": "乙人寿保险杭州分公司", "decided_by_supervisor": False,
        "insurers": [g["insurer"] for g in GROUP]}


def test_an_upheld_rejection_is_final_and_an_agent_may_appeal(
    app: Flask, client: FlaskClient, wired: Container, clock: MovableClock
) -> None:
    zhang = sign_in(app.test_client(), "张伟")
    assert enroll(zhang, "personal_account").status_code == 201
    li = sign_in(app.test_client(), "李娜")
    stranger = sign_in(app.test_client(), "周强")
    grants = FakeGrants()
    wired.grants = grants
    zhang, li, stranger = into_coverage(clock, wired, zhang, li, stranger)
    number = submit(zhang, SMALL).get_json()["claim_no"]
    admin = staff(client, wired, "13900000081", Role.ADMIN)  # an administrator: no insurer
    assert decide(admin, number, "reject", "非住院治疗").status_code == 200

    # The claim names its insured person: an agent appeals it without X-Acting-For, through
    # the grant (claims scope); without one she is a stranger (404).
    assert appeal(stranger, number).status_code == 404
    assert appeal(li, number).status_code == 404
    grants.allowed[(person_id(li), person_id(zhang))] = {Action.SUBMIT_CLAIMS}
    filed = appeal(li, number)
    assert filed.status_code == 200, filed.get_json()
    assert filed.get_json()["timeline"][-1]["by"] == "代办人"
    with wired.db.read() as session:
        event = session.scalars(select(AuditEvent).where(
            AuditEvent.action == "claim.appeal", AuditEvent.object_id == number)).one()
    assert (event.actor_account_id, event.acting_for_person_id, event.grant_id) == (
        li.me["account_id"], person_id(zhang), 4242)

    # The demo product has one insurer, and the rejection came from staff of none: a supervisor
    # of that insurer decides the appeal.
    clerk = _assign(refresh(wired, admin), wired, "13900000082", _only_insurer(admin),
                    supervisor=True)
    no_reason = decide(clerk, number, "reject")
    assert no_reason.status_code == 422
    upheld = decide(clerk, number, "reject", "住院病历显示为门诊治疗")
    assert upheld.status_code == 200, upheld.get_json()
    zhang = refresh(wired, zhang)
    seen = zhang.client.get(f"/api/v1/claims/{number}", headers=zhang.bearer).get_json()
    assert seen["status"] == "rejected" and seen["can_appeal"] is False
    assert seen["appeal"]["state"] == "upheld" and seen["appeal"]["state_label"] == "维持原决定"
    assert seen["reject_reason"] == "住院病历显示为门诊治疗"
    assert seen["timeline"][-1]["message"] == (
        "经承保机构复核主管复核，维持原决定，未予赔付。原因：住院病历显示为门诊治疗")
    refused = appeal(zhang, number)
    assert refused.status_code == 409
    assert refused.get_json()["message"] == "每件理赔只能申诉一次，本件已申诉过"
    assert decide(clerk, number, "approve").status_code == 409


def test_migration_0026_goes_down_and_up_on_sqlite_with_claims_that_have_child_rows(
    app: Flask, client: FlaskClient, wired: Container, clock: MovableClock
) -> None:
    """Claims with events and payout lines (rows that refer to ``claims``), one of them waiting
    on appeal: 0026 goes down and up again in place (no copy of ``claims``), the appeal goes
    back to its rejection, and the status CHECK follows (``appealed`` allowed only at head)."""
    assert not wired.db.is_postgresql
    reviewer = staff(client, wired, "13900000091")
    people = []
    for name in ("张伟", "李娜"):
        people.append(sign_in(app.test_client(), name))
        assert enroll(people[-1], "personal_account").status_code == 201
    zhang, li, reviewer = into_coverage(clock, wired, *people, reviewer)
    rejected = submit(zhang, SMALL).get_json()["claim_no"]
    approved = submit(li, SMALL).get_json()["claim_no"]
    assert decide(reviewer, rejected, "reject", "非住院治疗").status_code == 200
    assert appeal(zhang, rejected).status_code == 200
    assert decide(reviewer, approved, "approve").status_code == 200
    children = ("SELECT (SELECT COUNT(*) FROM claim_events), "
                "(SELECT COUNT(*) FROM claim_payout_lines)")
    with wired.db.engine.connect() as connection:
        events, lines = connection.execute(text(children)).one()
    assert events >= 5 and lines >= 1

    downgrade_engine(wired.db.engine, "0025_product_terms")
    with wired.db.engine.begin() as connection:
        columns = {c["name"] for c in inspect(connection).get_columns("claims")}
        assert "appeal_reason" not in columns
        assert connection.execute(text(children)).one() == (events, lines)
        assert connection.execute(text("SELECT status FROM claims WHERE claim_no = :no"),
                                  {"no": rejected}).scalar_one() == "rejected"
        with pytest.raises(IntegrityError), connection.begin_nested():
            connection.execute(text("UPDATE claims SET status = 'appealed'"))
        assert connection.execute(text("PRAGMA foreign_key_check")).all() == []

    upgrade_engine(wired.db.engine)
    with wired.db.engine.begin() as connection:
        assert "appeal_reason" in {c["name"] for c in inspect(connection).get_columns("claims")}
        assert connection.execute(text(children)).one() == (events, lines)
        connection.execute(text("UPDATE claims SET status = 'appealed' WHERE claim_no = :no"),
                           {"no": rejected})
        with pytest.raises(IntegrityError), connection.begin_nested():
            connection.execute(text("UPDATE claims SET status = 'bogus'"))
        assert connection.execute(text("PRAGMA integrity_check")).scalar_one() == "ok"
    # The application reads the claim again (its ORM columns are all back).
    seen = zhang.client.get(f"/api/v1/claims/{rejected}", headers=refresh(wired, zhang).bearer)
    assert seen.get_json()["status"] == "appealed"


def test_with_one_insurer_a_supervisor_of_it_makes_the_second_decision(
    app: Flask, client: FlaskClient, wired: Container, clock: MovableClock
) -> None:
    """The demo product has one insurer, so no second insurer: an appeal, and a claim above the
    contested threshold, are decided a second time by a supervisor (复核主管) of that insurer, on
    another account than the first decider's; audited."""
    admin = staff(client, wired, "13900000111", Role.ADMIN)
    insurer = _only_insurer(admin)
    product_id = product(client)["id"]
    threshold = _insurers(admin, product_id, {
        "insurers": [{"insurer": insurer, "share_bp": 10000, "lead": True}],
        "contested_claim_threshold_fen": 50_000})
    assert threshold.status_code == 200, threshold.get_json()
    clerk = _assign(refresh(wired, admin), wired, "13900000112", insurer)
    clerk_too = _assign(refresh(wired, admin), wired, "13900000113", insurer)
    boss = _assign(refresh(wired, admin), wired, "13900000114", insurer, supervisor=True)
    boss_too = _assign(refresh(wired, admin), wired, "13900000115", insurer, supervisor=True)
    stranger = _assign(refresh(wired, admin), wired, "13900000116", "乙人寿保险杭州分公司",
                       supervisor=True)
    people = []
    for name in ("张伟", "李娜"):
        people.append(sign_in(app.test_client(), name))
        assert enroll(people[-1], "personal_account").status_code == 201
    zhang, li, clerk, clerk_too, boss, boss_too, stranger = into_coverage(
        clock, wired, *people, clerk, clerk_too, boss, boss_too, stranger)

    # An appeal: the rejection was a supervisor's; another supervisor of the insurer decides.
    appealed = submit(zhang, SMALL).get_json()["claim_no"]
    assert decide(boss, appealed, "reject", "非住院治疗").status_code == 200
    assert appeal(zhang, appealed).status_code == 200
    for who, code in ((clerk_too, "appeal_not_supervisor"), (boss, "appeal_same_reviewer"),
                      (stranger, "appeal_other_insurer")):
        refused = decide(who, appealed, "approve")
        assert refused.status_code == 409 and refused.get_json()["code"] == code
        assert "复核" in refused.get_json()["message"]
    overturned = decide(boss_too, appealed, "approve")
    assert overturned.status_code == 200, overturned.get_json()
    assert overturned.get_json()["status"] == "approved"
    assert overturned.get_json()["second_decider"] == "supervisor"
    assert overturned.get_json()["timeline"][-1]["message"].startswith(
        "经承保机构复核主管复核，申诉成立。")

    # A claim above the threshold: a clerk approves first, a supervisor second.
    large = submit(li, {"in_policy_self_pay_fen": 2_123_457, "items": []}).get_json()["claim_no"]
    first = decide(clerk, large, "approve")
    assert first.get_json()["status"] == "under_review", first.get_json()
    assert first.get_json()["first_approval_insurer"] == insurer
    for who, code in ((clerk, "contested_same_reviewer"), (clerk_too, "contested_not_supervisor"),
                      (stranger, "contested_other_insurer")):
        refused = decide(who, large, "approve")
        assert refused.status_code == 409 and refused.get_json()["code"] == code
    approved = decide(boss, large, "approve")
    assert approved.status_code == 200 and approved.get_json()["status"] == "approved"
    assert approved.get_json()["payout_fen"] > 50_000

    with wired.db.read() as session:
        trail = session.scalars(select(AuditEvent).where(
            AuditEvent.object_id.in_([appealed, large]),
            AuditEvent.action.in_(["claim.first_approval", "claim.approve"]))
            .order_by(AuditEvent.id)).all()
    by_phone = {phone: clerk_account(wired, phone) for phone in
                ("13900000112", "13900000114", "13900000115")}
    assert [(e.action, e.object_id, e.actor_account_id) for e in trail] == [
        ("claim.approve", appealed, by_phone["13900000115"]),
        ("claim.first_approval", large, by_phone["13900000112"]),
        ("claim.approve", large, by_phone["13900000114"])]
    assert trail[0].details["appeal"] == {
        "rejected_by_insurer": insurer, "rejected_by_account_id": by_phone["13900000114"],
        "decided_by_insurer": insurer, "decided_by_supervisor": True, "insurers": [insurer]}
    assert trail[2].details["first_approval"]["account_id"] == by_phone["13900000112"]
