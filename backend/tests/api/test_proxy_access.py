"""The access matrix for grants: for each scope, the endpoint it opens is refused under
a grant of the wrong scope, a revoked, an expired and a pending grant, and admitted under an
active grant of that scope. Every refusal answers the same neutral 403 and is audited."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import select

from huiminbao.audit.models import AuditEvent
from huiminbao.core.clock import MovableClock
from huiminbao.core.container import Container
from huiminbao.identity.access import NOT_AUTHORIZED_TO_ACT
from huiminbao.proxy.domain import Scope

from .enrollment_helpers import PEOPLE, body, sign_in
from .helpers import Session
from .test_proxy import ask, fresh_sign_in, granted

PRINCIPAL = "张建国"


@dataclass(frozen=True)
class Probe:
    method: str
    path: str
    payment_method: str | None = None  # an enrollment body with this method
    json: dict[str, Any] | None = None
    admitted: tuple[int, ...] = (200,)


CLAIM = {"hospital_name": "浙江大学医学院附属第一医院", "admitted_on": "2026-11-01",
         "discharged_on": "2026-11-10", "in_policy_self_pay_fen": 500000}

# The endpoint each scope opens. A claim for someone without a policy is refused by the claims
# rules (422) — after the gate has let it through, which is what this test is about.
PROBES = {
    Scope.ENROLL: Probe("POST", "/api/v1/enrollments/preview", payment_method="online"),
    Scope.VIEW_POLICIES: Probe("GET", "/api/v1/policies"),
    Scope.CLAIMS_SUBMIT: Probe("POST", "/api/v1/claims", json=CLAIM, admitted=(201, 422)),
    Scope.CLAIMS_VIEW: Probe("GET", "/api/v1/claims"),
    # The confirm sheet of a debit from the principal's account (the debit itself then needs
    # the principal's SMS code: test_debit_confirmation.py).
    Scope.PAY_FROM_PRINCIPAL_ACCOUNT: Probe("POST", "/api/v1/enrollments/preview",
                                            payment_method="personal_account"),
}
STATES = ["wrong_scope", "revoked", "expired", "pending", "active"]


def _scopes_for(scope: Scope, state: str) -> list[str]:
    if state == "wrong_scope":  # every other scope (paying still needs `enroll` to reach it)
        return [s.value for s in Scope if s is not scope]
    needed = {scope, Scope.ENROLL} if scope is Scope.PAY_FROM_PRINCIPAL_ACCOUNT else {scope}
    return [s.value for s in Scope if s in needed]


def _call(agent: Session, probe: Probe, principal_person_id: int) -> Any:
    json = body(agent.client, probe.payment_method) if probe.payment_method else probe.json
    return agent.client.open(probe.path, method=probe.method, json=json, headers={
        **agent.bearer, "X-Acting-For": str(principal_person_id),
        "Idempotency-Key": uuid.uuid4().hex})


@pytest.mark.parametrize("state", STATES)
@pytest.mark.parametrize("scope", list(Scope), ids=lambda s: s.value)
def test_grant_states_and_scopes(
    app: Flask, wired: Container, clock: MovableClock, scope: Scope, state: str,
) -> None:
    agent = sign_in(app.test_client(), "张伟")
    scopes = _scopes_for(scope, state)
    limit = 30000 if Scope.PAY_FROM_PRINCIPAL_ACCOUNT.value in scopes else None
    if state == "pending":
        asked = ask(agent, PRINCIPAL, PEOPLE[PRINCIPAL][1], scopes, limit=limit,
                    method="counter")
        assert asked.status_code == 201
        grant = asked.get_json()
    else:
        grant = granted(app, wired, agent, scopes, limit=limit,
                        days=1 if state == "expired" else 365)
    if state == "revoked":
        assert agent.client.delete(f"/api/v1/proxy/grants/{grant['id']}",
                                   headers=agent.bearer).get_json()["status"] == "revoked"
    if state == "expired":
        clock.advance(timedelta(days=1, seconds=1))
        agent = fresh_sign_in(wired, "张伟")

    probe = PROBES[scope]
    response = _call(agent, probe, grant["principal_person_id"])
    answer = response.get_json()

    if state == "active":
        assert response.status_code in probe.admitted, answer
        with wired.db.read() as session:
            act = session.scalars(select(AuditEvent).where(
                AuditEvent.action == "proxy.act", AuditEvent.grant_id == grant["id"])).first()
        assert act is not None and act.actor_account_id == agent.me["account_id"]
        assert act.acting_for_person_id == grant["principal_person_id"]
        return

    assert response.status_code == 403, answer
    if scope is Scope.PAY_FROM_PRINCIPAL_ACCOUNT and state == "wrong_scope":
        # The gate admits the enrollment (`enroll`); the payment rule refuses the account.
        assert answer["code"] == "pay_not_authorized"
        return
    assert answer["code"] == "not_authorized"
    assert answer["message"] == NOT_AUTHORIZED_TO_ACT
    assert "张" not in response.get_data(as_text=True)
    with wired.db.read() as session:
        denial = session.scalars(select(AuditEvent).where(
            AuditEvent.outcome == "denied",
            AuditEvent.subject_person_id == grant["principal_person_id"])).first()
    assert denial is not None and denial.actor_account_id == agent.me["account_id"]
