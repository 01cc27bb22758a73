"""SMS login, sessions, bearer tokens, CSRF and logout."""

from __future__ import annotations

import base64
import json
from datetime import timedelta

import pytest
from flask.testing import FlaskClient
from joserfc import jwt
from joserfc.jwk import OctKey
from sqlalchemy import func, select

from huiminbao.core.clock import MovableClock
from huiminbao.core.ratelimit import limiter
from huiminbao.identity.agreements import current_versions as _agreed
from huiminbao.identity.models import AgreementAcceptance, UserAccount
from huiminbao.identity.sms import UnsafeSmsText, check_sms_text

from .helpers import latest_code, login

PHONE = "13900000101"


def _login_with(client: FlaskClient, code: str, phone: str = PHONE):  # type: ignore[no-untyped-def]
    return client.post("/api/v1/auth/login", json={"phone": phone, "code": code,
                                                    "agreements": _agreed()})


def test_code_is_six_digits_and_texted_without_personal_data(client: FlaskClient) -> None:
    response = client.post("/api/v1/auth/otp", json={"phone": PHONE})
    assert response.status_code == 200
    assert response.get_json()["phone"] == "139****0101"
    text = client.get(f"/api/v1/dev/sms?phone={PHONE}").get_json()["items"][0]["text"]
    assert text.startswith("【西湖益联保】")
    assert len(latest_code(client, PHONE)) == 6


def test_bad_phone_gets_a_chinese_field_error(client: FlaskClient) -> None:
    response = client.post("/api/v1/auth/otp", json={"phone": "1380000"})
    assert response.status_code == 422
    assert response.get_json()["errors"] == {"phone": ["请输入11位手机号码"]}
    missing = client.post("/api/v1/auth/otp", json={}).get_json()
    assert missing["errors"] == {"phone": ["此项为必填项"]}


def test_first_login_creates_the_account(client: FlaskClient) -> None:
    session = login(client, PHONE)
    assert session.me["phone"] == "139****0101"
    assert session.me["role"] == "resident"
    assert session.me["identity"]["bound"] is False


def test_a_code_works_once(client: FlaskClient) -> None:
    client.post("/api/v1/auth/otp", json={"phone": PHONE})
    code = latest_code(client, PHONE)
    assert _login_with(client, code).status_code == 200
    reused = _login_with(client, code)
    assert reused.status_code == 422
    assert reused.get_json()["message"] == "验证码已失效，请重新获取"
    assert reused.get_json()["code"] == "code_expired"


def test_a_code_expires_after_five_minutes(client: FlaskClient, clock: MovableClock) -> None:
    client.post("/api/v1/auth/otp", json={"phone": PHONE})
    code = latest_code(client, PHONE)
    clock.advance(timedelta(minutes=5, seconds=1))
    expired = _login_with(client, code)
    assert expired.status_code == 422
    assert expired.get_json()["message"] == "验证码已失效，请重新获取"


def test_the_sixth_wrong_attempt_voids_the_code(client: FlaskClient) -> None:
    client.post("/api/v1/auth/otp", json={"phone": PHONE})
    code = latest_code(client, PHONE)
    wrong = "000000" if code != "000000" else "111111"
    for _ in range(5):
        refused = _login_with(client, wrong)
        assert refused.status_code == 422
        # Wrong, not expired: the same code may be typed again (resend is still locked).
        assert refused.get_json()["message"] == "验证码不正确，请核对后重新输入"
        assert refused.get_json()["code"] == "wrong_code"
    assert _login_with(client, code).status_code == 200  # five wrong tries leave it usable

    client2_phone = "13900000102"
    client.post("/api/v1/auth/otp", json={"phone": client2_phone})
    code = latest_code(client, client2_phone)
    for _ in range(5):
        assert _login_with(client, wrong, client2_phone).status_code == 422
    sixth = _login_with(client, wrong, client2_phone)
    assert sixth.get_json()["message"] == "验证码已失效，请重新获取"
    voided = _login_with(client, code, client2_phone)
    assert voided.status_code == 422
    assert voided.get_json()["message"] == "验证码已失效，请重新获取"
    assert voided.get_json()["code"] == "code_expired"


def test_a_new_code_voids_the_previous_one(client: FlaskClient, clock: MovableClock) -> None:
    client.post("/api/v1/auth/otp", json={"phone": PHONE})
    first = latest_code(client, PHONE)
    # The send limit counts real seconds; a second app instance has its own in-process limits.
    from huiminbao.app import create_app

    other = create_app(container=client.application.extensions["huiminbao"]).test_client()
    other.post("/api/v1/auth/otp", json={"phone": PHONE})
    second = latest_code(client, PHONE)
    if first != second:
        assert _login_with(client, first).status_code == 422
    assert _login_with(client, second).status_code == 200


def test_sending_is_throttled_per_phone_with_a_chinese_429(client: FlaskClient) -> None:
    assert client.post("/api/v1/auth/otp", json={"phone": PHONE}).status_code == 200
    throttled = client.post("/api/v1/auth/otp", json={"phone": PHONE})
    assert throttled.status_code == 429
    body = throttled.get_json()
    assert body["code"] == "too_many_requests"
    assert body["message"].startswith("操作过于频繁")
    assert 0 < int(throttled.headers["Retry-After"]) <= 60
    # Another phone is not affected.
    assert client.post("/api/v1/auth/otp", json={"phone": "13900000199"}).status_code == 200


def test_sending_is_throttled_per_client_address(client: FlaskClient) -> None:
    statuses = [
        client.post("/api/v1/auth/otp", json={"phone": f"137{n:08d}"}).status_code
        for n in range(31)
    ]
    assert statuses[:30] == [200] * 30
    assert statuses[30] == 429


def test_sms_texts_never_carry_an_id_number() -> None:
    with pytest.raises(UnsafeSmsText):
        check_sms_text("您的身份证330106198803150130已绑定")
    check_sms_text("您的登录验证码为123456")


# ---------------------------------------------------------------- cookie and CSRF


def test_login_sets_an_httponly_lax_cookie_and_a_csrf_cookie(client: FlaskClient) -> None:
    client.post("/api/v1/auth/otp", json={"phone": PHONE})
    response = _login_with(client, latest_code(client, PHONE))
    cookies = {c.split("=", 1)[0]: c for c in response.headers.getlist("Set-Cookie")}
    assert "HttpOnly" in cookies["hmb_session"]
    assert "SameSite=Lax" in cookies["hmb_session"]
    assert "HttpOnly" not in cookies["hmb_csrf"]


def test_cookie_requests_that_change_things_need_the_csrf_token(client: FlaskClient) -> None:
    session = login(client, PHONE)
    assert client.get("/api/v1/me").status_code == 200  # safe method: cookie alone is enough
    missing = client.put("/api/v1/me/preferences", json={"elderly_mode": True})
    assert missing.status_code == 403
    assert missing.get_json()["message"] == "页面已过期，请刷新后重试"
    wrong = client.put("/api/v1/me/preferences", json={"elderly_mode": True},
                       headers={"X-CSRF-Token": "not-the-token"})
    assert wrong.status_code == 403
    right = client.put("/api/v1/me/preferences", json={"elderly_mode": True},
                       headers={"X-CSRF-Token": session.csrf})
    assert right.status_code == 200
    assert right.get_json()["elderly_mode"] is True


def test_a_near_miss_or_non_ascii_csrf_token_is_refused_not_a_server_error(
    client: FlaskClient,
) -> None:
    session = login(client, PHONE)
    for sent in (session.csrf[:-1], session.csrf + "x", "é" * len(session.csrf)):
        response = client.put("/api/v1/me/preferences", json={"elderly_mode": True},
                              headers={"X-CSRF-Token": sent})
        assert response.status_code == 403, sent
        assert response.get_json()["code"] == "csrf_failed"


def test_me_hands_the_cookie_session_its_csrf_token_and_a_bearer_none(
    client: FlaskClient,
) -> None:
    session = login(client, PHONE)
    assert client.get("/api/v1/me").get_json()["csrf_token"] == session.csrf
    client.delete_cookie("hmb_session")
    assert client.get("/api/v1/me", headers=session.bearer).get_json()["csrf_token"] is None


def test_bearer_requests_need_no_csrf_token(client: FlaskClient) -> None:
    session = login(client, PHONE)
    client.delete_cookie("hmb_session")
    response = client.put("/api/v1/me/preferences", json={"elderly_mode": True},
                          headers=session.bearer)
    assert response.status_code == 200


def test_login_rotates_the_session_cookie(client: FlaskClient) -> None:
    login(client, PHONE)
    first_cookie = client.get_cookie("hmb_session")
    assert first_cookie is not None
    login(client, "13900000103")  # signing in again on the same browser
    assert client.get_cookie("hmb_session").value != first_cookie.value  # type: ignore[union-attr]
    client.set_cookie("hmb_session", first_cookie.value)
    assert client.get("/api/v1/me").status_code == 401


def test_logout_ends_cookie_and_token_together(client: FlaskClient) -> None:
    session = login(client, PHONE)
    cookie = client.get_cookie("hmb_session")
    assert cookie is not None
    response = client.post("/api/v1/auth/logout", headers={"X-CSRF-Token": session.csrf})
    assert response.status_code == 204
    assert client.get("/api/v1/me", headers=session.bearer).status_code == 401
    client.set_cookie("hmb_session", cookie.value)
    assert client.get("/api/v1/me").status_code == 401


def test_logout_with_the_token_ends_the_cookie_too(client: FlaskClient) -> None:
    session = login(client, PHONE)
    cookie = client.get_cookie("hmb_session")
    assert cookie is not None
    client.delete_cookie("hmb_session")
    assert client.post("/api/v1/auth/logout", headers=session.bearer).status_code == 204
    client.set_cookie("hmb_session", cookie.value)
    assert client.get("/api/v1/me").status_code == 401


# ---------------------------------------------------------------- bearer tokens


def _segments(token: str) -> list[str]:
    return token.split(".")


def _b64(data: dict[str, object]) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


def _claims(token: str) -> dict[str, object]:
    payload = _segments(token)[1]
    return json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))  # type: ignore[no-any-return]


def _me_with(client: FlaskClient, token: str) -> int:
    client.delete_cookie("hmb_session")
    return client.get("/api/v1/me", headers={"Authorization": f"Bearer {token}"}).status_code


def test_a_valid_token_works(client: FlaskClient) -> None:
    session = login(client, PHONE)
    assert _me_with(client, session.token) == 200


def test_a_token_signed_with_another_key_is_refused(client: FlaskClient) -> None:
    session = login(client, PHONE)
    forged = jwt.encode({"alg": "HS256"}, _claims(session.token),
                        OctKey.import_key("someone-elses-key-0123456789abcdef"))
    assert _me_with(client, forged) == 401


def test_alg_none_is_refused(client: FlaskClient) -> None:
    session = login(client, PHONE)
    unsigned = f"{_b64({'alg': 'none', 'typ': 'JWT'})}.{_b64(_claims(session.token))}."
    assert _me_with(client, unsigned) == 401


def test_a_tampered_payload_is_refused(client: FlaskClient) -> None:
    session = login(client, PHONE)
    header, _payload, signature = _segments(session.token)
    claims = _claims(session.token)
    claims["sub"] = "999"
    assert _me_with(client, f"{header}.{_b64(claims)}.{signature}") == 401


def test_an_expired_token_is_refused(client: FlaskClient, clock: MovableClock) -> None:
    session = login(client, PHONE)
    clock.advance(timedelta(minutes=16))
    response_status = _me_with(client, session.token)
    assert response_status == 401


def test_a_revoked_token_is_refused_with_a_chinese_message(client: FlaskClient) -> None:
    session = login(client, PHONE)
    client.post("/api/v1/auth/logout", headers=session.bearer)
    response = client.get("/api/v1/me", headers=session.bearer)
    assert response.status_code == 401
    assert response.get_json()["message"] == "登录已失效，请重新登录"


@pytest.mark.parametrize("header", ["Basic abc", "Bearer", "Bearer not.a.jwt", "Token x"])
def test_malformed_authorization_headers_are_refused(client: FlaskClient, header: str) -> None:
    response = client.get("/api/v1/me", headers={"Authorization": header})
    assert response.status_code == 401


def test_no_credentials_means_login_first(client: FlaskClient) -> None:
    response = client.get("/api/v1/me")
    assert response.status_code == 401
    assert response.get_json()["message"] == "请先登录"


def test_sms_outbox_is_absent_in_production(wired) -> None:  # type: ignore[no-untyped-def]
    from huiminbao.app import create_app
    from huiminbao.core.config import Mode, Settings

    wired.settings = Settings(mode=Mode.PRODUCTION, database_url=wired.settings.database_url,
                              testing=True, secret_key="p" * 40)
    production = create_app(container=wired).test_client()
    response = production.get("/api/v1/dev/sms?phone=13800000001")
    assert response.status_code == 404
    assert "items" not in response.get_json()


@pytest.mark.parametrize(("method", "url", "payload"), [
    ("POST", "/api/v1/me/identity", {"name": 1}),
    ("PUT", "/api/v1/me/preferences", {"elderly_mode": "maybe"}),
    ("POST", "/api/v1/enrollments", {"product_id": "x"}),
    ("PUT", "/api/v1/policies/P1/auto-renew", {}),
    ("POST", "/api/v1/proxy/grants", {"scopes": 3}),
    ("POST", "/api/v1/claims", []),
    ("POST", "/api/v1/admin/products", {"year": "soon"}),
    ("GET", "/api/v1/enrollments?status=whatever", None),
])
def test_anonymous_callers_are_asked_to_log_in_before_their_input_is_checked(
    client: FlaskClient, method: str, url: str, payload: object,
) -> None:
    response = client.open(url, method=method, json=payload)
    assert response.status_code == 401, response.get_json()
    assert response.get_json()["message"] == "请先登录"
    assert "errors" not in response.get_json() or not response.get_json()["errors"]


def test_public_endpoints_still_check_their_input_for_anonymous_callers(
    client: FlaskClient,
) -> None:
    from huiminbao.identity.auth import PUBLIC_WITH_INPUT

    # Every exemption names a real endpoint and method (a renamed view must not slip out).
    routes = {(rule.endpoint, method) for rule in client.application.url_map.iter_rules()
              for method in rule.methods or ()}
    assert routes >= PUBLIC_WITH_INPUT
    missing = client.post("/api/v1/auth/login", json={})
    assert missing.status_code == 422
    assert "phone" in missing.get_json()["errors"]


def test_login_needs_the_user_agreement_and_privacy_policy_once(client: FlaskClient) -> None:
    phone = "13900000177"
    texts = client.get("/api/v1/agreements").get_json()["items"]
    assert {t["title"] for t in texts} == {"用户协议", "隐私政策"}
    assert all(t["version"] and len(t["body"]) > 50 for t in texts)

    client.post("/api/v1/auth/otp", json={"phone": phone})
    code = latest_code(client, phone)
    refused = client.post("/api/v1/auth/login", json={"phone": phone, "code": code})
    assert refused.status_code == 422
    assert refused.get_json()["code"] == "agreement_required"
    assert "用户协议" in refused.get_json()["message"]
    stale = {doc: "2020.1" for doc in _agreed()}
    refused = client.post("/api/v1/auth/login",
                          json={"phone": phone, "code": code, "agreements": stale})
    assert refused.get_json()["code"] == "agreement_required"
    # The refusal wrote nothing: the same code signs in once the box is ticked.
    assert _login_with(client, code, phone).status_code == 200

    container = client.application.extensions["huiminbao"]
    with container.db.read() as session:
        rows = session.execute(select(AgreementAcceptance.document, AgreementAcceptance.version)
                               .join(UserAccount, UserAccount.id == AgreementAcceptance.account_id)
                               .where(UserAccount.phone_is(phone))).all()
    assert sorted(rows) == sorted(_agreed().items())

    # Agreed once: the next login needs no tick, and records nothing again.
    limiter.reset()  # a second code within the minute (the limit counts real time)
    assert client.post("/api/v1/auth/otp", json={"phone": phone}).status_code == 200
    again = client.post("/api/v1/auth/login",
                        json={"phone": phone, "code": latest_code(client, phone)})
    assert again.status_code == 200, again.get_json()
    with container.db.read() as session:
        count = session.scalar(select(func.count()).select_from(AgreementAcceptance)
                               .join(UserAccount, UserAccount.id == AgreementAcceptance.account_id)
                               .where(UserAccount.phone_is(phone)))
    assert count == 2
