"""Who is making this request: a bearer token or the session cookie (with its CSRF token).

``current_actor()`` is the one way routes learn the caller; it checks the session is live on
every request, so a logout or revocation stops the very next request.
"""

from __future__ import annotations

import hmac
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from flask import current_app, g, request
from sqlalchemy import Row, select

from huiminbao.core.container import container
from huiminbao.core.errors import Forbidden, Unauthenticated
from huiminbao.identity.domain import RECENT_AUTHENTICATION, Role, hash_secret
from huiminbao.identity.models import AuthSession, RevokedToken, UserAccount
from huiminbao.identity.tokens import InvalidToken

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
    ("identity.SendCode", "POST"),
    ("identity.Login", "POST"),
    ("claims.Settlements", "POST"),  # hospitals: signed requests (hospital_signed runs first)
    ("disclosure.ProductDisclosure", "GET"),
    ("disclosure.ProductDisclosureCsv", "GET"),
    ("dev.DevSmsOutbox", "GET"),
    ("dev.DevClock", "PUT"),
})

_ADMIN = frozenset({Role.ADMIN})
_REVIEWERS = frozenset({Role.INSURER_STAFF, Role.ADMIN})
_COUNTER = frozenset({Role.COUNTER_STAFF, Role.ADMIN})
# Staff endpoints and the roles they admit, checked before any argument is parsed: another
# role gets 403 and learns nothing of the body or query it would have to send. (The views check
# again; the access-matrix test keeps this table and the views' own checks in step.)
STAFF_ONLY: dict[tuple[str, str], frozenset[Role]] = {
    ("catalog.AdminProducts", "GET"): _ADMIN,
    ("catalog.AdminProducts", "POST"): _ADMIN,
    ("catalog.AdminProductDetail", "GET"): _ADMIN,
    ("catalog.PublishProduct", "POST"): _ADMIN,
    ("console.EditDraftProduct", "PUT"): _ADMIN,
    ("console.CloneProduct", "POST"): _ADMIN,
    ("disclosure.ComplaintSettings", "GET"): _ADMIN,
    ("disclosure.ComplaintSettings", "PUT"): _ADMIN,
    ("console.EmployerBulkEnrollment", "POST"): _ADMIN,
    ("console.EmployerBatchDetail", "GET"): _ADMIN,
    ("console.SubsidyRoster", "POST"): _ADMIN,
    ("console.SubsidyReceipt", "GET"): _ADMIN,
    ("console.SubsidyPayers", "GET"): _ADMIN,
    ("console.SubsidyPayers", "POST"): _ADMIN,
    ("console.SubsidyPayerDetail", "PUT"): _ADMIN,
    ("console.DonorFunding", "POST"): _ADMIN,
    ("console.SmsOutbox", "GET"): _ADMIN,
    ("console.ReconcileRuns", "GET"): _REVIEWERS,
    ("claims_admin.AdminClaims", "GET"): _REVIEWERS,
    ("claims_admin.AdminClaimDetail", "GET"): _REVIEWERS,
    ("claims_admin.AdminClaimDecision", "POST"): _REVIEWERS,
    ("disclosure.ComplaintQueue", "GET"): _REVIEWERS,
    ("disclosure.ComplaintReplies", "POST"): _REVIEWERS,
    ("console.ProductCoinsurers", "GET"): _ADMIN,
    ("console.ProductCoinsurers", "PUT"): _ADMIN,
    ("console.ProductSurplus", "GET"): _ADMIN,
    ("console.ProductSurplus", "PUT"): _ADMIN,
    ("console.InsurerStaffMember", "PUT"): _ADMIN,
    ("console.InsurerStatement", "GET"): _REVIEWERS,
    ("console.CounterEnrollments", "POST"): _COUNTER,
    ("console.CounterIdentityChecks", "POST"): _COUNTER,
    ("proxy.StaffGrants", "GET"): _COUNTER,
}


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


def takes_input(endpoint: str, method: str) -> bool:
    """Whether the view behind ``endpoint`` validates arguments (flask-smorest) for ``method``."""
    view = current_app.view_functions.get(endpoint)
    view_class = getattr(view, "view_class", None)
    function = getattr(view_class, method.lower(), None) if view_class else view
    return bool(getattr(function, "_apidoc", {}).get("arguments"))


def require_login_before_input() -> None:
    """Before-request: an anonymous caller learns "请先登录" (401), and a caller without the
    staff role a staff endpoint needs "无权进行此操作" (403), never the shape of a body or query
    string it is not allowed to send (flask-smorest validates before the view runs)."""
    endpoint = request.endpoint
    if endpoint is None or request.method in {"HEAD", "OPTIONS"}:
        return
    roles = STAFF_ONLY.get((endpoint, request.method))
    if roles is not None:
        require_role(*roles)
        return
    if (endpoint, request.method) in PUBLIC_WITH_INPUT or not takes_input(endpoint,
                                                                           request.method):
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
            found = session.execute(
                _SESSION.add_columns(RevokedToken.jti)
                .outerjoin(RevokedToken, RevokedToken.jti == claims.jti)
                .where(AuthSession.id == claims.session_id)
            ).one_or_none()
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
