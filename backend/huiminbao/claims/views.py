"""How claims look in responses: statuses with Chinese labels, the breakdown in plain Chinese,
the timeline, masked names and ID numbers, amounts in fen."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from typing import Any

from huiminbao.catalog.domain import BenefitCategory
from huiminbao.claims.domain import OPEN_STATUSES, Channel, ClaimStatus
from huiminbao.claims.kinds import ClaimKind, Clock
from huiminbao.claims.models import Claim, ClaimEvent, ClaimPayee, ClaimPayout
from huiminbao.claims.payees import PayeeKind, mask_card
from huiminbao.claims.payout import Breakdown, CategoryPayout, ratio_label
from huiminbao.core.masking import mask_id_number, mask_name
from huiminbao.identity.models import Person

CLAIM_NOTICE = ("本产品为商业保险，不是基本医疗保险。理赔范围和责任免除以保险条款为准；"
                "赔付金额按年度免赔额、赔付比例和封顶线计算。")


def _item(code: str, name: str, amount_fen: int) -> dict[str, Any]:
    return {"code": code, "name": name, "amount_fen": amount_fen}


def line_view(line: CategoryPayout) -> dict[str, Any]:
    return {
        "category": line.category.value,
        "label": line.label,
        "eligible_fen": line.eligible_fen,
        "deductible_fen": line.deductible_fen,
        "deductible_remaining_fen": line.deductible_remaining_fen,
        "deductible_used_fen": line.deductible_used_fen,
        "ratio_bp": line.ratio_bp,
        "ratio": ratio_label(line.ratio_bp),
        "cap_fen": line.cap_fen,
        "cap_remaining_fen": line.cap_remaining_fen,
        "computed_fen": line.computed_fen,
        "payout_fen": line.payout_fen,
        "capped": line.capped,
        "items": [_item(i.code, i.name, i.amount_fen) for i in line.items],
        "text": line.describe(),
    }


def breakdown_view(breakdown: Breakdown) -> dict[str, Any]:
    return {
        "total_fen": breakdown.total_fen,
        "eligible_fen": breakdown.eligible_fen,
        "uncovered_fen": breakdown.uncovered_fen,
        "lines": [line_view(line) for line in breakdown.lines],
        "uncovered": [{**_item(e.item.code, e.item.name, e.item.amount_fen), "reason": e.reason}
                      for e in breakdown.uncovered],
        "summary": breakdown.describe(),
    }


def _by(event: ClaimEvent) -> str:
    if event.actor_client:
        return "医院（一站式结算）"
    if event.actor_role in {"insurer_staff", "admin"}:
        return "保险公司"
    if event.grant_id is not None:
        return "代办人"
    if event.actor_account_id is not None:
        return "申请人"
    return "系统"


def timeline_view(events: list[ClaimEvent], *, for_staff: bool = False) -> list[dict[str, Any]]:
    entries = []
    for event in events:
        entry: dict[str, Any] = {
            "status": event.to_status,
            "status_label": ClaimStatus(event.to_status).label,
            "from_status": event.from_status,
            "at": event.occurred_at,
            "by": _by(event),
            "message": event.message,
        }
        if for_staff:
            entry.update(actor_account_id=event.actor_account_id, actor_role=event.actor_role,
                         actor_client=event.actor_client, grant_id=event.grant_id)
        entries.append(entry)
    return entries


def is_overdue(claim: Claim, today: date) -> bool:
    """Past the promised decision day while open (not while documents are awaited), or past
    the promised payment day while approved and unpaid."""
    status = ClaimStatus(claim.status)
    if status in {ClaimStatus.SUBMITTED, ClaimStatus.UNDER_REVIEW}:
        return claim.decide_by is not None and today > claim.decide_by
    if status is ClaimStatus.APPROVED:
        return claim.pay_by is not None and today > claim.pay_by
    return False


def clock_view(clock: Clock | None) -> dict[str, Any] | None:
    if clock is None:
        return None
    return {"stage": clock.stage, "due_on": clock.due_on, "days_left": clock.days_left,
            "overdue": clock.overdue, "text": clock.describe()}


def payee_view(payee: ClaimPayee | None) -> dict[str, Any] | None:
    if payee is None:
        return None
    kind = PayeeKind(payee.kind)
    return {"kind": kind.value, "kind_label": kind.label,
            "holder_name": mask_name(payee.holder_name), "bank_name": payee.bank_name,
            "card": mask_card(payee.card_no)}


def payout_view(payout: ClaimPayout | None) -> dict[str, Any] | None:
    from huiminbao.claims.payouts import PayoutStatus, payout_label

    if payout is None:
        return None
    status = PayoutStatus(payout.status)
    return {"status": status.value,
            "status_label": payout_label(status, payout.attempts, payout.max_attempts),
            "amount_fen": payout.amount_fen, "attempts": payout.attempts,
            "paid_at": payout.paid_at}


def claim_summary_view(claim: Claim, policy_no: str, product_name: str,
                       insured: Person, today: date | None = None) -> dict[str, Any]:
    status, channel = ClaimStatus(claim.status), Channel(claim.channel)
    kind = ClaimKind(claim.kind or ClaimKind.INPATIENT.value)
    return {
        "claim_no": claim.claim_no,
        "status": status.value,
        "status_label": status.label,
        "channel": channel.value,
        "channel_label": channel.label,
        "policy_no": policy_no,
        "product_id": claim.product_id,
        "product_name": product_name,
        "insured_person_id": insured.id,
        "insured_name": mask_name(insured.name),
        "hospital_name": claim.hospital_name,
        "admitted_on": claim.admitted_on,
        "discharged_on": claim.discharged_on,
        "claimed_fen": claim.claimed_fen,
        "payout_fen": claim.payout_fen,
        "created_at": claim.created_at,
        "kind": kind.value,
        "kind_label": kind.label,
        "decide_by": claim.decide_by,
        "overdue": today is not None and is_overdue(claim, today),
    }


@dataclass(frozen=True)
class ClaimExtras:
    """What the detail view shows beyond the claim row: payee, payout, documents, clock."""

    today: date | None = None
    payee: ClaimPayee | None = None
    payout: ClaimPayout | None = None
    documents_needed: tuple[str, ...] = ()
    clock: Clock | None = None


def claim_detail_view(claim: Claim, *, policy_no: str, product_name: str, tier_name: str,
                      insured: Person, breakdown: Breakdown | None, preview: bool,
                      document_url: Callable[[int], str], for_staff: bool = False,
                      first_approval_insurer: str | None = None,
                      extras: ClaimExtras | None = None) -> dict[str, Any]:
    extras = extras or ClaimExtras()
    view = claim_summary_view(claim, policy_no, product_name, insured, extras.today)
    view.update({
        "tier": claim.tier_code,
        "tier_name": tier_name,
        "insured_id_number": mask_id_number(insured.id_number),
        "in_policy_self_pay_fen": claim.in_policy_self_pay_fen,
        "items": [{**_item(i.code, i.name, i.amount_fen), "category": i.category,
                   "category_label": BenefitCategory(i.category).label if i.category else None,
                   "reason": i.reason} for i in claim.items],
        "breakdown": breakdown_view(breakdown) if breakdown is not None else None,
        "breakdown_is_estimate": preview,
        "reject_reason": claim.reject_reason,
        "decided_at": claim.decided_at,
        "paid_at": claim.paid_at,
        "can_upload": ClaimStatus(claim.status) in OPEN_STATUSES,
        "documents": [{"id": d.id, "filename": d.filename, "content_type": d.content_type,
                       "size_bytes": d.size_bytes, "uploaded_at": d.uploaded_at,
                       "url": document_url(d.id)} for d in claim.documents],
        "timeline": timeline_view(claim.events, for_staff=for_staff),
        "notice": CLAIM_NOTICE,
        "diagnosis_code": claim.diagnosis_code,
        "prescription_no": claim.prescription_no,
        "pharmacy_code": claim.pharmacy_code,
        "treatment_city_code": claim.treatment_city_code,
        "documents_needed": list(extras.documents_needed),
        "pay_by": claim.pay_by,
        "clock": clock_view(extras.clock),
        "payee": payee_view(extras.payee),
        "payout": payout_view(extras.payout),
        "supplement_requests": claim.supplement_requests,
    })
    if for_staff:
        view["first_approval_insurer"] = first_approval_insurer
    return view
