"""The order and policy state machines, as explicit tables: every pair of statuses is either
allowed or refused, and what each status means for places and for money that arrives."""

from __future__ import annotations

import itertools

import pytest

from huiminbao.enrollment.domain import (
    InvalidTransition,
    OrderStatus,
    PolicyStatus,
    policy_transition,
    transition,
)

P, PAID, ISSUED = OrderStatus.PENDING_PAYMENT, OrderStatus.PAID, OrderStatus.ISSUED
CANCELLED, EXPIRED, REFUNDED = OrderStatus.CANCELLED, OrderStatus.EXPIRED, OrderStatus.REFUNDED

ALLOWED = {(P, PAID), (P, CANCELLED), (P, EXPIRED), (PAID, ISSUED), (ISSUED, REFUNDED)}


@pytest.mark.parametrize(("current", "target"), list(itertools.product(OrderStatus, OrderStatus)))
def test_order_transitions_are_exactly_the_table(current: OrderStatus,
                                                 target: OrderStatus) -> None:
    if (current, target) in ALLOWED:
        assert transition(current, target) is target
    else:
        with pytest.raises(InvalidTransition):
            transition(current, target)


@pytest.mark.parametrize(("status", "closed", "holds"), [
    (P, False, True), (PAID, False, True), (ISSUED, False, True),
    (CANCELLED, True, False), (EXPIRED, True, False), (REFUNDED, False, False),
])
def test_what_each_order_status_means(status: OrderStatus, closed: bool, holds: bool) -> None:
    """Closed: money arriving now is refunded, never kept (a refunded order was paid first)."""
    assert status.is_closed is closed
    assert status.holds_places is holds
    assert status.label


@pytest.mark.parametrize(("current", "target"), list(itertools.product(PolicyStatus,
                                                                       PolicyStatus)))
def test_policy_transitions_are_exactly_the_table(current: PolicyStatus,
                                                  target: PolicyStatus) -> None:
    if (current, target) == (PolicyStatus.ACTIVE, PolicyStatus.CANCELLED):
        assert policy_transition(current, target) is target
    else:
        with pytest.raises(InvalidTransition):
            policy_transition(current, target)
