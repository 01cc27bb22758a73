"""The authorization rule as a table: self, staff role, proxy grant, or nothing."""

from __future__ import annotations

import pytest

from huiminbao.identity.domain import STAFF_PERMISSIONS, Action, Basis, Role, decide

ME, SOMEONE = 1, 2


@pytest.mark.parametrize(
    ("role", "actor_person", "action", "subject", "grant", "allowed", "basis"),
    [
        # A resident acts for themself, for nobody else without a grant.
        (Role.RESIDENT, ME, Action.VIEW_POLICIES, ME, None, True, Basis.SELF),
        (Role.RESIDENT, ME, Action.VIEW_CLAIMS, SOMEONE, None, False, None),
        (Role.RESIDENT, ME, Action.PAY_FROM_ACCOUNT, SOMEONE, None, False, None),
        (Role.RESIDENT, None, Action.VIEW_POLICIES, SOMEONE, None, False, None),
        (Role.RESIDENT, None, Action.VIEW_POLICIES, None, None, False, None),
        # A grant found by the proxy domain (already checked for scope and dates) allows.
        (Role.RESIDENT, ME, Action.ENROLL, SOMEONE, 7, True, Basis.PROXY_GRANT),
        # Staff act by role, and only for the actions of their role.
        (Role.INSURER_STAFF, None, Action.REVIEW_CLAIMS, SOMEONE, None, True, Basis.STAFF_ROLE),
        (Role.INSURER_STAFF, None, Action.PAY_FROM_ACCOUNT, SOMEONE, None, False, None),
        (Role.INSURER_STAFF, None, Action.VIEW_ACCOUNT, SOMEONE, None, False, None),
        (Role.COUNTER_STAFF, None, Action.COUNTER_SERVICE, SOMEONE, None, True, Basis.STAFF_ROLE),
        (Role.COUNTER_STAFF, None, Action.REVIEW_CLAIMS, SOMEONE, None, False, None),
        (Role.COUNTER_STAFF, None, Action.PAY_FROM_ACCOUNT, SOMEONE, None, False, None),
        (Role.ADMIN, None, Action.MANAGE_PRODUCTS, None, None, True, Basis.STAFF_ROLE),
        (Role.ADMIN, None, Action.PAY_FROM_ACCOUNT, SOMEONE, None, False, None),
    ],
)
def test_decision_table(role: Role, actor_person: int | None, action: Action,
                        subject: int | None, grant: int | None, allowed: bool,
                        basis: Basis | None) -> None:
    decision = decide(actor_person_id=actor_person, actor_role=role, action=action,
                      subject_person_id=subject, grant_id=grant)
    assert decision.allowed is allowed
    assert decision.basis is basis
    assert decision.grant_id == (grant if basis is Basis.PROXY_GRANT else None)


def test_no_staff_role_may_spend_someone_elses_personal_account() -> None:
    for role, actions in STAFF_PERMISSIONS.items():
        assert Action.PAY_FROM_ACCOUNT not in actions, role
        assert Action.VIEW_ACCOUNT not in actions, role


def test_residents_have_no_role_permissions() -> None:
    assert STAFF_PERMISSIONS[Role.RESIDENT] == frozenset()
