"""Proxy handling (授权办理、亲友代办): asking for a grant, the principal's confirmation by QR code,
SMS code or at the counter, acting for the principal under it, its limits, revocation and
expiry, and what the principal sees of it."""

from __future__ import annotations

import io
import json
import uuid
from datetime import timedelta
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import zxingcpp
from flask import Flask
from flask.testing import FlaskClient
from PIL import Image
from sqlalchemy import select

from huiminbao.app import create_app
from huiminbao.audit.models import AuditEvent
from huiminbao.core.clock import MovableClock
from huiminbao.core.container import Container
from huiminbao.core.ratelimit import limiter
from huiminbao.identity.domain import Role
from huiminbao.identity.services import IDENTITY_MISMATCH, create_staff
from huiminbao.proxy.models import ProxyGrant
from huiminbao.registry.port import RegistryUnavailable

from .enrollment_helpers import PEOPLE, body, sign_in
from .helpers import Session, latest_code, login

WANG_XIUYING = ("王秀英", "33010219430618052X")  # no phone at all
ZHANG_JIANGUO_ID = PEOPLE["张建国"][1]
STAFF_PHONE = "13900000001"


# ---------------------------------------------------------------- helpers (also used elsewhere)


def ask(agent: Session, name: str, id_number: str, scopes: list[str], *,
        limit: int | None = None, days: int = 365, method: str = "qr") -> Any:
    return agent.client.post("/api/v1/proxy/grants", headers=agent.bearer, json={
        "principal_name": name, "principal_id_number": id_number, "scopes": scopes,
        "pay_limit_fen": limit, "valid_days": days, "confirm_method": method})


def staff_session(app: Flask, wired: Container) -> Session:
    create_staff(wired, STAFF_PHONE, Role.COUNTER_STAFF, "窗口甲")
    return login(app.test_client(), STAFF_PHONE)


def counter_confirm(staff: Session, grant_id: int) -> Any:
    return staff.client.post(
        f"/api/v1/proxy/grants/{grant_id}/confirm", headers=staff.bearer,
        json={"counter": {"evidence": ["principal_id_card", "agent_id_card"],
                          "note": "双方本人到场"}})


def granted(app: Flask, wired: Container, agent: Session, scopes: list[str], *,
            limit: int | None = None, days: int = 365, principal: str = "张建国",
            staff: Session | None = None) -> dict[str, Any]:
    """An active grant from ``principal`` to the agent, confirmed at the counter."""
    id_number = WANG_XIUYING[1] if principal == "王秀英" else PEOPLE[principal][1]
    asked = ask(agent, principal, id_number, scopes, limit=limit, days=days, method="counter")
    assert asked.status_code == 201, asked.get_json()
    confirmed = counter_confirm(staff or staff_session(app, wired), asked.get_json()["id"])
    assert confirmed.status_code == 200, confirmed.get_json()
    assert confirmed.get_json()["status"] == "active"
    return confirmed.get_json()  # type: ignore[no-any-return]


def fresh_sign_in(wired: Container, name: str) -> Session:
    """Sign in again after the clock moved (a new app instance: the code-sending limit counts
    real time, and the old bearer token has expired by the app's clock)."""
    return sign_in(create_app(container=wired).test_client(), name)


def acting(agent: Session, grant: dict[str, Any]) -> dict[str, str]:
    return {**agent.bearer, "X-Acting-For": str(grant["principal_person_id"])}


def enroll_for(agent: Session, grant: dict[str, Any], method: str, **kwargs: Any) -> Any:
    request = body(agent.client, method, **kwargs)
    if method == "personal_account":
        with_owner_code(agent, grant, request)
    return agent.client.post(
        "/api/v1/enrollments", json=request,
        headers={**acting(agent, grant), "Idempotency-Key": uuid.uuid4().hex})


def with_owner_code(agent: Session, grant: dict[str, Any], request: dict[str, Any]) -> None:
    """The principal, as the account's owner, confirms a debit from it with the code texted to
    the phone the registry holds for them; they read it out to the agent. A request
    the rules refuse gets no code and goes on without one, to be refused as before."""
    sent = agent.client.post("/api/v1/me/payment-code", json=request,
                             headers=acting(agent, grant))
    if sent.status_code != 200:
        return
    shown = sent.get_json()["phone"]  # masked: the demo phones differ in their last digits
    owner_phone = next(phone for phone, _id in PEOPLE.values()
                       if f"{phone[:3]}****{phone[-4:]}" == shown)
    request["confirmations"]["sms_code"] = latest_code(agent.client, owner_phone)


def qr_url(agent: Session, grant_id: int) -> str:
    png = agent.client.get(f"/api/v1/proxy/grants/{grant_id}/qr.png", headers=agent.bearer)
    assert png.status_code == 200, png.get_json()
    assert png.mimetype == "image/png"
    decoded = zxingcpp.read_barcodes(Image.open(io.BytesIO(png.data)),
                                     formats=zxingcpp.BarcodeFormat.QRCode)
    assert len(decoded) == 1
    return str(decoded[0].text)


def token_of(url: str) -> str:
    parts = urlsplit(url)
    assert parts.path == "/proxy-confirm.html"
    return parse_qs(parts.query)["token"][0]


def sms_texts(client: FlaskClient, phone: str) -> list[str]:
    items = client.get(f"/api/v1/dev/sms?phone={phone}").get_json()["items"]
    return [item["text"] for item in items]


def audit_events(wired: Container, action: str) -> list[AuditEvent]:
    with wired.db.read() as session:
        return list(session.scalars(select(AuditEvent).where(AuditEvent.action == action)
                                    .order_by(AuditEvent.id)))


@pytest.fixture
def agent(app: Flask) -> Session:
    return sign_in(app.test_client(), "张伟")


@pytest.fixture
def principal(app: Flask) -> Session:
    return sign_in(app.test_client(), "张建国")


# ---------------------------------------------------------------- asking


@pytest.mark.parametrize(("changes", "field", "message"), [
    ({"scopes": []}, "scopes", "请至少选择一项代办事项"),
    ({"scopes": ["enroll", "sell_house"]}, "scopes", "包含不支持的代办事项"),
    ({"scopes": ["enroll", "pay_from_principal_account"]}, "pay_limit_fen",
     "选择使用委托人医保个人账户缴费时，请填写每年缴费限额"),
    ({"scopes": ["enroll", "pay_from_principal_account"], "pay_limit_fen": -1},
     "pay_limit_fen", "每年缴费限额应大于0且不超过¥10,000.00"),
    ({"valid_days": 367}, "valid_days", "授权期限应为1至366天（最长一年）"),
    ({"confirm_method": "telepathy"}, "confirm_method",
     "请选择确认方式：扫码确认、短信验证码或窗口现场确认"),
    ({"principal_id_number": "330102195802100459"}, "principal_id_number", None),
])
def test_asking_with_bad_terms_is_refused_in_chinese(
    agent: Session, changes: dict[str, Any], field: str, message: str | None,
) -> None:
    request = {"principal_name": "张建国", "principal_id_number": ZHANG_JIANGUO_ID,
               "scopes": ["enroll"], "pay_limit_fen": None, "valid_days": 30,
               "confirm_method": "qr", **changes}
    response = agent.client.post("/api/v1/proxy/grants", headers=agent.bearer, json=request)
    assert response.status_code == 422
    answer = response.get_json()
    assert field in answer["errors"], answer
    if message is not None:
        assert answer["errors"][field] == [message]
    assert all("\u4e00" <= ch <= "\u9fff" for ch in answer["errors"][field][0][:1])


@pytest.mark.parametrize(("name", "id_number"), [
    ("张建民", ZHANG_JIANGUO_ID),  # wrong name
    ("张建国", "110101199003070011"),  # a valid number nobody in the registry has
])
def test_a_principal_mismatch_gets_the_one_neutral_answer(
    agent: Session, wired: Container, name: str, id_number: str,
) -> None:
    response = ask(agent, name, id_number, ["enroll"])
    assert response.status_code == 422
    assert response.get_json()["code"] == "identity_mismatch"
    assert response.get_json()["message"] == IDENTITY_MISMATCH
    denied = audit_events(wired, "proxy.grant.create")
    assert denied and denied[-1].outcome == "denied"
    assert id_number not in str(denied[-1].details)


def test_the_name_is_compared_normalized(agent: Session) -> None:
    typed = ask(agent, " 张建国 ", " 330102195802100458 ", ["enroll"])
    assert typed.status_code == 201, typed.get_json()


def test_nobody_grants_to_themselves(agent: Session) -> None:
    response = ask(agent, "张伟", PEOPLE["张伟"][1], ["enroll"])
    assert response.status_code == 422
    assert response.get_json()["code"] == "self_grant"
    assert response.get_json()["message"] == "不能为本人申请代办授权"


def test_an_agent_must_be_identity_bound(app: Flask) -> None:
    unbound = login(app.test_client(), "13800000006")
    response = ask(unbound, "张建国", ZHANG_JIANGUO_ID, ["enroll"])
    assert response.status_code == 422
    assert response.get_json()["code"] == "identity_required"
    nothing = unbound.client.get("/api/v1/proxy/grants", headers=unbound.bearer).get_json()
    assert nothing == {"as_agent": [], "as_principal": []}
    anonymous = Session(app.test_client(), "", "", {})
    assert ask(anonymous, "张建国", ZHANG_JIANGUO_ID, ["enroll"]).status_code == 401


def test_one_live_grant_per_pair(agent: Session) -> None:
    first = ask(agent, "张建国", ZHANG_JIANGUO_ID, ["enroll"])
    assert first.status_code == 201
    grant = first.get_json()
    assert grant["status"] == "pending" and grant["status_label"] == "待确认"
    assert grant["principal_name"] == "张*国" and grant["agent_name"] == "张*"
    assert grant["valid_until"] is None and grant["valid_days"] == 365
    assert ZHANG_JIANGUO_ID not in str(grant)
    again = ask(agent, "张建国", ZHANG_JIANGUO_ID, ["view_policies"])
    assert again.status_code == 409
    assert again.get_json()["code"] == "grant_exists"
    # Cancelled, it makes room for a new request.
    cancelled = agent.client.delete(f"/api/v1/proxy/grants/{grant['id']}", headers=agent.bearer)
    assert cancelled.get_json()["status"] == "cancelled"
    assert ask(agent, "张建国", ZHANG_JIANGUO_ID, ["view_policies"]).status_code == 201


def test_sms_is_not_offered_for_a_principal_without_a_phone(agent: Session) -> None:
    response = ask(agent, *WANG_XIUYING, ["enroll"], method="sms")
    assert response.status_code == 422
    assert response.get_json()["code"] == "no_phone"


def grants_written(wired: Container) -> tuple[int, int]:
    """Grant rows and grant-creation audit events: what a refused request must not add."""
    with wired.db.read() as session:
        return (len(session.scalars(select(ProxyGrant)).all()),
                len(audit_events(wired, "proxy.grant.create")))


def test_paying_from_her_account_is_refused_for_a_resident_who_has_none(
    agent: Session, wired: Container,
) -> None:
    assert wired.registry.balance(WANG_XIUYING[1]) is None  # 城乡居民: no personal account
    before = grants_written(wired)
    refused = ask(agent, *WANG_XIUYING, ["enroll", "pay_from_principal_account"], limit=10000,
                  method="counter")
    assert refused.status_code == 422
    message = ("王*英没有医保个人账户（城乡居民医保不设个人账户），"
               "不能授权从其个人账户缴费，请取消勾选这一项")
    assert refused.get_json()["code"] == "no_personal_account"
    assert refused.get_json()["message"] == message
    assert refused.get_json()["errors"] == {"scopes": [message]}
    assert "王秀英" not in refused.get_data(as_text=True)
    assert grants_written(wired) == before

    # Without that box ticked she may be asked as usual; 张建国 (an employee) has an account.
    assert ask(agent, *WANG_XIUYING, ["enroll"], method="counter").status_code == 201
    father = ask(agent, "张建国", ZHANG_JIANGUO_ID, ["enroll", "pay_from_principal_account"],
                 limit=10000, method="counter")
    assert father.status_code == 201, father.get_json()
    assert "pay_from_principal_account" in father.get_json()["scopes"]


def test_a_registry_that_cannot_say_whether_there_is_an_account_writes_nothing(
    agent: Session, wired: Container, monkeypatch: pytest.MonkeyPatch,
) -> None:
    def unreachable(id_number: str) -> None:
        raise RegistryUnavailable("timeout")

    monkeypatch.setattr(wired.registry, "balance", unreachable)
    before = grants_written(wired)
    response = ask(agent, "张建国", ZHANG_JIANGUO_ID, ["enroll", "pay_from_principal_account"],
                   limit=10000, method="counter")
    assert response.status_code == 503
    assert response.headers["Retry-After"]
    assert grants_written(wired) == before
    # Not asked at all when the box is not ticked.
    assert ask(agent, "张建国", ZHANG_JIANGUO_ID, ["enroll"]).status_code == 201


def test_a_pending_request_lapses_after_seven_days(
    agent: Session, clock: MovableClock, wired: Container, app: Flask,
) -> None:
    grant = ask(agent, "张建国", ZHANG_JIANGUO_ID, ["enroll"]).get_json()
    clock.advance(timedelta(days=7, seconds=1))
    agent = fresh_sign_in(wired, "张伟")
    lists = agent.client.get("/api/v1/proxy/grants", headers=agent.bearer).get_json()
    assert [g["status"] for g in lists["as_agent"]] == ["expired"]
    assert audit_events(wired, "proxy.grant.expire")[-1].grant_id == grant["id"]
    assert ask(agent, "张建国", ZHANG_JIANGUO_ID, ["enroll"]).status_code == 201


# ---------------------------------------------------------------- confirming by QR code


def test_the_principal_confirms_by_scanning_the_agents_qr_code(
    agent: Session, principal: Session, app: Flask, wired: Container,
) -> None:
    grant = ask(agent, "张建国", ZHANG_JIANGUO_ID, ["enroll", "pay_from_principal_account"],
                limit=30000, days=365).get_json()
    url = qr_url(agent, grant["id"])
    assert url.startswith("http://localhost/proxy-confirm.html?token=")
    token = token_of(url)

    page = principal.client.get(f"/api/v1/proxy/confirmations/{token}",
                                headers=principal.bearer)
    assert page.status_code == 200, page.get_json()
    shown = page.get_json()
    assert shown["agent_name"] == "张*"
    assert [s["label"] for s in shown["scopes"]] == [
        "代为参保", "使用您的医保个人账户缴费（每年不超过¥300.00）"]
    assert shown["valid_until_label"] == "2027年11月22日"
    assert shown["summary"] == ("张*将可以代您办理：代为参保、使用您的医保个人账户缴费"
                                "（每年不超过¥300.00）。授权有效期至2027年11月22日，"
                                "您可以随时在“代办授权”中撤销。")

    # Someone else's phone (even the agent's own) cannot read or confirm it.
    stranger = sign_in(app.test_client(), "刘䶮")
    for intruder in (stranger, agent):
        seen = intruder.client.get(f"/api/v1/proxy/confirmations/{token}",
                                   headers=intruder.bearer)
        assert seen.status_code == 403
        assert seen.get_json()["code"] == "not_principal"
        assert "张" not in seen.get_json()["message"]
        tried = intruder.client.post(f"/api/v1/proxy/confirmations/{token}",
                                     headers=intruder.bearer, json={"agree": True})
        assert tried.status_code == 403
    assert agent.client.get(f"/api/v1/proxy/grants/{grant['id']}",
                            headers=agent.bearer).get_json()["status"] == "pending"

    confirmed = principal.client.post(f"/api/v1/proxy/confirmations/{token}",
                                      headers=principal.bearer, json={"agree": True})
    assert confirmed.status_code == 200, confirmed.get_json()
    assert confirmed.get_json()["status"] == "active"
    assert confirmed.get_json()["confirmed_method"] == "qr"
    assert confirmed.get_json()["role"] == "principal"

    again = principal.client.post(f"/api/v1/proxy/confirmations/{token}",
                                  headers=principal.bearer, json={"agree": True})
    assert again.status_code == 409
    mine = agent.client.get("/api/v1/proxy/grants", headers=agent.bearer).get_json()
    assert mine["as_agent"][0]["status"] == "active"
    assert mine["as_agent"][0]["valid_until"].startswith("2027-11-22")
    theirs = principal.client.get("/api/v1/proxy/grants", headers=principal.bearer).get_json()
    assert [g["id"] for g in theirs["as_principal"]] == [grant["id"]]
    assert theirs["as_agent"] == []
    confirm = audit_events(wired, "proxy.grant.confirm")[-1]
    assert confirm.outcome == "ok" and confirm.details["method"] == "qr"
    assert any("您已授权张*代您办理" in text
               for text in sms_texts(principal.client, PEOPLE["张建国"][0]))


def test_the_qr_token_lasts_ten_minutes_by_the_clock(
    agent: Session, principal: Session, clock: MovableClock,
) -> None:
    grant = ask(agent, "张建国", ZHANG_JIANGUO_ID, ["view_policies"]).get_json()
    token = token_of(qr_url(agent, grant["id"]))
    clock.advance(timedelta(minutes=10, seconds=1))
    late = principal.client.post(f"/api/v1/proxy/confirmations/{token}",
                                 headers=principal.bearer, json={"agree": True})
    assert late.status_code == 422
    assert late.get_json()["code"] == "token_expired"
    assert "二维码已过期" in late.get_json()["message"]
    tampered = principal.client.get(f"/api/v1/proxy/confirmations/{token[:-3]}abc",
                                    headers=principal.bearer)
    assert tampered.status_code == 404


def test_the_principal_may_decline(agent: Session, principal: Session) -> None:
    grant = ask(agent, "张建国", ZHANG_JIANGUO_ID, ["enroll"]).get_json()
    token = token_of(qr_url(agent, grant["id"]))
    declined = principal.client.post(f"/api/v1/proxy/confirmations/{token}",
                                     headers=principal.bearer, json={"agree": False})
    assert declined.get_json()["status"] == "cancelled"
    qr = agent.client.get(f"/api/v1/proxy/grants/{grant['id']}/qr.png", headers=agent.bearer)
    assert qr.status_code == 422


# ---------------------------------------------------------------- confirming by SMS code


def test_strangers_cannot_use_up_a_grants_sms_allowance(agent: Session, app: Flask) -> None:
    grant = ask(agent, "张建国", ZHANG_JIANGUO_ID, ["enroll"], method="sms").get_json()
    url = f"/api/v1/proxy/grants/{grant['id']}/sms"
    anonymous = app.test_client()
    stranger = sign_in(app.test_client(), "刘䶮")
    for _ in range(20):
        assert anonymous.post(url).status_code == 401
        assert stranger.client.post(url, headers=stranger.bearer).status_code == 404

    # The agent still gets the code texted; the grant's own limit then applies to the agent.
    sent = agent.client.post(url, headers=agent.bearer)
    assert sent.status_code == 200, sent.get_json()
    again = agent.client.post(url, headers=agent.bearer)
    assert again.status_code == 429

    # The refused calls were counted against their callers, not the grant.
    assert anonymous.post(url).status_code == 429
    assert stranger.client.post(url, headers=stranger.bearer).status_code == 429


def test_the_principal_reads_out_an_sms_code(
    agent: Session, app: Flask, wired: Container,
) -> None:
    phone = PEOPLE["张建国"][0]
    grant = ask(agent, "张建国", ZHANG_JIANGUO_ID, ["enroll"], method="sms").get_json()
    sent = agent.client.post(f"/api/v1/proxy/grants/{grant['id']}/sms", headers=agent.bearer)
    assert sent.status_code == 200, sent.get_json()
    assert sent.get_json()["sent_to"] == "138****0004"
    code = latest_code(agent.client, phone)
    assert "亲友申请代您办理" in sms_texts(agent.client, phone)[0]

    wrong = "000000" if code != "000000" else "111111"
    refused = agent.client.post(f"/api/v1/proxy/grants/{grant['id']}/confirm",
                                headers=agent.bearer, json={"code": wrong})
    assert refused.status_code == 422
    assert refused.get_json()["code"] == "wrong_code"
    assert agent.client.get(f"/api/v1/proxy/grants/{grant['id']}",
                            headers=agent.bearer).get_json()["status"] == "pending"

    # Only the agent enters the code; a stranger who has it gets nothing.
    stranger = sign_in(app.test_client(), "刘䶮")
    assert stranger.client.post(f"/api/v1/proxy/grants/{grant['id']}/confirm",
                                headers=stranger.bearer, json={"code": code}).status_code == 404

    confirmed = agent.client.post(f"/api/v1/proxy/grants/{grant['id']}/confirm",
                                  headers=agent.bearer, json={"code": code})
    assert confirmed.status_code == 200, confirmed.get_json()
    assert confirmed.get_json()["status"] == "active"
    assert confirmed.get_json()["confirmed_method"] == "sms"
    assert audit_events(wired, "proxy.grant.confirm")[-1].details["method"] == "sms"
    for text in sms_texts(agent.client, phone):
        assert ZHANG_JIANGUO_ID not in text


def test_confirm_needs_exactly_one_way(agent: Session) -> None:
    grant = ask(agent, "张建国", ZHANG_JIANGUO_ID, ["enroll"]).get_json()
    for payload in ({}, {"code": "123456", "counter": {"evidence": ["agent_id_card"]}}):
        response = agent.client.post(f"/api/v1/proxy/grants/{grant['id']}/confirm",
                                     headers=agent.bearer, json=payload)
        assert response.status_code == 422


# ---------------------------------------------------------------- confirming at the counter


def test_counter_staff_confirm_for_a_principal_without_a_phone(
    agent: Session, app: Flask, wired: Container,
) -> None:
    grant = ask(agent, *WANG_XIUYING, ["enroll", "claims_view"], method="counter").get_json()
    counter_body = {"counter": {"evidence": ["household_register", "agent_id_card"],
                                "note": "户口簿核验母子关系"}}

    # A resident (even the agent) cannot confirm at the counter or look grants up.
    refused = agent.client.post(f"/api/v1/proxy/grants/{grant['id']}/confirm",
                                headers=agent.bearer, json=counter_body)
    assert refused.status_code == 403
    lookup = f"/api/v1/admin/proxy/grants?principal_id_number={WANG_XIUYING[1]}"
    assert agent.client.get(lookup, headers=agent.bearer).status_code == 403

    staff = staff_session(app, wired)
    found = staff.client.get(lookup, headers=staff.bearer)
    assert found.status_code == 200, found.get_json()
    items = found.get_json()["items"]
    assert [(i["id"], i["status"], i["principal_name"], i["agent_name"]) for i in items] == [
        (grant["id"], "pending", "王*英", "张*")]
    assert items[0]["principal_id_number"] == "3****************X"
    assert WANG_XIUYING[1] not in found.get_data(as_text=True)
    assert audit_events(wired, "proxy.counter_lookup")

    too_little = staff.client.post(f"/api/v1/proxy/grants/{grant['id']}/confirm",
                                   headers=staff.bearer,
                                   json={"counter": {"evidence": ["household_register"]}})
    assert too_little.status_code == 422
    assert too_little.get_json()["message"] == "请核验代办人的身份证"

    confirmed = staff.client.post(f"/api/v1/proxy/grants/{grant['id']}/confirm",
                                  headers=staff.bearer, json=counter_body)
    assert confirmed.status_code == 200, confirmed.get_json()
    view = confirmed.get_json()
    assert view["status"] == "active" and view["confirmed_method"] == "counter"
    assert [e["label"] for e in view["evidence"]] == ["户口簿", "代办人身份证"]
    assert view["counter_note"] == "户口簿核验母子关系"
    event = audit_events(wired, "proxy.grant.confirm")[-1]
    assert event.actor_role == "counter_staff"
    assert event.details["evidence"] == ["household_register", "agent_id_card"]
    assert event.subject_person_id == grant["principal_person_id"]


# ---------------------------------------------------------------- acting for the principal


def test_zhang_wei_enrolls_his_father_paying_from_his_fathers_account(
    agent: Session, principal: Session, app: Flask, wired: Container,
) -> None:
    grant = granted(app, wired, agent, ["enroll", "pay_from_principal_account"], limit=30000)
    before = wired.registry.balance(ZHANG_JIANGUO_ID)
    agents_own = wired.registry.balance(PEOPLE["张伟"][1])
    assert before is not None and agents_own is not None

    sheet = agent.client.post("/api/v1/enrollments/preview", headers=acting(agent, grant),
                              json=body(agent.client, "personal_account"))
    assert sheet.status_code == 200, sheet.get_json()
    assert sheet.get_json()["account"]["holder"] == "张*国"
    assert [line["name"] for line in sheet.get_json()["lines"]] == ["张*国"]

    order = enroll_for(agent, grant, "personal_account")
    assert order.status_code == 201, order.get_json()
    assert order.get_json()["status"] == "issued"
    after = wired.registry.balance(ZHANG_JIANGUO_ID)
    assert after is not None and after.prior_years_fen == before.prior_years_fen - 15000
    assert wired.registry.balance(PEOPLE["张伟"][1]) == agents_own  # not the agent's money

    # The principal sees the policy as his own, and is told by SMS who did it.
    policies = principal.client.get("/api/v1/policies", headers=principal.bearer).get_json()
    assert len(policies["items"]) == 1
    texts = sms_texts(principal.client, PEOPLE["张建国"][0])
    notice = next(text for text in texts if "已代您办理" in text)
    assert "张*已代您办理" in notice and "¥150.00" in notice and "医保个人账户" in notice
    assert ZHANG_JIANGUO_ID not in notice

    # The audit log names agent, principal and grant for the order.
    created = audit_events(wired, "order.create")[-1]
    assert created.actor_account_id == agent.me["account_id"]
    assert created.acting_for_person_id == grant["principal_person_id"]
    assert created.grant_id == grant["id"]
    acts = audit_events(wired, "proxy.act")
    assert {(a.grant_id, a.subject_person_id, a.details["endpoint"]) for a in acts} >= {
        (grant["id"], grant["principal_person_id"], "enrollment.EnrollmentPreview"),
        (grant["id"], grant["principal_person_id"], "enrollment.Enrollments")}

    # The grant shows what is used of the limit.
    mine = agent.client.get("/api/v1/proxy/grants", headers=agent.bearer).get_json()
    assert mine["as_agent"][0]["paid_this_year_fen"] == 15000
    assert mine["as_agent"][0]["pay_remaining_fen"] == 15000

    # ... and the principal's activity page lists the acts, agent masked.
    activity = principal.client.get("/api/v1/me/proxy-activity", headers=principal.bearer)
    assert activity.status_code == 200
    items = activity.get_json()["items"]
    labels = [item["action_label"] for item in items]
    assert {"办理参保", "提交参保订单", "缴费成功并出单", "查看参保确认单"} <= set(labels)
    assert "确认代办授权（窗口现场确认）" in labels
    assert all(item["agent_name"] == "张*" for item in items)
    paid = next(item for item in items if item["action"] == "order.paid")
    assert paid["object"] == f"订单 {order.get_json()['order_no']}"
    assert paid["amount_fen"] == 15000 and paid["by"] == "agent"
    # Read a page at a time: the same acts, newest first, the total in X-Pagination.
    total = json.loads(activity.headers["X-Pagination"])["total"]
    assert total == len(items) >= 5
    halves = [principal.client.get(f"/api/v1/me/proxy-activity?page={n}&page_size=3",
                                   headers=principal.bearer) for n in (1, 2)]
    assert [i for half in halves for i in half.get_json()["items"]] == items[:6]
    assert json.loads(halves[1].headers["X-Pagination"])["total"] == total
    # The agent's own activity page has none of it (he is nobody's principal).
    assert agent.client.get("/api/v1/me/proxy-activity",
                            headers=agent.bearer).get_json()["items"] == []


def test_a_payment_over_the_limit_is_refused(
    agent: Session, app: Flask, wired: Container,
) -> None:
    grant = granted(app, wired, agent, ["enroll", "pay_from_principal_account"], limit=10000)
    for path in ("/api/v1/enrollments/preview", "/api/v1/enrollments"):
        response = agent.client.post(path, json=body(agent.client, "personal_account"),
                                     headers={**acting(agent, grant),
                                              "Idempotency-Key": uuid.uuid4().hex})
        assert response.status_code == 422
        assert response.get_json()["code"] == "proxy_pay_limit"
        assert response.get_json()["message"] == "超出授权的缴费额度：本年度剩余¥100.00"
    balance = wired.registry.balance(ZHANG_JIANGUO_ID)
    assert balance is not None and balance.prior_years_fen == 300000


def test_paying_from_the_principals_account_needs_its_own_scope(
    agent: Session, app: Flask, wired: Container,
) -> None:
    grant = granted(app, wired, agent, ["enroll"])
    refused = enroll_for(agent, grant, "personal_account")
    assert refused.status_code == 403
    assert refused.get_json()["code"] == "pay_not_authorized"
    # Paying online needs only `enroll`.
    online = enroll_for(agent, grant, "online")
    assert online.status_code == 201, online.get_json()
    assert online.get_json()["pay_url"]


def test_revoking_stops_the_very_next_request(
    agent: Session, principal: Session, app: Flask, wired: Container,
) -> None:
    grant = granted(app, wired, agent, ["view_policies"])
    headers = acting(agent, grant)
    assert agent.client.get("/api/v1/policies", headers=headers).status_code == 200
    revoked = principal.client.delete(f"/api/v1/proxy/grants/{grant['id']}",
                                      headers=principal.bearer)
    assert revoked.status_code == 200
    assert revoked.get_json()["status"] == "revoked"
    refused = agent.client.get("/api/v1/policies", headers=headers)
    assert refused.status_code == 403
    assert refused.get_json()["code"] == "not_authorized"
    event = audit_events(wired, "proxy.grant.revoke")[-1]
    assert event.details["by"] == "principal" and event.grant_id == grant["id"]
    # Strangers cannot revoke (or see) it; revoking twice changes nothing.
    stranger = sign_in(app.test_client(), "刘䶮")
    assert stranger.client.delete(f"/api/v1/proxy/grants/{grant['id']}",
                                  headers=stranger.bearer).status_code == 404
    twice = agent.client.delete(f"/api/v1/proxy/grants/{grant['id']}", headers=agent.bearer)
    assert twice.get_json()["status"] == "revoked"
    assert len(audit_events(wired, "proxy.grant.revoke")) == 1


def test_an_expired_grant_stops_acting(
    agent: Session, app: Flask, wired: Container, clock: MovableClock,
) -> None:
    grant = granted(app, wired, agent, ["view_policies"], days=1)
    assert agent.client.get("/api/v1/policies", headers=acting(agent, grant)).status_code == 200
    clock.advance(timedelta(days=1, seconds=1))
    agent = fresh_sign_in(wired, "张伟")
    refused = agent.client.get("/api/v1/policies", headers=acting(agent, grant))
    assert refused.status_code == 403
    shown = agent.client.get(f"/api/v1/proxy/grants/{grant['id']}", headers=agent.bearer)
    assert shown.get_json()["status"] == "expired"
    assert audit_events(wired, "proxy.grant.expire")[-1].details["from"] == "active"


def test_a_pending_grant_allows_nothing(agent: Session) -> None:
    grant = ask(agent, "张建国", ZHANG_JIANGUO_ID, ["view_policies", "enroll"]).get_json()
    refused = agent.client.get("/api/v1/policies", headers=acting(agent, grant))
    assert refused.status_code == 403


def test_the_wrong_scope_allows_nothing_else(
    agent: Session, app: Flask, wired: Container,
) -> None:
    grant = granted(app, wired, agent, ["view_policies"])
    assert agent.client.get("/api/v1/policies", headers=acting(agent, grant)).status_code == 200
    preview = agent.client.post("/api/v1/enrollments/preview", headers=acting(agent, grant),
                                json=body(agent.client, "online"))
    assert preview.status_code == 403
    enrolled = enroll_for(agent, grant, "online")
    assert enrolled.status_code == 403
    # Nor does a grant open endpoints that take no X-Acting-For (the family list, the account).
    for path in ("/api/v1/me/family", "/api/v1/me/account"):
        assert agent.client.get(path, headers=acting(agent, grant)).status_code == 403


def test_the_agent_enrolls_a_principal_without_a_phone_and_follows_her_claims(
    agent: Session, app: Flask, wired: Container,
) -> None:
    """王秀英: confirmed at the counter, enrolled online by her son; no SMS can reach her, the
    activity page and the counter still show it."""
    grant = granted(app, wired, agent, ["enroll", "claims_view"], principal="王秀英")
    order = enroll_for(agent, grant, "online")
    assert order.status_code == 201, order.get_json()
    claims = agent.client.get("/api/v1/claims", headers=acting(agent, grant))
    assert claims.status_code == 200, claims.get_json()
    assert agent.client.get("/api/v1/policies", headers=acting(agent, grant)).status_code == 403


def test_the_limit_counts_this_years_payments_and_a_refund_gives_room_back(
    agent: Session, principal: Session, app: Flask, wired: Container,
) -> None:
    added = principal.client.post("/api/v1/me/family", headers=principal.bearer, json={
        "name": WANG_XIUYING[0], "id_number": WANG_XIUYING[1], "relation": "spouse"})
    assert added.status_code == 201, added.get_json()
    for_wang = body(agent.client, "personal_account")
    for_wang["insured"] = [{"person_id": added.get_json()["person_id"], "tier": "standard"}]

    def pay_for_wang() -> Any:
        with_owner_code(agent, grant, for_wang)
        return agent.client.post("/api/v1/enrollments", json=for_wang, headers={
            **acting(agent, grant), "Idempotency-Key": uuid.uuid4().hex})

    grant = granted(app, wired, agent, ["enroll", "pay_from_principal_account"], limit=20000)
    first = enroll_for(agent, grant, "personal_account")
    assert first.status_code == 201, first.get_json()
    second = pay_for_wang()
    assert second.status_code == 422
    assert second.get_json()["message"] == "超出授权的缴费额度：本年度剩余¥50.00"

    # Cancelling is the holder's own act: the grant does not reach it (without view_policies
    # the agent cannot even see the policy).
    policy_no = first.get_json()["policies"][0]["policy_no"]
    by_agent = agent.client.post(f"/api/v1/policies/{policy_no}/cancel",
                                 headers={**agent.bearer, "Idempotency-Key": uuid.uuid4().hex})
    assert by_agent.status_code == 404
    cancelled = principal.client.post(
        f"/api/v1/policies/{policy_no}/cancel",
        headers={**principal.bearer, "Idempotency-Key": uuid.uuid4().hex})
    assert cancelled.status_code == 200, cancelled.get_json()
    shown = agent.client.get(f"/api/v1/proxy/grants/{grant['id']}", headers=agent.bearer)
    assert shown.get_json()["paid_this_year_fen"] == 0
    limiter.reset()  # a second debit code within the minute (the limit counts real time)
    assert pay_for_wang().status_code == 201
