"""Family members: adding (verified by the registry's family links or by a code to the
relative's own phone), listing with coverage status, removing."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from huiminbao.audit import services as audit
from huiminbao.audit.services import AuditActor, AuditEntry
from huiminbao.catalog.models import Product
from huiminbao.catalog.services import open_products
from huiminbao.core import idnumber
from huiminbao.core.container import Container
from huiminbao.core.errors import Busy, Conflict, NotFound, RuleViolation
from huiminbao.core.masking import mask_id_number, mask_name, mask_phone, normalize_name
from huiminbao.enrollment.domain import PolicyStatus
from huiminbao.enrollment.family.models import FamilyMember
from huiminbao.enrollment.models import OrderItem, Policy
from huiminbao.identity import consent_gate
from huiminbao.identity import services as identity
from huiminbao.identity.auth import Actor
from huiminbao.identity.consent_rules import Purpose
from huiminbao.identity.domain import OtpPurpose
from huiminbao.identity.models import Person
from huiminbao.registry.port import Relation

RELATION_LABELS = {Relation.SPOUSE: "配偶", Relation.CHILD: "子女", Relation.PARENT: "父母"}
GENERATION_GAP_YEARS = 14  # a parent is at least this much older than their child
MIN_SPOUSE_AGE = 20
MISMATCH = "亲属身份信息核验未通过，请核对姓名和身份证号码后重试"


class CoverageStatus:
    NONE = "未参保"
    PENDING = "待支付"
    INSURED = "已参保"
    INSURED_BY_OTHER = "已由他人投保"


@dataclass(frozen=True)
class MemberView:
    member: FamilyMember
    person: Person
    coverage: str
    policy_no: str | None


def relation_problem(relation: Relation, owner_birth: date, member_birth: date,
                     today: date) -> str | None:
    """Whether the ages make the stated relation impossible (pure, no I/O)."""
    if relation is Relation.PARENT and idnumber.age_on(member_birth, owner_birth) < \
            GENERATION_GAP_YEARS:
        return ("该亲属的出生日期与“父母”关系不符：父母应比您年长"
                f"{GENERATION_GAP_YEARS}岁以上，请核对关系后重试")
    if relation is Relation.CHILD and idnumber.age_on(owner_birth, member_birth) < \
            GENERATION_GAP_YEARS:
        return ("该亲属的出生日期与“子女”关系不符：子女应比您年轻"
                f"{GENERATION_GAP_YEARS}岁以上，请核对关系后重试")
    if relation is Relation.SPOUSE and idnumber.age_on(member_birth, today) < MIN_SPOUSE_AGE:
        return "该亲属未达法定婚龄，不能登记为配偶，请核对关系后重试"
    return None


def add_member(c: Container, actor: Actor, owner_person_id: int, name: str,
               raw_id_number: str, relation: Relation) -> tuple[MemberView, str | None]:
    """Returns the member and, when a code was texted to the relative, the masked phone."""
    consent_gate.require_now(c, actor, [Purpose.FAMILY], principal_person_id=owner_person_id)
    today = c.clock.today()
    parsed = idnumber.parse_input(raw_id_number, today=today)
    with c.db.read() as session:
        owner = session.get(Person, owner_person_id)
    assert owner is not None
    if parsed.value == owner.id_number:
        raise RuleViolation("不能把本人添加为家庭成员", code="self")
    registered = c.registry.find_person(parsed.value)
    if registered is None or normalize_name(registered.name) != normalize_name(name):
        raise RuleViolation(MISMATCH, code="identity_mismatch")
    problem = relation_problem(relation, owner.birth_date, parsed.birth_date, today)
    if problem:
        raise RuleViolation(problem, code="relation_implausible")
    links = {link.relative_id_number: link.relation
             for link in c.registry.relations(owner.id_number)}
    registered_relation = links.get(parsed.value)
    if registered_relation is not None and registered_relation is not relation:
        label = RELATION_LABELS[registered_relation]
        raise RuleViolation(f"医保登记的亲属关系为“{label}”，与您选择的关系不一致，请核对后重试",
                            code="relation_mismatch")
    if relation is Relation.SPOUSE:
        registry_spouses = {number for number, kind in links.items() if kind is Relation.SPOUSE}
        if registry_spouses and parsed.value not in registry_spouses:
            raise RuleViolation("医保登记信息中您的配偶为其他人，不能再登记配偶",
                                code="spouse_exists")
        with c.db.read() as session:
            other_spouse = session.scalars(select(FamilyMember.id).where(
                FamilyMember.owner_person_id == owner_person_id,
                FamilyMember.relation == Relation.SPOUSE.value,
                FamilyMember.removed_at.is_(None))).first()
        if other_spouse is not None:
            raise RuleViolation("您已登记配偶，不能再登记另一位配偶", code="spouse_exists")
    if registered_relation is None and not registered.phone:
        raise RuleViolation("医保登记信息中没有你们的亲属关系，且该亲属未登记手机号，无法在线核验。"
                            "请携带户口簿或结婚证等材料到经办窗口办理", code="cannot_verify")
    now = c.clock.now()
    verification = "registry" if registered_relation is not None else "pending"
    try:
        with c.db.transaction() as session:
            person = identity.person_for(session, parsed.value, registered.name, now)
            existing = _active(session, owner_person_id, person.id)
            if existing is not None:
                raise Conflict("该亲属已在您的家庭成员中", code="already_added")
            member = FamilyMember(owner_person_id=owner_person_id, member_person_id=person.id,
                                  relation=relation.value, verification=verification,
                                  created_at=now,
                                  verified_at=now if verification == "registry" else None)
            session.add(member)
            session.flush()
            audit.record(session, c.clock, AuditEntry(
                action="family.add", actor=AuditActor(actor.account_id, actor.role.value),
                subject_person_id=owner_person_id, object_type="family_member",
                object_id=str(member.id),
                details={"member": mask_name(registered.name), "relation": relation.value,
                         "id_number": mask_id_number(parsed.value),
                         "verification": verification},
            ))
    except IntegrityError as exc:
        raise Conflict("该亲属已在您的家庭成员中", code="already_added") from exc
    texted_to = None
    if verification == "pending" and registered.phone:
        try:
            identity.send_code(c, registered.phone, OtpPurpose.VERIFY_RELATIVE)
        except Busy as exc:  # the member is added (pending): only the text failed
            raise Busy("家庭成员已添加，但验证码短信发送失败，请稍后在家庭成员页重新发送验证码",
                       code="sms_failed") from exc
        texted_to = mask_phone(registered.phone)
    return member_view(c, owner_person_id, member.id), texted_to


def resend_code(c: Container, owner_person_id: int, member_id: int) -> str:
    """Text a new code to a pending member's own phone; returns the masked phone."""
    with c.db.read() as session:
        member = _owned(session, owner_person_id, member_id)
        person = session.get(Person, member.member_person_id)
    assert person is not None
    if member.verification != "pending":
        raise RuleViolation("该亲属关系已核验，无需验证码", code="already_verified")
    registered = c.registry.find_person(person.id_number)
    if registered is None or not registered.phone:
        raise RuleViolation("该亲属未登记手机号，无法在线核验", code="cannot_verify")
    identity.send_code(c, registered.phone, OtpPurpose.VERIFY_RELATIVE)
    return mask_phone(registered.phone)


def verify_member(c: Container, actor: Actor, owner_person_id: int, member_id: int,
                  code: str) -> MemberView:
    with c.db.read() as session:
        member = _owned(session, owner_person_id, member_id)
        person = session.get(Person, member.member_person_id)
        consent_gate.require(c, session, actor, [Purpose.FAMILY],
                             principal_person_id=owner_person_id,
                             others=[member.member_person_id])
    assert person is not None
    if member.verification != "pending":
        return member_view(c, owner_person_id, member_id)
    registered = c.registry.find_person(person.id_number)
    if registered is None or not registered.phone:
        raise RuleViolation("该亲属未登记手机号，无法在线核验", code="cannot_verify")
    identity.verify_code(c, registered.phone, OtpPurpose.VERIFY_RELATIVE, code)
    with c.db.transaction() as session:
        row = _owned(session, owner_person_id, member_id)
        row.verification, row.verified_at = "sms", c.clock.now()
        audit.record(session, c.clock, AuditEntry(
            action="family.verify", actor=AuditActor(actor.account_id, actor.role.value),
            subject_person_id=owner_person_id, object_type="family_member",
            object_id=str(member_id), details={"verification": "sms"},
        ))
    return member_view(c, owner_person_id, member_id)


def remove_member(c: Container, actor: Actor, owner_person_id: int, member_id: int) -> None:
    with c.db.transaction() as session:
        member = _owned(session, owner_person_id, member_id)
        member.removed_at = c.clock.now()
        audit.record(session, c.clock, AuditEntry(
            action="family.remove", actor=AuditActor(actor.account_id, actor.role.value),
            subject_person_id=owner_person_id, object_type="family_member",
            object_id=str(member_id),
        ))


def list_members(c: Container, owner_person_id: int) -> list[MemberView]:
    with c.db.read() as session:
        ids = session.scalars(select(FamilyMember.id).where(
            FamilyMember.owner_person_id == owner_person_id, FamilyMember.removed_at.is_(None))
            .order_by(FamilyMember.id)).all()
    return [member_view(c, owner_person_id, member_id) for member_id in ids]


def member_view(c: Container, owner_person_id: int, member_id: int) -> MemberView:
    products = open_products(c.db, c.clock, c.settings.city_code)
    with c.db.read() as session:
        member = _owned(session, owner_person_id, member_id)
        person = session.get(Person, member.member_person_id)
        assert person is not None
        coverage, policy_no = coverage_of(session, products[0] if products else None,
                                          owner_person_id, person.id)
    return MemberView(member, person, coverage, policy_no)


def coverage_of(session: Session, product: Product | None, viewer_person_id: int,
                person_id: int) -> tuple[str, str | None]:
    """未参保 / 待支付 / 已参保 / 已由他人投保 for the open product; who paid is not said."""
    if product is None:
        return CoverageStatus.NONE, None
    policy = session.scalars(select(Policy).where(
        Policy.product_id == product.id, Policy.insured_person_id == person_id,
        Policy.status == PolicyStatus.ACTIVE.value)).first()
    if policy is not None:
        if policy.holder_person_id in {viewer_person_id, person_id}:
            return CoverageStatus.INSURED, policy.policy_no
        return CoverageStatus.INSURED_BY_OTHER, None
    pending = session.scalars(select(OrderItem.id).where(
        OrderItem.product_id == product.id, OrderItem.insured_person_id == person_id,
        OrderItem.holds_place)).first()
    return (CoverageStatus.PENDING if pending else CoverageStatus.NONE), None


def active_member(session: Session, owner_person_id: int, person_id: int) -> FamilyMember | None:
    return _active(session, owner_person_id, person_id)


def _active(session: Session, owner_person_id: int, person_id: int) -> FamilyMember | None:
    return session.scalars(select(FamilyMember).where(
        FamilyMember.owner_person_id == owner_person_id,
        FamilyMember.member_person_id == person_id, FamilyMember.removed_at.is_(None))).first()


def _owned(session: Session, owner_person_id: int, member_id: int) -> FamilyMember:
    member = session.get(FamilyMember, member_id)
    if member is None or member.owner_person_id != owner_person_id or member.removed_at:
        raise NotFound("未找到该家庭成员")
    return member
