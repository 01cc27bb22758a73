"""A scratch pair of PostgreSQL clusters: a primary and a hot standby streaming from it.

Made with the installed server binaries: the primary by ``initdb`` (``wal_level=replica``, a
``replication`` line for 127.0.0.1 in its pg_hba.conf), the standby from it by
``pg_basebackup -R -X stream``, each on a free port of 127.0.0.1; both stopped and their
directories removed at the end. (The machine's own server on 5432 would serve as the primary
only with a ``host replication`` line in its pg_hba.conf, which neither a test nor a benchmark
adds to system configuration.) PostgreSQL refuses to run as root, so as root the binaries run as
the ``postgres`` user (runuser).

Used by ``backend/tests/integration/test_replica.py`` and ``huiminbao bench lookups --replica``.
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from huiminbao_bench.database import BenchSetupError

COMMAND_TIMEOUT_SECONDS = 120
REPLAY_WAIT_SECONDS = 60.0
# Small and unsafe on a crash, which a scratch cluster does not outlive.
BASE_SETTINGS: Mapping[str, str] = {
    "listen_addresses": "'127.0.0.1'", "wal_level": "replica", "max_wal_senders": "4",
    "fsync": "off", "shared_buffers": "16MB",
}


class PairUnavailable(BenchSetupError):
    """This machine cannot run a scratch pair (no server binaries, or no user to run them as)."""


@dataclass(frozen=True)
class ClusterPair:
    """The URLs name the ``postgres`` database; ``url_of`` names another."""

    primary_url: str
    replica_url: str
    primary_port: int
    replica_port: int

    def url_of(self, database: str, *, replica: bool = False) -> str:
        url = make_url(self.replica_url if replica else self.primary_url)
        return url.set(database=database).render_as_string(hide_password=False)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _bin_dir() -> Path:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"))
    if not found:
        raise PairUnavailable("no PostgreSQL server binaries (/usr/lib/postgresql/*/bin/pg_ctl)")
    return Path(found[-1]).parent


def _as_server_user() -> tuple[list[str], int | None, int | None]:
    """The command prefix and the uid/gid that own the clusters' directories."""
    if os.geteuid() != 0:
        return [], None, None
    try:
        user = pwd.getpwnam("postgres")
    except KeyError:
        raise PairUnavailable(
            "running as root and there is no postgres user to run PostgreSQL as") from None
    if not shutil.which("runuser"):
        raise PairUnavailable(
            "running as root and runuser is missing: PostgreSQL refuses to run as root")
    return ["runuser", "-u", "postgres", "--"], user.pw_uid, user.pw_gid


def _run(prefix: list[str], *args: str) -> None:
    done = subprocess.run([*prefix, *args], capture_output=True, text=True,  # noqa: S603 - no shell
                          timeout=COMMAND_TIMEOUT_SECONDS)
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(args)} failed: {done.stdout}{done.stderr}")


def _settings_lines(settings: Mapping[str, str]) -> str:
    return "".join(f"{name} = {value}\n" for name, value in settings.items())


@contextmanager
def cluster_pair(*, primary_settings: Mapping[str, str] | None = None,
                 standby_settings: Mapping[str, str] | None = None) -> Iterator[ClusterPair]:
    """Start a primary and its standby; stop both and remove them when the block ends.

    ``primary_settings`` add to (or override) ``BASE_SETTINGS``; the standby inherits them from
    its base backup, and ``standby_settings`` add to its own."""
    bin_dir = _bin_dir()
    prefix, uid, gid = _as_server_user()
    root = Path(tempfile.mkdtemp(prefix="huiminbao-replica-"))
    if uid is not None and gid is not None:
        os.chown(root, uid, gid)
    primary, replica = root / "primary", root / "replica"
    primary_port, replica_port = free_port(), free_port()
    started: list[Path] = []
    try:
        _run(prefix, str(bin_dir / "initdb"), "-D", str(primary), "-U", "postgres",
             "--auth=trust", "-E", "UTF8", "--no-sync")
        with (primary / "postgresql.conf").open("a") as conf:
            conf.write(_settings_lines({
                "port": str(primary_port), "unix_socket_directories": f"'{root}'",
                **BASE_SETTINGS, **(primary_settings or {})}))
        with (primary / "pg_hba.conf").open("a") as hba:
            hba.write("host replication postgres 127.0.0.1/32 trust\n")
        _run(prefix, str(bin_dir / "pg_ctl"), "-D", str(primary), "-l",
             str(root / "primary.log"), "-w", "start")
        started.append(primary)
        # A fast checkpoint: the default spreads it over minutes.
        _run(prefix, str(bin_dir / "pg_basebackup"), "-h", "127.0.0.1", "-p", str(primary_port),
             "-U", "postgres", "-D", str(replica), "-R", "-X", "stream", "-c", "fast",
             "--no-sync")
        with (replica / "postgresql.auto.conf").open("a") as conf:
            conf.write(_settings_lines({"port": str(replica_port), **(standby_settings or {})}))
        _run(prefix, str(bin_dir / "pg_ctl"), "-D", str(replica), "-l",
             str(root / "replica.log"), "-w", "start")
        started.append(replica)
        yield ClusterPair(f"postgresql+psycopg://postgres@127.0.0.1:{primary_port}/postgres",
                          f"postgresql+psycopg://postgres@127.0.0.1:{replica_port}/postgres",
                          primary_port, replica_port)
    finally:
        for data in reversed(started):
            subprocess.run([*prefix, str(bin_dir / "pg_ctl"), "-D", str(data), "-m",  # noqa: S603
                            "immediate", "-w", "stop"], capture_output=True, timeout=60)
        shutil.rmtree(root, ignore_errors=True)


def wait_for_replay(pair: ClusterPair, *, timeout_s: float = REPLAY_WAIT_SECONDS) -> None:
    """Until the standby has replayed everything the primary has written so far."""
    primary = create_engine(pair.primary_url, isolation_level="AUTOCOMMIT")
    replica = create_engine(pair.replica_url, isolation_level="AUTOCOMMIT")
    try:
        with primary.connect() as conn:
            target = conn.scalar(text("SELECT pg_current_wal_lsn()"))
        deadline = time.monotonic() + timeout_s
        with replica.connect() as conn:
            while not conn.scalar(text("SELECT pg_last_wal_replay_lsn() >= CAST(:t AS pg_lsn)"),
                                  {"t": target}):
                if time.monotonic() > deadline:
                    raise TimeoutError(
                        f"the standby did not replay up to {target} within {timeout_s} s")
                time.sleep(0.05)
    finally:
        primary.dispose()
        replica.dispose()
