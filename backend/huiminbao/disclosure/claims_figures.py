"""Claim figures for the disclosure, read from the claims domain's ``claims`` table.

The claims domain exposes no aggregate of its own yet, so the query lives here, behind one
function. ``available`` stays in the figures because snapshots stored before claims were counted
say false; live figures always have it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from huiminbao.claims.models import Claim

# Claims whose payout has left the product's funds: paid after review, or settled one-stop.
PAID_STATUSES = ("paid", "settled")


@dataclass(frozen=True)
class ClaimFigures:
    available: bool
    accepted: int = 0  # claims received (受理), whatever became of them
    paid: int = 0  # claims paid
    payout_fen: int = 0
    largest_payout_fen: int = 0


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
                        payout_fen=int(total or 0), largest_payout_fen=int(largest or 0))
