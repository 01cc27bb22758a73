"""The relatives the registry links to an account owner (医保 家庭共济 binding): spouse,
children and parents, listed with masked names, relation and age, so that the owner picks them
instead of typing a name and an ID number.

Each relative carries a pick token: a keyed hash of the owner and the relative's ID number,
which names the relative without revealing the ID number and means nothing for anyone else. A
pick resolves only against the owner's links as the registry has them when it is used, so a
forged token, a token of another owner, or a link the registry has since dropped is refused.
Only a verified binding (DESIGN §2.11) may list or pick: the list shows other people's data.
"""

from __future__ import annotations

import hmac
from dataclasses import dataclass
from datetime import date

from sqlalchemy import select

from huiminbao.catalog.services import open_products
from huiminbao.core import idnumber
from huiminbao.core.container import Container
from huiminbao.core.errors import Busy, Conflict, RuleViolation
from huiminbao.enrollment.family.members import (
    ALREADY_ADDED,
    CoverageStatus,
    MemberView,
    active_member,
    add_member,
    coverage_of,
)
from huiminbao.identity import consent_gate
from huiminbao.identity.access import require_verified_binding
from huiminbao.identity.auth import Actor
from huiminbao.identity.consent_rules import Purpose
from huiminbao.identity.domain import hash_secret
from huiminbao.identity.models import Person
from huiminbao.registry.port import FamilyLink, RegistryPerson, RegistryUnavailable, Relation

PICK_PURPOSE = "family-pick"
PICK_LENGTH = 32  # hex characters: 128 bits of the keyed hash
RELATIVES_UNAVAILABLE = ("暂时无法读取医保登记的家人信息，请稍后再试；"
                         "也可以输入家人的姓名和身份证号码添加")
PICK_UNKNOWN = "未在您的医保登记家人中找到该人员，请刷新后重新选择，或输入家人的身份证号码"
_ORDER = {Relation.SPOUSE: 0, Relation.CHILD: 1, Relation.PARENT: 2}


@dataclass(frozen=True)
class RegistryRelative:
    """One relative the registry links to the owner; ``id_number`` leaves only masked."""

    pick: str
    id_number: str
    name: str
    relation: Relation
    birth_date: date
    age: int
    member_id: int | None  # already on the owner's family list
    person_id: int | None  # the member's person (only for a member)
    coverage: str
    has_personal_account: bool  # 医保个人账户: residents (城乡居民) have none


@dataclass(frozen=True)
class Picked:
    """A resolved pick: the registry's link and its record of the relative."""

    link: FamilyLink
    person: RegistryPerson


def pick_token(secret_key: str, owner_person_id: int, relative_id_number: str) -> str:
    return hash_secret(secret_key, f"{PICK_PURPOSE}:{owner_person_id}:{relative_id_number}")[
        :PICK_LENGTH]


def list_relatives(c: Container, actor: Actor, owner_person_id: int) -> list[RegistryRelative]:
    """The owner's spouse, children and parents as the registry links them, spouse first, then
    children and parents, elder first; each with the coverage for the open product."""
    owner_id_number = _owner_id_number(c, actor, owner_person_id)
    links, persons, with_account = _registry_family(c, owner_id_number, with_balances=True)
    products = open_products(c.db, c.clock, c.settings.city_code)
    product = products[0] if products else None
    relatives = []
    today = c.clock.today()
    with c.db.read() as session:
        for link in links:
            registered = persons.get(link.relative_id_number)
            if registered is None:
                continue  # a link to a person the registry no longer has: nothing to offer
            known = session.scalars(select(Person).where(
                Person.id_number_is(link.relative_id_number))).one_or_none()
            member = active_member(session, owner_person_id, known.id) if known else None
            coverage = (coverage_of(session, product, owner_person_id, known.id)[0] if known
                        else CoverageStatus.NONE)
            born = idnumber.parse(link.relative_id_number, today=today).birth_date
            relatives.append(RegistryRelative(
                pick=pick_token(c.settings.secret_key, owner_person_id, link.relative_id_number),
                id_number=link.relative_id_number, name=registered.name,
                relation=link.relation, birth_date=born, age=idnumber.age_on(born, today),
                member_id=member.id if member else None,
                person_id=member.member_person_id if member else None, coverage=coverage,
                has_personal_account=link.relative_id_number in with_account))
    relatives.sort(key=lambda r: (_ORDER[r.relation], r.birth_date))
    return relatives


def resolve_pick(c: Container, actor: Actor, owner_person_id: int, pick: str, *,
                 purpose: Purpose = Purpose.FAMILY, field: str = "pick") -> Picked:
    """The relative a pick token names, among the owner's current registry links; refused
    (one neutral answer) for anything else. ``purpose``: what the pick is for (its consent)."""
    owner_id_number = _owner_id_number(c, actor, owner_person_id, purpose)
    links, persons, _ = _registry_family(c, owner_id_number)
    given = pick.strip().lower().encode()  # bytes: any text compares, in constant time
    for link in links:
        expected = pick_token(c.settings.secret_key, owner_person_id, link.relative_id_number)
        registered = persons.get(link.relative_id_number)
        if registered is not None and hmac.compare_digest(expected.encode(), given):
            return Picked(link, registered)
    raise RuleViolation(PICK_UNKNOWN, code="pick_unknown", errors={field: [PICK_UNKNOWN]})


def add_picked(c: Container, actor: Actor, owner_person_id: int, pick: str) -> MemberView:
    """Add the picked relative to the owner's family, verified by the registry's link; the same
    rules as adding by ID number apply (one spouse, nobody twice)."""
    picked = resolve_pick(c, actor, owner_person_id, pick)
    with c.db.read() as session:
        known = session.scalars(select(Person.id).where(
            Person.id_number_is(picked.link.relative_id_number))).one_or_none()
        if known is not None and active_member(session, owner_person_id, known) is not None:
            raise Conflict(ALREADY_ADDED, code="already_added")
    view, _ = add_member(c, actor, owner_person_id, picked.person.name,
                         picked.link.relative_id_number, picked.link.relation)
    return view


def _owner_id_number(c: Container, actor: Actor, owner_person_id: int,
                     purpose: Purpose = Purpose.FAMILY) -> str:
    require_verified_binding(actor)
    consent_gate.require_now(c, actor, [purpose], principal_person_id=owner_person_id)
    with c.db.read() as session:
        owner = session.get(Person, owner_person_id)
    assert owner is not None
    return owner.id_number


def _registry_family(c: Container, owner_id_number: str, *, with_balances: bool = False,
                     ) -> tuple[list[FamilyLink], dict[str, RegistryPerson], set[str]]:
    """The owner's registry links, the linked persons the registry knows and, if asked, which
    of them have a personal account (in the same exchange as the persons)."""
    try:
        links = [link for link in c.registry.relations(owner_id_number)
                 if link.relative_id_number != owner_id_number]
        numbers = [link.relative_id_number for link in links]
        found = c.registry.persons_and_balances(numbers, numbers if with_balances else [])
    except RegistryUnavailable as exc:
        # Said in words, with the way that still works (typing the ID number).
        raise Busy(RELATIVES_UNAVAILABLE, code="registry_unavailable") from exc
    return links, found.persons, set(found.balances)
