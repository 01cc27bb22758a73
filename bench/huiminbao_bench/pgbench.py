"""The database baseline: pgbench's built-in TPC-B-like transaction (three UPDATEs, a SELECT and
an INSERT per transaction) on the same PostgreSQL, in a scratch database."""

from __future__ import annotations

import re
import shutil
import subprocess
from dataclasses import dataclass

from huiminbao_bench.database import BenchSetupError, ScratchDatabase

_TPS = re.compile(r"^tps = ([0-9.]+) \(without initial connection time\)", re.MULTILINE)
_LATENCY = re.compile(r"^latency average = ([0-9.]+) ms", re.MULTILINE)


@dataclass(frozen=True)
class PgbenchResult:
    tps: float
    latency_ms: float
    clients: int
    threads: int
    duration_s: int
    scale: int

    @property
    def description(self) -> str:
        return (f"pgbench TPC-B-like, scale {self.scale}, -c {self.clients} -j {self.threads} "
                f"-T {self.duration_s}")


def pgbench_path() -> str:
    path = shutil.which("pgbench") or ("/usr/bin/pgbench" if shutil.which("/usr/bin/pgbench")
                                       else None)
    if path is None:
        raise BenchSetupError(
            "pgbench is not installed (Debian: apt-get install -y postgresql-client)")
    return path


def run(database: ScratchDatabase, *, clients: int = 8, threads: int = 2, duration_s: int = 10,
        scale: int = 8) -> PgbenchResult:
    """Initialize a scratch database, run pgbench, drop the database again."""
    pgbench = pgbench_path()
    database.recreate()
    try:
        subprocess.run([pgbench, *database.libpq_args(), "-i", "-q", "-s", str(scale),  # noqa: S603
                        database.name], env=database.libpq_env(), capture_output=True, text=True,
                       check=True, timeout=300)
        completed = subprocess.run(  # noqa: S603 - fixed argv, no shell
            [pgbench, *database.libpq_args(), "-c", str(clients), "-j", str(threads),
             "-T", str(duration_s), database.name],
            env=database.libpq_env(), capture_output=True, text=True, check=True,
            timeout=duration_s + 120)
    except subprocess.CalledProcessError as exc:
        raise RuntimeError(f"pgbench failed: {exc.stderr.strip()[-2000:]}") from exc
    finally:
        database.drop()
    tps = _TPS.search(completed.stdout)
    latency = _LATENCY.search(completed.stdout)
    if tps is None:
        raise RuntimeError(f"could not read pgbench's output:\n{completed.stdout[-2000:]}")
    return PgbenchResult(tps=float(tps.group(1)),
                         latency_ms=float(latency.group(1)) if latency else 0.0,
                         clients=clients, threads=threads, duration_s=duration_s, scale=scale)
