"""Migration 0021 converts existing rows: plain ID numbers, phones and texts become envelopes,
blind indexes are filled and carry the uniqueness; the models then find the rows; downgrading
gives the plain values back. On SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import Engine, bindparam, create_engine, select, text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from huiminbao.core.crypto import blind_index, is_envelope, key_id
from huiminbao.core.db import UtcDateTime
from huiminbao.core.migrate import downgrade_engine, upgrade_engine
from huiminbao.identity.models import OtpChallenge, Person, SmsMessage, UserAccount
from huiminbao.registry.models import RegistryPersonRow

BEFORE = "0020_binding_verification"
ID_NUMBER = "330106198803150130"
PHONE = "13800000001"
AT = datetime(2026, 12, 4, tzinfo=UTC)

ROWS = [
    ("INSERT INTO people (id_number, name, birth_date, sex, created_at) "
     "VALUES (:id_number, '张伟', '1988-03-15', 'male', :at)"),
    ("INSERT INTO user_accounts (phone, role, elderly_mode, created_at) "
     "VALUES (:phone, 'resident', false, :at)"),
    ("INSERT INTO registry_persons (id_number, name, phone, city_code, scheme, status, "
     "assistance, created_at, updated_at) VALUES (:id_number, '张伟', :phone, '330100', "
     "'employee', 'active', 'none', :at, :at)"),
    ("INSERT INTO registry_persons (id_number, name, phone, city_code, scheme, status, "
     "assistance, created_at, updated_at) VALUES ('33010219430618052X', '王秀英', NULL, "
     "'330100', 'resident', 'active', 'none', :at, :at)"),
    ("INSERT INTO otp_challenges (phone, purpose, code_hash, created_at, expires_at, "
     "wrong_attempts) VALUES (:phone, 'login', 'h', :at, :at, 0)"),
    ("INSERT INTO sms_outbox (phone, text, created_at, status, attempts, params) "
     "VALUES (:phone, :sms, :at, 'sent', 1, '{}')"),
]
SMS = f"【西湖益联保】张伟（{PHONE}）您好"


def _raw(engine: Engine, sql: str) -> list[str | None]:
    with engine.connect() as connection:
        return list(connection.execute(text(sql)).scalars())


def _check(engine: Engine) -> None:
    upgrade_engine(engine, BEFORE)
    with engine.begin() as connection:
        for sql in ROWS:
            statement = text(sql).bindparams(bindparam("at", type_=UtcDateTime))
            params = {"id_number": ID_NUMBER, "phone": PHONE, "at": AT, "sms": SMS}
            connection.execute(statement, {k: v for k, v in params.items() if f":{k}" in sql})
    upgrade_engine(engine)

    stored = (_raw(engine, "SELECT id_number FROM people")
              + _raw(engine, "SELECT phone FROM user_accounts")
              + _raw(engine, "SELECT id_number FROM registry_persons")
              + _raw(engine, "SELECT phone FROM otp_challenges")
              + _raw(engine, "SELECT phone FROM sms_outbox")
              + _raw(engine, "SELECT text FROM sms_outbox"))
    assert len(stored) == 7
    assert all(value and is_envelope(value) and key_id(value) == "demo1" for value in stored)
    assert _raw(engine, "SELECT phone FROM registry_persons ORDER BY id")[1] is None
    assert _raw(engine, "SELECT id_number_index FROM people") == [blind_index(ID_NUMBER)]
    assert _raw(engine, "SELECT phone_index FROM sms_outbox") == [blind_index(PHONE)]

    with Session(engine) as session:
        person = session.scalars(select(Person).where(Person.id_number_is(ID_NUMBER))).one()
        assert person.id_number == ID_NUMBER and person.name == "张伟"
        assert session.scalars(select(UserAccount.phone).where(UserAccount.phone_is(PHONE))
                               ).one() == PHONE
        assert session.scalars(select(OtpChallenge.purpose).where(OtpChallenge.phone_is(PHONE))
                               ).one() == "login"
        assert session.scalars(select(SmsMessage.text)).one() == SMS
        registry = session.scalars(select(RegistryPersonRow).order_by(RegistryPersonRow.id)).all()
        assert [(r.id_number, r.phone) for r in registry] == [
            (ID_NUMBER, PHONE), ("33010219430618052X", None)]
        # Uniqueness moved to the blind index: the same ID number cannot be added twice.
        session.add(Person(id_number=ID_NUMBER, name="张伟", birth_date=person.birth_date,
                           sex="male", created_at=AT))
        with pytest.raises(IntegrityError):
            session.flush()
        session.rollback()

    downgrade_engine(engine, BEFORE)
    assert _raw(engine, "SELECT id_number FROM people") == [ID_NUMBER]
    assert _raw(engine, "SELECT phone FROM user_accounts") == [PHONE]
    assert _raw(engine, "SELECT text FROM sms_outbox") == [SMS]
    assert _raw(engine, "SELECT phone FROM registry_persons ORDER BY id") == [PHONE, None]
    upgrade_engine(engine)  # and forward again
    assert is_envelope(_raw(engine, "SELECT id_number FROM people")[0] or "")


def test_0021_converts_existing_rows_on_sqlite(tmp_path: Path) -> None:
    engine = create_engine(f"sqlite:///{tmp_path / 'migrated.sqlite3'}")
    try:
        _check(engine)
    finally:
        engine.dispose()


@pytest.mark.postgres
def test_0021_converts_existing_rows_on_postgresql(pg_url: str) -> None:
    engine = create_engine(pg_url)
    try:
        with engine.begin() as connection:  # the module's schema starts at head
            for table in ("sms_outbox", "otp_challenges", "registry_persons", "user_accounts",
                          "people"):
                connection.execute(text(f"DELETE FROM {table}"))  # noqa: S608
        downgrade_engine(engine, BEFORE)
        _check(engine)
    finally:
        engine.dispose()
