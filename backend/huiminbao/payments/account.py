"""The caller's own personal account, as the registry reports it."""

from __future__ import annotations

from dataclasses import dataclass

from huiminbao.core.container import Container
from huiminbao.core.errors import RuleViolation
from huiminbao.identity import consent_gate
from huiminbao.identity import services as identity
from huiminbao.identity.access import require_verified_binding
from huiminbao.identity.auth import Actor
from huiminbao.identity.consent_rules import Purpose
from huiminbao.identity.models import Person
from huiminbao.registry.port import AccountBalance, AccountEntry, Scheme


@dataclass(frozen=True)
class PersonalAccount:
    person: Person
    balance: AccountBalance
    entries: list[AccountEntry]


def personal_account(c: Container, actor: Actor) -> PersonalAccount:
    require_verified_binding(actor)
    profile = identity.profile(c, actor.account_id)
    person = profile.person
    if person is None:
        raise RuleViolation("请先完成实名认证", code="identity_required")
    consent_gate.require_now(c, actor, [Purpose.ACCOUNT_VIEW])
    registered = c.registry.find_person(person.id_number)
    balance = c.registry.balance(person.id_number)
    if registered is None or registered.scheme is not Scheme.EMPLOYEE or balance is None:
        raise RuleViolation("城乡居民医保参保人员没有医保个人账户", code="no_personal_account")
    return PersonalAccount(person, balance, c.registry.entries(person.id_number))
