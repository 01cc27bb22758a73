"""``huiminbao worker --once``: drains the outbox through the provider the SMS_* variables name
(the local fake here), or the simulator in demo mode; a half-configured provider is a clear
error naming the variable."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import select

from huiminbao.cli import main
from huiminbao.core.clock import SystemClock
from huiminbao.core.db import Database
from huiminbao.core.migrate import upgrade
from huiminbao.identity.models import SmsMessage
from huiminbao.identity.sms import OutboxSmsSender
from huiminbao.identity.sms_domain import SmsTemplate
from huiminbao.identity.sms_fake_tencent import FakeTencentSms


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    url = f"sqlite:///{tmp_path / 'worker.sqlite3'}"
    upgrade(url)
    db = Database(url)
    with db.transaction() as session:
        for n in range(3):
            OutboxSmsSender(SystemClock()).send(session, f"1380000000{n}",
                                                SmsTemplate.COMPLAINT_REPLIED,
                                                {"complaint_no": f"TS{n}"})
    db.dispose()
    return {"DATABASE_URL": url, "HUIMINBAO_MODE": "demo"}


def statuses(url: str) -> list[str]:
    db = Database(url)
    try:
        with db.read() as session:
            return list(session.scalars(select(SmsMessage.status).order_by(SmsMessage.id)))
    finally:
        db.dispose()


def test_once_drains_the_outbox_through_the_configured_provider(env: dict[str, str]) -> None:
    fake = FakeTencentSms().start()
    try:
        result = CliRunner().invoke(main, ["worker", "--once"], env={**env, **fake.env()})
        assert result.exit_code == 0, result.output
        assert "已发送 3 条" in result.output
        assert [m.params for m in fake.messages] == [("TS0",), ("TS1",), ("TS2",)]
    finally:
        fake.stop()
    assert statuses(env["DATABASE_URL"]) == ["sent"] * 3


def test_demo_mode_without_a_provider_uses_the_simulator(env: dict[str, str]) -> None:
    result = CliRunner().invoke(main, ["worker", "--once"], env=env)
    assert result.exit_code == 0, result.output
    assert statuses(env["DATABASE_URL"]) == ["sent"] * 3


def test_a_partial_configuration_names_the_variable(env: dict[str, str]) -> None:
    result = CliRunner().invoke(main, ["worker", "--once"],
                                env={**env, "SMS_PROVIDER": "tencent"})
    assert result.exit_code == 1
    assert "SMS_SECRET_ID" in result.output
    assert statuses(env["DATABASE_URL"]) == ["queued"] * 3
