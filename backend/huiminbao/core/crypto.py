"""Personal data encrypted at rest: field encryption, blind indexes, sealed documents.

- **Fields.** ID numbers, phones and texts that name people are stored as AES-256-GCM envelopes
  ``v1:<kid>:<base64(nonce + ciphertext + tag)>``: ``kid`` names the key of the keyring that
  sealed it, so keys can rotate (``huiminbao keys rotate`` re-encrypts under the active key) while
  old envelopes stay readable. ``EncryptedString``/``EncryptedText`` do this for SQLAlchemy
  columns: Python code sees plain values (masking in views works as before), the database sees
  envelopes. A value stored before encryption (no envelope) still reads as itself.
- **Lookups.** An envelope is random, so a column cannot be searched by value. Each column that
  is looked up by equality has a *blind index* beside it (``id_number_index``, ``phone_index``):
  HMAC-SHA256 of the value under a separate index key, hex; unique where the value was unique.
  Query through ``blind_index(value)``; comparing an encrypted column directly raises, so a
  forgotten query fails loudly instead of matching nothing.
- **Documents.** ``seal``/``open_sealed`` wrap claim documents before they reach the document
  store: ``HMBE1`` + key id + nonce + ciphertext. Documents stored before stay readable.

Keys come from settings: ``HUIMINBAO_FIELD_KEYS`` (``kid:base64key,...``, 32-byte keys, the first
is active for writes) and ``HUIMINBAO_INDEX_KEY`` (base64, 32 bytes). Demo mode and tests use the
fixed, published keys below; production mode refuses to start with them or without keys
(core/config.py). Generate a key with ``python -c "import os,base64;print(base64.b64encode(
os.urandom(32)).decode())"``.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from sqlalchemy import String, Text
from sqlalchemy.engine import Dialect
from sqlalchemy.sql import operators
from sqlalchemy.sql.elements import BindParameter, ColumnElement
from sqlalchemy.sql.operators import OperatorType
from sqlalchemy.types import TypeDecorator, TypeEngine

# Published on purpose: demo and test databases only. Production refuses these (config.py).
DEMO_FIELD_KEYS = "demo1:ZGVtby1vbmx5LWZpZWxkLWtleS0wMS1odWltaW5iYW8="
DEMO_INDEX_KEY = "ZGVtby1vbmx5LWluZGV4LWtleS0wMS1odWltaW5iYW8="
FIELD_KEYS_ENV = "HUIMINBAO_FIELD_KEYS"
INDEX_KEY_ENV = "HUIMINBAO_INDEX_KEY"

VERSION = "v1"
KEY_BYTES = 32
NONCE_BYTES = 12
_KID_SHAPE = re.compile(r"^[A-Za-z0-9_-]{1,16}$")
DOCUMENT_MAGIC = b"HMBE1"
# Column lengths: an 18-character ID number sealed under a 16-character key id is ~90 characters.
ENVELOPE_LENGTH = 255
INDEX_LENGTH = 64


class KeyringError(ValueError):
    """The keyring is malformed (a ``ConfigError`` at startup)."""


class UndecryptableValue(ValueError):
    """An envelope sealed under a key this keyring does not have, or tampered with."""


def _decode_key(raw: str, name: str) -> bytes:
    try:
        key = base64.b64decode(raw.strip(), validate=True)
    except (binascii.Error, ValueError) as exc:
        raise KeyringError(f"{name} must be base64") from exc
    if len(key) != KEY_BYTES:
        raise KeyringError(f"{name} must be {KEY_BYTES} bytes (base64 of 32 random bytes)")
    return key


@dataclass(frozen=True)
class Keyring:
    keys: Mapping[str, bytes] = field(repr=False)  # kid -> AES-256 key
    active: str  # the key id new envelopes are sealed under
    index_key: bytes = field(repr=False)

    @classmethod
    def parse(cls, field_keys: str, index_key: str) -> Keyring:
        keys: dict[str, bytes] = {}
        active = ""
        for item in (part.strip() for part in field_keys.split(",")):
            if not item:
                continue
            kid, sep, raw = item.partition(":")
            if not sep or not _KID_SHAPE.match(kid):
                raise KeyringError(f"{FIELD_KEYS_ENV} must be kid:base64key,... (key ids of "
                                "letters, digits, _ and -, at most 16)")
            if kid in keys:
                raise KeyringError(f"{FIELD_KEYS_ENV} names key id {kid!r} twice")
            keys[kid] = _decode_key(raw, f"{FIELD_KEYS_ENV} key {kid!r}")
            active = active or kid
        if not keys:
            raise KeyringError(f"{FIELD_KEYS_ENV} holds no key")
        return cls(keys, active, _decode_key(index_key, INDEX_KEY_ENV))

    @classmethod
    def demo(cls) -> Keyring:
        return cls.parse(DEMO_FIELD_KEYS, DEMO_INDEX_KEY)

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Keyring:
        """The keys the environment names; the demo keys outside production mode only."""
        env = os.environ if env is None else env
        production = env.get("HUIMINBAO_MODE", "").strip().lower() == "production"
        if production and not (env.get(FIELD_KEYS_ENV) and env.get(INDEX_KEY_ENV)):
            raise KeyringError(f"production mode needs {FIELD_KEYS_ENV} and {INDEX_KEY_ENV}")
        return cls.parse(env.get(FIELD_KEYS_ENV) or DEMO_FIELD_KEYS,
                         env.get(INDEX_KEY_ENV) or DEMO_INDEX_KEY)

    @cached_property
    def _ciphers(self) -> dict[str, AESGCM]:
        return {kid: AESGCM(key) for kid, key in self.keys.items()}

    # ------------------------------------------------------------------ fields

    def encrypt(self, plain: str) -> str:
        nonce = os.urandom(NONCE_BYTES)
        sealed = self._ciphers[self.active].encrypt(nonce, plain.encode(), None)
        return f"{VERSION}:{self.active}:{base64.b64encode(nonce + sealed).decode()}"

    def decrypt(self, stored: str) -> str:
        """The plain value of an envelope; a value without one (stored before encryption) is
        returned as it is."""
        if not is_envelope(stored):
            return stored
        _, kid, body = stored.split(":", 2)
        cipher = self._ciphers.get(kid)
        if cipher is None:
            raise UndecryptableValue(f"no key {kid!r} in the keyring")
        try:
            raw = base64.b64decode(body, validate=True)
            return cipher.decrypt(raw[:NONCE_BYTES], raw[NONCE_BYTES:], None).decode()
        except (binascii.Error, ValueError, InvalidTag) as exc:
            raise UndecryptableValue(f"envelope under key {kid!r} does not open") from exc

    def is_current(self, stored: str) -> bool:
        """Sealed under the active key (nothing for ``keys rotate`` to do)."""
        return key_id(stored) == self.active

    def blind_index(self, value: str) -> str:
        return hmac.new(self.index_key, value.encode(), hashlib.sha256).hexdigest()

    # --------------------------------------------------------------- documents

    def seal(self, data: bytes) -> bytes:
        kid = self.active.encode()
        nonce = os.urandom(NONCE_BYTES)
        sealed = self._ciphers[self.active].encrypt(nonce, data, DOCUMENT_MAGIC)
        return DOCUMENT_MAGIC + bytes([len(kid)]) + kid + nonce + sealed

    def open_sealed(self, data: bytes) -> bytes:
        """The document's bytes; a document stored before encryption is returned as it is."""
        if not data.startswith(DOCUMENT_MAGIC):
            return data
        at = len(DOCUMENT_MAGIC)
        kid = data[at + 1:at + 1 + data[at]].decode(errors="replace")
        at += 1 + data[at]
        cipher = self._ciphers.get(kid)
        if cipher is None:
            raise UndecryptableValue(f"no key {kid!r} in the keyring")
        try:
            return cipher.decrypt(data[at:at + NONCE_BYTES], data[at + NONCE_BYTES:],
                                  DOCUMENT_MAGIC)
        except InvalidTag as exc:
            raise UndecryptableValue(f"document under key {kid!r} does not open") from exc


def is_envelope(stored: str) -> bool:
    return stored.startswith(VERSION + ":") and stored.count(":") >= 2


def key_id(stored: str) -> str | None:
    """The key id an envelope was sealed under; None for a value stored in plain."""
    return stored.split(":", 2)[1] if is_envelope(stored) else None


def document_key_id(data: bytes) -> str | None:
    if not data.startswith(DOCUMENT_MAGIC):
        return None
    at = len(DOCUMENT_MAGIC)
    return data[at + 1:at + 1 + data[at]].decode(errors="replace")


# ---------------------------------------------------------------- the process's keyring

_installed: Keyring | None = None


def install(ring: Keyring | None) -> None:
    """Make ``ring`` the keyring of this process (``build_container`` does, from settings);
    None forgets it, so the next use reads the environment again."""
    global _installed
    _installed = ring


def installed() -> Keyring | None:
    """The keyring installed in this process, if any (to put it back after a temporary one)."""
    return _installed


def keyring() -> Keyring:
    """The installed keyring; before any is installed (a script, a migration), the one the
    environment names, or the demo keys."""
    global _installed
    if _installed is None:
        _installed = Keyring.from_env()
    return _installed


def blind_index(value: str) -> str:
    """The blind index of a (normalized) ID number or phone: what lookups compare."""
    return keyring().blind_index(value)


def seal(data: bytes) -> bytes:
    return keyring().seal(data)


def open_sealed(data: bytes) -> bytes:
    return keyring().open_sealed(data)


def index_of(column: str) -> Callable[[Any], str | None]:
    """A column default that fills a blind index from the value inserted in ``column`` (works
    for ORM flushes and Core inserts alike, one row or many). Only on INSERT: these values do
    not change once written; code that ever changes one must set its index with it."""

    def default(context: Any) -> str | None:
        value = context.get_current_parameters().get(column)
        return None if value is None else blind_index(value)

    return default


# ---------------------------------------------------------------- column types

_NULL_TESTS = frozenset({operators.is_, operators.is_not})


def _is_column(value: Any) -> bool:
    return isinstance(value, ColumnElement) and not isinstance(value, BindParameter)


class Encrypted(TypeDecorator[str]):
    """A personal value stored as an envelope; reads hand back the plain value."""

    impl: Any = String
    cache_ok = True

    class comparator_factory(TypeDecorator.Comparator[str]):  # noqa: N801 (SQLAlchemy's name)
        def operate(self, op: OperatorType, *other: Any, **kwargs: Any) -> Any:
            # IS NULL / IS NOT NULL say nothing about the value; column against column is
            # what SQLAlchemy itself does when matching columns (and compares envelopes).
            if op in _NULL_TESTS or all(_is_column(o) for o in other):
                return super().operate(op, *other, **kwargs)
            raise TypeError("an encrypted column cannot be compared in SQL: "
                            "compare its blind index (core/crypto.blind_index)")

        def reverse_operate(self, op: OperatorType, other: Any, **kwargs: Any) -> Any:
            raise TypeError("an encrypted column cannot be compared in SQL: "
                            "compare its blind index (core/crypto.blind_index)")

    def process_bind_param(self, value: str | None, dialect: Dialect) -> str | None:
        return None if value is None else keyring().encrypt(value)

    def process_result_value(self, value: str | None, dialect: Dialect) -> str | None:
        return None if value is None else keyring().decrypt(value)

    def coerce_compared_value(self, op: OperatorType | None, value: Any) -> TypeEngine[Any]:
        return self


class EncryptedString(Encrypted):
    """A short personal value (ID number, phone) stored as an envelope."""

    impl = String
    cache_ok = True

    def __init__(self, length: int = ENVELOPE_LENGTH) -> None:
        super().__init__(length)


class EncryptedText(Encrypted):
    """A longer text that names people (an SMS as sent) stored as an envelope."""

    impl = Text
    cache_ok = True

    def __init__(self) -> None:
        super().__init__()
