"""The registry protocol's codec: envelopes built, signed, encrypted, verified and decrypted.

``docs/registry-protocol.md`` is the specification; this module is its reference implementation,
used by both sides (``http_adapter.HttpRegistry`` and ``server.RegistryProtocolServer``). Nothing
here does I/O: the functions take the wall-clock time as an argument (callers pass
``time.time()``, never the application's business clock, which demo mode moves).

Default profile ``HMAC-SHA256`` + ``AES-256-GCM``:

* the body (a JSON object) is encrypted with AES-256-GCM under the shared encryption key, with a
  fresh 12-byte IV and the envelope header (transaction code, message id, sender, timestamp) as
  associated data, so a ciphertext cannot be moved into another envelope;
* the envelope is signed with HMAC-SHA256 under the shared signing key over a canonical string
  (one field per line, fixed order, the ciphertext included: encrypt-then-MAC); answers sign the
  request's message id too, so an answer cannot be replayed for another request.

The 国密 profile (``SM3-SM2`` + ``SM4-GCM``) slots in as another ``SignatureProfile`` and
``CipherProfile``; see the specification.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import os
import re
import secrets
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from enum import Enum
from typing import Any, Protocol

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

PROTOCOL_VERSION = "HMB-REGISTRY-1"
DEFAULT_SKEW_SECONDS = 300
ENCRYPTION_KEY_BYTES = 32
MIN_SIGNING_KEY_BYTES = 32
IV_BYTES = 12
MSGID_SHAPE = re.compile(r"[A-Za-z0-9_-]{1,64}")
SENDER_ID_SHAPE = re.compile(r"[A-Za-z0-9_-]{1,32}")
INFNO_SHAPE = re.compile(r"HMB[0-9]{4}")
SUCCESS = "0"


class Transaction(str, Enum):  # noqa: UP042 - str mixin keeps json.dumps of the value simple
    """Transaction codes (交易编号, like the national platform's ``infno``)."""

    PING = "HMB1000"
    PERSON = "HMB1101"
    PERSONS = "HMB1102"
    CONTACT_CHECK = "HMB1103"
    RELATIONS = "HMB1104"
    SCHEME_COUNTS = "HMB1105"
    PRIOR_DIAGNOSES = "HMB1106"
    SETTLEMENTS = "HMB1107"
    DISTRICT_COUNTS = "HMB1108"
    BALANCE = "HMB1201"
    ENTRIES = "HMB1202"
    DEBIT = "HMB2201"
    REFUND = "HMB2202"
    QUERY = "HMB2203"
    STATEMENT = "HMB3201"

    @property
    def moves_money(self) -> bool:
        return self in (Transaction.DEBIT, Transaction.REFUND)


@dataclass(frozen=True)
class ErrorCode:
    infcode: str
    name: str
    message_zh: str
    message_en: str
    http_status: int


class Errors:
    """Every error answer of the protocol (``infcode`` other than ``"0"``)."""

    MALFORMED = ErrorCode("1001", "malformed", "报文格式错误", "malformed envelope or body", 400)
    UNSUPPORTED_PROFILE = ErrorCode("1002", "unsupported_profile", "不支持的签名或加密方式",
                                    "unsupported signature or encryption profile", 400)
    UNKNOWN_SENDER = ErrorCode("1003", "unknown_sender", "未登记的发送方",
                               "unknown sender id", 401)
    BAD_SIGNATURE = ErrorCode("1004", "bad_signature", "签名校验失败",
                              "signature verification failed", 401)
    STALE_TIMESTAMP = ErrorCode("1005", "stale_timestamp", "报文时间超出允许范围",
                                "timestamp outside the allowed clock skew", 401)
    REPLAYED_MSGID = ErrorCode("1006", "replayed_msgid", "报文流水号重复（疑似重放）",
                               "message id already seen (replay)", 409)
    DECRYPTION_FAILED = ErrorCode("1007", "decryption_failed", "报文解密失败",
                                  "body could not be decrypted", 400)
    UNKNOWN_TRANSACTION = ErrorCode("1008", "unknown_transaction", "不支持的交易编号",
                                    "unknown transaction code", 400)
    INVALID_ARGUMENT = ErrorCode("2001", "invalid_argument", "业务参数不合法",
                                 "invalid business argument", 200)
    REQUEST_NO_REUSED = ErrorCode("2002", "request_no_reused", "业务流水号已用于其他内容的交易",
                                  "request number already used with different content", 200)
    INTERNAL = ErrorCode("9999", "internal", "医保平台暂不可用，请稍后查询结果",
                         "registry unavailable; query the outcome later", 503)

    ALL: tuple[ErrorCode, ...] = ()

    @classmethod
    def by_infcode(cls, infcode: str) -> ErrorCode | None:
        return next((code for code in cls.ALL if code.infcode == infcode), None)


Errors.ALL = tuple(value for value in vars(Errors).values() if isinstance(value, ErrorCode))


class ProtocolError(Exception):
    """An envelope that must be refused (server side) or cannot be trusted (client side).

    ``authenticated`` (server side): the request's signature had verified before the refusal,
    so the refusal may be answered signed. A refusal of a request whose signature has not
    verified is answered unsigned: the registry never signs for an unauthenticated sender."""

    def __init__(self, code: ErrorCode, detail: str = "", *,
                 authenticated: bool = False) -> None:
        super().__init__(f"{code.name}: {code.message_en}" + (f" ({detail})" if detail else ""))
        self.code = code
        self.detail = detail
        self.authenticated = authenticated


# --- keys and profiles -------------------------------------------------------------------------


@dataclass(frozen=True)
class ProtocolKeys:
    """The keys one sender shares with the registry (both sides hold the same bytes).

    The keys are kept out of ``repr`` (and so out of logs and tracebacks of anything holding
    them)."""

    signing_key: bytes = field(repr=False)
    encryption_key: bytes = field(repr=False)

    def __post_init__(self) -> None:
        if len(self.signing_key) < MIN_SIGNING_KEY_BYTES:
            raise ValueError(f"the signing key must be at least {MIN_SIGNING_KEY_BYTES} bytes")
        if len(self.encryption_key) != ENCRYPTION_KEY_BYTES:
            raise ValueError(f"the encryption key must be exactly {ENCRYPTION_KEY_BYTES} bytes")

    @classmethod
    def generate(cls) -> ProtocolKeys:
        return cls(secrets.token_bytes(32), secrets.token_bytes(ENCRYPTION_KEY_BYTES))

    @classmethod
    def from_base64(cls, signing_key: str, encryption_key: str) -> ProtocolKeys:
        return cls(decode_key(signing_key), decode_key(encryption_key))

    def signing_key_b64(self) -> str:
        return base64.b64encode(self.signing_key).decode()

    def encryption_key_b64(self) -> str:
        return base64.b64encode(self.encryption_key).decode()


def decode_key(text: str) -> bytes:
    """Standard base64 (with padding) of the raw key bytes."""
    try:
        return base64.b64decode(text.strip(), validate=True)
    except (binascii.Error, ValueError) as exc:
        raise ValueError("a key must be standard base64") from exc


class SignatureProfile(Protocol):
    name: str

    def sign(self, keys: ProtocolKeys, message: bytes) -> str: ...

    def verify(self, keys: ProtocolKeys, message: bytes, signature: str) -> bool: ...


class CipherProfile(Protocol):
    name: str

    def seal(self, keys: ProtocolKeys, plaintext: bytes, aad: bytes) -> tuple[str, str]:
        """(iv, ciphertext with tag), both base64."""
        ...

    def unseal(self, keys: ProtocolKeys, iv: str, ciphertext: str, aad: bytes) -> bytes: ...


class HmacSha256:
    name = "HMAC-SHA256"

    def sign(self, keys: ProtocolKeys, message: bytes) -> str:
        return base64.b64encode(hmac.new(keys.signing_key, message, hashlib.sha256).digest()
                                ).decode()

    def verify(self, keys: ProtocolKeys, message: bytes, signature: str) -> bool:
        return hmac.compare_digest(self.sign(keys, message).encode(), signature.encode())


class Aes256Gcm:
    name = "AES-256-GCM"

    def seal(self, keys: ProtocolKeys, plaintext: bytes, aad: bytes) -> tuple[str, str]:
        iv = os.urandom(IV_BYTES)
        sealed = AESGCM(keys.encryption_key).encrypt(iv, plaintext, aad)
        return base64.b64encode(iv).decode(), base64.b64encode(sealed).decode()

    def unseal(self, keys: ProtocolKeys, iv: str, ciphertext: str, aad: bytes) -> bytes:
        try:
            raw_iv = base64.b64decode(iv, validate=True)
            raw = base64.b64decode(ciphertext, validate=True)
            if len(raw_iv) != IV_BYTES:
                raise ValueError("bad iv length")
            return AESGCM(keys.encryption_key).decrypt(raw_iv, raw, aad)
        except (InvalidTag, binascii.Error, ValueError) as exc:
            raise ProtocolError(Errors.DECRYPTION_FAILED) from exc


SIGNATURE_PROFILES: dict[str, SignatureProfile] = {HmacSha256.name: HmacSha256()}
CIPHER_PROFILES: dict[str, CipherProfile] = {Aes256Gcm.name: Aes256Gcm()}
DEFAULT_SIGN_TYPE = HmacSha256.name
DEFAULT_ENC_TYPE = Aes256Gcm.name


# --- canonical strings -------------------------------------------------------------------------

REQUEST_FIELDS = ("infno", "msgid", "sender_id", "timestamp", "sign_type", "enc_type", "iv",
                  "input")
ANSWER_FIELDS = ("infno", "msgid", "ref_msgid", "sender_id", "timestamp", "infcode", "err_code",
                 "err_msg", "err_msg_en", "sign_type", "enc_type", "iv", "output")


def canonical(kind: str, envelope: Mapping[str, Any]) -> bytes:
    """``HMB-REGISTRY-1\\n<kind>\\n`` then each field of the kind's list as ``name=value``, one
    per line, in that order; an absent or null field is an empty value."""
    fields = REQUEST_FIELDS if kind == "request" else ANSWER_FIELDS
    lines = [PROTOCOL_VERSION, kind]
    for name in fields:
        value = envelope.get(name)
        text = "" if value is None else str(value)
        if "\n" in text:
            raise ProtocolError(Errors.MALFORMED, f"{name} contains a line break")
        lines.append(f"{name}={text}")
    return "\n".join(lines).encode()


def _aad(kind: str, envelope: Mapping[str, Any]) -> bytes:
    header = [PROTOCOL_VERSION, kind, str(envelope.get("infno", "")),
              str(envelope.get("msgid", "")), str(envelope.get("sender_id", "")),
              str(envelope.get("timestamp", ""))]
    if kind == "answer":
        header.append(str(envelope.get("ref_msgid", "")))
    return "\n".join(header).encode()


def new_msgid(sender_id: str, now: float) -> str:
    """``<sender id><yyyyMMddHHmmss><12 hex>``, like the national platform's 报文ID."""
    stamp = datetime.fromtimestamp(now, UTC).strftime("%Y%m%d%H%M%S")
    return f"{sender_id}{stamp}{secrets.token_hex(6)}"[-64:]


def _dumps(body: Mapping[str, Any]) -> bytes:
    return json.dumps(body, ensure_ascii=False, separators=(",", ":"), sort_keys=True).encode()


def _loads_object(raw: bytes) -> dict[str, Any]:
    try:
        value = json.loads(raw)
    except (UnicodeDecodeError, ValueError) as exc:
        raise ProtocolError(Errors.MALFORMED, "body is not JSON") from exc
    if not isinstance(value, dict):
        raise ProtocolError(Errors.MALFORMED, "body must be a JSON object")
    return value


def _profiles(envelope: Mapping[str, Any]) -> tuple[SignatureProfile, CipherProfile]:
    signer = SIGNATURE_PROFILES.get(str(envelope.get("sign_type")))
    cipher = CIPHER_PROFILES.get(str(envelope.get("enc_type")))
    if signer is None or cipher is None:
        raise ProtocolError(Errors.UNSUPPORTED_PROFILE)
    return signer, cipher


def _check_skew(timestamp: object, now: float, skew_seconds: float) -> None:
    if isinstance(timestamp, bool) or not isinstance(timestamp, int):
        raise ProtocolError(Errors.MALFORMED, "timestamp must be integer seconds")
    if abs(timestamp - now) > skew_seconds:
        raise ProtocolError(Errors.STALE_TIMESTAMP)


def _text_field(envelope: Mapping[str, Any], name: str, shape: re.Pattern[str]) -> str:
    value = envelope.get(name)
    if not isinstance(value, str) or not shape.fullmatch(value):
        raise ProtocolError(Errors.MALFORMED, f"{name} is missing or malformed")
    return value


# --- requests ----------------------------------------------------------------------------------


def build_request(keys: ProtocolKeys, sender_id: str, infno: str, body: Mapping[str, Any], *,
                  now: float, msgid: str | None = None, sign_type: str = DEFAULT_SIGN_TYPE,
                  enc_type: str = DEFAULT_ENC_TYPE) -> dict[str, Any]:
    envelope: dict[str, Any] = {
        "infno": infno,
        "msgid": msgid or new_msgid(sender_id, now),
        "sender_id": sender_id,
        "timestamp": int(now),
        "sign_type": sign_type,
        "enc_type": enc_type,
    }
    signer, cipher = _profiles(envelope)
    envelope["iv"], envelope["input"] = cipher.seal(keys, _dumps(body), _aad("request", envelope))
    envelope["signature"] = signer.sign(keys, canonical("request", envelope))
    return envelope


@dataclass(frozen=True)
class OpenedRequest:
    infno: str
    msgid: str
    sender_id: str
    keys: ProtocolKeys = field(repr=False)
    body: dict[str, Any] = field(repr=False)  # personal data (ID numbers)


@dataclass(frozen=True)
class RequestHeader:
    """What is known of a request before (or without) trusting it: enough to answer."""

    infno: str
    msgid: str
    sender_id: str
    keys: ProtocolKeys | None = field(repr=False)

    def unauthenticated(self) -> RequestHeader:
        """The same header without keys: answers built from it are unsigned."""
        return replace(self, keys=None)


class ReplayCache:
    """Message ids seen within the window, per sender: in memory, per server process.

    A registry that runs several processes behind one address must share this (e.g. Redis
    ``SET key NX EX``) or pin each sender to one process; see the specification. Entries expire
    after twice the skew window: a replay older than that is refused by its timestamp already.
    Only expired entries are ever dropped: when ``max_entries`` ids are still inside the window,
    a new message is refused as busy (``ProtocolError`` ``INTERNAL``) rather than forgetting an id
    a replay could then reuse.
    """

    def __init__(self, window_seconds: float = 2 * DEFAULT_SKEW_SECONDS,
                 max_entries: int = 1_000_000) -> None:
        self._window = window_seconds
        self._max = max_entries
        self._seen: OrderedDict[tuple[str, str], float] = OrderedDict()
        self._lock = threading.Lock()

    def add(self, sender_id: str, msgid: str, now: float) -> bool:
        """Record the message id; False if it was already seen within the window. Raises
        ``ProtocolError`` (``INTERNAL``, "busy") when the cache is full of ids still inside the
        window: the message is refused, not executed, and may be sent again later."""
        key = (sender_id, msgid)
        with self._lock:
            # Entries are in arrival order; drop the expired ones from the front.
            while self._seen:
                oldest_key, seen_at = next(iter(self._seen.items()))
                if now - seen_at <= self._window:
                    break
                del self._seen[oldest_key]
            seen_at_before = self._seen.get(key)
            if seen_at_before is not None and now - seen_at_before <= self._window:
                return False
            if seen_at_before is None and len(self._seen) >= self._max:
                raise ProtocolError(Errors.INTERNAL, "busy: too many messages within the "
                                    "replay window, send again later", authenticated=True)
            self._seen.pop(key, None)
            self._seen[key] = now
            return True

    def __len__(self) -> int:
        return len(self._seen)


def request_header(envelope: Mapping[str, Any],
                   keys_for: Callable[[str], ProtocolKeys | None]) -> RequestHeader:
    """The header fields, checked for shape only (raises ``MALFORMED``)."""
    sender_id = _text_field(envelope, "sender_id", SENDER_ID_SHAPE)
    return RequestHeader(
        infno=_text_field(envelope, "infno", INFNO_SHAPE),
        msgid=_text_field(envelope, "msgid", MSGID_SHAPE),
        sender_id=sender_id,
        keys=keys_for(sender_id),
    )


def open_request(envelope: Mapping[str, Any], keys_for: Callable[[str], ProtocolKeys | None],
                 replay: ReplayCache, *, now: float,
                 skew_seconds: float = DEFAULT_SKEW_SECONDS) -> OpenedRequest:
    """Check a request in the specification's order: shape, sender, profile, timestamp,
    signature, replay (only a request with a valid signature takes its message id), then
    decrypt. Raises ``ProtocolError`` with the code to answer."""
    header = request_header(envelope, keys_for)
    if header.keys is None:
        raise ProtocolError(Errors.UNKNOWN_SENDER)
    signer, cipher = _profiles(envelope)
    _check_skew(envelope.get("timestamp"), now, skew_seconds)
    signature = envelope.get("signature")
    if not isinstance(signature, str) or not isinstance(envelope.get("input"), str) \
            or not isinstance(envelope.get("iv"), str):
        raise ProtocolError(Errors.MALFORMED, "signature, iv and input are required")
    if not signer.verify(header.keys, canonical("request", envelope), signature):
        raise ProtocolError(Errors.BAD_SIGNATURE)
    # From here on the request is authentic: its refusals are answered signed.
    try:
        if not replay.add(header.sender_id, header.msgid, now):
            raise ProtocolError(Errors.REPLAYED_MSGID)
        plaintext = cipher.unseal(header.keys, envelope["iv"], envelope["input"],
                                  _aad("request", envelope))
        body = _loads_object(plaintext)
    except ProtocolError as exc:
        raise ProtocolError(exc.code, exc.detail, authenticated=True) from exc
    return OpenedRequest(header.infno, header.msgid, header.sender_id, header.keys, body)


# --- answers -----------------------------------------------------------------------------------


def build_answer(header: RequestHeader | OpenedRequest, *, now: float,
                 body: Mapping[str, Any] | None = None, error: ErrorCode | None = None,
                 detail: str = "") -> dict[str, Any]:
    """A success (``body``) or an error answer; signed (and the body encrypted) whenever the
    sender is known. An answer to an unknown sender cannot be signed and says so."""
    envelope: dict[str, Any] = {
        "infno": header.infno,
        "msgid": new_msgid("R", now),
        "ref_msgid": header.msgid,
        "sender_id": header.sender_id,
        "timestamp": int(now),
        "infcode": error.infcode if error else SUCCESS,
        "err_code": error.name if error else None,
        "err_msg": (error.message_zh + (f"：{detail}" if detail else "")) if error else None,
        "err_msg_en": (error.message_en + (f" ({detail})" if detail else "")) if error else None,
        "sign_type": DEFAULT_SIGN_TYPE,
        "enc_type": DEFAULT_ENC_TYPE,
        "iv": None,
        "output": None,
    }
    if header.keys is None:
        envelope["sign_type"] = envelope["enc_type"] = None
        envelope["signature"] = None
        return envelope
    signer, cipher = _profiles(envelope)
    if body is not None:
        envelope["iv"], envelope["output"] = cipher.seal(header.keys, _dumps(body),
                                                         _aad("answer", envelope))
    envelope["signature"] = signer.sign(header.keys, canonical("answer", envelope))
    return envelope


@dataclass(frozen=True)
class Answer:
    infcode: str
    err_code: str | None
    err_msg: str | None
    err_msg_en: str | None
    body: dict[str, Any] | None

    @property
    def ok(self) -> bool:
        return self.infcode == SUCCESS

    @property
    def error(self) -> ErrorCode | None:
        return None if self.ok else Errors.by_infcode(self.infcode)


def open_answer(envelope: Mapping[str, Any], keys: ProtocolKeys, *, sender_id: str, infno: str,
                request_msgid: str, now: float,
                skew_seconds: float = DEFAULT_SKEW_SECONDS) -> Answer:
    """Verify an answer to our request: signed with our keys, about our message id and
    transaction, timestamp within the window; then decrypt its body. Raises ``ProtocolError``
    (``BAD_SIGNATURE`` for an unsigned or forged answer) when it cannot be trusted."""
    signature = envelope.get("signature")
    if not isinstance(signature, str):
        raise ProtocolError(Errors.BAD_SIGNATURE, "the answer is not signed")
    signer, cipher = _profiles(envelope)
    if not signer.verify(keys, canonical("answer", envelope), signature):
        raise ProtocolError(Errors.BAD_SIGNATURE, "the answer's signature does not verify")
    if envelope.get("ref_msgid") != request_msgid or envelope.get("infno") != infno \
            or envelope.get("sender_id") != sender_id:
        raise ProtocolError(Errors.MALFORMED, "the answer is not about this request")
    _check_skew(envelope.get("timestamp"), now, skew_seconds)
    infcode = envelope.get("infcode")
    if not isinstance(infcode, str):
        raise ProtocolError(Errors.MALFORMED, "infcode is missing")
    body = None
    if envelope.get("output") is not None:
        body = _loads_object(cipher.unseal(keys, str(envelope.get("iv")),
                                           str(envelope["output"]), _aad("answer", envelope)))
    if infcode == SUCCESS and body is None:
        raise ProtocolError(Errors.MALFORMED, "a success answer carries a body")
    return Answer(infcode, _optional_text(envelope, "err_code"),
                  _optional_text(envelope, "err_msg"), _optional_text(envelope, "err_msg_en"),
                  body)


def _optional_text(envelope: Mapping[str, Any], name: str) -> str | None:
    value = envelope.get(name)
    return value if isinstance(value, str) else None


def wall_clock() -> float:
    """The real time for envelopes (never the application's business clock)."""
    return time.time()
