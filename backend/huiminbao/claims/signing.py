"""Signed requests from hospitals (service clients): pure functions, no Flask, no database.

A hospital signs every request with its signing key::

    X-Client-Id:  hc_...
    X-Timestamp:  1767225600            (unix seconds, or ISO 8601 with an offset)
    X-Signature:  hex(HMAC-SHA256(signing_key, f"{timestamp}\\n{METHOD}\\n{path}\\n{sha256(body)}"))

where ``signing_key`` is the 64-character key as issued (its ASCII bytes are the HMAC key),
``timestamp`` the header exactly as sent, ``path`` the request path without the query
(``/api/v1/settlements``) and ``sha256(body)`` the lower-case hex digest of the raw body bytes.
The server refuses timestamps more than five minutes from its clock; replays inside that window
are harmless because every settlement is idempotent by its number.

How the key is kept — the choice, and why
-----------------------------------------
HMAC needs the same key on both sides, so the server cannot keep only a one-way hash of it the
way it keeps login codes. Storing the derived ``hash_secret(app_secret, secret)`` and handing that
to the hospital (the simple option) would make the database column *be* the signing key: anyone
who reads a backup or the table could sign settlements and create payouts.

Instead the key is a random 256-bit value, shown once at creation, and the ``service_clients``
row keeps it *wrapped*: ``secret_hash = key XOR HMAC-SHA256(app_secret, "hmb-client-key:" +
client_id)`` (64 hex characters, the column's width). The pad is a pseudorandom function of the
application secret and the (unique, never reused) client id, so the stored value alone reveals
nothing about the key; forging a request needs both the database row and ``HUIMINBAO_SECRET_KEY``
— the same secret that already protects sessions and one-time codes. Consequences: rotating
``HUIMINBAO_SECRET_KEY`` invalidates hospital keys (re-issue them), and a new key is always a new
client id (``huiminbao clients create``), so a pad never wraps two keys.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from datetime import UTC, datetime, timedelta

CLIENT_ID_HEADER = "X-Client-Id"
TIMESTAMP_HEADER = "X-Timestamp"
SIGNATURE_HEADER = "X-Signature"
MAX_CLOCK_SKEW = timedelta(minutes=5)
KEY_BYTES = 32
_HEX_SIGNATURE = re.compile(r"[0-9a-f]{64}")


class BadTimestamp(ValueError):
    pass


# A designated pharmacy's client id says so (a hospital's starts "hc_"): the claim's timeline
# names who settled it from the id alone.
PHARMACY_CLIENT_PREFIX = "ph_"


def new_client_id(*, pharmacy: bool = False) -> str:
    return f"{PHARMACY_CLIENT_PREFIX if pharmacy else 'hc_'}{secrets.token_hex(8)}"


def new_signing_key() -> str:
    return secrets.token_hex(KEY_BYTES)


def _pad(app_secret: str, client_id: str) -> bytes:
    return hmac.new(app_secret.encode(), f"hmb-client-key:{client_id}".encode(),
                    hashlib.sha256).digest()


def wrap_key(app_secret: str, client_id: str, signing_key: str) -> str:
    key = bytes.fromhex(signing_key)
    if len(key) != KEY_BYTES:
        raise ValueError("a signing key is 32 bytes in hex")
    return bytes(a ^ b for a, b in zip(key, _pad(app_secret, client_id), strict=True)).hex()


def unwrap_key(app_secret: str, client_id: str, wrapped: str) -> str | None:
    """The signing key, or None when the stored value is not a wrapped key."""
    try:
        return wrap_key(app_secret, client_id, wrapped)  # XOR is its own inverse
    except ValueError:
        return None


def string_to_sign(timestamp: str, method: str, path: str, body: bytes) -> str:
    return f"{timestamp}\n{method.upper()}\n{path}\n{hashlib.sha256(body).hexdigest()}"


def sign(signing_key: str, timestamp: str, method: str, path: str, body: bytes) -> str:
    return hmac.new(signing_key.encode(), string_to_sign(timestamp, method, path, body).encode(),
                    hashlib.sha256).hexdigest()


def signature_matches(signing_key: str, timestamp: str, method: str, path: str, body: bytes,
                      signature: str) -> bool:
    sent = signature.strip().lower()
    if not _HEX_SIGNATURE.fullmatch(sent):
        return False
    return hmac.compare_digest(sign(signing_key, timestamp, method, path, body), sent)


def parse_timestamp(raw: str) -> datetime:
    raw = raw.strip()
    try:
        if raw.isascii() and raw.isdigit():
            return datetime.fromtimestamp(int(raw), UTC)
        parsed = datetime.fromisoformat(raw)
    except (ValueError, OverflowError, OSError) as exc:
        raise BadTimestamp("not a timestamp") from exc
    if parsed.tzinfo is None:
        raise BadTimestamp("a timestamp needs an offset")
    return parsed


def fresh(raw: str, now: datetime) -> bool:
    try:
        sent = parse_timestamp(raw)
    except BadTimestamp:
        return False
    return abs(now - sent) <= MAX_CLOCK_SKEW
