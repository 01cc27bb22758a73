"""``huiminbao registry serve-simulator`` and ``huiminbao registry contract-test``: the registry
protocol's server side (the simulator) and the contract kit for a city's bridge. cli.py attaches
them to its ``registry`` group."""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from huiminbao.core.config import ConfigError

if TYPE_CHECKING:
    from huiminbao.registry.protocol import ProtocolKeys


@click.command("serve-simulator")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8700, show_default=True, type=int)
@click.option("--database-url", envvar="DATABASE_URL", default=None,
              help="the simulator's database (default: DATABASE_URL, else the demo SQLite file)")
@click.option("--demo", is_flag=True, help="load the demo city (杭州) if it is missing")
@click.option("--sender-id", envvar="HUIMINBAO_REGISTRY_SENDER_ID", default="HMBDEMO",
              show_default=True, help="the sender the keys belong to")
@click.option("--signing-key", envvar="HUIMINBAO_REGISTRY_SIGNING_KEY", default=None,
              help="base64 of >= 32 bytes (default: generated and printed once)")
@click.option("--encryption-key", envvar="HUIMINBAO_REGISTRY_ENCRYPTION_KEY", default=None,
              help="base64 of 32 bytes (default: generated and printed once)")
def serve_simulator(host: str, port: int, database_url: str | None, demo: bool, sender_id: str,
                    signing_key: str | None, encryption_key: str | None) -> None:
    """Serve the built-in registry simulator over the registry protocol (threaded).

    Refused in production mode: the simulator would create its tables in (and serve from) the
    production database."""
    from werkzeug.serving import make_server

    from huiminbao.core.config import Settings
    from huiminbao.registry.protocol import ProtocolKeys
    from huiminbao.registry.server import ENDPOINT_PATH, simulator_server

    refuse_in_production(os.environ)
    if bool(signing_key) != bool(encryption_key):
        raise click.ClickException("--signing-key 与 --encryption-key 须同时给出")
    generated = not (signing_key and encryption_key)
    try:
        keys = (ProtocolKeys.generate() if generated
                else ProtocolKeys.from_base64(signing_key or "", encryption_key or ""))
    except ValueError as exc:
        raise click.ClickException(f"密钥格式不正确：{exc}") from exc
    url = database_url or Settings.database_url
    context = click.get_current_context(silent=True)
    if context is not None:
        context.meta["huiminbao.database_url"] = url  # for the one-line database trouble message
    protocol, db = simulator_server(url, {sender_id: keys}, demo=demo)
    server = make_server(host, port, protocol.wsgi_app(), threaded=True)
    endpoint = f"http://{host}:{server.port}{ENDPOINT_PATH}"
    click.echo(f"医保平台模拟器已启动：{endpoint}")
    for line in app_side_lines(endpoint, sender_id, keys, generated=generated):
        click.echo(line)
    sys.stdout.flush()
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
        db.dispose()


def refuse_in_production(env: Mapping[str, str]) -> None:
    """The simulator is a stand-in for demos, tests and bridge development: never in production
    mode, where DATABASE_URL is the production database."""
    from huiminbao.core.config import Mode

    if env.get("HUIMINBAO_MODE", "").strip().lower() == Mode.PRODUCTION.value:
        raise click.ClickException(
            "生产模式（HUIMINBAO_MODE=production）下不能启动医保平台模拟器：它会在生产数据库中"
            "建表并写入模拟数据。请在演示或测试环境中运行。")


def app_side_lines(endpoint: str, sender_id: str, keys: ProtocolKeys, *,
                   generated: bool) -> list[str]:
    """The HUIMINBAO_REGISTRY_* values an app needs. Keys are printed only when this command
    generated them (once, at start); keys read from options or the environment are never
    echoed (a log of the command must not hold them)."""
    lines = ["应用侧配置：",
             f"  export HUIMINBAO_REGISTRY_URL={endpoint}",
             f"  export HUIMINBAO_REGISTRY_SENDER_ID={sender_id}"]
    if generated:
        lines += [f"  export HUIMINBAO_REGISTRY_SIGNING_KEY={keys.signing_key_b64()}",
                  f"  export HUIMINBAO_REGISTRY_ENCRYPTION_KEY={keys.encryption_key_b64()}",
                  "（以上密钥为本次随机生成，仅显示这一次；重启后将生成新密钥）"]
    else:
        lines.append("  HUIMINBAO_REGISTRY_SIGNING_KEY / HUIMINBAO_REGISTRY_ENCRYPTION_KEY："
                     "使用启动时给出的密钥（此处不显示）")
    return lines


def _fixture(path: Path | None) -> dict[str, Any]:
    if path is None:
        return {}
    try:
        value = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise click.ClickException(f"无法读取测试数据文件 {path}：{exc}") from exc
    if not isinstance(value, dict):
        raise click.ClickException("测试数据文件须为 JSON 对象")
    return value


@click.command("contract-test")
@click.argument("url", required=False)
@click.option("--sender-id", default=None, help="default: HUIMINBAO_REGISTRY_SENDER_ID")
@click.option("--signing-key", default=None, help="default: HUIMINBAO_REGISTRY_SIGNING_KEY")
@click.option("--encryption-key", default=None,
              help="default: HUIMINBAO_REGISTRY_ENCRYPTION_KEY")
@click.option("--fixture", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="JSON file with person, phone, account_person[, amount_fen, absent_person]")
@click.option("--person", default=None, help="ID number of a person the registry knows")
@click.option("--phone", default=None, help="that person's phone on file")
@click.option("--account-person", default=None,
              help="ID number of a TEST person with a personal account (money moves, then is "
                   "refunded)")
@click.option("--amount-fen", type=click.IntRange(1, 100), default=None,
              help="fen per test debit (default 1); the account needs 4x this")
@click.option("--absent-person", default=None, help="a well-formed ID number the registry lacks")
def contract_test(url: str | None, sender_id: str | None, signing_key: str | None,
                  encryption_key: str | None, fixture: Path | None, person: str | None,
                  phone: str | None, account_person: str | None, amount_fen: int | None,
                  absent_person: str | None) -> None:
    """Check that the registry bridge at URL keeps the protocol's rules; exits 1 on any failure.

    URL and keys default to the HUIMINBAO_REGISTRY_* variables."""
    from huiminbao.registry.contract import ContractData, run_contract
    from huiminbao.registry.http_adapter import RegistryConfig

    env = dict(os.environ)
    for name, value in (("HUIMINBAO_REGISTRY_URL", url),
                        ("HUIMINBAO_REGISTRY_SENDER_ID", sender_id),
                        ("HUIMINBAO_REGISTRY_SIGNING_KEY", signing_key),
                        ("HUIMINBAO_REGISTRY_ENCRYPTION_KEY", encryption_key)):
        if value:
            env[name] = value
    try:
        config = RegistryConfig.from_env(env)
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from exc
    if config is None:
        raise click.ClickException("请给出 URL 与密钥（或设置 HUIMINBAO_REGISTRY_* 环境变量）")
    data = _fixture(fixture)
    given: tuple[tuple[str, str | int | None], ...] = (
        ("person", person), ("phone", phone), ("account_person", account_person),
        ("amount_fen", amount_fen), ("absent_person", absent_person))
    for key, option in given:
        if option is not None:
            data[key] = option
    missing = [key for key in ("person", "phone", "account_person") if not data.get(key)]
    if missing:
        raise click.ClickException(
            "缺少测试数据：" + ", ".join(f"--{key.replace('_', '-')}" for key in missing))
    try:
        contract_data = ContractData(**data)
    except TypeError as exc:
        raise click.ClickException(f"测试数据文件中有未知的字段：{exc}") from exc
    click.echo(f"接口合规测试：{config.describe()}")
    report = run_contract(config, contract_data, echo=click.echo)
    for line in report.unrefunded_lines():
        click.echo(line, err=True)
    click.echo(report.format().splitlines()[-1])
    if not report.ok:
        sys.exit(1)
