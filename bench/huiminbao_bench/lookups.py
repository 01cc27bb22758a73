"""``huiminbao bench lookups``: the big tables. With N persons and N policies (default a million
each) loaded by COPY into a scratch database, time what residents and the public ask most:

* a person lookup by ID number (the product's ``people`` row and the registry's answer);
* a resident's policy list (``GET /api/v1/policies`` through the app, bearer token);
* the disclosure figures (``GET /api/v1/disclosure/{product_id}``, JSON and CSV), answered from
  the stored count of the figures; and the count behind them, which ``huiminbao disclosure
  refresh`` makes every minute or two (and a request makes when the stored one is too old),
  together with a count as of a stated instant (``?as_of=``), which is made on demand.

Figures are reported, not asserted: this is a benchmark, not a timed test.
"""

from __future__ import annotations

import random
import secrets
import statistics
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import quote

from sqlalchemy import func, select, text

from huiminbao_bench.bigtables import load_enrolled
from huiminbao_bench.database import ScratchDatabase

LOAD_STATEMENT_TIMEOUT_SECONDS = 600.0
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


def run(*, persons: int, samples: int, database_url: str, keep_database: bool,
        echo: Callable[[str], None]) -> None:
    from huiminbao.app import build_container, create_app
    from huiminbao.catalog.demo import ensure_demo_product
    from huiminbao.core.clock import SystemClock
    from huiminbao.core.config import Mode, Settings

    database = ScratchDatabase.parse(database_url, suffix="_lookups")
    clock = SystemClock()
    echo(f"· creating database {database.name}")
    database.recreate()
    try:
        database.migrate()
        # In process on the demo wiring (reads only: no port is called), the system clock.
        # The load's COPY statements take longer than a request's statement limit on a busy
        # machine: the batch limit, as for any command (HUIMINBAO_DB_STATEMENT_TIMEOUT).
        settings = Settings(mode=Mode.DEMO, database_url=database.sqlalchemy_url,
                            secret_key=secrets.token_urlsafe(48), testing=True,
                            db_statement_timeout=LOAD_STATEMENT_TIMEOUT_SECONDS)
        wired = build_container(settings, clock=clock)
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
            app = create_app(container=wired)
            _measure(wired, app, product.id, samples, echo)
        finally:
            wired.db.dispose()
    finally:
        if keep_database:
            echo(f"· kept database {database.name}")
        else:
            database.drop()


def _measure(wired: Any, app: Any, product_id: int, samples: int,
             echo: Callable[[str], None]) -> None:
    from huiminbao.identity.domain import SESSION_TTL
    from huiminbao.identity.models import AuthSession, Person, UserAccount

    rng = random.Random(7)  # noqa: S311 - picks sample rows, nothing secret
    with wired.db.read() as session:
        top = int(session.scalar(select(func.max(Person.id))) or 0)
        low = int(session.scalar(select(func.min(Person.id))) or 0)
        picked_ids = [rng.randint(low, top) for _ in range(samples)]
        sample_people = session.execute(
            select(Person.id, Person.id_number, UserAccount.id)
            .join(UserAccount, UserAccount.person_id == Person.id)
            .where(Person.id.in_(picked_ids))).all()
    id_numbers = [row[1] for row in sample_people]
    now = wired.clock.now()
    with wired.db.transaction() as session:
        auth_sessions = [AuthSession(account_id=account_id, cookie_token_hash=secrets.token_hex(32),
                                     csrf_token=secrets.token_urlsafe(24), method="sms",
                                     authenticated_at=now, expires_at=now + SESSION_TTL)
                         for _person_id, _id_number, account_id in sample_people]
        session.add_all(auth_sessions)
        session.flush()
        tokens = [wired.tokens.issue(s.account_id, s.id)[0] for s in auth_sessions]
    count = len(sample_people)
    echo("")
    echo(f"Timings on {wired.db.engine.url.database} (in-process, one client, warm cache):")

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

    for label, action, runs in (
            ("person by ID number (people)", person_row, count),
            ("person by ID number (registry port)", registry_person, count),
            ("GET /api/v1/policies (one resident)", policy_list, count)):
        action(0)  # warm-up
        echo(_summary(label, _timed(runs, action)))
    _disclosure(wired, client, product_id, count, echo)
    _explain(wired, product_id, id_numbers[0], sample_people[0][0], echo)


def _disclosure(wired: Any, client: Any, product_id: int, samples: int,
                echo: Callable[[str], None]) -> None:
    """The count first (as the cron job makes it), then the endpoint answering from it."""
    from huiminbao.disclosure import snapshots

    counted: list[int] = []

    def count(_index: int) -> None:
        figures = snapshots.refresh(wired, product_id)
        counted.append(figures.enrolled_total)

    echo(_summary("disclosure count (disclosure refresh)", _timed(COUNT_SAMPLES, count)))

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
    for label, path in (("GET /api/v1/disclosure/{product_id}", f"/api/v1/disclosure/{product_id}"),
                        ("GET /api/v1/disclosure/{product_id}.csv",
                         f"/api/v1/disclosure/{product_id}.csv")):
        get(path)(samples)  # warm-up
        echo(_summary(label, _timed(samples, get(path))))
    echo(f"    (answered from the count as of {figures['as_of']}: {figures['enrolled']['total']:,} "
         f"enrolled; counted again when older than {snapshots.MAX_AGE})")
    _as_of(wired, product_id, samples, get, echo)


def _as_of(wired: Any, product_id: int, samples: int,
           get: Callable[[str], Callable[[int], None]], echo: Callable[[str], None]) -> None:
    """As of a day end (the stored figures of yesterday, China time) against as of an instant
    of today (counted on request), in one run: their ratio."""
    from datetime import timedelta

    from huiminbao.core.clock import to_china_time
    from huiminbao.disclosure import snapshots

    now = wired.clock.now()
    day = to_china_time(now - snapshots.DAY_END_SETTLE).date() - timedelta(days=1)
    if snapshots.stored_day_end(wired, product_id, day) is None:
        echo(_summary(f"day-end count of {day} (stored once)",
                      _timed(1, lambda _index: snapshots.store_day_end(wired, product_id, day))))
    path = f"/api/v1/disclosure/{product_id}?as_of="
    day_end = get(path + quote(snapshots.day_end(day).isoformat()))
    day_end(samples)  # warm-up
    stored = _timed(samples, day_end)
    echo(_summary("GET /disclosure/{id}?as_of=<day end> stored", stored))
    midday = get(path + quote((now - timedelta(minutes=1)).isoformat()))
    counted = _timed(COUNT_SAMPLES, lambda index: midday(samples + 1 + index))
    echo(_summary("GET /disclosure/{id}?as_of=<mid-day> counted", counted))
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
    queries = {
        "person by ID number": ("SELECT * FROM people WHERE id_number = :v", {"v": id_number}),
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

