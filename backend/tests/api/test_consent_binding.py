"""Consent that binds: withdrawing a consent stops every purpose that depends
on it, through the API, with a Chinese message saying what stopped and how to resume; giving it
again resumes it; issued policies stay readable. Also the data export (PIPL Art. 45) and the
deletion request (Art. 47)."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from huiminbao.audit.consents import CONSENT_TEXTS, ConsentKind
from huiminbao.audit.models import AuditEvent
from huiminbao.core.clock import MovableClock
from huiminbao.core.container import Container
from huiminbao.enrollment import renewal
from huiminbao.identity.agreements import AGREEMENT_TEXTS, AgreementDocument
from huiminbao.identity.consent_rules import PURPOSES, Party, Purpose, needed
from huiminbao.identity.models import UserAccount

from .enrollment_helpers import PEOPLE, body, enroll, sign_in
from .helpers import Session
from .test_claims_support import WORKED_EXAMPLE, into_coverage, submit
from .test_proxy import ask, granted
from .test_renewal import _next_year_product

P, S = ConsentKind.PERSONAL_INFO, ConsentKind.SENSITIVE_INFO

# What each purpose needs of the person whose consent the scenario withdraws: written out here
# so the table in consent_rules cannot drift without this test noticing.
EXPECTED_STOPPED_BY: dict[Purpose, frozenset[ConsentKind]] = {
    Purpose.ACCOUNT_VIEW: frozenset({P, S}),
    Purpose.ENROLL: frozenset({P}),
    Purpose.ACCOUNT_DEBIT: frozenset({P, S}),
    Purpose.FAMILY: frozenset({P}),
    Purpose.PROXY_GRANTS: frozenset({P}),
    Purpose.ACT_FOR: frozenset({P}),
    Purpose.CLAIMS_NEW: frozenset({P, S}),
    Purpose.AUTO_RENEW: frozenset({P, S}),
}


@dataclass
class Scenario:
    holder: Session  # whose consent is withdrawn
    parties: tuple[Party, ...]  # the holder's part in the purpose
    attempt: Callable[[], Any]
    ok_status: int
    other_party: str | None = None  # masked name in the message when the holder is not the caller


def _preview(session: Session, method: str) -> Any:
    return session.client.post("/api/v1/enrollments/preview", headers=session.bearer,
                               json=body(session.client, method))


def _scenario(purpose: Purpose, app: Flask, client: FlaskClient, wired: Container,
              clock: MovableClock) -> Scenario:
    own = (Party.OPERATOR, Party.PRINCIPAL)
    if purpose is Purpose.ACCOUNT_VIEW:
        zhang = sign_in(client, "张伟")
        return Scenario(zhang, own, lambda: client.get("/api/v1/me/account",
                                                      headers=zhang.bearer), 200)
    if purpose is Purpose.ENROLL:
        zhang = sign_in(client, "张伟")
        return Scenario(zhang, own, lambda: _preview(zhang, "online"), 200)
    if purpose is Purpose.ACCOUNT_DEBIT:
        zhang = sign_in(client, "张伟")
        return Scenario(zhang, own, lambda: _preview(zhang, "personal_account"), 200)
    if purpose is Purpose.FAMILY:
        zhang = sign_in(client, "张伟")
        return Scenario(zhang, own, lambda: client.post(
            "/api/v1/me/family", headers=zhang.bearer,
            json={"name": "李娜", "id_number": PEOPLE["李娜"][1], "relation": "spouse"}), 201)
    if purpose is Purpose.PROXY_GRANTS:
        zhang = sign_in(client, "张伟")
        return Scenario(zhang, (Party.OPERATOR,), lambda: ask(
            zhang, "张建国", PEOPLE["张建国"][1], ["enroll"]), 201)
    if purpose is Purpose.ACT_FOR:
        elder = sign_in(app.test_client(), "张建国")
        zhang = sign_in(client, "张伟")
        grant = granted(app, wired, zhang, ["view_policies"])
        headers = {**zhang.bearer, "X-Acting-For": str(grant["principal_person_id"])}
        return Scenario(elder, (Party.PRINCIPAL,),
                        lambda: client.get("/api/v1/policies", headers=headers), 200,
                        other_party="张*国")
    if purpose is Purpose.CLAIMS_NEW:
        zhang = sign_in(client, "张伟")
        assert enroll(zhang, "personal_account").status_code == 201
        [zhang] = into_coverage(clock, wired, zhang)
        return Scenario(zhang, own, lambda: submit(zhang, WORKED_EXAMPLE), 201)
    assert purpose is Purpose.AUTO_RENEW
    zhang = sign_in(client, "张伟")
    policy_no = enroll(zhang, "personal_account").get_json()["policies"][0]["policy_no"]
    version = client.get("/api/v1/auto-renew-consent").get_json()["version"]
    return Scenario(zhang, own, lambda: client.put(
        f"/api/v1/policies/{policy_no}/auto-renew", headers=zhang.bearer,
        json={"enabled": True, "consent_version": version}), 200)


def _withdraw(session: Session, kind: ConsentKind) -> None:
    response = session.client.delete(f"/api/v1/me/consents/{kind.value}", headers=session.bearer)
    assert response.status_code == 204, response.get_json()


def _grant(session: Session, kind: ConsentKind) -> None:
    response = session.client.put(f"/api/v1/me/consents/{kind.value}", headers=session.bearer,
                                  json={"version": CONSENT_TEXTS[kind].version})
    assert response.status_code == 204, response.get_json()


def test_the_expected_table_is_the_rule_table() -> None:
    assert set(EXPECTED_STOPPED_BY) == set(Purpose) == set(PURPOSES)


@pytest.mark.parametrize("kind", list(ConsentKind), ids=lambda k: k.value)
@pytest.mark.parametrize("purpose", list(Purpose), ids=lambda p: p.value)
def test_withdrawing_a_consent_stops_each_dependent_purpose_and_giving_it_again_resumes(
    app: Flask, client: FlaskClient, wired: Container, clock: MovableClock,
    purpose: Purpose, kind: ConsentKind,
) -> None:
    scenario = _scenario(purpose, app, client, wired, clock)
    stops = kind in EXPECTED_STOPPED_BY[purpose]
    assert stops == (kind in needed(purpose, scenario.parties))
    _withdraw(scenario.holder, kind)

    response = scenario.attempt()
    if stops:
        assert response.status_code == 422, response.get_json()
        answer = response.get_json()
        assert answer["code"] == "consent_withdrawn"
        assert set(answer) >= {"code", "message", "errors", "request_id"}
        message = answer["message"]
        assert f"《{CONSENT_TEXTS[kind].title}》" in message
        assert purpose.label in message and "已暂停" in message
        assert "我的-授权与同意" in message
        if scenario.other_party:
            assert message.startswith(f"{scenario.other_party}已撤回") and "本人" in message
        else:
            assert message.startswith("您已撤回")
        with wired.db.read() as session:
            blocked = session.scalars(select(AuditEvent).where(
                AuditEvent.action == "consent.blocked")).all()
        assert len(blocked) == 1
        assert purpose.value in {blocked[0].details["purpose"], *blocked[0].details["also"]}
        assert blocked[0].outcome == "denied"
        _grant(scenario.holder, kind)
        response = scenario.attempt()
    assert response.status_code == scenario.ok_status, response.get_json()


def test_issued_policies_stay_valid_and_readable_after_withdrawal(client: FlaskClient) -> None:
    zhang = sign_in(client, "张伟")
    issued = enroll(zhang, "personal_account")
    assert issued.status_code == 201, issued.get_json()
    policy_no = issued.get_json()["policies"][0]["policy_no"]
    _withdraw(zhang, S)
    _withdraw(zhang, P)

    listed = client.get("/api/v1/policies", headers=zhang.bearer)
    assert listed.status_code == 200
    assert [p["policy_no"] for p in listed.get_json()["items"]] == [policy_no]
    one = client.get(f"/api/v1/policies/{policy_no}", headers=zhang.bearer)
    assert one.status_code == 200 and one.get_json()["status"] == "active"
    assert client.get(f"/api/v1/policies/{policy_no}/qr.png",
                      headers=zhang.bearer).status_code == 200
    # ... while a new enrollment is stopped.
    again = _preview(zhang, "online")
    assert again.get_json()["code"] == "consent_withdrawn"


def test_a_withdrawn_consent_stops_the_renewal_debit(
    client: FlaskClient, wired: Container, clock: MovableClock
) -> None:
    zhang = sign_in(client, "张伟")
    policy_no = enroll(zhang, "personal_account").get_json()["policies"][0]["policy_no"]
    version = client.get("/api/v1/auto-renew-consent").get_json()["version"]
    turned_on = client.put(f"/api/v1/policies/{policy_no}/auto-renew", headers=zhang.bearer,
                           json={"enabled": True, "consent_version": version})
    assert turned_on.status_code == 200, turned_on.get_json()
    next_id = _next_year_product(wired)
    assert renewal.notify(wired, next_id).notified == 1
    _withdraw(zhang, S)
    before = wired.registry.balance(PEOPLE["张伟"][1])
    clock.advance(timedelta(days=400))
    counts = renewal.run(wired, next_id)
    assert counts.skipped == 1 and counts.renewed == 0
    assert wired.registry.balance(PEOPLE["张伟"][1]) == before


def test_no_renewal_notice_goes_to_a_payer_who_withdrew(
    client: FlaskClient, wired: Container
) -> None:
    zhang = sign_in(client, "张伟")
    policy_no = enroll(zhang, "personal_account").get_json()["policies"][0]["policy_no"]
    version = client.get("/api/v1/auto-renew-consent").get_json()["version"]
    client.put(f"/api/v1/policies/{policy_no}/auto-renew", headers=zhang.bearer,
               json={"enabled": True, "consent_version": version})
    _withdraw(zhang, P)
    counts = renewal.notify(wired, _next_year_product(wired))
    assert (counts.notified, counts.skipped) == (0, 1)


def test_consent_texts_say_what_withdrawal_stops(client: FlaskClient) -> None:
    items = {item["kind"]: item for item in client.get("/api/v1/consent-texts").get_json()["items"]}
    assert "查询医保个人账户余额和收支记录" in items["sensitive_info"]["stops"]
    assert "在线参保投保" not in items["sensitive_info"]["stops"]
    assert "在线参保投保" in items["personal_info"]["stops"]


# ---------------------------------------------------------------- export (PIPL Art. 45)


def _export(session: Session, **params: Any) -> Any:
    return session.client.get("/api/v1/me/data-export", headers=session.bearer,
                              query_string=params)


def test_the_export_lists_the_persons_data_and_the_audit_trail_about_them(
    app: Flask, client: FlaskClient, wired: Container
) -> None:
    zhang = sign_in(client, "张伟")
    order = enroll(zhang, "personal_account")
    assert order.status_code == 201, order.get_json()
    policy_no = order.get_json()["policies"][0]["policy_no"]
    family = client.post("/api/v1/me/family", headers=zhang.bearer, json={
        "name": "李娜", "id_number": PEOPLE["李娜"][1], "relation": "spouse"})
    assert family.status_code == 201, family.get_json()
    filed = client.post("/api/v1/complaints", headers=zhang.bearer,
                        json={"category": "payment", "content": "缴费后短信没有收到，请核查。"})
    assert filed.status_code == 201, filed.get_json()
    elder = sign_in(app.test_client(), "张建国")
    grant = granted(app, wired, zhang, ["view_policies"])
    # A stranger tries to act for 张伟 and is refused: the attempt is his to see.
    stranger = sign_in(app.test_client(), "刘䶮")
    tried = stranger.client.get("/api/v1/policies", headers={
        **stranger.bearer, "X-Acting-For": str(zhang.me["identity"]["person_id"])})
    assert tried.status_code == 403

    response = _export(zhang)
    assert response.status_code == 200, response.get_json()
    data = response.get_json()
    assert data["identity"]["bound"] is True and data["identity"]["name"] == "张*"
    assert data["identity"]["id_number"] == "3****************0"
    assert data["account"]["phone"] == "138****0001"
    # The user agreement and privacy policy accepted at the first login, once each.
    assert sorted((a["document"], a["title"], a["version"]) for a in data["agreements"]) == [
        ("privacy_policy", "隐私政策", AGREEMENT_TEXTS[AgreementDocument.PRIVACY_POLICY].version),
        ("user_agreement", "用户协议", AGREEMENT_TEXTS[AgreementDocument.USER_AGREEMENT].version)]
    assert all(a["accepted_at"] for a in data["agreements"])
    assert {(c["kind"], c["text_version"]) for c in data["consents"]} == {
        (kind.value, text.version) for kind, text in CONSENT_TEXTS.items()}
    assert all(c["granted_at"] for c in data["consents"])
    assert [p["policy_no"] for p in data["policies"]] == [policy_no]
    assert data["policies"][0]["insured"] == "本人"
    assert [o["order_no"] for o in data["orders"]] == [order.get_json()["order_no"]]
    assert [m["name"] for m in data["family_members"]] == ["李*"]
    assert [c["complaint_no"] for c in data["complaints"]] == [filed.get_json()["complaint_no"]]
    assert data["proxy_grants"]["given"] == []
    assert [(g["id"], g["principal"]) for g in data["proxy_grants"]["received"]] == [
        (grant["id"], "张*国")]
    trail = data["audit_trail"]
    denied = [e for e in trail if e["outcome"] == "denied"]
    assert len(denied) == 1 and denied[0]["action"].startswith("access.")
    assert denied[0]["by"] == "其他用户（刘*）" and denied[0]["about_me"] is True
    actions = {e["action"] for e in trail}
    assert {"agreement.accept", "identity.bind", "consent.grant", "order.create", "family.add",
            "complaint.file", "proxy.grant.create"} <= actions
    # Masked throughout: no full ID number or phone of anyone.
    raw = response.get_data(as_text=True)
    for name in ("张伟", "李娜", "张建国", "刘䶮"):
        phone, id_number = PEOPLE[name]
        assert phone not in raw and id_number not in raw

    # The principal sees the grant they gave, and the agent's acts under it.
    given = _export(elder).get_json()["proxy_grants"]
    assert [(g["id"], g["agent"]) for g in given["given"]] == [(grant["id"], "张*")]

    # The export itself is recorded.
    with wired.db.read() as session:
        exports = session.scalars(select(AuditEvent).where(
            AuditEvent.action == "data.export")).all()
    assert [e.actor_account_id for e in exports] == [zhang.me["account_id"],
                                                     elder.me["account_id"]]


def test_the_export_downloads_as_a_file_and_is_rate_limited(
    app: Flask, client: FlaskClient
) -> None:
    zhang = sign_in(client, "张伟")
    download = _export(zhang, download="true")
    assert download.status_code == 200
    assert download.headers["Content-Disposition"].startswith("attachment;")
    assert download.headers["Cache-Control"] == "no-store"
    assert json.loads(download.get_data(as_text=True))["identity"]["name"] == "张*"
    statuses = [_export(zhang).status_code for _ in range(12)]
    assert statuses.count(200) == 9 and statuses[-1] == 429
    assert app.test_client().get("/api/v1/me/data-export").status_code == 401


# ---------------------------------------------------------------- deletion (PIPL Art. 47)


def test_deletion_explains_what_is_kept_closes_the_account_and_keeps_the_policy(
    app: Flask, client: FlaskClient, wired: Container
) -> None:
    zhang = sign_in(client, "张伟")
    policy_no = enroll(zhang, "personal_account").get_json()["policies"][0]["policy_no"]
    grant = granted(app, wired, zhang, ["view_policies"])
    plan = client.get("/api/v1/me/deletion", headers=zhang.bearer).get_json()
    assert plan["allowed"] is True and plan["blockers"] == []
    assert any("保险法" in line for line in plan["kept"])
    assert any("会计档案" in line for line in plan["kept"])

    refused = client.post("/api/v1/me/deletion", headers=zhang.bearer, json={"confirm": False})
    assert refused.status_code == 422
    done = client.post("/api/v1/me/deletion", headers=zhang.bearer, json={"confirm": True})
    assert done.status_code == 200, done.get_json()

    # Signed out everywhere; the account no longer names the person or the phone.
    assert client.get("/api/v1/me", headers=zhang.bearer).status_code == 401
    with wired.db.read() as session:
        account = session.get(UserAccount, zhang.me["account_id"])
        assert account is not None
        assert account.person_id is None and account.phone != PEOPLE["张伟"][0]
        deleted = session.scalars(select(AuditEvent).where(
            AuditEvent.action == "account.delete")).one()
        assert deleted.subject_person_id == zhang.me["identity"]["person_id"]
        assert grant["id"] in deleted.details["ended_grants"]
    # The policy is kept (insurance law) and still verifiable; the grant has ended.
    with wired.db.read() as session:
        from huiminbao.enrollment.models import Policy
        from huiminbao.proxy.models import ProxyGrant

        assert session.scalars(select(Policy.status).where(
            Policy.policy_no == policy_no)).one() == "active"
        assert session.get(ProxyGrant, grant["id"]).status == "revoked"  # type: ignore[union-attr]



def test_deletion_waits_for_business_under_way(client: FlaskClient) -> None:
    li = sign_in(client, "李娜")
    pending = client.post("/api/v1/enrollments", json=body(client, "online"), headers={
        **li.bearer, "Idempotency-Key": uuid.uuid4().hex})
    assert pending.status_code == 201, pending.get_json()
    plan = client.get("/api/v1/me/deletion", headers=li.bearer).get_json()
    assert plan["allowed"] is False and "待支付的订单" in plan["blockers"][0]
    refused = client.post("/api/v1/me/deletion", headers=li.bearer, json={"confirm": True})
    assert refused.status_code == 422 and refused.get_json()["code"] == "deletion_blocked"
    assert client.get("/api/v1/me", headers=li.bearer).status_code == 200

