"""``huiminbao keys rotate``: after a new field key is put first, every encrypted field and claim
document is re-sealed under it; lookups and downloads keep working; a second run changes
nothing."""

from __future__ import annotations

import base64
import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner
from flask import Flask
from sqlalchemy import String, select, type_coerce

from huiminbao.app import create_app
from huiminbao.cli import main
from huiminbao.core import crypto
from huiminbao.core.clock import MovableClock
from huiminbao.core.config import Settings
from huiminbao.core.container import Container
from huiminbao.core.crypto import DEMO_FIELD_KEYS, DEMO_INDEX_KEY, Keyring, document_key_id, key_id
from huiminbao.core.keys import encrypted_columns
from huiminbao.identity.models import Person, UserAccount
from huiminbao.registry.models import RegistryPersonRow

from .enrollment_helpers import PEOPLE, sign_in
from .test_claims_support import PNG_BYTES, WORKED_EXAMPLE, enrolled, into_coverage, submit, upload

NEW_KEY = base64.b64encode(os.urandom(32)).decode()


@pytest.fixture(autouse=True)
def _demo_keys_again() -> Iterator[None]:
    yield
    crypto.install(Keyring.demo())  # the command installed the rotated keyring in this process


def _key_ids(wired: Container) -> dict[str, set[str | None]]:
    """The key id of every stored value of every encrypted column (raw, not decrypted)."""
    found: dict[str, set[str | None]] = {}
    with wired.db.read() as session:
        for table, column in encrypted_columns():
            raw = session.scalars(select(type_coerce(column, String()))
                                  .where(column.isnot(None))).all()
            found[f"{table.name}.{column.name}"] = {key_id(value) for value in raw}
    return found


def _rotate(settings: Settings, documents: Path) -> str:
    env = {"DATABASE_URL": settings.database_url,
           "HUIMINBAO_FIELD_KEYS": f"new1:{NEW_KEY},{DEMO_FIELD_KEYS}",
           "HUIMINBAO_INDEX_KEY": DEMO_INDEX_KEY}
    assert documents.parent == Path(settings.database_url.removeprefix("sqlite:///")).parent
    result = CliRunner().invoke(main, ["keys", "rotate", "--batch", "7"], env=env)
    assert result.exit_code == 0, result.output
    return result.output


def test_rotation_reseals_every_field_and_document_and_is_idempotent(
    app: Flask, wired: Container, settings: Settings, clock: MovableClock, tmp_path: Path,
) -> None:
    zhang = enrolled(app.test_client())
    [zhang] = into_coverage(clock, wired, zhang)
    number = submit(zhang, WORKED_EXAMPLE).get_json()["claim_no"]
    document = upload(zhang, number, "出院小结.png", PNG_BYTES).get_json()["document"]
    documents = tmp_path / "documents"
    [stored] = [p for p in documents.rglob("*") if p.is_file()]
    before = _key_ids(wired)
    assert before["people.id_number"] == {"demo1"} and before["sms_outbox.text"] == {"demo1"}
    assert before["registry_persons.id_number"] == {"demo1"}
    assert document_key_id(stored.read_bytes()) == "demo1"

    first = _rotate(settings, documents)
    assert "当前密钥：new1" in first
    assert "共重新加密 0 项" not in first
    after = _key_ids(wired)
    assert all(ids <= {"new1"} for ids in after.values()), after
    assert sum(bool(ids) for ids in after.values()) >= 6  # people, accounts, codes, texts, ...
    assert document_key_id(stored.read_bytes()) == "new1"
    assert "claim documents" in first

    # The app on the new keyring: lookups by blind index, decrypted reads, the download.
    rotated = Settings(database_url=settings.database_url, testing=True,
                       field_keys=f"new1:{NEW_KEY}", index_key=DEMO_INDEX_KEY)
    crypto.install(rotated.keyring())  # the old key is gone from this keyring
    with wired.db.read() as session:
        zhang_row = session.scalars(select(Person).where(
            Person.id_number_is(PEOPLE["张伟"][1]))).one()
        assert zhang_row.id_number == PEOPLE["张伟"][1]
        account = session.scalars(select(UserAccount).where(
            UserAccount.phone_is(PEOPLE["张伟"][0]))).one()
        assert account.person_id == zhang_row.id
        assert session.scalars(select(RegistryPersonRow.phone).where(
            RegistryPersonRow.id_number_index == crypto.blind_index(PEOPLE["李娜"][1]))
        ).one() == PEOPLE["李娜"][0]
    download = zhang.client.get(document["url"], headers=zhang.bearer)
    assert download.status_code == 200 and download.data == PNG_BYTES
    assert sign_in(create_app(container=wired).test_client(), "李娜").me["identity"]

    second = _rotate(settings, documents)
    assert "共重新加密 0 项" in second
    assert _key_ids(wired) == after
