"""``huiminbao bench enrollment``: the enrollment rush on one machine, with two baselines.

1. A fresh PostgreSQL database gets the schema, N synthetic insured persons with accounts
   (``registry.generator.generate_population``) and the open demo product.
2. ``huiminbao serve`` starts in production mode (generated secret key, Redis db flushed).
3. wrk measures ``GET /api/v1/health`` (framework + one database round trip): the baseline.
4. A pool of eligible persons is bound and signed in at the service level; every pool member
   enrolls exactly once, with a key of its own, in a warm-up and then in the storm.
5. The server stops; pgbench measures PostgreSQL's TPC-B-like rate in a scratch database.
6. ``huiminbao reconcile`` runs against the benchmark database, and the answers are counted
   against the database: every 201 is one issued order, one active policy, one debit.

Every wait is bounded (durations, timeouts); all traffic goes to 127.0.0.1.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import platform
import secrets
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psycopg
from sqlalchemy import create_engine, func, select, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.pool import NullPool

from huiminbao.core.config import REPO_ROOT
from huiminbao_bench import loadgen, pgbench, procs, registry_server, server
from huiminbao_bench.database import BenchSetupError, ScratchDatabase
from huiminbao_bench.pool import PoolMember, one_click_body, sign_in_pool

# Issue 20: an enrollment may cost at most six health checks of CPU (app server and PostgreSQL
# together, per answered request). Latency is judged open-loop (``bench open-loop``): a closed
# loop's p99 is its concurrency divided by its throughput.
TARGET_CPU_RATIO = 6.0
# The registry stand-in's database connections name themselves, so that its backends (the city
# bridge's work, not ours) are counted apart from the app's.
REGISTRY_APPLICATION = "huiminbao-registry-standin"
WARMUP_HEALTH_S = 3
WARMUP_ENROLL_S = 3
POOL_SAFETY = 0.75  # of the health rate, for the warm-up's pool
POOL_STORM_MARGIN = 2.0  # times the warm-up's enrollment rate, for the storm's pool
RECONCILE_TIMEOUT_S = 300


@dataclass(frozen=True)
class Options:
    persons: int = 100_000
    pool: int = 0  # 0: sized from the health baseline
    duration_s: int = 30
    health_duration_s: int = 10
    concurrency: int = 64
    model: server.WorkerModel = field(
        default_factory=lambda: server.WorkerModel("gthread", 2, 4))
    database_url: str = ""
    redis_url: str = "redis://127.0.0.1:6379/15"
    pgbench_duration_s: int = 10
    pgbench_clients: int = 8
    keep_database: bool = False
    seed: int = 0
    database_suffix: str = ""  # another benchmark's scratch database beside the default one


@dataclass
class Report:
    options: Options
    started_at: datetime
    lines: list[str] = field(default_factory=list)
    figures: dict[str, Any] = field(default_factory=dict)
    passed: dict[str, bool] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return all(self.passed.values())


def _step(echo: Callable[[str], None], message: str) -> float:
    echo(f"· {message}")
    return time.monotonic()


@dataclass
class Prepared:
    """A benchmark database with its population and open product, and the wired services."""

    database: ScratchDatabase
    settings: Any
    wired: Any
    product_id: int
    eligible: int
    registry_pid: int  # the registry stand-in's gunicorn master (registry_server.py)


@contextmanager
def prepared(options: Options, report: Report, echo: Callable[[str], None],
             *, pgbench_after: bool = True) -> Iterator[Prepared]:
    """Steps 1 (database, population, product) and, after the block, 5 and 6 (pgbench unless
    ``pgbench_after`` is false, reconcile); the database is dropped at the end."""
    from huiminbao.app import build_container
    from huiminbao.catalog.demo import ensure_demo_product
    from huiminbao.registry.generator import generate_population
    from huiminbao.standins import LocalServices, production_settings

    database = ScratchDatabase.parse(options.database_url, suffix=options.database_suffix)
    secret_key = secrets.token_urlsafe(48)
    _flush_redis(options.redis_url)

    started = _step(echo, f"creating database {database.name} and its schema")
    database.recreate()
    services: LocalServices | None = None
    standin: registry_server.RegistryProcess | None = None
    try:
        database.migrate()
        # Production runs on real services only: the registry is reached over its protocol
        # (a stand-in server on this database), as a city's bridge would be.
        services = LocalServices.start(database.with_application_name(REGISTRY_APPLICATION))
        # The registry a city's bridge would be: a process of its own (registry_server.py).
        standin = registry_server.start(database.with_application_name(REGISTRY_APPLICATION),
                                        services.registry.sender_id, services.registry.keys,
                                        Path(tempfile.gettempdir()))
        settings = production_settings(database.sqlalchemy_url, services,
                                       redis_url=options.redis_url, secret_key=secret_key)
        settings = dataclasses.replace(settings, port_env={
            **settings.port_env, "HUIMINBAO_REGISTRY_URL": standin.url})
        wired = build_container(settings)
        try:
            started = _step(echo, f"generating {options.persons:,} insured persons with accounts")
            generate_population(wired.db, wired.clock, options.persons, seed=options.seed)
            report.figures["generate_s"] = time.monotonic() - started
            product = ensure_demo_product(wired.db, wired.clock)
            _settle_after_loading(database.sqlalchemy_url, echo)
            eligible = _count_eligible(wired, product.id)
            report.figures["eligible"] = eligible
            echo(f"  {options.persons:,} persons in {report.figures['generate_s']:.1f} s; "
                 f"{eligible:,} can enroll themselves from their personal account")
            yield Prepared(database, settings, wired, product.id, eligible, standin.process.pid)
        finally:
            wired.db.dispose()
        if pgbench_after:
            _step(echo, "pgbench baseline on the same PostgreSQL")
            report.figures["pgbench"] = pgbench.run(
                database.sibling("_pgbench"), clients=options.pgbench_clients,
                duration_s=options.pgbench_duration_s)
        _step(echo, "huiminbao reconcile against the benchmark database")
        _reconcile(settings, report)
    finally:
        if standin is not None:
            registry_server.stop(standin)
        if services is not None:
            services.stop()
        if options.keep_database:
            echo(f"· kept database {database.name}")
        else:
            database.drop()


def run(options: Options, echo: Callable[[str], None]) -> Report:
    loadgen.wrk_path()
    pgbench.pgbench_path()
    report = Report(options, datetime.now(UTC))
    with prepared(options, report, echo) as ready:
        _run_storm(options, ready, report, echo)
    _judge(report)
    return report


def _flush_redis(url: str) -> None:
    import redis

    try:
        client = redis.Redis.from_url(url, socket_timeout=5)
        client.flushdb()
        client.close()
    except redis.RedisError as exc:
        raise BenchSetupError(f"Redis at {url} does not answer: {exc}") from exc


def _settle_after_loading(url: str, echo: Callable[[str], None]) -> None:
    """Vacuum, analyze and checkpoint after the bulk load, as pgbench vacuums before it runs:
    the measurements then see the tables as a running service has them, not autovacuum's first
    pass over freshly loaded tables or the checkpoint the load's WAL would trigger mid-run.
    On an engine of its own, without the app's statement limit: VACUUM reads whole tables."""
    engine = create_engine(url, poolclass=NullPool)
    try:
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
            connection.execute(text("VACUUM (ANALYZE)"))
            try:
                connection.execute(text("CHECKPOINT"))
            except DBAPIError as exc:
                if not isinstance(exc.orig, psycopg.errors.InsufficientPrivilege):
                    raise
                echo("  (CHECKPOINT is not allowed for this role: measuring without it)")
    finally:
        engine.dispose()


def _count_eligible(wired: Any, product_id: int) -> int:
    from huiminbao.catalog.models import Product
    from huiminbao_bench.pool import eligible_persons

    with wired.db.read() as session:
        product = session.get(Product, product_id)
        assert product is not None
        _ = product.tiers
        return len(eligible_persons(session, product, 10_000_000))


def _run_storm(options: Options, ready: Prepared, report: Report,
               echo: Callable[[str], None]) -> None:
    from huiminbao.catalog.models import Product

    database, settings, wired = ready.database, ready.settings, ready.wired
    product_id, eligible = ready.product_id, ready.eligible

    with wired.db.read() as session:
        product = session.get(Product, product_id)
        assert product is not None
        body = one_click_body(product)

    with tempfile.TemporaryDirectory(prefix="huiminbao-bench-") as raw_workdir:
        workdir = Path(raw_workdir)
        script = loadgen.write_script(workdir)
        env = server.server_env(database.sqlalchemy_url, options.redis_url, settings.secret_key,
                                settings.port_env)
        _step(echo, f"starting huiminbao serve ({options.model}, production mode)")
        app_server = server.start(options.model, env, workdir)
        try:
            _step(echo, f"health baseline: wrk, {options.concurrency} connections, "
                        f"{options.health_duration_s} s (after {WARMUP_HEALTH_S} s warm-up)")
            loadgen.run_wrk("warm-up", app_server.base_url, script=script,
                            duration_s=WARMUP_HEALTH_S, concurrency=options.concurrency)
            health, health_cpu = _measure(app_server, ready, lambda: loadgen.run_wrk(
                "health", app_server.base_url, script=script,
                duration_s=options.health_duration_s, concurrency=options.concurrency))
            report.figures["health"] = health
            report.figures["health_cpu"] = health_cpu

            run_id = secrets.token_hex(4)
            # The warm-up's pool is sized from the health rate (an enrollment is never faster
            # than a health check); the storm's from the warm-up's own enrollment rate, twice
            # over. A pool that runs out anyway shows as filler and fails the run's checks.
            warm_wanted = math.ceil(health.throughput * WARMUP_ENROLL_S * POOL_SAFETY) \
                + options.concurrency
            warm_members = _sign_in(wired, product_id, warm_wanted, eligible, report, echo)
            _step(echo, f"enrollment warm-up: {WARMUP_ENROLL_S} s")
            warm_file = loadgen.write_requests(workdir, "warm", _lines(warm_members, run_id),
                                               body)
            warm = loadgen.run_wrk("enrollment warm-up", app_server.base_url, script=script,
                                   duration_s=WARMUP_ENROLL_S, concurrency=options.concurrency,
                                   requests_file=warm_file[0], body_file=warm_file[1])
            storm_wanted = options.pool or math.ceil(
                max(warm.throughput, 1.0) * options.duration_s * POOL_STORM_MARGIN
            ) + 4 * options.concurrency
            storm_members = _sign_in(wired, product_id, storm_wanted,
                                     eligible - len(warm_members), report, echo)
            storm_file = loadgen.write_requests(workdir, "storm", _lines(storm_members, run_id),
                                                body)
            _step(echo, f"enrollment storm: wrk, {options.concurrency} connections, "
                        f"{options.duration_s} s, one distinct person and Idempotency-Key per "
                        "request")
            storm, cpu = _measure(app_server, ready, lambda: loadgen.run_wrk(
                "enrollment", app_server.base_url, script=script,
                duration_s=options.duration_s, concurrency=options.concurrency,
                requests_file=storm_file[0], body_file=storm_file[1]))
            report.figures["warm"] = warm
            report.figures["enrollment"] = storm
            report.figures["cpu"] = cpu
        finally:
            server.stop(app_server)
            report.figures["server_log_tail"] = app_server.log_tail(1500)
        report.figures["db_counts"] = _db_counts(wired)


def _sign_in(wired: Any, product_id: int, wanted: int, available: int, report: Report,
             echo: Callable[[str], None]) -> list[PoolMember]:
    if wanted > available:
        echo(f"  the pool is capped at the {available:,} eligible persons left (wanted "
             f"{wanted:,}); raise --persons for a longer storm")
    started = _step(echo, f"signing in {min(wanted, available):,} persons ahead (accounts, "
                          "consents, sessions, bearer tokens)")
    members = sign_in_pool(wired, product_id, wanted)
    seconds = time.monotonic() - started
    report.figures["pool"] = report.figures.get("pool", 0) + len(members)
    report.figures["pool_s"] = report.figures.get("pool_s", 0.0) + seconds
    echo(f"  {len(members):,} signed in in {seconds:.1f} s")
    return members


def _lines(members: list[PoolMember], run_id: str) -> list[tuple[str, str]]:
    return [(member.token, f"bench-{run_id}-{member.account_id}") for member in members]


def _measure(app_server: server.AppServer, ready: Prepared,
             action: Callable[[], loadgen.LoadResult]) -> tuple[loadgen.LoadResult, procs.CpuUse]:
    database = ready.database
    registry = database.backend_pids(REGISTRY_APPLICATION)
    before = procs.sample(app_server.process.pid, database.name, ready.registry_pid)
    started = time.monotonic()
    result = action()
    wall = time.monotonic() - started
    after = procs.sample(app_server.process.pid, database.name, ready.registry_pid)
    registry |= database.backend_pids(REGISTRY_APPLICATION)
    return result, procs.between(before, after, wall, result.loadgen_cpu_s, registry)


def _db_counts(wired: Any) -> dict[str, int]:
    from huiminbao.enrollment.models import Order, Policy
    from huiminbao.registry.models import RegistryAccountEntryRow

    with wired.db.read() as session:
        return {
            "orders_issued": int(session.scalar(select(func.count()).select_from(Order)
                                                .where(Order.status == "issued")) or 0),
            "orders_other": int(session.scalar(select(func.count()).select_from(Order)
                                               .where(Order.status != "issued")) or 0),
            "policies_active": int(session.scalar(select(func.count()).select_from(Policy)
                                                  .where(Policy.status == "active")) or 0),
            "debits": int(session.scalar(select(func.count()).select_from(RegistryAccountEntryRow)
                                         .where(RegistryAccountEntryRow.kind == "debit")) or 0),
        }


def _reconcile(settings: Any, report: Report) -> None:
    env = server.server_env(settings.database_url, settings.redis_url or "", settings.secret_key,
                            settings.port_env)
    completed = subprocess.run([sys.executable, "-m", "huiminbao.cli", "reconcile"], cwd=REPO_ROOT,
                               env=env, capture_output=True, text=True, check=False,
                               timeout=RECONCILE_TIMEOUT_S)
    output = completed.stdout.strip() or completed.stderr.strip()[-2000:]
    report.figures["reconcile"] = {"exit": completed.returncode, "output": output}


def _judge(report: Report) -> None:
    f = report.figures
    storm: loadgen.LoadResult = f["enrollment"]
    health: loadgen.LoadResult = f["health"]
    warm: loadgen.LoadResult = f["warm"]
    counts: dict[str, int] = f["db_counts"]
    f["ratio_health"] = storm.throughput / health.throughput if health.throughput else 0.0
    f["cpu_ms"] = cpu_ms = cpu_per_request(f["cpu"], storm.good)
    f["health_cpu_ms"] = health_ms = cpu_per_request(f["health_cpu"], health.good)
    f["cpu_ratio"] = cpu_ratio = cpu_ms / health_ms if health_ms else math.inf
    f["ratio_pgbench"] = storm.throughput / f["pgbench"].tps if f["pgbench"].tps else 0.0
    # wrk stops at its deadline without waiting for the answers in flight; the server still
    # finishes those enrollments, so the database may hold up to one more per connection and run.
    answered = storm.good + warm.good
    issued = counts["orders_issued"]
    f["unanswered"] = issued - answered
    consistent = (issued == counts["policies_active"] == counts["debits"]
                  and counts["orders_other"] == 0
                  and 0 <= issued - answered <= 2 * report.options.concurrency)
    report.passed = {
        f"CPU per enrollment ≤ {TARGET_CPU_RATIO:g} × a health check's": (
            cpu_ratio <= TARGET_CPU_RATIO),
        "zero errors": storm.errors == 0 and warm.errors == 0 and health.errors == 0,
        "pool lasted the whole storm": storm.filler == 0,
        "every enrollment is one issued order, one policy, one debit": consistent,
        "reconcile: zero invariant violations": f["reconcile"]["exit"] == 0,
    }


def cpu_per_request(cpu: procs.CpuUse, answered: int) -> float:
    """Milliseconds of CPU per answered request: the app server and its PostgreSQL backends."""
    return (cpu.server + cpu.database) * 1000 / answered if answered else 0.0


# ---------------------------------------------------------------- the printed report


def _row(label: str, result: loadgen.LoadResult) -> str:
    lat = result.latency_ms
    return (f"  {label:<22}{result.throughput:>9.1f}/s {lat.get('p50', 0):>8.1f} "
            f"{lat.get('p95', 0):>8.1f} {lat.get('p99', 0):>8.1f} {lat.get('max', 0):>8.1f} "
            f"{result.good:>8,} {result.errors:>7,}")


def format_report(report: Report) -> str:
    f, o = report.figures, report.options
    storm: loadgen.LoadResult = f["enrollment"]
    health: loadgen.LoadResult = f["health"]
    warm: loadgen.LoadResult = f["warm"]
    pg: pgbench.PgbenchResult = f["pgbench"]
    cpu: procs.CpuUse = f["cpu"]
    health_cpu: procs.CpuUse = f["health_cpu"]
    counts = f["db_counts"]
    per_enrollment = 1000 / storm.good if storm.good else 0.0
    per_health = 1000 / health.good if health.good else 0.0
    lines = [
        "",
        f"huiminbao bench enrollment — {report.started_at:%Y-%m-%d %H:%M} UTC, "
        f"{platform.node()}, {os.cpu_count()} cores, Python {platform.python_version()}",
        f"  population   {o.persons:,} persons generated in {f['generate_s']:.1f} s; "
        f"{f['eligible']:,} eligible for one-click personal-account enrollment",
        f"  pool         {f['pool']:,} signed in ahead (service level) in {f['pool_s']:.1f} s; "
        f"{warm.good:,} enrolled in the warm-up, {storm.good:,} in the storm",
        f"  server       huiminbao serve, production mode, gunicorn {o.model}; Redis {o.redis_url}",
        f"  load         wrk 2 threads, {o.concurrency} keep-alive connections; storm "
        f"{storm.duration_s:.1f} s, health {health.duration_s:.1f} s",
        "",
        f"  {'':<22}{'throughput':>11} {'p50 ms':>8} {'p95 ms':>8} {'p99 ms':>8} {'max ms':>8} "
        f"{'answers':>8} {'errors':>7}",
        _row("GET /api/v1/health", health),
        _row("POST /api/v1/enrollments", storm),
        f"  {'pgbench (TPC-B-like)':<22}{pg.tps:>9.1f}/s  (latency avg {pg.latency_ms:.1f} ms; "
        f"{pg.description})",
        "",
        f"  CPU/request  enrollment {f['cpu_ms']:.2f} ms, health {f['health_cpu_ms']:.2f} ms "
        f"(app server + its PostgreSQL backends): enrollment = {f['cpu_ratio']:.1f} × health "
        f"(target ≤ {TARGET_CPU_RATIO:g})",
        f"  throughput   enrollment / health = {f['ratio_health']:.3f}   "
        f"enrollment / pgbench = {f['ratio_pgbench']:.3f}",
        f"  CPU (storm)  of {cpu.cores:.1f} cores over {cpu.wall:.1f} s: app server "
        f"{cpu.share(cpu.server):.2f}, its PostgreSQL backends {cpu.share(cpu.database):.2f}, "
        f"registry stand-in {cpu.share(cpu.registry):.2f} + its backends "
        f"{cpu.share(cpu.registry_database):.2f}, wrk {cpu.share(cpu.loadgen):.2f}, "
        f"everything else {cpu.share(cpu.other):.2f} (cores busy)",
        f"  CPU (health) app server {health_cpu.share(health_cpu.server):.2f}, PostgreSQL "
        f"{health_cpu.share(health_cpu.database):.2f}, wrk "
        f"{health_cpu.share(health_cpu.loadgen):.2f}, everything else "
        f"{health_cpu.share(health_cpu.other):.2f}; backends that ended mid-measurement (their "
        f"CPU uncounted): {cpu.backends_ended} in the storm, {health_cpu.backends_ended} in the "
        "health run",
        f"  per request  enrollment: {cpu.server * per_enrollment:.2f} ms app CPU, "
        f"{cpu.database * per_enrollment:.2f} ms PostgreSQL CPU, "
        f"{cpu.loadgen * per_enrollment:.3f} ms wrk CPU (the registry stand-in: "
        f"{cpu.registry * per_enrollment:.2f} ms, its database "
        f"{cpu.registry_database * per_enrollment:.2f} ms); health: "
        f"{health_cpu.server * per_health:.2f} ms app, {health_cpu.database * per_health:.2f} ms "
        f"PostgreSQL, {health_cpu.loadgen * per_health:.3f} ms wrk",
        f"  statuses     storm {dict(sorted(storm.statuses.items()))}, warm-up "
        f"{dict(sorted(warm.statuses.items()))}, health {dict(sorted(health.statuses.items()))}",
        f"  database     {counts['orders_issued']:,} issued orders, {counts['policies_active']:,} "
        f"active policies, {counts['debits']:,} registry debits, {counts['orders_other']:,} other "
        f"orders ({f['unanswered']} finished after wrk stopped waiting)",
    ]
    if storm.samples or warm.samples:
        lines.append("  first errors " + " | ".join((warm.samples + storm.samples)[:3]))
    lines.append("  reconcile    " + f["reconcile"]["output"].replace("\n", "\n               ")
                 + f"  (exit {f['reconcile']['exit']})")
    lines.append("")
    for name, ok in report.passed.items():
        lines.append(f"  {'PASS' if ok else 'FAIL'}  {name}")
    return "\n".join(lines)


def report_json(report: Report) -> dict[str, Any]:
    f = report.figures
    return {
        "started_at": report.started_at.isoformat(),
        "options": {"persons": report.options.persons, "concurrency": report.options.concurrency,
                    "duration_s": report.options.duration_s, "model": str(report.options.model)},
        "health": f["health"].to_json(), "enrollment": f["enrollment"].to_json(),
        "warm": f["warm"].to_json(),
        "pgbench": {"tps": f["pgbench"].tps, "latency_ms": f["pgbench"].latency_ms},
        "ratio_health": f["ratio_health"], "ratio_pgbench": f["ratio_pgbench"],
        "cpu_ms": f["cpu_ms"], "health_cpu_ms": f["health_cpu_ms"], "cpu_ratio": f["cpu_ratio"],
        "cpu": vars(f["cpu"]), "health_cpu": vars(f["health_cpu"]),
        "db_counts": f["db_counts"], "reconcile": f["reconcile"],
        "passed": report.passed,
    }


def write_json(report: Report, path: Path) -> None:
    path.write_text(json.dumps(report_json(report), ensure_ascii=False, indent=2),
                    encoding="utf-8")
