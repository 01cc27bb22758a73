"""``huiminbao bench open-loop``: enrollment latency at a constant arrival rate.

The same set-up as ``bench enrollment`` (a fresh database, N persons, ``huiminbao serve`` in
production mode with the registry stand-in), then, for each offered rate, a pool of
``rate × duration`` persons signed in ahead, each sending one one-click enrollment at its
scheduled instant (``openloop``: latency counted from the intended send time, so a stall is not
hidden by the generator waiting for it). p50/p99 are reported per rate; the database is then
counted and reconciled as in the closed-loop benchmark. The generator runs on the same machine
(Python threads, one keep-alive connection each).
"""

from __future__ import annotations

import json
import math
import os
import platform
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from huiminbao_bench import enrollment, openloop, procs, server
from huiminbao_bench.pool import one_click_body

WARMUP_S = 3
WARMUP_RATE = 10.0
TARGET_P99_MS = 250.0


def run(options: enrollment.Options, rates: Sequence[float],
        echo: Callable[[str], None]) -> enrollment.Report:
    from datetime import UTC, datetime

    from huiminbao.catalog.models import Product

    report = enrollment.Report(options, datetime.now(UTC))
    results: list[openloop.OpenLoopResult] = []
    report.figures["open_loop"] = results
    report.figures["errors"] = []
    report.figures["loadavg"] = []  # the machine's 1-minute load after each rate
    report.figures["cpu"] = []  # where the CPU went at each rate
    with enrollment.prepared(options, report, echo, pgbench_after=False) as ready:
        wired = ready.wired
        with wired.db.read() as session:
            product = session.get(Product, ready.product_id)
            assert product is not None
            body = json.dumps(one_click_body(product), ensure_ascii=False,
                              separators=(",", ":")).encode()
        run_id = os.urandom(4).hex()
        left = ready.eligible

        def requests_for(count: int) -> list[openloop.Request]:
            nonlocal left
            members = enrollment._sign_in(wired, ready.product_id, count, left, report, echo)
            left -= len(members)
            return [openloop.Request("POST", "/api/v1/enrollments", {
                "Authorization": f"Bearer {token}", "Idempotency-Key": key,
                "Content-Type": "application/json", "Accept": "application/json"}, body)
                for token, key in enrollment._lines(members, run_id)]

        with tempfile.TemporaryDirectory(prefix="huiminbao-bench-") as raw_workdir:
            env = server.server_env(ready.database.sqlalchemy_url, options.redis_url,
                                    ready.settings.secret_key, ready.settings.port_env)
            enrollment._step(echo, f"starting huiminbao serve ({options.model}, production mode)")
            app_server = server.start(options.model, env, Path(raw_workdir))
            try:
                sender = openloop.http_sender(app_server.base_url, report.figures["errors"])
                warm = requests_for(math.ceil(WARMUP_RATE * WARMUP_S))
                enrollment._step(echo, f"warm-up: {WARMUP_RATE:g}/s for {WARMUP_S} s")
                report.figures["warm"] = openloop.run(
                    warm, rate=WARMUP_RATE, connections=options.concurrency,
                    make_sender=sender, expected_status=201)
                for rate in rates:
                    batch = requests_for(math.ceil(rate * options.duration_s))
                    enrollment._step(echo, f"open loop: {rate:g} enrollments/s for "
                                           f"{len(batch) / rate:.1f} s, up to "
                                           f"{options.concurrency} connections")
                    registry = ready.database.backend_pids(enrollment.REGISTRY_APPLICATION)
                    before = procs.sample(app_server.process.pid, ready.database.name,
                                          ready.registry_pid)
                    started = time.monotonic()
                    result = openloop.run(batch, rate=rate, connections=options.concurrency,
                                          make_sender=sender, expected_status=201)
                    after = procs.sample(app_server.process.pid, ready.database.name,
                                         ready.registry_pid)
                    registry |= ready.database.backend_pids(enrollment.REGISTRY_APPLICATION)
                    report.figures["cpu"].append(procs.between(
                        before, after, time.monotonic() - started, 0.0, registry))
                    load = os.getloadavg()[0]
                    report.figures["loadavg"].append(load)
                    echo(f"  {_row(result)}  ({time.monotonic() - started:.1f} s; load "
                         f"average {load:.1f})")
                    results.append(result)
            finally:
                server.stop(app_server)
                report.figures["server_log_tail"] = app_server.log_tail(1500)
        report.figures["db_counts"] = enrollment._db_counts(wired)
    _judge(report)
    return report


def _judge(report: enrollment.Report) -> None:
    results: list[openloop.OpenLoopResult] = report.figures["open_loop"]
    warm: openloop.OpenLoopResult = report.figures["warm"]
    counts = report.figures["db_counts"]
    answered = warm.good + sum(r.good for r in results)
    report.passed = {
        "zero errors": warm.errors == 0 and all(r.errors == 0 for r in results),
        "every enrollment is one issued order, one policy, one debit":
            answered == counts["orders_issued"] == counts["policies_active"] == counts["debits"]
            and counts["orders_other"] == 0,
        "reconcile: zero invariant violations": report.figures["reconcile"]["exit"] == 0,
    }
    for result in results:
        report.passed[f"p99 ≤ {TARGET_P99_MS:.0f} ms at {result.rate:g}/s"] = (
            result.latency_ms(0.99) <= TARGET_P99_MS)


def _row(result: openloop.OpenLoopResult) -> str:
    return (f"{result.rate:>7g}/s {len(result.samples):>7,} {result.good:>7,} "
            f"{result.errors:>6,} {result.late:>6,} {result.achieved_rate:>8.1f}/s "
            f"{result.latency_ms(0.5):>8.1f} {result.latency_ms(0.99):>8.1f} "
            f"{result.latency_ms(1.0):>8.1f} {result.service_ms(0.5):>8.1f} "
            f"{result.service_ms(0.99):>8.1f}")


def format_report(report: enrollment.Report) -> str:
    o = report.options
    results: list[openloop.OpenLoopResult] = report.figures["open_loop"]
    counts = report.figures["db_counts"]
    lines = [
        "",
        f"huiminbao bench open-loop — {report.started_at:%Y-%m-%d %H:%M} UTC, "
        f"{platform.node()}, {os.cpu_count()} cores, Python {platform.python_version()}",
        f"  population   {o.persons:,} persons; server huiminbao serve, gunicorn {o.model}",
        f"  load         constant arrival rate, {o.duration_s} s per rate, up to "
        f"{o.concurrency} keep-alive connections (Python threads on this machine); latency "
        "from each request's intended send time",
        "",
        f"  {'offered':>9} {'sent':>7} {'201':>7} {'errors':>6} {'late':>6} {'achieved':>10} "
        f"{'p50 ms':>8} {'p99 ms':>8} {'max ms':>8} {'svc p50':>8} {'svc p99':>8}",
        *(f"  {_row(result)}" for result in results),
        "  load average after each rate (other jobs on the machine show here): "
        + ", ".join(f"{load:.1f}" for load in report.figures["loadavg"]),
        "  cores used at each rate: app server + its PostgreSQL backends | registry stand-in + "
        "its backends | everything else (the load generator, other jobs)",
        *(f"  {result.rate:>9g}/s  {cpu.share(cpu.server):.2f} + {cpu.share(cpu.database):.2f} | "
          f"{cpu.share(cpu.registry):.2f} + {cpu.share(cpu.registry_database):.2f} | "
          f"{cpu.share(cpu.other):.2f}   of {cpu.cores:.1f}"
          for result, cpu in zip(results, report.figures["cpu"], strict=True)),
        "",
        "  late: sent more than 10 ms after its time (every connection was waiting); their "
        "wait is in p50/p99. svc: sent to answered.",
        f"  database     {counts['orders_issued']:,} issued orders, "
        f"{counts['policies_active']:,} active policies, {counts['debits']:,} registry debits, "
        f"{counts['orders_other']:,} other orders",
        *(["  first errors " + " | ".join(report.figures["errors"][:3])]
          if report.figures["errors"] else []),
        "  reconcile    " + report.figures["reconcile"]["output"].replace("\n", "\n               ")
        + f"  (exit {report.figures['reconcile']['exit']})",
        "",
    ]
    lines += [f"  {'PASS' if ok else 'FAIL'}  {name}" for name, ok in report.passed.items()]
    return "\n".join(lines)


def report_json(report: enrollment.Report) -> dict[str, object]:
    return {"started_at": report.started_at.isoformat(),
            "options": {"persons": report.options.persons,
                        "duration_s": report.options.duration_s,
                        "connections": report.options.concurrency,
                        "model": str(report.options.model)},
            "rates": [r.to_json() for r in report.figures["open_loop"]],
            "errors": report.figures["errors"], "loadavg": report.figures["loadavg"],
            "cpu": [vars(cpu) for cpu in report.figures["cpu"]],
            "db_counts": report.figures["db_counts"], "reconcile": report.figures["reconcile"],
            "passed": report.passed}
