"""The PDF e-policy and premium receipt of one policy, for whoever may see the policy: its
insured person, its holder, an agent whose grant covers 查看保单, staff. A download by anyone but
the insured or the holder themselves is recorded in the audit log (the principal sees it)."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import select

from huiminbao.audit import services as audit
from huiminbao.audit.services import AuditActor, AuditEntry
from huiminbao.catalog.domain import BenefitCategory
from huiminbao.core.clock import CHINA_TZ
from huiminbao.core.container import Container
from huiminbao.core.errors import Busy, NotFound
from huiminbao.core.masking import mask_id_number, mask_name
from huiminbao.core.money import format_fen, format_percent
from huiminbao.enrollment.domain import PaymentMethod, PolicyStatus
from huiminbao.enrollment.models import Policy
from huiminbao.enrollment.paper import (
    EPolicyPaper,
    FontMissing,
    PdfFont,
    ReceiptPaper,
    TermsSummary,
    render_epolicy,
    render_receipt,
)
from huiminbao.enrollment.policies import (
    PolicyDetails,
    policy_details,
    qr_png,
    require_policy_access,
    validity,
    verify_token,
)
from huiminbao.identity.auth import Actor
from huiminbao.identity.domain import Action, Basis, Decision

log = logging.getLogger(__name__)
PDF_UNAVAILABLE = "电子保单暂时无法生成，请稍后再试；也可以打印保单页面，或联系客服"


@dataclass(frozen=True)
class Download:
    filename: str  # Chinese, for browsers that read filename*
    ascii_name: str  # for the rest
    content: bytes


def pdf_font(c: Container) -> PdfFont:
    return PdfFont(c.settings.pdf_font, c.settings.pdf_font_index)


def _render(render: Callable[[], bytes]) -> bytes:
    """A missing font is the operator's to fix (``huiminbao doctor`` names it): 503, logged."""
    try:
        return render()
    except FontMissing as exc:
        log.error("PDF not made: %s", exc)
        raise Busy(PDF_UNAVAILABLE, code="pdf_unavailable") from exc


def verify_url(c: Container, public_root: str, policy: Policy) -> str:
    """The e-policy's public check, as its QR code and the policy page link to it."""
    return f"{public_root}/verify/{verify_token(c, policy)}"


def _read(c: Container, actor: Actor, policy_no: str, what: str) -> PolicyDetails:
    with c.db.read() as session:
        policy = session.scalars(select(Policy).where(Policy.policy_no == policy_no)).one_or_none()
        if policy is None:
            raise NotFound("未找到该保单")
        decision = require_policy_access(c, session, actor, policy, Action.VIEW_POLICIES)
        details = policy_details(c, session, policy)
    _record_for_someone_else(c, actor, decision, details, what)
    return details


def _record_for_someone_else(c: Container, actor: Actor, decision: Decision,
                             details: PolicyDetails, what: str) -> None:
    policy = details.policy
    if decision.basis is Basis.SELF and actor.person_id in (policy.insured_person_id,
                                                            policy.holder_person_id):
        return
    audit.record_now(c.db, c.clock, AuditEntry(
        action=f"policy.{what}_download", actor=AuditActor(actor.account_id, actor.role.value),
        subject_person_id=policy.insured_person_id,
        acting_for_person_id=(policy.insured_person_id if decision.basis is Basis.PROXY_GRANT
                              else None),
        grant_id=decision.grant_id, object_type="policy", object_id=policy.policy_no,
        details={"basis": decision.basis.value if decision.basis else None},
    ))


# ---------------------------------------------------------------- e-policy


def epolicy_paper(c: Container, details: PolicyDetails, url: str) -> EPolicyPaper:
    policy, product = details.policy, details.product
    tier = product.tier(policy.tier_code)
    facts = [
        ("保单号", policy.policy_no),
        ("保单状态", validity(details, c.clock.today())),
        ("被保险人", mask_name(details.insured.name)),
        ("证件号码", mask_id_number(details.insured.id_number)),
        ("投保人", mask_name(details.holder.name)),
        ("保障方案", tier.name if tier else policy.tier_code),
        ("保障期间", f"{policy.coverage_starts_on:%Y年%m月%d日}至"
                     f"{policy.coverage_ends_on:%Y年%m月%d日}"),
        ("保费", format_fen(policy.premium_fen)),
    ]
    if policy.subsidy_fen:
        facts.append(("财政补助", format_fen(policy.subsidy_fen)))
    facts.append(("签发时间", f"{policy.issued_at.astimezone(CHINA_TZ):%Y-%m-%d %H:%M}"))
    benefits = []
    for benefit in (tier.benefits if tier else []):
        benefits.append(f"{BenefitCategory(benefit.category).label}：免赔额"
                        f"{format_fen(benefit.deductible_fen)}，赔付比例"
                        f"{format_percent(benefit.ratio_bp)}，最高赔付{format_fen(benefit.cap_fen)}")
    agreed = next((t for t in product.terms if t.version == details.order.terms_version),
                  product.current_terms)
    terms = (TermsSummary(agreed.version, agreed.coverage, agreed.claim_scope, agreed.exclusions)
             if agreed is not None else None)
    return EPolicyPaper(title=product.name, insurer=product.insurer, facts=facts,
                        benefits=benefits, terms=terms, qr_png=qr_png(url), verify_url=url,
                        issued_at=c.clock.now().astimezone(CHINA_TZ))


def epolicy_pdf(c: Container, actor: Actor, policy_no: str, public_root: str) -> Download:
    details = _read(c, actor, policy_no, "epolicy")
    paper = epolicy_paper(c, details, verify_url(c, public_root, details.policy))
    return Download(f"电子保单-{policy_no}.pdf", f"epolicy-{policy_no}.pdf",
                    _render(lambda: render_epolicy(paper, pdf_font(c))))


# ---------------------------------------------------------------- receipt


def _channel(details: PolicyDetails) -> str:
    """How the premium was paid, and from whose account when from one."""
    method = PaymentMethod(details.order.payment_method)
    if method is PaymentMethod.PERSONAL_ACCOUNT and details.payer is not None:
        return f"{method.label}（{mask_name(details.payer.name)}）"
    return method.label


def receipt_paper(c: Container, details: PolicyDetails) -> ReceiptPaper:
    policy, order = details.policy, details.order
    paid_fen = policy.premium_fen - policy.subsidy_fen
    paid_at = order.paid_at or policy.issued_at
    facts = [
        ("订单号", order.order_no),
        ("保单号", policy.policy_no),
        ("被保险人", mask_name(details.insured.name)),
        ("投保人", mask_name(details.holder.name)),
        ("缴费方式", _channel(details)),
        ("保费", format_fen(policy.premium_fen)),
    ]
    if policy.subsidy_fen:
        facts.append(("财政补助", format_fen(policy.subsidy_fen)))
    facts += [("实缴金额", format_fen(paid_fen)),
              ("缴费时间", f"{paid_at.astimezone(CHINA_TZ):%Y-%m-%d %H:%M:%S}")]
    notes = []
    refund = details.refund
    if policy.status == PolicyStatus.CANCELLED.value and refund is not None:
        state = "已原路退回" if refund.status == "succeeded" else "正在退回"
        notes.append(f"该保单已退保，保费{format_fen(refund.amount_fen)}{state}。")
    return ReceiptPaper(title=details.product.name, facts=facts, amount=format_fen(paid_fen),
                        issued_at=c.clock.now().astimezone(CHINA_TZ), notes=notes)


def receipt_pdf(c: Container, actor: Actor, policy_no: str) -> Download:
    details = _read(c, actor, policy_no, "receipt")
    paper = receipt_paper(c, details)
    return Download(f"保费缴纳凭证-{policy_no}.pdf", f"receipt-{policy_no}.pdf",
                    _render(lambda: render_receipt(paper, pdf_font(c))))
