"""Database engine, declarative base and the transaction boundary that services own."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, cast

from sqlalchemy import (
    BigInteger,
    Connection,
    DateTime,
    Engine,
    Integer,
    MetaData,
    Table,
    create_engine,
    event,
    text,
)
from sqlalchemy.engine import Dialect, make_url
from sqlalchemy.orm import DeclarativeBase, Session
from sqlalchemy.types import TypeDecorator

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class UtcDateTime(TypeDecorator[datetime]):
    """Stores UTC and always hands back timezone-aware datetimes, on SQLite too."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetimes are not stored; read time from the clock")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def table_of(model: type[Base]) -> Table:
    """A mapped class's table, for plain Core statements on hot paths (an INSERT on the table
    skips the ORM's bulk machinery that ``insert(Model)`` goes through)."""
    return cast(Table, model.__table__)


# Surrogate keys: BIGINT on PostgreSQL, INTEGER on SQLite (only INTEGER PRIMARY KEY autoincrements).
BigIntPk = BigInteger().with_variant(Integer(), "sqlite")


def _prepare_sqlite(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Take over transaction control from pysqlite so that BEGIN IMMEDIATE below is honoured.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA busy_timeout=10000")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Any) -> None:
        # SQLite has no row locks: a writing transaction takes the write lock up front so that
        # read-then-write transactions serialize instead of failing with "database is locked"
        # on upgrade. Read-only sessions begin deferred: in WAL mode they never block a writer.
        readonly = conn.get_execution_options().get("huiminbao_readonly", False)
        conn.exec_driver_sql("BEGIN" if readonly else "BEGIN IMMEDIATE")


def make_engine(url: str, **kwargs: Any) -> Engine:
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, **kwargs)
        _prepare_sqlite(engine)
        return engine
    kwargs.setdefault("pool_pre_ping", True)
    if "poolclass" not in kwargs:  # a NullPool (migrations) takes no pool sizes
        kwargs.setdefault("pool_size", 10)
        kwargs.setdefault("max_overflow", 20)
    return create_engine(url, **kwargs)


class Database:
    """Owns the engine; services open one transaction per use case with ``transaction()``.

    Inside ``holding_connection()`` (one web request) the transactions and read sessions of the
    request run one after another on one pooled connection, taken at first use and given back at
    the end: a request that reads, writes, calls the registry and writes again costs one pool
    checkout (and one pre-ping) instead of one per step. A session opened while that connection
    is busy (nested use) takes a connection of its own, as outside a request."""

    def __init__(self, url: str, **engine_kwargs: Any) -> None:
        self.url = url
        self.engine = make_engine(url, **engine_kwargs)
        self._held = threading.local()

    @property
    def is_postgresql(self) -> bool:
        return self.engine.dialect.name == "postgresql"

    @contextmanager
    def holding_connection(self) -> Iterator[None]:
        """Let this thread keep one connection between its sessions until the block ends."""
        if getattr(self._held, "active", False):
            yield
            return
        self._held.active, self._held.connection = True, None
        try:
            yield
        finally:
            connection: Connection | None = self._held.connection
            self._held.active, self._held.connection = False, None
            if connection is not None:
                connection.close()

    @contextmanager
    def _connection(self, *, readonly: bool) -> Iterator[Connection]:
        held: Connection | None = None
        if getattr(self._held, "active", False):
            held = self._held.connection
            if held is not None and (held.closed or held.invalidated):
                held.close()  # lost with the server (invalidated): back to the pool, discarded
                held = None
            if held is None:
                held = self._held.connection = self.engine.connect()
            elif held.in_transaction():
                held = None  # nested: the held connection is busy with the outer session
        if held is None:
            with self.engine.connect() as own:
                self._prepare(own, readonly=readonly)
                yield own
            return
        self._prepare(held, readonly=readonly)
        try:
            yield held
        except BaseException:
            # Whatever state a failure left it in (on SQLite a failed COMMIT stays inside its
            # transaction), the request does not reuse it: the pool rolls it back on return.
            self._held.connection = None
            held.close()
            raise

    def _prepare(self, connection: Connection, *, readonly: bool) -> None:
        connection.execution_options(huiminbao_readonly=readonly)
        if self.is_postgresql:
            # Read sessions run in autocommit: no BEGIN and ROLLBACK round trips around them.
            # Nothing changes for their queries: under READ COMMITTED each statement takes its
            # own snapshot inside a transaction as well. (SQLite keeps its deferred BEGIN.)
            # Switched only on a change: each switch also registers a reset for the pool.
            current = connection.get_execution_options().get("isolation_level")
            if readonly and current != "AUTOCOMMIT":
                connection.execution_options(isolation_level="AUTOCOMMIT")
            elif not readonly and current == "AUTOCOMMIT":
                connection.execution_options(
                    isolation_level=self.engine.dialect.default_isolation_level or "READ COMMITTED")

    @contextmanager
    def transaction(self) -> Iterator[Session]:
        """Commit on success, roll back on any exception; the only place that commits."""
        with self._connection(readonly=False) as connection, \
                Session(bind=connection, expire_on_commit=False) as session, session.begin():
            # Begin on the connection now (psycopg sends nothing until the first statement), so
            # that a session opened inside this one before its first statement sees the held
            # connection busy and takes its own, rather than switching it to autocommit.
            session.connection()
            yield session

    @contextmanager
    def read(self) -> Iterator[Session]:
        """A session for queries only: nothing is committed, and the objects it loaded stay
        readable after it closes (close() detaches them without expiring them).

        On PostgreSQL it autocommits, so it is not the place for row locks (FOR UPDATE) or
        server-side cursors (``yield_per``): those belong in ``transaction()``."""
        with self._connection(readonly=True) as connection, \
                Session(bind=connection, expire_on_commit=False) as session:
            session.connection()  # marks the held connection busy, as in transaction()
            yield session

    def ping(self) -> bool:
        try:
            with self.engine.connect() as conn:
                conn.execute(text("SELECT 1"))
        except Exception:
            return False
        return True

    def dispose(self) -> None:
        self.engine.dispose()
