"""One-stop settlement (一站式结算): a hospital's settlement data produces the claim.

A settlement for an insured person with a live policy covering the stay creates a claim,
computes it at once with the same calculation as every other claim, marks it ``settled`` and
books the payout as owed to the hospital, which deducted it from the bill at its counter
(``settlement_payable:<client>``; a periodic statement clears it, see ``statements``).

A designated pharmacy (a client with its pharmacy code) settles special-drug purchases through
the same feed: the drug must be on the product's 特药 list, the diagnosis one of its listed
indications and the pharmacy designated for the product, else the request is refused (422, in
Chinese, nothing recorded: the pharmacy charges the patient in full). The claim is a
``special_drug`` claim; the payout is owed to the pharmacy.

A settlement without a policy, or outside the coverage period, is recorded and answered with the
reason. Each hospital's settlement number is answered once: the settlement row
(unique per client and number) is written first in the same transaction, so concurrent repeats
wait for the first and then replay its answer; the same number with different content is refused.

The patient's ID number arrives in the request and is never echoed back, logged or stored in
full: the settlement keeps it masked and as a keyed hash, and the person (when known) by id.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from huiminbao.audit import services as audit
from huiminbao.audit.services import AuditEntry
from huiminbao.catalog.models import Product
from huiminbao.claims import filing, kinds
from huiminbao.claims import terms as claim_terms
from huiminbao.claims.clients import AuthenticatedClient
from huiminbao.claims.domain import Channel, ClaimStatus, claim_no, default_message
from huiminbao.claims.kinds import ClaimKind, KindFacts
from huiminbao.claims.models import Claim, ClaimItem, Settlement
from huiminbao.claims.payout import Diagnosis, normalize_code
from huiminbao.claims.schemas import PayoutBreakdownView
from huiminbao.claims.services import (
    EventActor,
    ItemInput,
    bill_of,
    claimant_phone,
    notify,
    start_timeline,
    store_breakdown,
    usage_of,
)
from huiminbao.core import idnumber
from huiminbao.core.container import Container
from huiminbao.core.errors import Conflict, Forbidden, InvalidInput
from huiminbao.core.masking import mask_id_number
from huiminbao.core.money import format_fen
from huiminbao.enrollment.domain import PolicyStatus
from huiminbao.enrollment.models import Policy
from huiminbao.identity.domain import hash_secret
from huiminbao.identity.models import Person
from huiminbao.payments import ledger

log = logging.getLogger(__name__)

NO_POLICY = "该参保人没有有效的惠民保保单，本次结算不享受惠民保赔付"
SETTLEMENT_CONFLICT = "该结算单号已提交过内容不同的结算数据，请核对结算单号"
PHARMACY_ONLY = "定点药店只能提交特药直接结算（/api/v1/settlements/special-drugs）"
HOSPITAL_NO_DRUGS = "只有定点药店可以提交特药直接结算，医院请使用一站式结算接口"


@dataclass(frozen=True)
class SettlementRequest:
    settlement_no: str
    id_number: str
    admitted_on: date
    discharged_on: date
    in_policy_self_pay_fen: int
    items: Sequence[ItemInput]
    # A pharmacy's special-drug purchase: admitted_on is the prescription's date, discharged_on
    # the purchase's.
    prescription_no: str | None = None
    diagnosis_code: str | None = None

    @property
    def is_drug_purchase(self) -> bool:
        return self.prescription_no is not None


@dataclass(frozen=True)
class SettlementAnswer:
    status: int  # 201: settled, a claim was created; 200: recorded, not covered
    body: dict[str, Any]
    replayed: bool = False


def receive(c: Container, client: AuthenticatedClient, request: SettlementRequest
            ) -> SettlementAnswer:
    today = c.clock.today()
    if client.is_pharmacy != request.is_drug_purchase:
        raise Forbidden(PHARMACY_ONLY if client.is_pharmacy else HOSPITAL_NO_DRUGS,
                        code="wrong_settlement_feed")
    id_number = idnumber.parse_input(request.id_number, today=today).value
    first, last, field = (("处方日期", "购药日期", "purchased_on") if request.is_drug_purchase
                          else ("入院日期", "出院日期", "discharged_on"))
    if request.discharged_on < request.admitted_on:
        raise InvalidInput(f"{last}不能早于{first}", errors={field: [f"{last}不能早于{first}"]})
    if request.discharged_on > today:
        raise InvalidInput(f"{last}不能晚于今天", errors={field: [f"{last}不能晚于今天"]})
    fingerprint = _fingerprint(c, request, id_number)
    earlier = _replay(c, client.id, request.settlement_no, fingerprint)
    if earlier is not None:
        return earlier

    with c.db.read() as session:
        person = session.scalars(select(Person).where(Person.id_number_is(id_number))).one_or_none()
    phone = claimant_phone(c, person.id) if person is not None else None
    prior = _prior(c, person, request)
    try:
        return _settle(c, client, request, id_number, fingerprint, person, phone, prior)
    except IntegrityError:
        # Another request with this number got there first and has committed: answer as it did.
        earlier = _replay(c, client.id, request.settlement_no, fingerprint)
        if earlier is None:
            raise
        return earlier


def _settle(c: Container, client: AuthenticatedClient, request: SettlementRequest,
            id_number: str, fingerprint: str, person: Person | None,
            phone: str | None, prior: _Prior | None) -> SettlementAnswer:
    now = c.clock.now()
    bill = bill_of(request.in_policy_self_pay_fen, request.items)
    with c.db.transaction() as session:
        settlement = Settlement(
            client_id=client.id, settlement_no=request.settlement_no, request_hash=fingerprint,
            person_id=person.id if person else None, id_number_masked=mask_id_number(id_number),
            id_number_hash=hash_secret(c.settings.secret_key, id_number),
            admitted_on=request.admitted_on, discharged_on=request.discharged_on,
            claimed_fen=bill.total_fen, outcome="no_policy", response_status=200,
            response_body={}, received_at=now,
        )
        session.add(settlement)
        session.flush()  # claims the number: a concurrent repeat waits here, then fails
        policy, outcome, reason = _policy_for(session, person, request)
        drug = _check_drug_purchase(session, client, request, policy) if policy else None
        base: dict[str, Any] = {"settlement_no": request.settlement_no,
                                "patient": mask_id_number(id_number), "hospital": client.name}
        if policy is None:
            settlement.outcome, settlement.reason = outcome, reason
            body = {**base, "outcome": settlement.outcome, "accepted": False,
                    "claim_no": None, "payout_fen": 0, "reason": reason, "breakdown": None,
                    "message": f"已记录，未予赔付：{reason}"}
            settlement.response_body = body
            audit.record(session, c.clock, AuditEntry(
                action="settlement.refused", actor=EventActor(client=client.client_id).audit,
                subject_person_id=person.id if person else None, object_type="settlement",
                object_id=str(settlement.id), details={"outcome": settlement.outcome},
            ))
            return SettlementAnswer(200, body)

        # A hospital's feed has no diagnosis yet: waiting periods apply, pre-existing terms do
        # not. A pharmacy's purchase states the drug's indication: both apply.
        codes = (drug,) if drug else ()
        known = prior.diagnoses if prior is not None and prior.policy_id == policy.id else ()
        breakdown = claim_terms.compute(session, policy, policy.tier_code, bill,
                                        usage_of(session, policy.id), codes, request.admitted_on,
                                        known)
        claim = Claim(
            claim_no=claim_no(now), policy_id=policy.id, product_id=policy.product_id,
            insured_person_id=policy.insured_person_id, tier_code=policy.tier_code,
            channel=Channel.SETTLEMENT.value, status=ClaimStatus.SETTLED.value,
            hospital_name=client.name[:100], admitted_on=request.admitted_on,
            discharged_on=request.discharged_on,
            in_policy_self_pay_fen=bill.in_policy_self_pay_fen, claimed_fen=bill.total_fen,
            created_at=now, decided_at=now, paid_at=now,
            items=[ClaimItem(position=index, code=item.code, name=item.name,
                             amount_fen=item.amount_fen) for index, item in enumerate(bill.items)],
        )
        if drug is not None:
            claim.kind, claim.diagnosis_code = ClaimKind.SPECIAL_DRUG.value, drug
            claim.prescription_no = (request.prescription_no or "").strip()[:64]
            claim.pharmacy_code = client.pharmacy_code
        session.add(claim)
        session.flush()
        store_breakdown(session, claim, breakdown)
        by = EventActor(client=client.client_id)
        start_timeline(session, c, claim, by, settled_message(drug is not None,
                                                              breakdown.total_fen))
        book_payable(session, claim, client, now)
        notify(session, c, phone, claim)
        settlement.outcome, settlement.claim_id = "settled", claim.id
        body = {**base, "outcome": "settled", "accepted": True, "claim_no": claim.claim_no,
                "payout_fen": breakdown.total_fen, "reason": None,
                "breakdown": PayoutBreakdownView().dump(breakdown),
                "message": (f"特药直接结算完成，惠民保赔付{format_fen(breakdown.total_fen)}"
                            if drug else
                            f"一站式结算完成，惠民保赔付{format_fen(breakdown.total_fen)}")}
        settlement.response_status, settlement.response_body = 201, body
        audit.record(session, c.clock, AuditEntry(
            action="claim.settle", actor=by.audit, subject_person_id=policy.insured_person_id,
            object_type="claim", object_id=claim.claim_no,
            details={"payout_fen": breakdown.total_fen, "claimed_fen": bill.total_fen},
        ))
        log.info("settlement from %s settled as claim %s", client.client_id, claim.claim_no)
        return SettlementAnswer(201, body)


def settled_message(at_pharmacy: bool, payout_fen: int) -> str:
    """The timeline's first entry of a settled claim, as the claimant reads it."""
    if at_pharmacy:
        return (f"定点药店已在您购药时直接结算，惠民保赔付{format_fen(payout_fen)}"
                "已在柜台抵扣药费，无需再申请。")
    return default_message(ClaimStatus.SETTLED, payout_fen)


def book_payable(session: Session, claim: Claim, client: AuthenticatedClient,
                 now: datetime) -> None:
    """The payout leaves the product's claim funds as a debt to the hospital or pharmacy that
    deducted it at its counter, once (the claim's unique ledger reference). A payout of 0 moves
    no money."""
    if not claim.payout_fen:
        return
    ledger.post(session, kind="claim", reference=f"claim:{claim.claim_no}",
                order_no=claim.claim_no,
                purpose=f"一站式结算应付{client.name[:60]}（{claim.claim_no}）",
                moves=[(ledger.claims_payable(claim.product_id), -claim.payout_fen),
                       (ledger.settlement_payable(client.id), claim.payout_fen)],
                now=now)


def _check_drug_purchase(session: Session, client: AuthenticatedClient,
                         request: SettlementRequest, policy: Policy) -> str | None:
    """A pharmacy's purchase: the normalized diagnosis, after the product's special-drug rules
    (listed drug, indication, designated pharmacy); ``InvalidInput`` with every problem.
    None for a hospital's settlement."""
    if not request.is_drug_purchase:
        return None
    product = session.get(Product, policy.product_id)
    assert product is not None
    facts = KindFacts(ClaimKind.SPECIAL_DRUG, request.diagnosis_code, request.prescription_no,
                      client.pharmacy_code, None,
                      tuple(normalize_code(item.code) for item in request.items))
    problems = kinds.kind_problems(facts, filing.kind_rules(session, policy.product_id),
                                   product.city_code,
                                   filing.special_drug_rules(session, policy.product_id))
    if problems:
        first = next(iter(problems.values()))[0]
        raise InvalidInput(f"不能直接结算：{first}", code="special_drug_refused",
                           errors=problems)
    return kinds.normalize_diagnosis(request.diagnosis_code)


@dataclass(frozen=True)
class _Prior:
    policy_id: int
    diagnoses: tuple[Diagnosis, ...]


def _prior(c: Container, person: Person | None, request: SettlementRequest) -> _Prior | None:
    """For a pharmacy's purchase: the registry's earlier diagnoses (the product's pre-existing
    terms), asked outside any transaction for the policy that will most likely cover it."""
    code = kinds.normalize_diagnosis(request.diagnosis_code)
    if person is None or code is None:
        return None
    with c.db.read() as session:
        policy = session.scalars(select(Policy).where(
            Policy.insured_person_id == person.id, Policy.status == PolicyStatus.ACTIVE.value,
            Policy.coverage_starts_on <= request.admitted_on,
            Policy.coverage_ends_on >= request.discharged_on).order_by(Policy.id)).first()
        if policy is None:
            return None
        policy_id, product_id, starts_on = (policy.id, policy.product_id,
                                            policy.coverage_starts_on)
    return _Prior(policy_id, claim_terms.prior_diagnoses(c, person.id, product_id, starts_on,
                                                         (code,)))


def _policy_for(session: Session, person: Person | None, request: SettlementRequest
                ) -> tuple[Policy | None, str, str]:
    """The live policy covering the stay, locked (approvals and settlements of one policy year
    take their turn), or why there is none."""
    if person is None:
        return None, "no_policy", NO_POLICY
    live = session.scalars(
        select(Policy).where(Policy.insured_person_id == person.id,
                             Policy.status == PolicyStatus.ACTIVE.value)
        .order_by(Policy.id).with_for_update()
    ).all()
    if not live:
        return None, "no_policy", NO_POLICY
    for policy in live:
        if (policy.coverage_starts_on <= request.admitted_on
                and request.discharged_on <= policy.coverage_ends_on):
            return policy, "settled", ""
    periods = "、".join(f"{p.coverage_starts_on:%Y年%m月%d日}至{p.coverage_ends_on:%Y年%m月%d日}"
                       for p in live)
    what = "购药日期" if request.is_drug_purchase else "住院日期"
    return (None, "outside_coverage",
            f"{what}不在保单保障期内（保障期：{periods}），不属于保障范围")


def _fingerprint(c: Container, request: SettlementRequest, id_number: str) -> str:
    content: dict[str, Any] = {
        "settlement_no": request.settlement_no, "id_number": id_number,
        "admitted_on": request.admitted_on.isoformat(),
        "discharged_on": request.discharged_on.isoformat(),
        "in_policy_self_pay_fen": request.in_policy_self_pay_fen,
        "items": [[i.code.strip(), i.name.strip(), i.amount_fen] for i in request.items],
    }
    if request.is_drug_purchase:  # a hospital's fingerprint stays as it always was
        content["prescription_no"] = (request.prescription_no or "").strip()
        content["diagnosis_code"] = kinds.normalize_diagnosis(request.diagnosis_code)
    canonical = json.dumps(content, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    # Keyed: the hash of a body holding an ID number must not be reversible by guessing.
    return hash_secret(c.settings.secret_key, canonical)


def _replay(c: Container, client_id: int, settlement_no: str, fingerprint: str
            ) -> SettlementAnswer | None:
    with c.db.read() as session:
        earlier = session.scalars(
            select(Settlement).where(Settlement.client_id == client_id,
                                     Settlement.settlement_no == settlement_no)).one_or_none()
    if earlier is None:
        return None
    if earlier.request_hash != fingerprint:
        raise Conflict(SETTLEMENT_CONFLICT, code="settlement_conflict")
    return SettlementAnswer(earlier.response_status, dict(earlier.response_body), replayed=True)
