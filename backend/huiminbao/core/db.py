"""Database engine, declarative base and the transaction boundary that services own."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from typing import Any, TypeVar, cast

import psycopg
from psycopg.abc import PQGen
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
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError
from sqlalchemy.orm import DeclarativeBase, Session
from sqlalchemy.types import TypeDecorator

log = logging.getLogger(__name__)
_Result = TypeVar("_Result")

# How long PostgreSQL work may take before it is abandoned and the request answers 503 (DESIGN §5).
# A request on the enrollment path runs ~20 statements of a few milliseconds each; anything near
# these limits is a fault (the server overloaded, a lock held by a stuck transaction, the network
# gone), and a fast 503 with Retry-After lets the client retry instead of holding a worker thread.
CONNECT_TIMEOUT_SECONDS = 3  # TCP connect and the start-up exchange (libpq's minimum is 2)
# Server side, per statement. Five seconds is ~1000x a hot-path statement and leaves room for the
# console's counts; batch commands may raise it (HUIMINBAO_DB_STATEMENT_TIMEOUT).
STATEMENT_TIMEOUT_SECONDS = 5.0
# Row locks on the hot path are held for milliseconds; waiting seconds for one means its holder
# is stuck (often on a dead client), so give up sooner than the statement limit.
LOCK_TIMEOUT_SECONDS = 2.0
# A transaction whose client vanished (or was black-holed) holds its row locks until the server
# notices; this releases them. Far above any legitimate pause inside one of our transactions.
IDLE_IN_TRANSACTION_TIMEOUT_SECONDS = 30.0
POOL_TIMEOUT_SECONDS = 3.0  # waiting for a free pooled connection (all busy or all stuck)
# The client's own deadline for any answer: the server's statement_timeout should fire first (a
# clean QueryCanceled, the connection kept), so this only catches a server that cannot answer at
# all - a black-holed connection, whose bytes the kernel still ACKs, so TCP keepalive never fires.
ANSWER_MARGIN_SECONDS = 2.0
# Migrations may build an index over a large table; their lock_timeout stays short, so that a
# deploy during traffic fails and is retried rather than queueing every request behind its lock.
MIGRATION_STATEMENT_TIMEOUT_SECONDS = 600.0
PRE_PING_DEADLINE_SECONDS = 2.0  # an empty query on an idle connection: milliseconds when alive
# /health's own engine: it must answer within ~2 s even when the database does not.
HEALTH_ANSWER_DEADLINE_SECONDS = 1.5
HEALTH_CONNECT_TIMEOUT_SECONDS = 2
HEALTH_POOL_SIZE = 4  # at most this many health checks at once each hold a connection
# A ping whose pooled connection turned out dead this quickly is retried once on a new one.
PING_RETRY_WITHIN_SECONDS = 0.5

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


def one_of(column: str, values: type[StrEnum]) -> str:
    """SQL for "column holds one of the enum's values" (values are plain identifiers)."""
    allowed = ", ".join(f"'{member.value}'" for member in values)
    return f"{column} IN ({allowed})"


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


class _DeadlineConnection(psycopg.Connection[Any]):
    """A psycopg connection that waits at most ``answer_deadline`` seconds for any answer.

    Every blocking exchange of a psycopg connection (execute, fetch, commit, rollback, the pool's
    pre-ping) goes through ``wait``, so one override bounds them all, at no cost per statement
    and without a watchdog thread. When the deadline passes, the connection is closed (it is
    mid-protocol and cannot be reused) and an ``OperationalError`` is raised; SQLAlchemy then
    sees a closed connection, treats it as a disconnect and the pool discards it."""

    answer_deadline: float | None = None

    def wait(self, gen: PQGen[_Result], interval: float | None = None,
             timeout: float | None = None) -> _Result:
        ours = timeout is None and self.answer_deadline is not None
        if ours:
            timeout = self.answer_deadline
        try:
            if interval is None:
                return super().wait(gen, timeout=timeout)
            return super().wait(gen, interval, timeout)
        except psycopg.errors._WaitTimeout:
            if not ours:
                raise  # psycopg's own bounded waits (cancel) handle their timeout themselves
            self.pgconn.finish()
            raise psycopg.OperationalError(
                f"no answer from the database within {timeout:g} s; connection closed") from None


def _merged_server_options(url_options: str | tuple[str, ...] | None, **settings: float) -> str:
    """libpq ``options`` setting our per-session limits, followed by the URL's own options (the
    tests' ``-csearch_path=...``; a later ``-c`` of the same name wins, so the URL can override)."""
    ours = [f"-c {name}={round(seconds * 1000)}" for name, seconds in settings.items()]
    theirs = [url_options] if isinstance(url_options, str) else list(url_options or ())
    return " ".join(ours + theirs)


def make_engine(url: str, *, statement_timeout: float = STATEMENT_TIMEOUT_SECONDS,
                answer_deadline: float | None = None,
                connect_timeout: int = CONNECT_TIMEOUT_SECONDS, **kwargs: Any) -> Engine:
    """An engine with bounded waits: on PostgreSQL a connect timeout, server-side statement,
    lock and idle-in-transaction timeouts, a pool checkout timeout and a client-side deadline
    for every answer (``statement_timeout`` + a margin unless given). SQLite keeps its
    busy_timeout."""
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
        kwargs.setdefault("pool_timeout", POOL_TIMEOUT_SECONDS)
    connect_args = dict(kwargs.pop("connect_args", {}))
    connect_args.setdefault("connect_timeout", connect_timeout)
    # Passed as connect_args, which replace the URL's query parameters of the same name: merge.
    connect_args["options"] = _merged_server_options(
        connect_args.get("options", parsed.query.get("options")),
        statement_timeout=statement_timeout,
        lock_timeout=min(LOCK_TIMEOUT_SECONDS, statement_timeout),
        idle_in_transaction_session_timeout=IDLE_IN_TRANSACTION_TIMEOUT_SECONDS)
    engine = create_engine(url, connect_args=connect_args, **kwargs)
    if parsed.get_driver_name() == "psycopg":
        deadline = (statement_timeout + ANSWER_MARGIN_SECONDS
                    if answer_deadline is None else answer_deadline)

        ping_deadline = min(PRE_PING_DEADLINE_SECONDS, deadline)

        @event.listens_for(engine, "do_connect")
        def _connect_with_deadline(_dialect: Any, _record: Any, cargs: tuple[Any, ...],
                                   cparams: dict[str, Any]) -> psycopg.Connection[Any]:
            connection = _DeadlineConnection.connect(*cargs, **cparams)
            connection.answer_deadline = deadline
            return connection

        # The first exchange of an idle pooled connection is the pool's pre-ping, which runs
        # before the "checkout" event: a connection that went dead while idle is given up after
        # the short ping deadline, then replaced, instead of after the full answer deadline.
        @event.listens_for(engine, "checkin")
        def _short_deadline_while_idle(dbapi_connection: Any, _record: Any) -> None:
            if isinstance(dbapi_connection, _DeadlineConnection):
                dbapi_connection.answer_deadline = ping_deadline

        @event.listens_for(engine, "checkout")
        def _full_deadline_in_use(dbapi_connection: Any, _record: Any, _proxy: Any) -> None:
            if isinstance(dbapi_connection, _DeadlineConnection):
                dbapi_connection.answer_deadline = deadline
    return engine


@contextmanager
def long_statements(connection: Connection, seconds: float) -> Iterator[None]:
    """Within the connection's current transaction, let statements run up to ``seconds`` (a
    known long read, e.g. the disclosure counts over every policy of a product): the server's
    limit is raised with SET LOCAL and the client's deadline with it, then both come back."""
    if connection.dialect.name != "postgresql":
        yield
        return
    connection.exec_driver_sql(f"SET LOCAL statement_timeout = {round(seconds * 1000)}")
    raw = connection.connection.dbapi_connection
    deadline = raw.answer_deadline if isinstance(raw, _DeadlineConnection) else None
    if isinstance(raw, _DeadlineConnection):
        raw.answer_deadline = seconds + ANSWER_MARGIN_SECONDS
    try:
        yield
    finally:
        if isinstance(raw, _DeadlineConnection):
            raw.answer_deadline = deadline


def is_database_unavailable(error: BaseException) -> bool:
    """Whether an error means "the database cannot serve now, try again shortly" (503 +
    Retry-After) rather than a defect: it is unreachable or its connection died, the pool is
    exhausted, a statement or lock wait timed out, or SQLite's file is locked."""
    if isinstance(error, PoolTimeoutError | psycopg.OperationalError):
        return True
    if isinstance(error, DBAPIError):
        if error.connection_invalidated:
            return True
        original = error.orig
        if isinstance(original, psycopg.errors.QueryCanceled | psycopg.errors.LockNotAvailable):
            return True
        if isinstance(error, OperationalError):
            # On SQLite an OperationalError is also "no such table" and the like: defects.
            return not _is_sqlite_error(original) or "locked" in str(original).lower()
    return False


def _is_sqlite_error(error: BaseException | None) -> bool:
    return type(error).__module__ == "sqlite3"


class Database:
    """Owns the engine; services open one transaction per use case with ``transaction()``.

    Inside ``holding_connection()`` (one web request) the transactions and read sessions of the
    request run one after another on one pooled connection, taken at first use and given back at
    the end: a request that reads, writes, calls the registry and writes again costs one pool
    checkout (and one pre-ping) instead of one per step. A session opened while that connection
    is busy (nested use) takes a connection of its own, as outside a request.

    With ``replica_url`` (a PostgreSQL streaming replica of ``url``), ``replica_read()`` sessions
    run there; every other session runs on the primary. Which reads may be a little behind is
    decided per use case by the service that opens the session (README, production topology)."""

    def __init__(self, url: str, *, replica_url: str | None = None, **engine_kwargs: Any) -> None:
        self.url = url
        self.engine = make_engine(url, **engine_kwargs)
        self.replica_url = replica_url
        self.replica_engine = make_engine(replica_url, **engine_kwargs) if replica_url else None
        self._held = threading.local()
        self._health_engine_lock = threading.Lock()
        self._health_engine: Engine | None = None
        self._replica_health_engine: Engine | None = None

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
                _give_back(connection)

    @contextmanager
    def _connection(self, *, readonly: bool, autocommit: bool | None = None,
                    ) -> Iterator[Connection]:
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
                self._prepare(own, readonly=readonly, autocommit=autocommit)
                yield own
            return
        self._prepare(held, readonly=readonly, autocommit=autocommit)
        try:
            yield held
        except BaseException:
            # Whatever state a failure left it in (on SQLite a failed COMMIT stays inside its
            # transaction), the request does not reuse it: the pool rolls it back on return.
            self._held.connection = None
            _give_back(held)
            raise

    def _prepare(self, connection: Connection, *, readonly: bool,
                 autocommit: bool | None = None) -> None:
        """``autocommit``: None means as ``readonly`` (reads autocommit, writes do not)."""
        connection.execution_options(huiminbao_readonly=readonly)
        if self.is_postgresql:
            # Read sessions run in autocommit: no BEGIN and ROLLBACK round trips around them.
            # Nothing changes for their queries: under READ COMMITTED each statement takes its
            # own snapshot inside a transaction as well. (SQLite keeps its deferred BEGIN.)
            # Switched only on a change: each switch also registers a reset for the pool.
            wanted = readonly if autocommit is None else autocommit
            current = connection.get_execution_options().get("isolation_level")
            if wanted and current != "AUTOCOMMIT":
                connection.execution_options(isolation_level="AUTOCOMMIT")
            elif not wanted and current == "AUTOCOMMIT":
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
    def one_statement(self) -> Iterator[Session]:
        """A session for exactly one writing statement, which is its own transaction: on
        PostgreSQL it runs in autocommit, one round trip instead of three (BEGIN, the statement,
        COMMIT); elsewhere it is a ``transaction()``. A second statement here would not be
        atomic with the first: that is what ``transaction()`` is for."""
        if not self.is_postgresql:
            with self.transaction() as session:
                yield session
            return
        with self._connection(readonly=False, autocommit=True) as connection, \
                Session(bind=connection, expire_on_commit=False) as session:
            session.connection()  # marks the held connection busy, as in transaction()
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

    @property
    def read_engine(self) -> Engine:
        """Where reads that may be a little behind go: the replica, else the primary."""
        return self.replica_engine if self.replica_engine is not None else self.engine

    @contextmanager
    def replica_read(self) -> Iterator[Session]:
        """A ``read()`` session on the streaming replica, when there is one (else ``read()``).

        For reads that may be a few seconds behind the primary (lookups, policy lists, public
        disclosure, reports): a row the caller committed a moment ago may not be there yet, so a
        read that must see the caller's own write uses ``read()``. The replica is read-only: a
        write here fails. Each session takes its own pooled replica connection (the request's
        held connection is the primary's)."""
        if self.replica_engine is None:
            with self.read() as session:
                yield session
            return
        with self.replica_engine.connect() as connection:
            self._prepare(connection, readonly=True)
            with Session(bind=connection, expire_on_commit=False) as session:
                yield session

    def ping(self) -> bool:
        """Whether the database answers ``SELECT 1`` within about two seconds.

        On PostgreSQL it runs on an engine of its own (one connection, short connect timeout and
        answer deadline, no pre-ping): a health check neither queues behind a pool that stuck
        requests hold nor waits out the request deadlines.

        Its pooled connection may have died while idle (a restarted database, a terminated
        backend) with the database fine: a disconnect noticed at once is tried again, once, on a
        fresh connection. One that took its time (a black hole) is not: the answer stays fast."""
        started = time.monotonic()
        for attempt in (1, 2):
            try:
                with self._ping_engine().connect() as conn:
                    conn.execution_options(huiminbao_readonly=True).execute(text("SELECT 1"))
            except Exception as exc:  # any failure means "not healthy"
                if (attempt == 1 and isinstance(exc, DBAPIError) and exc.connection_invalidated
                        and time.monotonic() - started < PING_RETRY_WITHIN_SECONDS):
                    continue
                log.warning("database ping failed: %s", type(exc).__name__)
                return False
            return True
        return False

    def replica_status(self) -> ReplicaStatus | None:
        """Whether the replica answers, and how far behind it is, within about two seconds
        (an engine of its own, as ``ping``); None without a replica. The lag is the age of the
        last transaction it replayed (``pg_last_xact_replay_timestamp``): cheap, and an upper
        bound (an idle primary makes it grow); None when the URL is not a standby."""
        if self.replica_url is None:
            return None
        with self._health_engine_lock:
            if self._replica_health_engine is None:
                self._replica_health_engine = _health_engine(self.replica_url)
            engine = self._replica_health_engine
        try:
            with engine.connect() as conn:
                conn = conn.execution_options(huiminbao_readonly=True)
                if engine.dialect.name != "postgresql":
                    conn.execute(text("SELECT 1"))
                    return ReplicaStatus(reachable=True, standby=False, lag_seconds=None)
                standby, lag = conn.execute(text(
                    "SELECT pg_is_in_recovery(), "
                    "EXTRACT(EPOCH FROM now() - pg_last_xact_replay_timestamp())")).one()
        except Exception as exc:  # any failure means "not reachable"
            log.warning("replica ping failed: %s", type(exc).__name__)
            return ReplicaStatus(reachable=False, standby=False, lag_seconds=None)
        return ReplicaStatus(reachable=True, standby=bool(standby),
                             lag_seconds=None if lag is None else max(0.0, float(lag)))

    def _ping_engine(self) -> Engine:
        if not self.is_postgresql:
            return self.engine  # SQLite: a read-only SELECT 1 in WAL mode waits for nothing
        with self._health_engine_lock:
            if self._health_engine is None:
                self._health_engine = _health_engine(self.url)
            return self._health_engine

    def dispose(self, *, close: bool = True) -> None:
        """``close=False`` in a forked child: forget the parent's connections without closing
        them under the parent (gunicorn's post_fork)."""
        self.engine.dispose(close=close)
        if self.replica_engine is not None:
            self.replica_engine.dispose(close=close)
        for engine in (self._health_engine, self._replica_health_engine):
            if engine is not None:
                engine.dispose(close=close)


def _health_engine(url: str) -> Engine:
    """A few connections of its own, short connect timeout and answer deadline, no pre-ping: a
    health check answers within about two seconds whatever the database does. Connections are
    opened as concurrent checks need them and then kept (no overflow): an overflow connection is
    closed when given back, and under a load balancer's polling (or a benchmark's) that meant a
    new PostgreSQL backend, forked and torn down, for most health checks."""
    return make_engine(url, statement_timeout=HEALTH_ANSWER_DEADLINE_SECONDS,
                       answer_deadline=HEALTH_ANSWER_DEADLINE_SECONDS,
                       connect_timeout=HEALTH_CONNECT_TIMEOUT_SECONDS, pool_pre_ping=False,
                       pool_size=HEALTH_POOL_SIZE, max_overflow=0,
                       pool_timeout=HEALTH_ANSWER_DEADLINE_SECONDS)


@dataclass(frozen=True)
class ReplicaStatus:
    reachable: bool
    standby: bool  # in recovery: a streaming replica, not a primary
    lag_seconds: float | None


def _give_back(connection: Connection) -> None:
    """Return a connection to the pool at the end of a request or after a failure; never raises
    (a request's teardown must not fail because its connection died with the server)."""
    try:
        connection.close()
    except Exception:  # the pool invalidates it; the request has answered
        log.warning("a database connection could not be given back cleanly", exc_info=True)
        try:
            connection.invalidate()
        except Exception:
            log.warning("a dead database connection could not be invalidated", exc_info=True)
