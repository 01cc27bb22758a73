"""``huiminbao bench lookups``: the big tables. With N persons and N policies (default a million
each) loaded by COPY into a scratch database, time what residents and the public ask most:

* a person lookup by ID number (the product's ``people`` row and the registry's answer);
* a resident's policy list (``GET /api/v1/policies`` through the app, bearer token);
* the disclosure figures (``GET /api/v1/disclosure/{product_id}``, JSON and CSV), answered from
  the stored count of the figures; and the count behind them, which ``huiminbao disclosure
  refresh`` makes every minute or two (and a request makes when the stored one is too old),
  together with a count as of a stated instant (``?as_of=``), which is made on demand.

With ``--replica`` it runs on a scratch primary and a streaming hot standby of its own
(``huiminbao_bench.replica``), the app reading from the standby where it does in production
(``Database.replica_read``), and says for each kind of lookup how many transactions the
benchmark's database ran on each server meanwhile: where it was served, as the servers count it.

Figures are reported, not asserted: this is a benchmark, not a timed test.
"""

from __future__ import annotations

import random
import secrets
import statistics
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import partial
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from sqlalchemy import create_engine, func, select, text

from huiminbao_bench.bigtables import load_enrolled
from huiminbao_bench.database import ScratchDatabase
from huiminbao_bench.replica import ClusterPair, cluster_pair, wait_for_replay

if TYPE_CHECKING:
    from huiminbao.core.db import Database

LOAD_STATEMENT_TIMEOUT_SECONDS = 600.0
LOAD_REPLAY_WAIT_SECONDS = 600.0
BACKENDS_GONE_SECONDS = 10.0
# With --replica: the scratch pair's database, and settings like the machine's own server's.
# Autovacuum is off as there (the load runs ANALYZE itself): a worker's transactions in the
# benchmark's database would be counted as the app's.
PAIR_DATABASE = "huiminbao_bench"
PAIR_PRIMARY_SETTINGS: Mapping[str, str] = {"shared_buffers": "128MB", "autovacuum": "off"}
# The count of the figures reads for seconds on the standby: the primary keeps the rows it
# reads rather than have replay cancel it.
PAIR_STANDBY_SETTINGS: Mapping[str, str] = {"hot_standby_feedback": "on"}
COUNT_SAMPLES = 2  # a count of the figures reads every live policy: seconds at a million


def _timed(samples: int, action: Callable[[int], Any]) -> list[float]:
    timings = []
    for index in range(samples):
        started = time.perf_counter()
        action(index)
        timings.append((time.perf_counter() - started) * 1000)
    return timings


def _summary(label: str, timings: list[float]) -> str:
    ordered = sorted(timings)
    p95 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.95))]
    return (f"  {label:<44} median {statistics.median(ordered):8.2f} ms   p95 {p95:8.2f} ms   "
            f"max {ordered[-1]:8.2f} ms   ({len(ordered)} samples)")


@dataclass(frozen=True)
class Served:
    """Transactions (commits and rollbacks, ``pg_stat_database``) that the benchmark's database
    ran on each cluster while one kind of lookup ran: where it was served, as the servers count
    it. ``lookups`` includes the warm-up."""

    primary: int
    replica: int
    lookups: int
    warm_up: bool  # one of the lookups was the warm-up

    def line(self) -> str:
        return (f"    served by: replica {self.replica:,} transactions, primary {self.primary:,}"
                f" - a lookup {self.replica / self.lookups:.1f} / {self.primary / self.lookups:.1f}"
                f" ({self.lookups} lookups{', the warm-up included' if self.warm_up else ''})")


@dataclass(frozen=True)
class Lookup:
    key: str  # stable, for tests: person_row, registry_person, policy_list, …
    label: str
    timings: list[float]
    served: Served | None  # None: no replica, every read on the one database

    def lines(self) -> list[str]:
        return [_summary(self.label, self.timings)] + (
            [] if self.served is None else [self.served.line()])


@dataclass
class Report:
    lookups: list[Lookup] = field(default_factory=list)

    def by_key(self) -> dict[str, Lookup]:
        return {lookup.key: lookup for lookup in self.lookups}


class _Watch:
    """Without a replica: nothing to count, nothing to wait for."""

    def counted(self, lookups: int, warm_up: bool, action: Callable[[], list[float]]
                ) -> tuple[list[float], Served | None]:
        return action(), None

    def replayed(self) -> None:
        """Before a replica read of what the benchmark itself just wrote on the primary."""


class _PairWatch(_Watch):
    """Counts the transactions of ``database`` on both clusters around each kind of lookup.

    A backend adds its transactions to ``pg_stat_database`` at most once a second while it is
    busy and within seconds once idle, but always when it exits: so before and after each kind
    the app's pooled connections are closed and the count is read once their backends are gone.
    The counting connections use the ``postgres`` database: they are not counted."""

    def __init__(self, pair: ClusterPair, database: str, db: Database) -> None:
        self._pair, self._database, self._db = pair, database, db
        self._monitors = [create_engine(url, isolation_level="AUTOCOMMIT")
                          for url in (pair.primary_url, pair.replica_url)]

    def counted(self, lookups: int, warm_up: bool, action: Callable[[], list[float]]
                ) -> tuple[list[float], Served | None]:
        before = self._transactions()
        timings = action()
        primary, replica = (after - earlier for after, earlier
                            in zip(self._transactions(), before, strict=True))
        return timings, Served(primary=primary, replica=replica, lookups=lookups,
                               warm_up=warm_up)

    def replayed(self) -> None:
        wait_for_replay(self._pair)

    def _transactions(self) -> list[int]:
        self._db.dispose()
        deadline = time.monotonic() + BACKENDS_GONE_SECONDS
        counts = []
        for monitor in self._monitors:
            with monitor.connect() as conn:
                while conn.scalar(text("SELECT count(*) FROM pg_stat_activity WHERE datname = :d"),
                                  {"d": self._database}):
                    if time.monotonic() > deadline:
                        raise RuntimeError(f"connections to {self._database} did not close")
                    time.sleep(0.02)
                counts.append(int(conn.scalar(text(
                    "SELECT xact_commit + xact_rollback FROM pg_stat_database "
                    "WHERE datname = :d"), {"d": self._database}) or 0))
        return counts

    def dispose(self) -> None:
        for monitor in self._monitors:
            monitor.dispose()


def run(*, persons: int, samples: int, database_url: str, keep_database: bool,
        echo: Callable[[str], None], replica: bool = False) -> Report:
    """With ``replica``, on a scratch primary and hot standby of its own (``database_url`` is
    not used), the app configured with the standby as ``HUIMINBAO_REPLICA_DATABASE_URL``."""
    if not replica:
        return _run_on(ScratchDatabase.parse(database_url, suffix="_lookups"), None,
                       persons=persons, samples=samples, keep_database=keep_database, echo=echo)
    echo("· starting a scratch primary and a hot standby (pg_basebackup -R -X stream)")
    with cluster_pair(primary_settings=PAIR_PRIMARY_SETTINGS,
                      standby_settings=PAIR_STANDBY_SETTINGS) as pair:
        echo(f"  primary on port {pair.primary_port}, standby on port {pair.replica_port}")
        database = ScratchDatabase.parse(pair.url_of(PAIR_DATABASE), suffix="_lookups")
        return _run_on(database, pair, persons=persons, samples=samples, keep_database=False,
                       echo=echo)


def _run_on(database: ScratchDatabase, pair: ClusterPair | None, *, persons: int, samples: int,
            keep_database: bool, echo: Callable[[str], None]) -> Report:
    from huiminbao.app import build_container, create_app
    from huiminbao.catalog.demo import ensure_demo_product
    from huiminbao.core.clock import SystemClock
    from huiminbao.core.config import Mode, Settings

    clock = SystemClock()
    echo(f"· creating database {database.name}")
    database.recreate()
    try:
        database.migrate()
        # In process on the demo wiring (reads only: no port is called), the system clock.
        # The load's COPY statements take longer than a request's statement limit on a busy
        # machine: the batch limit, as for any command (HUIMINBAO_DB_STATEMENT_TIMEOUT).
        settings = Settings(mode=Mode.DEMO, database_url=database.sqlalchemy_url,
                            replica_database_url=None if pair is None
                            else pair.url_of(database.name, replica=True),
                            secret_key=secrets.token_urlsafe(48), testing=True,
                            db_statement_timeout=LOAD_STATEMENT_TIMEOUT_SECONDS)
        wired = build_container(settings, clock=clock)
        watch = _Watch() if pair is None else _PairWatch(pair, database.name, wired.db)
        try:
            product = ensure_demo_product(wired.db, clock)
            with wired.db.read() as session:
                from huiminbao.catalog.models import Product

                loaded_product = session.get(Product, product.id)
                assert loaded_product is not None
                _ = loaded_product.tiers, loaded_product.terms
            echo(f"· loading {persons:,} enrolled persons (registry row, person, account, order, "
                 "item, policy, ledger transaction and entries) with COPY")
            report = load_enrolled(wired.db, clock, loaded_product, persons, echo=echo)
            echo(f"  loaded in {report.total_s:.1f} s (generate {report.seconds['generate']:.1f} "
                 f"s, ANALYZE {report.seconds['analyze']:.1f} s)")
            if pair is not None:
                started = time.monotonic()
                wait_for_replay(pair, timeout_s=LOAD_REPLAY_WAIT_SECONDS)
                echo(f"  the standby replayed the load {time.monotonic() - started:.1f} s "
                     "after it ended")
            app = create_app(container=wired)
            return _measure(wired, app, product.id, samples, watch, echo)
        finally:
            if isinstance(watch, _PairWatch):
                watch.dispose()
            wired.db.dispose()
    finally:
        if keep_database:
            echo(f"· kept database {database.name}")
        else:
            database.drop()


def _lookup(report: Report, watch: _Watch, echo: Callable[[str], None], key: str, label: str,
            runs: int, action: Callable[[int], Any], warm_up: Callable[[], Any] | None) -> None:
    def warm_and_time() -> list[float]:
        if warm_up is not None:
            warm_up()
        return _timed(runs, action)

    timings, served = watch.counted(runs + (warm_up is not None), warm_up is not None,
                                    warm_and_time)
    lookup = Lookup(key, label, timings, served)
    report.lookups.append(lookup)
    for line in lookup.lines():
        echo(line)


def _measure(wired: Any, app: Any, product_id: int, samples: int, watch: _Watch,
             echo: Callable[[str], None]) -> Report:
    from huiminbao.enrollment.models import Policy
    from huiminbao.identity.domain import SESSION_TTL
    from huiminbao.identity.models import AuthSession, Person, UserAccount

    rng = random.Random(7)  # noqa: S311 - picks sample rows, nothing secret
    with wired.db.read() as session:
        top = int(session.scalar(select(func.max(Person.id))) or 0)
        low = int(session.scalar(select(func.min(Person.id))) or 0)
        picked_ids = [rng.randint(low, top) for _ in range(samples)]
        sample_people = session.execute(
            select(Person.id, Person.id_number, UserAccount.id, Policy.policy_no)
            .join(UserAccount, UserAccount.person_id == Person.id)
            .join(Policy, Policy.insured_person_id == Person.id)
            .where(Person.id.in_(picked_ids))).all()
    id_numbers = [row[1] for row in sample_people]
    policy_numbers = [row[3] for row in sample_people]
    now = wired.clock.now()
    with wired.db.transaction() as session:
        auth_sessions = [AuthSession(account_id=account_id, cookie_token_hash=secrets.token_hex(32),
                                     csrf_token=secrets.token_urlsafe(24), method="sms",
                                     authenticated_at=now, expires_at=now + SESSION_TTL)
                         for _person_id, _id_number, account_id, _no in sample_people]
        session.add_all(auth_sessions)
        session.flush()
        tokens = [wired.tokens.issue(s.account_id, s.id)[0] for s in auth_sessions]
    count = len(sample_people)
    report = Report()
    echo("")
    echo(f"Timings on {wired.db.engine.url.database} (in-process, one client, warm cache)"
         + ("" if wired.db.replica_engine is None else
            ", reading from a streaming replica where the app does. Where each kind was served, "
            "as each server counts it (pg_stat_database): transactions of the database, a read "
            "session's statements one each (autocommit), and a pool checkout's pre-ping")
         + ":")

    def person_row(index: int) -> None:
        with wired.db.read() as session:
            found = session.scalars(select(Person).where(
                Person.id_number_is(id_numbers[index]))).one()
            assert found is not None

    def registry_person(index: int) -> None:
        assert wired.registry.find_person(id_numbers[index]) is not None

    client = app.test_client()

    def policy_list(index: int) -> None:
        response = client.get("/api/v1/policies",
                              headers={"Authorization": f"Bearer {tokens[index]}"})
        assert response.status_code == 200, response.get_json()
        assert len(response.get_json()["items"]) == 1

    def one_policy(index: int) -> None:
        response = client.get(f"/api/v1/policies/{policy_numbers[index]}",
                              headers={"Authorization": f"Bearer {tokens[index]}"})
        assert response.status_code == 200, response.get_json()

    for key, label, action in (
            ("person_row", "person by ID number (people)", person_row),
            ("registry_person", "person by ID number (registry port)", registry_person),
            ("policy_list", "GET /api/v1/policies (one resident)", policy_list),
            ("one_policy", "GET /api/v1/policies/{policy_no}", one_policy)):
        _lookup(report, watch, echo, key, label, count, action, partial(action, 0))
    _disclosure(wired, client, product_id, count, report, watch, echo)
    _explain(wired, product_id, id_numbers[0], sample_people[0][0], echo)
    return report


def _disclosure(wired: Any, client: Any, product_id: int, samples: int, report: Report,
                watch: _Watch, echo: Callable[[str], None]) -> None:
    """The count first (as the cron job makes it), then the endpoint answering from it."""
    from huiminbao.disclosure import snapshots

    counted: list[int] = []

    def count(_index: int) -> None:
        figures = snapshots.refresh(wired, product_id)
        counted.append(figures.enrolled_total)

    _lookup(report, watch, echo, "disclosure_count", "disclosure count (disclosure refresh)",
            COUNT_SAMPLES, count, None)
    watch.replayed()  # the stored count, read from the replica below

    def get(path: str) -> Callable[[int], None]:
        def action(index: int) -> None:
            # One visitor per sample, as on the public page: the per-IP rate limit (120 a
            # minute) is not what is measured.
            response = client.get(path, environ_base={
                "REMOTE_ADDR": f"10.{index // 65_025 % 250}.{index // 255 % 255}.{index % 255}"})
            assert response.status_code == 200, response.get_data(as_text=True)[:200]
        return action

    figures = client.get(f"/api/v1/disclosure/{product_id}").get_json()
    assert figures["enrolled"]["total"] == counted[-1], "the endpoint must answer the count"
    for key, label, path in (
            ("disclosure_json", "GET /api/v1/disclosure/{product_id}",
             f"/api/v1/disclosure/{product_id}"),
            ("disclosure_csv", "GET /api/v1/disclosure/{product_id}.csv",
             f"/api/v1/disclosure/{product_id}.csv")):
        _lookup(report, watch, echo, key, label, samples, get(path), partial(get(path), samples))
    echo(f"    (answered from the count as of {figures['as_of']}: {figures['enrolled']['total']:,} "
         f"enrolled; counted again when older than {snapshots.MAX_AGE})")
    _as_of(wired, product_id, samples, get, report, watch, echo)


def _as_of(wired: Any, product_id: int, samples: int,
           get: Callable[[str], Callable[[int], None]], report: Report, watch: _Watch,
           echo: Callable[[str], None]) -> None:
    """As of a day end (the stored figures of yesterday, China time) against as of an instant
    of today (counted on request), in one run: their ratio."""
    from datetime import timedelta

    from huiminbao.core.clock import to_china_time
    from huiminbao.disclosure import snapshots

    now = wired.clock.now()
    day = to_china_time(now - snapshots.DAY_END_SETTLE).date() - timedelta(days=1)
    if snapshots.stored_day_end(wired, product_id, day) is None:
        _lookup(report, watch, echo, "day_end_store", f"day-end count of {day} (stored once)", 1,
                lambda _index: snapshots.store_day_end(wired, product_id, day), None)
        watch.replayed()  # the stored day end, read from the replica below
    path = f"/api/v1/disclosure/{product_id}?as_of="
    day_end = get(path + quote(snapshots.day_end(day).isoformat()))
    _lookup(report, watch, echo, "as_of_day_end", "GET /disclosure/{id}?as_of=<day end> stored",
            samples, day_end, lambda: day_end(samples))
    midday = get(path + quote((now - timedelta(minutes=1)).isoformat()))
    _lookup(report, watch, echo, "as_of_counted", "GET /disclosure/{id}?as_of=<mid-day> counted",
            COUNT_SAMPLES, lambda index: midday(samples + 1 + index), None)
    found = report.by_key()
    stored, counted = found["as_of_day_end"].timings, found["as_of_counted"].timings
    echo(f"    as of a day end (stored) vs mid-day (counted), median: "
         f"{statistics.median(counted) / statistics.median(stored):,.0f} x faster")


# The count's grouped query (disclosure.figures.count_figures), as SQL, for EXPLAIN.
COUNT_GROUPED = """
SELECT pe.birth_date, o.payment_method, count(*)
FROM policies p
JOIN people pe ON pe.id = p.insured_person_id
JOIN order_items oi ON oi.id = p.order_item_id
JOIN orders o ON o.id = oi.order_id
WHERE p.product_id = :product_id AND p.issued_at <= now()
  AND (p.status = 'active' OR p.cancelled_at > now())
GROUP BY pe.birth_date, o.payment_method
"""


def _explain(wired: Any, product_id: int, id_number: str, person_id: int,
             echo: Callable[[str], None]) -> None:
    from huiminbao.core.crypto import blind_index

    queries = {
        # As the app looks a person up: by the blind index (the ID number itself is sealed).
        "person by ID number": ("SELECT * FROM people WHERE id_number_index = :v",
                                {"v": blind_index(id_number)}),
        "policy list": ("SELECT * FROM policies WHERE insured_person_id = :v OR "
                        "holder_person_id = :v ORDER BY issued_at DESC, id DESC",
                        {"v": person_id}),
        "disclosure (the stored count)": (
            "SELECT * FROM disclosure_snapshots WHERE product_id = :v", {"v": product_id}),
        "disclosure count, grouped": (COUNT_GROUPED, {"product_id": product_id}),
    }
    echo("")
    echo("EXPLAIN ANALYZE (plan heads):")
    with wired.db.read() as session:
        for label, (sql, params) in queries.items():
            plan = [row[0] for row in session.execute(
                text(f"EXPLAIN (ANALYZE, BUFFERS) {sql}"), params)]
            echo(f"  {label}:")
            for line in plan[:8]:
                echo(f"    {line}")
            echo(f"    … {plan[-1].strip()}")

