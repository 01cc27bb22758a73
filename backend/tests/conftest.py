"""Shared fixtures: applications on a fresh SQLite file, and isolated PostgreSQL databases."""

from __future__ import annotations

import os
import secrets
import sqlite3
import uuid
from collections.abc import Iterator
from contextlib import closing, contextmanager
from datetime import UTC, datetime
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient
from hypothesis import settings as hypothesis_settings
from sqlalchemy import create_engine, make_url, text
from sqlalchemy.exc import OperationalError
from sqlalchemy.pool import NullPool

from huiminbao.app import build_container, create_app
from huiminbao.catalog.demo import ensure_demo_product
from huiminbao.claims.s3_standin import S3Server
from huiminbao.core import crypto
from huiminbao.core.clock import MovableClock
from huiminbao.core.config import Settings
from huiminbao.core.container import Container
from huiminbao.core.db import Database
from huiminbao.core.migrate import upgrade, upgrade_engine
from huiminbao.core.models_registry import import_all_models
from huiminbao.registry.demo import load_demo_population

DEFAULT_TEST_DATABASE_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"

# Tests that build tables with ``Base.metadata.create_all`` need every model known, whichever
# modules earlier tests in the same process happened to import (a table's foreign key to one not
# yet imported fails), so the result never depends on the order or the worker a file runs in.
import_all_models()

# Property tests check what is true, not how fast: on a shared, loaded machine a 200 ms
# per-example deadline fails at random.
hypothesis_settings.register_profile("huiminbao", deadline=None)
hypothesis_settings.load_profile("huiminbao")
# A fixed instant keeps date-dependent tests reproducible: 2026-11-22 10:00 in Hangzhou.
TEST_NOW = datetime(2026, 11, 22, 2, 0, tzinfo=UTC)


def test_database_url() -> str:
    return os.environ.get("TEST_DATABASE_URL", DEFAULT_TEST_DATABASE_URL)


@pytest.fixture(autouse=True, scope="module")
def _keyring_ends_with_its_module() -> Iterator[None]:
    """The keyring is the process's (``crypto.install``): a module that installs one (a
    container's settings, the stand-ins' keys) must not leave it to the next file in the same
    worker, whose data would then be sealed with keys its own app does not hold."""
    before = crypto.installed()
    yield
    crypto.install(before)


# ---------------------------------------------------------------- SQLite applications


@pytest.fixture
def clock() -> MovableClock:
    return MovableClock(TEST_NOW)


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(database_url=f"sqlite:///{tmp_path / 'test.sqlite3'}", testing=True)


SQLITE_PREFIX = "sqlite:///"


def _load_demo(container: Container, clock: MovableClock) -> None:
    load_demo_population(container.db, clock)
    ensure_demo_product(container.db, clock)


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A SQLite file migrated and loaded with the demo city at TEST_NOW, once per session:
    migrating and loading took about as long as a typical API test itself, so every ``wired``
    starts from a copy of this file instead."""
    path = tmp_path_factory.mktemp("template") / "template.sqlite3"
    settings = Settings(database_url=f"{SQLITE_PREFIX}{path}", testing=True)
    upgrade(settings.database_url)
    clock = MovableClock(TEST_NOW)
    container = build_container(settings, clock=clock)
    _load_demo(container, clock)
    container.db.dispose()
    return path


def _copy_sqlite(source: Path, target: Path) -> None:
    """SQLite's online backup: a consistent copy whatever journal mode the source was left in."""
    with closing(sqlite3.connect(source)) as src, closing(sqlite3.connect(target)) as dst:
        src.backup(dst)


@pytest.fixture
def wired(settings: Settings, clock: MovableClock,
          sqlite_template: Path) -> Iterator[Container]:
    """A container on a migrated SQLite file with the demo city loaded."""
    target = Path(settings.database_url.removeprefix(SQLITE_PREFIX))
    from_template = clock.now() == TEST_NOW and not target.exists()
    if from_template:
        _copy_sqlite(sqlite_template, target)
    else:  # a test that moved the clock first gets its demo city loaded at its own time
        upgrade(settings.database_url)
    container = build_container(settings, clock=clock)
    if not from_template:
        _load_demo(container, clock)
    yield container
    container.db.dispose()


@pytest.fixture
def app(wired: Container) -> Flask:
    return create_app(container=wired)


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


# ---------------------------------------------------------------- PostgreSQL


def _admin_engine_or_fail(url: str):  # type: ignore[no-untyped-def]
    engine = create_engine(url, isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
    except OperationalError as exc:
        engine.dispose()
        pytest.fail(
            f"PostgreSQL is not reachable at TEST_DATABASE_URL={url!r}: start it "
            "(pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start) "
            f"or point TEST_DATABASE_URL at one. ({exc.orig})",
            pytrace=False,
        )
    return engine


def _database_url(url: str, database: str) -> str:
    return make_url(url).set(database=database).render_as_string(hide_password=False)


@contextmanager
def _fresh_database(prefix: str, template: str | None = None) -> Iterator[str]:
    """A new PostgreSQL database (a copy of ``template`` when given), dropped afterwards."""
    admin = _admin_engine_or_fail(test_database_url())
    name = f"{prefix}_{uuid.uuid4().hex[:12]}"
    # The default strategy (WAL_LOG) copies a template block by block, about a second here;
    # FILE_COPY forces a checkpoint of the whole shared cluster first and took several.
    copy = f' TEMPLATE "{template}"' if template else ""
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"{copy}'))
    try:
        yield name
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture(scope="session")
def pg_template() -> Iterator[str]:
    """A PostgreSQL database migrated once per session: every ``pg_url`` is a copy of it
    (``CREATE DATABASE ... TEMPLATE``), which takes a fraction of a migration."""
    with _fresh_database("tmpl") as name:
        # NullPool: a template may have no open connection when it is copied.
        migrate_engine = create_engine(_database_url(test_database_url(), name),
                                       poolclass=NullPool)
        upgrade_engine(migrate_engine)
        migrate_engine.dispose()
        yield name


@pytest.fixture(scope="module")
def pg_url(pg_template: str) -> Iterator[str]:
    """A fresh, migrated PostgreSQL database for one test module (a copy of the session's
    template), dropped afterwards. Module scope: the module's tests share module-scoped
    fixtures on it (pools, running servers), each making its own unique data."""
    with _fresh_database("t", pg_template) as name:
        yield _database_url(test_database_url(), name)


@pytest.fixture(scope="module")
def pg_db(pg_url: str) -> Iterator[Database]:
    database = Database(pg_url, pool_size=30, max_overflow=10)
    yield database
    database.dispose()


@pytest.fixture
def pg_wired(pg_url: str, clock: MovableClock, tmp_path: Path) -> Iterator[Container]:
    """A container on this module's schema; claim documents go to the test's own directory."""
    settings = Settings(database_url=pg_url, testing=True,
                        extra={"documents_dir": str(tmp_path / "documents")})
    container = build_container(settings, clock=clock)
    yield container
    container.db.dispose()


# ---------------------------------------------------------------- object storage


@pytest.fixture(scope="session")
def s3_server() -> Iterator[S3Server]:
    """moto's S3 server on a free local port, for the whole session."""
    server = S3Server.start()
    yield server
    server.stop()


@pytest.fixture
def s3_env(s3_server: S3Server) -> dict[str, str]:
    """The S3_* variables of a fresh bucket of this test's own."""
    return s3_server.env(f"docs-{secrets.token_hex(6)}")
