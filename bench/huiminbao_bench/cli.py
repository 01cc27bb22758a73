"""``huiminbao bench …``: the load benchmarks (added to the main command line through the
``huiminbao.commands`` entry point declared in bench/pyproject.toml)."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from huiminbao_bench.database import DEFAULT_BENCH_URL, BenchSetupError


@click.group()
def bench() -> None:
    """Load benchmarks on PostgreSQL (they create and drop a database of their own)."""


@bench.command("enrollment")
@click.option("--persons", default=100_000, show_default=True,
              type=click.IntRange(1_000, 2_000_000), help="synthetic insured persons to generate")
@click.option("--pool", default=0, show_default=True, type=click.IntRange(0, 2_000_000),
              help="persons signed in ahead for the storm (each enrolls once); 0 sizes it as "
                   "twice what the warm-up's enrollment rate needs")
@click.option("--duration", default=30, show_default=True, type=click.IntRange(3, 600),
              help="seconds of the enrollment storm")
@click.option("--health-duration", default=10, show_default=True, type=click.IntRange(3, 600))
@click.option("--concurrency", default=64, show_default=True, type=click.IntRange(1, 1024),
              help="concurrent keep-alive connections of the load generator")
@click.option("--workers", default=2, show_default=True, type=click.IntRange(1, 64),
              help="gunicorn worker processes")
@click.option("--threads", default=4, show_default=True, type=click.IntRange(1, 64),
              help="threads per gthread worker")
@click.option("--worker-class", default="gthread", show_default=True,
              type=click.Choice(["gthread", "sync"]),
              help="gthread runs 'huiminbao serve'; sync serves the same app with sync workers")
@click.option("--database-url", default=DEFAULT_BENCH_URL, show_default=True,
              help="the benchmark's own database (its name must contain 'bench'; it is dropped "
                   "and created again)")
@click.option("--redis-url", default="redis://127.0.0.1:6379/15", show_default=True,
              help="Redis database for rate limits (flushed first)")
@click.option("--pgbench-duration", default=10, show_default=True, type=click.IntRange(3, 600))
@click.option("--keep-database", is_flag=True, help="keep the benchmark database afterwards")
@click.option("--json", "json_path", type=click.Path(dir_okay=False, path_type=Path),
              help="also write the figures as JSON")
def enrollment(persons: int, pool: int, duration: int, health_duration: int, concurrency: int,
               workers: int, threads: int, worker_class: str, database_url: str, redis_url: str,
               pgbench_duration: int, keep_database: bool, json_path: Path | None) -> None:
    """The enrollment rush: one-click personal-account enrollments against gunicorn on
    PostgreSQL, with the health-check and pgbench baselines, then reconcile."""
    from huiminbao_bench import enrollment as bench_enrollment
    from huiminbao_bench.server import WorkerModel

    options = bench_enrollment.Options(
        persons=persons, pool=pool, duration_s=duration, health_duration_s=health_duration,
        concurrency=concurrency,
        model=WorkerModel(worker_class, workers, threads if worker_class == "gthread" else 1),
        database_url=database_url, redis_url=redis_url, pgbench_duration_s=pgbench_duration,
        keep_database=keep_database)
    try:
        report = bench_enrollment.run(options, click.echo)
    except BenchSetupError as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(bench_enrollment.format_report(report))
    if json_path is not None:
        bench_enrollment.write_json(report, json_path)
    if not report.passed.get("reconcile: zero invariant violations", False):
        sys.exit(1)


@bench.command("lookups")
@click.option("--persons", default=1_000_000, show_default=True,
              type=click.IntRange(1_000, 10_000_000),
              help="persons and policies to load (one policy each)")
@click.option("--samples", default=200, show_default=True, type=click.IntRange(1, 10_000),
              help="timed lookups of each kind")
@click.option("--database-url", default=DEFAULT_BENCH_URL, show_default=True,
              help="base URL; the scratch database is its name + '_lookups'")
@click.option("--keep-database", is_flag=True, help="keep the scratch database afterwards")
@click.option("--replica", is_flag=True,
              help="on a scratch primary and streaming hot standby of its own (the installed "
                   "PostgreSQL binaries, free ports, removed afterwards; --database-url is not "
                   "used), the app reading from the standby where it does in production; each "
                   "lookup says how many transactions each server ran for it")
def lookups(persons: int, samples: int, database_url: str, keep_database: bool,
            replica: bool) -> None:
    """Big tables: load N persons and N policies (COPY), then time a person lookup, a policy
    list and the disclosure figures. Reported, not asserted; loading takes a few minutes."""
    from huiminbao_bench import lookups as bench_lookups

    if replica and keep_database:
        raise click.UsageError("--keep-database: the --replica clusters are always removed")
    try:
        bench_lookups.run(persons=persons, samples=samples, database_url=database_url,
                          keep_database=keep_database, echo=click.echo, replica=replica)
    except BenchSetupError as exc:
        raise click.ClickException(str(exc)) from exc


@bench.command("phases")
@click.option("--persons", default=5_000, show_default=True, type=click.IntRange(1_000, 1_000_000),
              help="synthetic insured persons to generate")
@click.option("--samples", default=300, show_default=True, type=click.IntRange(10, 100_000),
              help="enrollments timed step by step")
@click.option("--database-url", default=DEFAULT_BENCH_URL, show_default=True,
              help="base URL; the scratch database is its name + '_phases'")
@click.option("--redis-url", default="redis://127.0.0.1:6379/15", show_default=True)
def phases(persons: int, samples: int, database_url: str, redis_url: str) -> None:
    """Where one enrollment's CPU goes: each step of the use case timed in-process (the
    Flask test client on PostgreSQL), against a health check's. About a minute."""
    from huiminbao_bench import phases as bench_phases

    try:
        report = bench_phases.run(persons=persons, samples=samples, database_url=database_url,
                                  redis_url=redis_url, echo=click.echo)
    except BenchSetupError as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(bench_phases.format_report(report))


def _rates(_ctx: click.Context, _param: click.Parameter, raw: str) -> list[float]:
    try:
        rates = [float(part) for part in raw.split(",") if part.strip()]
    except ValueError:
        raise click.BadParameter("comma-separated rates per second, e.g. 20,40,60") from None
    if not rates or any(not 0 < rate <= 2000 for rate in rates):
        raise click.BadParameter("each rate must be more than 0 and at most 2000 per second")
    return rates


@bench.command("open-loop")
@click.option("--rates", default="20,40,60", show_default=True, callback=_rates,
              help="offered enrollment rates per second, comma-separated, run in this order")
@click.option("--persons", default=20_000, show_default=True,
              type=click.IntRange(1_000, 2_000_000), help="synthetic insured persons to generate")
@click.option("--duration", default=30, show_default=True, type=click.IntRange(3, 600),
              help="seconds at each rate")
@click.option("--connections", default=64, show_default=True, type=click.IntRange(1, 1024),
              help="most requests the generator keeps in flight")
@click.option("--workers", default=2, show_default=True, type=click.IntRange(1, 64))
@click.option("--threads", default=4, show_default=True, type=click.IntRange(1, 64))
@click.option("--database-url", default=DEFAULT_BENCH_URL, show_default=True,
              help="base URL; the scratch database is its name + '_openloop'")
@click.option("--redis-url", default="redis://127.0.0.1:6379/12", show_default=True,
              help="Redis database for rate limits (flushed first)")
@click.option("--json", "json_path", type=click.Path(dir_okay=False, path_type=Path),
              help="also write the figures as JSON")
def open_loop(rates: list[float], persons: int, duration: int, connections: int, workers: int,
              threads: int, database_url: str, redis_url: str, json_path: Path | None) -> None:
    """Enrollment latency at constant arrival rates (open loop): p50/p99 from each request's
    intended send time, so a stall is not hidden; then the database is counted and reconciled."""
    import json

    from huiminbao_bench import arrival
    from huiminbao_bench import enrollment as bench_enrollment
    from huiminbao_bench.server import WorkerModel

    options = bench_enrollment.Options(
        persons=persons, duration_s=duration, concurrency=connections,
        model=WorkerModel("gthread", workers, threads), database_url=database_url,
        redis_url=redis_url, database_suffix="_openloop")
    try:
        report = arrival.run(options, rates, click.echo)
    except BenchSetupError as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(arrival.format_report(report))
    if json_path is not None:
        json_path.write_text(json.dumps(arrival.report_json(report), ensure_ascii=False,
                                        indent=2), encoding="utf-8")
    if not report.passed.get("reconcile: zero invariant violations", False):
        sys.exit(1)
