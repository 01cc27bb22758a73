"""Proxy use cases: an agent asks for a grant; the principal confirms it (QR code on their own
phone, an SMS code read out to the agent, or counter staff in person); both see and may revoke
it; it expires; the principal sees every act done under it.

Registry calls (the principal's name check, their registered phone) happen outside any open
database session. Every state change is audited in the transaction that makes it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from itsdangerous import BadData, SignatureExpired, URLSafeTimedSerializer
from sqlalchemy import or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from huiminbao.audit import services as audit
from huiminbao.audit.models import AuditEvent
from huiminbao.audit.services import AuditActor, AuditEntry
from huiminbao.core import idnumber
from huiminbao.core.clock import CHINA_TZ
from huiminbao.core.container import Container
from huiminbao.core.errors import (
    Conflict,
    DomainError,
    Forbidden,
    InvalidInput,
    NotFound,
    RuleViolation,
)
from huiminbao.core.masking import mask_id_number, mask_name, mask_phone, normalize_name
from huiminbao.core.pagination import FIRST_PAGE, Page, Window, count_rows
from huiminbao.enrollment.family import from_registry
from huiminbao.identity import consent_gate
from huiminbao.identity import services as identity
from huiminbao.identity.access import IDENTITY_REQUIRED
from huiminbao.identity.auth import Actor
from huiminbao.identity.consent_rules import Purpose
from huiminbao.identity.domain import OtpPurpose, Role
from huiminbao.identity.models import Person, UserAccount
from huiminbao.identity.sms_domain import SmsTemplate
from huiminbao.identity.tokens import timed_serializer
from huiminbao.proxy.domain import (
    CONFIRM_TOKEN_LIFETIME,
    NOTE_MAX_LENGTH,
    PENDING_LIFETIME,
    ConfirmMethod,
    Evidence,
    GrantStatus,
    Scope,
    effective_status,
    evidence_problem,
    format_scopes,
    parse_scopes,
    scope_label,
    terms_problems,
    transition,
)
from huiminbao.proxy.models import ProxyGrant
from huiminbao.proxy.payments import paid_this_year
from huiminbao.registry.port import RegistryPerson

COUNTER_ROLES = (Role.COUNTER_STAFF, Role.ADMIN)
CONFIRM_SALT = "proxy-confirm"

SELF_GRANT = "不能为本人申请代办授权"
NO_PHONE = ("委托人未登记手机号，无法接收短信验证码。"
            "请选择扫码确认，或携带双方证件到经办窗口现场确认")
GRANT_EXISTS = "您已有一份对该人员的代办授权（待确认或生效中），如需修改请先撤销原授权"
NOT_PRINCIPAL = "请使用委托人本人的账号登录后确认此授权"
QR_EXPIRED = "二维码已过期（有效期10分钟），请让代办人刷新二维码后重新扫描"
QR_INVALID = "二维码无效，请让代办人重新出示二维码"
GRANT_NOT_FOUND = "未找到该授权"
NO_PERSONAL_ACCOUNT = ("{name}没有医保个人账户（城乡居民医保不设个人账户），"
                       "不能授权从其个人账户缴费，请取消勾选这一项")
_NOT_PENDING = {
    GrantStatus.ACTIVE: "该授权已确认生效，无需重复确认",
    GrantStatus.REVOKED: "该授权已撤销，请重新申请",
    GrantStatus.CANCELLED: "该授权申请已取消，请重新申请",
    GrantStatus.EXPIRED: "该授权申请已过期，请重新申请",
}


# ---------------------------------------------------------------- answers


@dataclass(frozen=True)
class GrantDetails:
    grant: ProxyGrant
    agent: Person
    principal: Person
    status: GrantStatus  # effective now (a lapsed grant reads expired)
    paid_this_year_fen: int

    @property
    def scopes(self) -> tuple[Scope, ...]:
        return parse_scopes(self.grant.scopes)


@dataclass(frozen=True)
class GrantLists:
    as_agent: list[GrantDetails]
    as_principal: list[GrantDetails]


@dataclass(frozen=True)
class Confirmation:
    """What the principal's confirm page shows."""

    details: GrantDetails
    valid_until_if_confirmed_now: datetime
    token_expires_at: datetime


@dataclass(frozen=True)
class GrantRequest:
    """The principal is named by a pick from the agent's registry family list, or by name and
    ID number (then checked against the registry)."""

    principal_name: str | None
    principal_id_number: str | None
    scopes: Sequence[str]
    pay_limit_fen: int | None
    valid_days: int
    confirm_method: ConfirmMethod
    principal_pick: str | None = None


@dataclass(frozen=True)
class ActivityItem:
    event: AuditEvent
    agent_name: str  # masked
    by: str  # agent | principal | staff | system


# ---------------------------------------------------------------- asking for a grant


def request_grant(c: Container, actor: Actor, request: GrantRequest) -> GrantDetails:
    """The agent (identity bound) asks to act for the principal picked from the agent's
    registry family list, or named by name and ID number: then checked against the registry
    with one neutral answer on mismatch."""
    agent_person_id = _person_of(actor)
    problems = terms_problems(request.scopes, request.pay_limit_fen, request.valid_days)
    if problems:
        raise InvalidInput(next(iter(problems.values())),
                           errors={field: [message] for field, message in problems.items()})
    actor_ref = AuditActor(actor.account_id, actor.role.value)
    with c.db.read() as session:
        agent = session.get(Person, agent_person_id)
    assert agent is not None
    registered = (_picked_principal(c, actor, agent_person_id, request.principal_pick)
                  if request.principal_pick is not None
                  else _typed_principal(c, actor_ref, agent, request))
    scopes = parse_scopes(",".join(request.scopes))
    pays = Scope.PAY_FROM_PRINCIPAL_ACCOUNT in scopes
    if pays:
        _require_personal_account(c, registered)
    if request.confirm_method is ConfirmMethod.SMS and not registered.phone:
        raise RuleViolation(NO_PHONE, code="no_phone")

    now = c.clock.now()
    try:
        with c.db.transaction() as session:
            principal = identity.person_for(session, registered.id_number, registered.name,
                                            now)
            consent_gate.require(c, session, actor, [Purpose.PROXY_GRANTS],
                                 principal_person_id=principal.id)
            live = session.scalars(
                select(ProxyGrant).where(
                    ProxyGrant.agent_person_id == agent_person_id,
                    ProxyGrant.principal_person_id == principal.id,
                    ProxyGrant.status.in_([GrantStatus.PENDING.value,
                                           GrantStatus.ACTIVE.value]))
                .with_for_update()
            ).all()
            if any(_current(session, c, grant).is_live for grant in live):
                raise Conflict(GRANT_EXISTS, code="grant_exists")
            session.flush()  # lapsed grants leave the live index before the new one enters
            grant = ProxyGrant(
                agent_person_id=agent_person_id, agent_account_id=actor.account_id,
                principal_person_id=principal.id, scopes=format_scopes(scopes),
                pay_limit_fen=request.pay_limit_fen if pays else None,
                valid_days=request.valid_days, confirm_method=request.confirm_method.value,
                status=GrantStatus.PENDING.value, created_at=now,
                pending_expires_at=now + PENDING_LIFETIME,
            )
            session.add(grant)
            session.flush()
            audit.record(session, c.clock, _entry(
                "proxy.grant.create", actor_ref, grant,
                details={"scopes": [scope.value for scope in scopes],
                         "pay_limit_fen": grant.pay_limit_fen, "valid_days": grant.valid_days,
                         "confirm_method": grant.confirm_method,
                         "agent": mask_name(agent.name), "principal": mask_name(principal.name)},
            ))
            return _details(session, c, grant)
    except IntegrityError as exc:  # the same pair asked at the same moment elsewhere
        raise Conflict(GRANT_EXISTS, code="grant_exists") from exc


def _picked_principal(c: Container, actor: Actor, agent_person_id: int,
                      pick: str) -> RegistryPerson:
    """A relative the registry links to the agent, vouched for by that link."""
    return from_registry.resolve_pick(c, actor, agent_person_id, pick,
                                      purpose=Purpose.PROXY_GRANTS,
                                      field="principal_pick").person


def _typed_principal(c: Container, actor_ref: AuditActor, agent: Person,
                     request: GrantRequest) -> RegistryPerson:
    """The registry's record of the person named by the name and ID number typed."""
    parsed = idnumber.parse_input(request.principal_id_number or "", today=c.clock.today(),
                                  field="principal_id_number")
    if parsed.value == agent.id_number:
        raise RuleViolation(SELF_GRANT, code="self_grant")
    typed_name = normalize_name(request.principal_name or "")
    registered = c.registry.find_person(parsed.value)
    if registered is None or normalize_name(registered.name) != typed_name:
        audit.record_now(c.db, c.clock, AuditEntry(
            action="proxy.grant.create", outcome="denied", actor=actor_ref,
            details={"principal_id_number": mask_id_number(parsed.value),
                     "principal_name": mask_name(typed_name), "reason": "identity_mismatch"},
        ))
        raise RuleViolation(identity.IDENTITY_MISMATCH, code="identity_mismatch")
    return registered


def _require_personal_account(c: Container, registered: RegistryPerson) -> None:
    """Paying from the principal's personal account needs one: residents (城乡居民) have none.
    Asked of the registry before anything is written; a registry that does not answer stops
    the request (503) with nothing written."""
    if c.registry.balance(registered.id_number) is None:
        message = NO_PERSONAL_ACCOUNT.format(name=mask_name(registered.name))
        raise RuleViolation(message, code="no_personal_account", errors={"scopes": [message]})


# ---------------------------------------------------------------- reading and listing


def list_grants(c: Container, actor: Actor) -> GrantLists:
    """The caller's grants, as agent and as principal, newest first. Lapsed grants are marked
    expired (and audited) on the way."""
    if actor.person_id is None:  # not identity bound (or staff): nobody's agent or principal
        return GrantLists(as_agent=[], as_principal=[])
    person_id = actor.person_id
    with c.db.transaction() as session:
        grants = session.scalars(
            select(ProxyGrant)
            .where(or_(ProxyGrant.agent_person_id == person_id,
                       ProxyGrant.principal_person_id == person_id))
            .order_by(ProxyGrant.created_at.desc(), ProxyGrant.id.desc()).limit(200)
        ).all()
        details = [_details(session, c, grant, persist_expiry=True) for grant in grants]
    return GrantLists(
        as_agent=[d for d in details if d.grant.agent_person_id == person_id],
        as_principal=[d for d in details if d.grant.principal_person_id == person_id],
    )


def get_grant(c: Container, actor: Actor, grant_id: int) -> GrantDetails:
    """One grant, for its agent, its principal or counter staff; anyone else gets 404."""
    with c.db.transaction() as session:
        grant = session.get(ProxyGrant, grant_id)
        if grant is None or _party(actor, grant) is None:
            raise NotFound(GRANT_NOT_FOUND)
        return _details(session, c, grant, persist_expiry=True)


def counter_lookup(c: Container, actor: Actor, raw_id_number: str) -> list[GrantDetails]:
    """Counter staff: the live (pending or active) grants whose principal has this ID number,
    so that the grant can be confirmed (or revoked) in the principal's presence."""
    _require_counter(actor)
    parsed = idnumber.parse_input(raw_id_number, today=c.clock.today(),
                                  field="principal_id_number")
    with c.db.transaction() as session:
        audit.record(session, c.clock, AuditEntry(
            action="proxy.counter_lookup", actor=AuditActor(actor.account_id, actor.role.value),
            details={"principal_id_number": mask_id_number(parsed.value)},
        ))
        principal_id = session.scalars(
            select(Person.id).where(Person.id_number_is(parsed.value))).first()
        if principal_id is None:
            return []
        grants = session.scalars(
            select(ProxyGrant).where(
                ProxyGrant.principal_person_id == principal_id,
                ProxyGrant.status.in_([GrantStatus.PENDING.value, GrantStatus.ACTIVE.value]))
            .order_by(ProxyGrant.created_at.desc(), ProxyGrant.id.desc())
        ).all()
        details = [_details(session, c, grant, persist_expiry=True) for grant in grants]
    return [d for d in details if d.status.is_live]


# ---------------------------------------------------------------- confirming: QR code


def _serializer(c: Container) -> URLSafeTimedSerializer:
    return timed_serializer(c.settings.secret_key, CONFIRM_SALT, c.clock)


def _agents_pending_grant(c: Container, actor: Actor, grant_id: int) -> ProxyGrant:
    """The agent's grant while it still waits for the principal to confirm it."""
    with c.db.transaction() as session:
        grant = _agents_grant(session, actor, grant_id)
        status = _current(session, c, grant)
    if status is not GrantStatus.PENDING:
        raise _not_pending(status)
    return grant


def confirmation_token(c: Container, actor: Actor, grant_id: int) -> tuple[str, datetime]:
    """For the agent's QR code: a signed token naming the grant, valid ten minutes."""
    grant = _agents_pending_grant(c, actor, grant_id)
    token = str(_serializer(c).dumps({"grant": grant.id}))
    return token, c.clock.now() + CONFIRM_TOKEN_LIFETIME


def _read_token(c: Container, token: str) -> tuple[int, datetime]:
    try:
        payload, signed_at = _serializer(c).loads(
            token, max_age=int(CONFIRM_TOKEN_LIFETIME.total_seconds()), return_timestamp=True)
    except SignatureExpired as exc:
        raise RuleViolation(QR_EXPIRED, code="token_expired") from exc
    except BadData as exc:
        raise NotFound(QR_INVALID) from exc
    grant_id = payload.get("grant") if isinstance(payload, dict) else None
    if not isinstance(grant_id, int):
        raise NotFound(QR_INVALID)
    return grant_id, signed_at + CONFIRM_TOKEN_LIFETIME


def _require_principal(c: Container, actor: Actor, grant_id: int) -> ProxyGrant:
    """The grant, if the caller is its principal. Anyone else: one neutral 403 (audited)."""
    person_id = _person_of(actor)
    with c.db.read() as session:
        grant = session.get(ProxyGrant, grant_id)
    if grant is None or grant.principal_person_id != person_id:
        audit.record_now(c.db, c.clock, AuditEntry(
            action="proxy.grant.confirm", outcome="denied",
            actor=AuditActor(actor.account_id, actor.role.value),
            object_type="proxy_grant", object_id=str(grant_id), details={"method": "qr"},
        ))
        raise Forbidden(NOT_PRINCIPAL, code="not_principal")
    return grant


def read_confirmation(c: Container, actor: Actor, token: str) -> Confirmation:
    """The principal's confirm page: what the agent may do and until when."""
    grant_id, token_expires_at = _read_token(c, token)
    _require_principal(c, actor, grant_id)
    with c.db.transaction() as session:
        grant = _locked(session, grant_id)
        details = _details(session, c, grant, persist_expiry=True)
    return Confirmation(details, c.clock.now() + timedelta(days=grant.valid_days),
                        token_expires_at)


def answer_confirmation(c: Container, actor: Actor, token: str, agree: bool) -> GrantDetails:
    """The principal, signed in on their own phone, agrees (the grant becomes active) or
    declines (the request is cancelled)."""
    grant_id, _expires = _read_token(c, token)
    grant = _require_principal(c, actor, grant_id)
    if not agree:
        return _end(c, actor, grant_id, declined=True)
    return _activate(c, actor, grant_id, ConfirmMethod.QR,
                     principal_phone=_registered_phone(c, grant.principal_person_id))


# ---------------------------------------------------------------- confirming: SMS code


def send_confirmation_code(c: Container, actor: Actor, grant_id: int) -> tuple[str, datetime]:
    """Text a code to the principal's registered phone; returns the masked phone and expiry."""
    grant = _agents_pending_grant(c, actor, grant_id)
    phone = _registered_phone(c, grant.principal_person_id)
    if not phone:
        raise RuleViolation(NO_PHONE, code="no_phone")
    expires_at = identity.send_code(c, phone, OtpPurpose.PROXY_GRANT)
    return mask_phone(phone), expires_at


def confirm_with_code(c: Container, actor: Actor, grant_id: int, code: str) -> GrantDetails:
    """The agent enters the code the principal read out to them."""
    with c.db.read() as session:
        grant = _agents_grant(session, actor, grant_id)
    phone = _registered_phone(c, grant.principal_person_id)
    if not phone:
        raise RuleViolation(NO_PHONE, code="no_phone")
    return _activate(c, actor, grant_id, ConfirmMethod.SMS, principal_phone=phone, code=code)


# ---------------------------------------------------------------- confirming: at the counter


def confirm_at_counter(c: Container, actor: Actor, grant_id: int, evidence: Sequence[str],
                       note: str | None) -> GrantDetails:
    """Counter staff saw both people and their documents; records who confirmed and what."""
    _require_counter(actor)
    try:
        checked = [Evidence(value) for value in dict.fromkeys(evidence)]
    except ValueError as exc:
        raise InvalidInput("包含不支持的核验材料",
                           errors={"counter.evidence": ["包含不支持的核验材料"]}) from exc
    if problem := evidence_problem(checked):
        raise InvalidInput(problem, errors={"counter.evidence": [problem]})
    note = (note or "").strip() or None
    if note is not None and len(note) > NOTE_MAX_LENGTH:
        raise InvalidInput("备注不能超过200字", errors={"counter.note": ["备注不能超过200字"]})
    with c.db.read() as session:
        grant = session.get(ProxyGrant, grant_id)
    if grant is None:
        raise NotFound(GRANT_NOT_FOUND)
    return _activate(c, actor, grant_id, ConfirmMethod.COUNTER,
                     principal_phone=_registered_phone(c, grant.principal_person_id),
                     evidence=[e.value for e in checked], note=note)


def _activate(c: Container, actor: Actor, grant_id: int, method: ConfirmMethod, *,
              principal_phone: str | None, code: str | None = None,
              evidence: list[str] | None = None, note: str | None = None) -> GrantDetails:
    now = c.clock.now()
    problem: GrantStatus | None = None
    check = identity.CodeCheck.ACCEPTED
    details: GrantDetails | None = None
    with c.db.transaction() as session:
        grant = _locked(session, grant_id)
        consent_gate.require(c, session, actor, [Purpose.PROXY_GRANTS],
                             principal_person_id=grant.principal_person_id)
        status = _current(session, c, grant)
        if status is not GrantStatus.PENDING:
            problem = status
        else:
            if method is ConfirmMethod.SMS:
                assert principal_phone is not None and code is not None
                # A wrong code's counter must persist: this transaction commits either way.
                check = identity.consume_code(c, session, principal_phone,
                                              OtpPurpose.PROXY_GRANT, code)
            if check.accepted:
                grant.status = transition(status, GrantStatus.ACTIVE).value
                grant.confirmed_at, grant.confirmed_method = now, method.value
                grant.confirmed_by_account_id = actor.account_id
                grant.valid_until = now + timedelta(days=grant.valid_days)
                grant.evidence, grant.counter_note = evidence, note
                details = _details(session, c, grant)
                audit.record(session, c.clock, _entry(
                    "proxy.grant.confirm", AuditActor(actor.account_id, actor.role.value), grant,
                    details={"method": method.value, "evidence": evidence or [],
                             "valid_until": grant.valid_until.isoformat()},
                ))
                if principal_phone:
                    c.sms.send(session, principal_phone, SmsTemplate.PROXY_GRANT_ACTIVE,
                               _activation_params(details))
    if problem is not None:
        raise _not_pending(problem)
    if not check.accepted:
        raise check.invalid_input()
    assert details is not None
    return details


def _activation_params(details: GrantDetails) -> dict[str, str]:
    grant = details.grant
    assert grant.valid_until is not None
    scopes = "、".join(scope_label(scope, grant.pay_limit_fen, to_principal=True)
                      for scope in details.scopes)
    until = grant.valid_until.astimezone(CHINA_TZ)
    return {"agent": mask_name(details.agent.name), "scopes": scopes,
            "until": f"{until:%Y年%m月%d日}"}


# ---------------------------------------------------------------- revoking


def revoke(c: Container, actor: Actor, grant_id: int) -> GrantDetails:
    """The agent, the principal or counter staff end the grant: a pending request is cancelled,
    an active grant revoked. The very next request made under it is refused."""
    return _end(c, actor, grant_id, declined=False)


def _end(c: Container, actor: Actor, grant_id: int, *, declined: bool) -> GrantDetails:
    now = c.clock.now()
    with c.db.transaction() as session:
        grant = session.get(ProxyGrant, grant_id, with_for_update=True, populate_existing=True)
        party = _party(actor, grant) if grant is not None else None
        if grant is None or party is None:
            raise NotFound(GRANT_NOT_FOUND)
        status = _current(session, c, grant)
        if status.is_live:
            target = GrantStatus.CANCELLED if status is GrantStatus.PENDING else \
                GrantStatus.REVOKED
            grant.status = transition(status, target).value
            grant.ended_at, grant.ended_by_account_id = now, actor.account_id
            action = "proxy.grant.decline" if declined else (
                "proxy.grant.cancel" if target is GrantStatus.CANCELLED else "proxy.grant.revoke")
            audit.record(session, c.clock, _entry(
                action, AuditActor(actor.account_id, actor.role.value), grant,
                details={"by": party, "from": status.value},
            ))
        return _details(session, c, grant)


# ---------------------------------------------------------------- what the principal sees


def activity(c: Container, actor: Actor, window: Window = FIRST_PAGE) -> Page[ActivityItem]:
    """Every audited act under a grant whose principal is the caller, newest first, a page at a
    time."""
    if actor.person_id is None:
        return Page([], 0)
    person_id = actor.person_id
    query = (select(AuditEvent)
             .join(ProxyGrant, ProxyGrant.id == AuditEvent.grant_id)
             .where(ProxyGrant.principal_person_id == person_id,
                    or_(AuditEvent.subject_person_id == person_id,
                        AuditEvent.acting_for_person_id == person_id))
             .order_by(AuditEvent.occurred_at.desc(), AuditEvent.id.desc()))
    with c.db.read() as session:
        events = list(session.scalars(query.offset(window.offset).limit(window.limit)))
        total = count_rows(session, query)
        grants = {grant.id: grant for grant in session.scalars(select(ProxyGrant).where(
            ProxyGrant.id.in_({event.grant_id for event in events})))}
        agents = {person.id: person for person in session.scalars(
            select(Person).where(Person.id.in_({g.agent_person_id for g in grants.values()})))}
        accounts = {account.id: account for account in session.scalars(
            select(UserAccount).where(UserAccount.id.in_(
                {e.actor_account_id for e in events if e.actor_account_id is not None})))}
    items = []
    for event in events:
        grant = grants[event.grant_id or -1]
        agent = agents.get(grant.agent_person_id)
        account = accounts.get(event.actor_account_id or -1)
        if account is None:
            by = "system"
        elif account.person_id == person_id:
            by = "principal"
        elif account.person_id == grant.agent_person_id:
            by = "agent"
        else:
            by = "staff"
        items.append(ActivityItem(event, mask_name(agent.name) if agent else "", by))
    return Page(items, total)


# ---------------------------------------------------------------- helpers


def _person_of(actor: Actor) -> int:
    if actor.person_id is None:
        raise RuleViolation(IDENTITY_REQUIRED, code="identity_required")
    return actor.person_id


def _require_counter(actor: Actor) -> None:
    if actor.role not in COUNTER_ROLES:
        raise Forbidden("无权进行此操作：仅限经办窗口工作人员", code="forbidden")


def _party(actor: Actor, grant: ProxyGrant) -> str | None:
    if actor.person_id is not None and actor.person_id == grant.agent_person_id:
        return "agent"
    if actor.person_id is not None and actor.person_id == grant.principal_person_id:
        return "principal"
    if actor.role in COUNTER_ROLES:
        return "counter"
    return None


def _agents_grant(session: Session, actor: Actor, grant_id: int) -> ProxyGrant:
    person_id = _person_of(actor)
    grant = session.get(ProxyGrant, grant_id)
    if grant is None or grant.agent_person_id != person_id:
        raise NotFound(GRANT_NOT_FOUND)
    return grant


def _locked(session: Session, grant_id: int) -> ProxyGrant:
    grant = session.get(ProxyGrant, grant_id, with_for_update=True, populate_existing=True)
    if grant is None:
        raise NotFound(GRANT_NOT_FOUND)
    return grant


def _current(session: Session, c: Container, grant: ProxyGrant) -> GrantStatus:
    """The grant's effective status; a lapsed one is written as expired (and audited) here."""
    stored = GrantStatus(grant.status)
    status = effective_status(stored, pending_expires_at=grant.pending_expires_at,
                              valid_until=grant.valid_until, now=c.clock.now())
    if status is not stored:
        grant.status = transition(stored, status).value
        lapsed_at = grant.valid_until if stored is GrantStatus.ACTIVE else \
            grant.pending_expires_at
        grant.ended_at = lapsed_at
        audit.record(session, c.clock, _entry(
            "proxy.grant.expire", AuditActor(client="system"), grant,
            details={"from": stored.value,
                     "expired_at": lapsed_at.isoformat() if lapsed_at else None},
        ))
    return status


def _details(session: Session, c: Container, grant: ProxyGrant, *,
             persist_expiry: bool = False) -> GrantDetails:
    if persist_expiry:
        status = _current(session, c, grant)
    else:
        status = effective_status(GrantStatus(grant.status),
                                  pending_expires_at=grant.pending_expires_at,
                                  valid_until=grant.valid_until, now=c.clock.now())
    agent = session.get(Person, grant.agent_person_id)
    principal = session.get(Person, grant.principal_person_id)
    assert agent is not None and principal is not None
    paid = paid_this_year(session, grant.id, c.clock.today()) \
        if Scope.PAY_FROM_PRINCIPAL_ACCOUNT in parse_scopes(grant.scopes) else 0
    return GrantDetails(grant, agent, principal, status, paid)


def _entry(action: str, actor: AuditActor, grant: ProxyGrant, *,
           details: dict[str, Any]) -> AuditEntry:
    return AuditEntry(action=action, actor=actor, subject_person_id=grant.principal_person_id,
                      grant_id=grant.id, object_type="proxy_grant", object_id=str(grant.id),
                      details=details)


def _not_pending(status: GrantStatus) -> DomainError:
    message = _NOT_PENDING.get(status, "该授权当前不能确认")
    if status is GrantStatus.ACTIVE:
        return Conflict(message, code="already_confirmed")
    return RuleViolation(message, code="grant_not_pending")


def _registered_phone(c: Container, person_id: int) -> str | None:
    """The person's phone as the registry has it (read outside any open session)."""
    with c.db.read() as session:
        person = session.get(Person, person_id)
    if person is None:
        return None
    registered = c.registry.find_person(person.id_number)
    return registered.phone if registered is not None else None
