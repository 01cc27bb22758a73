"""``huiminbao bench phases``: where one enrollment's CPU goes, step by step, in-process.

The load benchmark says how much CPU an enrollment costs; this says which step costs it. It runs
enrollments through the Flask test client (no gunicorn, no load generator) on a scratch
PostgreSQL database, with a CPU-time stopwatch around each named step of the use case, and
compares the total with a health check's. A profiler would distort the figures (it slows every
Python call, and the hot path is many small calls); a stopwatch per step does not.
"""

from __future__ import annotations

import logging
import os
import secrets
import time
import uuid
from collections import defaultdict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from sqlalchemy import text

from huiminbao_bench.database import ScratchDatabase

# (owner, attribute, label, depth): the steps timed, in the order a request meets them; depth
# 1 is a part of the step above it (its time is included there).
STEPS: tuple[tuple[str, str, str, int], ...] = (
    ("huiminbao.identity.auth", "_resolve", "authentication (token, session)", 0),
    ("huiminbao.core.idempotency", "_claim", "Idempotency-Key claimed", 0),
    ("huiminbao.enrollment.quoting", "quote", "quote (every rule checked)", 0),
    ("huiminbao.registry.simulator:SimulatedRegistry", "persons_and_balances",
     "registry: persons and balance", 1),
    ("huiminbao.enrollment.ordering", "create_order", "order written", 0),
    ("huiminbao.registry.simulator:SimulatedRegistry", "debit", "registry: debit", 0),
    ("huiminbao.enrollment.completing", "_complete_payment", "order paid, policy issued", 0),
)


@dataclass
class PhaseReport:
    samples: int
    total_ms: float
    health_ms: float
    steps: list[tuple[str, int, float]]  # label, depth, ms per enrollment


def _owner(path: str) -> Any:
    import importlib

    module_name, _, class_name = path.partition(":")
    module = importlib.import_module(module_name)
    return getattr(module, class_name) if class_name else module


@contextmanager
def stopwatches(spent: dict[str, float]) -> Iterator[None]:
    """Wrap each step in a CPU-time stopwatch for the duration of the block."""
    originals: list[tuple[Any, str, Any]] = []
    for owner_path, attribute, label, _depth in STEPS:
        owner = _owner(owner_path)
        original = getattr(owner, attribute)
        originals.append((owner, attribute, original))
        setattr(owner, attribute, _timed(original, label, spent))
    try:
        yield
    finally:
        for owner, attribute, original in reversed(originals):
            setattr(owner, attribute, original)


def _timed(function: Callable[..., Any], label: str, spent: dict[str, float]) -> Callable[..., Any]:
    def timed(*args: Any, **kwargs: Any) -> Any:
        started = time.process_time()
        try:
            return function(*args, **kwargs)
        finally:
            spent[label] += time.process_time() - started

    return timed


def run(*, persons: int, samples: int, database_url: str, redis_url: str,
        echo: Callable[[str], None]) -> PhaseReport:
    from huiminbao.app import build_container, create_app
    from huiminbao.catalog.demo import ensure_demo_product
    from huiminbao.core.clock import SystemClock
    from huiminbao.core.config import Mode, Settings
    from huiminbao.core.logging import configure_logging
    from huiminbao.registry.generator import generate_population
    from huiminbao_bench.pool import one_click_body, sign_in_pool

    database = ScratchDatabase.parse(database_url, suffix="_phases")
    echo(f"· creating database {database.name}, {persons:,} persons")
    database.recreate()
    try:
        database.migrate()
        # In process, with the in-process registry simulator (demo wiring on the system clock):
        # the registry's own work is one timed step here. Production refuses simulators; the
        # served benchmark (bench enrollment) runs production on the registry protocol.
        settings = Settings(mode=Mode.DEMO, database_url=database.sqlalchemy_url,
                            redis_url=redis_url, secret_key=secrets.token_urlsafe(48))
        wired = build_container(settings, clock=SystemClock())
        try:
            generate_population(wired.db, wired.clock, persons)
            product = ensure_demo_product(wired.db, wired.clock)
            with wired.db.transaction() as session:
                session.execute(text("ANALYZE"))
            warm_up = 50
            members = sign_in_pool(wired, product.id, warm_up + samples)
            if len(members) < warm_up + samples:
                raise RuntimeError(f"only {len(members)} persons can enroll; raise --persons")
            app = create_app(container=wired)
            # Requests log as in production (that is part of their cost), into the void.
            configure_logging(logging.INFO, stream=open(os.devnull, "w"))  # noqa: SIM115
            client = app.test_client()
            body = one_click_body(product)

            def enroll(token: str) -> None:
                response = client.post(
                    "/api/v1/enrollments", json=body,
                    headers={"Authorization": f"Bearer {token}",
                             "Idempotency-Key": f"phases-{uuid.uuid4().hex}"})
                if response.status_code != 201:
                    raise RuntimeError(f"enrollment answered {response.status_code}: "
                                       f"{response.get_json()}")

            for member in members[:warm_up]:
                enroll(member.token)
            echo(f"· {samples} enrollments timed step by step")
            spent: dict[str, float] = defaultdict(float)  # label -> CPU seconds
            with stopwatches(spent):
                started = time.process_time()
                for member in members[warm_up:]:
                    enroll(member.token)
                total = time.process_time() - started
            for _ in range(warm_up):
                client.get("/api/v1/health")
            started = time.process_time()
            for _ in range(samples):
                client.get("/api/v1/health")
            health = time.process_time() - started
        finally:
            wired.db.dispose()
    finally:
        database.drop()
    return PhaseReport(
        samples=samples, total_ms=total / samples * 1000, health_ms=health / samples * 1000,
        steps=[(label, depth, spent[label] / samples * 1000)
               for _owner_path, _attribute, label, depth in STEPS])


def format_report(report: PhaseReport) -> str:
    lines = [f"CPU per enrollment, in this process ({report.samples} enrollments; the database's "
             "own CPU is not included):", ""]
    counted = 0.0
    for label, depth, ms in report.steps:
        indent = "    " * (depth + 1)
        lines.append(f"{indent}{label:<{40 - 4 * depth}} {ms:6.2f} ms "
                     f"{ms / report.total_ms:6.1%}")
        if depth == 0:
            counted += ms
    lines += [
        f"    {'Flask, validation, JSON and the rest':<40} {report.total_ms - counted:6.2f} ms "
        f"{(report.total_ms - counted) / report.total_ms:6.1%}",
        f"    {'one enrollment':<40} {report.total_ms:6.2f} ms",
        f"    {'one health check (GET /api/v1/health)':<40} {report.health_ms:6.2f} ms",
        f"    enrollment / health CPU: {report.total_ms / report.health_ms:.1f}×",
    ]
    return "\n".join(lines)
