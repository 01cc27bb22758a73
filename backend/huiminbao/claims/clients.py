"""Service clients (the settlement feed of hospitals and designated pharmacies): creation and
request authentication. A pharmacy is stored as a medical institution (kind ``hospital``) with
its pharmacy code, and authenticates as kind ``pharmacy``.

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

CLIENT_KINDS = ("hospital", "pharmacy")
_STORED_KINDS = ("hospital",)  # a pharmacy is a hospital-kind row with its pharmacy code
_PHARMACY_CODE_SHAPE = re.compile(r"^[A-Za-z0-9_-]{1,32}$")
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
    pharmacy_code: str | None = None


@dataclass(frozen=True)
class AuthenticatedClient:
    id: int
    client_id: str
    name: str
    kind: str  # hospital | pharmacy
    pharmacy_code: str | None = None

    @property
    def is_pharmacy(self) -> bool:
        return self.pharmacy_code is not None


def kind_of(client: ServiceClient) -> str:
    return "pharmacy" if client.pharmacy_code else client.kind


def create_client(c: Container, kind: str, name: str,
                  pharmacy_code: str | None = None) -> IssuedClient:
    if kind not in CLIENT_KINDS:
        raise InvalidInput("只能为医院或定点药店创建结算接入凭证")
    name = name.strip()
    if not name or len(name) > 100:
        raise InvalidInput("请填写1至100个字的机构名称")
    pharmacy_code = (pharmacy_code or "").strip() or None
    if kind == "pharmacy" and (pharmacy_code is None
                               or not _PHARMACY_CODE_SHAPE.match(pharmacy_code)):
        raise InvalidInput("请填写定点药店编码（1至32位字母、数字、- 或 _，"
                           "与产品定点药店名单一致）")
    if kind == "hospital" and pharmacy_code is not None:
        raise InvalidInput("医院不填写定点药店编码")
    client_id = signing.new_client_id(pharmacy=kind == "pharmacy")
    key = signing.new_signing_key()
    with c.db.transaction() as session:
        session.add(ServiceClient(
            client_id=client_id,
            secret_hash=signing.wrap_key(c.settings.secret_key, client_id, key),
            kind=_STORED_KINDS[0], name=name, created_at=c.clock.now(),
            pharmacy_code=pharmacy_code,
        ))
        audit.record(session, c.clock, AuditEntry(
            action="service_client.create", actor=AuditActor(client="cli"),
            object_type="service_client", object_id=client_id,
            details={"kind": kind, "pharmacy_code": pharmacy_code},
        ))
    return IssuedClient(client_id, key, name, kind, pharmacy_code)


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
           if client is not None and client.disabled_at is None and client.kind in _STORED_KINDS
           else None)
    if client is None or key is None or not signing.signature_matches(
            key, timestamp, method, path, body, signature):
        log.warning("refused a signed request: client %s",
                    client_id if _CLIENT_ID_SHAPE.match(client_id) else "(malformed)")
        raise Unauthenticated(SIGNATURE_INVALID, code="invalid_signature")
    return AuthenticatedClient(client.id, client.client_id, client.name, kind_of(client),
                               client.pharmacy_code)
