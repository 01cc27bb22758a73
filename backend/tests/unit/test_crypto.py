"""Field envelopes, blind indexes and sealed documents (core/crypto.py), and the keys settings."""

from __future__ import annotations

import base64
import os

import pytest
from sqlalchemy import select

from huiminbao.core.config import ConfigError, Mode, Settings
from huiminbao.core.crypto import (
    DEMO_FIELD_KEYS,
    DEMO_INDEX_KEY,
    DOCUMENT_MAGIC,
    Keyring,
    KeyringError,
    UndecryptableValue,
    document_key_id,
    key_id,
)
from huiminbao.identity.models import Person, UserAccount


def _key() -> str:
    return base64.b64encode(os.urandom(32)).decode()


def _ring(*kids: str, index: str | None = None) -> Keyring:
    return Keyring.parse(",".join(f"{kid}:{_key()}" for kid in kids), index or _key())


def test_a_value_round_trips_and_its_envelope_names_the_key() -> None:
    ring = _ring("k1")
    sealed = ring.encrypt("330106198803150130")
    assert sealed.startswith("v1:k1:") and "330106198803150130" not in sealed
    assert key_id(sealed) == "k1"
    assert ring.decrypt(sealed) == "330106198803150130"
    # Random nonce: the same value seals differently each time (nothing to compare in SQL).
    assert ring.encrypt("330106198803150130") != sealed
    assert ring.decrypt(ring.encrypt("")) == ""
    assert ring.decrypt(ring.encrypt("张伟 13800000001")) == "张伟 13800000001"


def test_a_wrong_key_or_a_tampered_envelope_does_not_open() -> None:
    sealed = _ring("k1").encrypt("13800000001")
    with pytest.raises(UndecryptableValue):
        _ring("k1").decrypt(sealed)  # same key id, other key
    with pytest.raises(UndecryptableValue):
        _ring("k2").decrypt(sealed)  # unknown key id
    ring = _ring("k1")
    good = ring.encrypt("13800000001")
    body = bytearray(base64.b64decode(good.split(":", 2)[2]))
    body[-1] ^= 1
    with pytest.raises(UndecryptableValue):
        ring.decrypt("v1:k1:" + base64.b64encode(bytes(body)).decode())


def test_after_rotation_old_envelopes_still_open_and_new_ones_use_the_new_key() -> None:
    old_key, new_key, index = _key(), _key(), _key()
    before = Keyring.parse(f"old:{old_key}", index)
    sealed = before.encrypt("330106199007220243")
    after = Keyring.parse(f"new:{new_key},old:{old_key}", index)
    assert after.active == "new"
    assert after.decrypt(sealed) == "330106199007220243"
    assert not after.is_current(sealed)
    resealed = after.encrypt(after.decrypt(sealed))
    assert key_id(resealed) == "new" and after.is_current(resealed)
    with pytest.raises(UndecryptableValue):
        before.decrypt(resealed)
    # The blind index depends on the index key only: lookups survive a field-key rotation.
    assert before.blind_index("13800000001") == after.blind_index("13800000001")


def test_a_value_stored_before_encryption_reads_as_itself() -> None:
    assert _ring("k1").decrypt("330106198803150130") == "330106198803150130"
    assert key_id("330106198803150130") is None


def test_the_blind_index_is_keyed_deterministic_and_hex() -> None:
    ring = _ring("k1")
    index = ring.blind_index("330106198803150130")
    assert index == ring.blind_index("330106198803150130")
    assert len(index) == 64 and int(index, 16) >= 0
    assert index != ring.blind_index("330106198803150131")
    assert index != _ring("k1").blind_index("330106198803150130")  # another index key


def test_documents_are_sealed_and_plain_ones_stay_readable() -> None:
    ring = _ring("docs1")
    pdf = b"%PDF-1.4\n% 330106198803150130\n%%EOF\n"
    sealed = ring.seal(pdf)
    assert sealed.startswith(DOCUMENT_MAGIC) and b"330106198803150130" not in sealed
    assert document_key_id(sealed) == "docs1"
    assert ring.open_sealed(sealed) == pdf
    assert ring.open_sealed(pdf) == pdf  # stored before encryption
    assert document_key_id(pdf) is None
    tampered = sealed[:-1] + bytes([sealed[-1] ^ 1])
    with pytest.raises(UndecryptableValue):
        ring.open_sealed(tampered)
    with pytest.raises(UndecryptableValue):
        _ring("docs1").open_sealed(sealed)


@pytest.mark.parametrize("field_keys", [
    "", "k1", "k1:notbase64!", f"k1:{base64.b64encode(b'short').decode()}",
    f"bad kid:{base64.b64encode(bytes(range(32))).decode()}",
    f"k1:{base64.b64encode(bytes(32)).decode()},k1:{base64.b64encode(bytes(range(32))).decode()}",
])
def test_malformed_keyrings_are_refused(field_keys: str) -> None:
    with pytest.raises(KeyringError):
        Keyring.parse(field_keys, DEMO_INDEX_KEY)
    with pytest.raises(ConfigError):
        Settings().with_changes(field_keys=field_keys)


def _production(**changes: str) -> dict[str, str]:
    return {"HUIMINBAO_MODE": "production", "HUIMINBAO_SECRET_KEY": "s" * 40,
            "HUIMINBAO_PUBLIC_URL": "https://hmb.example.gov.cn",
            "REDIS_URL": "redis://127.0.0.1:6379/0", **changes}


def test_production_refuses_to_start_without_real_keys() -> None:
    with pytest.raises(ConfigError, match="HUIMINBAO_FIELD_KEYS"):
        Settings.from_env(_production())
    with pytest.raises(ConfigError, match="HUIMINBAO_FIELD_KEYS"):
        Settings.from_env(_production(HUIMINBAO_FIELD_KEYS=DEMO_FIELD_KEYS,
                                      HUIMINBAO_INDEX_KEY=_key()))
    with pytest.raises(ConfigError, match="HUIMINBAO_INDEX_KEY"):
        Settings.from_env(_production(HUIMINBAO_FIELD_KEYS=f"p1:{_key()}"))
    with pytest.raises(KeyringError):  # scripts and migrations: no silent demo keys either
        Keyring.from_env(_production())
    settings = Settings.from_env(_production(HUIMINBAO_FIELD_KEYS=f"p2:{_key()},p1:{_key()}",
                                             HUIMINBAO_INDEX_KEY=_key()))
    assert settings.mode is Mode.PRODUCTION and settings.keyring().active == "p2"
    assert "HUIMINBAO" not in repr(settings) and settings.field_keys not in repr(settings)


def test_demo_mode_uses_the_published_demo_keys() -> None:
    assert Settings().keyring() == Keyring.demo()
    assert Settings.from_env({}).keyring().active == "demo1"


def test_encrypted_columns_cannot_be_compared_in_sql() -> None:
    with pytest.raises(TypeError, match="blind index"):
        select(Person).where(Person.id_number == "330106198803150130")
    with pytest.raises(TypeError, match="blind index"):
        select(UserAccount).where(UserAccount.phone.in_(["13800000001"]))
    # The way to look them up:
    statement = select(Person).where(Person.id_number_is("330106198803150130"))
    assert "id_number_index" in str(statement)
