"""CPU accounting from /proc (Linux): how much CPU the app server, PostgreSQL and the load
generator each used during a measurement, so a report can show where the time went and that the
load generator was not the bottleneck."""

from __future__ import annotations

import os
from collections.abc import Collection, Iterable
from dataclasses import dataclass
from pathlib import Path

_TICKS = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
PROC = Path("/proc")


def _pids() -> Iterable[int]:
    for entry in PROC.iterdir() if PROC.is_dir() else ():
        if entry.name.isdigit():
            yield int(entry.name)


def _stat(pid: int) -> tuple[int, float] | None:
    """(parent pid, CPU seconds user+system) of a process, or None if it is gone."""
    try:
        raw = (PROC / str(pid) / "stat").read_text()
    except OSError:
        return None
    # The command name (field 2) may hold spaces and parentheses: split after its last ')'.
    fields = raw[raw.rindex(")") + 2:].split()
    return int(fields[1]), (int(fields[11]) + int(fields[12])) / _TICKS


def process_tree_cpu(root_pid: int) -> float:
    """CPU seconds used so far by a process and its live descendants (gunicorn and workers)."""
    parents: dict[int, int] = {}
    cpu: dict[int, float] = {}
    for pid in _pids():
        stat = _stat(pid)
        if stat is not None:
            parents[pid], cpu[pid] = stat
    tree = {root_pid}
    grew = True
    while grew:
        grew = False
        for pid, parent in parents.items():
            if parent in tree and pid not in tree:
                tree.add(pid)
                grew = True
    return sum(cpu.get(pid, 0.0) for pid in tree)


def postgres_backends_cpu(database: str) -> dict[int, float]:
    """CPU seconds used so far by each PostgreSQL backend connected to ``database`` (their
    command line reads ``postgres: <user> <database> <client> <state>``), by pid."""
    backends: dict[int, float] = {}
    marker = f" {database} "
    for pid in _pids():
        try:
            cmdline = (PROC / str(pid) / "cmdline").read_bytes().replace(b"\0", b" ").decode(
                errors="replace")
        except OSError:
            continue
        if cmdline.startswith("postgres: ") and marker in cmdline:
            stat = _stat(pid)
            if stat is not None:
                backends[pid] = stat[1]
    return backends


def machine_cpu() -> tuple[float, float]:
    """(busy, total) CPU seconds of the whole machine since boot, all cores."""
    try:
        first = (PROC / "stat").read_text().splitlines()[0].split()
    except OSError:
        return 0.0, 0.0
    values = [int(v) for v in first[1:]]
    idle = values[3] + (values[4] if len(values) > 4 else 0)
    total = sum(values[:8])
    return (total - idle) / _TICKS, total / _TICKS


@dataclass(frozen=True)
class CpuSample:
    server: float
    backends: dict[int, float]  # pid -> CPU seconds so far, the benchmark database's backends
    machine_busy: float
    machine_total: float
    registry: float = 0.0  # the registry stand-in's process tree, when it runs on its own


def sample(server_pid: int, database: str, registry_pid: int | None = None) -> CpuSample:
    busy, total = machine_cpu()
    return CpuSample(process_tree_cpu(server_pid), postgres_backends_cpu(database), busy, total,
                     process_tree_cpu(registry_pid) if registry_pid is not None else 0.0)


@dataclass(frozen=True)
class CpuUse:
    """CPU seconds during one measurement, and its wall time.

    ``database`` is the app's PostgreSQL backends; ``registry_database`` the backends of the
    registry stand-in (the city's bridge, whose database work is the city's, not ours), told
    apart by their ``application_name``. A backend that ended during the measurement took its
    CPU with it: ``backends_ended`` counts them, and should be 0 (pools keep their connections).
    """

    wall: float
    server: float
    database: float
    loadgen: float
    machine_busy: float
    machine_total: float
    registry_database: float = 0.0
    backends_ended: int = 0
    registry: float = 0.0  # the registry stand-in's own process (not its database)

    @property
    def cores(self) -> float:
        return self.machine_total / self.wall if self.wall else 0.0

    @property
    def other(self) -> float:
        return max(0.0, self.machine_busy - self.server - self.database - self.registry_database
                   - self.registry - self.loadgen)

    def share(self, seconds: float) -> float:
        """CPU seconds as a fraction of one core over the wall time."""
        return seconds / self.wall if self.wall else 0.0


def between(before: CpuSample, after: CpuSample, wall: float, loadgen: float,
            registry_pids: Collection[int] = ()) -> CpuUse:
    """What was used between two samples; a backend's CPU counts from the first sample (or
    from its start, for one that connected meanwhile) to the second."""
    spent = {pid: cpu - before.backends.get(pid, 0.0) for pid, cpu in after.backends.items()}
    registry = set(registry_pids)
    return CpuUse(
        wall=wall,
        server=after.server - before.server,
        database=sum(cpu for pid, cpu in spent.items() if pid not in registry),
        loadgen=loadgen,
        machine_busy=after.machine_busy - before.machine_busy,
        machine_total=after.machine_total - before.machine_total,
        registry_database=sum(cpu for pid, cpu in spent.items() if pid in registry),
        backends_ended=len(set(before.backends) - set(after.backends)),
        registry=after.registry - before.registry,
    )
