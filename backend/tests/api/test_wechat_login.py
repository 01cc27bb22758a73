"""WeChat login against a local server that speaks WeChat's OAuth endpoints.

The fake listens on 127.0.0.1 (a werkzeug server in a thread) and answers like WeChat: the
authorize page redirects back with ``code`` and ``state`` (or without a code when the user
declines); ``/sns/oauth2/access_token`` takes ``appid``/``secret`` in a GET and answers errors as
HTTP 200 ``{"errcode", "errmsg"}``; ``/sns/userinfo`` takes ``access_token`` and ``openid``. JSON
comes back labelled ``text/plain``. Nothing leaves 127.0.0.1.
"""

from __future__ import annotations

import json
import secrets
import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any
from urllib.parse import parse_qs, parse_qsl, urlencode, urlsplit

import pytest
import requests
from flask import Flask, redirect, request
from flask import Response as FlaskResponse
from flask.testing import FlaskClient
from sqlalchemy import select
from werkzeug.serving import WSGIRequestHandler, make_server
from werkzeug.test import TestResponse

from huiminbao.app import create_app
from huiminbao.audit.models import AuditEvent
from huiminbao.core.clock import MovableClock
from huiminbao.core.container import Container
from huiminbao.identity import wechat
from huiminbao.identity.agreements import current_versions as _agreed
from huiminbao.identity.models import AgreementAcceptance, AuthSession, UserAccount

from .helpers import latest_code

APP_ID = "wx5f0c2a9b7e3d1a46"
APP_SECRET = "fake-wechat-app-secret-7d9e1c3b5a"
OPENID = "oLVPpjqs9BhvzwPj5A-vTYAX3GLc"
OTHER_OPENID = "oQm2Xk8rT1yZwVbN4cHdEfGaJ7sU"
UNIONID = "o6_bmasdasdsad6_2sgVt7hMZOPfL"
CALLBACK = "http://localhost/api/v1/auth/wechat/callback"
PHONE_NEW = "13900000001"
PHONE_EXPIRED = "13900000002"
PHONE_OTHER_WECHAT = "13900000003"
PHONE_TAMPERED = "13900000004"
PHONE_HOLDER = "13900000005"
PHONE_LATE = "13900000007"
PHONE_AGREES = "13900000008"
PHONE_OLD_VERSION = "13900000009"
PHONE_ACCEPTED = "13900000010"


# ---------------------------------------------------------------- the fake WeChat


@dataclass
class FakeWeChat:
    base_url: str = ""
    next_openid: str = OPENID
    deny: bool = False
    expire_codes: bool = False
    fail_userinfo: bool = False
    broken: bool = False
    authorize_requests: list[dict[str, str]] = field(default_factory=list)
    token_requests: list[dict[str, Any]] = field(default_factory=list)
    userinfo_requests: list[dict[str, str]] = field(default_factory=list)
    codes: dict[str, str] = field(default_factory=dict)
    used_codes: set[str] = field(default_factory=set)
    tokens: dict[str, str] = field(default_factory=dict)

    def wsgi(self) -> Flask:
        app = Flask("fake_wechat")

        @app.get("/connect/oauth2/authorize")
        def authorize() -> Any:
            args = request.args.to_dict()
            self.authorize_requests.append(args)
            back = args["redirect_uri"]
            if self.deny:  # the user tapped 拒绝: back with the state only
                return redirect(f"{back}?{urlencode({'state': args['state']})}")
            code = secrets.token_hex(16)
            self.codes[code] = self.next_openid
            return redirect(f"{back}?{urlencode({'code': code, 'state': args['state']})}")

        @app.get("/sns/oauth2/access_token")
        def access_token() -> FlaskResponse:
            args = request.args.to_dict()
            self.token_requests.append({
                "method": request.method, "args": args,
                "authorization": request.headers.get("Authorization"),
            })
            if self.broken:
                return FlaskResponse("<html>502 Bad Gateway</html>", 502,
                                     content_type="text/html")
            if args.get("appid") != APP_ID:
                return _wechat_json({"errcode": 40013, "errmsg": "invalid appid"})
            if args.get("secret") != APP_SECRET:
                return _wechat_json({"errcode": 40125, "errmsg": "invalid appsecret"})
            if args.get("grant_type") != "authorization_code":
                return _wechat_json({"errcode": 40002, "errmsg": "invalid grant_type"})
            code = args.get("code", "")
            if code in self.used_codes:
                return _wechat_json({"errcode": 40163, "errmsg": "code been used"})
            if code not in self.codes:
                return _wechat_json({"errcode": 40029, "errmsg": "invalid code"})
            if self.expire_codes:
                return _wechat_json({"errcode": 42003, "errmsg": "code expired"})
            openid = self.codes.pop(code)
            self.used_codes.add(code)
            token = secrets.token_hex(24)
            self.tokens[token] = openid
            return _wechat_json({
                "access_token": token, "expires_in": 7200, "refresh_token": secrets.token_hex(24),
                "openid": openid, "scope": "snsapi_userinfo", "unionid": UNIONID,
            })

        @app.get("/sns/userinfo")
        def userinfo() -> FlaskResponse:
            args = request.args.to_dict()
            self.userinfo_requests.append(args)
            openid = args.get("openid")
            if self.fail_userinfo or self.tokens.get(args.get("access_token", "")) != openid:
                return _wechat_json({"errcode": 40001, "errmsg": "invalid credential, "
                                     "access_token is invalid or not latest"})
            return _wechat_json({
                "openid": openid, "nickname": "微信用户", "sex": 0, "province": "浙江",
                "city": "杭州", "country": "中国", "privilege": [], "unionid": UNIONID,
                "headimgurl": f"{self.base_url}/avatar/0",
            })

        return app


def _wechat_json(payload: dict[str, Any]) -> FlaskResponse:
    return FlaskResponse(json.dumps(payload, ensure_ascii=False).encode(), 200,
                         content_type="text/plain")


class _QuietHandler(WSGIRequestHandler):
    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        pass


@pytest.fixture
def fake_wechat(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeWeChat]:
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy",
                 "all_proxy"):
        monkeypatch.delenv(name, raising=False)  # straight to 127.0.0.1, never via a proxy
    fake = FakeWeChat()
    server = make_server("127.0.0.1", 0, fake.wsgi(), threaded=True,
                         request_handler=_QuietHandler)
    fake.base_url = f"http://127.0.0.1:{server.server_port}"
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05},
                              name="fake-wechat", daemon=True)
    thread.start()
    try:
        yield fake
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def _configure(wired: Container, *, open_base: str, api_base: str) -> Flask:
    wired.settings = wired.settings.with_changes(
        wechat_app_id=APP_ID, wechat_app_secret=APP_SECRET,
        wechat_base_url_open=open_base, wechat_base_url_api=api_base,
    )
    return create_app(container=wired)


@pytest.fixture
def wechat_app(wired: Container, fake_wechat: FakeWeChat) -> Flask:
    return _configure(wired, open_base=fake_wechat.base_url, api_base=fake_wechat.base_url)


@pytest.fixture
def visitor(wechat_app: Flask) -> FlaskClient:
    return wechat_app.test_client()


# ---------------------------------------------------------------- the steps of a round trip


def start(visitor: FlaskClient, fake: FakeWeChat, agreed: dict[str, str] | None = None) -> str:
    """Our login endpoint: a 302 to WeChat's authorize link, in WeChat's own shape.
    ``agreed``: the agreement versions ticked on the login page, sent as query parameters."""
    response = visitor.get("/api/v1/auth/wechat/login", query_string=agreed or {})
    assert response.status_code == 302
    location = response.headers["Location"]
    parts = urlsplit(location)
    assert f"{parts.scheme}://{parts.netloc}{parts.path}" == (
        f"{fake.base_url}/connect/oauth2/authorize")
    assert parts.fragment == "wechat_redirect"
    pairs = parse_qsl(parts.query)
    # WeChat matches the link strictly: these names, in this order.
    assert [name for name, _ in pairs] == ["appid", "redirect_uri", "response_type", "scope",
                                           "state"]
    params = dict(pairs)
    assert params["appid"] == APP_ID
    assert params["redirect_uri"] == CALLBACK
    assert params["response_type"] == "code"
    assert params["scope"] == "snsapi_userinfo"
    assert len(params["state"]) >= 20
    assert APP_SECRET not in location
    return location


def authorize_at_wechat(location: str) -> str:
    """The browser at WeChat's page (really over HTTP, to 127.0.0.1): where WeChat sends it."""
    url = location.split("#", 1)[0]
    assert url.startswith("http://127.0.0.1:")
    with requests.Session() as http, http.get(url, allow_redirects=False, timeout=5) as answer:
        assert answer.status_code == 302
        return answer.headers["Location"]


def come_back(visitor: FlaskClient, back: str) -> TestResponse:
    parts = urlsplit(back)
    assert f"{parts.scheme}://{parts.netloc}{parts.path}" == CALLBACK
    return visitor.get(f"{parts.path}?{parts.query}")


def wechat_round_trip(visitor: FlaskClient, fake: FakeWeChat,
                      agreed: dict[str, str] | None = None) -> TestResponse:
    return come_back(visitor, authorize_at_wechat(start(visitor, fake, agreed)))


def sms_login(visitor: FlaskClient, phone: str) -> TestResponse:
    assert visitor.post("/api/v1/auth/otp", json={"phone": phone}).status_code == 200
    response = visitor.post("/api/v1/auth/login",
                            json={"phone": phone, "code": latest_code(visitor, phone),
                                  "agreements": _agreed()})
    assert response.status_code == 200, response.get_json()
    return response


def set_cookies(response: TestResponse) -> dict[str, str]:
    cookies = {}
    for header in response.headers.getlist("Set-Cookie"):
        name = header.split("=", 1)[0]
        cookies[name] = header
    return cookies


def audit_events(wired: Container, action: str) -> list[AuditEvent]:
    with wired.db.read() as session:
        return list(session.scalars(
            select(AuditEvent).where(AuditEvent.action == action).order_by(AuditEvent.id)
        ))


def openid_of(wired: Container, phone: str) -> str | None:
    with wired.db.read() as session:
        return session.scalars(
            select(UserAccount.wechat_openid).where(UserAccount.phone_is(phone))
        ).one()


def add_account(wired: Container, clock: MovableClock, phone: str, openid: str, *,
                accepted: dict[str, str] | None = None) -> int:
    """A resident linked to ``openid`` who accepted ``accepted`` (document → version; the
    current versions unless given) at an earlier login."""
    with wired.db.transaction() as session:
        account = UserAccount(phone=phone, role="resident", created_at=clock.now(),
                              wechat_openid=openid)
        session.add(account)
        session.flush()
        for document, version in (_agreed() if accepted is None else accepted).items():
            session.add(AgreementAcceptance(account_id=account.id, document=document,
                                            version=version, accepted_at=clock.now()))
        return account.id


def acceptances(wired: Container, account_id: int) -> list[tuple[str, str]]:
    with wired.db.read() as session:
        return sorted((document, version) for document, version in session.execute(
            select(AgreementAcceptance.document, AgreementAcceptance.version)
            .where(AgreementAcceptance.account_id == account_id)))


def assert_error_redirect(response: TestResponse, code: str) -> None:
    assert response.status_code == 302
    assert response.headers["Location"] == f"/login.html?wechat_error={code}"
    assert code in wechat.ERROR_CODES
    cookies = set_cookies(response)
    assert "hmb_session" not in cookies
    assert wechat.LINK_COOKIE not in cookies


# ---------------------------------------------------------------- the cases


def test_first_wechat_login_is_linked_by_the_sms_login_then_signs_in_directly(
    visitor: FlaskClient, fake_wechat: FakeWeChat, wechat_app: Flask, wired: Container,
) -> None:
    arrived = wechat_round_trip(visitor, fake_wechat)

    # An openid nobody has linked yet: to the login page, with the pending link in a cookie.
    assert arrived.status_code == 302
    assert arrived.headers["Location"] == "/login.html?wechat=link"
    assert arrived.headers["Cache-Control"] == "no-store"
    cookies = set_cookies(arrived)
    assert "hmb_session" not in cookies
    link_cookie = cookies[wechat.LINK_COOKIE]
    assert "HttpOnly" in link_cookie
    assert "SameSite=Lax" in link_cookie
    assert "Path=/api/v1/auth" in link_cookie
    assert "Max-Age=600" in link_cookie
    assert visitor.get("/api/v1/me").status_code == 401

    # WeChat's token request: a GET with appid and secret in the query, nothing standard.
    (token_request,) = fake_wechat.token_requests
    assert token_request["method"] == "GET"
    assert token_request["authorization"] is None
    assert set(token_request["args"]) == {"appid", "secret", "code", "grant_type"}
    assert token_request["args"]["grant_type"] == "authorization_code"
    (userinfo_request,) = fake_wechat.userinfo_requests
    assert userinfo_request["openid"] == OPENID
    assert userinfo_request["lang"] == "zh_CN"
    assert userinfo_request["access_token"] in fake_wechat.tokens

    # The SMS login proves the phone and links the WeChat account to it.
    logged_in = sms_login(visitor, PHONE_NEW)
    cleared = set_cookies(logged_in)[wechat.LINK_COOKIE]
    assert cleared.startswith(f"{wechat.LINK_COOKIE}=;")
    assert "Path=/api/v1/auth" in cleared
    assert openid_of(wired, PHONE_NEW) == OPENID
    (linked,) = audit_events(wired, "auth.wechat_link")
    assert linked.outcome == "ok"
    assert linked.actor_account_id == logged_in.get_json()["me"]["account_id"]
    assert linked.details == {"openid": "oLVP****"}
    with wired.db.read() as session:
        every_detail = json.dumps([e.details for e in session.scalars(select(AuditEvent))],
                                  ensure_ascii=False)
    assert OPENID not in every_detail

    # Another visitor, the same WeChat account: signed in straight away.
    phone_browser = wechat_app.test_client()
    again = wechat_round_trip(phone_browser, fake_wechat)
    assert again.status_code == 302
    assert again.headers["Location"] == "/me.html"
    cookies = set_cookies(again)
    assert "HttpOnly" in cookies["hmb_session"]
    assert "hmb_csrf" in cookies
    assert wechat.LINK_COOKIE not in cookies
    me = phone_browser.get("/api/v1/me")
    assert me.status_code == 200
    assert me.get_json()["phone"] == "139****0001"
    with wired.db.read() as session:
        methods = list(session.scalars(select(AuthSession.method).order_by(AuthSession.id)))
    assert methods == ["sms", "wechat"]


def test_the_wechat_session_cookie_replaces_an_earlier_session(
    visitor: FlaskClient, fake_wechat: FakeWeChat, wired: Container, clock: MovableClock,
) -> None:
    add_account(wired, clock, PHONE_HOLDER, OPENID)
    first = wechat_round_trip(visitor, fake_wechat)
    assert first.headers["Location"] == "/me.html"
    second = wechat_round_trip(visitor, fake_wechat)
    assert second.headers["Location"] == "/me.html"
    with wired.db.read() as session:
        revoked = [s.revoked_at is not None for s in session.scalars(
            select(AuthSession).order_by(AuthSession.id))]
    assert revoked == [True, False]
    assert visitor.get("/api/v1/me").status_code == 200


def test_a_linked_account_that_ticks_the_agreements_is_signed_in_and_they_are_recorded_once(
    visitor: FlaskClient, fake_wechat: FakeWeChat, wired: Container, clock: MovableClock,
) -> None:
    account_id = add_account(wired, clock, PHONE_AGREES, OPENID, accepted={})
    arrived = wechat_round_trip(visitor, fake_wechat, agreed=_agreed())
    assert arrived.headers["Location"] == "/me.html"
    assert visitor.get("/api/v1/me").status_code == 200
    assert acceptances(wired, account_id) == sorted(_agreed().items())
    (accepted,) = audit_events(wired, "agreement.accept")
    assert (accepted.actor_account_id, accepted.details) == (account_id, _agreed())
    # Ticking again at the next login records nothing new.
    again = wechat_round_trip(visitor, fake_wechat, agreed=_agreed())
    assert again.headers["Location"] == "/me.html"
    assert acceptances(wired, account_id) == sorted(_agreed().items())
    assert len(audit_events(wired, "agreement.accept")) == 1


def test_a_linked_account_without_the_current_agreements_is_sent_back_to_tick_them(
    visitor: FlaskClient, fake_wechat: FakeWeChat, wired: Container, clock: MovableClock,
) -> None:
    # Accepted an earlier version of each text only: the current ones were never agreed to.
    account_id = add_account(wired, clock, PHONE_OLD_VERSION, OPENID, accepted={
        "user_agreement": "2025.1", "privacy_policy": "2025.1"})
    refused = wechat_round_trip(visitor, fake_wechat)
    assert_error_redirect(refused, "agreement_required")
    assert visitor.get("/api/v1/me").status_code == 401
    # Ticking one of the two is not enough either.
    half = wechat_round_trip(visitor, fake_wechat,
                             agreed={"user_agreement": _agreed()["user_agreement"]})
    assert_error_redirect(half, "agreement_required")
    with wired.db.read() as session:
        assert session.scalars(select(AuthSession).where(
            AuthSession.account_id == account_id)).all() == []
    assert acceptances(wired, account_id) == [("privacy_policy", "2025.1"),
                                              ("user_agreement", "2025.1")]
    failed = audit_events(wired, "auth.wechat_login")
    assert [(e.outcome, e.actor_account_id, e.details) for e in failed] == [
        ("failed", account_id, {"reason": "agreement_required"})] * 2
    # The kept versions went with that attempt: a new start without ticking asks again.
    assert_error_redirect(wechat_round_trip(visitor, fake_wechat), "agreement_required")
    # Ticked now: signed in.
    ticked = wechat_round_trip(visitor, fake_wechat, agreed=_agreed())
    assert ticked.headers["Location"] == "/me.html"
    assert ("user_agreement", _agreed()["user_agreement"]) in acceptances(wired, account_id)


def test_a_linked_account_that_accepted_before_signs_in_without_ticking(
    visitor: FlaskClient, fake_wechat: FakeWeChat, wired: Container, clock: MovableClock,
) -> None:
    account_id = add_account(wired, clock, PHONE_ACCEPTED, OPENID)
    arrived = wechat_round_trip(visitor, fake_wechat)
    assert arrived.headers["Location"] == "/me.html"
    assert visitor.get("/api/v1/me").status_code == 200
    assert audit_events(wired, "agreement.accept") == []
    assert acceptances(wired, account_id) == sorted(_agreed().items())


def test_the_login_start_validates_the_ticked_versions(
    visitor: FlaskClient, fake_wechat: FakeWeChat,
) -> None:
    response = visitor.get("/api/v1/auth/wechat/login",
                           query_string={"user_agreement": "x" * 21})
    assert response.status_code == 422
    body = response.get_json()
    assert "user_agreement" in json.dumps(body["errors"])
    assert fake_wechat.authorize_requests == []


def test_an_invalid_code_40029_goes_back_to_the_login_page_without_a_session(
    visitor: FlaskClient, fake_wechat: FakeWeChat, wired: Container,
) -> None:
    state = parse_qs(urlsplit(start(visitor, fake_wechat)).query)["state"][0]
    response = visitor.get(f"/api/v1/auth/wechat/callback?code=made-up&state={state}")
    assert_error_redirect(response, "invalid_code")
    assert fake_wechat.userinfo_requests == []
    assert visitor.get("/api/v1/me").status_code == 401
    (failed,) = audit_events(wired, "auth.wechat_login")
    assert (failed.outcome, failed.details) == ("failed", {"reason": "invalid_code"})


def test_a_code_used_twice_40163_is_refused(
    visitor: FlaskClient, fake_wechat: FakeWeChat,
) -> None:
    back = authorize_at_wechat(start(visitor, fake_wechat))
    assert come_back(visitor, back).headers["Location"] == "/login.html?wechat=link"
    # A second login in the same browser (a fresh state) replaying the first code.
    state = parse_qs(urlsplit(start(visitor, fake_wechat)).query)["state"][0]
    code = parse_qs(urlsplit(back).query)["code"][0]
    replayed = visitor.get(f"/api/v1/auth/wechat/callback?code={code}&state={state}")
    assert_error_redirect(replayed, "code_used")


def test_an_expired_code_42003_is_refused(
    visitor: FlaskClient, fake_wechat: FakeWeChat,
) -> None:
    fake_wechat.expire_codes = True
    assert_error_redirect(wechat_round_trip(visitor, fake_wechat), "code_expired")


def test_a_state_that_this_browser_did_not_start_is_refused_before_calling_wechat(
    visitor: FlaskClient, fake_wechat: FakeWeChat, wechat_app: Flask,
) -> None:
    back = authorize_at_wechat(start(visitor, fake_wechat))
    code = parse_qs(urlsplit(back).query)["code"][0]
    tampered = visitor.get(f"/api/v1/auth/wechat/callback?code={code}&state=forged-state")
    assert_error_redirect(tampered, "state")
    missing = visitor.get(f"/api/v1/auth/wechat/callback?code={code}")
    assert_error_redirect(missing, "state")
    # The genuine callback, but in a browser that never started this login (login CSRF).
    assert_error_redirect(come_back(wechat_app.test_client(), back), "state")
    assert fake_wechat.token_requests == []


def test_a_state_works_once(visitor: FlaskClient, fake_wechat: FakeWeChat) -> None:
    back = authorize_at_wechat(start(visitor, fake_wechat))
    assert come_back(visitor, back).headers["Location"] == "/login.html?wechat=link"
    assert_error_redirect(come_back(visitor, back), "state")


def test_declining_at_wechat_goes_back_to_the_login_page(
    visitor: FlaskClient, fake_wechat: FakeWeChat,
) -> None:
    fake_wechat.deny = True
    back = authorize_at_wechat(start(visitor, fake_wechat))
    assert "code" not in parse_qs(urlsplit(back).query)
    assert_error_redirect(come_back(visitor, back), "denied")
    assert fake_wechat.token_requests == []


def test_a_userinfo_error_40001_signs_nobody_in(
    visitor: FlaskClient, fake_wechat: FakeWeChat, wired: Container, clock: MovableClock,
) -> None:
    add_account(wired, clock, PHONE_HOLDER, OPENID)  # even a linked account
    fake_wechat.fail_userinfo = True
    assert_error_redirect(wechat_round_trip(visitor, fake_wechat), "userinfo")
    assert len(fake_wechat.userinfo_requests) == 1
    assert visitor.get("/api/v1/me").status_code == 401


def test_wechat_answering_502_is_a_network_error_not_a_500(
    visitor: FlaskClient, fake_wechat: FakeWeChat, wired: Container,
) -> None:
    fake_wechat.broken = True
    assert_error_redirect(wechat_round_trip(visitor, fake_wechat), "network")
    (failed,) = audit_events(wired, "auth.wechat_login")
    assert failed.details == {"reason": "network"}


def test_wechat_unreachable_is_a_network_error_not_a_500(
    wired: Container, fake_wechat: FakeWeChat,
) -> None:
    with socket.socket() as probe:  # a port on 127.0.0.1 that nobody listens on
        probe.bind(("127.0.0.1", 0))
        closed_port = probe.getsockname()[1]
    app = _configure(wired, open_base=fake_wechat.base_url,
                     api_base=f"http://127.0.0.1:{closed_port}")
    visitor = app.test_client()
    assert_error_redirect(wechat_round_trip(visitor, fake_wechat), "network")


def test_wechat_login_is_off_without_app_id_and_secret(client: FlaskClient) -> None:
    for path in ("/api/v1/auth/wechat/login", "/api/v1/auth/wechat/callback?code=x&state=y"):
        response = client.get(path)
        assert response.status_code == 404
        body = response.get_json()
        assert body["code"] == "not_found"
        assert body["message"] == "未开通微信登录"
        assert set(body) == {"code", "message", "errors", "request_id"}


def test_a_pending_link_older_than_ten_minutes_links_nothing(
    visitor: FlaskClient, fake_wechat: FakeWeChat, wired: Container, clock: MovableClock,
) -> None:
    assert wechat_round_trip(visitor, fake_wechat).headers["Location"] == (
        "/login.html?wechat=link")
    clock.advance(timedelta(minutes=10, seconds=5))
    logged_in = sms_login(visitor, PHONE_EXPIRED)
    assert openid_of(wired, PHONE_EXPIRED) is None
    assert set_cookies(logged_in)[wechat.LINK_COOKIE].startswith(f"{wechat.LINK_COOKIE}=;")
    (expired,) = audit_events(wired, "auth.wechat_link")
    assert (expired.outcome, expired.details) == ("failed", {"reason": "expired"})


def test_a_pending_link_within_ten_minutes_still_links(
    visitor: FlaskClient, fake_wechat: FakeWeChat, wired: Container, clock: MovableClock,
) -> None:
    wechat_round_trip(visitor, fake_wechat)
    clock.advance(timedelta(minutes=9, seconds=50))
    sms_login(visitor, PHONE_LATE)
    assert openid_of(wired, PHONE_LATE) == OPENID


def test_a_forged_pending_link_cookie_links_nothing(
    visitor: FlaskClient, wired: Container, clock: MovableClock,
) -> None:
    from itsdangerous import URLSafeTimedSerializer

    forged = URLSafeTimedSerializer("not-our-secret", salt=wechat.LINK_SALT).dumps(
        {"openid": OPENID})
    visitor.set_cookie(wechat.LINK_COOKIE, forged, path="/api/v1/auth")
    sms_login(visitor, PHONE_TAMPERED)
    assert openid_of(wired, PHONE_TAMPERED) is None
    (refused,) = audit_events(wired, "auth.wechat_link")
    assert (refused.outcome, refused.details) == ("failed", {"reason": "invalid"})


def test_an_account_linked_to_another_wechat_keeps_it(
    visitor: FlaskClient, fake_wechat: FakeWeChat, wired: Container, clock: MovableClock,
) -> None:
    add_account(wired, clock, PHONE_OTHER_WECHAT, OTHER_OPENID)
    assert wechat_round_trip(visitor, fake_wechat).headers["Location"] == (
        "/login.html?wechat=link")
    logged_in = sms_login(visitor, PHONE_OTHER_WECHAT)
    assert wechat.LINK_COOKIE in set_cookies(logged_in)  # cleared all the same
    assert openid_of(wired, PHONE_OTHER_WECHAT) == OTHER_OPENID
    (refused,) = audit_events(wired, "auth.wechat_link")
    assert refused.outcome == "denied"
    assert refused.details == {"openid": "oLVP****", "reason": "account_has_other_wechat"}
    # That WeChat account is still not linked to anyone: it goes to the link page again.
    assert wechat_round_trip(visitor, fake_wechat).headers["Location"] == (
        "/login.html?wechat=link")


def test_a_wechat_already_linked_elsewhere_is_not_moved(
    visitor: FlaskClient, wired: Container, clock: MovableClock,
) -> None:
    # Two browsers went through WeChat with the same account; the first one linked it.
    add_account(wired, clock, PHONE_HOLDER, OPENID)
    pending = wechat._link_serializer(wired).dumps({"openid": OPENID})
    visitor.set_cookie(wechat.LINK_COOKIE, pending, path="/api/v1/auth")
    sms_login(visitor, PHONE_NEW)
    assert openid_of(wired, PHONE_NEW) is None
    assert openid_of(wired, PHONE_HOLDER) == OPENID
    (refused,) = audit_events(wired, "auth.wechat_link")
    assert refused.details == {"openid": "oLVP****", "reason": "wechat_linked_elsewhere"}


def test_the_openapi_document_lists_the_wechat_endpoints(visitor: FlaskClient) -> None:
    paths = visitor.get("/api/openapi.json").get_json()["paths"]
    assert "302" in paths["/api/v1/auth/wechat/login"]["get"]["responses"]
    assert "302" in paths["/api/v1/auth/wechat/callback"]["get"]["responses"]
    query = {p["name"] for p in paths["/api/v1/auth/wechat/login"]["get"]["parameters"]
             if p["in"] == "query"}
    assert query == {"user_agreement", "privacy_policy"}


def test_settings_read_wechat_from_the_environment() -> None:
    from huiminbao.core.config import ConfigError, Settings

    assert Settings.from_env({}).wechat_enabled is False
    configured = Settings.from_env({
        "WECHAT_APP_ID": APP_ID, "WECHAT_APP_SECRET": APP_SECRET,
        "WECHAT_OPEN_BASE_URL": "http://127.0.0.1:9/", "WECHAT_API_BASE_URL": "http://127.0.0.1:9",
    })
    assert configured.wechat_enabled is True
    assert configured.wechat_base_url_open == "http://127.0.0.1:9"
    assert Settings.from_env({}).wechat_base_url_api == "https://api.weixin.qq.com"
    with pytest.raises(ConfigError, match="WECHAT_APP_ID and WECHAT_APP_SECRET"):
        Settings.from_env({"WECHAT_APP_ID": APP_ID})
