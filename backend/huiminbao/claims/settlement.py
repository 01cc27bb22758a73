"""One-stop settlement (一站式结算): a hospital's settlement data produces the claim.

A settlement for an insured person with a live policy covering the stay creates a claim,
computes it at once with the same calculation as every other claim, marks it ``settled`` and
books the payout. A settlement without a policy, or outside the coverage period, is recorded and
answered with the reason. Each hospital's settlement number is answered once: the settlement row
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
from datetime import date
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from huiminbao.audit import services as audit
from huiminbao.audit.services import AuditEntry
from huiminbao.claims import terms as claim_terms
from huiminbao.claims.clients import AuthenticatedClient
from huiminbao.claims.domain import Channel, ClaimStatus, claim_no, default_message
from huiminbao.claims.models import Claim, ClaimItem, Settlement
from huiminbao.claims.schemas import PayoutBreakdownView
from huiminbao.claims.services import (
    EventActor,
    ItemInput,
    bill_of,
    book_payout,
    claimant_phone,
    notify,
    start_timeline,
    store_breakdown,
    usage_of,
)
from huiminbao.core import idnumber
from huiminbao.core.container import Container
from huiminbao.core.errors import Conflict, InvalidInput
from huiminbao.core.masking import mask_id_number
from huiminbao.core.money import format_fen
from huiminbao.enrollment.domain import PolicyStatus
from huiminbao.enrollment.models import Policy
from huiminbao.identity.domain import hash_secret
from huiminbao.identity.models import Person

log = logging.getLogger(__name__)

NO_POLICY = "该参保人没有有效的惠民保保单，本次结算不享受惠民保赔付"
SETTLEMENT_CONFLICT = "该结算单号已提交过内容不同的结算数据，请核对结算单号"


@dataclass(frozen=True)
class SettlementRequest:
    settlement_no: str
    id_number: str
    admitted_on: date
    discharged_on: date
    in_policy_self_pay_fen: int
    items: Sequence[ItemInput]


@dataclass(frozen=True)
class SettlementAnswer:
    status: int  # 201: settled, a claim was created; 200: recorded, not covered
    body: dict[str, Any]
    replayed: bool = False


def receive(c: Container, client: AuthenticatedClient, request: SettlementRequest
            ) -> SettlementAnswer:
    today = c.clock.today()
    id_number = idnumber.parse_input(request.id_number, today=today).value
    if request.discharged_on < request.admitted_on:
        raise InvalidInput("出院日期不能早于入院日期",
                           errors={"discharged_on": ["出院日期不能早于入院日期"]})
    if request.discharged_on > today:
        raise InvalidInput("出院日期不能晚于今天",
                           errors={"discharged_on": ["出院日期不能晚于今天"]})
    fingerprint = _fingerprint(c, request, id_number)
    earlier = _replay(c, client.id, request.settlement_no, fingerprint)
    if earlier is not None:
        return earlier

    with c.db.read() as session:
        person = session.scalars(select(Person).where(Person.id_number_is(id_number))).one_or_none()
    phone = claimant_phone(c, person.id) if person is not None else None
    try:
        return _settle(c, client, request, id_number, fingerprint, person, phone)
    except IntegrityError:
        # Another request with this number got there first and has committed: answer as it did.
        earlier = _replay(c, client.id, request.settlement_no, fingerprint)
        if earlier is None:
            raise
        return earlier


def _settle(c: Container, client: AuthenticatedClient, request: SettlementRequest,
            id_number: str, fingerprint: str, person: Person | None,
            phone: str | None) -> SettlementAnswer:
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

        # No diagnosis in the feed yet: waiting periods apply, pre-existing terms do not.
        breakdown = claim_terms.compute(session, policy, policy.tier_code, bill,
                                        usage_of(session, policy.id), (), request.admitted_on)
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
        session.add(claim)
        session.flush()
        store_breakdown(session, claim, breakdown)
        by = EventActor(client=client.client_id)
        start_timeline(session, c, claim, by, default_message(ClaimStatus.SETTLED,
                                                              breakdown.total_fen))
        book_payout(session, claim, now)
        notify(session, c, phone, claim)
        settlement.outcome, settlement.claim_id = "settled", claim.id
        body = {**base, "outcome": "settled", "accepted": True, "claim_no": claim.claim_no,
                "payout_fen": breakdown.total_fen, "reason": None,
                "breakdown": PayoutBreakdownView().dump(breakdown),
                "message": f"一站式结算完成，惠民保赔付{format_fen(breakdown.total_fen)}"}
        settlement.response_status, settlement.response_body = 201, body
        audit.record(session, c.clock, AuditEntry(
            action="claim.settle", actor=by.audit, subject_person_id=policy.insured_person_id,
            object_type="claim", object_id=claim.claim_no,
            details={"payout_fen": breakdown.total_fen, "claimed_fen": bill.total_fen},
        ))
        log.info("settlement from %s settled as claim %s", client.client_id, claim.claim_no)
        return SettlementAnswer(201, body)


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
    return (None, "outside_coverage",
            f"住院日期不在保单保障期内（保障期：{periods}），不属于保障范围")


def _fingerprint(c: Container, request: SettlementRequest, id_number: str) -> str:
    canonical = json.dumps({
        "settlement_no": request.settlement_no, "id_number": id_number,
        "admitted_on": request.admitted_on.isoformat(),
        "discharged_on": request.discharged_on.isoformat(),
        "in_policy_self_pay_fen": request.in_policy_self_pay_fen,
        "items": [[i.code.strip(), i.name.strip(), i.amount_fen] for i in request.items],
    }, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
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
