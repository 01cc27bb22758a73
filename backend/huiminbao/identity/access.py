"""The one gate: may this actor do this action to this person's data?

Every endpoint that reads or changes person-owned data asks here, directly or through
``subject_for`` (which also reads ``X-Acting-For``). A denial is audited and answers 404 for
objects (revealing nothing about whether they exist) or 403 for acting-for requests.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol, TypeVar

from flask import Flask, Response, g, has_request_context, request
from sqlalchemy.orm import Session

from huiminbao.audit import services as audit
from huiminbao.audit.services import AuditActor, AuditEntry
from huiminbao.core.api import error_response
from huiminbao.core.container import Container, container
from huiminbao.core.errors import Forbidden, NotFound, RuleViolation
from huiminbao.identity.auth import (
    Actor,
    current_actor,
    require_login_before_input,
    view_method,
)
from huiminbao.identity.domain import Action, Basis, Decision, decide

F = TypeVar("F", bound=Callable[..., Any])
ACTING_FOR_HEADER = "X-Acting-For"
NOT_AUTHORIZED_TO_ACT = "您没有代办该人员此项业务的有效授权"
IDENTITY_REQUIRED = "请先完成实名认证"
# What a missing object of each kind answers: a denial on an object answers the same words, so
# that a stranger cannot tell someone else's object from one that does not exist.
MISSING_OBJECT_MESSAGES = {"policy": "未找到该保单", "order": "未找到该订单",
                           "complaint": "未找到该投诉"}
IDENTITY_UNVERIFIED = ("需先完成身份核验才能查看或使用医保个人账户：请使用医保登记的手机号登录，"
                       "或刷脸核验，或携带身份证到经办窗口核验")


class GrantFinder(Protocol):
    """Finds an active proxy grant of the right scope; the proxy domain supplies the real one."""

    def active_grant_id(self, session: Session, agent_person_id: int, principal_person_id: int,
                        action: Action, now: datetime) -> int | None: ...

    def check_payment_allowed(self, c: Container, session: Session, grant_id: int | None,
                              amount_fen: int, *, lock: bool = False) -> None:
        """Refuse (``Forbidden`` or ``RuleViolation``) a payment from the principal's personal
        account under this grant that its scopes or its yearly limit do not allow. ``lock``:
        hold the grant until the caller's transaction ends."""


class NoGrants:
    def active_grant_id(self, session: Session, agent_person_id: int, principal_person_id: int,
                        action: Action, now: datetime) -> int | None:
        return None

    def check_payment_allowed(self, c: Container, session: Session, grant_id: int | None,
                              amount_fen: int, *, lock: bool = False) -> None:
        raise Forbidden(NOT_AUTHORIZED_TO_ACT, code="not_authorized")


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
    decision = decide(actor_person_id=actor.person_id, actor_role=actor.role, action=action,
                      subject_person_id=subject_person_id, grant_id=grant_id)
    if decision.basis is Basis.PROXY_GRANT and subject_person_id is not None:
        _note_grant_use(actor, action, subject_person_id, decision.grant_id)
    return decision


def _note_grant_use(actor: Actor, action: Action, subject_person_id: int,
                    grant_id: int | None) -> None:
    """Remember that this request was admitted through a grant; ``_record_grant_uses`` writes
    one "proxy.act" audit event per grant, person and action when the response is ready."""
    if not has_request_context():
        return
    uses: dict[tuple[int | None, int, str], AuditActor] = g.setdefault("proxy_grant_uses", {})
    uses[(grant_id, subject_person_id, action.value)] = AuditActor(actor.account_id,
                                                                    actor.role.value)


def _record_grant_uses(response: Response) -> Response:
    """Every request admitted through a grant is recorded: who acted, for whom, under which
    grant, on which endpoint, and how it ended (the principal sees it in their activity)."""
    uses: dict[tuple[int | None, int, str], AuditActor] | None = g.pop("proxy_grant_uses", None)
    if not uses:
        return response
    c = container()
    with c.db.transaction() as session:
        for (grant_id, subject_person_id, action), actor in uses.items():
            audit.record(session, c.clock, AuditEntry(
                action="proxy.act", outcome="ok" if response.status_code < 400 else "failed",
                actor=actor, subject_person_id=subject_person_id,
                acting_for_person_id=subject_person_id, grant_id=grant_id,
                object_type="endpoint", object_id=f"{request.method} {request.path}"[:64],
                details={"action": action, "endpoint": request.endpoint,
                         "status": response.status_code},
            ))
    return response


def require_access(c: Container, session: Session, actor: Actor, action: Action,
                   subject_person_id: int | None, *, object_type: str,
                   object_id: str) -> Decision:
    """For loaded objects: deny with 404 so that a stranger learns nothing."""
    decision = authorize(c, session, actor, action, subject_person_id)
    if not decision.allowed:
        raise AccessDenied(_denial(actor, action, subject_person_id, object_type, object_id),
                           MISSING_OBJECT_MESSAGES.get(object_type))
    return decision


def acts_for(action: Action) -> Callable[[F], F]:
    """Mark a view method as accepting ``X-Acting-For`` for ``action``. A request that sends the
    header to a view without this mark is refused: nothing silently answers with the caller's
    own data while the client believes it sees someone else's."""

    def mark(view: F) -> F:
        view.acting_for_action = action  # type: ignore[attr-defined]
        return view

    return mark


def check_acting_for() -> None:
    """Runs before every request (registered in ``init_access``): the one place that turns
    ``X-Acting-For`` into a checked subject, stored on ``g``."""
    raw = request.headers.get(ACTING_FOR_HEADER)
    if raw is None:
        return
    actor = current_actor()
    raw = raw.strip()
    if actor.person_id is not None and raw == str(actor.person_id):
        return  # acting for oneself is just oneself
    action = _declared_action()
    subject_person_id = int(raw) if raw.isascii() and raw.isdigit() and len(raw) <= 18 else None
    c = container()
    decision = Decision.deny()
    if action is not None and subject_person_id is not None:
        with c.db.read() as session:
            decision = authorize(c, session, actor, action, subject_person_id)
    if not decision.allowed or decision.basis is None or subject_person_id is None:
        raise ActingForDenied(_denial(actor, action, subject_person_id, "person", raw[:64]))
    g.acting_subject = Subject(subject_person_id, decision.basis, decision.grant_id)
    g.acting_action = action


def _declared_action() -> Action | None:
    action = getattr(view_method(request.endpoint or "", request.method), "acting_for_action",
                     None)
    return action if isinstance(action, Action) else None


def subject_for(action: Action, actor: Actor) -> Subject:
    """The person this request is about: the one ``check_acting_for`` admitted, or the caller."""
    subject: Subject | None = g.get("acting_subject")
    if subject is not None:
        if g.get("acting_action") is not action:
            raise Forbidden(NOT_AUTHORIZED_TO_ACT, code="not_authorized")
        return subject
    if actor.person_id is None:
        raise RuleViolation(IDENTITY_REQUIRED, code="identity_required")
    return Subject(actor.person_id, Basis.SELF)


def may_see_balances(actor: Actor) -> bool:
    """Whether this actor may see and spend a personal account (the rule
    ``require_verified_binding`` enforces, with its messages)."""
    return actor.person_id is not None and actor.binding_verified


def require_verified_binding(actor: Actor) -> None:
    """The one rule for personal accounts (DESIGN §2.11): a binding proven only by knowing a
    name and an ID number may browse, get quotes and pay online for itself, but sees no
    personal-account balance or history and pays from no account, its own, a relative's or a
    principal's. Called by the only two places that read or spend one: the account view
    (payments/account.py) and the choice of a personal account as the payment source
    (enrollment ``quote``, which every debit, renewal included, goes through)."""
    if may_see_balances(actor):
        return
    if actor.person_id is None:
        raise RuleViolation(IDENTITY_REQUIRED, code="identity_required")
    raise Forbidden(IDENTITY_UNVERIFIED, code="identity_unverified")


def init_access(app: Flask) -> None:
    app.before_request(require_login_before_input)
    app.before_request(check_acting_for)
    app.after_request(_record_grant_uses)
    app.register_error_handler(AccessDenied, _record_denial)
    app.register_error_handler(ActingForDenied, _record_denial)


class AccessDenied(NotFound):
    """A denial on an object: answers like a missing object. The audit entry is written by the
    error handler, after the request's own transaction has rolled back."""

    def __init__(self, entry: AuditEntry, message: str | None = None) -> None:
        if message is None:
            super().__init__()
        else:
            super().__init__(message)
        self.entry = entry


class ActingForDenied(Forbidden):
    def __init__(self, entry: AuditEntry) -> None:
        super().__init__(NOT_AUTHORIZED_TO_ACT, code="not_authorized")
        self.entry = entry


def _denial(actor: Actor, action: Action | None, subject_person_id: int | None,
            object_type: str, object_id: str) -> AuditEntry:
    return AuditEntry(
        action=f"access.{action.value if action else 'act_for'}", outcome="denied",
        actor=AuditActor(actor.account_id, actor.role.value),
        subject_person_id=subject_person_id, object_type=object_type, object_id=object_id,
    )


def _record_denial(error: AccessDenied | ActingForDenied) -> Response:
    c = container()
    audit.record_now(c.db, c.clock, error.entry)
    return error_response(error.http_status, error.code, error.message, error.errors)
