"""Real-name binding under concurrency, on PostgreSQL: many accounts bind one ID
number at the same moment; at most one binding of the person is ever verified, and exactly one
account holds the person at the end."""

from __future__ import annotations

import uuid
from collections import Counter
from collections.abc import Iterator

import pytest
from sqlalchemy import select

from huiminbao.app import build_container
from huiminbao.audit.consents import CONSENT_TEXTS
from huiminbao.core.clock import MovableClock
from huiminbao.core.config import Settings
from huiminbao.core.container import Container
from huiminbao.core.errors import Conflict
from huiminbao.identity import services
from huiminbao.identity.domain import Role
from huiminbao.identity.models import Person, UserAccount
from huiminbao.registry.demo import LI_NA, LIN_YAN, load_demo_population
from tests.conftest import TEST_NOW
from tests.races import race

pytestmark = pytest.mark.postgres

CONSENTS = {kind.value: text.version for kind, text in CONSENT_TEXTS.items()}


@pytest.fixture
def pg_container(pg_url: str) -> Iterator[Container]:
    clock = MovableClock(TEST_NOW)
    container = build_container(Settings(database_url=pg_url, testing=True), clock=clock)
    load_demo_population(container.db, clock)
    yield container
    container.db.dispose()


def _accounts(c: Container, count: int) -> list[int]:
    ids = []
    with c.db.transaction() as session:
        for _ in range(count):
            account = UserAccount(phone="139" + f"{uuid.uuid4().int % 10**8:08d}",
                                  role=Role.RESIDENT.value, created_at=c.clock.now())
            session.add(account)
            session.flush()
            ids.append(account.id)
    return ids


def _attempt(c: Container, account_id: int, name: str, id_number: str,
             ticket: str | None) -> str:
    try:
        outcome = services.bind_identity(c, account_id, name, id_number, CONSENTS,
                                         check_ticket=ticket)
    except Conflict as exc:
        return exc.code or "conflict"
    return outcome.verified_by.value if outcome.verified_by else "unverified"


def _holders(c: Container, id_number: str) -> list[UserAccount]:
    with c.db.read() as session:
        person_id = session.scalars(select(Person.id).where(Person.id_number_is(id_number))).one()
        return list(session.scalars(select(UserAccount).where(
            UserAccount.person_id == person_id)))


def test_fifty_verified_bindings_of_one_id_at_once_leave_exactly_one(
        pg_container: Container) -> None:
    c = pg_container
    assert c.identity_checks is not None
    accounts = _accounts(c, 50)
    tickets = [c.identity_checks.start(LI_NA.id_number, LI_NA.name).ticket for _ in accounts]
    results = race(50, lambda i: _attempt(c, accounts[i], LI_NA.name, LI_NA.id_number,
                                          tickets[i]))
    outcomes = Counter(results)
    assert outcomes["identity_check"] == 1, outcomes
    assert outcomes["identity_taken"] == 49, outcomes
    holders = _holders(c, LI_NA.id_number)
    assert len(holders) == 1 and holders[0].binding_verified_by == "identity_check"


def test_fifty_mixed_bindings_at_once_end_with_one_verified_holder(
        pg_container: Container) -> None:
    """Half know only the name and ID number, half pass a face check: the unverified may win
    for a moment, but a verified one then displaces it; two verified never displace each
    other."""
    c = pg_container
    assert c.identity_checks is not None
    accounts = _accounts(c, 50)
    tickets = [c.identity_checks.start(LIN_YAN.id_number, LIN_YAN.name).ticket
               if i % 2 else None for i in range(50)]
    results = race(50, lambda i: _attempt(c, accounts[i], LIN_YAN.name, LIN_YAN.id_number,
                                          tickets[i]))
    outcomes = Counter(results)
    assert outcomes["identity_check"] == 1, outcomes
    assert outcomes["unverified"] <= 1, outcomes
    assert set(outcomes) <= {"identity_check", "unverified", "identity_taken"}, outcomes
    holders = _holders(c, LIN_YAN.id_number)
    assert len(holders) == 1 and holders[0].binding_verified_by == "identity_check"
    with c.db.read() as session:
        verified = session.scalars(select(UserAccount.id).where(
            UserAccount.id.in_(accounts), UserAccount.binding_verified_by.is_not(None))).all()
    assert len(verified) == 1
