"""Claim figures for the disclosure, read from the claims domain's ``claims`` table.

The claims domain exposes no aggregate of its own yet, so the query lives here, behind one
function. ``available`` stays in the figures because snapshots stored before claims were counted
say false; live figures always have it.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, and_, func, or_, select
from sqlalchemy.orm import Session

from huiminbao.claims.models import Claim, ClaimEvent, ClaimPayoutLine
from huiminbao.core.clock import to_china_time
from huiminbao.disclosure.domain import median_tenth_days

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


def _paid_at() -> ColumnElement[datetime]:
    return func.coalesce(Claim.paid_at, Claim.decided_at)


def claim_figures(session: Session, product_id: int, as_of: datetime) -> ClaimFigures:
    accepted = session.scalar(
        select(func.count(Claim.id))
        .where(Claim.product_id == product_id, Claim.created_at <= as_of)
    ) or 0
    paid_at = _paid_at()
    count, total, largest = session.execute(
        select(func.count(Claim.id), func.coalesce(func.sum(Claim.payout_fen), 0),
               func.coalesce(func.max(Claim.payout_fen), 0))
        .where(Claim.product_id == product_id, Claim.status.in_(PAID_STATUSES),
               paid_at <= as_of)
    ).one()
    return ClaimFigures(available=True, accepted=int(accepted), paid=int(count or 0),
                        payout_fen=int(total or 0), largest_payout_fen=int(largest or 0),
                        **_clock_figures(session, product_id, as_of))


def _status_at(as_of: datetime) -> ColumnElement[str]:
    """The claim's status at ``as_of``: the last status its timeline (``claim_events``, written
    at the instant of each change) had reached by then; the current status for a claim without
    a timeline. Not ``claims.status``, which is today's: a claim overdue at a past instant and
    decided since was overdue then."""
    recorded = (select(ClaimEvent.to_status)
                .where(ClaimEvent.claim_id == Claim.id, ClaimEvent.occurred_at <= as_of)
                .order_by(ClaimEvent.occurred_at.desc(), ClaimEvent.id.desc())
                .limit(1).scalar_subquery())
    return func.coalesce(recorded, Claim.status)


def _decided_by(as_of: datetime) -> ColumnElement[datetime]:
    """When the claim's latest decision (approval or rejection) by ``as_of`` was recorded.
    ``claims.decided_at`` is the latest decision now: an appeal decided since overwrote it."""
    return (select(func.max(ClaimEvent.occurred_at))
            .where(ClaimEvent.claim_id == Claim.id, ClaimEvent.occurred_at <= as_of,
                   ClaimEvent.to_status.in_(("approved", "rejected")))
            .scalar_subquery())


def _clock_figures(session: Session, product_id: int, as_of: datetime) -> dict[str, Any]:
    today = to_china_time(as_of).date()
    status = _status_at(as_of)
    overdue = session.scalar(
        select(func.count(Claim.id)).where(
            Claim.product_id == product_id, Claim.created_at <= as_of,
            or_(and_(status.in_(("submitted", "under_review")), Claim.decide_by < today),
                and_(status == "approved", Claim.pay_by < today)))) or 0
    to_decision, to_payment = online_turnaround(session, product_id, None, as_of)
    return {"overdue": int(overdue), "median_days_to_decision": _days(to_decision),
            "median_days_to_payment": _days(to_payment)}


def _days(seconds: tuple[int, ...]) -> float | None:
    tenths = median_tenth_days(seconds)
    return None if tenths is None else tenths / 10


def online_turnaround(session: Session, product_id: int, start: datetime | None, end: datetime
                      ) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """Online claims' turnaround within ``(start, end]`` (from the first claim when ``start``
    is None), sorted seconds from receipt: to the decision (approved or rejected) of claims
    whose latest decision by ``end`` fell in the window, and to the payment of claims paid then
    (paid as ``claim_figures`` counts them). The disclosure's medians (as of ``end``) and the
    report's (over a period) alike."""
    paid_at = _paid_at()
    online = (Claim.product_id == product_id, Claim.channel == "online")
    rows = session.execute(
        select(Claim.created_at, Claim.decided_at, _decided_by(end))
        .where(*online, Claim.created_at <= end, Claim.decided_at.is_not(None))).all()
    decisions = [(created, _decision(decided, recorded, end))
                 for created, decided, recorded in rows]
    paid_window = [paid_at <= end] + ([paid_at > start] if start else [])
    paid = session.execute(
        select(Claim.created_at, paid_at)
        .where(*online, Claim.status.in_(PAID_STATUSES), *paid_window)).all()
    return (tuple(sorted(_seconds(created, decided) for created, decided in decisions
                         if decided is not None and (start is None or decided > start))),
            tuple(sorted(_seconds(a, b) for a, b in paid)))


def _decision(decided_at: datetime | None, recorded: datetime | None, as_of: datetime
              ) -> datetime | None:
    """The claim's latest decision by ``as_of``: from its timeline, else ``decided_at``."""
    if recorded is not None:
        return recorded
    return decided_at if decided_at is not None and decided_at <= as_of else None


@dataclass(frozen=True)
class PeriodClaims:
    """A product's claims within ``(start, end]`` by kind: received and paid by channel (线上理赔,
    一站式结算), payouts by benefit category; and the turnaround of online claims. Paid and
    payouts follow ``claim_figures`` (the same statuses and instant), so the period's totals
    equal the difference of ``claim_figures`` at its two ends."""

    received_by_channel: dict[str, int] = field(default_factory=dict)
    paid_by_channel: dict[str, int] = field(default_factory=dict)
    payout_by_channel: dict[str, int] = field(default_factory=dict)
    payout_by_category: dict[str, int] = field(default_factory=dict)
    # Online claims decided (approved or rejected) in the period: seconds from receipt.
    seconds_to_decision: tuple[int, ...] = ()
    # Online claims paid in the period: seconds from receipt to payment.
    seconds_to_payment: tuple[int, ...] = ()


def period_claims(session: Session, product_id: int, start: datetime, end: datetime
                  ) -> PeriodClaims:
    of_product = Claim.product_id == product_id
    received = session.execute(
        select(Claim.channel, func.count(Claim.id))
        .where(of_product, Claim.created_at > start, Claim.created_at <= end)
        .group_by(Claim.channel)).all()
    paid_at = _paid_at()
    paid_in_period = (of_product, Claim.status.in_(PAID_STATUSES), paid_at > start,
                      paid_at <= end)
    paid = session.execute(
        select(Claim.channel, func.count(Claim.id), func.coalesce(func.sum(Claim.payout_fen), 0))
        .where(*paid_in_period).group_by(Claim.channel)).all()
    categories = session.execute(
        select(ClaimPayoutLine.category, func.sum(ClaimPayoutLine.payout_fen))
        .join(Claim, Claim.id == ClaimPayoutLine.claim_id)
        .where(*paid_in_period).group_by(ClaimPayoutLine.category)).all()
    to_decision, to_payment = online_turnaround(session, product_id, start, end)
    by_category: Counter[str] = Counter()
    for category, total in categories:
        by_category[category] += int(total or 0)
    return PeriodClaims(
        received_by_channel={channel: int(count) for channel, count in received},
        paid_by_channel={channel: int(count) for channel, count, _ in paid},
        payout_by_channel={channel: int(total or 0) for channel, _, total in paid},
        payout_by_category=dict(by_category),
        seconds_to_decision=to_decision, seconds_to_payment=to_payment,
    )


def _seconds(start: datetime, end: datetime) -> int:
    return max(0, int((end - start).total_seconds()))
