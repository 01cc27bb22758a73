"""Renewal by consent only: a notice first, a debit only after the notice period, and only while
the account owner's auto-renewal consent is still on record (003 三(三)2: 经参保人员确认同意)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import selectinload

from huiminbao.audit import services as audit
from huiminbao.catalog.domain import ProductStatus
from huiminbao.catalog.models import Product
from huiminbao.core.clock import CHINA_TZ
from huiminbao.core.container import Container
from huiminbao.core.errors import DomainError, NotFound, RuleViolation
from huiminbao.core.masking import mask_name
from huiminbao.core.money import format_fen
from huiminbao.enrollment import ordering, quoting
from huiminbao.enrollment.domain import PaymentMethod, PolicyStatus
from huiminbao.enrollment.models import Policy, RenewalNotice
from huiminbao.identity.access import Subject
from huiminbao.identity.auth import Actor
from huiminbao.identity.consent_gate import ConsentWithdrawn, require_now
from huiminbao.identity.consent_rules import Purpose
from huiminbao.identity.domain import Basis, Role
from huiminbao.identity.models import Person, UserAccount
from huiminbao.identity.sms_domain import SmsTemplate

NOTICE_PERIOD = timedelta(days=7)


@dataclass
class RenewalCounts:
    notified: int = 0
    renewed: int = 0
    skipped: int = 0
    failed: int = 0

    def format(self) -> str:
        return (f"已提醒 {self.notified} 人，已续保 {self.renewed} 人，"
                f"已跳过 {self.skipped} 人，未成功 {self.failed} 人")


def _next_product(c: Container, product_id: int) -> Product:
    with c.db.read() as session:
        product = session.scalars(select(Product).where(Product.id == product_id)
                                  .options(selectinload(Product.tiers))).one_or_none()
        if product is None or product.status != ProductStatus.PUBLISHED.value:
            raise NotFound("未找到已发布的续保产品")
        return product


def notify(c: Container, next_product_id: int, notice_period: timedelta = NOTICE_PERIOD
           ) -> RenewalCounts:
    """Text every payer whose policy has auto-renewal on, and record when the debit may come."""
    nxt = _next_product(c, next_product_id)
    now = c.clock.now()
    window_opens = datetime.combine(nxt.window_opens_on, time.min, CHINA_TZ).astimezone(UTC)
    due = max(now + notice_period, window_opens)
    counts = RenewalCounts()
    with c.db.read() as session:
        candidates = session.execute(
            select(Policy, Person).join(Product, Product.id == Policy.product_id)
            .join(Person, Person.id == Policy.holder_person_id)
            .where(Policy.status == PolicyStatus.ACTIVE.value, Policy.auto_renew,
                   Policy.auto_renew_consent_version.is_not(None),
                   Product.city_code == nxt.city_code, Product.year == nxt.year - 1)
        ).all()
    for policy, holder in candidates:
        if not _consent_stands(c, holder.id):
            counts.skipped += 1  # no notice either: the reminder itself processes their data
            continue
        tier = nxt.tier(policy.tier_code)
        registered = c.registry.find_person(holder.id_number)
        try:
            with c.db.transaction() as session:
                session.add(RenewalNotice(
                    policy_id=policy.id, next_product_id=nxt.id,
                    consent_version=policy.auto_renew_consent_version or "",
                    notified_at=now, debit_due_at=due, status="notified"))
                session.flush()
                if registered is not None and registered.phone:
                    amount = format_fen(tier.premium_fen) if tier else "续保保费"
                    c.sms.send(session, registered.phone, SmsTemplate.RENEWAL_NOTICE, {
                        "product": nxt.name, "amount": amount,
                        "date": f"{due.astimezone(CHINA_TZ):%m月%d日}",
                        "insured": mask_name(holder.name)})
            counts.notified += 1
        except IntegrityError:
            continue  # announced already
    return counts


def _consent_stands(c: Container, holder_person_id: int) -> bool:
    """Whether the holder's consents for auto-renewal stand (a holder without an account is
    left to ``_renew``, which skips them)."""
    with c.db.read() as session:
        account_id = session.scalars(select(UserAccount.id).where(
            UserAccount.person_id == holder_person_id)).first()
    if account_id is None:
        return True
    actor = Actor(account_id=account_id, role=Role.RESIDENT, person_id=holder_person_id,
                  session_id=0, authenticated_at=c.clock.now(), via="renewal")
    try:
        require_now(c, actor, [Purpose.AUTO_RENEW])
    except ConsentWithdrawn:
        return False
    return True


def run(c: Container, next_product_id: int) -> RenewalCounts:
    """Debit the renewals whose notice period has passed and whose consent still stands."""
    nxt = _next_product(c, next_product_id)
    now = c.clock.now()
    counts = RenewalCounts()
    with c.db.read() as session:
        due = session.scalars(select(RenewalNotice).where(
            RenewalNotice.next_product_id == nxt.id, RenewalNotice.status == "notified",
            RenewalNotice.debit_due_at <= now)).all()
    for notice in due:
        status, order_no, reason = _renew(c, notice, nxt)
        with c.db.transaction() as session:
            row = session.get(RenewalNotice, notice.id, with_for_update=True)
            if row is not None and row.status == "notified":
                row.status, row.order_no, row.reason = status, order_no, reason
        setattr(counts, status, getattr(counts, status) + 1)
    return counts


def _renew(c: Container, notice: RenewalNotice, nxt: Product) -> tuple[str, str | None,
                                                                        str | None]:
    with c.db.read() as session:
        policy = session.get(Policy, notice.policy_id)
        account = session.scalars(select(UserAccount).where(
            UserAccount.person_id == (policy.holder_person_id if policy else -1))).first()
    if policy is None or not policy.auto_renew or policy.auto_renew_consent_version is None:
        return "skipped", None, "已关闭自动续保"
    if account is None:
        return "skipped", None, "投保人账号不存在"
    # The holder's standing consent stands in for the confirm sheet; nobody else's will do.
    # Only a verified binding's account is spent: the same gate as any debit.
    actor = Actor(account_id=account.id, role=Role.RESIDENT, person_id=policy.holder_person_id,
                  session_id=0, authenticated_at=c.clock.now(), via="renewal",
                  login_method="renewal", phone=account.phone,
                  binding_verified=account.binding_verified_by is not None)
    subject = Subject(policy.holder_person_id, Basis.SELF)
    request = quoting.EnrollmentRequest(
        product_id=nxt.id,
        insured=[quoting.InsuredChoice(policy.insured_person_id, policy.tier_code)],
        payment_method=PaymentMethod.PERSONAL_ACCOUNT,
        confirmations=quoting.Confirmations(None, True, None, None),
    )
    try:
        # A withdrawn consent stops renewal debits like any other purpose that depends on it.
        require_now(c, actor, [Purpose.AUTO_RENEW])
        quote = quoting.quote(c, actor, subject, request)
        if quote.shortfall_fen > 0:
            raise RuleViolation(f"个人账户余额不足，还差{format_fen(quote.shortfall_fen)}",
                                code="insufficient_balance")
        order = ordering.create_order(c, actor, subject, quote, channel="renewal")
        order = ordering.debit_personal_account(c, order, quote)
    except ConsentWithdrawn as exc:
        audit.record_now(c.db, c.clock, exc.entry)
        return "skipped", None, exc.message[:200]
    except DomainError as exc:
        return "failed", None, exc.message[:200]
    return "renewed", order.order_no, None
