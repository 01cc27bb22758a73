"""How disclosures and complaints look in responses: counts and sums; names masked."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from huiminbao.catalog.models import Product
from huiminbao.core.masking import mask_name
from huiminbao.disclosure.complaints import ComplaintDetails
from huiminbao.disclosure.domain import (
    COMPLAINT_TRANSITIONS,
    ComplaintCategory,
    ComplaintStatus,
)
from huiminbao.disclosure.services import Bucket, Disclosure
from huiminbao.identity.domain import Role


def product_brief(product: Product) -> dict[str, Any]:
    return {
        "id": product.id, "name": product.name, "city_name": product.city_name,
        "year": product.year, "insurer": product.insurer,
        "enrollment": {"opens_on": product.window_opens_on,
                       "closes_on": product.window_closes_on},
        "coverage": {"starts_on": product.coverage_starts_on,
                     "ends_on": product.coverage_ends_on},
    }


def _buckets(buckets: list[Bucket]) -> list[dict[str, Any]]:
    return [{"key": b.key, "label": b.label, "count": b.count} for b in buckets]


def disclosure_view(d: Disclosure, csv_url: str) -> dict[str, Any]:
    claims = d.claims
    return {
        "product": product_brief(d.product),
        "as_of": d.as_of,
        "live": d.live,
        "enrolled": {"total": d.enrolled_total, "by_scheme": _buckets(d.by_scheme),
                     "by_age_band": _buckets(d.by_age_band),
                     "by_channel": _buckets(d.by_channel)},
        "premium_income_fen": d.premium_income_fen,
        "claims": {"available": claims.available, "accepted": claims.accepted,
                   "paid": claims.paid, "payout_fen": claims.payout_fen,
                   "largest_payout_fen": claims.largest_payout_fen,
                   **claims.clock_json()},
        "payout_ratio": d.payout_ratio if claims.available else None,
        "payout_ratio_hundredths": d.payout_ratio_hundredths if claims.available else None,
        "year_end": None if d.year_end is None else {
            "target_payout_ratio": d.year_end.target_ratio,
            "target_payout_ratio_bp": d.year_end.target_ratio_bp,
            "premium_income_fen": d.year_end.premium_income_fen,
            "payout_fen": d.year_end.payout_fen,
            "payout_ratio": d.year_end.payout_ratio,
            "surplus_fen": d.year_end.surplus_fen,
        },
        "surplus_use": None if d.product.surplus_used_fen is None else {
            "amount_fen": d.product.surplus_used_fen, "note": d.product.surplus_use_note or "",
        },
        "csv_url": csv_url,
    }


def complaint_view(details: ComplaintDetails, now: datetime) -> dict[str, Any]:
    complaint = details.complaint
    status = ComplaintStatus(complaint.status)
    return {
        "complaint_no": complaint.complaint_no,
        "category": complaint.category,
        "category_label": ComplaintCategory(complaint.category).label,
        "status": status.value,
        "status_label": status.label,
        "content": complaint.content,
        "policy_no": complaint.policy_no,
        "claim_no": complaint.claim_no,
        "complainant_name": mask_name(details.complainant_name),
        "filed_by_agent": complaint.acted_for_grant_id is not None,
        "created_at": complaint.created_at,
        "due_at": complaint.due_at,
        "overdue": details.overdue(now),
        "resolved_at": complaint.resolved_at,
        "next_statuses": sorted(s.value for s in COMPLAINT_TRANSITIONS[status]),
        "replies": [{
            "author_label": Role(reply.author_role).label,
            "message": reply.message,
            "from_status": reply.from_status,
            "to_status": reply.to_status,
            "to_status_label": ComplaintStatus(reply.to_status).label,
            "created_at": reply.created_at,
        } for reply in complaint.replies],
    }
