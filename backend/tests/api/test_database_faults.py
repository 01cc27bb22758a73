"""Database trouble answers 503 with Retry-After in the one error shape, never 500 (DESIGN §5):
here the application's database refuses every connection."""

from __future__ import annotations

import socket
import sqlite3
from collections.abc import Iterator

import pytest
from flask.testing import FlaskClient
from sqlalchemy.exc import OperationalError

from huiminbao.app import build_container, create_app
from huiminbao.core.clock import MovableClock
from huiminbao.core.config import Settings
from huiminbao.core.container import Container
from huiminbao.core.db import is_database_unavailable
from tests.faultproxy import FaultProxy

DOWN_URL = "postgresql+psycopg://postgres@127.0.0.1:{port}/test"


def _closed_port() -> int:
    with socket.create_server(("127.0.0.1", 0)) as probe:
        return int(probe.getsockname()[1])


@pytest.fixture(params=["connection refused", "connection dropped at once"])
def down_url(request: pytest.FixtureRequest) -> Iterator[str]:
    if request.param == "connection refused":
        yield DOWN_URL.format(port=_closed_port())
        return
    # Accepts the TCP connection and closes it at once, as a PostgreSQL that is going down does.
    with FaultProxy("127.0.0.1", 5432) as proxy:
        proxy.refuse()
        yield proxy.url_for(DOWN_URL.format(port=5432))


@pytest.fixture
def down(down_url: str, clock: MovableClock) -> Iterator[Container]:
    container = build_container(Settings(database_url=down_url, testing=True), clock=clock)
    yield container
    container.db.dispose()


@pytest.fixture
def down_client(down: Container) -> FlaskClient:
    return create_app(container=down).test_client()


def _assert_unavailable(response: object) -> None:
    status = getattr(response, "status_code", None)
    body = getattr(response, "get_json", lambda: None)()
    assert status == 503, body
    assert response.headers["Retry-After"].isdigit()  # type: ignore[attr-defined]
    assert int(response.headers["Retry-After"]) > 0  # type: ignore[attr-defined]
    assert set(body) == {"code", "message", "errors", "request_id"}
    assert body["code"] == "unavailable"
    assert body["message"] == "系统繁忙，请稍后再试"
    assert body["errors"] == {}
    assert body["request_id"] == response.headers["X-Request-ID"]  # type: ignore[attr-defined]


def test_a_public_read_answers_503_with_retry_after(down_client: FlaskClient) -> None:
    _assert_unavailable(down_client.get("/api/v1/products"))


def test_asking_for_a_login_code_answers_503_with_retry_after(down_client: FlaskClient) -> None:
    _assert_unavailable(down_client.post("/api/v1/auth/otp", json={"phone": "13800138000"}))


def test_an_authenticated_call_answers_503_with_retry_after(
        down: Container, down_client: FlaskClient) -> None:
    token, _claims = down.tokens.issue(account_id=1, session_id=1)  # valid; its session unread
    _assert_unavailable(down_client.get("/api/v1/me", headers={"Authorization": f"Bearer {token}"}))


def test_health_answers_503_with_retry_after(down_client: FlaskClient) -> None:
    response = down_client.get("/api/v1/health")
    assert response.status_code == 503
    assert int(response.headers["Retry-After"]) > 0
    assert response.get_json()["status"] == "degraded"
    assert response.get_json()["database"] == "unavailable"


def test_a_locked_sqlite_database_counts_as_unavailable_but_a_missing_table_does_not() -> None:
    locked = OperationalError("UPDATE t", {}, sqlite3.OperationalError("database is locked"))
    missing = OperationalError("SELECT", {}, sqlite3.OperationalError("no such table: t"))
    assert is_database_unavailable(locked)
    assert not is_database_unavailable(missing)
