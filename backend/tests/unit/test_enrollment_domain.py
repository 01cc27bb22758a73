"""The enrollment domain's pure rules: the order and policy state machines (every pair of
statuses allowed or refused), eligibility, the enrollment window, the subsidy's groups and
tier, the price and cancellability."""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from datetime import date

import pytest

from huiminbao.catalog.domain import EnrollmentWindow, subsidized_tier_code
from huiminbao.core.states import InvalidTransition, StateMachine
from huiminbao.enrollment.domain import (
    OrderStatus,
    PolicyStatus,
    cancel_refusal,
    eligibility,
    is_subsidized,
    policy_transition,
    price,
    subsidy_covers,
    transition,
    window_refusal,
)
from huiminbao.registry.port import Assistance, PersonStatus, RegistryPerson, Scheme

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


# ---------------------------------------------------------------- the state-machine helper


def test_a_table_must_name_every_status() -> None:
    with pytest.raises(ValueError, match="every status"):
        StateMachine({OrderStatus.PENDING_PAYMENT: {OrderStatus.PAID}})


def test_a_refused_move_names_both_statuses() -> None:
    with pytest.raises(InvalidTransition) as refused:
        transition(ISSUED, PAID)
    assert (refused.value.current, refused.value.target) == (ISSUED, PAID)
    assert "issued -> paid" in str(refused.value)


# ---------------------------------------------------------------- eligibility


def _person(*, city: str = "330100", status: PersonStatus = PersonStatus.ACTIVE,
            assistance: Assistance = Assistance.NONE,
            scheme: Scheme = Scheme.RESIDENT) -> RegistryPerson:
    return RegistryPerson("330106198803150130", "张伟", None, city, scheme, status, assistance)


@pytest.mark.parametrize(("person", "code", "report"), [
    (None, "not_insured", "未查询到该人员的基本医疗保险参保信息"),
    (_person(city="310100"), "other_city", "基本医疗保险参保地不在杭州市，不能参加本产品"),
    (_person(status=PersonStatus.SUSPENDED), "insurance_suspended",
     "基本医疗保险处于暂停（中断）状态，恢复正常参保后方可参保"),
])
def test_who_may_not_enroll(person: RegistryPerson | None, code: str, report: str) -> None:
    refusal = eligibility(person, "330100", "杭州市")
    assert refusal is not None
    assert refusal.code == code
    assert refusal.report == report
    assert "您" in refusal.message  # the online path speaks to the person


@pytest.mark.parametrize("person", [
    _person(), _person(scheme=Scheme.EMPLOYEE), _person(assistance=Assistance.TEKUN),
])
def test_anyone_insured_and_active_in_the_city_may_enroll(person: RegistryPerson) -> None:
    """No age, health or occupation condition, whatever the scheme or assistance group."""
    assert eligibility(person, "330100", "杭州市") is None


# ---------------------------------------------------------------- window


WINDOW = EnrollmentWindow(date(2026, 9, 1), date(2026, 10, 31))


@pytest.mark.parametrize(("today", "open_"), [
    (date(2026, 8, 31), False), (date(2026, 9, 1), True), (date(2026, 10, 31), True),
    (date(2026, 11, 1), False),
])
def test_the_window_includes_both_ends(today: date, open_: bool) -> None:
    refusal = window_refusal("西湖益联保", WINDOW, today)
    if open_:
        assert refusal is None
    else:
        assert refusal is not None and refusal.code == "window_closed"
        assert refusal.message == ("西湖益联保当前不在投保期内"
                                   "（投保期为2026年09月01日至2026年10月31日）")


# ---------------------------------------------------------------- subsidy and price


@pytest.mark.parametrize(("group", "categories", "covered"), [
    ("dibao", ["tekun", "dibao", "dibian", "disabled"], True),
    ("dibao", ["tekun", "disabled"], False),
    ("disabled", ["tekun", "disabled"], True),
    ("none", ["tekun", "dibao", "dibian", "disabled", "none"], False),
    ("tekun", [], False),
])
def test_the_subsidy_pays_only_for_the_products_groups(group: str, categories: list[str],
                                                       covered: bool) -> None:
    assert subsidy_covers(group, categories) is covered
    assert is_subsidized(_person(assistance=Assistance(group)), categories) is covered


@dataclass(frozen=True)
class _Tier:
    code: str
    premium_fen: int


@pytest.mark.parametrize(("configured", "expected"), [
    ("premium", "premium"), (None, "standard"), ("gone", "standard"),
])
def test_the_subsidized_tier(configured: str | None, expected: str) -> None:
    tiers = [_Tier("premium", 29900), _Tier("standard", 15000), _Tier("also", 15000)]
    assert subsidized_tier_code(tiers, configured) == expected
    assert subsidized_tier_code([], configured) is None


@pytest.mark.parametrize(("premium", "subsidized_tier", "subsidy", "payable"), [
    (15000, None, 0, 15000),  # not subsidized
    (15000, 15000, 15000, 0),  # the subsidized tier itself
    (29900, 15000, 15000, 14900),  # a higher tier pays the difference
    (9900, 15000, 9900, 0),  # never more subsidy than the premium
])
def test_price(premium: int, subsidized_tier: int | None, subsidy: int, payable: int) -> None:
    cost = price(premium, subsidized_tier)
    assert (cost.premium_fen, cost.subsidy_fen, cost.payable_fen) == (premium, subsidy, payable)


# ---------------------------------------------------------------- cancellability


STARTS = date(2027, 1, 1)


@pytest.mark.parametrize(("status", "today", "code"), [
    (PolicyStatus.ACTIVE, date(2026, 12, 31), None),
    (PolicyStatus.ACTIVE, STARTS, "coverage_started"),
    (PolicyStatus.ACTIVE, date(2027, 3, 1), "coverage_started"),
    (PolicyStatus.CANCELLED, date(2026, 12, 31), "already_cancelled"),
    (PolicyStatus.CANCELLED, date(2027, 3, 1), "already_cancelled"),
])
def test_a_policy_may_be_cancelled_until_coverage_starts(status: PolicyStatus, today: date,
                                                         code: str | None) -> None:
    refusal = cancel_refusal(status, STARTS, today)
    assert (refusal.code if refusal else None) == code
