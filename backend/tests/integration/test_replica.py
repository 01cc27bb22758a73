"""Reads on a real PostgreSQL streaming replica (``HUIMINBAO_REPLICA_DATABASE_URL``).

The module starts its own pair of clusters with the installed PostgreSQL binaries: a primary
(``initdb``, ``wal_level=replica``, a ``replication`` line for 127.0.0.1 in its pg_hba.conf) and
a hot standby made from it by ``pg_basebackup -R -X stream``, each on a free port of 127.0.0.1,
both removed afterwards. (The machine's own server on 5432 would serve as the primary only
with a ``host replication postgres 127.0.0.1/32 trust`` line in its pg_hba.conf, which a test
does not add to system configuration.) PostgreSQL refuses to run as root, so as root the
binaries run as the ``postgres`` user (runuser).

Replay on the standby is paused while a product is published on the primary: the reads routed
to the replica (published products, the disclosure page) then do not see it while primary reads
do; after replay resumes they do.
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
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.exc import DBAPIError

from huiminbao.app import build_container, create_app
from huiminbao.catalog.demo import ensure_demo_product
from huiminbao.core.clock import MovableClock
from huiminbao.core.config import Settings
from huiminbao.core.container import Container
from huiminbao.core.db import Database
from huiminbao.core.migrate import upgrade_engine
from huiminbao.disclosure.services import published_products

pytestmark = pytest.mark.postgres

REPLAY_WAIT_SECONDS = 20.0


@dataclass(frozen=True)
class Pair:
    primary_url: str
    replica_url: str
    primary_port: int
    replica_port: int


def _bin_dir() -> Path:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"))
    if not found or not shutil.which("pg_basebackup"):
        pytest.skip("no PostgreSQL server binaries (/usr/lib/postgresql/*/bin/pg_ctl)")
    return Path(found[-1]).parent


def _as_server_user() -> tuple[list[str], int | None, int | None]:
    """The command prefix and the uid/gid that own the clusters' directories."""
    if os.geteuid() != 0:
        return [], None, None
    try:
        user = pwd.getpwnam("postgres")
    except KeyError:
        pytest.skip("running as root and there is no postgres user to run PostgreSQL as")
    if not shutil.which("runuser"):
        pytest.skip("running as root and runuser is missing: PostgreSQL refuses to run as root")
    return ["runuser", "-u", "postgres", "--"], user.pw_uid, user.pw_gid


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _run(prefix: list[str], *args: str) -> None:
    done = subprocess.run([*prefix, *args], capture_output=True, text=True, timeout=120)
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(args)} failed: {done.stdout}{done.stderr}")


@pytest.fixture(scope="module")
def pair() -> Iterator[Pair]:
    bin_dir = _bin_dir()
    prefix, uid, gid = _as_server_user()
    root = Path(tempfile.mkdtemp(prefix="huiminbao-replica-"))
    if uid is not None and gid is not None:
        os.chown(root, uid, gid)
    primary, replica = root / "primary", root / "replica"
    primary_port, replica_port = _free_port(), _free_port()
    started: list[Path] = []
    try:
        _run(prefix, str(bin_dir / "initdb"), "-D", str(primary), "-U", "postgres",
             "--auth=trust", "-E", "UTF8", "--no-sync")
        with (primary / "postgresql.conf").open("a") as conf:
            conf.write(f"port = {primary_port}\nlisten_addresses = '127.0.0.1'\n"
                       f"unix_socket_directories = '{root}'\nwal_level = replica\n"
                       "max_wal_senders = 4\nfsync = off\nshared_buffers = 16MB\n")
        with (primary / "pg_hba.conf").open("a") as hba:
            hba.write("host replication postgres 127.0.0.1/32 trust\n")
        _run(prefix, str(bin_dir / "pg_ctl"), "-D", str(primary), "-l",
             str(root / "primary.log"), "-w", "start")
        started.append(primary)
        base = f"postgresql+psycopg://postgres@127.0.0.1:{primary_port}/postgres"
        migrate_engine = create_engine(base)
        upgrade_engine(migrate_engine)
        migrate_engine.dispose()
        _run(prefix, "pg_basebackup", "-h", "127.0.0.1", "-p", str(primary_port),
             "-U", "postgres", "-D", str(replica), "-R", "-X", "stream")
        with (replica / "postgresql.auto.conf").open("a") as conf:
            conf.write(f"port = {replica_port}\n")
        _run(prefix, str(bin_dir / "pg_ctl"), "-D", str(replica), "-l",
             str(root / "replica.log"), "-w", "start")
        started.append(replica)
        yield Pair(base, f"postgresql+psycopg://postgres@127.0.0.1:{replica_port}/postgres",
                   primary_port, replica_port)
    finally:
        for data in reversed(started):
            subprocess.run([*prefix, str(bin_dir / "pg_ctl"), "-D", str(data), "-m",
                            "immediate", "-w", "stop"], capture_output=True, timeout=60)
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture
def replicated(pair: Pair, clock: MovableClock, tmp_path: Path) -> Iterator[Container]:
    settings = Settings(database_url=pair.primary_url, replica_database_url=pair.replica_url,
                        testing=True, extra={"documents_dir": str(tmp_path / "documents")})
    container = build_container(settings, clock=clock)
    yield container
    container.db.dispose()


def _where(session_factory: object) -> tuple[bool, int]:
    with session_factory() as session:  # type: ignore[operator]
        recovering, port = session.execute(
            text("SELECT pg_is_in_recovery(), inet_server_port()")).one()
    return bool(recovering), int(port)


def _replay(pair: Pair, statement: str) -> None:
    engine = create_engine(pair.replica_url, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.execute(text(statement))
    engine.dispose()


def _wait_for_replay(db: Database) -> None:
    """Until the standby has replayed everything the primary has written so far."""
    with db.read() as session:
        target = session.scalar(text("SELECT pg_current_wal_lsn()"))
    deadline = time.monotonic() + REPLAY_WAIT_SECONDS
    while time.monotonic() < deadline:
        with db.replica_read() as session:
            if session.scalar(text("SELECT pg_last_wal_replay_lsn() >= CAST(:t AS pg_lsn)"),
                              {"t": target}):
                return
        time.sleep(0.05)
    pytest.fail(f"the standby did not replay up to {target} within {REPLAY_WAIT_SECONDS} s")


def test_replica_reads_run_on_the_standby_and_everything_else_on_the_primary(
        pair: Pair, replicated: Container) -> None:
    db = replicated.db
    assert _where(db.replica_read) == (True, pair.replica_port)
    assert _where(db.read) == (False, pair.primary_port)
    assert _where(db.transaction) == (False, pair.primary_port)
    with db.read_engine.connect() as conn:
        assert conn.scalar(text("SELECT inet_server_port()")) == pair.replica_port
    with pytest.raises(DBAPIError, match="read-only transaction"), \
            db.replica_read() as session:
        session.execute(text("CREATE TABLE replica_write_attempt (id int)"))


def test_without_a_replica_the_replica_reads_use_the_primary(pair: Pair) -> None:
    db = Database(pair.primary_url)
    try:
        assert db.read_engine is db.engine
        assert _where(db.replica_read) == (False, pair.primary_port)
    finally:
        db.dispose()


def test_a_row_written_on_the_primary_is_read_from_the_replica_after_replay(
        pair: Pair, replicated: Container) -> None:
    db = replicated.db
    client = create_app(container=replicated).test_client()
    _replay(pair, "SELECT pg_wal_replay_pause()")
    try:
        product = ensure_demo_product(db, replicated.clock)  # written on the primary
        with db.read() as session:
            assert session.scalar(text("SELECT count(*) FROM products WHERE id = :id"),
                                  {"id": product.id}) == 1
        # Replay is paused: the reads routed to the replica do not see the new product yet.
        assert product.id not in [p.id for p in published_products(db)]
        assert client.get(f"/api/v1/disclosure/{product.id}").status_code == 404
    finally:
        _replay(pair, "SELECT pg_wal_replay_resume()")
    _wait_for_replay(db)
    assert product.id in [p.id for p in published_products(db)]
    answer = client.get(f"/api/v1/disclosure/{product.id}")
    assert answer.status_code == 200, answer.get_json()


def test_health_shows_the_replica_reachable_and_its_lag(
        pair: Pair, replicated: Container) -> None:
    body = create_app(container=replicated).test_client().get("/api/v1/health").get_json()
    assert body["status"] == "ok" and body["replica"] == "ok"
    status = replicated.db.replica_status()
    assert status is not None and status.reachable and status.standby
    lag = body["replica_lag_seconds"]
    assert lag is None or lag >= 0.0


def test_health_is_degraded_but_up_when_the_replica_does_not_answer(
        pair: Pair, clock: MovableClock, tmp_path: Path) -> None:
    settings = Settings(database_url=pair.primary_url,
                        replica_database_url=f"postgresql+psycopg://postgres@127.0.0.1:{_free_port()}/x",
                        testing=True, extra={"documents_dir": str(tmp_path / "documents")})
    container = build_container(settings, clock=clock)
    try:
        response = create_app(container=container).test_client().get("/api/v1/health")
        assert response.status_code == 200  # the primary answers: the app stays in rotation
        body = response.get_json()
        assert (body["status"], body["database"], body["replica"]) == (
            "degraded", "ok", "unavailable")
        assert body["replica_lag_seconds"] is None
    finally:
        container.db.dispose()


def test_doctor_checks_the_replica(pair: Pair) -> None:
    from click.testing import CliRunner

    from huiminbao.cli import main

    env = {"DATABASE_URL": pair.primary_url, "HUIMINBAO_MODE": "demo",
           "HUIMINBAO_REPLICA_DATABASE_URL": pair.replica_url}
    result = CliRunner().invoke(main, ["doctor"], env=env)
    line = next(line for line in result.output.splitlines() if "只读副本" in line)
    assert line.startswith("[正常]") and ("最近回放" in line or "尚无回放记录" in line), line
    # Pointed at the primary by mistake: it answers, and the doctor says it is no standby.
    result = CliRunner().invoke(main, ["doctor"], env={
        **env, "HUIMINBAO_REPLICA_DATABASE_URL": pair.primary_url})
    line = next(line for line in result.output.splitlines() if "只读副本" in line)
    assert "不是备库" in line, result.output
