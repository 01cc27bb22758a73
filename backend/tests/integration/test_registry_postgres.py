"""The registry simulator's money rules under concurrency, on PostgreSQL.

Each test starts 20 threads that wait on one barrier and then hit the simulator together, so the
row lock, the unique request number and the CHECK constraints are what keeps the money right.
"""

from __future__ import annotations

import itertools
import os
import threading
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, date, datetime, timedelta
from typing import TypeVar

import pytest
from sqlalchemy import create_engine, func, select, text
from sqlalchemy.exc import OperationalError

from huiminbao.core import idnumber
from huiminbao.core.clock import MovableClock
from huiminbao.core.db import Base, Database
from huiminbao.registry.models import RegistryOperationRow
from huiminbao.registry.port import (
    AccountBalance,
    Assistance,
    BalanceKind,
    FailureReason,
    OperationResult,
    OperationStatus,
    PersonStatus,
    RegistryPerson,
    RequestNumberReused,
    Scheme,
)
from huiminbao.registry.simulator import SimulatedRegistry

pytestmark = pytest.mark.postgres

THREADS = 20
PRIOR = BalanceKind.PRIOR_YEARS
CURRENT = BalanceKind.CURRENT_YEAR
DEFAULT_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
_T = TypeVar("_T")
_serial = itertools.count(1)


@pytest.fixture(scope="module")
def pg_database() -> Iterator[Database]:
    """The registry tables in a fresh schema of the test database, dropped afterwards."""
    url = os.environ.get("TEST_DATABASE_URL", DEFAULT_URL)
    admin = create_engine(url, isolation_level="AUTOCOMMIT")
    schema = f"t_registry_{uuid.uuid4().hex[:10]}"
    try:
        with admin.connect() as conn:
            conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    except OperationalError as exc:
        admin.dispose()
        pytest.fail(f"PostgreSQL is not reachable at {url!r}: {exc.orig}", pytrace=False)
    database = Database(
        url,
        connect_args={"options": f"-csearch_path={schema}"},
        pool_size=THREADS + 5,
        max_overflow=5,
    )
    registry_tables = [t for t in Base.metadata.sorted_tables if t.name.startswith("registry_")]
    Base.metadata.create_all(database.engine, tables=registry_tables)
    try:
        yield database
    finally:
        database.dispose()
        with admin.connect() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


@pytest.fixture
def registry(pg_database: Database) -> SimulatedRegistry:
    return SimulatedRegistry(pg_database, MovableClock(datetime(2026, 11, 22, 2, tzinfo=UTC)))


def add_person(registry: SimulatedRegistry, *, prior: int | None = None, current: int = 0) -> str:
    serial = next(_serial)
    id_number = idnumber.make("330106", date(1975, 1, 1) + timedelta(days=serial), serial % 1000)
    registry.upsert_person(
        RegistryPerson(
            id_number=id_number,
            name="林𫖮",
            phone=None,
            city_code="330100",
            scheme=Scheme.EMPLOYEE if prior is not None else Scheme.RESIDENT,
            status=PersonStatus.ACTIVE,
            assistance=Assistance.NONE,
        )
    )
    if prior is not None:
        registry.open_account(id_number, prior_years_fen=prior, current_year_fen=current)
    return id_number


def request_no(label: str) -> str:
    return f"{label}-{uuid.uuid4().hex[:12]}"


def all_at_once(calls: list[Callable[[], _T]]) -> list[_T | BaseException]:
    """Run the calls in as many threads, released together; each call's result or exception."""
    barrier = threading.Barrier(len(calls), timeout=30)

    def run(call: Callable[[], _T]) -> _T | BaseException:
        barrier.wait()
        try:
            return call()
        except Exception as exc:  # collected and asserted on by the test
            return exc

    with ThreadPoolExecutor(max_workers=len(calls)) as pool:
        return list(pool.map(run, calls))


def results(outcomes: list[OperationResult | BaseException]) -> list[OperationResult]:
    for outcome in outcomes:
        if isinstance(outcome, BaseException):
            raise outcome
    return [outcome for outcome in outcomes if isinstance(outcome, OperationResult)]


def assert_ledger_matches(registry: SimulatedRegistry, id_number: str) -> AccountBalance:
    balance = registry.balance(id_number)
    assert balance is not None
    assert registry.ledger_totals(id_number) == {
        PRIOR: balance.prior_years_fen,
        CURRENT: balance.current_year_fen,
    }
    return balance


def operations_with(pg_database: Database, number: str) -> int:
    with pg_database.read() as session:
        count = session.scalar(
            select(func.count())
            .select_from(RegistryOperationRow)
            .where(RegistryOperationRow.request_no == number)
        )
    return count or 0


def test_one_request_number_sent_twenty_times_moves_money_once(
    registry: SimulatedRegistry, pg_database: Database
) -> None:
    person = add_person(registry, prior=10_000, current=5_000)
    number = request_no("SAME")

    outcomes = results(
        all_at_once(
            [
                lambda: registry.debit(
                    number, person, 12_000, sources=[PRIOR, CURRENT], purpose="保费"
                )
            ]
            * THREADS
        )
    )

    assert len(outcomes) == THREADS
    assert all(outcome == outcomes[0] for outcome in outcomes)
    assert outcomes[0].succeeded
    assert outcomes[0].by_balance == {PRIOR: 10_000, CURRENT: 2_000}
    assert registry.balance(person) == AccountBalance(person, 0, 3_000)
    assert len(registry.entries(person)) == 2
    assert operations_with(pg_database, number) == 1
    assert registry.query(number) == outcomes[0]
    assert_ledger_matches(registry, person)


def test_different_request_numbers_never_overdraw(registry: SimulatedRegistry) -> None:
    opening = 10_000
    person = add_person(registry, prior=opening)
    numbers = [request_no(f"DIFF{i}") for i in range(THREADS)]

    def debit(number: str) -> Callable[[], OperationResult]:
        return lambda: registry.debit(number, person, 1_500, sources=[PRIOR], purpose="保费")

    outcomes = results(all_at_once([debit(number) for number in numbers]))

    succeeded = [outcome for outcome in outcomes if outcome.succeeded]
    failed = [outcome for outcome in outcomes if not outcome.succeeded]
    assert len(succeeded) == 6
    assert {outcome.failure_reason for outcome in failed} == {FailureReason.INSUFFICIENT_BALANCE}
    balance = assert_ledger_matches(registry, person)
    assert balance.prior_years_fen == opening - 6 * 1_500 == 1_000
    entries = registry.entries(person)
    assert sum(entry.amount_fen for entry in entries) == balance.prior_years_fen - opening
    assert all(entry.balance_after_fen >= 0 for entry in entries)
    for number, outcome in zip(numbers, outcomes, strict=True):
        assert registry.query(number) == outcome


def test_one_request_number_for_two_accounts_is_recorded_once(
    registry: SimulatedRegistry, pg_database: Database
) -> None:
    first = add_person(registry, prior=10_000)
    second = add_person(registry, prior=10_000)
    number = request_no("CLASH")

    def debit(person: str) -> Callable[[], OperationResult]:
        return lambda: registry.debit(number, person, 1_000, sources=[PRIOR], purpose="保费")

    outcomes = all_at_once([debit(first), debit(second)] * (THREADS // 2))

    recorded = registry.query(number)
    assert recorded is not None
    assert recorded.succeeded
    for person, outcome in zip([first, second] * (THREADS // 2), outcomes, strict=True):
        if person == recorded.id_number:
            assert outcome == recorded
        else:
            assert isinstance(outcome, RequestNumberReused)
    assert operations_with(pg_database, number) == 1
    balances = {registry.balance(first), registry.balance(second)}
    assert {b.prior_years_fen for b in balances if b} == {9_000, 10_000}


def test_one_request_number_without_an_account_gives_one_answer(
    registry: SimulatedRegistry, pg_database: Database
) -> None:
    resident = add_person(registry)
    number = request_no("NOACC")

    outcomes = results(
        all_at_once(
            [lambda: registry.debit(number, resident, 100, sources=[PRIOR], purpose="保费")]
            * THREADS
        )
    )

    assert all(outcome == outcomes[0] for outcome in outcomes)
    assert outcomes[0].failure_reason is FailureReason.NO_ACCOUNT
    assert operations_with(pg_database, number) == 1


def test_one_refund_number_sent_twenty_times_refunds_once(registry: SimulatedRegistry) -> None:
    person = add_person(registry, prior=3_000, current=10_000)
    debit_no = request_no("PAID")
    assert registry.debit(
        debit_no, person, 5_000, sources=[PRIOR, CURRENT], purpose="保费"
    ).succeeded
    refund_no = request_no("BACK")

    outcomes = results(
        all_at_once([lambda: registry.refund(refund_no, debit_no, 5_000, purpose="退保")] * THREADS)
    )

    assert all(outcome == outcomes[0] for outcome in outcomes)
    assert outcomes[0].succeeded
    assert outcomes[0].by_balance == {PRIOR: 3_000, CURRENT: 2_000}
    assert registry.balance(person) == AccountBalance(person, 3_000, 10_000)
    assert len(registry.entries(person)) == 4
    assert_ledger_matches(registry, person)


def test_many_refund_numbers_never_refund_more_than_was_paid(
    registry: SimulatedRegistry,
) -> None:
    person = add_person(registry, prior=3_000, current=10_000)
    debit_no = request_no("PAID")
    registry.debit(debit_no, person, 5_000, sources=[PRIOR, CURRENT], purpose="保费")
    numbers = [request_no(f"PART{i}") for i in range(THREADS)]

    def refund(number: str) -> Callable[[], OperationResult]:
        return lambda: registry.refund(number, debit_no, 700, purpose="部分退款")

    outcomes = results(all_at_once([refund(number) for number in numbers]))

    succeeded = [outcome for outcome in outcomes if outcome.succeeded]
    assert len(succeeded) == 7  # 7 x 700 = 4,900 of 5,000
    assert {o.failure_reason for o in outcomes if not o.succeeded} == {
        FailureReason.NOTHING_TO_REFUND
    }
    refunded = sum(sum(outcome.by_balance.values()) for outcome in succeeded)
    assert refunded == 4_900
    assert sum(outcome.by_balance.get(PRIOR, 0) for outcome in succeeded) == 3_000
    assert registry.balance(person) == AccountBalance(person, 3_000, 9_900)
    assert registry.refund(request_no("REST"), debit_no, 100, purpose="退款").succeeded
    assert not registry.refund(request_no("MORE"), debit_no, 1, purpose="退款").succeeded
    assert registry.balance(person) == AccountBalance(person, 3_000, 10_000)
    assert_ledger_matches(registry, person)


def test_debits_and_refunds_of_one_account_interleave_safely(registry: SimulatedRegistry) -> None:
    person = add_person(registry, prior=20_000)
    paid = [request_no(f"P{i}") for i in range(THREADS // 2)]
    for number in paid:
        registry.debit(number, person, 1_000, sources=[PRIOR], purpose="保费")

    def refund(original: str) -> Callable[[], OperationResult]:
        return lambda: registry.refund(request_no("R"), original, 1_000, purpose="退款")

    def debit() -> Callable[[], OperationResult]:
        return lambda: registry.debit(
            request_no("N"), person, 2_000, sources=[PRIOR], purpose="保费"
        )

    calls: list[Callable[[], OperationResult]] = []
    for number in paid:
        calls.extend([refund(number), debit()])

    outcomes = results(all_at_once(calls))

    refunds = [o for o in outcomes[0::2] if o.succeeded]
    debits = [o for o in outcomes[1::2] if o.succeeded]
    assert len(refunds) == THREADS // 2
    expected = 20_000 - 10 * 1_000 + len(refunds) * 1_000 - len(debits) * 2_000
    balance = assert_ledger_matches(registry, person)
    assert balance.prior_years_fen == expected >= 0


def test_query_answers_the_recorded_result(registry: SimulatedRegistry) -> None:
    person = add_person(registry, prior=1_000)
    number = request_no("Q")
    result = registry.debit(number, person, 1_500, sources=[PRIOR], purpose="保费")
    assert result.status is OperationStatus.FAILED
    assert registry.query(number) == result
    assert registry.query(request_no("NEVER")) is None


def test_a_request_number_reused_with_another_amount_is_refused(
    registry: SimulatedRegistry,
) -> None:
    person = add_person(registry, prior=10_000)
    number = request_no("REUSE")
    registry.debit(number, person, 1_500, sources=[PRIOR], purpose="保费")
    with pytest.raises(RequestNumberReused):
        registry.debit(number, person, 1_600, sources=[PRIOR], purpose="保费")
    assert registry.balance(person) == AccountBalance(person, 8_500, 0)
