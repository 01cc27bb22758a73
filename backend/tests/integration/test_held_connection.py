"""One pooled connection per request (``Database.holding_connection``), on PostgreSQL: the
request's sessions share it one after another, a nested session gets its own, read sessions
autocommit, and the connection goes back to the pool when the request ends."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import event, text

from huiminbao.core.db import Database

pytestmark = pytest.mark.postgres


@pytest.fixture
def db(pg_url: str) -> Iterator[Database]:
    database = Database(pg_url, pool_size=2, max_overflow=2)
    with database.transaction() as session:
        session.execute(text("CREATE TABLE IF NOT EXISTS held_probe (n integer)"))
    yield database
    with database.transaction() as session:
        session.execute(text("DROP TABLE held_probe"))
    database.dispose()


# True when the statement began its own transaction (no BEGIN before it).
_ALONE = text("SELECT statement_timestamp() = transaction_timestamp()")


def _insert_then_fail(db: Database, n: int) -> None:
    with db.transaction() as session:
        session.execute(text("INSERT INTO held_probe VALUES (:n)"), {"n": n})
        raise RuntimeError("the use case failed")


def _read_first_then_insert_then_fail(db: Database, n: int) -> None:
    with db.transaction() as outer:
        with db.read() as inner:
            inner.execute(text("SELECT 1"))
        outer.execute(text("INSERT INTO held_probe VALUES (:n)"), {"n": n})
        raise RuntimeError("the use case failed")


def _backend_pid(session: Any) -> int:
    return int(session.execute(text("SELECT pg_backend_pid()")).scalar_one())


def _checkouts(db: Database) -> list[int]:
    taken: list[int] = []
    event.listen(db.engine.pool, "checkout", lambda *_args: taken.append(1))
    return taken


def test_a_request_runs_its_sessions_on_one_connection(db: Database) -> None:
    taken = _checkouts(db)
    with db.holding_connection():
        with db.read() as session:
            first = _backend_pid(session)
        with db.transaction() as session:
            session.execute(text("INSERT INTO held_probe VALUES (1)"))
            second = _backend_pid(session)
        with db.read() as session:
            third = _backend_pid(session)
            assert session.execute(text("SELECT count(*) FROM held_probe")).scalar_one() == 1
    assert first == second == third
    assert len(taken) == 1
    assert db.engine.pool.checkedout() == 0  # given back when the request ended


def test_a_nested_session_takes_a_connection_of_its_own(db: Database) -> None:
    with db.holding_connection(), db.transaction() as outer:
        outer.execute(text("INSERT INTO held_probe VALUES (2)"))
        outer_pid = _backend_pid(outer)
        with db.read() as inner:
            assert _backend_pid(inner) != outer_pid
            # The outer transaction has not committed: the nested reader does not see its row.
            assert inner.execute(
                text("SELECT count(*) FROM held_probe WHERE n = 2")).scalar_one() == 0
    assert db.engine.pool.checkedout() == 0


def test_read_sessions_autocommit_and_transactions_do_not(db: Database) -> None:
    with db.holding_connection():
        with db.read() as session:  # each statement is a transaction of its own
            session.execute(text("SELECT pg_sleep(0.01)"))
            assert session.execute(_ALONE).scalar_one() is True
        with db.transaction() as session:
            session.execute(text("SELECT pg_sleep(0.01)"))
            assert session.execute(_ALONE).scalar_one() is False
            session.execute(text("INSERT INTO held_probe VALUES (3)"))
        with pytest.raises(RuntimeError, match="failed"):
            _insert_then_fail(db, 4)
        with db.read() as session:  # the rollback left the held connection usable
            rows = session.execute(text("SELECT n FROM held_probe ORDER BY n")).scalars().all()
    assert 3 in rows and 4 not in rows


def test_a_one_statement_write_commits_by_itself_and_the_next_transaction_is_one(
        db: Database) -> None:
    with db.holding_connection():
        with db.one_statement() as session:
            session.execute(text("INSERT INTO held_probe VALUES (6)"))
            assert session.execute(_ALONE).scalar_one() is True  # no transaction around it
        with db.transaction() as session:  # the held connection is a transaction again
            session.execute(text("SELECT pg_sleep(0.01)"))
            assert session.execute(_ALONE).scalar_one() is False
        with pytest.raises(RuntimeError, match="failed"):
            _insert_then_fail(db, 7)  # and rolls back as one
    with db.read() as session:
        rows = session.execute(text("SELECT n FROM held_probe WHERE n IN (6, 7)")).scalars()
        assert list(rows) == [6]


def test_outside_a_request_each_session_takes_and_returns_a_connection(db: Database) -> None:
    taken = _checkouts(db)
    with db.read() as session:
        _backend_pid(session)
    with db.transaction() as session:
        _backend_pid(session)
    assert len(taken) == 2
    assert db.engine.pool.checkedout() == 0


def test_a_read_opened_before_the_transaction_s_first_statement_leaves_it_a_transaction(
        db: Database) -> None:
    """The held connection is busy from the moment a transaction opens, so a nested read cannot
    switch it to autocommit before the transaction's first statement."""
    with db.holding_connection():
        with pytest.raises(RuntimeError, match="failed"):
            _read_first_then_insert_then_fail(db, 5)
        with db.read() as session:
            assert session.execute(
                text("SELECT count(*) FROM held_probe WHERE n = 5")).scalar_one() == 0


def test_a_failed_session_gives_the_held_connection_back(db: Database) -> None:
    """Whatever state a failure left it in, the request's next session starts on a connection
    fresh from the pool (which rolled the failed one back)."""
    taken = _checkouts(db)
    with db.holding_connection():
        with db.read() as session:
            _backend_pid(session)
        with pytest.raises(RuntimeError, match="failed"):
            _insert_then_fail(db, 6)
        assert db.engine.pool.checkedout() == 0
        with db.read() as session:
            _backend_pid(session)
    assert len(taken) == 2
    assert db.engine.pool.checkedout() == 0
