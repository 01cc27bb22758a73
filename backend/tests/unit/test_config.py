"""Settings from the environment."""

from __future__ import annotations

import base64
from datetime import UTC, datetime

import pytest

from huiminbao.core.config import DEMO_SECRET_KEY, ConfigError, Mode, Settings, on_this_machine

REAL_KEY = base64.b64encode(b"k" * 32).decode()
REAL_INDEX_KEY = base64.b64encode(b"x" * 32).decode()


def test_defaults_are_the_embedded_demo() -> None:
    settings = Settings.from_env({})
    assert settings.mode is Mode.DEMO
    assert settings.database_url.startswith("sqlite:///")
    assert settings.database_url.endswith("instance/huiminbao.sqlite3")
    assert settings.redis_url is None
    assert settings.idempotency_lease_seconds == 15.0


def test_environment_overrides() -> None:
    settings = Settings.from_env({
        "DATABASE_URL": "postgresql+psycopg://u@h/db",
        "REDIS_URL": "redis://127.0.0.1:6379/0",
        "HUIMINBAO_NOW": "2027-01-01T08:00:00+08:00",
        "HUIMINBAO_IDEMPOTENCY_LEASE_SECONDS": "2.5",
    })
    assert settings.database_url == "postgresql+psycopg://u@h/db"
    assert settings.idempotency_lease_seconds == 2.5
    assert settings.redis_url == "redis://127.0.0.1:6379/0"
    assert settings.now_override == datetime(2027, 1, 1, 0, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("env", "complaint"),
    [
        ({"HUIMINBAO_MODE": "production"}, "HUIMINBAO_SECRET_KEY"),
        ({"HUIMINBAO_MODE": "production", "HUIMINBAO_SECRET_KEY": DEMO_SECRET_KEY},
         "HUIMINBAO_SECRET_KEY"),
        ({"HUIMINBAO_MODE": "production", "HUIMINBAO_SECRET_KEY": "short"},
         "HUIMINBAO_SECRET_KEY"),
        ({"HUIMINBAO_MODE": "production", "HUIMINBAO_SECRET_KEY": "k" * 40,
          "HUIMINBAO_NOW": "2027-01-01T08:00:00+08:00"}, "HUIMINBAO_NOW"),
        ({"HUIMINBAO_MODE": "production", "HUIMINBAO_SECRET_KEY": "k" * 40},
         "HUIMINBAO_PUBLIC_URL"),
        ({"HUIMINBAO_MODE": "production", "HUIMINBAO_SECRET_KEY": "k" * 40,
          "HUIMINBAO_PUBLIC_URL": "https://hmb.example.gov.cn"}, "REDIS_URL"),
        ({"HUIMINBAO_PUBLIC_URL": "http://hmb.example.gov.cn"}, "HUIMINBAO_PUBLIC_URL"),
        ({"HUIMINBAO_PUBLIC_URL": "hmb.example.gov.cn"}, "HUIMINBAO_PUBLIC_URL"),
        ({"HUIMINBAO_TRUSTED_PROXIES": "one"}, "HUIMINBAO_TRUSTED_PROXIES"),
        ({"HUIMINBAO_TRUSTED_PROXIES": "9"}, "HUIMINBAO_TRUSTED_PROXIES"),
        ({"HUIMINBAO_MODE": "staging"}, "HUIMINBAO_MODE"),
        ({"HUIMINBAO_NOW": "tomorrow"}, "HUIMINBAO_NOW"),
        ({"HUIMINBAO_NOW": "2027-01-01T08:00:00"}, "UTC offset"),
        ({"HUIMINBAO_IDEMPOTENCY_LEASE_SECONDS": "soon"}, "HUIMINBAO_IDEMPOTENCY_LEASE_SECONDS"),
        ({"HUIMINBAO_IDEMPOTENCY_LEASE_SECONDS": "0"}, "HUIMINBAO_IDEMPOTENCY_LEASE_SECONDS"),
        ({"HUIMINBAO_IDEMPOTENCY_LEASE_SECONDS": "nan"}, "HUIMINBAO_IDEMPOTENCY_LEASE_SECONDS"),
    ],
)
def test_refuses_unsafe_or_malformed_settings(env: dict[str, str], complaint: str) -> None:
    with pytest.raises(ConfigError, match=complaint):
        Settings.from_env(env)


def test_production_starts_with_a_real_secret() -> None:
    settings = Settings.from_env({"HUIMINBAO_MODE": "production", "HUIMINBAO_SECRET_KEY": "k" * 40,
                                  "HUIMINBAO_PUBLIC_URL": "https://hmb.example.gov.cn/",
                                  "REDIS_URL": "redis://127.0.0.1:6379/0",
                                  "HUIMINBAO_FIELD_KEYS": f"p1:{REAL_KEY}",
                                  "HUIMINBAO_INDEX_KEY": REAL_INDEX_KEY})
    assert settings.public_url == "https://hmb.example.gov.cn"
    assert settings.mode is Mode.PRODUCTION


@pytest.mark.parametrize(("host", "local"), [
    ("127.0.0.1", True), ("127.8.0.1", True), ("::1", True), ("LOCALHOST", True),
    ("localhost.example.cn", False), ("127.0.0.1.example.cn", False), ("10.0.0.5", False),
    ("hmb.example.gov.cn", False), ("", False), (None, False),
])
def test_one_rule_says_what_is_this_machine(host: str | None, local: bool) -> None:
    """Plain http, and demo mode's real adapters, are allowed only towards this machine: the
    settings, the wiring and both HTTP adapters ask this one function."""
    assert on_this_machine(host) is local


def test_a_replica_url_is_read_and_must_be_postgresql_beside_a_postgresql_primary() -> None:
    assert Settings.from_env({}).replica_database_url is None
    settings = Settings.from_env({"DATABASE_URL": "postgresql+psycopg://u@primary/db",
                                  "HUIMINBAO_REPLICA_DATABASE_URL": "postgresql+psycopg://u@r/db"})
    assert settings.replica_database_url == "postgresql+psycopg://u@r/db"
    with pytest.raises(ConfigError, match="HUIMINBAO_REPLICA_DATABASE_URL"):
        Settings.from_env({"HUIMINBAO_REPLICA_DATABASE_URL": "postgresql+psycopg://u@r/db"})
    with pytest.raises(ConfigError, match="HUIMINBAO_REPLICA_DATABASE_URL"):
        Settings.from_env({"DATABASE_URL": "postgresql+psycopg://u@primary/db",
                           "HUIMINBAO_REPLICA_DATABASE_URL": "sqlite:///replica.sqlite3"})
