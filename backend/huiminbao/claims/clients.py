"""Service clients (hospitals' settlement feeds): creation and request authentication.

See ``signing`` for the signature scheme and why the signing key is stored wrapped.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select

from huiminbao.audit import services as audit
from huiminbao.audit.services import AuditActor, AuditEntry
from huiminbao.claims import signing
from huiminbao.core.container import Container
from huiminbao.core.errors import InvalidInput, NotFound, Unauthenticated
from huiminbao.identity.models import ServiceClient

log = logging.getLogger(__name__)

CLIENT_KINDS = ("hospital",)
SIGNATURE_REQUIRED = "缺少请求签名：请提供 X-Client-Id、X-Timestamp 和 X-Signature 请求头"
SIGNATURE_INVALID = "请求签名校验失败"
TIMESTAMP_STALE = "请求时间戳无效或已过期：须为服务器当前时间前后5分钟内"
_CLIENT_ID_SHAPE = re.compile(r"^[A-Za-z0-9_-]{1,64}$")


@dataclass(frozen=True)
class IssuedClient:
    client_id: str
    signing_key: str  # shown once; the database keeps it wrapped
    name: str
    kind: str


@dataclass(frozen=True)
class AuthenticatedClient:
    id: int
    client_id: str
    name: str
    kind: str


def create_client(c: Container, kind: str, name: str) -> IssuedClient:
    if kind not in CLIENT_KINDS:
        raise InvalidInput("只能为医院创建结算接入凭证")
    name = name.strip()
    if not name or len(name) > 100:
        raise InvalidInput("请填写1至100个字的机构名称")
    client_id, key = signing.new_client_id(), signing.new_signing_key()
    with c.db.transaction() as session:
        session.add(ServiceClient(
            client_id=client_id,
            secret_hash=signing.wrap_key(c.settings.secret_key, client_id, key), kind=kind,
            name=name, created_at=c.clock.now(),
        ))
        audit.record(session, c.clock, AuditEntry(
            action="service_client.create", actor=AuditActor(client="cli"),
            object_type="service_client", object_id=client_id, details={"kind": kind},
        ))
    return IssuedClient(client_id, key, name, kind)


def disable_client(c: Container, client_id: str) -> None:
    with c.db.transaction() as session:
        client = session.scalars(
            select(ServiceClient).where(ServiceClient.client_id == client_id)).one_or_none()
        if client is None:
            raise NotFound("未找到该接入凭证")
        if client.disabled_at is None:
            client.disabled_at = c.clock.now()
            audit.record(session, c.clock, AuditEntry(
                action="service_client.disable", actor=AuditActor(client="cli"),
                object_type="service_client", object_id=client_id,
            ))


def authenticate(c: Container, *, client_id: str | None, timestamp: str | None,
                 signature: str | None, method: str, path: str, body: bytes,
                 now: datetime | None = None) -> AuthenticatedClient:
    """The hospital that signed this request, or ``Unauthenticated`` (401). Unknown clients,
    disabled clients and wrong signatures get the same answer."""
    if not client_id or not timestamp or not signature:
        raise Unauthenticated(SIGNATURE_REQUIRED, code="signature_required")
    if not signing.fresh(timestamp, now or c.clock.now()):
        raise Unauthenticated(TIMESTAMP_STALE, code="stale_timestamp")
    client = None
    if _CLIENT_ID_SHAPE.match(client_id):
        with c.db.read() as session:
            client = session.scalars(
                select(ServiceClient).where(ServiceClient.client_id == client_id)).one_or_none()
    key = (signing.unwrap_key(c.settings.secret_key, client.client_id, client.secret_hash)
           if client is not None and client.disabled_at is None and client.kind in CLIENT_KINDS
           else None)
    if client is None or key is None or not signing.signature_matches(
            key, timestamp, method, path, body, signature):
        log.warning("refused a signed request: client %s",
                    client_id if _CLIENT_ID_SHAPE.match(client_id) else "(malformed)")
        raise Unauthenticated(SIGNATURE_INVALID, code="invalid_signature")
    return AuthenticatedClient(client.id, client.client_id, client.name, client.kind)
