"""The enrollment hot path on PostgreSQL: how many SQL statements, transactions and
connection checkouts one one-click personal-account enrollment costs, and whether every lookup on
it uses an index when the tables hold realistic numbers of rows.

The budgets are today's counts: lower them as the path gets leaner, never raise them without a
reason written here. ``pytest -s`` prints the statements of one enrollment.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import Select, event, select
from sqlalchemy.dialects import postgresql

from huiminbao.app import build_container, create_app
from huiminbao.catalog.demo import ensure_demo_product
from huiminbao.catalog.models import Product
from huiminbao.core.clock import MovableClock
from huiminbao.core.config import Settings
from huiminbao.core.container import Container
from huiminbao.core.crypto import blind_index
from huiminbao.core.idempotency import IdempotencyRecord
from huiminbao.enrollment.models import OrderItem, Policy
from huiminbao.identity.models import Person
from huiminbao.registry.generator import generate_population
from huiminbao.registry.models import RegistryAccountRow, RegistryPersonRow
from huiminbao_bench.bigtables import load_enrolled
from huiminbao_bench.pool import PoolMember, one_click_body, sign_in_pool
from tests.conftest import TEST_NOW

pytestmark = pytest.mark.postgres

# One personal-account enrollment of oneself (the debit notice texted), as counted on 2026-11-22
# (47 statements in 16 transactions and 16 checkouts at first; 40/14/14 after the first
# pass; then one held connection per request, published products kept in memory, the quote's
# reads folded, and the order completed in one UPDATE; then one UPDATE that links the
# Idempotency-Key to the new order in the order's own transaction, so a retry after a crash
# answers from the order; then one SELECT of the caller's standing consents, which the consent
# gate checks before the quote processes anyone's data, and one indexed SELECT of the product's
# co-insurer shares, which the payment's ledger transaction splits by; then, on 2026-12-06, 25/8:
# the quote's two reads of order items (places held, persons the payer's account pays for) in
# one UNION ALL, the order issued by one conditional UPDATE ... RETURNING plus one read of its
# items instead of a locked read and the unit of work's UPDATE, and the Idempotency-Key
# answered in the transaction that issues the order instead of one of its own; then, the
# same day, 23/7: the registry's persons and the payer's balance in one exchange (one read
# session of the in-process simulator instead of two), the product's co-insurer shares kept
# once money is booked with them (final from then on), and the order's items, just written,
# handed to the completion instead of read back; then 22: the registry's persons and their
# account balances read in one LEFT JOIN instead of two SELECTs). Lower them as the path gets
# leaner.
STATEMENT_BUDGET = 22  # SQL statements sent through the engine (BEGIN/COMMIT not included)
TRANSACTION_BUDGET = 7  # sessions begun (read sessions included; on PostgreSQL they autocommit)
CHECKOUT_BUDGET = 1  # connections taken from the pool (each one also pings: pool_pre_ping)

POPULATION = 20_000  # registry persons with accounts (the pool's candidates)
ENROLLED = 20_000  # persons already enrolled: orders, policies, keys, sessions, ledger
# Tables that are large in production: a lookup on them must never read the whole table.
# (products, tiers, benefits, terms and revoked tokens hold a handful of rows.)
BIG_TABLES = frozenset({
    "people", "user_accounts", "auth_sessions", "consents", "idempotency_keys", "orders",
    "order_items", "policies", "subsidy_uses", "family_members", "ledger_transactions",
    "ledger_entries", "registry_persons", "registry_accounts", "registry_operations",
    "registry_account_entries", "audit_events", "sms_outbox",
})
# Statements of the hot path that still read a whole big table: (table, a piece of the
# statement), found by the EXPLAIN check below; remove its entry once the index exists.
KNOWN_SEQ_SCANS: frozenset[tuple[str, str]] = frozenset()
_SEQ_SCAN = re.compile(r"Seq Scan on (\w+)")


@dataclass
class Capture:
    statements: list[tuple[str, Any]] = field(default_factory=list)
    transactions: int = 0
    checkouts: int = 0

    def listen(self, container: Container) -> None:
        engine = container.db.engine
        event.listen(engine, "before_cursor_execute", self._statement)
        event.listen(engine, "begin", self._begin)
        event.listen(engine.pool, "checkout", self._checkout)

    def stop(self, container: Container) -> None:
        engine = container.db.engine
        event.remove(engine, "before_cursor_execute", self._statement)
        event.remove(engine, "begin", self._begin)
        event.remove(engine.pool, "checkout", self._checkout)

    def _statement(self, _conn: Any, _cursor: Any, statement: str, parameters: Any,
                   _context: Any, _executemany: bool) -> None:
        self.statements.append((statement, parameters))

    def _begin(self, _conn: Any) -> None:
        self.transactions += 1

    def _checkout(self, *_args: Any) -> None:
        self.checkouts += 1

    def listing(self) -> str:
        return "\n".join(f"{index:3d}. {' '.join(statement.split())[:200]}"
                         for index, (statement, _params) in enumerate(self.statements, 1))


@dataclass
class HotPath:
    app: Flask
    container: Container
    product_id: int
    members: list[PoolMember]
    body: dict[str, Any]
    capture: Capture


def _enroll(hot: HotPath, member: PoolMember) -> dict[str, Any]:
    response = hot.app.test_client().post(
        "/api/v1/enrollments", json=hot.body,
        headers={"Authorization": f"Bearer {member.token}",
                 "Idempotency-Key": f"hot-{uuid.uuid4().hex}"})
    assert response.status_code == 201, response.get_json()
    answer: dict[str, Any] = response.get_json()
    return answer


@pytest.fixture(scope="module")
def hot(pg_url: str) -> Iterator[HotPath]:
    clock = MovableClock(TEST_NOW)
    container = build_container(Settings(database_url=pg_url, testing=True), clock=clock)
    generate_population(container.db, clock, POPULATION)
    ensure_demo_product(container.db, clock)
    with container.db.read() as session:
        product = session.scalars(select(Product)).one()
        _ = product.tiers, product.terms
    load_enrolled(container.db, clock, product, ENROLLED, seed=1)  # ANALYZEs at the end
    # Members whose registry record has a phone: the debit notice is texted, as for most people.
    members = [member for member in sign_in_pool(container, product.id, 12)
               if container.registry.find_person(member.id_number).phone][:2]  # type: ignore[union-attr]
    body = one_click_body(product)
    hot = HotPath(create_app(container=container), container, product.id, members, body,
                  Capture())
    _enroll(hot, members[0])  # warm: statement caches, first connections
    hot.capture.listen(container)
    try:
        _enroll(hot, members[1])
    finally:
        hot.capture.stop(container)
    print(f"\nOne personal-account enrollment: {len(hot.capture.statements)} statements, "
          f"{hot.capture.transactions} transactions, {hot.capture.checkouts} checkouts\n"
          + hot.capture.listing())
    yield hot
    container.db.dispose()


def test_one_enrollment_stays_within_its_statement_budget(hot: HotPath) -> None:
    capture = hot.capture
    assert len(capture.statements) <= STATEMENT_BUDGET, (
        f"{len(capture.statements)} statements (budget {STATEMENT_BUDGET}):\n"
        + capture.listing())
    assert capture.transactions <= TRANSACTION_BUDGET, capture.transactions
    assert capture.checkouts <= CHECKOUT_BUDGET, capture.checkouts


def _plan(hot: HotPath, statement: str, parameters: Any) -> str:
    with hot.container.db.engine.connect() as conn:
        rows = conn.exec_driver_sql(f"EXPLAIN {statement}", parameters).all()
        conn.rollback()
    return "\n".join(row[0] for row in rows)


def _seq_scans(plan: str) -> set[str]:
    return {table for table in _SEQ_SCAN.findall(plan) if table in BIG_TABLES}


def _compiled_plan(hot: HotPath, query: Select[Any]) -> str:
    compiled = query.compile(dialect=postgresql.dialect(),  # type: ignore[no-untyped-call]
                             compile_kwargs={"literal_binds": True})
    return _plan(hot, str(compiled), ())


def test_the_named_hot_lookups_use_their_indexes(hot: HotPath) -> None:
    """Person by ID number, live policy by insured person and product, the Idempotency-Key
    record, and the personal-account row (locked for the debit): index scans on full tables."""
    member = hot.members[1]
    with hot.container.db.read() as session:
        registry_id = session.scalars(select(RegistryPersonRow.id).where(
            RegistryPersonRow.id_number_index == blind_index(member.id_number))).one()
    # Each query, and the indexes that may answer it.
    queries: dict[str, tuple[Select[Any], tuple[str, ...]]] = {
        "person by ID number (people)": (
            select(Person).where(Person.id_number_is(member.id_number)),
            ("uq_people_id_number_index",)),
        "person by ID number (registry)": (
            select(RegistryPersonRow).where(
                RegistryPersonRow.id_number_index == blind_index(member.id_number)),
            ("uq_registry_persons_id_number_index",)),
        "live policy by insured and product": (
            select(Policy.id).where(Policy.product_id == hot.product_id,
                                    Policy.insured_person_id == member.person_id,
                                    Policy.status == "active"),
            ("uq_policies_one_live_per_product", "ix_policies_insured_person_id")),
        "order item holding the place": (
            select(OrderItem.id).where(OrderItem.product_id == hot.product_id,
                                       OrderItem.insured_person_id == member.person_id,
                                       OrderItem.holds_place),
            ("uq_order_items_one_place_per_product", "ix_order_items_insured_person_id")),
        "order by Idempotency-Key": (
            select(IdempotencyRecord).where(IdempotencyRecord.owner
                                            == f"account:{member.account_id}",
                                            IdempotencyRecord.key == "some-key"),
            ("uq_idempotency_keys_owner_key",)),
        "account row, locked": (
            select(RegistryAccountRow).where(RegistryAccountRow.person_id == registry_id)
            .with_for_update(),
            ("uq_registry_accounts_person_id",)),
    }
    problems = []
    for label, (query, indexes) in queries.items():
        plan = _compiled_plan(hot, query)
        if "Seq Scan" in plan or not any(re.search(rf"\b{index}\b", plan) for index in indexes):
            problems.append(f"{label}:\n{plan}")
    assert not problems, "\n\n".join(problems)


def test_no_statement_of_an_enrollment_reads_a_whole_big_table(hot: HotPath) -> None:
    found: dict[tuple[str, str], str] = {}
    for statement, parameters in hot.capture.statements:
        verb = statement.lstrip().split(None, 1)[0].upper()
        if verb not in {"SELECT", "UPDATE", "DELETE"}:
            continue
        plan = _plan(hot, statement, parameters)
        for table in _seq_scans(plan):
            found[(table, " ".join(statement.split()))] = plan
    unexpected = {(table, statement): plan for (table, statement), plan in found.items()
                  if not any(table == known and piece in statement
                             for known, piece in KNOWN_SEQ_SCANS)}
    assert not unexpected, "\n\n".join(
        f"Seq Scan on {table} in: {statement[:160]}\n{plan}"
        for (table, statement), plan in unexpected.items())
