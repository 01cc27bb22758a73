"""Reads on a real PostgreSQL streaming replica (``HUIMINBAO_REPLICA_DATABASE_URL``).

The module starts its own pair of clusters (``huiminbao_bench.replica``: a primary and a
``pg_basebackup -R -X stream`` hot standby on free ports of 127.0.0.1, both removed afterwards).

Replay on the standby is paused while a product is published on the primary: the reads routed
to the replica (published products, the disclosure page) then do not see it while primary reads
do; after replay resumes they do.
"""

from __future__ import annotations

from collections.abc import Iterator
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
from huiminbao_bench.replica import (
    ClusterPair,
    PairUnavailable,
    cluster_pair,
    free_port,
    wait_for_replay,
)

pytestmark = pytest.mark.postgres


@pytest.fixture(scope="module")
def pair() -> Iterator[ClusterPair]:
    try:
        with cluster_pair() as started:
            migrate_engine = create_engine(started.primary_url)
            upgrade_engine(migrate_engine)
            migrate_engine.dispose()
            wait_for_replay(started)
            yield started
    except PairUnavailable as exc:
        pytest.skip(str(exc))


@pytest.fixture
def replicated(pair: ClusterPair, clock: MovableClock, tmp_path: Path) -> Iterator[Container]:
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


def _replay(pair: ClusterPair, statement: str) -> None:
    engine = create_engine(pair.replica_url, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.execute(text(statement))
    engine.dispose()


def test_replica_reads_run_on_the_standby_and_everything_else_on_the_primary(
        pair: ClusterPair, replicated: Container) -> None:
    db = replicated.db
    assert _where(db.replica_read) == (True, pair.replica_port)
    assert _where(db.read) == (False, pair.primary_port)
    assert _where(db.transaction) == (False, pair.primary_port)
    with db.read_engine.connect() as conn:
        assert conn.scalar(text("SELECT inet_server_port()")) == pair.replica_port
    with pytest.raises(DBAPIError, match="read-only transaction"), \
            db.replica_read() as session:
        session.execute(text("CREATE TABLE replica_write_attempt (id int)"))


def test_without_a_replica_the_replica_reads_use_the_primary(pair: ClusterPair) -> None:
    db = Database(pair.primary_url)
    try:
        assert db.read_engine is db.engine
        assert _where(db.replica_read) == (False, pair.primary_port)
    finally:
        db.dispose()


def test_a_row_written_on_the_primary_is_read_from_the_replica_after_replay(
        pair: ClusterPair, replicated: Container) -> None:
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
    wait_for_replay(pair)
    assert product.id in [p.id for p in published_products(db)]
    answer = client.get(f"/api/v1/disclosure/{product.id}")
    assert answer.status_code == 200, answer.get_json()


def test_health_shows_the_replica_reachable_and_its_lag(
        pair: ClusterPair, replicated: Container) -> None:
    body = create_app(container=replicated).test_client().get("/api/v1/health").get_json()
    assert body["status"] == "ok" and body["replica"] == "ok"
    status = replicated.db.replica_status()
    assert status is not None and status.reachable and status.standby
    lag = body["replica_lag_seconds"]
    assert lag is None or lag >= 0.0


def test_health_is_degraded_but_up_when_the_replica_does_not_answer(
        pair: ClusterPair, clock: MovableClock, tmp_path: Path) -> None:
    settings = Settings(database_url=pair.primary_url,
                        replica_database_url=f"postgresql+psycopg://postgres@127.0.0.1:{free_port()}/x",
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


def test_doctor_checks_the_replica(pair: ClusterPair) -> None:
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
