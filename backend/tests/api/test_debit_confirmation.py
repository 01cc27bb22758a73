"""Every personal-account debit is confirmed by the account's owner. Within 10
minutes of a login whose phone passed the registry's contact check the confirm sheet is enough;
otherwise a code goes to the phone the registry holds for the owner (never shown in full), and
its text names the amount and the insured (masked)."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

from flask import Flask
from flask.testing import FlaskClient

from huiminbao.core.clock import MovableClock
from huiminbao.core.container import Container

from .enrollment_helpers import PEOPLE, body, enroll, payment_code, sign_in
from .helpers import CURRENT_CONSENTS, Session, latest_code, login
from .test_proxy import acting, granted

ZHANG_PHONE, ZHANG_ID = PEOPLE["张伟"]


def _texts(client: FlaskClient, phone: str) -> list[str]:
    return [item["text"] for item in
            client.get(f"/api/v1/dev/sms?phone={phone}").get_json()["items"]]


def _preview(session: Session, headers: dict[str, str] | None = None,
             **kwargs: Any) -> dict[str, Any]:
    response = session.client.post("/api/v1/enrollments/preview",
                                   json=body(session.client, "personal_account", **kwargs),
                                   headers=headers or session.bearer)
    assert response.status_code == 200, response.get_json()
    return response.get_json()  # type: ignore[no-any-return]


def _face_verified(app: Flask, phone: str, name: str, id_number: str) -> Session:
    """The owner on a phone the registry does not hold, verified by the face-check simulator."""
    session = login(app.test_client(), phone)
    ticket = session.client.post("/api/v1/me/identity/check", headers=session.bearer, json={
        "name": name, "id_number": id_number}).get_json()["ticket"]
    bound = session.client.post("/api/v1/me/identity", headers=session.bearer, json={
        "name": name, "id_number": id_number, "consents": CURRENT_CONSENTS,
        "check_ticket": ticket})
    assert bound.status_code == 200, bound.get_json()
    assert bound.get_json()["identity"]["verified_by"] == "identity_check"
    return session


def test_within_ten_minutes_of_a_contact_checked_login_the_sheet_is_enough(
        client: FlaskClient, clock: MovableClock) -> None:
    zhang = sign_in(client, "张伟")  # his login phone is the registry's
    clock.advance(timedelta(minutes=9))
    sheet = _preview(zhang)
    assert sheet["needs_sms_code"] is False and sheet["sms_code_phone"] is None
    done = enroll(zhang, "personal_account")
    assert done.status_code == 201, done.get_json()
    assert not any("验证码" in text and "个人账户支付" in text
                   for text in _texts(client, ZHANG_PHONE))


def test_after_ten_minutes_the_owner_gets_a_code_naming_amount_and_insured(
        client: FlaskClient, clock: MovableClock) -> None:
    zhang = sign_in(client, "张伟")
    clock.advance(timedelta(minutes=11))
    client.delete_cookie("hmb_session")
    sheet = _preview(zhang)
    assert sheet["needs_sms_code"] is True and sheet["sms_code_phone"] == "138****0001"
    sent = payment_code(zhang)
    assert sent.status_code == 200, sent.get_json()
    assert sent.get_json()["phone"] == "138****0001"
    text = next(t for t in _texts(client, ZHANG_PHONE) if "个人账户支付" in t)
    assert "¥150.00" in text and "被保险人：张*" in text and ZHANG_ID not in text
    code = latest_code(client, ZHANG_PHONE)
    # A code for one debit does not confirm another (the amount changed with the tier).
    other_tier = enroll(zhang, "personal_account", "premium", sms_code=code)
    assert other_tier.status_code == 422
    assert other_tier.get_json()["code"] == "code_expired"
    ok = enroll(zhang, "personal_account", sms_code=code)
    assert ok.status_code == 201, ok.get_json()


def test_a_face_verified_owner_on_another_phone_confirms_on_the_registry_phone(
        app: Flask) -> None:
    login_phone = "139" + f"{uuid.uuid4().int % 10**8:08d}"
    owner = _face_verified(app, login_phone, "张伟", ZHANG_ID)
    sheet = _preview(owner)  # signed in a moment ago, but not with the registry's phone
    assert sheet["needs_sms_code"] is True and sheet["sms_code_phone"] == "138****0001"
    refused = enroll(owner, "personal_account")
    assert refused.status_code == 422 and refused.get_json()["code"] == "sms_code_required"
    sent = payment_code(owner)
    assert sent.status_code == 200 and sent.get_json()["phone"] == "138****0001"
    assert ZHANG_PHONE not in sent.get_data(as_text=True)
    assert not any("个人账户支付" in text for text in _texts(owner.client, login_phone))
    code = latest_code(owner.client, ZHANG_PHONE)
    ok = enroll(owner, "personal_account", sms_code=code)
    assert ok.status_code == 201, ok.get_json()


def test_an_agent_paying_from_the_principals_account_needs_the_principals_code(
        app: Flask, wired: Container) -> None:
    agent = sign_in(app.test_client(), "张伟")
    grant = granted(app, wired, agent, ["enroll", "pay_from_principal_account"], limit=30000)
    father_phone = PEOPLE["张建国"][0]
    sheet = _preview(agent, acting(agent, grant))
    assert sheet["needs_sms_code"] is True and sheet["sms_code_phone"] == "138****0004"
    request = body(agent.client, "personal_account")
    no_code = agent.client.post("/api/v1/enrollments", json=request, headers={
        **acting(agent, grant), "Idempotency-Key": uuid.uuid4().hex})
    assert no_code.status_code == 422 and no_code.get_json()["code"] == "sms_code_required"
    sent = agent.client.post("/api/v1/me/payment-code", json=request,
                             headers=acting(agent, grant))
    assert sent.status_code == 200, sent.get_json()
    assert sent.get_json()["phone"] == "138****0004"
    text = next(t for t in _texts(agent.client, father_phone) if "个人账户支付" in t)
    assert "¥150.00" in text and "被保险人：张*国" in text
    request["confirmations"]["sms_code"] = latest_code(agent.client, father_phone)
    paid = agent.client.post("/api/v1/enrollments", json=request, headers={
        **acting(agent, grant), "Idempotency-Key": uuid.uuid4().hex})
    assert paid.status_code == 201, paid.get_json()
    balance = wired.registry.balance(PEOPLE["张建国"][1])
    assert balance is not None and balance.prior_years_fen == 300000 - 15000


def test_an_unverified_agent_cannot_pay_from_a_principals_account(
        app: Flask, wired: Container) -> None:
    agent = sign_in(app.test_client(), "张伟")
    grant = granted(app, wired, agent, ["enroll", "pay_from_principal_account"], limit=30000)
    with wired.db.transaction() as session:
        from huiminbao.identity.models import UserAccount

        account = session.get(UserAccount, agent.me["account_id"])
        assert account is not None
        account.binding_verified_by = None  # e.g. a binding made before bindings were verified
    refused = agent.client.post("/api/v1/enrollments/preview", headers=acting(agent, grant),
                                json=body(agent.client, "personal_account"))
    assert refused.status_code == 403 and refused.get_json()["code"] == "identity_unverified"
