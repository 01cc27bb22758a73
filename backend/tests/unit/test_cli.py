"""The command line: staff accounts come only from here."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import select

from huiminbao.cli import main
from huiminbao.core.db import Database
from huiminbao.identity.models import UserAccount


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    return {"DATABASE_URL": f"sqlite:///{tmp_path / 'cli.sqlite3'}", "HUIMINBAO_MODE": "demo"}


def test_staff_create_makes_a_staff_account(env: dict[str, str]) -> None:
    result = CliRunner().invoke(
        main, ["staff", "create", "--phone", "13600000001", "--role", "insurer_staff",
               "--name", "审核员甲"], env=env,
    )
    assert result.exit_code == 0, result.output
    assert "保险公司工作人员" in result.output
    db = Database(env["DATABASE_URL"])
    with db.read() as session:
        account = session.scalars(select(UserAccount)).one()
    db.dispose()
    assert (account.phone, account.role, account.display_name) == (
        "13600000001", "insurer_staff", "审核员甲")


def test_staff_create_refuses_a_bad_phone_and_a_resident_role(env: dict[str, str]) -> None:
    bad_phone = CliRunner().invoke(
        main, ["staff", "create", "--phone", "123", "--role", "admin", "--name", "x"], env=env)
    assert bad_phone.exit_code != 0
    assert "手机号码" in bad_phone.output
    resident = CliRunner().invoke(
        main, ["staff", "create", "--phone", "13600000002", "--role", "resident", "--name", "x"],
        env=env)
    assert resident.exit_code != 0


def test_registry_import_reports_bad_rows_and_exits_non_zero(
    env: dict[str, str], tmp_path: Path
) -> None:
    directory = tmp_path / "csv"
    directory.mkdir()
    (directory / "persons.csv").write_text(
        "id_number,name,phone,city_code,scheme,status,assistance\n"
        "330106198803150130,张伟,13800000001,330100,employee,active,none\n"
        "330106198803150131,坏号,13800000002,330100,employee,active,none\n",
        encoding="utf-8",
    )
    result = CliRunner().invoke(main, ["registry", "import", str(directory)], env=env)
    assert result.exit_code == 1
    assert "未导入任何数据" in result.output
    assert "persons.csv 第3行：身份证号码校验位不正确" in result.output


def test_demo_data_is_idempotent(env: dict[str, str]) -> None:
    first = CliRunner().invoke(main, ["demo-data"], env=env)
    second = CliRunner().invoke(main, ["demo-data"], env=env)
    assert first.exit_code == 0, first.output
    assert second.exit_code == 0, second.output
