"""A resident's request to delete their account, where the law allows (PIPL Art. 47).

What may go goes: the account is closed and unbound, its login phone and WeChat link are
replaced by an identifier that names nobody, every consent is withdrawn, live proxy grants end,
the family list is cleared and auto-renewal stops. What the law requires us to keep stays, used
for nothing but keeping it: policies, orders and payment records (保险法 Art. 87: at least five
years after the contract ends), ledger entries (会计档案管理办法: accounting records 30 years),
claims and complaints, and the audit trail (网络安全法 Art. 21, PIPL Art. 51).

The request and what was done are recorded as an ``account.delete`` audit event about the
person. Business still under way (an unpaid order, a claim the insurer has not finished) has to
end first, so that nothing is left half done with no account to follow it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import select, update

from huiminbao.audit import services as audit
from huiminbao.audit.models import Consent
from huiminbao.audit.services import AuditActor, AuditEntry
from huiminbao.claims.domain import ClaimStatus
from huiminbao.claims.models import Claim
from huiminbao.claims.record_models import RecordsConsent
from huiminbao.core.container import Container
from huiminbao.core.errors import NotFound, RuleViolation
from huiminbao.core.masking import mask_phone
from huiminbao.enrollment.domain import OrderStatus
from huiminbao.enrollment.family.models import FamilyMember
from huiminbao.enrollment.models import Order, Policy
from huiminbao.identity.auth import Actor
from huiminbao.identity.models import AuthSession, UserAccount
from huiminbao.proxy.domain import GrantStatus, transition
from huiminbao.proxy.models import ProxyGrant

KEPT = [
    "保单、投保订单和缴费记录：依据《保险法》第八十七条，自保险合同终止之日起至少保存五年",
    "医保个人账户扣款、退款和理赔赔付的账务记录：依据《会计档案管理办法》保存三十年",
    "理赔案件及材料、投诉及处理记录：在保险合同和投诉处理的法定保存期内保存",
    "操作审计记录：依据《网络安全法》第二十一条和《个人信息保护法》第五十一条保存，"
    "用于证明每一次处理都经过授权",
]
KEPT_HOW = ("以上信息在保存期内仅用于依法存档和必要的安全保护，不再用于其他处理；"
            "保存期满后删除或匿名化（《个人信息保护法》第四十七条）。已生效的保单继续有效，"
            "您可凭身份证件到经办窗口或通过客服查询。")
REMOVED = [
    "注销账号，解除实名认证绑定",
    "删除登录手机号和微信绑定，以不可识别的编号代替",
    "撤回全部授权同意",
    "结束您给出和收到的全部代办授权",
    "清空您登记的家庭成员",
    "关闭您缴费保单的自动续保",
    "退出所有已登录的设备",
]
CLOSED_PHONE_PREFIX = "0"  # no mainland mobile starts with 0: nobody can sign in with it


@dataclass(frozen=True)
class DeletionPlan:
    removed: list[str]
    kept: list[str]
    kept_how: str
    blockers: list[str]

    def view(self) -> dict[str, Any]:
        return {"removed": self.removed, "kept": self.kept, "kept_how": self.kept_how,
                "blockers": self.blockers, "allowed": not self.blockers}


def plan(c: Container, actor: Actor) -> DeletionPlan:
    with c.db.read() as session:
        account = session.get(UserAccount, actor.account_id)
        if account is None:
            raise NotFound()
        blockers: list[str] = []
        if actor.role.is_staff:
            blockers.append("工作人员账号请由系统管理员办理注销")
        pending = session.scalars(select(Order.order_no).where(
            Order.buyer_account_id == account.id,
            Order.status == OrderStatus.PENDING_PAYMENT.value)).first()
        if pending is not None:
            blockers.append(f"您有待支付的订单（{pending}），请先完成支付或取消订单")
        if account.person_id is not None:
            open_claim = session.scalars(select(Claim.claim_no).where(
                Claim.insured_person_id == account.person_id,
                Claim.status.in_([s.value for s in ClaimStatus
                                  if s.is_open or s is ClaimStatus.APPROVED]))).first()
            if open_claim is not None:
                blockers.append(f"您有尚未办结的理赔（{open_claim}），请在理赔办结后再申请注销")
    return DeletionPlan(REMOVED, KEPT, KEPT_HOW, blockers)


def delete_account(c: Container, actor: Actor) -> DeletionPlan:
    found = plan(c, actor)
    if found.blockers:
        raise RuleViolation(found.blockers[0], code="deletion_blocked",
                            errors={"account": found.blockers})
    now = c.clock.now()
    actor_ref = AuditActor(actor.account_id, actor.role.value)
    with c.db.transaction() as session:
        account = session.get(UserAccount, actor.account_id, with_for_update=True)
        if account is None:
            raise NotFound()
        person_id = account.person_id
        masked_phone = mask_phone(account.phone)
        session.execute(update(Consent).where(Consent.account_id == account.id,
                                              Consent.withdrawn_at.is_(None))
                        .values(withdrawn_at=now))
        session.execute(update(AuthSession).where(AuthSession.account_id == account.id,
                                                  AuthSession.revoked_at.is_(None))
                        .values(revoked_at=now))
        ended_grants: list[int] = []
        if person_id is not None:
            live = [GrantStatus.PENDING.value, GrantStatus.ACTIVE.value]
            for grant in session.scalars(select(ProxyGrant).where(
                    (ProxyGrant.principal_person_id == person_id)
                    | (ProxyGrant.agent_person_id == person_id),
                    ProxyGrant.status.in_(live)).with_for_update()):
                status = GrantStatus(grant.status)
                target = GrantStatus.CANCELLED if status is GrantStatus.PENDING \
                    else GrantStatus.REVOKED
                grant.status = transition(status, target).value
                grant.ended_at, grant.ended_by_account_id = now, account.id
                ended_grants.append(grant.id)
                ended = "cancel" if target is GrantStatus.CANCELLED else "revoke"
                audit.record(session, c.clock, AuditEntry(
                    action=f"proxy.grant.{ended}",
                    actor=actor_ref, subject_person_id=grant.principal_person_id,
                    grant_id=grant.id, object_type="proxy_grant", object_id=str(grant.id),
                    details={"by": "account_deletion", "from": status.value},
                ))
            session.execute(update(FamilyMember).where(
                FamilyMember.owner_person_id == person_id, FamilyMember.removed_at.is_(None))
                .values(removed_at=now))
            # No more reads of the person's 医保 settlement records.
            session.execute(update(RecordsConsent).where(
                RecordsConsent.person_id == person_id, RecordsConsent.revoked_at.is_(None))
                .values(revoked_at=now, revoked_by_account_id=account.id))
            session.execute(update(Policy).where(Policy.payer_person_id == person_id,
                                                 Policy.auto_renew.is_(True))
                            .values(auto_renew=False, auto_renew_consent_version=None,
                                    auto_renew_changed_at=now))
        account.person_id, account.bound_at = None, None
        account.wechat_openid, account.display_name = None, None
        account.elderly_mode = False
        account.phone = closed_phone(account.id)
        audit.record(session, c.clock, AuditEntry(
            action="account.delete", actor=actor_ref, subject_person_id=person_id,
            object_type="account", object_id=str(account.id),
            details={"phone": masked_phone, "ended_grants": ended_grants,
                     "removed": REMOVED, "kept": KEPT},
        ))
    return found


def closed_phone(account_id: int) -> str:
    """An identifier in the phone column that names nobody and cannot receive a code."""
    return CLOSED_PHONE_PREFIX + f"{account_id:010d}"[-10:]
