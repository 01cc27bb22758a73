"""``huiminbao clients``: a hospital's credentials are printed once and stored wrapped."""

from __future__ import annotations

import re
from pathlib import Path

import click
import pytest
from click.testing import CliRunner
from sqlalchemy import select

from huiminbao.claims import signing
from huiminbao.claims.cli import clients
from huiminbao.core.config import DEMO_SECRET_KEY
from huiminbao.core.db import Database
from huiminbao.identity.models import ServiceClient


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    return {"DATABASE_URL": f"sqlite:///{tmp_path / 'cli.sqlite3'}", "HUIMINBAO_MODE": "demo"}


def test_create_prints_the_id_and_key_once_and_stores_the_key_wrapped(
    env: dict[str, str],
) -> None:
    result = CliRunner().invoke(clients, ["create", "--kind", "hospital", "--name",
                                          "浙江大学医学院附属第一医院"], env=env)
    assert result.exit_code == 0, result.output
    client_id = re.search(r"X-Client-Id: (hc_[0-9a-f]{16})", result.output)
    key = re.search(r"签名密钥.*: ([0-9a-f]{64})", result.output)
    assert client_id and key
    db = Database(env["DATABASE_URL"])
    with db.read() as session:
        stored = session.scalars(select(ServiceClient)).one()
    db.dispose()
    assert (stored.client_id, stored.kind, stored.name) == (
        client_id.group(1), "hospital", "浙江大学医学院附属第一医院")
    assert stored.secret_hash != key.group(1)
    assert signing.unwrap_key(DEMO_SECRET_KEY, stored.client_id, stored.secret_hash) == (
        key.group(1))

    disabled = CliRunner().invoke(clients, ["disable", client_id.group(1)], env=env)
    assert disabled.exit_code == 0, disabled.output
    unknown = CliRunner().invoke(clients, ["disable", "hc_nobody"], env=env)
    assert unknown.exit_code != 0 and "未找到" in unknown.output


def test_only_hospitals_and_a_name_are_accepted(env: dict[str, str]) -> None:
    assert CliRunner().invoke(clients, ["create", "--kind", "gateway", "--name", "x"],
                              env=env).exit_code != 0
    blank = CliRunner().invoke(clients, ["create", "--kind", "hospital", "--name", " "], env=env)
    assert blank.exit_code != 0 and "机构名称" in blank.output
    assert isinstance(clients, click.Group)
