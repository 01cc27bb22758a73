"""Adapters chosen by settings: demo on stand-ins, production only on real services.

For each port, production refuses to start on its simulator and names the setting that would
wire the real adapter; the app, every command and the worker refuse alike, before touching the
database; production mounts neither the simulator's payment page nor ``/api/v1/dev``."""

from __future__ import annotations

import base64
import secrets
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

from huiminbao.app import build_container, create_app
from huiminbao.claims.object_store import S3DocumentStore
from huiminbao.claims.storage import LocalDocumentStore
from huiminbao.cli import main
from huiminbao.core.config import ConfigError, Settings
from huiminbao.identity.sms_fake_tencent import FakeTencentSms
from huiminbao.identity.sms_tencent import TencentSmsProvider
from huiminbao.payments.gateway.simulator import SimulatedGateway
from huiminbao.payments.wechatpay_v3 import WechatPayV3Gateway
from huiminbao.payments.wechatpay_v3_standin import WechatPayStandin
from huiminbao.registry.http_adapter import HttpRegistry
from huiminbao.registry.simulator import SimulatedRegistry
from huiminbao.wiring import PORTS, Port, checked_ports, choose_ports

SECRET = "s" * 40
PRODUCTION = {"HUIMINBAO_MODE": "production", "HUIMINBAO_SECRET_KEY": SECRET,
              "HUIMINBAO_PUBLIC_URL": "https://hmb.example.gov.cn",
              "REDIS_URL": "redis://127.0.0.1:6379/13",
              "HUIMINBAO_FIELD_KEYS": "p1:" + base64.b64encode(b"p" * 32).decode(),
              "HUIMINBAO_INDEX_KEY": base64.b64encode(b"i" * 32).decode()}


def _key() -> str:
    return base64.b64encode(secrets.token_bytes(32)).decode()


@pytest.fixture(scope="module")
def local_env() -> Iterator[dict[str, str]]:
    """Complete, valid settings of all four real adapters, pointing at this machine (nothing
    needs to answer: building an adapter connects to nothing; the payment stand-in only makes
    the merchant's keys, the SMS fake only its address)."""
    gateway = WechatPayStandin().start()
    sms = FakeTencentSms().start()
    try:
        yield {
            "HUIMINBAO_REGISTRY_URL": "http://127.0.0.1:8700/hmb/registry/v1",
            "HUIMINBAO_REGISTRY_SENDER_ID": "HMB330100",
            "HUIMINBAO_REGISTRY_SIGNING_KEY": _key(),
            "HUIMINBAO_REGISTRY_ENCRYPTION_KEY": _key(),
            **gateway.env("https://hmb.example.gov.cn/api/v1/payments/online/notify"),
            **sms.env(),
            "S3_ENDPOINT_URL": "http://127.0.0.1:9000",
            "S3_BUCKET": "hmb-claim-documents",
            "S3_ACCESS_KEY_ID": "LTAI5tExampleAccessKey",
            "S3_SECRET_ACCESS_KEY": "example-secret-access-key-0000000000",
        }
    finally:
        gateway.stop()  # removes the key files
        sms.stop()


# Where a city's real services are (the key files stay those the stand-in made).
CITY_SERVICES = {
    "HUIMINBAO_REGISTRY_URL": "https://registry-bridge.example.gov.cn/hmb/registry/v1",
    "WECHATPAY_BASE_URL": "https://api.mch.weixin.qq.com",
    "SMS_ENDPOINT": "sms.tencentcloudapi.com",
    "S3_ENDPOINT_URL": "https://oss-cn-hangzhou.aliyuncs.com",
}


@pytest.fixture(scope="module")
def port_env(local_env: dict[str, str]) -> dict[str, str]:
    return local_env | CITY_SERVICES


def _settings(tmp_path: Path, env: dict[str, str], *, production: bool) -> Settings:
    base = {"DATABASE_URL": f"sqlite:///{tmp_path / 'wiring.sqlite3'}"}
    if production:
        base |= PRODUCTION
    return Settings.from_env(base | env)


def _without(env: dict[str, str], port: Port) -> dict[str, str]:
    prefix = next(spec.prefix for spec in PORTS if spec.port is port)
    return {name: value for name, value in env.items() if not name.startswith(prefix)}


def test_demo_runs_every_port_on_its_stand_in(tmp_path: Path) -> None:
    wired = build_container(_settings(tmp_path, {}, production=False))
    try:
        assert isinstance(wired.registry, SimulatedRegistry)
        assert isinstance(wired.gateway, SimulatedGateway)
        assert isinstance(wired.documents, LocalDocumentStore)
        assert wired.sms_provider is None  # texts wait in the outbox, shown by /api/v1/dev/sms
    finally:
        wired.db.dispose()
    assert all(choice.simulated and not choice.problem
               for choice in choose_ports(_settings(tmp_path, {}, production=False)))


@pytest.mark.parametrize("production", [True, False], ids=["production", "demo"])
def test_complete_settings_wire_every_real_adapter(
        tmp_path: Path, port_env: dict[str, str], local_env: dict[str, str],
        production: bool) -> None:
    # Demo mode may use real adapters only towards stand-ins on this machine.
    env = port_env if production else local_env
    wired = build_container(_settings(tmp_path, env, production=production))
    try:
        assert isinstance(wired.registry, HttpRegistry)
        assert isinstance(wired.gateway, WechatPayV3Gateway)
        assert isinstance(wired.sms_provider, TencentSmsProvider)
        assert isinstance(wired.documents, S3DocumentStore)
    finally:
        wired.db.dispose()


@pytest.mark.parametrize("port", list(Port))
def test_production_refuses_each_simulator_and_names_its_setting(
        tmp_path: Path, port_env: dict[str, str], port: Port) -> None:
    settings = _settings(tmp_path, _without(port_env, port), production=True)
    key_setting = next(spec.key_setting for spec in PORTS if spec.port is port)
    with pytest.raises(ConfigError, match=key_setting) as refusal:
        checked_ports(settings)
    assert "simulator serves demo mode only" in str(refusal.value)
    with pytest.raises(ConfigError, match=key_setting):
        create_app(settings)
    # The same settings in demo mode fall back to that one stand-in.
    demo = {choice.port: choice for choice in choose_ports(
        _settings(tmp_path, _without(port_env, port), production=False))}
    assert demo[port].simulated and not demo[port].problem


@pytest.mark.parametrize(("port", "dropped"), [
    (Port.REGISTRY, "HUIMINBAO_REGISTRY_SIGNING_KEY"),
    (Port.GATEWAY, "WECHATPAY_APIV3_KEY"),
    (Port.SMS, "SMS_SIGN_NAME"),
    (Port.DOCUMENTS, "S3_BUCKET"),
])
@pytest.mark.parametrize("production", [True, False], ids=["production", "demo"])
def test_incomplete_settings_are_refused_in_any_mode_naming_the_missing_one(
        tmp_path: Path, port_env: dict[str, str], port: Port, dropped: str,
        production: bool) -> None:
    env = {name: value for name, value in port_env.items() if name != dropped}
    with pytest.raises(ConfigError, match=dropped):
        checked_ports(_settings(tmp_path, env, production=production))


@pytest.mark.parametrize("command", [
    ["serve"], ["db", "upgrade"], ["worker", "--once"], ["reconcile"], ["demo-data"],
    ["renewal", "run", "--next-product", "1"], ["disclosure", "refresh"],
])
def test_every_command_refuses_production_on_a_simulator_before_touching_the_database(
        tmp_path: Path, port_env: dict[str, str], command: list[str]) -> None:
    database = tmp_path / "untouched.sqlite3"
    env = _without(port_env, Port.SMS) | PRODUCTION | {"DATABASE_URL": f"sqlite:///{database}"}
    result = CliRunner().invoke(main, command, env=env)
    assert result.exit_code == 1, result.output
    assert "SMS_PROVIDER" in result.output
    assert not database.exists()  # refused before migrating or connecting


def test_production_mounts_neither_the_simulated_pay_page_nor_dev_endpoints(
        tmp_path: Path, port_env: dict[str, str]) -> None:
    client = create_app(_settings(tmp_path, port_env, production=True)).test_client()
    assert client.get("/gateway/pay/anything").status_code == 404
    for path in ("/api/v1/dev/sms", "/api/v1/dev/clock"):
        assert client.get(path).status_code == 404, path
    openapi = client.get("/api/openapi.json").get_json()
    assert not [path for path in openapi["paths"] if path.startswith("/api/v1/dev")]


@pytest.mark.parametrize("port", list(Port))
def test_demo_mode_refuses_a_citys_real_services(
        tmp_path: Path, local_env: dict[str, str], port: Port) -> None:
    """Demo mode opens /api/v1/dev (texted codes, a movable clock) to anyone: pointed at a
    city's real service it refuses to start and says production mode is needed."""
    spec = next(spec for spec in PORTS if spec.port is port)
    env = local_env | {spec.address_setting: CITY_SERVICES[spec.address_setting]}
    with pytest.raises(ConfigError, match="HUIMINBAO_MODE=production") as refusal:
        checked_ports(_settings(tmp_path, env, production=False))
    assert spec.address_setting in str(refusal.value)
    # Left unset, an address is missing or defaults to the real provider's: refused alike.
    demo = {c.port: c for c in choose_ports(_settings(
        tmp_path, {k: v for k, v in env.items() if k != spec.address_setting},
        production=False))}
    assert demo[port].problem


def test_a_notify_url_that_is_not_the_apps_endpoint_is_refused(
        tmp_path: Path, port_env: dict[str, str]) -> None:
    """Every payment notification would be answered 404: refused at start, not in the rush."""
    env = port_env | {"WECHATPAY_NOTIFY_URL": "https://hmb.example.gov.cn/api/v1/payments/notify"}
    with pytest.raises(ConfigError, match="WECHATPAY_NOTIFY_URL must end with "
                                          "/api/v1/payments/online/notify"):
        checked_ports(_settings(tmp_path, env, production=True))
