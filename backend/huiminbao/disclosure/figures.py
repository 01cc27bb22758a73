"""Counting a product's public figures as of an instant, set-based: the database groups and sums
(policies by birth date and payment method, the premium income account, the claims), the
registry counts the insured persons by scheme. No policy row is turned into a Python object.

A policy counts if it was issued by ``at`` and not cancelled by ``at``; premium income is the
product's ledger account up to ``at``; claims as received and paid by ``at``. The scheme
(职工/城乡居民) is the registry's answer at the time of counting, asked in batches after the
database read has ended (never inside it). Every database figure of one count comes from one
snapshot of the database, so the breakdowns add up to the total even while people enroll.

At a million policies a count takes seconds, not milliseconds: the public endpoint answers from
the stored snapshot of these figures (``disclosure.snapshots``).
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, TypeVar

from sqlalchemy import and_, func, or_, select, text
from sqlalchemy.orm import Session

from huiminbao.core.clock import to_china_time
from huiminbao.core.container import Container
from huiminbao.core.db import Database, long_statements
from huiminbao.disclosure.claims_figures import ClaimFigures, claim_figures
from huiminbao.disclosure.domain import age_band, channel_of, district_of
from huiminbao.enrollment.domain import PolicyStatus
from huiminbao.enrollment.models import Order, OrderItem, Policy
from huiminbao.identity.models import Person
from huiminbao.payments import ledger
from huiminbao.registry.port import DistrictCounts, RegistryError, Scheme

log = logging.getLogger(__name__)
# One count of a product's figures: 14 s at a million policies (README, "Big tables").
COUNT_STATEMENT_TIMEOUT_SECONDS = 120.0

# ID numbers per registry call: the registry answers counts, so a batch can be large; a batch
# the registry cannot answer counts as "unknown" rather than failing the figures.
REGISTRY_BATCH = 100_000
UNKNOWN_SCHEME = "unknown"
T = TypeVar("T")


@dataclass(frozen=True)
class Figures:
    """A product's public figures at ``as_of``: counts and sums only, keyed by bucket key
    (``disclosure.domain``: SCHEME_LABELS, AGE_BANDS, Channel)."""

    as_of: datetime
    enrolled_total: int
    by_scheme: dict[str, int]
    by_age_band: dict[str, int]
    by_channel: dict[str, int]
    premium_income_fen: int
    claims: ClaimFigures
    # Insured persons by district (``district_counts``); counts stored before districts were
    # counted have none.
    by_district: dict[str, int] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        """Everything but ``as_of`` (stored in a column of its own)."""
        claims = self.claims
        return {
            "enrolled_total": self.enrolled_total, "by_scheme": dict(self.by_scheme),
            "by_age_band": dict(self.by_age_band), "by_channel": dict(self.by_channel),
            "premium_income_fen": self.premium_income_fen,
            "by_district": dict(self.by_district),
            "claims": {"available": claims.available, "accepted": claims.accepted,
                       "paid": claims.paid, "payout_fen": claims.payout_fen,
                       "largest_payout_fen": claims.largest_payout_fen,
                       **claims.clock_json()},
        }

    @classmethod
    def from_json(cls, as_of: datetime, data: dict[str, Any]) -> Figures:
        claims = data["claims"]
        return cls(
            as_of=as_of, enrolled_total=int(data["enrolled_total"]),
            by_scheme={k: int(v) for k, v in data["by_scheme"].items()},
            by_age_band={k: int(v) for k, v in data["by_age_band"].items()},
            by_channel={k: int(v) for k, v in data["by_channel"].items()},
            premium_income_fen=int(data["premium_income_fen"]),
            claims=ClaimFigures(available=bool(claims["available"]),
                                accepted=int(claims["accepted"]), paid=int(claims["paid"]),
                                payout_fen=int(claims["payout_fen"]),
                                largest_payout_fen=int(claims["largest_payout_fen"]),
                                # Snapshots stored before the clock was counted lack these.
                                overdue=int(claims.get("overdue", 0)),
                                median_days_to_decision=claims.get("median_days_to_decision"),
                                median_days_to_payment=claims.get("median_days_to_payment")),
            by_district={k: int(v) for k, v in data.get("by_district", {}).items()},
        )


def count_figures(c: Container, product_id: int, at: datetime, *,
                  on_primary: bool = False) -> Figures:
    live = and_(Policy.product_id == product_id, Policy.issued_at <= at,
                or_(Policy.status == PolicyStatus.ACTIVE.value, Policy.cancelled_at > at))
    with consistent_read(c.db, on_primary=on_primary) as session:
        # Grouped by birth date (at most some 40,000 distinct days), so that the age bands
        # follow domain.age_band exactly, 29 February included.
        groups = session.execute(
            select(Person.birth_date, Order.payment_method, func.count())
            .select_from(Policy)
            .join(Person, Person.id == Policy.insured_person_id)
            .join(OrderItem, OrderItem.id == Policy.order_item_id)
            .join(Order, Order.id == OrderItem.order_id)
            .where(live)
            .group_by(Person.birth_date, Order.payment_method)
        ).all()
        id_numbers: Sequence[str] = session.scalars(
            select(Person.id_number).select_from(Policy)
            .join(Person, Person.id == Policy.insured_person_id)
            .where(live)
        ).all()
        premium = session.scalar(
            select(func.coalesce(func.sum(ledger.LedgerEntry.amount_fen), 0))
            .join(ledger.LedgerTransaction,
                  ledger.LedgerTransaction.id == ledger.LedgerEntry.transaction_id)
            .where(ledger.LedgerEntry.account == ledger.premium_income(product_id),
                   ledger.LedgerTransaction.occurred_at <= at)
        ) or 0
        claims = claim_figures(session, product_id, at)

    day = to_china_time(at).date()
    ages: Counter[str] = Counter()
    channels: Counter[str] = Counter()
    for birth_date, payment_method, count in groups:
        ages[age_band(birth_date, day).key] += count
        channels[channel_of(payment_method).value] += count
    return Figures(
        as_of=at, enrolled_total=len(id_numbers), by_scheme=dict(scheme_counts(c, id_numbers)),
        by_age_band=dict(ages), by_channel=dict(channels), premium_income_fen=int(premium),
        claims=claims, by_district=dict(district_counts(c, id_numbers)),
    )


def district_counts(c: Container, id_numbers: Sequence[str]) -> Counter[str]:
    """Insured persons by district: the district the registry records for the person (the one
    whose basic insurance they belong to, which pays a district's subsidies); only for persons
    it has none for (or does not know, or whole batches while it is unreachable) the division
    code their ID number begins with (户籍 at issue, ``district_of``)."""
    counts: Counter[str] = Counter()
    for _batch, found in _asked_in_batches(
            id_numbers, c.registry.district_counts,
            lambda batch: DistrictCounts({}, tuple(batch)), "by ID number prefix"):
        counts.update(found.counts)
        counts.update(district_of(number) for number in found.without_district)
    return counts


@contextmanager
def consistent_read(db: Database, *, on_primary: bool = False) -> Iterator[Session]:
    """A read-only session whose queries all see one snapshot of the database.

    ``Database.read`` runs each statement of a PostgreSQL read session in its own snapshot
    (autocommit), so a policy committed between the grouped count and the ID numbers would be
    in one and not the other. Here PostgreSQL gets one REPEATABLE READ, READ ONLY transaction
    on a connection of its own; on SQLite a read session already is one deferred transaction.

    It runs on the streaming replica when there is one (``Database.read_engine``): a count reads
    every policy of a product, the heaviest read there is, and public figures may be behind by
    the replica's lag (milliseconds to seconds; a policy committed that shortly before the
    count's instant is in the next count). ``on_primary``: a count that is stored as a record
    for good (a day end) must not miss what the replica has not replayed yet.
    """
    if not db.is_postgresql:
        with db.read() as session:
            yield session
        return
    with (db.engine if on_primary else db.read_engine).connect() as connection:
        connection.execution_options(isolation_level="REPEATABLE READ")
        with Session(bind=connection) as session:
            session.execute(text("SET TRANSACTION READ ONLY"))
            # A count reads every policy of a product (seconds at a million): beyond the
            # request limit, which is for the hot path, but still bounded.
            with long_statements(session.connection(), COUNT_STATEMENT_TIMEOUT_SECONDS):
                yield session  # closing the session rolls the read-only transaction back


def scheme_counts(c: Container, id_numbers: Sequence[str]) -> Counter[str]:
    """Insured persons by scheme, as the registry counts them. Persons it does not know, and
    whole batches while it is unreachable, count as "unknown" rather than failing the public
    page."""
    counts: Counter[str] = Counter()
    found: dict[Scheme, int]
    for batch, found in _asked_in_batches(id_numbers, c.registry.scheme_counts,
                                          lambda _batch: {}, "as unknown scheme"):
        for scheme, count in found.items():
            counts[scheme.value] += count
        unknown = len(batch) - sum(found.values())
        if unknown:
            counts[UNKNOWN_SCHEME] += unknown
    return counts


def _asked_in_batches(id_numbers: Sequence[str], ask: Callable[[Sequence[str]], T],
                      unavailable: Callable[[Sequence[str]], T], counted: str
                      ) -> Iterator[tuple[Sequence[str], T]]:
    """The registry's answer for each batch of ID numbers; ``unavailable(batch)`` for a batch
    it cannot answer (logged), so that public figures never fail for it."""
    for start in range(0, len(id_numbers), REGISTRY_BATCH):
        batch = id_numbers[start:start + REGISTRY_BATCH]
        try:
            found = ask(batch)
        except RegistryError:
            log.warning("registry unavailable: %s insured persons counted %s", len(batch),
                        counted)
            found = unavailable(batch)
        yield batch, found
