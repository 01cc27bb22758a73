"""保单查询 without an account: a relative (or the person) types an ID number, a code goes to the
phone the medical-insurance registry holds for that person, and the code shows the masked facts
of the policies that insure them: product, masked names, validity, coverage. Nothing more (no
full policy number, no money, no PDF: those need an account).

The phone is the registry's, never one typed here: whoever holds it is the person (or trusted
by them), as the registry's contact check already is for binding. The codes are the login codes'
machinery (``identity.services.send_code`` / ``consume_code``) under a purpose of their own, tied
to the ID number asked about; the routes limit the rate per ID number and per address."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy import select

from huiminbao.audit import services as audit
from huiminbao.audit.services import AuditActor, AuditEntry
from huiminbao.catalog import help as product_help
from huiminbao.core import idnumber
from huiminbao.core.container import Container
from huiminbao.core.errors import RuleViolation
from huiminbao.core.masking import mask_name, mask_phone
from huiminbao.enrollment.domain import PolicyStatus
from huiminbao.enrollment.models import Policy
from huiminbao.enrollment.policies import details_of, validity
from huiminbao.identity import services as identity
from huiminbao.identity.domain import OtpPurpose
from huiminbao.identity.models import Person

MAX_POLICIES = 20
AUDIT_CLIENT = "policy_lookup"


@dataclass(frozen=True)
class CodeSent:
    phone: str  # masked
    expires_at: datetime


@dataclass(frozen=True)
class FoundPolicy:
    """One policy as the lookup shows it: masked, and nothing that moves money."""

    policy_no: str  # masked
    product_name: str
    insurer: str
    tier_name: str
    insured_name: str  # masked
    holder_name: str  # masked
    status: str
    validity: str
    coverage_starts_on: date
    coverage_ends_on: date


@dataclass(frozen=True)
class LookupResult:
    insured_name: str  # masked (the registry's name)
    policies: list[FoundPolicy]


def no_phone_message(c: Container) -> str:
    """Why no code can be sent, and where to ask instead (the product's hotline, if set)."""
    help_ = product_help.public_help(c)
    hotline = (f"请致电客服热线{help_.hotline}"
               + (f"（{help_.service_hours}）" if help_.service_hours else "")
               + "，或" if help_.configured else "请")
    return ("医保登记信息中没有该身份证号码可接收验证码的手机号，无法在线查询。"
            f"{hotline}携带身份证到医保经办窗口或参保服务点查询。")


def _id_number(c: Container, raw: str) -> str:
    return idnumber.parse_input(raw, today=c.clock.today()).value


def _context(id_number: str) -> str:
    return identity.code_context(f"policy-lookup:{id_number}")


def _registry_phone(c: Container, id_number: str) -> tuple[str, str]:
    """(phone, registered name) of the person, or the refusal that names the hotline. A number
    the registry does not know answers like one without a phone: nobody learns from here who is
    insured in the city."""
    person = c.registry.find_person(id_number)
    if person is None or not person.phone:
        raise RuleViolation(no_phone_message(c), code="no_registry_phone")
    return person.phone, person.name


def send_lookup_code(c: Container, raw_id_number: str) -> CodeSent:
    id_number = _id_number(c, raw_id_number)
    phone, _ = _registry_phone(c, id_number)
    expires_at = identity.send_code(c, phone, OtpPurpose.POLICY_LOOKUP,
                                    context=_context(id_number))
    return CodeSent(mask_phone(phone), expires_at)


def _masked_number(policy_no: str) -> str:
    return f"{policy_no[:4]}{'*' * max(len(policy_no) - 10, 4)}{policy_no[-6:]}"


def look_up(c: Container, raw_id_number: str, code: str) -> LookupResult:
    id_number = _id_number(c, raw_id_number)
    phone, name = _registry_phone(c, id_number)
    today = c.clock.today()
    with c.db.transaction() as session:
        check = identity.consume_code(c, session, phone, OtpPurpose.POLICY_LOOKUP, code,
                                      context=_context(id_number))
        person = (session.scalars(select(Person).where(Person.id_number_is(id_number)))
                  .one_or_none() if check.accepted else None)
        found: list[FoundPolicy] = []
        if person is not None:
            policies = session.scalars(
                select(Policy).where(Policy.insured_person_id == person.id)
                .order_by(Policy.coverage_starts_on.desc(), Policy.id.desc())
                .limit(MAX_POLICIES)).all()
            for details in details_of(c, session, policies):
                policy, product = details.policy, details.product
                tier = product.tier(policy.tier_code)
                found.append(FoundPolicy(
                    policy_no=_masked_number(policy.policy_no), product_name=product.name,
                    insurer=product.insurer, tier_name=tier.name if tier else policy.tier_code,
                    insured_name=mask_name(details.insured.name),
                    holder_name=mask_name(details.holder.name),
                    status=PolicyStatus(policy.status).label,
                    validity=validity(details, today),
                    coverage_starts_on=policy.coverage_starts_on,
                    coverage_ends_on=policy.coverage_ends_on))
        if check.accepted:
            audit.record(session, c.clock, AuditEntry(
                action="policy.lookup", actor=AuditActor(client=AUDIT_CLIENT),
                subject_person_id=person.id if person is not None else None,
                details={"policies": len(found)}))
    # A wrong code's count is committed above; only then is it refused.
    if not check.accepted:
        raise check.invalid_input()
    return LookupResult(mask_name(name), found)
