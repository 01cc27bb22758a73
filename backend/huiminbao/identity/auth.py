"""Who is making this request: a bearer token or the session cookie (with its CSRF token).

``current_actor()`` is the one way routes learn the caller; it checks the session is live on
every request, so a logout or revocation stops the very next request.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from flask import g, request
from sqlalchemy import select

from huiminbao.core.container import container
from huiminbao.core.errors import Forbidden, Unauthenticated
from huiminbao.identity.domain import RECENT_AUTHENTICATION, Role, hash_secret
from huiminbao.identity.models import AuthSession, RevokedToken
from huiminbao.identity.tokens import InvalidToken

SESSION_COOKIE = "hmb_session"
CSRF_COOKIE = "hmb_csrf"
CSRF_HEADER = "X-CSRF-Token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
LOGIN_REQUIRED = "请先登录"


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

    def authenticated_recently(self, now: datetime) -> bool:
        return now - self.authenticated_at <= RECENT_AUTHENTICATION


def current_actor() -> Actor:
    actor = optional_actor()
    if actor is None:
        raise Unauthenticated(LOGIN_REQUIRED)
    return actor


def optional_actor() -> Actor | None:
    if "actor" not in g:
        g.actor = _resolve()
    return g.actor  # type: ignore[no-any-return]


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
            # The session and the token's revocation in one statement: this runs on every call.
            found = session.execute(
                select(AuthSession, RevokedToken.jti)
                .outerjoin(RevokedToken, RevokedToken.jti == claims.jti)
                .where(AuthSession.id == claims.session_id)
            ).one_or_none()
        auth_session, revoked = (found[0], found[1] is not None) if found else (None, False)
        if revoked or not _live(auth_session, c.clock.now()) or (
            auth_session is not None and auth_session.account_id != claims.account_id
        ):
            raise Unauthenticated("登录已失效，请重新登录", code="invalid_token")
        assert auth_session is not None
        return _actor(auth_session, "bearer", claims.jti, claims.expires_at)

    cookie = request.cookies.get(SESSION_COOKIE)
    if not cookie:
        return None
    with c.db.read() as session:
        auth_session = session.scalars(
            select(AuthSession).where(
                AuthSession.cookie_token_hash == hash_secret(c.settings.secret_key, cookie)
            )
        ).one_or_none()
    if not _live(auth_session, c.clock.now()):
        return None  # an ended session is the same as no session
    assert auth_session is not None
    if request.method not in SAFE_METHODS:
        sent = request.headers.get(CSRF_HEADER, "")
        if not sent or sent != auth_session.csrf_token:
            raise Forbidden("页面已过期，请刷新后重试", code="csrf_failed")
    return _actor(auth_session, "cookie")


def _live(auth_session: AuthSession | None, now: datetime) -> bool:
    return (auth_session is not None and auth_session.revoked_at is None
            and now < auth_session.expires_at)


def _actor(auth_session: AuthSession, via: str, jti: str | None = None,
           token_expires_at: datetime | None = None) -> Actor:
    account = auth_session.account
    return Actor(
        account_id=account.id, role=Role(account.role), person_id=account.person_id,
        session_id=auth_session.id, authenticated_at=auth_session.authenticated_at, via=via,
        token_jti=jti, token_expires_at=token_expires_at,
    )


def require_role(*roles: Role) -> Actor:
    actor = current_actor()
    if actor.role not in roles:
        raise Forbidden("无权进行此操作")
    return actor
