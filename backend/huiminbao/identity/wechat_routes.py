# mypy: disallow-untyped-decorators=False
"""WeChat login endpoints (404 when WECHAT_APP_ID / WECHAT_APP_SECRET are not configured)."""

from __future__ import annotations

from flask import Response, make_response, redirect, request, url_for
from flask.views import MethodView
from flask_smorest import Blueprint

from huiminbao.core.container import container
from huiminbao.identity import services, wechat
from huiminbao.identity.auth import SESSION_COOKIE
from huiminbao.identity.routes import _set_session_cookies
from huiminbao.identity.schemas import AgreedVersionsSchema

blp = Blueprint("wechat", __name__, url_prefix="/api/v1/auth/wechat", description="微信登录")

SIGNED_IN_PAGE = "/me.html"
LINK_PAGE = "/login.html?wechat=link"
ERROR_PAGE = "/login.html?wechat_error={code}"

_NOT_CONFIGURED = "WeChat login is not configured (no WECHAT_APP_ID / WECHAT_APP_SECRET)"


@blp.route("/login")
class WeChatLogin(MethodView):
    @blp.alt_response(302, description="To WeChat's authorize page (snsapi_userinfo)",
                      success=True)
    @blp.alt_response(404, description=_NOT_CONFIGURED)
    @blp.arguments(AgreedVersionsSchema, location="query", as_kwargs=True)
    def get(self, **agreed: str | None) -> Response:
        """Start WeChat login: redirects to WeChat's authorize page, which comes back to
        `/auth/wechat/callback` with a code and the state kept in this browser's session.
        `user_agreement` / `privacy_policy`: the versions ticked on the login page, kept with
        the state; needed until the account has accepted the current ones."""
        return wechat.start_login(url_for("wechat.WeChatCallback", _external=True), agreed)


@blp.route("/callback")
class WeChatCallback(MethodView):
    @blp.doc(parameters=[
        {"in": "query", "name": "code", "required": False, "schema": {"type": "string"},
         "description": "WeChat's one-time code (absent when the user declined)"},
        {"in": "query", "name": "state", "required": False, "schema": {"type": "string"}},
    ])
    @blp.alt_response(302, success=True, description=(
        "To `/me.html` with the session cookies when the WeChat account is linked; to "
        "`/login.html?wechat=link` with a 10-minute `hmb_wechat_link` cookie when it is not yet "
        "(the next SMS login links it); to `/login.html?wechat_error=<code>` on failure, code "
        "one of " + ", ".join(sorted(wechat.ERROR_CODES)) + " (`agreement_required`: a linked "
        "account that has not accepted the current 用户协议 and 隐私政策, before or by ticking "
        "them on the login page; nobody is signed in)."))
    @blp.alt_response(404, description=_NOT_CONFIGURED)
    def get(self) -> Response:
        """WeChat's redirect back: exchange the code, read the user, sign in or start linking."""
        c = container()
        outcome = wechat.complete_login(c)
        if outcome.error is not None:
            response = _redirect(ERROR_PAGE.format(code=outcome.error))
        elif outcome.link_token is not None:
            response = _redirect(LINK_PAGE)
            wechat.set_pending_link(response, outcome.link_token)
        else:
            sign_in = outcome.sign_in
            assert sign_in is not None
            if previous_cookie := request.cookies.get(SESSION_COOKIE):
                # Rotate, as the SMS login does: this browser's earlier session stops working.
                services.end_cookie_session(c, previous_cookie)
            response = _redirect(SIGNED_IN_PAGE)
            _set_session_cookies(response, sign_in.cookie_token, sign_in.csrf_token)
        return response


def _redirect(location: str) -> Response:
    response: Response = make_response(redirect(location))
    response.headers["Cache-Control"] = "no-store"
    return response
