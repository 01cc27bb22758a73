"""What the platform holds about the caller, and what was done with it (PIPL Art. 45).

One read of everything tied to the caller's account and person: the account, the real-name
binding, consents with versions and times, family members, policies, orders, claims, the
authorizations to read their 医保 settlement records, proxy grants given and received,
complaints, and the audit trail about them — including attempts by
others that were denied. Masked throughout as DESIGN §5 asks (ID numbers, phones, names, the
caller's own included, as on every other page); amounts, dates and statuses in full.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.orm import InstrumentedAttribute, Session
from sqlalchemy.sql import ColumnElement

from huiminbao.audit.consents import CONSENT_TEXTS, ConsentKind
from huiminbao.audit.labels import action_label
from huiminbao.audit.models import AuditEvent, Consent
from huiminbao.catalog.models import Product
from huiminbao.claims.domain import ClaimStatus
from huiminbao.claims.models import Claim
from huiminbao.claims.record_models import RecordsConsent
from huiminbao.claims.record_rules import consent_status_label
from huiminbao.core.container import Container
from huiminbao.core.errors import NotFound
from huiminbao.core.masking import mask_id_number, mask_name, mask_phone
from huiminbao.disclosure.domain import ComplaintCategory, ComplaintStatus
from huiminbao.disclosure.models import Complaint
from huiminbao.enrollment.domain import OrderStatus, PaymentMethod, PolicyStatus
from huiminbao.enrollment.family.models import FamilyMember
from huiminbao.enrollment.models import Order, OrderItem, Policy
from huiminbao.identity.agreements import AGREEMENT_TEXTS
from huiminbao.identity.auth import Actor
from huiminbao.identity.consent_rules import stops
from huiminbao.identity.domain import Role
from huiminbao.identity.models import AgreementAcceptance, Person, UserAccount
from huiminbao.proxy.domain import GrantStatus, Scope, parse_scopes, scope_label
from huiminbao.proxy.models import ProxyGrant

AUDIT_LIMIT = 2000  # newest first; a longer history is given on request at the counter

OUTCOME_LABELS = {"ok": "成功", "denied": "已拒绝", "failed": "未成功"}


def _dt(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def export_for(c: Container, actor: Actor) -> dict[str, Any]:
    now = c.clock.now()
    with c.db.read() as session:
        account = session.get(UserAccount, actor.account_id)
        if account is None:
            raise NotFound()
        person = account.person
        pid = person.id if person is not None else None
        names = _Names(session, pid)
        data: dict[str, Any] = {
            "generated_at": now.isoformat(),
            "account": {
                "phone": mask_phone(account.phone), "role": Role(account.role).label,
                "created_at": _dt(account.created_at), "last_login_at": _dt(account.last_login_at),
                "wechat_linked": account.wechat_openid is not None,
                "elderly_mode": account.elderly_mode,
            },
            "identity": _identity(account, person),
            "agreements": _agreements(session, account.id),
            "consents": _consents(session, account.id),
            "family_members": _family(session, pid, names),
            "policies": _policies(session, pid, names),
            "orders": _orders(session, account.id, pid, names),
            "claims": _claims(session, account.id, pid),
            "records_authorizations": _records_authorizations(session, account.id, pid, names),
            "proxy_grants": _grants(session, pid, names),
            "complaints": _complaints(session, account.id, pid),
            "audit_trail": _audit(session, account.id, pid, names),
            "retention": RETENTION_NOTE,
        }
    return data


class _Names:
    """Masked names of the people that appear in the caller's records; the caller is 本人."""

    def __init__(self, session: Session, own_person_id: int | None) -> None:
        self.session = session
        self.own = own_person_id
        self.cache: dict[int, str] = {}

    def load(self, person_ids: Iterable[int | None]) -> None:
        wanted = {pid for pid in person_ids if pid is not None and pid not in self.cache}
        if wanted:
            for found in self.session.scalars(select(Person).where(Person.id.in_(wanted))):
                self.cache[found.id] = mask_name(found.name)

    def of(self, person_id: int | None) -> str | None:
        if person_id is None:
            return None
        if person_id == self.own:
            return "本人"
        self.load([person_id])
        return self.cache.get(person_id)


def _identity(account: UserAccount, person: Person | None) -> dict[str, Any]:
    if person is None:
        return {"bound": False}
    return {
        "bound": True, "bound_at": _dt(account.bound_at), "person_id": person.id,
        "name": mask_name(person.name), "id_number": mask_id_number(person.id_number),
        "birth_year": person.birth_date.year, "sex": person.sex,
    }


def _agreements(session: Session, account_id: int) -> list[dict[str, Any]]:
    """The versions of 用户协议 and 隐私政策 the account accepted at login, newest first."""
    rows = session.scalars(select(AgreementAcceptance)
                           .where(AgreementAcceptance.account_id == account_id)
                           .order_by(AgreementAcceptance.accepted_at.desc(),
                                     AgreementAcceptance.id.desc()))
    titles = {document.value: text.title for document, text in AGREEMENT_TEXTS.items()}
    return [{"document": row.document, "title": titles.get(row.document, row.document),
             "version": row.version, "accepted_at": _dt(row.accepted_at)} for row in rows]


def _consents(session: Session, account_id: int) -> list[dict[str, Any]]:
    rows = session.scalars(select(Consent).where(Consent.account_id == account_id)
                           .order_by(Consent.granted_at.desc(), Consent.id.desc()))
    items = []
    for row in rows:
        kind = ConsentKind(row.kind)
        items.append({
            "kind": row.kind, "title": CONSENT_TEXTS[kind].title,
            "text_version": row.text_version, "granted_at": _dt(row.granted_at),
            "withdrawn_at": _dt(row.withdrawn_at),
            "needed_for": [purpose.label for purpose in stops(kind)],
        })
    return items


def _family(session: Session, pid: int | None, names: _Names) -> list[dict[str, Any]]:
    if pid is None:
        return []
    from huiminbao.enrollment.family.members import RELATION_LABELS
    from huiminbao.registry.port import Relation

    members = session.scalars(select(FamilyMember).where(FamilyMember.owner_person_id == pid)
                              .order_by(FamilyMember.created_at.desc())).all()
    people = {p.id: p for p in session.scalars(
        select(Person).where(Person.id.in_({m.member_person_id for m in members})))}
    items = []
    for member in members:
        relative = people.get(member.member_person_id)
        items.append({
            "relation": RELATION_LABELS.get(Relation(member.relation), member.relation),
            "name": mask_name(relative.name) if relative else None,
            "id_number": mask_id_number(relative.id_number) if relative else None,
            "verification": member.verification, "added_at": _dt(member.created_at),
            "verified_at": _dt(member.verified_at), "removed_at": _dt(member.removed_at),
        })
    return items


def _products(session: Session, ids: Iterable[int]) -> dict[int, Product]:
    wanted = set(ids)
    if not wanted:
        return {}
    return {p.id: p for p in session.scalars(select(Product).where(Product.id.in_(wanted)))}


def _policies(session: Session, pid: int | None, names: _Names) -> list[dict[str, Any]]:
    if pid is None:
        return []
    policies = session.scalars(select(Policy).where(or_(
        Policy.insured_person_id == pid, Policy.holder_person_id == pid,
        Policy.payer_person_id == pid)).order_by(Policy.issued_at.desc())).all()
    products = _products(session, (p.product_id for p in policies))
    names.load(p.insured_person_id for p in policies)
    names.load(p.holder_person_id for p in policies)
    names.load(p.payer_person_id for p in policies)
    items = []
    for policy in policies:
        product = products.get(policy.product_id)
        tier = product.tier(policy.tier_code) if product else None
        items.append({
            "policy_no": policy.policy_no, "product": product.name if product else None,
            "tier": tier.name if tier else policy.tier_code,
            "insured": names.of(policy.insured_person_id),
            "holder": names.of(policy.holder_person_id),
            "payer": names.of(policy.payer_person_id),
            "status": policy.status, "status_label": PolicyStatus(policy.status).label,
            "premium_fen": policy.premium_fen, "subsidy_fen": policy.subsidy_fen,
            "coverage_starts_on": policy.coverage_starts_on.isoformat(),
            "coverage_ends_on": policy.coverage_ends_on.isoformat(),
            "issued_at": _dt(policy.issued_at), "cancelled_at": _dt(policy.cancelled_at),
            "auto_renew": policy.auto_renew,
        })
    return items


def _by_or_about(account_column: InstrumentedAttribute[Any], account_id: int,
                 person_columns: list[InstrumentedAttribute[Any]], pid: int | None
                 ) -> ColumnElement[bool]:
    """Rows the account made, or (with a bound person) rows naming that person in any of
    ``person_columns``."""
    conditions = [account_column == account_id]
    if pid is not None:
        conditions += [column == pid for column in person_columns]
    return or_(*conditions)


def _orders(session: Session, account_id: int, pid: int | None,
            names: _Names) -> list[dict[str, Any]]:
    orders = session.scalars(select(Order).where(_by_or_about(
        Order.buyer_account_id, account_id, [Order.buyer_person_id, Order.payer_person_id], pid))
                             .order_by(Order.created_at.desc())).all()
    items_by_order: dict[int, list[OrderItem]] = {}
    if orders:
        for item in session.scalars(select(OrderItem).where(
                OrderItem.order_id.in_([o.id for o in orders]))):
            items_by_order.setdefault(item.order_id, []).append(item)
    products = _products(session, (o.product_id for o in orders))
    names.load(item.insured_person_id for rows in items_by_order.values() for item in rows)
    result = []
    for order in orders:
        product = products.get(order.product_id)
        result.append({
            "order_no": order.order_no, "product": product.name if product else None,
            "status": order.status, "status_label": OrderStatus(order.status).label,
            "payment_method": PaymentMethod(order.payment_method).label,
            "channel": order.channel, "for": names.of(order.buyer_person_id),
            "payer": names.of(order.payer_person_id),
            "insured": [names.of(item.insured_person_id)
                        for item in items_by_order.get(order.id, [])],
            "premium_fen": order.premium_fen, "subsidy_fen": order.subsidy_fen,
            "payable_fen": order.payable_fen, "refunded_fen": order.refunded_fen,
            "created_at": _dt(order.created_at), "paid_at": _dt(order.paid_at),
            "closed_at": _dt(order.closed_at),
            "acted_for_grant_id": order.acted_for_grant_id,
        })
    return result


def _claims(session: Session, account_id: int, pid: int | None) -> list[dict[str, Any]]:
    claims = session.scalars(select(Claim).where(_by_or_about(
        Claim.submitted_by_account_id, account_id, [Claim.insured_person_id], pid))
                             .order_by(Claim.created_at.desc())).all()
    return [{
        "claim_no": claim.claim_no, "status": claim.status,
        "status_label": ClaimStatus(claim.status).label, "channel": claim.channel,
        "for_self": claim.insured_person_id == pid,
        "hospital": claim.hospital_name, "admitted_on": claim.admitted_on.isoformat(),
        "discharged_on": claim.discharged_on.isoformat(), "claimed_fen": claim.claimed_fen,
        "payout_fen": claim.payout_fen, "created_at": _dt(claim.created_at),
        "decided_at": _dt(claim.decided_at), "paid_at": _dt(claim.paid_at),
        "documents": len(claim.documents),
    } for claim in claims]


def _records_authorizations(session: Session, account_id: int, pid: int | None,
                            names: _Names) -> list[dict[str, Any]]:
    """Authorizations to read 医保 settlement records: the person's own, whoever gave them, and
    those the account gave or revoked for someone else as their agent (then who else acted on
    them is left out, as in the audit trail)."""
    rows = session.scalars(select(RecordsConsent).where(or_(
        _by_or_about(RecordsConsent.granted_by_account_id, account_id,
                     [RecordsConsent.person_id], pid),
        RecordsConsent.revoked_by_account_id == account_id))
        .order_by(RecordsConsent.granted_at.desc(), RecordsConsent.id.desc())).all()
    involved = {r.granted_by_account_id for r in rows} | {
        r.revoked_by_account_id for r in rows if r.revoked_by_account_id is not None}
    accounts = {a.id: a for a in session.scalars(
        select(UserAccount).where(UserAccount.id.in_(involved)))} if involved else {}
    names.load(a.person_id for a in accounts.values())
    names.load(r.person_id for r in rows)

    def by(acting: int | None, row: RecordsConsent, *, under_grant: bool) -> str | None:
        if acting is None:
            return None
        if acting == account_id:
            return "本人"
        account = accounts.get(acting)
        theirs = account is not None and account.person_id == row.person_id
        if row.person_id != pid:
            # The caller acted as the person's agent: the person may be named, but another
            # agent of theirs is not the caller's to see (as in the audit trail).
            return f"{names.of(row.person_id)}本人" if theirs else None
        return _actor_label(acting, account_id, accounts, names,
                            under_grant=under_grant and not theirs)

    return [{
        "id": row.id, "for": names.of(row.person_id),
        "period_from": row.period_from.isoformat(), "period_to": row.period_to.isoformat(),
        "status_label": consent_status_label(row.revoked_at),
        "granted_at": _dt(row.granted_at),
        "granted_by": by(row.granted_by_account_id, row, under_grant=row.grant_id is not None),
        # A revocation keeps no grant: anyone else who may revoke acted under one (or is staff).
        "revoked_at": _dt(row.revoked_at),
        "revoked_by": by(row.revoked_by_account_id, row, under_grant=True),
    } for row in rows]


def _grants(session: Session, pid: int | None, names: _Names) -> dict[str, list[dict[str, Any]]]:
    if pid is None:
        return {"given": [], "received": []}
    grants = session.scalars(select(ProxyGrant).where(or_(
        ProxyGrant.principal_person_id == pid, ProxyGrant.agent_person_id == pid))
        .order_by(ProxyGrant.created_at.desc())).all()
    names.load(g.principal_person_id for g in grants)
    names.load(g.agent_person_id for g in grants)
    given: list[dict[str, Any]] = []
    received: list[dict[str, Any]] = []
    for grant in grants:
        to_principal = grant.principal_person_id == pid
        scopes = parse_scopes(grant.scopes)
        view = {
            "id": grant.id,
            "agent" if to_principal else "principal": names.of(
                grant.agent_person_id if to_principal else grant.principal_person_id),
            "scopes": [scope_label(scope, grant.pay_limit_fen if scope is
                                   Scope.PAY_FROM_PRINCIPAL_ACCOUNT else None,
                                   to_principal=to_principal) for scope in scopes],
            "status": grant.status, "status_label": GrantStatus(grant.status).label,
            "created_at": _dt(grant.created_at), "confirmed_at": _dt(grant.confirmed_at),
            "confirmed_method": grant.confirmed_method,
            "valid_until": _dt(grant.valid_until), "ended_at": _dt(grant.ended_at),
        }
        (given if to_principal else received).append(view)
    return {"given": given, "received": received}


def _complaints(session: Session, account_id: int, pid: int | None) -> list[dict[str, Any]]:
    complaints = session.scalars(select(Complaint).where(_by_or_about(
        Complaint.filed_by_account_id, account_id, [Complaint.complainant_person_id], pid))
                                 .order_by(Complaint.created_at.desc())).all()
    return [{
        "complaint_no": complaint.complaint_no,
        "category": ComplaintCategory(complaint.category).label,
        "status": complaint.status, "status_label": ComplaintStatus(complaint.status).label,
        "content": complaint.content, "policy_no": complaint.policy_no,
        "claim_no": complaint.claim_no, "created_at": _dt(complaint.created_at),
        "resolved_at": _dt(complaint.resolved_at),
        "replies": [{"at": _dt(reply.created_at), "message": reply.message,
                     "by": "本人" if reply.author_account_id == account_id else "工作人员"}
                    for reply in complaint.replies],
    } for complaint in complaints]


def _audit(session: Session, account_id: int, pid: int | None,
           names: _Names) -> list[dict[str, Any]]:
    events = session.scalars(select(AuditEvent).where(_by_or_about(
        AuditEvent.actor_account_id, account_id,
        [AuditEvent.subject_person_id, AuditEvent.acting_for_person_id], pid))
                             .order_by(AuditEvent.occurred_at.desc(), AuditEvent.id.desc())
                             .limit(AUDIT_LIMIT)).all()
    actors = {a.id: a for a in session.scalars(select(UserAccount).where(UserAccount.id.in_(
        {e.actor_account_id for e in events if e.actor_account_id is not None})))}
    names.load(a.person_id for a in actors.values())
    return [{
        "occurred_at": _dt(event.occurred_at), "action": event.action,
        "label": action_label(event.action), "outcome": event.outcome,
        "outcome_label": OUTCOME_LABELS.get(event.outcome, event.outcome),
        "by": _who(event, account_id, actors, names),
        "about_me": pid is not None and pid in (event.subject_person_id,
                                                event.acting_for_person_id),
        "grant_id": event.grant_id, "object_type": event.object_type,
        "object_id": event.object_id, "details": event.details,
    } for event in events]


def _who(event: AuditEvent, account_id: int, actors: dict[int, UserAccount],
         names: _Names) -> str:
    if event.actor_account_id is None:
        return "医院结算系统" if event.actor_client else "系统"
    return _actor_label(event.actor_account_id, account_id, actors, names,
                        under_grant=event.grant_id is not None)


def _actor_label(acting: int, account_id: int, accounts: dict[int, UserAccount], names: _Names,
                 *, under_grant: bool) -> str:
    """Who did something, as the caller reads it: 本人, a staff role, 亲友代办（张*） for an
    agent, or 其他用户（张*）."""
    if acting == account_id:
        return "本人"
    account = accounts.get(acting)
    if account is None:
        return "已注销的账号"
    role = Role(account.role)
    if role.is_staff:
        return role.label
    name = names.of(account.person_id) or "未实名账号"
    if name == "本人":  # another account of the caller's own person (bound there before)
        return "本人（其他账号）"
    if under_grant:
        return f"亲友代办（{name}）"
    return f"其他用户（{name}）"


RETENTION_NOTE = (
    "以上为本平台保存的与您有关的信息，身份证号码、手机号码和姓名均以脱敏形式展示。"
    "如需更正，请联系客服或到经办窗口办理。"
)
