"""The one place that applies the consent table (``consent_rules``) to a request.

Services call ``require`` with the purposes they serve before they process anyone's data;
``init_consent_gate`` adds the check for every request made under a proxy grant (after
``access.check_acting_for`` has admitted it) and answers a stop in the standard error shape,
auditing it as a denied attempt about the person concerned.

Staff work (counter service, claim review) rests on the person's consent given in person or on
the contract, not on the online consents: the gate checks residents only.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import replace
from typing import Any

from flask import Flask, Response, g
from sqlalchemy import bindparam, select
from sqlalchemy.orm import Session

from huiminbao.audit import services as audit
from huiminbao.audit.consents import ConsentKind
from huiminbao.audit.models import Consent
from huiminbao.audit.services import AuditActor, AuditEntry
from huiminbao.core.api import error_response
from huiminbao.core.container import Container, container
from huiminbao.core.errors import RuleViolation
from huiminbao.core.masking import mask_name
from huiminbao.identity.auth import Actor, current_actor
from huiminbao.identity.consent_rules import (
    CONSENT_WITHDRAWN,
    Block,
    Holder,
    Party,
    Purpose,
    first_block,
)
from huiminbao.identity.domain import Basis
from huiminbao.identity.models import Person, UserAccount


class ConsentWithdrawn(RuleViolation):
    """A purpose stopped by a withdrawn consent. The audit entry is written by the error
    handler, after the request's own transaction has rolled back."""

    code = CONSENT_WITHDRAWN

    def __init__(self, block: Block, entry: AuditEntry) -> None:
        super().__init__(block.message, code=CONSENT_WITHDRAWN)
        self.block = block
        self.entry = entry


def granted_kinds(session: Session,
                  account_ids: Iterable[int]) -> dict[int, frozenset[ConsentKind]]:
    """Each account's standing (not withdrawn) consents."""
    ids = list(set(account_ids))
    found: dict[int, set[ConsentKind]] = {account_id: set() for account_id in ids}
    if not ids:
        return {}
    for account_id, kind in session.execute(_STANDING, {"account_ids": ids}):
        found[account_id].add(ConsentKind(kind))
    return {account_id: frozenset(kinds) for account_id, kinds in found.items()}


# Built once (the gate runs before every enrollment): only its parameters change.
_STANDING = select(Consent.account_id, Consent.kind).where(
    Consent.account_id.in_(bindparam("account_ids", expanding=True)),
    Consent.withdrawn_at.is_(None))


def require(c: Container, session: Session, actor: Actor, purposes: Sequence[Purpose], *,
            principal_person_id: int | None = None, others: Iterable[int] = ()) -> None:
    """Refuse with ``ConsentWithdrawn`` when a consent some purpose depends on is not standing.

    ``principal_person_id`` is the person it is done for (default: the caller); ``others`` the
    further people whose data is processed. People without an account of their own have given
    or withdrawn nothing online and are not checked here."""
    if actor.role.is_staff:
        return
    principal = principal_person_id if principal_person_id is not None else actor.person_id
    roles: dict[int, list[Party]] = {}
    if actor.person_id is not None:
        roles.setdefault(actor.person_id, []).append(Party.OPERATOR)
    if principal is not None:
        roles.setdefault(principal, []).append(Party.PRINCIPAL)
    for person_id in others:
        roles.setdefault(person_id, []).append(Party.OTHERS)
    if not roles:
        return
    accounts: dict[int, int] = {}
    if actor.person_id is not None:
        accounts[actor.person_id] = actor.account_id
    others_ids = [person_id for person_id in roles if person_id not in accounts]
    if others_ids:  # acting for oneself (the hot path) needs no look-up here
        for bound_person, bound_account in session.execute(
                select(UserAccount.person_id, UserAccount.id)
                .where(UserAccount.person_id.in_(others_ids))):
            if bound_person is not None:
                accounts[bound_person] = bound_account
    granted = granted_kinds(session, accounts.values())
    holders: list[Holder] = []
    for person_id, parties in roles.items():
        account_id = accounts.get(person_id)
        if account_id is None:
            continue
        holders.append(Holder(party=parties[0], also=tuple(parties[1:]),
                              granted=granted.get(account_id, frozenset()),
                              is_caller=person_id == actor.person_id, person_id=person_id))
    block = first_block(purposes, holders)
    if block is None:
        return
    if not block.holder.is_caller:
        person = session.get(Person, block.holder.person_id)
        name = mask_name(person.name) if person is not None else None
        block = replace(block, holder=replace(block.holder, name=name))
    raise ConsentWithdrawn(block, AuditEntry(
        action="consent.blocked", outcome="denied",
        actor=AuditActor(actor.account_id, actor.role.value),
        subject_person_id=block.holder.person_id,
        acting_for_person_id=principal if principal != actor.person_id else None,
        details={"purpose": block.purpose.value, "consent": block.kind.value,
                 "also": [purpose.value for purpose in block.also],
                 "holder": block.holder.party.value},
    ))


def require_now(c: Container, actor: Actor, purposes: Sequence[Purpose], *,
                principal_person_id: int | None = None, others: Iterable[int] = ()) -> None:
    """``require`` in a read session of its own."""
    with c.db.read() as session:
        require(c, session, actor, purposes, principal_person_id=principal_person_id,
                others=others)


def check_acting_for_consent() -> None:
    """Runs before every request, after ``access.check_acting_for``: acting for someone under a
    grant is itself a purpose, stopped when the principal (or the agent) withdraws."""
    subject: Any = g.get("acting_subject")
    if subject is None or subject.basis is not Basis.PROXY_GRANT:
        return
    require_now(container(), current_actor(), [Purpose.ACT_FOR],
                principal_person_id=subject.person_id)


def _record_block(error: ConsentWithdrawn) -> Response:
    c = container()
    audit.record_now(c.db, c.clock, error.entry)
    return error_response(error.http_status, error.code, error.message, error.errors)


def init_consent_gate(app: Flask) -> None:
    """Register after ``init_access`` (hooks run in registration order)."""
    app.before_request(check_acting_for_consent)
    app.register_error_handler(ConsentWithdrawn, _record_block)
