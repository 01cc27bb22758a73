"""The hand-written migrations build exactly the schema the models describe, and go back down."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import (
    JSON,
    Engine,
    bindparam,
    column,
    create_engine,
    inspect,
    select,
    table,
    text,
)

from huiminbao.core.crypto import keyring
from huiminbao.core.db import Base, UtcDateTime
from huiminbao.core.migrate import downgrade_engine, upgrade, upgrade_engine
from huiminbao.core.models_registry import import_all_models
from huiminbao.identity.sms_domain import SmsTemplate, redacted_code_text

import_all_models()


def _differences(engine: Engine) -> list[object]:
    with engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        return list(compare_metadata(context, Base.metadata))


@pytest.mark.postgres
def test_postgresql_schema_matches_the_models(pg_url: str) -> None:
    engine = create_engine(pg_url)
    try:
        assert _differences(engine) == []
    finally:
        engine.dispose()


@pytest.mark.postgres
def test_postgresql_downgrade_to_base_and_back(pg_url: str) -> None:
    engine = create_engine(pg_url)
    try:
        downgrade_engine(engine, "base")
        assert set(inspect(engine).get_table_names()) <= {"alembic_version"}
        upgrade_engine(engine)
        assert _differences(engine) == []
    finally:
        engine.dispose()


def test_sqlite_schema_matches_the_models(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'migrated.sqlite3'}"
    upgrade(url)
    engine = create_engine(url)
    try:
        assert _differences(engine) == []
    finally:
        engine.dispose()


@pytest.mark.postgres
def test_upgrade_by_url_works_on_postgresql(pg_url: str) -> None:
    """`huiminbao serve` and `db upgrade` migrate by URL (a NullPool engine), not by engine."""
    upgrade(pg_url)  # already at head: must simply succeed


def _code_rows_after_0018(engine: Engine) -> dict[str, tuple[str, dict[str, str]]]:
    """Upgrade ``engine`` to 0017, write code rows in each state, upgrade to head: what is left."""
    upgrade_engine(engine, "0017_pay_url_length")  # a new database
    downgrade_engine(engine, "0017_pay_url_length")  # one already at head
    insert = text(
        "INSERT INTO sms_outbox (phone, text, created_at, template, params, status, attempts) "
        "VALUES ('13900000000', :text, :at, :template, :params, :status, 1)"
    ).bindparams(bindparam("params", type_=JSON), bindparam("at", type_=UtcDateTime))
    with engine.begin() as connection:
        connection.execute(text("DELETE FROM sms_outbox"))
        for status, template in (("sent", "login_code"), ("given_up", "payment_code"),
                                 ("queued", "login_code"), ("sent", "claim_submitted")):
            params = ({"claim_no": "LP1"} if template == "claim_submitted"
                      else {"code": "123456"})
            connection.execute(insert, {"text": f"{status} 123456", "template": template,
                                        "params": params, "status": status,
                                        "at": datetime(2026, 12, 4, tzinfo=UTC)})
    upgrade_engine(engine)
    with engine.begin() as connection:
        found = connection.execute(
            select(column("status"), column("template"), column("text"),
                   column("params", JSON)).select_from(table("sms_outbox"))).all()
        connection.execute(text("DELETE FROM sms_outbox"))
    # 0021 sealed the texts (core/crypto.py): open them to compare.
    return {f"{row.status}:{row.template}": (keyring().decrypt(row.text), row.params)
            for row in found}


def _check_redaction(found: dict[str, tuple[str, dict[str, str]]]) -> None:
    assert found["sent:login_code"] == redacted_code_text(SmsTemplate.LOGIN_CODE)
    assert found["given_up:payment_code"] == redacted_code_text(SmsTemplate.PAYMENT_CODE)
    assert found["queued:login_code"] == ("queued 123456", {"code": "123456"})  # demo outbox
    assert found["sent:claim_submitted"] == ("sent 123456", {"claim_no": "LP1"})


def test_0018_blanks_sent_and_given_up_codes_on_sqlite(tmp_path: Path) -> None:
    engine = create_engine(f"sqlite:///{tmp_path / 'migrated.sqlite3'}")
    try:
        _check_redaction(_code_rows_after_0018(engine))
    finally:
        engine.dispose()


@pytest.mark.postgres
def test_0018_blanks_sent_and_given_up_codes_on_postgresql(pg_url: str) -> None:
    engine = create_engine(pg_url)
    try:
        _check_redaction(_code_rows_after_0018(engine))
    finally:
        engine.dispose()
