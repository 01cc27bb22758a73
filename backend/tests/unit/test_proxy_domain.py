"""Pure proxy rules: the grant status machine (every pair), expiry, scopes, terms, limits."""

from __future__ import annotations

import itertools
from datetime import UTC, date, datetime, timedelta

import pytest

from huiminbao.core.states import InvalidTransition
from huiminbao.identity.domain import Action
from huiminbao.proxy.domain import (
    GRANT_TRANSITIONS,
    Evidence,
    GrantStatus,
    Scope,
    allows,
    effective_status,
    evidence_problem,
    format_scopes,
    parse_scopes,
    payment_problem,
    scope_label,
    terms_problems,
    transition,
    year_bounds,
)

S = GrantStatus
ALLOWED = {
    (S.PENDING, S.ACTIVE),  # confirmed by QR, SMS code or counter
    (S.PENDING, S.CANCELLED),  # withdrawn or declined before confirmation
    (S.PENDING, S.EXPIRED),  # never confirmed in time
    (S.ACTIVE, S.REVOKED),  # ended early by principal, agent or counter
    (S.ACTIVE, S.EXPIRED),  # valid_until passed
}


@pytest.mark.parametrize(("current", "target"), list(itertools.product(S, S)),
                         ids=lambda s: s.value)
def test_transition_table(current: GrantStatus, target: GrantStatus) -> None:
    if (current, target) in ALLOWED:
        assert transition(current, target) is target
    else:
        with pytest.raises(InvalidTransition):
            transition(current, target)


def test_the_table_says_exactly_that() -> None:
    assert {(a, b) for a, targets in GRANT_TRANSITIONS.items() for b in targets} == ALLOWED
    assert {s for s in S if s.is_live} == {S.PENDING, S.ACTIVE}


NOW = datetime(2026, 11, 22, 2, 0, tzinfo=UTC)
LATER = NOW + timedelta(days=1)
EARLIER = NOW - timedelta(seconds=1)


@pytest.mark.parametrize(("stored", "pending_expires_at", "valid_until", "expected"), [
    (S.PENDING, LATER, None, S.PENDING),
    (S.PENDING, NOW, None, S.EXPIRED),  # the instant itself is already too late
    (S.PENDING, EARLIER, None, S.EXPIRED),
    (S.ACTIVE, EARLIER, LATER, S.ACTIVE),  # confirmed: the pending deadline no longer matters
    (S.ACTIVE, EARLIER, NOW, S.EXPIRED),
    (S.ACTIVE, EARLIER, None, S.EXPIRED),  # an active grant without an end is never trusted
    (S.REVOKED, EARLIER, EARLIER, S.REVOKED),
    (S.CANCELLED, EARLIER, None, S.CANCELLED),
    (S.EXPIRED, LATER, LATER, S.EXPIRED),
])
def test_effective_status(stored: GrantStatus, pending_expires_at: datetime,
                          valid_until: datetime | None, expected: GrantStatus) -> None:
    assert effective_status(stored, pending_expires_at=pending_expires_at,
                            valid_until=valid_until, now=NOW) is expected


@pytest.mark.parametrize(("scope", "action"), [
    (Scope.ENROLL, Action.ENROLL),
    (Scope.VIEW_POLICIES, Action.VIEW_POLICIES),
    (Scope.CLAIMS_SUBMIT, Action.SUBMIT_CLAIMS),
    (Scope.CLAIMS_VIEW, Action.VIEW_CLAIMS),
    (Scope.PAY_FROM_PRINCIPAL_ACCOUNT, Action.PAY_FROM_ACCOUNT),
])
def test_each_scope_allows_its_action_and_nothing_else(scope: Scope, action: Action) -> None:
    for other in Action:
        assert allows([scope], other) is (other is action)


def test_no_scope_ever_allows_staff_or_account_actions() -> None:
    every = list(Scope)
    for action in (Action.MANAGE_FAMILY, Action.VIEW_ACCOUNT, Action.CANCEL_POLICY,
                   Action.REVIEW_CLAIMS, Action.MANAGE_PRODUCTS, Action.COUNTER_SERVICE,
                   Action.VIEW_PROFILE):
        assert not allows(every, action)


def test_scopes_round_trip_in_canonical_order() -> None:
    stored = format_scopes([Scope.PAY_FROM_PRINCIPAL_ACCOUNT, Scope.ENROLL, Scope.ENROLL])
    assert stored == "enroll,pay_from_principal_account"
    assert parse_scopes(stored) == (Scope.ENROLL, Scope.PAY_FROM_PRINCIPAL_ACCOUNT)
    assert parse_scopes("") == ()


def test_labels_speak_plainly() -> None:
    assert scope_label(Scope.ENROLL, None, to_principal=True) == "代为参保"
    assert scope_label(Scope.CLAIMS_VIEW, None, to_principal=True) == "查看理赔进度"
    assert scope_label(Scope.PAY_FROM_PRINCIPAL_ACCOUNT, 30000, to_principal=True) == \
        "使用您的医保个人账户缴费（每年不超过¥300.00）"
    assert scope_label(Scope.PAY_FROM_PRINCIPAL_ACCOUNT, 30000, to_principal=False) == \
        "使用委托人的医保个人账户缴费（每年不超过¥300.00）"


@pytest.mark.parametrize(("scopes", "limit", "days", "problems"), [
    (["enroll"], None, 30, {}),
    (["enroll", "pay_from_principal_account"], 30000, 366, {}),
    ([], None, 30, {"scopes": "请至少选择一项代办事项"}),
    (["enroll", "sell_house"], None, 30, {"scopes": "包含不支持的代办事项"}),
    (["pay_from_principal_account"], None, 30,
     {"pay_limit_fen": "选择使用委托人医保个人账户缴费时，请填写每年缴费限额"}),
    (["pay_from_principal_account"], 0, 30,
     {"pay_limit_fen": "每年缴费限额应大于0且不超过¥10,000.00"}),
    (["enroll"], 30000, 30,
     {"pay_limit_fen": "未选择使用委托人医保个人账户缴费，不能设置缴费限额"}),
    (["enroll"], None, 367, {"valid_days": "授权期限应为1至366天（最长一年）"}),
    (["enroll"], None, 0, {"valid_days": "授权期限应为1至366天（最长一年）"}),
])
def test_terms_problems(scopes: list[str], limit: int | None, days: int,
                        problems: dict[str, str]) -> None:
    assert terms_problems(scopes, limit, days) == problems


@pytest.mark.parametrize(("scopes", "limit", "paid", "amount", "problem"), [
    ((Scope.ENROLL, Scope.PAY_FROM_PRINCIPAL_ACCOUNT), 30000, 0, 15000, None),
    ((Scope.ENROLL, Scope.PAY_FROM_PRINCIPAL_ACCOUNT), 30000, 15000, 15000, None),  # exactly
    ((Scope.ENROLL, Scope.PAY_FROM_PRINCIPAL_ACCOUNT), 30000, 15001, 15000,
     "超出授权的缴费额度：本年度剩余¥149.99"),
    ((Scope.ENROLL, Scope.PAY_FROM_PRINCIPAL_ACCOUNT), 10000, 0, 15000,
     "超出授权的缴费额度：本年度剩余¥100.00"),
    ((Scope.ENROLL, Scope.PAY_FROM_PRINCIPAL_ACCOUNT), 10000, 20000, 1,
     "超出授权的缴费额度：本年度剩余¥0.00"),
    ((Scope.ENROLL,), None, 0, 15000, "委托人未授权您使用其医保个人账户缴费，请选择在线支付"),
])
def test_payment_problem(scopes: tuple[Scope, ...], limit: int | None, paid: int, amount: int,
                         problem: str | None) -> None:
    assert payment_problem(scopes, limit, paid, amount) == problem


def test_the_yearly_limit_counts_the_calendar_year_in_china_time() -> None:
    start, end = year_bounds(date(2026, 11, 22))
    assert start == datetime(2025, 12, 31, 16, 0, tzinfo=UTC)
    assert end == datetime(2026, 12, 31, 16, 0, tzinfo=UTC)


@pytest.mark.parametrize(("evidence", "problem"), [
    ([Evidence.PRINCIPAL_ID_CARD, Evidence.AGENT_ID_CARD], None),
    ([Evidence.HOUSEHOLD_REGISTER, Evidence.AGENT_ID_CARD, Evidence.OTHER], None),
    ([Evidence.AGENT_ID_CARD], "请核验委托人的身份证或户口簿"),
    ([Evidence.PRINCIPAL_ID_CARD, Evidence.POWER_OF_ATTORNEY], "请核验代办人的身份证"),
])
def test_counter_evidence(evidence: list[Evidence], problem: str | None) -> None:
    assert evidence_problem(evidence) == problem
