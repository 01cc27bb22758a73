"""Database faults on PostgreSQL, through a loopback proxy: while the database refuses
connections or black-holes them, requests answer 503 with Retry-After within a bound instead of
500 or hanging, /health answers within ~2 s, and once the database is back the same application
answers 200 again by itself (no restart).

Bounds: a request against a black-holed database answers within ``BLACKHOLE_BOUND_S`` (the pool's
pre-ping deadline, 2 s, then a connect timeout, 3 s); /health within ``HEALTH_BOUND_S`` (its own
1.5 s answer deadline or 2 s connect timeout)."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from typing import TypeVar

import pytest
from flask.testing import FlaskClient
from sqlalchemy import create_engine, text
from sqlalchemy.exc import OperationalError
from werkzeug.test import TestResponse

from huiminbao.app import build_container, create_app
from huiminbao.core.clock import MovableClock
from huiminbao.core.config import Settings
from huiminbao.core.container import Container
from huiminbao.core.db import (
    ANSWER_MARGIN_SECONDS,
    STATEMENT_TIMEOUT_SECONDS,
    Database,
    is_database_unavailable,
    long_statements,
)
from tests import conftest
from tests.api.helpers import Session, login
from tests.faultproxy import FaultProxy

pytestmark = pytest.mark.postgres

REFUSED_BOUND_S = 2.0
BLACKHOLE_BOUND_S = 10.0
HEALTH_BOUND_S = 3.0
GIVE_UP_S = 20.0
_Answer = TypeVar("_Answer")


@pytest.fixture
def proxy() -> Iterator[FaultProxy]:
    with FaultProxy("127.0.0.1", 5432) as running:
        yield running


@pytest.fixture
def wired(pg_url: str, proxy: FaultProxy, clock: MovableClock) -> Iterator[Container]:
    container = build_container(Settings(database_url=proxy.url_for(pg_url), testing=True),
                                clock=clock)
    yield container
    container.db.dispose()


@pytest.fixture
def client(wired: Container) -> FlaskClient:
    return create_app(container=wired).test_client()


def _timed(call: Callable[[], _Answer]) -> tuple[_Answer, float]:
    """Run the call in a thread: on code without timeouts it would hang; the test fails instead
    (the proxy's close at the end unblocks the thread)."""
    started = time.monotonic()
    with ThreadPoolExecutor(max_workers=1) as pool:
        future = pool.submit(call)
        try:
            answer = future.result(timeout=GIVE_UP_S)
        except FutureTimeout:
            pytest.fail(f"no answer within {GIVE_UP_S} s", pytrace=False)
    return answer, time.monotonic() - started


def _me(session: Session) -> tuple[TestResponse, float]:
    return _timed(lambda: session.client.get("/api/v1/me", headers=session.bearer))


def _health(client: FlaskClient) -> tuple[TestResponse, float]:
    return _timed(lambda: client.get("/api/v1/health"))


def _assert_unavailable(response: TestResponse) -> None:
    assert response.status_code == 503, response.get_json()
    assert int(response.headers["Retry-After"]) > 0
    body = response.get_json()
    assert body["code"] == "unavailable"
    assert set(body) == {"code", "message", "errors", "request_id"}


def _assert_healed(session: Session, client: FlaskClient, wired: Container) -> None:
    response, _ = _me(session)
    assert response.status_code == 200, response.get_json()
    health, _ = _health(client)
    assert health.status_code == 200
    assert "Retry-After" not in health.headers
    assert wired.db.engine.pool.checkedout() == 0  # every request gave its connection back


def test_refused_connections_answer_503_at_once_and_heal(
        proxy: FaultProxy, client: FlaskClient, wired: Container) -> None:
    session = login(client, "13900001301")
    assert _me(session)[0].status_code == 200

    proxy.refuse()
    for _ in range(3):
        response, took = _me(session)
        _assert_unavailable(response)
        assert took < REFUSED_BOUND_S
    otp, took = _timed(lambda: client.post("/api/v1/auth/otp", json={"phone": "13900001302"}))
    _assert_unavailable(otp)
    assert took < REFUSED_BOUND_S
    health, took = _health(client)
    assert health.status_code == 503 and int(health.headers["Retry-After"]) > 0
    assert took < REFUSED_BOUND_S

    proxy.passthrough()
    _assert_healed(session, client, wired)


def test_a_black_holed_database_answers_503_within_a_bound_and_heals(
        proxy: FaultProxy, client: FlaskClient, wired: Container) -> None:
    session = login(client, "13900001303")
    assert _me(session)[0].status_code == 200
    assert _health(client)[0].status_code == 200  # /health now holds a pooled connection

    proxy.blackhole()
    health, took = _health(client)  # its pooled connection: the answer deadline
    assert health.status_code == 503 and int(health.headers["Retry-After"]) > 0
    assert took < HEALTH_BOUND_S
    health, took = _health(client)  # a new connection: the connect timeout
    assert health.status_code == 503
    assert took < HEALTH_BOUND_S
    for _ in range(2):  # an idle pooled connection (pre-ping), then a new one (connect)
        response, took = _me(session)
        _assert_unavailable(response)
        assert took < BLACKHOLE_BOUND_S

    proxy.passthrough()
    _assert_healed(session, client, wired)


def test_a_statement_whose_answer_never_comes_fails_after_the_deadline_and_heals(
        proxy: FaultProxy, pg_url: str) -> None:
    db = Database(proxy.url_for(pg_url), pool_size=1, max_overflow=0)

    def slow_transaction() -> BaseException | None:
        try:
            with db.holding_connection(), db.transaction() as session:
                session.execute(text("SELECT pg_sleep(0.5)"))
        except Exception as exc:  # the test inspects it
            return exc
        return None

    try:
        assert _timed(slow_transaction)[0] is None
        with ThreadPoolExecutor(max_workers=1) as pool:
            started = time.monotonic()
            in_flight = pool.submit(slow_transaction)
            time.sleep(0.2)  # the statement has been sent; its answer will not come back
            proxy.blackhole()
            try:
                failure = in_flight.result(timeout=GIVE_UP_S)
            except FutureTimeout:
                proxy.close()  # unblocks the stuck thread
                pytest.fail(f"the statement still waits after {GIVE_UP_S} s", pytrace=False)
            took = time.monotonic() - started
        assert failure is not None and is_database_unavailable(failure), failure
        assert took < STATEMENT_TIMEOUT_SECONDS + ANSWER_MARGIN_SECONDS + 1
        assert db.engine.pool.checkedout() == 0  # given back (and discarded) cleanly

        proxy.passthrough()
        assert _timed(slow_transaction)[0] is None
    finally:
        db.dispose()


def test_a_server_side_statement_timeout_counts_as_unavailable(pg_url: str) -> None:
    db = Database(pg_url, statement_timeout=0.2)
    try:
        with pytest.raises(OperationalError) as raised, db.transaction() as session:
            session.execute(text("SELECT pg_sleep(2)"))
        assert is_database_unavailable(raised.value)
        with db.read() as session:  # the connection survived the cancelled statement
            assert session.execute(text("SELECT 1")).scalar_one() == 1
    finally:
        db.dispose()


def test_health_answers_200_when_its_idle_connection_was_terminated(pg_url: str) -> None:
    """A restarted database or a terminated backend kills /health's pooled connection while the
    database is fine: the next ping must not call the server unhealthy (the fault drill found
    it answering 503 once)."""
    name = f"hmb_ping_{uuid.uuid4().hex[:8]}"
    separator = "&" if "?" in pg_url else "?"
    db = Database(f"{pg_url}{separator}application_name={name}")
    admin = create_engine(conftest.test_database_url(), isolation_level="AUTOCOMMIT")
    try:
        assert db.ping()  # /health now holds a pooled connection
        with admin.connect() as connection:
            terminated = connection.execute(text(
                "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                "WHERE application_name = :name"), {"name": name}).scalar_one()
        assert terminated == 1
        started = time.monotonic()
        assert db.ping()
        assert time.monotonic() - started < HEALTH_BOUND_S
    finally:
        admin.dispose()
        db.dispose()


def test_a_known_long_read_may_outlast_the_request_limit(pg_url: str) -> None:
    """The disclosure counts read every policy: ``long_statements`` lifts both the server's and
    the client's limits for that transaction only, and they come back after it."""
    database = Database(pg_url, statement_timeout=0.3)

    def sleep(lifted_to: float | None) -> None:
        with database.engine.connect() as connection, connection.begin():
            if lifted_to is None:
                connection.execute(text("SELECT pg_sleep(0.6)"))
                return
            with long_statements(connection, lifted_to):
                connection.execute(text("SELECT pg_sleep(0.6)"))

    try:
        with pytest.raises(OperationalError):
            sleep(None)
        sleep(3.0)
        with pytest.raises(OperationalError):
            sleep(None)  # the limits came back with the transaction's end
    finally:
        database.dispose()
