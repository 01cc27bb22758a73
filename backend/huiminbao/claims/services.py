"""Claim use cases: submit online, add and read documents, look up, estimate, and the insurer's
review (approve, reject, request a supplement, mark paid).

Deductibles and caps are consumed in the order claims are approved: approving (and settling) a
claim locks the policy row first (``SELECT … FOR UPDATE``; SQLite serializes writers anyway), so
two approvals for the same person's policy year never both use the same deductible. Remote calls
(the registry, for the claimant's phone) and document storage happen outside any transaction.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from sqlalchemy import case, delete, func, select
from sqlalchemy.orm import Session, selectinload

from huiminbao.audit import services as audit
from huiminbao.audit.services import AuditActor, AuditEntry
from huiminbao.catalog.domain import BenefitCategory, ProductStatus
from huiminbao.catalog.models import InsurerStaff, Product, ProductInsurer, Tier
from huiminbao.claims import filing, kinds, payout
from huiminbao.claims import terms as claim_terms
from huiminbao.claims.domain import (
    APPEAL_REFUSALS,
    INITIAL_STATUSES,
    OPEN_STATUSES,
    OUTSIDE_INSURER_REFUSAL,
    SUPPLEMENT_RECEIVED,
    ApprovalStep,
    Channel,
    ClaimStatus,
    Decision,
    Reviewer,
    SecondDecider,
    appeal_outcome_message,
    appeal_problem,
    appeal_reason_problem,
    approval_step,
    claim_no,
    claimant_sms,
    decision_message,
    decision_path,
    default_message,
    is_contested,
    outside_insurers,
    second_decision_refusal,
    stay_problem,
    transition,
)
from huiminbao.claims.kinds import ClaimKind, KindFacts
from huiminbao.claims.models import (
    Claim,
    ClaimCoDecision,
    ClaimDocument,
    ClaimEvent,
    ClaimItem,
    ClaimPayee,
    ClaimPayout,
    ClaimPayoutLine,
    ProductItem,
)
from huiminbao.claims.payees import PayeeKind
from huiminbao.claims.payout import Bill, BillItem, Breakdown, PayoutRules, YearToDate
from huiminbao.claims.storage import (
    DocumentStoreUnavailable,
    UnacceptableDocument,
    check_document,
    new_document_key,
    safe_filename,
)
from huiminbao.core.container import Container
from huiminbao.core.crypto import open_sealed, seal
from huiminbao.core.errors import Busy, Conflict, InvalidInput, NotFound, RuleViolation
from huiminbao.core.idempotency import link_resource
from huiminbao.core.pagination import FIRST_PAGE, Page, Window, count_rows
from huiminbao.core.states import InvalidTransition
from huiminbao.enrollment.domain import PolicyStatus
from huiminbao.enrollment.models import Policy
from huiminbao.identity import consent_gate
from huiminbao.identity.access import Subject, require_access
from huiminbao.identity.auth import Actor
from huiminbao.identity.consent_rules import Purpose
from huiminbao.identity.domain import Action, Basis, Role
from huiminbao.identity.domain import Decision as AccessDecision
from huiminbao.identity.models import Person, UserAccount
from huiminbao.payments import ledger
from huiminbao.registry.port import RegistryUnavailable

log = logging.getLogger(__name__)

NO_POLICY = "被保险人没有有效的惠民保保单，无法申请理赔"
CLAIM_CLOSED = "该理赔已审结，不能再上传材料"
ESTIMATE_NOTICE = ("估算结果仅供参考，按您填写的金额和本年度已赔付情况计算，实际赔付以保险公司审核"
                   "结果为准。本产品为商业保险，不是基本医疗保险。")


# ---------------------------------------------------------------- requests and answers


@dataclass(frozen=True)
class ItemInput:
    code: str
    name: str
    amount_fen: int


@dataclass(frozen=True)
class ClaimRequest:
    hospital_name: str
    admitted_on: date
    discharged_on: date
    in_policy_self_pay_fen: int
    items: Sequence[ItemInput]
    policy_no: str | None = None
    kind: ClaimKind = ClaimKind.INPATIENT
    diagnosis_code: str | None = None
    prescription_no: str | None = None
    pharmacy_code: str | None = None
    treatment_city_code: str | None = None
    payee: filing.PayeeInput | None = None

    def facts(self) -> KindFacts:
        return KindFacts(self.kind, self.diagnosis_code, self.prescription_no,
                         (self.pharmacy_code or "").strip() or None, self.treatment_city_code,
                         tuple(payout.normalize_code(i.code) for i in self.items))
    diagnosis_codes: Sequence[str] = ()  # ICD-10, for the terms' pre-existing conditions


@dataclass(frozen=True)
class EstimateRequest:
    in_policy_self_pay_fen: int
    items: Sequence[ItemInput]
    policy_no: str | None = None
    product_id: int | None = None
    tier: str | None = None
    diagnosis_codes: Sequence[str] = ()  # ICD-10, for the terms' pre-existing conditions
    treated_on: date | None = None  # for a first-time enrollee's waiting period


@dataclass(frozen=True)
class EventActor:
    account_id: int | None = None
    role: str | None = None
    client: str | None = None
    grant_id: int | None = None

    @classmethod
    def of(cls, actor: Actor, grant_id: int | None = None) -> EventActor:
        return cls(actor.account_id, actor.role.value, None, grant_id)

    @property
    def audit(self) -> AuditActor:
        return AuditActor(self.account_id, self.role, self.client)


@dataclass(frozen=True)
class ClaimDetails:
    claim: Claim
    policy_no: str
    product_name: str
    tier_name: str
    insured: Person
    breakdown: Breakdown | None  # stored when decided; a preview for staff otherwise
    preview: bool = False
    # A contested claim approved by one insurer, waiting for another's approval.
    first_approval_insurer: str | None = None
    payee: ClaimPayee | None = None
    payout: ClaimPayout | None = None
    documents_needed: tuple[str, ...] = ()
    clock: kinds.Clock | None = None  # the promise now running (decision, then payment)
    # Before the claim is computed: what each listed item code counts as (special_drug,
    # reasonable), so that a listed drug shows its category while the claim waits for review.
    listed: Mapping[str, str] = field(default_factory=dict)
    # Who makes a contested claim's (an appeal's) second decision for the claim's product.
    second_decider: SecondDecider = SecondDecider.ANOTHER_INSURER


@dataclass(frozen=True)
class Estimate:
    breakdown: Breakdown
    product_id: int
    product_name: str
    tier: str
    tier_name: str
    policy_no: str | None
    earlier: YearToDate


# ---------------------------------------------------------------- rules, usage, bills


def rules_for(session: Session, product_id: int, tier_code: str) -> PayoutRules:
    """The tier's rules with the product's terms (claims/terms.py)."""
    return claim_terms.payout_rules(session, product_id, tier_code)


def usage_of(session: Session, policy_id: int) -> YearToDate:
    """What the policy's counted claims (approved, paid, settled) used, per category."""
    banded = case((ClaimPayoutLine.basis == payout.LineBasis.STANDARD.value,
                   ClaimPayoutLine.eligible_fen - ClaimPayoutLine.deductible_used_fen), else_=0)
    rows = session.execute(
        select(ClaimPayoutLine.category, func.sum(ClaimPayoutLine.deductible_used_fen),
               func.sum(ClaimPayoutLine.payout_fen), func.sum(banded))
        .join(Claim, Claim.id == ClaimPayoutLine.claim_id)
        .where(Claim.policy_id == policy_id,
               Claim.status.in_([s.value for s in ClaimStatus if s.counts_toward_limits]))
        .group_by(ClaimPayoutLine.category)
    ).all()
    return YearToDate({
        BenefitCategory(category): payout.CategoryUsage(int(deductible or 0), int(paid or 0),
                                                        int(in_bands or 0))
        for category, deductible, paid, in_bands in rows
    })


def bill_of(in_policy_self_pay_fen: int, items: Sequence[ItemInput]) -> Bill:
    return Bill(in_policy_self_pay_fen,
                tuple(BillItem(i.code.strip(), i.name.strip(), i.amount_fen) for i in items))


def _claim_bill(claim: Claim) -> Bill:
    return Bill(claim.in_policy_self_pay_fen,
                tuple(BillItem(i.code, i.name, i.amount_fen) for i in claim.items))


def _check_bill(request_items: Sequence[ItemInput], self_pay_fen: int) -> None:
    if self_pay_fen + sum(item.amount_fen for item in request_items) <= 0:
        raise InvalidInput("请填写医疗费用金额", errors={
            "in_policy_self_pay_fen": ["请填写医保范围内个人负担的费用或医保范围外的费用项目"]})


def store_breakdown(session: Session, claim: Claim, breakdown: Breakdown) -> None:
    """Keep the computed lines (they are what later claims' deductibles and caps count) and
    the category or reason of each item."""
    for position, line in enumerate(breakdown.lines):
        session.add(ClaimPayoutLine(
            claim_id=claim.id, position=position, category=line.category.value,
            eligible_fen=line.eligible_fen, deductible_fen=line.deductible_fen,
            deductible_remaining_fen=line.deductible_remaining_fen,
            deductible_used_fen=line.deductible_used_fen, ratio_bp=line.ratio_bp,
            cap_fen=line.cap_fen, cap_remaining_fen=line.cap_remaining_fen,
            computed_fen=line.computed_fen, payout_fen=line.payout_fen,
            basis=line.basis.value, note=line.note,
            segments=[[s.amount_fen, s.ratio_bp, s.paid_fen] for s in line.segments] or None,
        ))
    reasons = {id(entry.item): entry.reason for entry in breakdown.uncovered}
    categories = {id(item): line.category.value for line in breakdown.lines
                  for item in line.items}
    bill_items = _claim_bill(claim).items
    for stored, computed in zip(claim.items, _match(bill_items, breakdown), strict=True):
        stored.category = categories.get(id(computed)) if computed is not None else None
        stored.reason = reasons.get(id(computed)) if computed is not None else None
    claim.payout_fen = breakdown.total_fen


def _match(bill_items: Sequence[BillItem], breakdown: Breakdown) -> list[BillItem | None]:
    """The breakdown's item objects in the claim's item order (equal items pair in order)."""
    pool = [item for line in breakdown.lines for item in line.items]
    pool += [entry.item for entry in breakdown.uncovered]
    matched: list[BillItem | None] = []
    for item in bill_items:
        found = next((candidate for candidate in pool if candidate == item), None)
        if found is not None:
            pool.remove(found)
        matched.append(found)
    return matched


def stored_breakdown(claim: Claim) -> Breakdown | None:
    """The breakdown as computed at approval or settlement, rebuilt from the stored lines."""
    if not claim.lines:
        return None
    items_by_category: dict[str, list[BillItem]] = {}
    uncovered: list[payout.UncoveredItem] = []
    for item in claim.items:
        bill_item = BillItem(item.code, item.name, item.amount_fen)
        if item.category:
            items_by_category.setdefault(item.category, []).append(bill_item)
        else:
            uncovered.append(payout.UncoveredItem(bill_item, item.reason or payout.NOT_LISTED))
    lines = tuple(
        payout.CategoryPayout(
            category=BenefitCategory(line.category), eligible_fen=line.eligible_fen,
            deductible_fen=line.deductible_fen,
            deductible_remaining_fen=line.deductible_remaining_fen,
            deductible_used_fen=line.deductible_used_fen, ratio_bp=line.ratio_bp,
            cap_fen=line.cap_fen, cap_remaining_fen=line.cap_remaining_fen,
            computed_fen=line.computed_fen, payout_fen=line.payout_fen,
            items=tuple(items_by_category.get(line.category, ())),
            basis=payout.LineBasis(line.basis), note=line.note,
            segments=tuple(payout.Segment(*segment) for segment in line.segments or ()),
        )
        for line in claim.lines
    )
    return Breakdown(lines, tuple(uncovered))


# ---------------------------------------------------------------- timeline, texts, money


def _event(c: Container, claim: Claim, current: ClaimStatus | None, target: ClaimStatus,
           by: EventActor, message: str) -> ClaimEvent:
    return ClaimEvent(
        claim_id=claim.id, from_status=current.value if current else None,
        to_status=target.value, actor_account_id=by.account_id, actor_role=by.role,
        actor_client=by.client, grant_id=by.grant_id, message=message, occurred_at=c.clock.now(),
    )


def start_timeline(session: Session, c: Container, claim: Claim, by: EventActor,
                   message: str) -> None:
    """The first entry of a new (flushed) claim: submitted online, or settled by a hospital."""
    status = ClaimStatus(claim.status)
    if status not in INITIAL_STATUSES:
        raise InvalidTransition(status, status)
    session.add(_event(c, claim, None, status, by, message))


def record_status(session: Session, c: Container, claim: Claim, target: ClaimStatus,
                  by: EventActor, message: str) -> None:
    """Move the claim to ``target`` (checked against the table) and add it to the timeline."""
    current = ClaimStatus(claim.status)
    claim.status = transition(current, target).value
    session.add(_event(c, claim, current, target, by, message))


def notify(session: Session, c: Container, phone: str | None, claim: Claim) -> None:
    """Text the claimant (``phone``: the principal's, when they have one) and, for a claim an
    agent filed under a grant, the agent too, at each status change."""
    text = claimant_sms(ClaimStatus(claim.status), claim.claim_no, claim.payout_fen)
    if phone:
        c.sms.send(session, phone, text.template, text.params)
    if claim.acted_for_grant_id is not None and claim.submitted_by_account_id is not None:
        agent_phone = session.scalar(select(UserAccount.phone).where(
            UserAccount.id == claim.submitted_by_account_id))
        if agent_phone and agent_phone != phone:
            c.sms.send(session, agent_phone, text.template, text.params)


def claimant_phone(c: Container, person_id: int) -> str | None:
    """Where the claimant is texted: the phone of the account bound to the insured person,
    else the phone the registry holds for them, else nobody. Asked outside any transaction."""
    with c.db.read() as session:
        account_phone = session.scalars(
            select(UserAccount.phone).where(UserAccount.person_id == person_id)).first()
        person = session.get(Person, person_id)
    if account_phone or person is None:
        return account_phone
    try:
        registered = c.registry.find_person(person.id_number)
    except RegistryUnavailable:
        log.warning("registry unavailable: claim notice for person %s not texted", person_id)
        return None
    return registered.phone if registered is not None else None


def book_payout(session: Session, claim: Claim, now: datetime) -> None:
    """The payout leaves the product's claim funds for the insured person, once (the ledger's
    unique reference refuses a second booking). A payout of 0 moves no money."""
    if not claim.payout_fen:
        return
    ledger.post(session, kind="claim", reference=f"claim:{claim.claim_no}",
                order_no=claim.claim_no, purpose=f"惠民保理赔款（{claim.claim_no}）",
                moves=[(ledger.claims_payable(claim.product_id), -claim.payout_fen),
                       (ledger.claim_payout(claim.insured_person_id), claim.payout_fen)],
                now=now)


# ---------------------------------------------------------------- loading


_EVERYTHING = (selectinload(Claim.items), selectinload(Claim.lines), selectinload(Claim.events),
               selectinload(Claim.documents))


def _find(session: Session, number: str, *, lock: bool = False) -> Claim:
    query = select(Claim).where(Claim.claim_no == number)
    if lock:
        query = query.with_for_update().execution_options(populate_existing=True)
    claim = session.scalars(query.options(*_EVERYTHING)).one_or_none()
    if claim is None:
        raise NotFound()  # the same answer as a claim one may not see
    return claim


def _details(session: Session, claim: Claim, today: date, *, preview: bool = False,
             prior: Sequence[payout.Diagnosis] = ()) -> ClaimDetails:
    policy = session.get(Policy, claim.policy_id)
    product = session.get(Product, claim.product_id)
    insured = session.get(Person, claim.insured_person_id)
    tier = session.scalars(select(Tier).where(Tier.product_id == claim.product_id,
                                              Tier.code == claim.tier_code)).one_or_none()
    assert policy is not None and product is not None and insured is not None
    breakdown = stored_breakdown(claim)
    is_preview = False
    if breakdown is None and preview and ClaimStatus(claim.status) in OPEN_STATUSES:
        breakdown = _compute(session, claim, policy, prior)
        is_preview = True
    listed: dict[str, str] = {}
    if not claim.lines and claim.items:
        listed = {payout.normalize_code(code): kind for code, kind in session.execute(
            select(ProductItem.code, ProductItem.kind)
            .where(ProductItem.product_id == claim.product_id))}
    payee = session.get(ClaimPayee, claim.id)
    rule = _rule_of(session, claim)
    return ClaimDetails(claim, policy.policy_no, product.name,
                        tier.name if tier else claim.tier_code, insured, breakdown, is_preview,
                        awaiting_second_insurer(session, claim), payee,
                        session.scalars(select(ClaimPayout).where(
                            ClaimPayout.claim_id == claim.id)).one_or_none(),
                        tuple(filing.documents_for(
                            rule, PayeeKind(payee.kind) if payee else None)),
                        running_clock(claim, today), listed, _second_decider(session, claim))


def running_clock(claim: Claim, today: date) -> kinds.Clock | None:
    """The promise running now: the decision while the claim is open and its material
    complete (the clock stops while documents are awaited), then the payment until paid."""
    status = ClaimStatus(claim.status)
    if status in {ClaimStatus.SUBMITTED, ClaimStatus.UNDER_REVIEW} and claim.decide_by:
        return kinds.clock_of(today, claim.decide_by, "decision")
    if status is ClaimStatus.APPROVED and claim.pay_by:
        return kinds.clock_of(today, claim.pay_by, "payment")
    return None


def _compute(session: Session, claim: Claim, policy: Policy,
             prior: Sequence[payout.Diagnosis]) -> Breakdown:
    """The claim's payout now, under the product's terms (claims/terms.py)."""
    return claim_terms.compute(session, policy, claim.tier_code, _claim_bill(claim),
                               usage_of(session, claim.policy_id),
                               claim_terms.stated_codes(claim.diagnosis_code,
                                                        claim.diagnosis_codes),
                               claim.admitted_on, prior)


# ---------------------------------------------------------------- submitting online


def _policy_for_stay(session: Session, person_id: int, policy_no: str | None,
                     admitted_on: date, discharged_on: date) -> Policy:
    query = select(Policy).where(Policy.insured_person_id == person_id)
    if policy_no:
        policy = session.scalars(query.where(Policy.policy_no == policy_no)).one_or_none()
        if policy is None:
            raise NotFound("未找到该保单")
        if policy.status != PolicyStatus.ACTIVE.value:
            raise RuleViolation("该保单已退保，无法申请理赔", code="policy_cancelled")
        return policy
    live = session.scalars(query.where(Policy.status == PolicyStatus.ACTIVE.value)
                           .order_by(Policy.coverage_starts_on.desc())).all()
    if not live:
        raise RuleViolation(NO_POLICY, code="no_policy")
    covering = [p for p in live
                if p.coverage_starts_on <= admitted_on and discharged_on <= p.coverage_ends_on]
    return covering[0] if covering else live[0]


def submit_claim(c: Container, actor: Actor, subject: Subject, request: ClaimRequest, *,
                 also: Callable[[Session, Claim], None] | None = None) -> str:
    """An online claim for the subject (the insured person, or the principal acted for).
    ``also`` writes what goes with the claim in the same transaction (e.g. the settlement it
    was filed from); whatever it raises leaves nothing written."""
    _check_bill(request.items, request.in_policy_self_pay_fen)
    consent_gate.require_now(c, actor, [Purpose.CLAIMS_NEW], principal_person_id=subject.person_id)
    phone = claimant_phone(c, subject.person_id)
    now, today = c.clock.now(), c.clock.today()
    by = EventActor.of(actor, subject.grant_id)
    rule, payee = _check_kind_and_payee(c, actor, subject, request, today)
    with c.db.transaction() as session:
        policy = _policy_for_stay(session, subject.person_id, request.policy_no,
                                  request.admitted_on, request.discharged_on)
        problem = stay_problem(request.admitted_on, request.discharged_on,
                               policy.coverage_starts_on, policy.coverage_ends_on, today)
        if problem:
            raise InvalidInput(problem, code="stay_not_covered",
                               errors={"discharged_on": [problem]})
        bill = bill_of(request.in_policy_self_pay_fen, request.items)
        claim = Claim(
            claim_no=claim_no(now), policy_id=policy.id, product_id=policy.product_id,
            insured_person_id=policy.insured_person_id, tier_code=policy.tier_code,
            channel=Channel.ONLINE.value, status=ClaimStatus.SUBMITTED.value,
            hospital_name=request.hospital_name.strip(),
            admitted_on=request.admitted_on, discharged_on=request.discharged_on,
            in_policy_self_pay_fen=bill.in_policy_self_pay_fen, claimed_fen=bill.total_fen,
            submitted_by_account_id=actor.account_id, acted_for_grant_id=subject.grant_id,
            created_at=now, kind=request.kind.value,
            diagnosis_code=kinds.normalize_diagnosis(request.diagnosis_code),
            prescription_no=(request.prescription_no or "").strip() or None,
            pharmacy_code=(request.pharmacy_code or "").strip() or None,
            treatment_city_code=(request.treatment_city_code or "").strip() or None,
            material_complete_at=now, decide_by=kinds.decide_by(today, rule),
            diagnosis_codes=claim_terms.join_codes(
                claim_terms.normalize_codes(request.diagnosis_codes)),
            items=[ClaimItem(position=index, code=item.code, name=item.name,
                             amount_fen=item.amount_fen) for index, item in enumerate(bill.items)],
        )
        session.add(claim)
        session.flush()
        if payee is not None:
            session.add(payee.row(claim.id, now))
        if also is not None:
            also(session, claim)
        link_resource(session, f"claim:{claim.claim_no}")  # a retry answers with this claim
        documents = filing.documents_for(rule, payee.kind if payee else None)
        start_timeline(session, c, claim, by,
                       f"理赔申请已提交。请上传以下材料：{'、'.join(documents)}。"
                       f"{kinds.clock_of(today, claim.decide_by, 'decision').describe()}。"
                       if claim.decide_by else default_message(ClaimStatus.SUBMITTED, None))
        notify(session, c, phone, claim)
        audit.record(session, c.clock, AuditEntry(
            action="claim.submit", actor=by.audit, subject_person_id=subject.person_id,
            acting_for_person_id=subject.person_id if subject.acting_for else None,
            grant_id=subject.grant_id, object_type="claim", object_id=claim.claim_no,
            details={"claimed_fen": claim.claimed_fen, "policy_no": policy.policy_no,
                     "kind": claim.kind, "payee": payee.kind.value if payee else None},
        ))
        return claim.claim_no


def _check_kind_and_payee(c: Container, actor: Actor, subject: Subject, request: ClaimRequest,
                          today: date) -> tuple[kinds.KindRule, filing.CheckedPayee | None]:
    """The product's rule for the claim's kind (its problems refused at once) and the payee,
    its card confirmed by the bank's side (a remote call, before the transaction)."""
    with c.db.read() as session:
        policy = _policy_for_stay(session, subject.person_id, request.policy_no,
                                  request.admitted_on, request.discharged_on)
        product = session.get(Product, policy.product_id)
        insured = session.get(Person, subject.person_id)
        agent = session.get(Person, actor.person_id) if (
            subject.acting_for and actor.person_id is not None) else None
        assert product is not None and insured is not None
        rule = filing.check_kind(session, policy.product_id, product.city_code, request.facts())
        insured_name, insured_id = insured.name, insured.id_number
        agent_id = agent.id_number if agent is not None else None
    if request.payee is None:
        return rule, None
    return rule, filing.check_payee(c, request.payee, insured_name=insured_name,
                                    insured_id=insured_id, agent_id=agent_id, today=today)


# ---------------------------------------------------------------- documents

DOCUMENT_STORE_DOWN = "理赔材料存储服务暂时无法访问，本次文件未上传，请稍后重新上传"
MAX_DOCUMENTS_PER_CLAIM = 30
MAX_CLAIM_DOCUMENT_BYTES = 100 * 1024 * 1024
TOO_MANY_DOCUMENTS = ("每件理赔最多上传 {limit} 份材料，已达上限。"
                      "如还有材料，请合并为一个 PDF 后联系客服")
CLAIM_DOCUMENTS_TOO_LARGE = ("本件理赔的材料合计不能超过100MB，本次文件未上传。"
                             "请压缩图片后重新上传")
DOCUMENT_STORE_DOWN_READ = "理赔材料存储服务暂时无法访问，请稍后再查看"


def add_document(c: Container, actor: Actor, number: str, filename: str, data: bytes) -> int:
    """Store one document of an open claim; a claim waiting for a supplement goes back under
    review. Returns the document's id."""
    with c.db.read() as session:
        claim = _find(session, number)
        decision = require_access(c, session, actor, Action.SUBMIT_CLAIMS,
                                  claim.insured_person_id, object_type="claim", object_id=number)
        consent_gate.require(c, session, actor, [Purpose.CLAIMS_NEW],
                             principal_person_id=claim.insured_person_id)
        if ClaimStatus(claim.status) not in OPEN_STATUSES:
            raise RuleViolation(CLAIM_CLOSED, code="claim_closed")
        waiting = ClaimStatus(claim.status) is ClaimStatus.SUPPLEMENT_REQUESTED
        _check_room(session, claim.id, len(data))
    try:
        kind = check_document(filename, data)
    except UnacceptableDocument as exc:
        raise InvalidInput(exc.message, code="unacceptable_document",
                           errors={"file": [exc.message]}) from exc
    phone = claimant_phone(c, claim.insured_person_id) if waiting else None
    # The object first, then the row that points at it: a row never names a missing object.
    # A put that dies half-way, or a commit whose outcome is unknown, can leave an object no
    # row names; that orphan is harmless (random key, encrypted, never reachable through the
    # API, whose gate starts from the row). The object is removed again only when the row is
    # certainly not written: deleting after an ambiguous commit could strand a written row.
    key = new_document_key(kind.extension)
    try:
        c.documents.put(key, seal(data), kind.content_type)  # encrypted before it leaves
    except DocumentStoreUnavailable as exc:
        raise Busy(DOCUMENT_STORE_DOWN, code="document_store_unavailable") from exc
    by = EventActor.of(actor, decision.grant_id)
    committing = False  # set when only the commit is left: its failure leaves the outcome open
    try:
        with c.db.transaction() as session:
            claim = _find(session, number, lock=True)
            status = ClaimStatus(claim.status)
            if status not in OPEN_STATUSES:
                raise RuleViolation(CLAIM_CLOSED, code="claim_closed")
            _check_room(session, claim.id, len(data))  # again, under the claim's lock
            document = ClaimDocument(
                claim_id=claim.id, storage_key=key, filename=safe_filename(filename),
                content_type=kind.content_type, size_bytes=len(data),
                sha256=hashlib.sha256(data).hexdigest(), uploaded_by_account_id=actor.account_id,
                uploaded_at=c.clock.now(),
            )
            session.add(document)
            if status is ClaimStatus.SUPPLEMENT_REQUESTED:
                # Material complete again: the decision clock starts afresh (保险法 §23).
                claim.material_complete_at = c.clock.now()
                claim.decide_by = kinds.decide_by(c.clock.today(), _rule_of(session, claim))
                record_status(session, c, claim, ClaimStatus.UNDER_REVIEW, by, SUPPLEMENT_RECEIVED)
                notify(session, c, phone, claim)
            audit.record(session, c.clock, claim_act(
                "claim.document_add", by.audit, claim, decision,
                {"content_type": kind.content_type, "size_bytes": len(data)}))
            session.flush()
            document_id = document.id
            committing = True
        return document_id
    except BaseException:
        if not committing:  # rolled back: no row names the object
            try:
                c.documents.delete(key)
            except Exception:  # the first error is the answer; the object stays an orphan
                log.warning("claim document object left behind after a failed upload",
                            exc_info=True)
        raise


def _check_room(session: Session, claim_id: int, adding_bytes: int) -> None:
    """A claim holds at most MAX_DOCUMENTS_PER_CLAIM documents and MAX_CLAIM_DOCUMENT_BYTES in
    all: enough for every invoice, list and summary of a long stay, not a storage service."""
    count, total = session.execute(
        select(func.count(ClaimDocument.id), func.coalesce(func.sum(ClaimDocument.size_bytes), 0))
        .where(ClaimDocument.claim_id == claim_id)).one()
    if count >= MAX_DOCUMENTS_PER_CLAIM:
        raise RuleViolation(TOO_MANY_DOCUMENTS.format(limit=MAX_DOCUMENTS_PER_CLAIM),
                            code="too_many_documents")
    if total + adding_bytes > MAX_CLAIM_DOCUMENT_BYTES:
        raise RuleViolation(CLAIM_DOCUMENTS_TOO_LARGE, code="claim_documents_too_large")


@dataclass(frozen=True)
class DocumentContent:
    document: ClaimDocument
    data: bytes


def read_document(c: Container, actor: Actor, number: str, document_id: int) -> DocumentContent:
    """A document, for whoever may see the claim (the claimant, an agent with claims_view, the
    insurer's staff); anyone else gets the same 404 as for a wrong number."""
    with c.db.read() as session:
        claim = _find(session, number)
        decision = require_access(c, session, actor, Action.VIEW_CLAIMS, claim.insured_person_id,
                                  object_type="claim", object_id=number)
        document = next((d for d in claim.documents if d.id == document_id), None)
    if document is None:
        raise NotFound()
    try:
        data = open_sealed(c.documents.get(document.storage_key))
    except DocumentStoreUnavailable as exc:
        raise Busy(DOCUMENT_STORE_DOWN_READ, code="document_store_unavailable") from exc
    except KeyError as exc:
        log.error("claim document %s of %s is missing from storage", document.id, number)
        raise NotFound() from exc
    if decision.basis is not Basis.SELF:
        audit.record_now(c.db, c.clock, claim_act(
            "claim.document_read", AuditActor(actor.account_id, actor.role.value), claim,
            decision, {"document_id": document.id}))
    return DocumentContent(document, data)


def claim_act(action: str, actor: AuditActor, claim: Claim, access: AccessDecision,
              details: dict[str, Any]) -> AuditEntry:
    """The audit entry of an act on a claim for its insured, as the access gate allowed it:
    acting for the insured when under a proxy grant."""
    person_id = claim.insured_person_id
    return AuditEntry(
        action=action, actor=actor, subject_person_id=person_id,
        acting_for_person_id=person_id if access.basis is Basis.PROXY_GRANT else None,
        grant_id=access.grant_id, object_type="claim", object_id=claim.claim_no,
        details=details)


# ---------------------------------------------------------------- looking up


@dataclass(frozen=True)
class ClaimSummary:
    claim: Claim
    policy_no: str
    product_name: str
    insured: Person


def list_claims(c: Container, subject: Subject) -> list[ClaimSummary]:
    """Claims where the subject is the insured person, newest first."""
    with c.db.read() as session:
        rows = session.execute(
            select(Claim, Policy.policy_no, Product.name, Person)
            .join(Policy, Policy.id == Claim.policy_id)
            .join(Product, Product.id == Claim.product_id)
            .join(Person, Person.id == Claim.insured_person_id)
            .where(Claim.insured_person_id == subject.person_id)
            .order_by(Claim.created_at.desc(), Claim.id.desc())
        ).all()
        return [ClaimSummary(claim, policy_no, name, person)
                for claim, policy_no, name, person in rows]


def get_claim(c: Container, actor: Actor, number: str) -> ClaimDetails:
    """One claim with its timeline and breakdown, through the gate (strangers get 404)."""
    with c.db.read() as session:
        claim = _find(session, number)
        require_access(c, session, actor, Action.VIEW_CLAIMS, claim.insured_person_id,
                       object_type="claim", object_id=number)
        return _details(session, claim, c.clock.today())


# ---------------------------------------------------------------- estimating


def estimate(c: Container, subject: Subject, request: EstimateRequest) -> Estimate:
    """"花了这些钱，大概能赔多少？" — the same calculation a settlement makes, on the figures
    typed in, counting what the subject's counted claims of the policy year already used.
    Without a policy (yet), on the chosen product and tier with nothing used."""
    _check_bill(request.items, request.in_policy_self_pay_fen)
    bill = bill_of(request.in_policy_self_pay_fen, request.items)
    codes = claim_terms.normalize_codes(request.diagnosis_codes)
    today = c.clock.today()
    with c.db.read() as session:
        policy = _policy_to_estimate(session, subject.person_id, request.policy_no, today)
        if policy is not None:
            product_id, tier_code = policy.product_id, policy.tier_code
        elif request.product_id is not None and request.tier:
            product_id, tier_code = request.product_id, request.tier
        else:
            raise RuleViolation("您还没有有效的惠民保保单：请选择产品和保障档次后估算",
                                code="no_policy",
                                errors={"product_id": ["请选择产品"], "tier": ["请选择保障档次"]})
        product = session.get(Product, product_id)
        if product is None or (policy is None
                               and product.status != ProductStatus.PUBLISHED.value):
            raise NotFound("未找到该产品")
        starts_on = policy.coverage_starts_on if policy else product.coverage_starts_on
        policy_id = policy.id if policy else None
    # The registry (only for a listed pre-existing condition), outside any transaction.
    prior = claim_terms.prior_diagnoses(c, subject.person_id, product_id, starts_on, codes)
    with c.db.read() as session:
        product = session.get(Product, product_id)
        assert product is not None
        rules = rules_for(session, product_id, tier_code)
        tier = session.scalars(select(Tier).where(Tier.product_id == product_id,
                                                  Tier.code == tier_code)).one()
        policy = session.get(Policy, policy_id) if policy_id is not None else None
        if policy is not None:
            earlier = usage_of(session, policy.id)
            circumstances = claim_terms.circumstances(session, policy, codes,
                                                      request.treated_on, prior)
        else:
            earlier = YearToDate()
            circumstances = payout.Circumstances(
                codes, prior, starts_on, request.treated_on,
                claim_terms.first_enrollment(session, subject.person_id, product, starts_on))
        return Estimate(payout.calculate(rules, bill, earlier, circumstances), product.id,
                        product.name, tier.code, tier.name,
                        policy.policy_no if policy else None, earlier)


def _policy_to_estimate(session: Session, person_id: int, policy_no: str | None,
                        today: date) -> Policy | None:
    query = select(Policy).where(Policy.insured_person_id == person_id,
                                 Policy.status == PolicyStatus.ACTIVE.value)
    if policy_no:
        policy = session.scalars(query.where(Policy.policy_no == policy_no)).one_or_none()
        if policy is None:
            raise NotFound("未找到该保单")
        return policy
    live = session.scalars(query.order_by(Policy.coverage_starts_on.desc())).all()
    current = [p for p in live if p.coverage_starts_on <= today <= p.coverage_ends_on]
    upcoming = [p for p in live if p.coverage_starts_on > today]
    if current:
        return current[0]
    return upcoming[-1] if upcoming else None


# ---------------------------------------------------------------- the insurer's review


def review_queue(c: Container, statuses: Sequence[ClaimStatus], window: Window = FIRST_PAGE
                 ) -> Page[ClaimSummary]:
    """Claims in these statuses, oldest first (first come, first reviewed), a page at a time."""
    query = (select(Claim, Policy.policy_no, Product.name, Person)
             .join(Policy, Policy.id == Claim.policy_id)
             .join(Product, Product.id == Claim.product_id)
             .join(Person, Person.id == Claim.insured_person_id)
             .where(Claim.status.in_([s.value for s in statuses]))
             .order_by(Claim.created_at, Claim.id))
    with c.db.read() as session:
        rows = session.execute(query.offset(window.offset).limit(window.limit)).all()
        return Page([ClaimSummary(claim, policy_no, name, person)
                     for claim, policy_no, name, person in rows], count_rows(session, query))


def staff_claim(c: Container, actor: Actor, number: str) -> ClaimDetails:
    """A claim for review: an open claim comes with the breakdown approval would give now."""
    with c.db.read() as session:
        claim = _find(session, number)
        require_access(c, session, actor, Action.REVIEW_CLAIMS, claim.insured_person_id,
                       object_type="claim", object_id=number)
    prior = claim_terms.prior_for_claim(c, number)  # the registry, outside any transaction
    with c.db.read() as session:
        claim = _find(session, number)
        decision = require_access(c, session, actor, Action.REVIEW_CLAIMS,
                                  claim.insured_person_id, object_type="claim", object_id=number)
        details = _details(session, claim, c.clock.today(), preview=True, prior=prior)
    audit.record_now(c.db, c.clock, AuditEntry(
        action="claim.review_view", actor=AuditActor(actor.account_id, actor.role.value),
        subject_person_id=claim.insured_person_id, grant_id=decision.grant_id,
        object_type="claim", object_id=number,
    ))
    return details


def decide(c: Container, actor: Actor, number: str, decision: Decision,
           message: str | None, *, missing: Sequence[str] = (),
           supervisor_reason: str | None = None) -> ClaimDetails:
    """A staff decision. A request for more documents lists everything missing at once
    (``missing``, else the message is the list) and is made once; a second needs an
    administrator and their reason, which the audit log keeps (保险法 §22)."""
    message = (message or "").strip() or None
    missing = [item.strip() for item in missing if item.strip()]
    if decision is Decision.REQUEST_SUPPLEMENT and missing:
        message = kinds.supplement_message(missing, message)
    if decision.needs_message and not message:
        raise InvalidInput(decision.missing_message, code="message_required",
                           errors={"message": [decision.missing_message]})
    with c.db.read() as session:
        claim = _find(session, number)
        require_access(c, session, actor, Action.REVIEW_CLAIMS, claim.insured_person_id,
                       object_type="claim", object_id=number)
        policy_id, person_id = claim.policy_id, claim.insured_person_id
    phone = claimant_phone(c, person_id)
    # The registry's earlier diagnoses, outside any transaction, only for an approval (the one
    # decision that computes the payout): a registry outage stops no rejection or payment.
    prior = (claim_terms.prior_for_claim(c, number) if decision is Decision.APPROVE else ())
    by = EventActor.of(actor)
    now = c.clock.now()
    with c.db.transaction() as session:
        # The policy first: approvals of one policy year queue here, in approval order.
        session.scalars(select(Policy).where(Policy.id == policy_id).with_for_update()).one()
        claim = _find(session, number, lock=True)
        link_resource(session, f"claim:{claim.claim_no}")  # a retry answers with the claim
        current = ClaimStatus(claim.status)
        try:
            path = decision_path(current, decision)
        except InvalidTransition as exc:
            raise Conflict(f"该理赔当前状态为“{current.label}”，不能{decision.label}",
                           code="invalid_transition") from exc
        final = path[-1]
        if decision is Decision.REQUEST_SUPPLEMENT:
            refusal = kinds.supplement_problem(missing or [message or ""],
                                               claim.supplement_requests, supervisor_reason,
                                               actor.role is Role.ADMIN)
            if refusal is not None:
                raise Conflict(refusal, code="supplement_limit")
        if decision is Decision.MARK_PAID and _has_payee(session, claim.id):
            raise Conflict("该理赔已指定收款银行卡，理赔款由赔款支付批次支付，不能手工标记已支付",
                           code="paid_by_payout_run")
        step, breakdown = ApprovalStep.FINAL, None
        appeal = current is ClaimStatus.APPEALED
        if appeal:  # the second insurer's decision: final, whatever the amount
            _check_appeal_decider(session, claim, actor)
        if final is ClaimStatus.APPROVED:
            policy = session.get(Policy, policy_id)
            assert policy is not None
            breakdown = _compute(session, claim, policy, prior)
            if not appeal:
                step = _approval_step(session, claim, actor, breakdown.total_fen)
            if step.refusal is not None:
                raise Conflict(step.refusal, code=f"contested_{step.value}")
        # After the appeal's and the approval's own checks, which say more.
        if outside_insurers(_reviewer(session, actor), _product_insurers(session, claim)):
            raise Conflict(OUTSIDE_INSURER_REFUSAL, code="claim_other_insurer")
        for status in path[:-1]:
            record_status(session, c, claim, status, by, default_message(status, None))
        if step is ApprovalStep.FIRST:  # a contested claim stays under review for a second
            assert breakdown is not None
            _first_approval(session, c, claim, actor, by, breakdown.total_fen, now)
        else:
            if breakdown is not None:
                store_breakdown(session, claim, breakdown)
                claim.decided_at = now
                claim.pay_by = kinds.pay_by(c.clock.today(), _rule_of(session, claim))
            elif final is ClaimStatus.REJECTED:
                claim.reject_reason, claim.decided_at = message, now
            elif final is ClaimStatus.PAID:
                book_payout(session, claim, now)
                claim.paid_at = now
            elif final is ClaimStatus.SUPPLEMENT_REQUESTED:  # reviewed afresh: both approve
                session.execute(delete(ClaimCoDecision).where(
                    ClaimCoDecision.claim_id == claim.id))
                claim.supplement_requests += 1
            if appeal:
                claim.appeal_decided_at = now
            record_status(session, c, claim, final, by,
                          appeal_outcome_message(final, claim.payout_fen, message,
                                                 _second_decider(session, claim))
                          if appeal
                          else decision_message(final, claim.payout_fen, message))
            notify(session, c, phone, claim)
            audit.record(session, c.clock, AuditEntry(
                action=f"claim.{decision.value}", actor=by.audit, subject_person_id=person_id,
                object_type="claim", object_id=number,
                details={"status": final.value, "payout_fen": claim.payout_fen,
                         **_co_decision_details(session, claim),
                         **({"supplement_request": claim.supplement_requests,
                             "missing": missing or [message],
                             "supervisor_reason": (supervisor_reason or "").strip() or None}
                            if final is ClaimStatus.SUPPLEMENT_REQUESTED else {}),
                         **(_appeal_details(session, claim, actor) if appeal else {})},
            ))
    with c.db.read() as session:
        return _details(session, _find(session, number), c.clock.today(), preview=True,
                        prior=prior)


def _has_payee(session: Session, claim_id: int) -> bool:
    return session.get(ClaimPayee, claim_id) is not None


def _rule_of(session: Session, claim: Claim) -> kinds.KindRule:
    """The product's rule for the claim's kind (the defaults for a kind it no longer lists)."""
    kind = ClaimKind(claim.kind)
    rules = filing.kind_rules(session, claim.product_id)
    return rules.get(kind) or kinds.rules_by_kind(())[kind]


def _approval_step(session: Session, claim: Claim, actor: Actor, payout_fen: int
                   ) -> ApprovalStep:
    """Whether this approval is final, a contested claim's first, or refused (002 三(一))."""
    threshold = session.scalar(select(Product.contested_claim_threshold_fen).where(
        Product.id == claim.product_id))
    if not is_contested(payout_fen, threshold):
        return ApprovalStep.FINAL
    first = session.get(ClaimCoDecision, claim.id)
    return approval_step(payout_fen, threshold,
                         Reviewer(first.account_id, first.insurer) if first else None,
                         _reviewer(session, actor), _product_insurers(session, claim))


def _second_decider(session: Session, claim: Claim) -> SecondDecider:
    return SecondDecider.for_insurers(_product_insurers(session, claim))


def _reviewer(session: Session, actor: Actor) -> Reviewer:
    """The acting staff member as the joint-decision rule sees them."""
    staff = session.get(InsurerStaff, actor.account_id)
    if staff is None:
        return Reviewer(actor.account_id)
    return Reviewer(actor.account_id, staff.insurer, staff.is_supervisor)


def _product_insurers(session: Session, claim: Claim) -> list[str]:
    """The insurers underwriting the claim's product (its lead alone when it lists none)."""
    listed = list(session.scalars(select(ProductInsurer.insurer).where(
        ProductInsurer.product_id == claim.product_id).order_by(ProductInsurer.position)))
    return listed or [session.scalars(select(Product.insurer).where(
        Product.id == claim.product_id)).one()]


def _first_approval(session: Session, c: Container, claim: Claim, actor: Actor,
                    by: EventActor, payout_fen: int, now: datetime) -> None:
    """A contested claim's first approval: recorded and audited; the claim stays under review
    until staff of another insurer approve it too."""
    insurer = session.scalars(select(InsurerStaff.insurer).where(
        InsurerStaff.account_id == actor.account_id)).one()
    session.add(ClaimCoDecision(claim_id=claim.id, account_id=actor.account_id,
                                insurer=insurer, payout_fen=payout_fen, decided_at=now))
    audit.record(session, c.clock, AuditEntry(
        action="claim.first_approval", actor=by.audit, subject_person_id=claim.insured_person_id,
        object_type="claim", object_id=claim.claim_no,
        details={"insurer": insurer, "payout_fen": payout_fen},
    ))


def _co_decision_details(session: Session, claim: Claim) -> dict[str, Any]:
    first = session.get(ClaimCoDecision, claim.id)
    if first is None:
        return {}
    return {"first_approval": {"account_id": first.account_id, "insurer": first.insurer,
                               "payout_fen": first.payout_fen}}


def awaiting_second_insurer(session: Session, claim: Claim) -> str | None:
    """The insurer whose approval of a contested claim waits for another's, or None."""
    if ClaimStatus(claim.status) is not ClaimStatus.UNDER_REVIEW:
        return None
    first = session.get(ClaimCoDecision, claim.id)
    return first.insurer if first else None


# ---------------------------------------------------------------- books


def check_books(c: Container) -> list[str]:
    """Every paid or settled claim's payout is booked exactly once, for exactly its amount (to
    the insured, or owed to the settling hospital or pharmacy), and nothing else is booked as a
    claim (for ``huiminbao reconcile``)."""
    with c.db.read() as session:
        booked = dict(session.execute(
            select(ledger.LedgerTransaction.order_no, func.sum(ledger.LedgerEntry.amount_fen))
            .join(ledger.LedgerEntry,
                  ledger.LedgerEntry.transaction_id == ledger.LedgerTransaction.id)
            .where(ledger.LedgerTransaction.kind == "claim", ledger.LedgerEntry.amount_fen > 0,
                   ledger.LedgerEntry.account.like("claim_payout:%")
                   | ledger.LedgerEntry.account.like("settlement_payable:%"))
            .group_by(ledger.LedgerTransaction.order_no)).all())
        owed = dict(session.execute(
            select(Claim.claim_no, Claim.payout_fen)
            .where(Claim.status.in_([ClaimStatus.PAID.value, ClaimStatus.SETTLED.value]),
                   Claim.payout_fen > 0)).all())
    violations = []
    for number in sorted(set(booked) | set(owed)):
        if int(booked.get(number) or 0) != int(owed.get(number) or 0):
            violations.append(f"理赔 {number} 入账 {int(booked.get(number) or 0)} 分，"
                              f"应为 {int(owed.get(number) or 0)} 分")
    return violations


# ---------------------------------------------------------------- product lists


def product_item_lists(c: Container, product_id: int) -> list[ProductItem]:
    """A published product's 特药 and 合理 lists."""
    with c.db.read() as session:
        product = session.get(Product, product_id)
        if product is None or product.status != ProductStatus.PUBLISHED.value:
            raise NotFound("未找到该产品")
        return list(session.scalars(select(ProductItem).where(ProductItem.product_id == product_id)
                                    .order_by(ProductItem.kind, ProductItem.code)))


def load_details(c: Container, number: str) -> ClaimDetails:
    """A claim without the gate: only to answer a caller who has just acted on it through the
    gate (submitted it, uploaded to it)."""
    with c.db.read() as session:
        return _details(session, _find(session, number), c.clock.today())


# ---------------------------------------------------------------- appeals


def appeal(c: Container, actor: Actor, number: str, reason: str) -> ClaimDetails:
    """The claimant's one appeal of a rejection (or an agent's, holding the claims scope): the
    claim becomes ``appealed`` and waits for the decision of an insurer other than the one whose
    staff rejected it (002 三(一): contested claims are decided jointly). Audited; the claimant
    is texted."""
    reason = " ".join((reason or "").split())
    problem = appeal_reason_problem(reason)
    if problem:
        raise InvalidInput(problem, errors={"reason": [problem]})
    with c.db.read() as session:
        claim = _find(session, number)
        access = require_access(c, session, actor, Action.SUBMIT_CLAIMS, claim.insured_person_id,
                                object_type="claim", object_id=number)
        consent_gate.require(c, session, actor, [Purpose.CLAIMS_NEW],
                             principal_person_id=claim.insured_person_id)
        person_id = claim.insured_person_id
    phone = claimant_phone(c, person_id)
    by = EventActor.of(actor, access.grant_id)
    with c.db.transaction() as session:
        claim = _find(session, number, lock=True)
        refusal = appeal_problem(ClaimStatus(claim.status), claim.appealed_at is not None)
        if refusal:
            raise Conflict(refusal, code="appeal_not_allowed")
        claim.appeal_reason, claim.appealed_at = reason, c.clock.now()
        claim.appealed_by_account_id, claim.appeal_grant_id = actor.account_id, access.grant_id
        claim.appeal_rejected_by_insurer = _rejecting_insurer(session, claim)
        record_status(session, c, claim, ClaimStatus.APPEALED, by,
                      f"{default_message(ClaimStatus.APPEALED, None)}申诉理由：{reason}")
        notify(session, c, phone, claim)
        audit.record(session, c.clock, claim_act(
            "claim.appeal", by.audit, claim, access,
            {"rejected_by_insurer": claim.appeal_rejected_by_insurer}))
    with c.db.read() as session:
        return _details(session, _find(session, number), c.clock.today())


def _rejecting_insurer(session: Session, claim: Claim) -> str | None:
    """The insurer of the staff member who made the claim's (latest) rejection, if any."""
    rejecter = _rejecter(claim)
    if rejecter is None or rejecter.account_id is None:
        return None
    return session.scalars(select(InsurerStaff.insurer).where(
        InsurerStaff.account_id == rejecter.account_id)).one_or_none()


def _rejecter(claim: Claim) -> Reviewer | None:
    """Who made the appealed rejection (the last one before the appeal): its account, and the
    insurer recorded at the appeal."""
    rejection = None
    for event in claim.events:
        if event.to_status == ClaimStatus.APPEALED.value:
            break
        if event.to_status == ClaimStatus.REJECTED.value:
            rejection = event
    if rejection is None:
        return None
    return Reviewer(rejection.actor_account_id, claim.appeal_rejected_by_insurer)


def _check_appeal_decider(session: Session, claim: Claim, actor: Actor) -> None:
    refusal = second_decision_refusal(_rejecter(claim), _reviewer(session, actor),
                                      _product_insurers(session, claim))
    if refusal is not None:
        raise Conflict(APPEAL_REFUSALS[refusal], code=f"appeal_{refusal.value}")


def _appeal_details(session: Session, claim: Claim, actor: Actor) -> dict[str, Any]:
    rejecter, decider = _rejecter(claim), _reviewer(session, actor)
    return {"appeal": {"rejected_by_insurer": claim.appeal_rejected_by_insurer,
                       "rejected_by_account_id": rejecter.account_id if rejecter else None,
                       "decided_by_insurer": decider.insurer,
                       "decided_by_supervisor": decider.supervisor,
                       "insurers": _product_insurers(session, claim)}}
