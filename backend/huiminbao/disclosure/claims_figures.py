"""Claim figures for the disclosure, read from the claims domain's ``claims`` table.

The claims domain exposes no aggregate of its own yet, so the query lives here, behind one
function. ``available`` stays in the figures because snapshots stored before claims were counted
say false; live figures always have it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import and_, func, or_, select
from sqlalchemy.orm import Session

from huiminbao.claims.kinds import median
from huiminbao.claims.models import Claim
from huiminbao.core.clock import to_china_time

# Claims whose payout has left the product's funds: paid after review, or settled one-stop.
PAID_STATUSES = ("paid", "settled")


@dataclass(frozen=True)
class ClaimFigures:
    available: bool
    accepted: int = 0  # claims received (受理), whatever became of them
    paid: int = 0  # claims paid
    payout_fen: int = 0
    largest_payout_fen: int = 0
    # Online claims' clock (保险法 §23): how many are past the promised day now, and the median
    # days from submission to decision and from submission to payment (None: none yet).
    overdue: int = 0
    median_days_to_decision: float | None = None
    median_days_to_payment: float | None = None

    def clock_json(self) -> dict[str, Any]:
        return {"overdue": self.overdue, "median_days_to_decision": self.median_days_to_decision,
                "median_days_to_payment": self.median_days_to_payment}


def claim_figures(session: Session, product_id: int, as_of: datetime) -> ClaimFigures:
    accepted = session.scalar(
        select(func.count(Claim.id))
        .where(Claim.product_id == product_id, Claim.created_at <= as_of)
    ) or 0
    paid_at = func.coalesce(Claim.paid_at, Claim.decided_at)
    count, total, largest = session.execute(
        select(func.count(Claim.id), func.coalesce(func.sum(Claim.payout_fen), 0),
               func.coalesce(func.max(Claim.payout_fen), 0))
        .where(Claim.product_id == product_id, Claim.status.in_(PAID_STATUSES),
               paid_at <= as_of)
    ).one()
    return ClaimFigures(available=True, accepted=int(accepted), paid=int(count or 0),
                        payout_fen=int(total or 0), largest_payout_fen=int(largest or 0),
                        **_clock_figures(session, product_id, as_of))


def _clock_figures(session: Session, product_id: int, as_of: datetime) -> dict[str, Any]:
    today = to_china_time(as_of).date()
    overdue = session.scalar(
        select(func.count(Claim.id)).where(
            Claim.product_id == product_id, Claim.created_at <= as_of,
            or_(and_(Claim.status.in_(("submitted", "under_review")), Claim.decide_by < today),
                and_(Claim.status == "approved", Claim.pay_by < today)))) or 0
    rows = session.execute(
        select(Claim.created_at, Claim.decided_at, Claim.paid_at)
        .where(Claim.product_id == product_id, Claim.channel == "online",
               Claim.decided_at.is_not(None), Claim.decided_at <= as_of)).all()
    days = 86400.0
    to_decision = [(decided - created).total_seconds() / days for created, decided, _ in rows
                   if decided is not None]
    to_payment = [(paid - created).total_seconds() / days for created, _, paid in rows
                  if paid is not None and paid <= as_of]
    return {"overdue": int(overdue), "median_days_to_decision": _rounded(median(to_decision)),
            "median_days_to_payment": _rounded(median(to_payment))}


def _rounded(value: float | None) -> float | None:
    return None if value is None else round(value, 1)
