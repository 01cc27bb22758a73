"""The one gate: may this actor do this action to this person's data?

Every endpoint that reads or changes person-owned data asks here, directly or through
``subject_for`` (which also reads ``X-Acting-For``). A denial is audited and answers 404 for
objects (revealing nothing about whether they exist) or 403 for acting-for requests.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from flask import request
from sqlalchemy.orm import Session

from huiminbao.audit import services as audit
from huiminbao.audit.services import AuditActor, AuditEntry
from huiminbao.core.container import Container, container
from huiminbao.core.errors import Forbidden, NotFound, RuleViolation
from huiminbao.identity.auth import Actor
from huiminbao.identity.domain import Action, Basis, Decision, decide

ACTING_FOR_HEADER = "X-Acting-For"
NOT_AUTHORIZED_TO_ACT = "您没有代办该人员此项业务的有效授权"
IDENTITY_REQUIRED = "请先完成实名认证"


class GrantFinder(Protocol):
    """Finds an active proxy grant of the right scope; the proxy domain supplies the real one."""

    def active_grant_id(self, session: Session, agent_person_id: int, principal_person_id: int,
                        action: Action, now: datetime) -> int | None: ...


class NoGrants:
    def active_grant_id(self, session: Session, agent_person_id: int, principal_person_id: int,
                        action: Action, now: datetime) -> int | None:
        return None


@dataclass(frozen=True)
class Subject:
    """The person a request acts on, and on what basis."""

    person_id: int
    basis: Basis
    grant_id: int | None = None

    @property
    def acting_for(self) -> bool:
        return self.basis is Basis.PROXY_GRANT


def authorize(c: Container, session: Session, actor: Actor, action: Action,
              subject_person_id: int | None) -> Decision:
    grant_id = None
    if (actor.person_id is not None and subject_person_id is not None
            and subject_person_id != actor.person_id):
        grant_id = c.grants.active_grant_id(session, actor.person_id, subject_person_id, action,
                                            c.clock.now())
    return decide(actor_person_id=actor.person_id, actor_role=actor.role, action=action,
                  subject_person_id=subject_person_id, grant_id=grant_id)


def require_access(c: Container, session: Session, actor: Actor, action: Action,
                   subject_person_id: int | None, *, object_type: str,
                   object_id: str) -> Decision:
    """For loaded objects: deny with 404 so that a stranger learns nothing."""
    decision = authorize(c, session, actor, action, subject_person_id)
    if not decision.allowed:
        _audit_denial(c, actor, action, subject_person_id, object_type, object_id)
        raise NotFound()
    return decision


def subject_for(action: Action, actor: Actor) -> Subject:
    """The person this request is about: the caller, or the person in ``X-Acting-For`` if the
    caller holds an active grant of the right scope (or a staff role for the action)."""
    c = container()
    raw = request.headers.get(ACTING_FOR_HEADER, "").strip()
    if not raw or (actor.person_id is not None and raw == str(actor.person_id)):
        if actor.person_id is None:
            raise RuleViolation(IDENTITY_REQUIRED, code="identity_required")
        return Subject(actor.person_id, Basis.SELF)
    if not raw.isdigit():
        raise Forbidden(NOT_AUTHORIZED_TO_ACT, code="not_authorized")
    subject_person_id = int(raw)
    with c.db.read() as session:
        decision = authorize(c, session, actor, action, subject_person_id)
    if not decision.allowed or decision.basis is None:
        _audit_denial(c, actor, action, subject_person_id, "person", raw)
        raise Forbidden(NOT_AUTHORIZED_TO_ACT, code="not_authorized")
    return Subject(subject_person_id, decision.basis, decision.grant_id)


def _audit_denial(c: Container, actor: Actor, action: Action, subject_person_id: int | None,
                  object_type: str, object_id: str) -> None:
    audit.record_now(c.db, c.clock, AuditEntry(
        action=f"access.{action.value}", outcome="denied",
        actor=AuditActor(actor.account_id, actor.role.value),
        subject_person_id=subject_person_id, object_type=object_type, object_id=object_id,
    ))
