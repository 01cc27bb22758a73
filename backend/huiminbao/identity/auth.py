"""Who is making this request: a bearer token or the session cookie (with its CSRF token).

``current_actor()`` is the one way routes learn the caller; it checks the session is live on
every request, so a logout or revocation stops the very next request.
"""

from __future__ import annotations

import functools
import hmac
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, TypeVar

from flask import current_app, g, request
from sqlalchemy import Row, bindparam, select

from huiminbao.core.container import container
from huiminbao.core.errors import Forbidden, Unauthenticated
from huiminbao.identity.domain import RECENT_AUTHENTICATION, Role, hash_secret
from huiminbao.identity.models import AuthSession, RevokedToken, UserAccount
from huiminbao.identity.tokens import InvalidToken

F = TypeVar("F", bound=Callable[..., Any])

SESSION_COOKIE = "hmb_session"
CSRF_COOKIE = "hmb_csrf"
CSRF_HEADER = "X-CSRF-Token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
LOGIN_REQUIRED = "请先登录"

# Endpoints (and methods) that read a body or query string yet answer anonymous callers: the
# sign-in itself, public pages, service clients with their own signature, demo tools. Every
# other endpoint that takes input is asked for a login before its input is validated.
PUBLIC_WITH_INPUT: frozenset[tuple[str, str]] = frozenset({
    ("catalog.Products", "GET"),
    ("claims.ProductSpecialDrugs", "GET"),  # residents search the 特药 list before enrolling
    ("identity.SendCode", "POST"),
    ("identity.Login", "POST"),
    ("wechat.WeChatLogin", "GET"),  # the agreement versions ticked on the login page
    ("claims.Settlements", "POST"),  # hospitals: signed requests (hospital_signed runs first)
    ("claims.SpecialDrugSettlements", "POST"),  # pharmacies: signed requests, as hospitals
    ("disclosure.ProductDisclosure", "GET"),
    ("disclosure.ProductDisclosureCsv", "GET"),
    ("dev.DevSmsOutbox", "GET"),
    ("dev.DevClock", "PUT"),
    ("disclosure.PublicComplaintCode", "POST"),
    ("disclosure.PublicComplaints", "POST"),
    ("disclosure.PublicComplaintRating", "POST"),
    ("enrollment.PolicyLookupCode", "POST"),  # 保单查询 without an account: ID number + SMS code
    ("enrollment.PolicyLookup", "POST"),
})


@dataclass(frozen=True)
class Actor:
    account_id: int
    role: Role
    person_id: int | None
    session_id: int
    authenticated_at: datetime
    via: str  # "bearer" | "cookie"
    token_jti: str | None = None
    token_expires_at: datetime | None = None
    login_method: str = "sms"  # how this session signed in: sms | wechat
    phone: str = ""  # the account's login phone (never shown; the contact check asks about it)
    binding_verified: bool = False  # the real-name binding is proven (identity/access.py)
    # A cookie session's CSRF token, read with the session itself, so GET /me hands it to the page
    # without a second read. None for bearer tokens, which a browser never sends by itself.
    csrf_token: str | None = field(default=None, repr=False)

    def authenticated_recently(self, now: datetime) -> bool:
        return now - self.authenticated_at <= RECENT_AUTHENTICATION


def current_actor() -> Actor:
    actor = optional_actor()
    if actor is None:
        raise Unauthenticated(LOGIN_REQUIRED)
    return actor


def view_method(endpoint: str, method: str) -> Callable[..., Any] | None:
    """The function that answers ``method`` on ``endpoint`` (a MethodView's method, or the view)."""
    view = current_app.view_functions.get(endpoint)
    view_class = getattr(view, "view_class", None)
    return getattr(view_class, method.lower(), None) if view_class else view


def staff_only(*roles: Role) -> Callable[[F], F]:
    """Mark a staff view method with the roles it admits (the outermost decorator, so the mark
    is on the function flask-smorest routes to). ``require_login_before_input`` reads the mark
    and refuses every other caller before any argument is parsed: another role gets 403 and
    learns nothing of the body or query it would have to send. The wrapper checks again, so
    the view is safe even where that gate is not installed."""
    allowed = frozenset(roles)

    def mark(view: F) -> F:
        @functools.wraps(view)
        def checked(*args: Any, **kwargs: Any) -> Any:
            require_role(*allowed)
            return view(*args, **kwargs)

        checked.staff_roles = allowed  # type: ignore[attr-defined]
        return checked  # type: ignore[return-value]

    return mark


def staff_roles(view: Callable[..., Any] | None) -> frozenset[Role] | None:
    """The roles a view marked with ``staff_only`` admits; None for any other view."""
    roles = getattr(view, "staff_roles", None)
    return roles if isinstance(roles, frozenset) else None


def require_login_before_input() -> None:
    """Before-request: an anonymous caller learns "请先登录" (401), and a caller without the
    staff role a staff endpoint needs "无权进行此操作" (403), never the shape of a body or query
    string it is not allowed to send (flask-smorest validates before the view runs)."""
    endpoint = request.endpoint
    if endpoint is None or request.method in {"HEAD", "OPTIONS"}:
        return
    view = view_method(endpoint, request.method)
    roles = staff_roles(view)
    if roles is not None:
        require_role(*roles)
        return
    if (endpoint, request.method) in PUBLIC_WITH_INPUT \
            or not getattr(view, "_apidoc", {}).get("arguments"):
        return
    current_actor()


def optional_actor() -> Actor | None:
    if "actor" not in g:
        g.actor = _resolve()
    return g.actor  # type: ignore[no-any-return]


def account_or_address() -> str:
    """A rate limit's key: the signed-in account, else the client's address."""
    actor = optional_actor()
    return f"account:{actor.account_id}" if actor else f"ip:{request.remote_addr}"


def _resolve() -> Actor | None:
    c = container()
    header = request.headers.get("Authorization", "")
    if header:
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise Unauthenticated("登录凭证格式不正确，请重新登录", code="invalid_token")
        try:
            claims = c.tokens.verify(token.strip())
        except InvalidToken as exc:
            raise Unauthenticated("登录已失效，请重新登录", code="invalid_token") from exc
        with c.db.read() as session:
            # The session, its account and the token's revocation in one statement: this runs
            # on every call.
            found = session.execute(_BEARER_SESSION, {
                "jti": claims.jti, "session_id": claims.session_id}).one_or_none()
        if found is None or found.jti is not None or not _live(found, c.clock.now()) \
                or found.account_id != claims.account_id:
            raise Unauthenticated("登录已失效，请重新登录", code="invalid_token")
        return _actor(found, "bearer", claims.jti, claims.expires_at)

    cookie = request.cookies.get(SESSION_COOKIE)
    if not cookie:
        return None
    with c.db.read() as session:
        found = session.execute(_SESSION.where(
            AuthSession.cookie_token_hash == hash_secret(c.settings.secret_key, cookie))
        ).one_or_none()
    if found is None or not _live(found, c.clock.now()):
        return None  # an ended session is the same as no session
    if request.method not in SAFE_METHODS:
        sent = request.headers.get(CSRF_HEADER, "")
        # Constant time: how long a refusal takes tells nothing about how much of a guess matched.
        if not sent or not hmac.compare_digest(sent.encode(), found.csrf_token.encode()):
            raise Forbidden("页面已过期，请刷新后重试", code="csrf_failed")
    return _actor(found, "cookie", csrf_token=found.csrf_token)


# Columns, not objects: the session check runs on every request and needs only these.
_SESSION = select(
    AuthSession.id, AuthSession.account_id, AuthSession.csrf_token, AuthSession.authenticated_at,
    AuthSession.expires_at, AuthSession.revoked_at, AuthSession.method, UserAccount.role,
    UserAccount.person_id, UserAccount.phone, UserAccount.binding_verified_by,
).join(UserAccount, UserAccount.id == AuthSession.account_id)


# Built once, given the token's session and jti as parameters (it runs on every bearer call).
_BEARER_SESSION = (_SESSION.add_columns(RevokedToken.jti)
                   .outerjoin(RevokedToken, RevokedToken.jti == bindparam("jti"))
                   .where(AuthSession.id == bindparam("session_id")))


def _live(found: Row[*tuple[Any, ...]], now: datetime) -> bool:
    return found.revoked_at is None and now < found.expires_at


def _actor(found: Row[*tuple[Any, ...]], via: str, jti: str | None = None,
           token_expires_at: datetime | None = None, *, csrf_token: str | None = None) -> Actor:
    return Actor(
        account_id=found.account_id, role=Role(found.role), person_id=found.person_id,
        session_id=found.id, authenticated_at=found.authenticated_at, via=via,
        token_jti=jti, token_expires_at=token_expires_at, login_method=found.method,
        phone=found.phone,
        binding_verified=found.person_id is not None and found.binding_verified_by is not None,
        csrf_token=csrf_token,
    )


def require_role(*roles: Role) -> Actor:
    actor = current_actor()
    if actor.role not in roles:
        raise Forbidden("无权进行此操作")
    return actor
