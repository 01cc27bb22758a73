"""Bulk loading of enrolled persons for the big-table benchmark and the EXPLAIN test: for each
synthetic person a registry row, the product's ``people`` row, a bound account with a session,
and a paid order with its item, active policy, double-entry ledger transaction, stored
Idempotency-Key answer and (personal account) registry debit record — the rows a real enrollment
leaves behind — written with PostgreSQL's COPY (a minute or two per million persons).

The registry debit records carry no account (the loaded persons have none): reconcile would
count them as paid, so these databases are for lookups, not for reconcile.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select, text

from huiminbao.audit.consents import CONSENT_TEXTS, ConsentKind
from huiminbao.catalog.models import Product
from huiminbao.core import idnumber
from huiminbao.core.clock import Clock
from huiminbao.core.crypto import blind_index, keyring
from huiminbao.core.db import Database
from huiminbao.payments import ledger
from huiminbao.registry.generator import SyntheticPerson, synthetic_persons
from huiminbao.registry.models import RegistryPersonRow

TABLES = ("registry_persons", "people", "user_accounts", "consents", "auth_sessions", "orders",
          "order_items", "policies", "ledger_transactions", "ledger_entries", "idempotency_keys",
          "registry_operations")
# Every bound account holds the two consents given at binding (checked per request).
CONSENT_KINDS = ("personal_info", "sensitive_info")
# Loaded accounts get phone numbers of their own: 17 + nine digits of the people row id.
PHONE_PREFIX = "17"
ONLINE_EVERY = 3  # one order in three is paid online, the others from a personal account


@dataclass(frozen=True)
class LoadReport:
    persons: int
    seconds: dict[str, float]

    @property
    def total_s(self) -> float:
        return sum(self.seconds.values())


def load_enrolled(db: Database, clock: Clock, product: Product, count: int, *, seed: int = 1,
                  echo: Callable[[str], None] | None = None) -> LoadReport:
    """Add ``count`` synthetic persons (skipping ID numbers the registry already has), each
    enrolled in ``product`` with one issued order and one active policy; then ANALYZE."""
    assert db.is_postgresql, "COPY needs PostgreSQL"
    started = time.monotonic()
    with db.read() as session:
        known = set(session.scalars(select(RegistryPersonRow.id_number)))
    persons = [p for p in synthetic_persons(count + len(known), seed, product.city_code)
               if p.id_number not in known][:count]
    seconds = {"generate": time.monotonic() - started}
    now = clock.now()
    tier = min(product.tiers, key=lambda t: t.premium_fen)
    terms = product.current_terms
    assert terms is not None
    with db.engine.begin() as conn:
        # Table names come from TABLES above, never from input.
        base = {table: int(conn.execute(text(f"SELECT coalesce(max(id), 0) FROM {table}"))  # noqa: S608
                           .scalar_one()) for table in TABLES}
        raw = conn.connection.driver_connection
        assert raw is not None
        plan = _Plan(persons, base, now, product, tier.code, tier.premium_fen, terms.version)
        for table, columns, rows in plan.tables():
            step = time.monotonic()
            _copy(raw, table, columns, rows)
            seconds[table] = time.monotonic() - step
            if echo is not None:
                echo(f"  {table:<20} loaded in {seconds[table]:6.1f} s")
        for table in TABLES:
            conn.execute(text(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "  # noqa: S608
                              f"(SELECT coalesce(max(id), 1) FROM {table}))"))
    step = time.monotonic()
    with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text("ANALYZE"))
    seconds["analyze"] = time.monotonic() - step
    return LoadReport(len(persons), seconds)


def _copy(raw: Any, table: str, columns: Sequence[str], rows: Iterable[Sequence[Any]]) -> None:
    with raw.cursor() as cursor, cursor.copy(
            f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy:
        for row in rows:
            copy.write_row(row)


def _sealed(value: str | None) -> str | None:
    return None if value is None else keyring().encrypt(value)


def _sealed_and_index(value: str) -> tuple[str, str]:
    return keyring().encrypt(value), blind_index(value)


@dataclass
class _Plan:
    persons: Sequence[SyntheticPerson]
    base: dict[str, int]
    now: datetime
    product: Product
    tier_code: str
    premium_fen: int
    terms_version: str

    def _ids(self, table: str, index: int, per_person: int = 1) -> int:
        return self.base[table] + index * per_person + 1

    def _when(self, index: int) -> datetime:
        return self.now - timedelta(seconds=index % 2_000_000)

    def _online(self, index: int) -> bool:
        return index % ONLINE_EVERY == 0

    def tables(self) -> Iterable[tuple[str, Sequence[str], Iterable[Sequence[Any]]]]:
        yield ("registry_persons",
               ("id", "id_number", "id_number_index", "name", "phone", "city_code", "scheme",
                "status", "assistance", "created_at", "updated_at"),
               # COPY bypasses the column types: seal and index here, as they would.
               ((self._ids("registry_persons", i), _sealed(s.id_number), blind_index(s.id_number),
                 s.person.name, _sealed(s.person.phone), s.person.city_code,
                 s.person.scheme.value, s.person.status.value, s.person.assistance.value,
                 self.now, self.now)
                for i, s in enumerate(self.persons)))
        yield ("people",
               ("id", "id_number", "id_number_index", "name", "birth_date", "sex", "created_at"),
               self._people())
        yield ("user_accounts",
               ("id", "phone", "phone_index", "role", "person_id", "bound_at", "elderly_mode",
                "created_at"),
               ((self._ids("user_accounts", i), *_sealed_and_index(self._phone(i)), "resident",
                 self._ids("people", i), self._when(i), False, self._when(i))
                for i in range(len(self.persons))))
        yield ("consents",
               ("id", "account_id", "kind", "text_version", "granted_at"),
               ((self._ids("consents", i, len(CONSENT_KINDS)) + k, self._ids("user_accounts", i),
                 kind, CONSENT_TEXTS[ConsentKind(kind)].version, self._when(i))
                for i in range(len(self.persons)) for k, kind in enumerate(CONSENT_KINDS)))
        yield ("auth_sessions",
               ("id", "account_id", "cookie_token_hash", "csrf_token", "method",
                "authenticated_at", "expires_at"),
               ((self._ids("auth_sessions", i), self._ids("user_accounts", i),
                 f"bulk{self._ids('auth_sessions', i):060d}", "bulk", "sms", self._when(i),
                 self._when(i) + timedelta(days=7))
                for i in range(len(self.persons))))
        yield ("orders",
               ("id", "order_no", "product_id", "buyer_account_id", "buyer_person_id",
                "payer_person_id", "channel", "status", "payment_method", "premium_fen",
                "subsidy_fen", "payable_fen", "refunded_fen", "terms_version",
                "payment_request_no", "created_at", "expires_at", "paid_at", "issued_at"),
               self._orders())
        yield ("order_items",
               ("id", "order_id", "product_id", "insured_person_id", "relation", "tier_code",
                "premium_fen", "subsidy_fen", "holds_place"),
               ((self._ids("order_items", i), self._ids("orders", i), self.product.id,
                 self._ids("people", i), "self", self.tier_code, self.premium_fen, 0, True)
                for i in range(len(self.persons))))
        yield ("policies",
               ("id", "policy_no", "order_item_id", "product_id", "insured_person_id",
                "holder_person_id", "payer_person_id", "tier_code", "premium_fen", "subsidy_fen",
                "coverage_starts_on", "coverage_ends_on", "status", "issued_at", "auto_renew"),
               ((self._ids("policies", i), f"XHYLB{self._ids('policies', i):015d}",
                 self._ids("order_items", i), self.product.id, self._ids("people", i),
                 self._ids("people", i), None if self._online(i) else self._ids("people", i),
                 self.tier_code, self.premium_fen, 0, self.product.coverage_starts_on,
                 self.product.coverage_ends_on, "active", self._when(i), False)
                for i in range(len(self.persons))))
        yield ("ledger_transactions",
               ("id", "kind", "reference", "order_no", "purpose", "occurred_at"),
               ((self._ids("ledger_transactions", i), "payment", f"pay:{self._order_no(i)}",
                 self._order_no(i), f"{self.product.name}保费", self._when(i))
                for i in range(len(self.persons))))
        yield ("ledger_entries", ("id", "transaction_id", "account", "amount_fen"),
               self._entries())
        yield ("idempotency_keys",
               ("id", "owner", "key", "request_hash", "state", "response_status", "created_at"),
               ((self._ids("idempotency_keys", i), f"account:{self._ids('user_accounts', i)}",
                 f"bulk-{self._ids('orders', i)}", f"{i:064d}", "done", 201, self._when(i))
                for i in range(len(self.persons))))
        yield ("registry_operations",
               ("id", "request_no", "kind", "id_number", "amount_fen", "sources", "status",
                "prior_years_fen", "current_year_fen", "purpose", "occurred_at"),
               ((self._ids("registry_operations", i), self._order_no(i), "debit",
                 s.id_number, self.premium_fen, "prior_years", "succeeded", self.premium_fen, 0,
                 f"{self.product.name}保费", self._when(i))
                for i, s in enumerate(self.persons) if not self._online(i)))

    def _order_no(self, index: int) -> str:
        return f"HMBULK{self._ids('orders', index):014d}"

    def _phone(self, index: int) -> str:
        return f"{PHONE_PREFIX}{self._ids('people', index):09d}"

    def _people(self) -> Iterable[Sequence[Any]]:
        today = self.now.date()
        for i, s in enumerate(self.persons):
            parsed = idnumber.parse(s.id_number, today=today)
            yield (self._ids("people", i), _sealed(s.id_number), blind_index(s.id_number),
                   s.person.name, parsed.birth_date,
                   parsed.sex.value, self.now)

    def _orders(self) -> Iterable[Sequence[Any]]:
        for i in range(len(self.persons)):
            person_id, when = self._ids("people", i), self._when(i)
            online = self._online(i)
            yield (self._ids("orders", i), self._order_no(i), self.product.id,
                   self._ids("user_accounts", i), person_id, None if online else person_id,
                   "self", "issued", "online" if online else "personal_account",
                   self.premium_fen, 0, self.premium_fen, 0, self.terms_version,
                   self._order_no(i), when, when + timedelta(minutes=30), when, when)

    def _entries(self) -> Iterable[Sequence[Any]]:
        income = ledger.premium_income(self.product.id)
        for i in range(len(self.persons)):
            transaction_id = self._ids("ledger_transactions", i)
            source = (ledger.GATEWAY if self._online(i)
                      else ledger.personal_account(self._ids("people", i)))
            yield (self._ids("ledger_entries", i, 2), transaction_id, income, self.premium_fen)
            yield (self._ids("ledger_entries", i, 2) + 1, transaction_id, source,
                   -self.premium_fen)
