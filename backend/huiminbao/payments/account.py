"""The caller's own personal account, as the registry reports it."""

from __future__ import annotations

from typing import Any

from huiminbao.core.container import Container
from huiminbao.core.errors import RuleViolation
from huiminbao.core.masking import mask_id_number, mask_name
from huiminbao.identity import consent_gate
from huiminbao.identity import services as identity
from huiminbao.identity.access import require_verified_binding
from huiminbao.identity.auth import Actor
from huiminbao.identity.consent_rules import Purpose
from huiminbao.registry.port import Scheme


def personal_account_view(c: Container, actor: Actor) -> dict[str, Any]:
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
    return {
        "holder": mask_name(person.name),
        "account": mask_id_number(person.id_number),
        "prior_years_fen": balance.prior_years_fen,
        "current_year_fen": balance.current_year_fen,
        "entries": [{
            "occurred_at": entry.occurred_at, "kind": entry.kind.value,
            "balance": entry.balance_kind.value, "amount_fen": entry.amount_fen,
            "balance_after_fen": entry.balance_after_fen, "purpose": entry.purpose,
        } for entry in c.registry.entries(person.id_number)],
    }
