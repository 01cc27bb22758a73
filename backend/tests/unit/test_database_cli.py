"""Every ``huiminbao`` command explains a database it cannot reach in one Chinese line, with the
URL's password masked, and exits 1 without a traceback."""

from __future__ import annotations

import os
import socket
import subprocess
import sys

import pytest
from click.testing import CliRunner

from huiminbao.cli import main
from huiminbao.core.config import ConfigError, Settings


def _closed_port() -> int:
    with socket.create_server(("127.0.0.1", 0)) as probe:
        return int(probe.getsockname()[1])


@pytest.fixture
def unreachable_url() -> str:
    return f"postgresql+psycopg://operator:s3cret-pw@127.0.0.1:{_closed_port()}/huiminbao"


def _assert_one_line_explanation(output: str) -> None:
    lines = output.strip().splitlines()
    assert len(lines) == 1, output
    assert "Traceback" not in output
    assert lines[0].startswith("无法连接数据库 "), output
    assert "operator:***@127.0.0.1" in lines[0]  # the URL, its password masked
    assert "s3cret-pw" not in output
    assert "连接被拒绝" in lines[0]  # the reason


def test_db_upgrade_explains_an_unreachable_database_in_one_line(unreachable_url: str) -> None:
    env = {**os.environ, "DATABASE_URL": unreachable_url, "HUIMINBAO_MODE": "demo"}
    finished = subprocess.run(
        [sys.executable, "-m", "huiminbao.cli", "db", "upgrade"], env=env,
        capture_output=True, text=True, timeout=60, check=False)
    assert finished.returncode == 1, finished.stderr
    assert finished.stdout == ""
    _assert_one_line_explanation(finished.stderr)


@pytest.mark.parametrize("command", [
    ["reconcile"],
    ["serve", "--dev-server"],
    ["demo-data"],
    ["renewal", "run", "--next-product", "1"],
    ["disclosure", "refresh"],
])
def test_every_command_explains_an_unreachable_database(
        unreachable_url: str, command: list[str]) -> None:
    result = CliRunner().invoke(main, command, env={"DATABASE_URL": unreachable_url,
                                                    "HUIMINBAO_MODE": "demo"})
    assert result.exit_code == 1, result.output
    assert result.stdout == ""
    _assert_one_line_explanation(result.stderr)


def test_the_statement_timeout_can_be_set_for_a_batch_command() -> None:
    assert Settings.from_env({}).db_statement_timeout == 5.0
    assert Settings.from_env({"HUIMINBAO_DB_STATEMENT_TIMEOUT": "120"}).db_statement_timeout == 120
    for bad in ("soon", "0", "-1", "86400"):
        with pytest.raises(ConfigError, match="HUIMINBAO_DB_STATEMENT_TIMEOUT"):
            Settings.from_env({"HUIMINBAO_DB_STATEMENT_TIMEOUT": bad})
