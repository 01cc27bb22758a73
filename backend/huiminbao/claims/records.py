"""Claims from authorized records: the resident (or an agent holding the claims scope)
authorizes the platform to read their 医保 settlement records for a period; the records are read
from the registry port only under a live authorization covering their visit dates; a claim is
pre-filled from a chosen settlement and filed with its figures, the resident adding only what
the record lacks (and the documents). Every read is audited, naming the agent who read.

Remote calls (the registry) are made before any transaction: a registry that stops answering
leaves nothing written."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from sqlalchemy import select
from sqlalchemy.orm import Session

from huiminbao.audit import services as audit
from huiminbao.audit.services import AuditActor, AuditEntry
from huiminbao.claims import filing, kinds, services
from huiminbao.claims import record_rules as rules
from huiminbao.claims.kinds import ClaimKind
from huiminbao.claims.models import Claim
from huiminbao.claims.record_models import ClaimFromRecord, RecordsConsent
from huiminbao.core.container import Container
from huiminbao.core.errors import Busy, InvalidInput, NotFound, RuleViolation
from huiminbao.core.masking import mask_name
from huiminbao.identity import consent_gate
from huiminbao.identity.access import Subject
from huiminbao.identity.auth import Actor
from huiminbao.identity.consent_rules import Purpose
from huiminbao.identity.models import Person
from huiminbao.registry.port import RegistryUnavailable, SettlementRecord

REGISTRY_DOWN = ("医保信息平台暂时无法访问，未能读取您的医保结算记录，本次操作未保存任何内容，"
                 "请稍后重试")
NOT_IN_RECORDS = "在已授权的期间内未找到该结算记录，请从结算记录列表中选择"
ALREADY_CLAIMED = "该次就诊的结算记录已申请过理赔，请在“我的理赔”中查看"
NO_CONSENT_CODE = "records_not_authorized"


@dataclass(frozen=True)
class RecordsRead:
    consent: RecordsConsent
    records: tuple[SettlementRecord, ...]
    claimed: frozenset[str]  # record numbers already filed as claims


@dataclass(frozen=True)
class Prefill:
    """The claim form as the record fills it: the figures come from the registry and are not
    typed again; ``to_add`` names what the resident still gives."""

    record: SettlementRecord
    kind: ClaimKind
    documents: tuple[str, ...]
    to_add: tuple[str, ...]
    claimed: bool


@dataclass(frozen=True)
class FromRecordRequest:
    record_no: str
    policy_no: str | None = None
    out_of_city: bool = False
    prescription_no: str | None = None
    pharmacy_code: str | None = None
    treatment_city_code: str | None = None
    payee: filing.PayeeInput | None = None


def _by(actor: Actor) -> AuditActor:
    return AuditActor(actor.account_id, actor.role.value)


def _audit(session: Session, c: Container, actor: Actor, subject: Subject, action: str,
           object_id: str, details: dict[str, object]) -> None:
    audit.record(session, c.clock, AuditEntry(
        action=action, actor=_by(actor), subject_person_id=subject.person_id,
        acting_for_person_id=subject.person_id if subject.acting_for else None,
        grant_id=subject.grant_id, object_type="claim_records", object_id=object_id,
        details=details))


# ---------------------------------------------------------------- the authorization


def authorize(c: Container, actor: Actor, subject: Subject, period_from: date,
              period_to: date) -> RecordsConsent:
    """Record the authorization to read the subject's settlements in the period."""
    problems = rules.period_problems(period_from, period_to, c.clock.today())
    if problems:
        raise InvalidInput(next(iter(problems.values()))[0], code="records_period_invalid",
                           errors=problems)
    consent_gate.require_now(c, actor, [Purpose.CLAIMS_NEW], principal_person_id=subject.person_id)
    assert actor.account_id is not None
    with c.db.transaction() as session:
        consent = RecordsConsent(
            person_id=subject.person_id, period_from=period_from, period_to=period_to,
            granted_by_account_id=actor.account_id, grant_id=subject.grant_id,
            granted_at=c.clock.now())
        session.add(consent)
        session.flush()
        _audit(session, c, actor, subject, "claim_records.authorize", str(consent.id),
               {"period_from": period_from.isoformat(), "period_to": period_to.isoformat()})
        return consent


def consents(c: Container, subject: Subject) -> list[RecordsConsent]:
    """The subject's authorizations, newest first (revoked ones too: the history)."""
    with c.db.read() as session:
        return list(session.scalars(select(RecordsConsent)
                                    .where(RecordsConsent.person_id == subject.person_id)
                                    .order_by(RecordsConsent.id.desc())))


def revoke(c: Container, actor: Actor, subject: Subject, consent_id: int) -> RecordsConsent:
    """Stop further reads under this authorization (claims filed before stay as they are)."""
    with c.db.transaction() as session:
        consent = session.get(RecordsConsent, consent_id, with_for_update=True)
        if consent is None or consent.person_id != subject.person_id:
            raise NotFound("未找到该授权")
        if consent.revoked_at is None:
            consent.revoked_at = c.clock.now()
            consent.revoked_by_account_id = actor.account_id
            _audit(session, c, actor, subject, "claim_records.revoke", str(consent.id), {})
        return consent


def _periods(session: Session, person_id: int) -> list[rules.ConsentPeriod]:
    return [rules.ConsentPeriod(row.id, row.period_from, row.period_to, row.revoked_at)
            for row in session.scalars(select(RecordsConsent).where(
                RecordsConsent.person_id == person_id, RecordsConsent.revoked_at.is_(None))
                .order_by(RecordsConsent.id.desc()))]


def _refuse(session: Session, subject: Subject, since: date, until: date) -> RuleViolation:
    whose = None
    if subject.acting_for:
        person = session.get(Person, subject.person_id)
        whose = mask_name(person.name) if person is not None else "被代办人"
    return RuleViolation(rules.refusal(since, until, whose), code=NO_CONSENT_CODE)


# ---------------------------------------------------------------- reading


def _read(c: Container, id_number: str, since: date, until: date) -> list[SettlementRecord]:
    try:
        return c.registry.settlements(id_number, since, until)
    except RegistryUnavailable as exc:
        raise Busy(REGISTRY_DOWN, code="registry_unavailable") from exc


def _claimed(session: Session, person_id: int) -> frozenset[str]:
    return frozenset(session.scalars(select(ClaimFromRecord.record_no).where(
        ClaimFromRecord.person_id == person_id)))


def records(c: Container, actor: Actor, subject: Subject, since: date | None = None,
            until: date | None = None) -> RecordsRead:
    """The subject's settlements in ``[since, until]`` (by default the newest live
    authorization's whole period); refused unless one live authorization covers it."""
    consent_gate.require_now(c, actor, [Purpose.CLAIMS_NEW], principal_person_id=subject.person_id)
    with c.db.read() as session:
        periods = _periods(session, subject.person_id)
        if since is None or until is None:
            if not periods:
                today = c.clock.today()
                raise _refuse(session, subject, since or today, until or today)
            since = since or periods[0].period_from
            until = until or periods[0].period_to
        if until < since:
            raise InvalidInput("截止日期不能早于起始日期", code="records_period_invalid",
                               errors={"until": ["截止日期不能早于起始日期"]})
        live = rules.covering(periods, since, until)
        if live is None:
            raise _refuse(session, subject, since, until)
        person = session.get(Person, subject.person_id)
        assert person is not None
        id_number = person.id_number
        consent = session.get(RecordsConsent, live.consent_id)
        assert consent is not None
    found = _read(c, id_number, since, until)
    with c.db.transaction() as session:
        _audit(session, c, actor, subject, "claim_records.read", str(live.consent_id),
               {"since": since.isoformat(), "until": until.isoformat(), "records": len(found)})
        claimed = _claimed(session, subject.person_id)
    return RecordsRead(consent, tuple(found), claimed)


def _find(c: Container, actor: Actor, subject: Subject,
          record_no: str) -> tuple[SettlementRecord, int, str]:
    """The settlement with this number within the live authorizations, its consent, and the
    insured's ID number. Each live period is read in turn (newest first)."""
    consent_gate.require_now(c, actor, [Purpose.CLAIMS_NEW], principal_person_id=subject.person_id)
    with c.db.read() as session:
        periods = _periods(session, subject.person_id)
        if not periods:
            today = c.clock.today()
            raise _refuse(session, subject, today, today)
        person = session.get(Person, subject.person_id)
        assert person is not None
        id_number = person.id_number
    for period in periods:
        for record in _read(c, id_number, period.period_from, period.period_to):
            if record.record_no == record_no:
                return record, period.consent_id, id_number
    raise NotFound(NOT_IN_RECORDS, code="record_not_found")


def prefill(c: Container, actor: Actor, subject: Subject, record_no: str,
            out_of_city: bool = False) -> Prefill:
    record, consent_id, _ = _find(c, actor, subject, record_no)
    kind = rules.claim_kind(record, out_of_city)
    if kind is None:
        raise RuleViolation(rules.NOT_CLAIMABLE, code="record_not_claimable")
    with c.db.transaction() as session:
        _audit(session, c, actor, subject, "claim_records.prefill", str(consent_id),
               {"record_no": record.record_no})
        documents = _documents(session, subject, record, kind)
        claimed = record.record_no in _claimed(session, subject.person_id)
    return Prefill(record, kind, documents, rules.still_needed(kind), claimed)


def _documents(session: Session, subject: Subject, record: SettlementRecord,
               kind: ClaimKind) -> tuple[str, ...]:
    try:
        policy = services._policy_for_stay(session, subject.person_id, None, record.visit_date,
                                          record.end_date)
    except (NotFound, RuleViolation):
        return kinds.DEFAULT_DOCUMENTS[kind]
    rule = filing.kind_rules(session, policy.product_id).get(kind)
    return rule.documents if rule is not None else kinds.DEFAULT_DOCUMENTS[kind]


# ---------------------------------------------------------------- filing


def claim_request(record: SettlementRecord, kind: ClaimKind,
                  request: FromRecordRequest) -> services.ClaimRequest:
    """The claim as the settlement states it: the resident's own input is only what the record
    lacks (prescription, pharmacy, city treated in, payee)."""
    diagnoses = list(record.diagnosis_codes)
    return services.ClaimRequest(
        hospital_name=record.hospital_name, admitted_on=record.visit_date,
        discharged_on=record.end_date, in_policy_self_pay_fen=record.in_policy_self_pay_fen,
        items=[services.ItemInput(item.code, item.name, item.amount_fen)
               for item in record.items],
        policy_no=request.policy_no, kind=kind,
        diagnosis_code=diagnoses[0] if diagnoses else None,
        prescription_no=request.prescription_no, pharmacy_code=request.pharmacy_code,
        treatment_city_code=request.treatment_city_code, payee=request.payee,
        diagnosis_codes=diagnoses[1:])


def file_claim(c: Container, actor: Actor, subject: Subject, request: FromRecordRequest) -> str:
    """File the claim from the settlement (read again from the registry, under a live
    authorization); the link to the settlement is written with the claim, or nothing is."""
    record, consent_id, _ = _find(c, actor, subject, request.record_no)
    kind = rules.claim_kind(record, request.out_of_city)
    if kind is None:
        raise RuleViolation(rules.NOT_CLAIMABLE, code="record_not_claimable")
    with c.db.read() as session:
        if record.record_no in _claimed(session, subject.person_id):
            raise RuleViolation(ALREADY_CLAIMED, code="record_already_claimed")

    def link(session: Session, claim: Claim) -> None:
        if session.scalar(select(ClaimFromRecord.claim_id).where(
                ClaimFromRecord.person_id == subject.person_id,
                ClaimFromRecord.record_no == record.record_no)) is not None:
            raise RuleViolation(ALREADY_CLAIMED, code="record_already_claimed")
        session.add(ClaimFromRecord(claim_id=claim.id, person_id=subject.person_id,
                                    record_no=record.record_no, consent_id=consent_id))
        _audit(session, c, actor, subject, "claim_records.file", str(consent_id),
               {"record_no": record.record_no, "claim_no": claim.claim_no})

    return services.submit_claim(c, actor, subject, claim_request(record, kind, request),
                                 also=link)

