"""Identity endpoints: codes, login, logout, the caller's profile, binding, consents."""

from __future__ import annotations

from typing import Any, ClassVar

from flask import Response, after_this_request, make_response, request
from flask.views import MethodView
from flask_smorest import Blueprint
from marshmallow import fields

from huiminbao.audit.consents import CONSENT_TEXTS, ConsentKind
from huiminbao.core.container import container
from huiminbao.core.errors import DomainError, NotFound
from huiminbao.core.masking import mask_phone
from huiminbao.core.ratelimit import json_field_key, limiter, unless_server_error
from huiminbao.core.responses import ResponseSchema
from huiminbao.identity import services, wechat
from huiminbao.identity.agreements import AGREEMENT_TEXTS
from huiminbao.identity.auth import (
    CSRF_COOKIE,
    SESSION_COOKIE,
    account_or_address,
    current_actor,
    optional_actor,
)
from huiminbao.identity.consent_rules import stops
from huiminbao.identity.domain import SESSION_TTL, OtpPurpose
from huiminbao.identity.schemas import (
    AgreementTextListSchema,
    BindIdentitySchema,
    ConsentGrantSchema,
    ConsentTextListSchema,
    IdentityCheckRequestSchema,
    IdentityCheckStartSchema,
    LoginResultSchema,
    LoginSchema,
    MeSchema,
    OtpRequestSchema,
    OtpSentSchema,
    PreferencesSchema,
)
from huiminbao.identity.schemas import Me as MeView

blp = Blueprint("identity", __name__, url_prefix="/api/v1", description="登录与实名认证")

RESEND_AFTER_SECONDS = 60


def _phone_key() -> str:
    return json_field_key("phone")


@blp.route("/auth/otp")
class SendCode(MethodView):
    decorators: ClassVar[list[Any]] = [
        # A text the provider refused (503 sms_failed) does not count against the phone: the
        # resident is told to try again, and may at once. The address limit still counts it.
        limiter.limit("1 per minute;10 per day", key_func=_phone_key, methods=["POST"],
                      scope="otp-phone", deduct_when=unless_server_error),
        limiter.limit("30 per hour", methods=["POST"], scope="otp-ip"),
    ]

    @blp.arguments(OtpRequestSchema)
    @blp.response(200, OtpSentSchema)
    @blp.alt_response(429, description="Too many codes for this phone or address")
    @blp.alt_response(503, description="The SMS provider did not take the text "
                                        "(`sms_failed`); the code is void, ask again")
    def post(self, body: dict[str, Any]) -> dict[str, Any]:
        """Text a 6-digit login code to the phone (valid 5 minutes, single use)."""
        expires_at = services.send_code(container(), body["phone"], OtpPurpose.LOGIN)
        return {"phone": mask_phone(body["phone"]), "expires_at": expires_at,
                "resend_after_seconds": RESEND_AFTER_SECONDS}


@blp.route("/auth/login")
class Login(MethodView):
    decorators: ClassVar[list[Any]] = [
        limiter.limit("20 per 10 minutes", key_func=_phone_key, methods=["POST"],
                      scope="login-phone"),
        limiter.limit("60 per 10 minutes", methods=["POST"], scope="login-ip"),
    ]

    @blp.arguments(LoginSchema)
    @blp.response(200, LoginResultSchema)
    def post(self, body: dict[str, Any]) -> dict[str, Any]:
        """Sign in with the code (creating the account on first login).

        Returns a bearer token for API clients and sets the session cookie for the web
        frontend; both belong to one session that logout ends."""
        c = container()
        sign_in = services.login_with_code(c, body["phone"], body["code"], body["agreements"])
        if previous_cookie := request.cookies.get(SESSION_COOKIE):
            # Rotate: whatever session this browser had before stops working now.
            services.end_cookie_session(c, previous_cookie)
        wechat.link_pending_wechat(c, sign_in.account_id)  # a WeChat login waiting for a phone
        me = MeView(services.profile(c, sign_in.account_id), c.clock.today(), sign_in.csrf_token)

        @after_this_request
        def _sign_in_browser(response: Response) -> Response:
            if response.status_code >= 400:  # the answer failed: nobody is signed in
                return response
            _set_session_cookies(response, sign_in.cookie_token, sign_in.csrf_token)
            wechat.clear_pending_link(response)
            return response

        return {"access_token": sign_in.access_token, "token_type": "Bearer",
                "expires_at": sign_in.access_token_expires_at, "csrf_token": sign_in.csrf_token,
                "me": me}


def _set_session_cookies(response: Response, cookie_token: str, csrf_token: str) -> None:
    secure = not container().settings.is_demo
    max_age = int(SESSION_TTL.total_seconds())
    response.set_cookie(SESSION_COOKIE, cookie_token, max_age=max_age, httponly=True,
                        samesite="Lax", secure=secure, path="/")
    # Readable by the page's script, which echoes it in X-CSRF-Token (double submit).
    response.set_cookie(CSRF_COOKIE, csrf_token, max_age=max_age, httponly=False,
                        samesite="Lax", secure=secure, path="/")


class AuthMethodsSchema(ResponseSchema):
    sms = fields.Boolean()
    wechat = fields.Boolean()


class SessionStateSchema(ResponseSchema):
    authenticated = fields.Boolean()


@blp.route("/auth/methods")
class AuthMethods(MethodView):
    @blp.response(200, AuthMethodsSchema)
    def get(self) -> dict[str, Any]:
        """Which sign-in methods this deployment offers."""
        return {"sms": True, "wechat": container().settings.wechat_enabled}


@blp.route("/auth/session")
class SessionState(MethodView):
    @blp.response(200, SessionStateSchema)
    def get(self) -> dict[str, Any]:
        """Whether the caller is signed in (200 either way, so pages can ask quietly)."""
        try:
            return {"authenticated": optional_actor() is not None}
        except DomainError:  # an expired or malformed token is simply "not signed in"
            return {"authenticated": False}


@blp.route("/auth/logout")
class Logout(MethodView):
    @blp.response(204)
    def post(self) -> Response:
        """End the session: its cookie and its bearer tokens stop working at once."""
        actor = current_actor()
        services.logout(container(), actor.session_id, actor.token_jti, actor.token_expires_at,
                        actor.account_id)
        response = make_response("", 204)
        response.delete_cookie(SESSION_COOKIE, path="/")
        response.delete_cookie(CSRF_COOKIE, path="/")
        return response


@blp.route("/me")
class Me(MethodView):
    @blp.response(200, MeSchema)
    def get(self) -> MeView:
        """The caller's profile, masked, with consents and (for cookie sessions) the CSRF token."""
        c = container()
        actor = current_actor()
        return MeView(services.profile(c, actor.account_id), c.clock.today(), actor.csrf_token,
                      identity_check_available=c.identity_checks is not None)


@blp.route("/me/identity")
class Identity(MethodView):
    decorators: ClassVar[list[Any]] = [
        limiter.limit("10 per hour", key_func=account_or_address, methods=["POST"], scope="bind"),
    ]

    @blp.arguments(BindIdentitySchema)
    @blp.response(200, MeSchema)
    @blp.alt_response(409, description="`identity_taken`: another account holds the person "
                                        "(verified, or this binding is not verified either)")
    def post(self, body: dict[str, Any]) -> MeView:
        """Real-name binding: name and ID number checked against the registry, both consents
        recorded. A mismatch answers one neutral message.

        The binding is verified (`identity.verified`) when the login phone is the phone the
        registry holds for the person, or with `check_ticket` from a passed face / eID check;
        otherwise the account may browse, quote and pay online for itself, but neither see nor
        use any personal account. A verified binding takes the person from another account
        that holds them unverified; both phones are texted."""
        c = container()
        actor = current_actor()
        services.bind_identity(c, actor.account_id, body["name"], body["id_number"],
                               body["consents"], check_ticket=body["check_ticket"])
        return MeView(services.profile(c, actor.account_id), c.clock.today(),
                      identity_check_available=c.identity_checks is not None)


@blp.route("/me/identity/check")
class IdentityCheck(MethodView):
    decorators: ClassVar[list[Any]] = [
        limiter.limit("10 per hour", key_func=account_or_address, methods=["POST"],
                      scope="identity-check"),
    ]

    @blp.arguments(IdentityCheckRequestSchema)
    @blp.response(200, IdentityCheckStartSchema)
    @blp.alt_response(409, description="`identity_check_unavailable`: no face / eID service "
                                        "is offered here")
    def post(self, body: dict[str, Any]) -> dict[str, Any]:
        """Start a face / eID check of the person with this name and ID number (checked against
        the registry first). Take the check at `url`, then bind with `check_ticket`. In demo
        mode the simulator answers (identity/verification.py documents its outcomes)."""
        c = container()
        started = services.start_identity_check(c, current_actor().account_id, body["name"],
                                                body["id_number"])
        simulated = c.identity_checks is not None and c.identity_checks.name == "simulator"
        return {"ticket": started.ticket, "url": started.url, "expires_at": started.expires_at,
                "simulated": simulated}


@blp.route("/consent-texts")
class ConsentTexts(MethodView):
    @blp.response(200, ConsentTextListSchema)
    def get(self) -> dict[str, Any]:
        """The consent texts (with versions) to show before binding."""
        return {"items": [
            {"kind": text.kind.value, "version": text.version, "title": text.title,
             "body": text.body, "stops": [purpose.label for purpose in stops(text.kind)]}
            for text in CONSENT_TEXTS.values()
        ]}


@blp.route("/agreements")
class Agreements(MethodView):
    @blp.response(200, AgreementTextListSchema)
    def get(self) -> dict[str, Any]:
        """The user agreement and privacy policy (with versions) shown on the login page."""
        return {"items": [{"document": t.document.value, "version": t.version, "title": t.title,
                           "body": t.body} for t in AGREEMENT_TEXTS.values()]}


@blp.route("/me/consents/<string:kind>")
class MyConsent(MethodView):
    @blp.arguments(ConsentGrantSchema)
    @blp.response(204)
    def put(self, body: dict[str, Any], kind: str) -> None:
        """Give (again) a consent to the current version of its text."""
        services.grant_consent(container(), current_actor().account_id, _kind(kind),
                               body["version"])

    @blp.response(204)
    def delete(self, kind: str) -> None:
        """Withdraw a consent."""
        services.withdraw_consent(container(), current_actor().account_id, _kind(kind))


def _kind(raw: str) -> ConsentKind:
    try:
        return ConsentKind(raw)
    except ValueError as exc:
        raise NotFound("没有这类同意事项") from exc


@blp.route("/me/preferences")
class Preferences(MethodView):
    @blp.arguments(PreferencesSchema)
    @blp.response(200, MeSchema)
    def put(self, body: dict[str, Any]) -> MeView:
        """Elderly mode (large text, larger targets) and language."""
        c = container()
        actor = current_actor()
        services.set_preferences(c, actor.account_id, elderly_mode=body["elderly_mode"])
        return MeView(services.profile(c, actor.account_id), c.clock.today())
