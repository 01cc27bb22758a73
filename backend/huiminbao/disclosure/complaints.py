"""Complaint use cases: a person (or an agent acting for them) files a complaint; staff reply
and move it through received → in_progress → resolved; the person sees the replies and gets a
text (the complaint number only) when one arrives; unresolved complaints past their deadline are
flagged in the staff queue."""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import case, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, selectinload

from huiminbao.audit import services as audit
from huiminbao.audit.services import AuditActor, AuditEntry
from huiminbao.catalog.help import current_product
from huiminbao.catalog.models import Product
from huiminbao.claims.models import Claim
from huiminbao.core.clock import to_china_time
from huiminbao.core.container import Container
from huiminbao.core.errors import Conflict, InvalidInput, NotFound, RuleViolation
from huiminbao.core.masking import mask_phone
from huiminbao.core.pagination import FIRST_PAGE, Page, Window, count_rows
from huiminbao.disclosure.domain import (
    COMPLAINT_MAX_CHARS,
    COMPLAINT_MIN_CHARS,
    DEFAULT_RESPONSE_WORKING_DAYS,
    MAX_RESPONSE_WORKING_DAYS,
    REPLY_MAX_CHARS,
    ComplaintCategory,
    ComplaintStatus,
    InvalidComplaintTransition,
    RatedSubject,
    complaint_no,
    complaint_transition,
    is_overdue,
    normalize_text,
    reply_sms_text,
    response_due_at,
    text_length_problem,
)
from huiminbao.disclosure.models import (
    Complaint,
    ComplaintReply,
    ComplaintSetting,
    SatisfactionRating,
)
from huiminbao.enrollment.models import Policy
from huiminbao.identity import services as identity
from huiminbao.identity.access import Subject, require_access
from huiminbao.identity.auth import Actor
from huiminbao.identity.domain import Action, OtpPurpose, Role, hash_secret, same_secret
from huiminbao.identity.models import Person, UserAccount

# Who works the complaint queue: the insurer's staff and the operating bureau's administrators.
COMPLAINT_STAFF = frozenset({Role.INSURER_STAFF, Role.ADMIN})
POLICY_NOT_YOURS = "未找到您名下的该保单，请核对保单号"
CLAIM_NOT_YOURS = "未找到您名下的该理赔案件，请核对理赔编号"
NUMBER_ATTEMPTS = 5
NAME_MAX_CHARS = 20


@dataclass(frozen=True)
class Filing:
    category: ComplaintCategory
    content: str
    policy_no: str | None = None
    claim_no: str | None = None


@dataclass(frozen=True)
class ComplaintDetails:
    complaint: Complaint
    complainant_name: str  # as the registry has it (or as given without an account); masked
    rating: SatisfactionRating | None = None

    def overdue(self, now: datetime) -> bool:
        return is_overdue(ComplaintStatus(self.complaint.status), self.complaint.due_at, now)


# ---------------------------------------------------------------- filing


def file_complaint(c: Container, actor: Actor, subject: Subject, filing: Filing) -> Complaint:
    """Check the text and the optional policy or claim (the subject's own), then store the
    complaint with its number and deadline. Nothing is written when anything is refused."""
    content = normalize_text(filing.content)
    problem = text_length_problem(content, minimum=COMPLAINT_MIN_CHARS,
                                  maximum=COMPLAINT_MAX_CHARS, what="投诉内容")
    if problem:
        raise InvalidInput(problem, errors={"content": [problem]})
    policy_no = (filing.policy_no or "").strip() or None
    claim_no = (filing.claim_no or "").strip() or None
    for attempt in range(NUMBER_ATTEMPTS):
        try:
            return _store(c, actor, subject, filing.category, content, policy_no, claim_no)
        except IntegrityError as exc:  # another complaint took the same number this instant
            if attempt == NUMBER_ATTEMPTS - 1:
                raise Conflict("投诉提交冲突，请稍后重试", code="conflict") from exc
    raise AssertionError("unreachable")


def _store(c: Container, actor: Actor, subject: Subject, category: ComplaintCategory,
           content: str, policy_no: str | None, claim_no: str | None) -> Complaint:
    now = c.clock.now()
    with c.db.transaction() as session:
        product_id = None
        if policy_no is not None:
            product_id = _own_policy_product(session, subject, policy_no)
        if claim_no is not None:
            claim_product = _own_claim_product(session, subject, claim_no)
            product_id = product_id or claim_product
        if product_id is None:
            product_id = _current_product_id(session, c)
        days = response_working_days(session, product_id)
        complaint = Complaint(
            complaint_no=_next_number(session, now), complainant_person_id=subject.person_id,
            filed_by_account_id=actor.account_id, acted_for_grant_id=subject.grant_id,
            product_id=product_id, category=category.value, content=content,
            policy_no=policy_no, claim_no=claim_no, status=ComplaintStatus.RECEIVED.value,
            created_at=now, due_at=response_due_at(now, days), updated_at=now,
        )
        session.add(complaint)
        session.flush()
        audit.record(session, c.clock, AuditEntry(
            action="complaint.file", actor=AuditActor(actor.account_id, actor.role.value),
            subject_person_id=subject.person_id,
            acting_for_person_id=subject.person_id if subject.acting_for else None,
            grant_id=subject.grant_id, object_type="complaint",
            object_id=complaint.complaint_no,
            details={"category": category.value, "working_days": days},
        ))
    return complaint


@dataclass(frozen=True)
class AnonymousFiling:
    """A complaint filed without an account: the phone the SMS code went to proves a way to
    reach the complainant; the name is how they wish to be addressed (optional)."""

    phone: str
    code: str
    name: str
    category: ComplaintCategory
    content: str


@dataclass(frozen=True)
class AnonymousReceipt:
    details: ComplaintDetails
    access_token: str  # shown once: lets this person see and rate the complaint


def send_filing_code(c: Container, phone: str) -> datetime:
    return identity.send_code(c, phone, OtpPurpose.COMPLAINT)


def file_without_account(c: Container, filing: AnonymousFiling) -> AnonymousReceipt:
    """Check the text and the name, then the SMS code, then store the complaint with the phone
    and a fresh access token (kept as a keyed hash). A wrong code is counted and refused."""
    phone = identity.check_phone(filing.phone)
    content = normalize_text(filing.content)
    problem = text_length_problem(content, minimum=COMPLAINT_MIN_CHARS,
                                  maximum=COMPLAINT_MAX_CHARS, what="投诉内容")
    if problem:
        raise InvalidInput(problem, errors={"content": [problem]})
    name = normalize_text(filing.name)
    if len(name) > NAME_MAX_CHARS:
        message = f"称呼不能超过{NAME_MAX_CHARS}个字"
        raise InvalidInput(message, errors={"name": [message]})
    with c.db.transaction() as session:
        check = identity.consume_code(c, session, phone, OtpPurpose.COMPLAINT, filing.code)
    if not check.accepted:
        raise check.invalid_input()
    token = secrets.token_urlsafe(24)
    token_hash = hash_secret(c.settings.secret_key, token)
    now = c.clock.now()
    for attempt in range(NUMBER_ATTEMPTS):
        try:
            with c.db.transaction() as session:
                product_id = _current_product_id(session, c)
                complaint = Complaint(
                    complaint_no=_next_number(session, now), complainant_person_id=None,
                    filed_by_account_id=None, complainant_phone=phone,
                    complainant_name=name or None, access_token_hash=token_hash,
                    product_id=product_id, category=filing.category.value, content=content,
                    status=ComplaintStatus.RECEIVED.value, created_at=now,
                    due_at=response_due_at(now, response_working_days(session, product_id)),
                    updated_at=now,
                )
                session.add(complaint)
                session.flush()
                audit.record(session, c.clock, AuditEntry(
                    action="complaint.file", actor=AuditActor(), object_type="complaint",
                    object_id=complaint.complaint_no,
                    details={"category": filing.category.value, "without_account": True,
                             "phone": mask_phone(phone)},
                ))
            break
        except IntegrityError as exc:
            if attempt == NUMBER_ATTEMPTS - 1:
                raise Conflict("投诉提交冲突，请稍后重试", code="conflict") from exc
    return AnonymousReceipt(get_with_token(c, complaint.complaint_no, token), token)


def get_with_token(c: Container, number: str, token: str) -> ComplaintDetails:
    """A complaint filed without an account, for whoever holds its token; anything else is the
    same 404 as a wrong number."""
    with c.db.read() as session:
        complaint = _load(session, number)
        if (complaint is None or complaint.access_token_hash is None or not token
                or not same_secret(c.settings.secret_key, token, complaint.access_token_hash)):
            raise NotFound("未找到该投诉")
        return ComplaintDetails(complaint, complaint.complainant_name or "",
                                _rating_of(session, complaint.complaint_no))


def _rating_of(session: Session, number: str) -> SatisfactionRating | None:
    return session.scalars(select(SatisfactionRating).where(
        SatisfactionRating.subject_type == RatedSubject.COMPLAINT.value,
        SatisfactionRating.subject_no == number)).one_or_none()


def _own_policy_product(session: Session, subject: Subject, policy_no: str) -> int:
    """The policy must be the subject's (insured or holder); the subject itself was admitted by
    the gate. Anything else gets the same answer as a wrong number."""
    policy = session.scalars(select(Policy).where(Policy.policy_no == policy_no)).one_or_none()
    if policy is None or subject.person_id not in {policy.insured_person_id,
                                                    policy.holder_person_id}:
        raise InvalidInput(POLICY_NOT_YOURS, errors={"policy_no": [POLICY_NOT_YOURS]})
    return policy.product_id


def _own_claim_product(session: Session, subject: Subject, claim_no: str) -> int:
    row = session.execute(
        select(Claim.product_id, Claim.insured_person_id, Policy.holder_person_id)
        .join(Policy, Policy.id == Claim.policy_id)
        .where(Claim.claim_no == claim_no)
    ).one_or_none()
    if row is None or subject.person_id not in {row.insured_person_id, row.holder_person_id}:
        raise InvalidInput(CLAIM_NOT_YOURS, errors={"claim_no": [CLAIM_NOT_YOURS]})
    return int(row.product_id)


def _current_product_id(session: Session, c: Container) -> int | None:
    """A complaint about no particular policy belongs to the city's current product."""
    product = current_product(session, c)
    return None if product is None else product.id


def _next_number(session: Session, now: datetime) -> str:
    day = to_china_time(now).date()
    prefix = complaint_no(day, 0)[:-5]
    latest = session.scalar(select(func.max(Complaint.complaint_no))
                            .where(Complaint.complaint_no.like(f"{prefix}%")))
    return complaint_no(day, int(latest[-5:]) + 1 if latest else 1)


# ---------------------------------------------------------------- the deadline setting


def response_working_days(session: Session, product_id: int | None) -> int:
    if product_id is None:
        return DEFAULT_RESPONSE_WORKING_DAYS
    setting = session.get(ComplaintSetting, product_id)
    return setting.response_working_days if setting else DEFAULT_RESPONSE_WORKING_DAYS


def working_days_of(c: Container, product_id: int) -> int:
    with c.db.read() as session:
        if session.get(Product, product_id) is None:
            raise NotFound("未找到该产品")
        return response_working_days(session, product_id)


def set_working_days(c: Container, by: AuditActor, product_id: int, days: int) -> int:
    """Applies to complaints filed from now on; filed ones keep the deadline they were given."""
    if not 1 <= days <= MAX_RESPONSE_WORKING_DAYS:
        message = f"投诉处理时限应为1至{MAX_RESPONSE_WORKING_DAYS}个工作日"
        raise InvalidInput(message, errors={"response_working_days": [message]})
    now = c.clock.now()
    with c.db.transaction() as session:
        if session.get(Product, product_id) is None:
            raise NotFound("未找到该产品")
        setting = session.get(ComplaintSetting, product_id, with_for_update=True)
        if setting is None:
            session.add(ComplaintSetting(product_id=product_id, response_working_days=days,
                                         updated_at=now))
        else:
            setting.response_working_days, setting.updated_at = days, now
        audit.record(session, c.clock, AuditEntry(
            action="complaint.settings", actor=by, object_type="product",
            object_id=str(product_id), details={"response_working_days": days},
        ))
    return days


# ---------------------------------------------------------------- reading


def list_complaints(c: Container, subject: Subject) -> list[ComplaintDetails]:
    with c.db.read() as session:
        person = session.get(Person, subject.person_id)
        complaints = session.scalars(
            select(Complaint).where(Complaint.complainant_person_id == subject.person_id)
            .options(selectinload(Complaint.replies))
            .order_by(Complaint.created_at.desc(), Complaint.id.desc())
        ).all()
        ratings = _ratings_of(session, [complaint.complaint_no for complaint in complaints])
    name = person.name if person else ""
    return [ComplaintDetails(complaint, name, ratings.get(complaint.complaint_no))
            for complaint in complaints]


def _ratings_of(session: Session, numbers: Sequence[str]) -> dict[str, SatisfactionRating]:
    if not numbers:
        return {}
    rows = session.scalars(select(SatisfactionRating).where(
        SatisfactionRating.subject_type == RatedSubject.COMPLAINT.value,
        SatisfactionRating.subject_no.in_(numbers))).all()
    return {row.subject_no: row for row in rows}


def get_complaint(c: Container, actor: Actor, number: str) -> ComplaintDetails:
    """For the complainant, whoever holds a complaints grant for them, and complaint staff;
    anyone else gets the same 404 as a wrong number."""
    with c.db.read() as session:
        complaint = _load(session, number)
        if complaint is None or (complaint.complainant_person_id is None
                                 and actor.role not in COMPLAINT_STAFF):
            raise NotFound("未找到该投诉")
        if actor.role not in COMPLAINT_STAFF and complaint.complainant_person_id is not None:
            require_access(c, session, actor, Action.FILE_COMPLAINTS,
                           complaint.complainant_person_id, object_type="complaint",
                           object_id=complaint.complaint_no)
        return ComplaintDetails(complaint, _name_of(session, complaint),
                                _rating_of(session, complaint.complaint_no))


def _name_of(session: Session, complaint: Complaint) -> str:
    if complaint.complainant_person_id is None:
        return complaint.complainant_name or ""
    person = session.get(Person, complaint.complainant_person_id)
    return person.name if person else ""


def _load(session: Session, number: str, *, lock: bool = False) -> Complaint | None:
    query = select(Complaint).where(Complaint.complaint_no == number)
    if lock:
        query = query.with_for_update().execution_options(populate_existing=True)
    return session.scalars(query.options(selectinload(Complaint.replies))).one_or_none()


def staff_queue(c: Container, status: ComplaintStatus | None, overdue: bool | None,
                window: Window = FIRST_PAGE) -> Page[ComplaintDetails]:
    """Unresolved first, the nearest (or longest passed) deadline first, a page at a time."""
    now = c.clock.now()
    unresolved = Complaint.status != ComplaintStatus.RESOLVED.value
    query = select(Complaint, Person.name).outerjoin(
        Person, Person.id == Complaint.complainant_person_id)
    if status is not None:
        query = query.where(Complaint.status == status.value)
    if overdue is True:
        query = query.where(unresolved, Complaint.due_at <= now)
    elif overdue is False:
        query = query.where(~(unresolved & (Complaint.due_at <= now)))
    query = query.order_by(case((unresolved, 0), else_=1), Complaint.due_at, Complaint.id)
    with c.db.read() as session:
        rows = session.execute(query.options(selectinload(Complaint.replies))
                               .offset(window.offset).limit(window.limit)).all()
        total = count_rows(session, query)
        ratings = _ratings_of(session, [complaint.complaint_no for complaint, _ in rows])
    return Page([ComplaintDetails(complaint, name or complaint.complainant_name or "",
                                  ratings.get(complaint.complaint_no))
                 for complaint, name in rows], total)


# ---------------------------------------------------------------- replying


def reply(c: Container, actor: Actor, number: str, message: str,
          target: ComplaintStatus | None) -> ComplaintDetails:
    """A staff reply; by default it moves a received complaint to in_progress and leaves an
    in-progress one there. The complainant is texted (the number only)."""
    if actor.role not in COMPLAINT_STAFF:
        raise NotFound("未找到该投诉")
    text = normalize_text(message)
    problem = text_length_problem(text, minimum=1, maximum=REPLY_MAX_CHARS, what="回复内容")
    if problem:
        problem = "请填写回复内容" if not text else problem
        raise InvalidInput(problem, errors={"message": [problem]})
    now = c.clock.now()
    with c.db.transaction() as session:
        complaint = _load(session, number, lock=True)
        if complaint is None:
            raise NotFound("未找到该投诉")
        current = ComplaintStatus(complaint.status)
        wanted = target or (ComplaintStatus.IN_PROGRESS if current is ComplaintStatus.RECEIVED
                            else current)
        try:
            new_status = complaint_transition(current, wanted)
        except InvalidComplaintTransition as exc:
            raise RuleViolation(exc.message, code="invalid_transition",
                                errors={"status": [exc.message]}) from exc
        complaint.replies.append(ComplaintReply(
            author_account_id=actor.account_id, author_role=actor.role.value, message=text,
            from_status=current.value, to_status=new_status.value, created_at=now))
        complaint.status, complaint.updated_at = new_status.value, now
        if new_status is ComplaintStatus.RESOLVED:
            complaint.resolved_at = now
        audit.record(session, c.clock, AuditEntry(
            action="complaint.reply", actor=AuditActor(actor.account_id, actor.role.value),
            subject_person_id=complaint.complainant_person_id, object_type="complaint",
            object_id=complaint.complaint_no,
            details={"from": current.value, "to": new_status.value},
        ))
        for phone in _complainant_phones(session, complaint):
            reply = reply_sms_text(complaint.complaint_no, new_status)
            c.sms.send(session, phone, reply.template, reply.params)
        name = _name_of(session, complaint)
        rating = _rating_of(session, complaint.complaint_no)
        session.flush()
    return ComplaintDetails(complaint, name, rating)


def _complainant_phones(session: Session, complaint: Complaint) -> Sequence[str]:
    """The account that filed it (the person, or their agent) and the person's own account;
    for a complaint filed without an account, the phone its code went to."""
    if complaint.complainant_person_id is None:
        return [complaint.complainant_phone] if complaint.complainant_phone else []
    phones = session.scalars(
        select(UserAccount.phone).where(
            (UserAccount.id == complaint.filed_by_account_id)
            | (UserAccount.person_id == complaint.complainant_person_id))
        .order_by(UserAccount.id)
    ).all()
    return list(dict.fromkeys(phones))


# ---------------------------------------------------------------- figures


@dataclass(frozen=True)
class ComplaintFigures:
    """A product's complaints for a period ``(start, end]``: filed by category; resolved within
    the period on time (by the deadline given at filing) or late; and, at ``end``, those still
    open and those of them past their deadline."""

    filed_by_category: dict[str, int]
    resolved_on_time: int
    resolved_late: int
    open_at_end: int
    overdue_at_end: int


def complaint_figures(session: Session, product_id: int, start: datetime, end: datetime
                      ) -> ComplaintFigures:
    of_product = Complaint.product_id == product_id
    filed = session.execute(
        select(Complaint.category, func.count(Complaint.id))
        .where(of_product, Complaint.created_at > start, Complaint.created_at <= end)
        .group_by(Complaint.category)).all()
    on_time, late = session.execute(
        select(func.count(Complaint.id).filter(Complaint.resolved_at <= Complaint.due_at),
               func.count(Complaint.id).filter(Complaint.resolved_at > Complaint.due_at))
        .where(of_product, Complaint.resolved_at > start, Complaint.resolved_at <= end)).one()
    # Open at ``end``: filed by then and not resolved by then (a later resolution does not count).
    still_open = (of_product, Complaint.created_at <= end,
                  (Complaint.resolved_at.is_(None)) | (Complaint.resolved_at > end))
    open_count, overdue = session.execute(
        select(func.count(Complaint.id), func.count(Complaint.id).filter(Complaint.due_at <= end))
        .where(*still_open)).one()
    return ComplaintFigures(
        filed_by_category={category: int(count) for category, count in filed},
        resolved_on_time=int(on_time or 0), resolved_late=int(late or 0),
        open_at_end=int(open_count or 0), overdue_at_end=int(overdue or 0))
