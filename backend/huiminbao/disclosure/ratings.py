"""Satisfaction ratings (002 四(四)): once a complaint is resolved, or a claim closed, the person
rates its handling with one tap (1-5) and an optional comment; each is rated once. The product's
averages are public in disclosure."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from huiminbao.audit import services as audit
from huiminbao.audit.services import AuditActor, AuditEntry
from huiminbao.catalog.models import Product
from huiminbao.claims import services as claim_services
from huiminbao.claims.domain import ClaimStatus
from huiminbao.core.container import Container
from huiminbao.core.errors import Conflict, InvalidInput, NotFound, RuleViolation
from huiminbao.disclosure import complaints
from huiminbao.disclosure.domain import (
    ComplaintStatus,
    RatedSubject,
    average_tenths,
    normalize_text,
    rating_problem,
)
from huiminbao.disclosure.models import Complaint, SatisfactionRating
from huiminbao.identity.auth import Actor

CLOSED_CLAIMS = frozenset({ClaimStatus.PAID, ClaimStatus.REJECTED, ClaimStatus.SETTLED})
ALREADY_RATED = "您已评价过，感谢您的反馈"
NOT_CLOSED = {RatedSubject.COMPLAINT: "投诉办结后才能评价",
              RatedSubject.CLAIM: "理赔结案后才能评价"}


@dataclass(frozen=True)
class Rating:
    score: int
    comment: str


@dataclass(frozen=True)
class Averages:
    count: int
    average_tenths: int | None  # 45 is 4.5 of 5


def _checked(rating: Rating) -> Rating:
    comment = normalize_text(rating.comment)
    errors = rating_problem(rating.score, comment)
    if errors:
        raise InvalidInput(next(iter(errors.values()))[0], errors=errors)
    return Rating(rating.score, comment)


def _store(c: Container, session: Session, subject: RatedSubject, number: str,
           product_id: int | None, rating: Rating, account_id: int | None) -> SatisfactionRating:
    row = SatisfactionRating(subject_type=subject.value, subject_no=number,
                             product_id=product_id, score=rating.score,
                             comment=rating.comment or None, rated_by_account_id=account_id,
                             rated_at=c.clock.now())
    try:
        with session.begin_nested():
            session.add(row)
    except IntegrityError as exc:
        raise Conflict(ALREADY_RATED, code="already_rated") from exc
    audit.record(session, c.clock, AuditEntry(
        action="rating.submit", actor=AuditActor(account_id) if account_id else AuditActor(),
        object_type=subject.value, object_id=number, details={"score": rating.score}))
    return row


def _rate_complaint(c: Container, session: Session, complaint: Complaint, rating: Rating,
                    account_id: int | None) -> None:
    if complaint.status != ComplaintStatus.RESOLVED.value:
        raise RuleViolation(NOT_CLOSED[RatedSubject.COMPLAINT], code="not_closed")
    _store(c, session, RatedSubject.COMPLAINT, complaint.complaint_no, complaint.product_id,
           rating, account_id)


def rate_complaint(c: Container, actor: Actor, number: str,
                   rating: Rating) -> complaints.ComplaintDetails:
    """The complainant (or whoever may see the complaint for them) rates a resolved one."""
    rating = _checked(rating)
    complaints.get_complaint(c, actor, number)  # who may see it may rate it; else 404
    with c.db.transaction() as session:
        complaint = session.scalars(select(Complaint).where(
            Complaint.complaint_no == number)).one()
        _rate_complaint(c, session, complaint, rating, actor.account_id)
    return complaints.get_complaint(c, actor, number)


def rate_complaint_with_token(c: Container, number: str, token: str,
                              rating: Rating) -> complaints.ComplaintDetails:
    """A complaint filed without an account, rated by whoever holds its token."""
    rating = _checked(rating)
    complaints.get_with_token(c, number, token)
    with c.db.transaction() as session:
        complaint = session.scalars(select(Complaint).where(
            Complaint.complaint_no == number)).one()
        _rate_complaint(c, session, complaint, rating, None)
    return complaints.get_with_token(c, number, token)


def rate_claim(c: Container, actor: Actor, claim_no: str, rating: Rating) -> Rating:
    """Whoever may see the claim (its insured, or an agent for them) rates it once it is paid,
    refused or settled; anyone else gets the claims' own 404 (and the denial is audited)."""
    rating = _checked(rating)
    claim = claim_services.get_claim(c, actor, claim_no).claim
    if ClaimStatus(claim.status) not in CLOSED_CLAIMS:
        raise RuleViolation(NOT_CLOSED[RatedSubject.CLAIM], code="not_closed")
    with c.db.transaction() as session:
        _store(c, session, RatedSubject.CLAIM, claim_no, claim.product_id, rating,
               actor.account_id)
    return rating


@dataclass(frozen=True)
class ClaimRated:
    """A claim's rating as its claimant sees it: None until rated; may it be rated now."""

    rating: Rating | None
    can_rate: bool  # closed (paid, refused, settled) and not rated yet


def claim_rating(c: Container, actor: Actor, claim_no: str) -> ClaimRated:
    """The claim's rating, for whoever may see the claim; else the claims' own 404."""
    claim = claim_services.get_claim(c, actor, claim_no).claim
    with c.db.read() as session:
        rated = session.scalars(select(SatisfactionRating).where(
            SatisfactionRating.subject_type == RatedSubject.CLAIM.value,
            SatisfactionRating.subject_no == claim_no)).one_or_none()
    if rated is None:
        return ClaimRated(None, ClaimStatus(claim.status) in CLOSED_CLAIMS)
    return ClaimRated(Rating(rated.score, rated.comment or ""), False)


def averages(c: Container, product_id: int) -> dict[RatedSubject, Averages]:
    """The product's ratings so far, by what was rated: how many, and the average in tenths."""
    with c.db.read() as session:
        if session.get(Product, product_id) is None:
            raise NotFound("未找到该产品")
        rows = session.execute(
            select(SatisfactionRating.subject_type, func.count(), func.sum(
                SatisfactionRating.score))
            .where(SatisfactionRating.product_id == product_id)
            .group_by(SatisfactionRating.subject_type)).all()
    found = {RatedSubject(kind): (int(count), int(total or 0)) for kind, count, total in rows}
    result = {}
    for subject in RatedSubject:
        count, total = found.get(subject, (0, 0))
        result[subject] = Averages(count, average_tenths(total, count))
    return result
