"""Bearer tokens: JWT (HS256 only) signed with a key derived from the secret key, via joserfc;
and short-lived signed links (itsdangerous) timed by the application's clock."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from itsdangerous import TimestampSigner, URLSafeTimedSerializer
from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import OctKey

from huiminbao.core.clock import Clock
from huiminbao.identity.domain import ACCESS_TOKEN_TTL, hash_secret

ALGORITHM = "HS256"  # fixed: a token naming any other algorithm (or "none") is refused
ISSUER = "huiminbao"


class InvalidToken(Exception):
    pass


@dataclass(frozen=True)
class TokenClaims:
    account_id: int
    session_id: int
    jti: str
    expires_at: datetime


class TokenService:
    def __init__(self, secret_key: str, clock: Clock) -> None:
        self._key = OctKey.import_key(hash_secret(secret_key, "jwt-signing-key"))
        self._clock = clock

    def issue(self, account_id: int, session_id: int) -> tuple[str, TokenClaims]:
        now = self._clock.now()
        expires_at = now + ACCESS_TOKEN_TTL
        jti = secrets.token_urlsafe(16)
        claims = {
            "iss": ISSUER, "sub": str(account_id), "sid": session_id, "jti": jti,
            "iat": int(now.timestamp()), "exp": int(expires_at.timestamp()),
        }
        token = jwt.encode({"alg": ALGORITHM, "typ": "JWT"}, claims, self._key,
                           algorithms=[ALGORITHM])
        return token, TokenClaims(account_id, session_id, jti, expires_at)

    def verify(self, token: str) -> TokenClaims:
        try:
            decoded = jwt.decode(token, self._key, algorithms=[ALGORITHM])
            registry = jwt.JWTClaimsRegistry(
                now=lambda: int(self._clock.now().timestamp()),
                iss={"essential": True, "value": ISSUER},
                sub={"essential": True},
                exp={"essential": True},
                jti={"essential": True},
            )
            registry.validate(decoded.claims)
        except (JoseError, ValueError, TypeError) as exc:
            raise InvalidToken(str(exc)) from exc
        claims = decoded.claims
        if decoded.header.get("alg") != ALGORITHM or not isinstance(claims.get("sid"), int):
            raise InvalidToken("unexpected token shape")
        return TokenClaims(
            account_id=int(claims["sub"]),
            session_id=claims["sid"],
            jti=str(claims["jti"]),
            expires_at=datetime.fromtimestamp(claims["exp"], tz=self._clock.now().tzinfo),
        )


class _ClockSigner(TimestampSigner):
    """Timestamps from the application's clock, so a link's ten minutes follow the demo clock."""

    def __init__(self, *args: Any, clock: Clock, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._clock = clock

    def get_timestamp(self) -> int:
        return int(self._clock.now().timestamp())


def timed_serializer(secret_key: str, salt: str, clock: Clock) -> URLSafeTimedSerializer:
    """A signer of short-lived tokens (``loads(token, max_age=...)``) whose age is measured on
    ``clock`` rather than the wall clock."""
    return URLSafeTimedSerializer(secret_key, salt=salt, signer=_ClockSigner,
                                  signer_kwargs={"clock": clock})
