"""Synthetic populations: valid, unique, deterministic, and loaded without duplicates."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from sqlalchemy import func, select

from huiminbao.core import idnumber
from huiminbao.core.clock import MovableClock
from huiminbao.core.db import Base, Database
from huiminbao.registry.generator import generate_population, synthetic_persons
from huiminbao.registry.models import RegistryAccountRow, RegistryPersonRow
from huiminbao.registry.port import Scheme
from huiminbao.registry.simulator import SimulatedRegistry

TODAY = date(2026, 11, 22)


def test_a_thousand_persons_are_valid_unique_and_deterministic() -> None:
    persons = list(synthetic_persons(1_000, seed=7, city_code="330100"))
    id_numbers = [synthetic.id_number for synthetic in persons]

    assert len(id_numbers) == len(set(id_numbers)) == 1_000
    for synthetic in persons:
        parsed = idnumber.parse(synthetic.id_number, today=TODAY)
        assert parsed.area_code.startswith("3301")
        assert synthetic.person.city_code == "330100"
        assert synthetic.person.name
        if synthetic.person.phone is not None:
            assert len(synthetic.person.phone) == 11
        has_account = synthetic.prior_years_fen is not None
        assert has_account == (synthetic.person.scheme is Scheme.EMPLOYEE)
        if has_account:
            assert parsed.age_on(TODAY) >= 18
    assert list(synthetic_persons(1_000, seed=7, city_code="330100")) == persons
    assert [s.id_number for s in synthetic_persons(1_000, seed=8)] != id_numbers
    employees = sum(1 for s in persons if s.person.scheme is Scheme.EMPLOYEE)
    assert 500 < employees < 800


def test_bad_arguments_are_refused() -> None:
    with pytest.raises(ValueError, match="city_code"):
        list(synthetic_persons(1, city_code="3301"))
    with pytest.raises(ValueError, match="count"):
        list(synthetic_persons(-1))


@pytest.fixture
def db(tmp_path: Path) -> Iterator[Database]:
    database = Database(f"sqlite:///{tmp_path}/generated.db")
    Base.metadata.create_all(database.engine)
    yield database
    database.dispose()


def test_generated_population_is_stored_once(db: Database) -> None:
    clock = MovableClock(datetime(2026, 11, 22, 2, 0, tzinfo=UTC))
    id_numbers = generate_population(db, clock, 1_000, seed=3)
    again = generate_population(db, clock, 1_200, seed=3)  # the first 1,000 are the same

    assert again[:1_000] == id_numbers
    with db.read() as session:
        assert session.scalar(select(func.count()).select_from(RegistryPersonRow)) == 1_200
        accounts = session.scalar(select(func.count()).select_from(RegistryAccountRow))
    expected_accounts = sum(
        1 for s in synthetic_persons(1_200, seed=3) if s.prior_years_fen is not None
    )
    assert accounts == expected_accounts
    registry = SimulatedRegistry(db, clock)
    employee = next(s for s in synthetic_persons(1_000, seed=3) if s.prior_years_fen)
    balance = registry.balance(employee.id_number)
    assert balance is not None
    assert (balance.prior_years_fen, balance.current_year_fen) == (
        employee.prior_years_fen,
        employee.current_year_fen,
    )
    totals = registry.ledger_totals(employee.id_number)
    assert sum(totals.values()) == balance.prior_years_fen + balance.current_year_fen
