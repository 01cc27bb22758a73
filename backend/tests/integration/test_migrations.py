"""The hand-written migrations build exactly the schema the models describe, and go back down."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

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


def _ledger_after_0022(engine: Engine) -> tuple[list[Any], dict[str, int]]:
    """Upgrade to 0021, book a premium, a refund and a payout the old way, upgrade to head: the
    product's insurers and the ledger's balances."""
    upgrade_engine(engine, "0021_encrypt_personal_fields")
    downgrade_engine(engine, "0021_encrypt_personal_fields")
    at = bindparam("at", type_=UtcDateTime)
    with engine.begin() as connection:
        for statement in ("DELETE FROM ledger_entries", "DELETE FROM ledger_transactions",
                          "DELETE FROM products"):
            connection.execute(text(statement))
        connection.execute(text(
            "INSERT INTO products (id, code, city_code, city_name, year, name, insurer, status, "
            "window_opens_on, window_closes_on, coverage_starts_on, coverage_ends_on, "
            "payable_balances, first_year, subsidized_categories, eligibility_conditions, "
            "health_questions, created_at) VALUES (7, 'M-2027', '330100', '杭州市', 2027, '测试', "
            "'甲保险', 'published', '2026-11-01', '2026-12-31', '2027-01-01', '2027-12-31', "
            "'prior_years', FALSE, 'tekun', '', '', :at)").bindparams(at),
            {"at": datetime(2026, 11, 1, tzinfo=UTC)})
        for tx, kind, account, amount in ((1, "payment", "premium_income:7", 15001),
                                          (2, "refund", "premium_income:7", -15001),
                                          (3, "payment", "premium_income:7", 15001),
                                          (4, "claim", "claims_payable:7", -9999)):
            connection.execute(text(
                "INSERT INTO ledger_transactions (id, kind, reference, order_no, purpose, "
                "occurred_at) VALUES (:id, :kind, :ref, 'HM1', '保费', :at)").bindparams(at),
                {"id": tx, "kind": kind, "ref": f"ref:{tx}",
                 "at": datetime(2026, 11, 2, tzinfo=UTC)})
            connection.execute(text(
                "INSERT INTO ledger_entries (transaction_id, account, amount_fen) VALUES "
                "(:tx, :account, :amount), (:tx, 'elsewhere', :minus)"),
                {"tx": tx, "account": account, "amount": amount, "minus": -amount})
    upgrade_engine(engine)
    with engine.begin() as connection:
        insurers = connection.execute(text(
            "SELECT id, insurer, share_bp, is_lead FROM product_insurers WHERE product_id = 7"
        )).all()
        balances = {account: int(total) for account, total in connection.execute(text(
            "SELECT account, SUM(amount_fen) FROM ledger_entries GROUP BY account"))}
        unbalanced = connection.execute(text(
            "SELECT transaction_id FROM ledger_entries GROUP BY transaction_id "
            "HAVING SUM(amount_fen) <> 0")).all()
        for statement in ("DELETE FROM ledger_entries", "DELETE FROM ledger_transactions",
                          "DELETE FROM product_insurers", "DELETE FROM products"):
            connection.execute(text(statement))
    assert unbalanced == []
    return list(insurers), balances


def _check_0022(insurers: list[Any], balances: dict[str, int]) -> None:
    [(insurer_id, name, share_bp, is_lead)] = insurers
    assert (name, share_bp, bool(is_lead)) == ("甲保险", 10000, True)
    assert balances[f"insurer_premium:7:{insurer_id}"] == balances["premium_income:7"] == 15001
    assert balances[f"insurer_payout:7:{insurer_id}"] == balances["claims_payable:7"] == -9999
    assert balances["coinsurance_split:7"] == -15001 + 9999


def test_0022_gives_each_product_its_insurer_and_splits_the_history_on_sqlite(
        tmp_path: Path) -> None:
    engine = create_engine(f"sqlite:///{tmp_path / 'migrated.sqlite3'}")
    try:
        _check_0022(*_ledger_after_0022(engine))
    finally:
        engine.dispose()


@pytest.mark.postgres
def test_0022_gives_each_product_its_insurer_and_splits_the_history_on_postgresql(
        pg_url: str) -> None:
    engine = create_engine(pg_url)
    try:
        _check_0022(*_ledger_after_0022(engine))
    finally:
        engine.dispose()
