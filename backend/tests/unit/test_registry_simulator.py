"""The registry simulator's money rules, one request at a time, on SQLite.

The same rules under concurrency are tested on PostgreSQL in
``tests/integration/test_registry_postgres.py``.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest

from huiminbao.core import idnumber
from huiminbao.core.clock import MovableClock
from huiminbao.core.db import Base, Database
from huiminbao.registry.loading import Change
from huiminbao.registry.port import (
    AccountBalance,
    Assistance,
    BalanceKind,
    FailureReason,
    OperationKind,
    OperationStatus,
    PersonStatus,
    RegistryPerson,
    Relation,
    RequestNumberReused,
    Scheme,
)
from huiminbao.registry.simulator import SimulatedRegistry

PRIOR = BalanceKind.PRIOR_YEARS
CURRENT = BalanceKind.CURRENT_YEAR
_serial = itertools.count(1)


@pytest.fixture
def registry(tmp_path: Path) -> Iterator[SimulatedRegistry]:
    db = Database(f"sqlite:///{tmp_path}/registry.db")
    Base.metadata.create_all(db.engine)
    yield SimulatedRegistry(db, MovableClock(datetime(2026, 11, 22, 2, 0, tzinfo=UTC)))
    db.dispose()


def add_person(
    registry: SimulatedRegistry,
    *,
    prior: int | None = None,
    current: int = 0,
    status: PersonStatus = PersonStatus.ACTIVE,
    name: str = "张三",
) -> str:
    """A new person; with ``prior`` an employee with an account, else a resident."""
    serial = next(_serial)
    id_number = idnumber.make("330106", date(1980, 1, 1) + timedelta(days=serial), serial % 1000)
    registry.upsert_person(
        RegistryPerson(
            id_number=id_number,
            name=name,
            phone=None,
            city_code="330100",
            scheme=Scheme.EMPLOYEE if prior is not None else Scheme.RESIDENT,
            status=status,
            assistance=Assistance.NONE,
        )
    )
    if prior is not None:
        registry.open_account(id_number, prior_years_fen=prior, current_year_fen=current)
    return id_number


def assert_ledger_matches(registry: SimulatedRegistry, id_number: str) -> None:
    balance = registry.balance(id_number)
    assert balance is not None
    totals = registry.ledger_totals(id_number)
    assert totals == {PRIOR: balance.prior_years_fen, CURRENT: balance.current_year_fen}


def test_debit_takes_from_the_sources_in_order(registry: SimulatedRegistry) -> None:
    person = add_person(registry, prior=3_000, current=10_000)
    result = registry.debit("D1", person, 5_000, sources=[PRIOR, CURRENT], purpose="保费")
    assert result.succeeded
    assert result.kind is OperationKind.DEBIT
    assert result.by_balance == {PRIOR: 3_000, CURRENT: 2_000}
    assert result.occurred_at is not None
    assert result.occurred_at >= datetime(2026, 11, 22, 2, 0, tzinfo=UTC)
    assert registry.balance(person) == AccountBalance(person, 0, 8_000)
    entries = registry.entries(person)
    assert [(e.balance_kind, e.amount_fen, e.balance_after_fen) for e in entries] == [
        (CURRENT, -2_000, 8_000),
        (PRIOR, -3_000, 0),
    ]
    assert all(e.request_no == "D1" and e.purpose == "保费" for e in entries)
    assert_ledger_matches(registry, person)


def test_debit_is_all_or_nothing_over_the_allowed_sources(registry: SimulatedRegistry) -> None:
    person = add_person(registry, prior=3_000, current=10_000)
    result = registry.debit("D2", person, 5_000, sources=[PRIOR], purpose="保费")
    assert result.status is OperationStatus.FAILED
    assert result.failure_reason is FailureReason.INSUFFICIENT_BALANCE
    assert result.by_balance == {}
    assert registry.balance(person) == AccountBalance(person, 3_000, 10_000)
    assert registry.entries(person) == []
    assert registry.query("D2") == result


def test_replay_answers_the_first_result_and_moves_nothing(registry: SimulatedRegistry) -> None:
    person = add_person(registry, prior=10_000)
    first = registry.debit("D3", person, 1_500, sources=[PRIOR], purpose="保费")
    again = registry.debit("D3", person.lower(), 1_500, sources=[PRIOR], purpose="保费（重试）")
    assert again == first
    assert registry.balance(person) == AccountBalance(person, 8_500, 0)
    assert len(registry.entries(person)) == 1


def test_a_failed_request_number_stays_failed(registry: SimulatedRegistry) -> None:
    person = add_person(registry, prior=1_000)
    failed = registry.debit("D4", person, 1_500, sources=[PRIOR], purpose="保费")
    registry.deposit(person, PRIOR, 5_000)
    assert registry.debit("D4", person, 1_500, sources=[PRIOR], purpose="保费") == failed
    assert registry.balance(person) == AccountBalance(person, 6_000, 0)


@pytest.mark.parametrize(
    "change",
    [
        {"amount_fen": 1_501},
        {"sources": [PRIOR, CURRENT]},
        {"other_person": True},
    ],
)
def test_a_request_number_reused_for_another_debit_is_refused(
    registry: SimulatedRegistry, change: dict[str, object]
) -> None:
    person = add_person(registry, prior=10_000, current=1_000)
    other = add_person(registry, prior=10_000)
    registry.debit("D5", person, 1_500, sources=[PRIOR], purpose="保费")
    amount = change.get("amount_fen", 1_500)
    sources = change.get("sources", [PRIOR])
    assert isinstance(amount, int)
    assert isinstance(sources, list)
    with pytest.raises(RequestNumberReused):
        registry.debit(
            "D5",
            other if change.get("other_person") else person,
            amount,
            sources=sources,
            purpose="保费",
        )
    with pytest.raises(RequestNumberReused):
        registry.refund("D5", "D5", 1_500, purpose="退款")
    assert registry.balance(person) == AccountBalance(person, 8_500, 1_000)
    assert registry.balance(other) == AccountBalance(other, 10_000, 0)


def test_no_account_and_suspended_are_recorded_failures(registry: SimulatedRegistry) -> None:
    resident = add_person(registry)
    suspended = add_person(registry, prior=10_000, status=PersonStatus.SUSPENDED)
    unknown = idnumber.make("110101", date(1970, 1, 1), 1)
    for request_no, person, reason in [
        ("N1", resident, FailureReason.NO_ACCOUNT),
        ("N2", unknown, FailureReason.NO_ACCOUNT),
        ("N3", suspended, FailureReason.ACCOUNT_SUSPENDED),
    ]:
        result = registry.debit(request_no, person, 100, sources=[PRIOR], purpose="保费")
        assert (result.status, result.failure_reason) == (OperationStatus.FAILED, reason)
        assert registry.query(request_no) == result
    assert registry.balance(suspended) == AccountBalance(suspended, 10_000, 0)


@pytest.mark.parametrize("amount", [0, -1, True, 1.5, "100"])
def test_amounts_must_be_positive_integers(registry: SimulatedRegistry, amount: object) -> None:
    person = add_person(registry, prior=10_000)
    with pytest.raises(ValueError, match="amount_fen"):
        registry.debit("V1", person, amount, sources=[PRIOR], purpose="保费")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="amount_fen"):
        registry.refund("V2", "V1", amount, purpose="退款")  # type: ignore[arg-type]
    assert registry.query("V1") is None


def test_sources_and_request_numbers_are_checked(registry: SimulatedRegistry) -> None:
    person = add_person(registry, prior=10_000)
    with pytest.raises(ValueError, match="sources"):
        registry.debit("V3", person, 100, sources=[], purpose="保费")
    with pytest.raises(ValueError, match="request_no"):
        registry.debit("", person, 100, sources=[PRIOR], purpose="保费")
    with pytest.raises(ValueError, match="request_no"):
        registry.debit("R" * 65, person, 100, sources=[PRIOR], purpose="保费")


def test_refund_returns_money_to_where_it_came_from(registry: SimulatedRegistry) -> None:
    person = add_person(registry, prior=3_000, current=10_000)
    registry.debit("D6", person, 5_000, sources=[PRIOR, CURRENT], purpose="保费")

    first = registry.refund("F1", "D6", 3_500, purpose="退保")
    assert first.succeeded
    assert first.kind is OperationKind.REFUND
    assert first.id_number == person
    assert first.by_balance == {PRIOR: 3_000, CURRENT: 500}
    assert registry.balance(person) == AccountBalance(person, 3_000, 8_500)

    second = registry.refund("F2", "D6", 1_500, purpose="退保")
    assert second.by_balance == {CURRENT: 1_500}
    assert registry.balance(person) == AccountBalance(person, 3_000, 10_000)

    third = registry.refund("F3", "D6", 1, purpose="退保")
    assert third.failure_reason is FailureReason.NOTHING_TO_REFUND
    assert registry.refund("F1", "D6", 3_500, purpose="退保") == first
    assert registry.balance(person) == AccountBalance(person, 3_000, 10_000)
    entries = registry.entries(person)
    assert [e.kind for e in entries] == [OperationKind.REFUND] * 3 + [OperationKind.DEBIT] * 2
    assert_ledger_matches(registry, person)


def test_refund_more_than_remains_is_refused_whole(registry: SimulatedRegistry) -> None:
    person = add_person(registry, prior=10_000)
    registry.debit("D7", person, 5_000, sources=[PRIOR], purpose="保费")
    assert registry.refund("F4", "D7", 2_000, purpose="部分退款").succeeded
    refused = registry.refund("F5", "D7", 3_001, purpose="退款")
    assert refused.failure_reason is FailureReason.NOTHING_TO_REFUND
    assert registry.refund("F6", "D7", 3_000, purpose="退款").succeeded
    assert registry.balance(person) == AccountBalance(person, 10_000, 0)


def test_refund_of_unknown_or_failed_originals(registry: SimulatedRegistry) -> None:
    person = add_person(registry, prior=100)
    registry.debit("D8", person, 5_000, sources=[PRIOR], purpose="保费")  # insufficient
    registry.debit("D9", add_person(registry), 5_000, sources=[PRIOR], purpose="保费")  # no account
    unknown = registry.refund("F7", "NO-SUCH", 100, purpose="退款")
    assert unknown.failure_reason is FailureReason.UNKNOWN_ORIGINAL
    assert unknown.id_number == ""
    assert registry.query("F7") == unknown
    assert registry.refund("F8", "D8", 100, purpose="退款").failure_reason is (
        FailureReason.NOTHING_TO_REFUND
    )
    assert registry.refund("F9", "D9", 100, purpose="退款").failure_reason is (
        FailureReason.NOTHING_TO_REFUND
    )
    registry.refund("F10", "D8", 100, purpose="退款")
    # A refund is not an original that can be refunded.
    assert registry.refund("F11", "F10", 100, purpose="退款").failure_reason is (
        FailureReason.UNKNOWN_ORIGINAL
    )
    with pytest.raises(RequestNumberReused):
        registry.refund("F7", "D8", 100, purpose="退款")
    assert registry.balance(person) == AccountBalance(person, 100, 0)


def test_a_refund_reaches_a_suspended_person(registry: SimulatedRegistry) -> None:
    person = add_person(registry, prior=10_000)
    registry.debit("D10", person, 1_000, sources=[PRIOR], purpose="保费")
    registry.set_status(person, PersonStatus.SUSPENDED)
    assert registry.refund("F12", "D10", 1_000, purpose="退款").succeeded
    assert registry.balance(person) == AccountBalance(person, 10_000, 0)


def test_query_of_an_unknown_request_number_is_none(registry: SimulatedRegistry) -> None:
    assert registry.query("NEVER-SENT") is None


def test_persons_relations_and_lookups(registry: SimulatedRegistry) -> None:
    father = add_person(registry, prior=0, name="林𫖮")
    child = add_person(registry, name="刘䶮")
    assert registry.link(father, child, Relation.CHILD) is Change.CREATED
    assert registry.link(child, father, Relation.PARENT) is Change.UNCHANGED
    found = registry.find_person(father.lower())
    assert found is not None
    assert found.name == "林𫖮"
    assert registry.relations(father)[0].relation is Relation.CHILD
    assert registry.relations(child)[0].relative_id_number == father
    assert set(registry.find_persons([father, child, "110101197001010011"])) == {father, child}
    assert registry.balance(child) is None
    assert registry.entries(child) == []
    assert registry.open_account(father, prior_years_fen=5) is Change.UNCHANGED


def test_deposit_with_a_request_number_is_applied_once(registry: SimulatedRegistry) -> None:
    person = add_person(registry, prior=0)
    registry.deposit(person, CURRENT, 30_000, request_no="YEAR-2026")
    balance = registry.deposit(person, CURRENT, 30_000, request_no="YEAR-2026")
    assert balance == AccountBalance(person, 0, 30_000)
    assert registry.entries(person) == []  # deposits are not port operations
    assert_ledger_matches(registry, person)


def test_contact_matches_answers_whether_the_phone_on_file_is_the_given_one(
    registry: SimulatedRegistry,
) -> None:
    id_number = add_person(registry)
    assert not registry.contact_matches(id_number, "13800000009")  # no phone on file
    person = registry.find_person(id_number)
    assert person is not None
    from dataclasses import replace

    registry.upsert_person(replace(person, phone="13800000009"))
    assert registry.contact_matches(id_number, "13800000009")
    assert registry.contact_matches(id_number.lower(), " 13800000009 ")
    assert not registry.contact_matches(id_number, "13800000008")
    assert not registry.contact_matches(id_number, "")
    assert not registry.contact_matches("110101190001019999", "13800000009")
