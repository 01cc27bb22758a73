"""Data fix: auto-renewals switched on by someone other than the paying account owner.

Before the payer-only rule (``policies.auto_renew_refusal``), anyone who could act on a policy
could turn auto-renewal on — the insured relative, an agent under a grant — consenting to future
debits from the payer's personal account. The renewal job (``renewal._renew``) debits the
holder's own account, so a consent stands only when the holder paid and the holder gave it.

For every active policy with auto-renewal on, the latest successful ``policy.auto_renew_on``
audit event names who consented. The consent is kept when that account's person is the policy's
payer and the payer is the holder; otherwise (another person, an account no longer bound, no
such event, a policy paid through a proxy grant) auto-renewal is turned off, an audit event
``policy.auto_renew_revoked`` records why, and the payer gets an SMS through the outbox. Run
once after deploying (``huiminbao renewal revoke-unconsented``); running it again finds
nothing more. ``dry_run`` lists without changing anything.

A CLI rather than an alembic migration: the fix needs the registry (the payer's phone) and the
SMS outbox, which migrations do not reach; it is idempotent, so running it late is safe.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from sqlalchemy import select

from huiminbao.audit import services as audit
from huiminbao.audit.models import AuditEvent
from huiminbao.audit.services import AuditActor, AuditEntry
from huiminbao.catalog.models import Product
from huiminbao.core.container import Container
from huiminbao.core.masking import mask_name
from huiminbao.enrollment.domain import PolicyStatus
from huiminbao.enrollment.models import Policy
from huiminbao.identity.models import Person, UserAccount
from huiminbao.identity.sms_domain import SmsTemplate
from huiminbao.registry.port import RegistryUnavailable

log = logging.getLogger(__name__)

ACTION = "policy.auto_renew_revoked"


@dataclass(frozen=True)
class Unconsented:
    policy_no: str
    reason: str  # not_payer | payer_not_holder | no_consent_record
    consented_by_account_id: int | None


@dataclass
class FixReport:
    found: list[Unconsented] = field(default_factory=list)
    revoked: int = 0
    notified: int = 0

    def format(self) -> str:
        lines = [f"found {len(self.found)}, turned off {self.revoked}, "
                 f"payers texted {self.notified}"]
        lines += [f"  {u.policy_no}: {u.reason}" for u in self.found]
        return "\n".join(lines)


def find_unconsented(c: Container) -> list[Unconsented]:
    """Active policies with auto-renewal on whose consent did not come from the paying holder."""
    found: list[Unconsented] = []
    with c.db.read() as session:
        policies = session.scalars(
            select(Policy).where(Policy.auto_renew, Policy.status == PolicyStatus.ACTIVE.value)
            .order_by(Policy.id)).all()
        for policy in policies:
            consent = session.scalars(
                select(AuditEvent).where(AuditEvent.action == "policy.auto_renew_on",
                                         AuditEvent.outcome == "ok",
                                         AuditEvent.object_type == "policy",
                                         AuditEvent.object_id == policy.policy_no)
                .order_by(AuditEvent.occurred_at.desc(), AuditEvent.id.desc()).limit(1)
            ).first()
            account_id = consent.actor_account_id if consent is not None else None
            account = session.get(UserAccount, account_id) if account_id is not None else None
            if consent is None:
                reason = "no_consent_record"
            elif (policy.payer_person_id is None or account is None
                  or account.person_id != policy.payer_person_id):
                reason = "not_payer"
            elif policy.payer_person_id != policy.holder_person_id:
                reason = "payer_not_holder"
            else:
                continue
            found.append(Unconsented(policy.policy_no, reason, account_id))
    return found


def revoke_unconsented(c: Container, *, dry_run: bool = False) -> FixReport:
    report = FixReport(found=find_unconsented(c))
    if dry_run:
        return report
    for item in report.found:
        revoked, notified = _revoke(c, item)
        report.revoked += revoked
        report.notified += notified
    return report


def _revoke(c: Container, item: Unconsented) -> tuple[bool, bool]:
    with c.db.read() as session:
        policy = session.scalars(select(Policy).where(Policy.policy_no == item.policy_no)).one()
        payer = session.get(Person, policy.payer_person_id) if policy.payer_person_id else None
        insured = session.get(Person, policy.insured_person_id)
    phone: str | None = None
    if payer is not None:  # the phone the registry holds for the account owner, as refunds use
        try:
            registered = c.registry.find_person(payer.id_number)
            phone = registered.phone if registered is not None else None
        except RegistryUnavailable:
            log.warning("auto-renew fix: registry unavailable, %s's payer not texted",
                        item.policy_no)
    with c.db.transaction() as session:
        locked = session.scalars(select(Policy).where(Policy.policy_no == item.policy_no)
                                 .with_for_update().execution_options(populate_existing=True)
                                 ).one()
        if not locked.auto_renew:
            return False, False  # turned off meanwhile: nothing to undo, nobody to tell
        locked.auto_renew = False
        locked.auto_renew_consent_version = None
        locked.auto_renew_changed_at = c.clock.now()
        product = session.get(Product, locked.product_id)
        assert product is not None and insured is not None
        if phone:
            c.sms.send(session, phone, SmsTemplate.AUTO_RENEW_REVOKED,
                       {"product": product.name, "insured": mask_name(insured.name)})
        audit.record(session, c.clock, AuditEntry(
            action=ACTION, actor=AuditActor(client="cli"),
            subject_person_id=locked.insured_person_id, object_type="policy",
            object_id=locked.policy_no,
            details={"reason": item.reason,
                     "consented_by_account_id": item.consented_by_account_id,
                     "payer_notified": bool(phone)},
        ))
    return True, bool(phone)
