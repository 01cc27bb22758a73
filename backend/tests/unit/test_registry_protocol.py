"""The registry protocol's codec (no network, no database): signatures, encryption, tampering,
replays, clock skew, answers, the adapter's configuration, and the spec's coverage."""

from __future__ import annotations

import base64
import copy
from pathlib import Path
from typing import Any

import pytest
import yaml

from huiminbao.core.config import ConfigError
from huiminbao.registry.http_adapter import RegistryConfig
from huiminbao.registry.protocol import (
    DEFAULT_SKEW_SECONDS,
    Errors,
    HmacSha256,
    ProtocolError,
    ProtocolKeys,
    ReplayCache,
    Transaction,
    build_answer,
    build_request,
    canonical,
    open_answer,
    open_request,
)

NOW = 1_790_000_000.0
SENDER = "HMB330100"
KEYS = ProtocolKeys.generate()
DOCS = Path(__file__).resolve().parents[3] / "docs"


def keys_for(sender_id: str) -> ProtocolKeys | None:
    return KEYS if sender_id == SENDER else None


def request(body: dict[str, Any] | None = None, **overrides: Any) -> dict[str, Any]:
    return build_request(KEYS, SENDER, Transaction.DEBIT.value,
                         body or {"request_no": "R1", "amount_fen": 100},
                         now=overrides.pop("now", NOW), **overrides)


def refusal(envelope: dict[str, Any], *, now: float = NOW,
            replay: ReplayCache | None = None) -> str:
    with pytest.raises(ProtocolError) as raised:
        open_request(envelope, keys_for, replay or ReplayCache(), now=now)
    return raised.value.code.name


def test_a_signed_encrypted_request_opens_to_its_body() -> None:
    envelope = request({"request_no": "R1", "purpose": "惠民保保费"})
    assert "惠民保" not in str(envelope)  # the body travels encrypted
    opened = open_request(envelope, keys_for, ReplayCache(), now=NOW)
    assert (opened.infno, opened.sender_id) == ("HMB2201", SENDER)
    assert opened.body == {"request_no": "R1", "purpose": "惠民保保费"}


@pytest.mark.parametrize("field", ["infno", "msgid", "timestamp", "input", "iv", "signature"])
def test_any_tampered_field_is_refused(field: str) -> None:
    envelope = request()
    value = envelope[field]
    if field == "timestamp":
        envelope[field] = value + 1
    elif field == "infno":
        envelope[field] = "HMB2202"
    else:
        raw = bytearray(base64.b64decode(value)) if field in ("input", "iv", "signature") \
            else None
        if raw is not None:
            raw[0] ^= 1
            envelope[field] = base64.b64encode(bytes(raw)).decode()
        else:
            envelope[field] = value[:-1] + ("0" if value[-1] != "0" else "1")
    assert refusal(envelope) == "bad_signature"


def test_a_signature_with_another_key_is_refused_and_an_unknown_sender_too() -> None:
    forged = build_request(ProtocolKeys.generate(), SENDER, "HMB1101", {}, now=NOW)
    assert refusal(forged) == "bad_signature"
    stranger = build_request(KEYS, "SOMEONE", "HMB1101", {}, now=NOW)
    assert refusal(stranger) == "unknown_sender"


def test_a_body_sealed_for_another_envelope_does_not_decrypt() -> None:
    """Re-signing with the key is not enough to move a ciphertext: the header is its AAD."""
    envelope = request()
    other = request(msgid="OTHER1")
    envelope["input"], envelope["iv"] = other["input"], other["iv"]
    envelope["signature"] = HmacSha256().sign(KEYS, canonical("request", envelope))
    assert refusal(envelope) == "decryption_failed"


def test_a_replayed_message_id_is_refused_but_a_new_one_with_the_same_body_is_not() -> None:
    replay = ReplayCache()
    envelope = request()
    open_request(envelope, keys_for, replay, now=NOW)
    assert refusal(copy.deepcopy(envelope), replay=replay, now=NOW + 1) == "replayed_msgid"
    # A retry is a new envelope (new msgid) with the same body: accepted.
    open_request(request(now=NOW + 2), keys_for, replay, now=NOW + 2)


def test_a_forged_request_does_not_take_the_message_id_of_the_real_one() -> None:
    replay = ReplayCache()
    envelope = request()
    forged = dict(envelope, signature=base64.b64encode(b"x" * 32).decode())
    assert refusal(forged, replay=replay) == "bad_signature"
    open_request(envelope, keys_for, replay, now=NOW)


@pytest.mark.parametrize("offset", [-DEFAULT_SKEW_SECONDS - 1, DEFAULT_SKEW_SECONDS + 1])
def test_a_timestamp_outside_the_window_is_refused(offset: int) -> None:
    assert refusal(request(now=NOW + offset)) == "stale_timestamp"


@pytest.mark.parametrize("offset", [-DEFAULT_SKEW_SECONDS, DEFAULT_SKEW_SECONDS])
def test_a_timestamp_at_the_edge_of_the_window_is_accepted(offset: int) -> None:
    open_request(request(now=NOW + offset), keys_for, ReplayCache(), now=NOW)


def test_the_replay_cache_forgets_after_its_window_and_is_bounded() -> None:
    cache = ReplayCache(window_seconds=600, max_entries=3)
    assert cache.add("A", "m1", 0)
    assert not cache.add("A", "m1", 599)
    assert cache.add("B", "m1", 599)  # per sender
    assert cache.add("A", "m1", 1200)  # expired
    for index in range(10):
        cache.add("A", f"n{index}", 1201)
    assert len(cache) <= 3


def test_unsupported_profiles_and_malformed_envelopes_are_refused() -> None:
    assert refusal(dict(request(), sign_type="SM3-SM2")) == "unsupported_profile"
    assert refusal(dict(request(), msgid="has space")) == "malformed"
    assert refusal(dict(request(), timestamp="1790000000")) == "malformed"
    assert refusal({k: v for k, v in request().items() if k != "signature"}) == "malformed"


def test_an_answer_is_verified_against_its_request() -> None:
    opened = open_request(request(), keys_for, ReplayCache(), now=NOW)
    answer = build_answer(opened, now=NOW, body={"result": {"status": "succeeded"}})
    assert "succeeded" not in str(answer)
    kwargs: dict[str, Any] = {"sender_id": SENDER, "infno": "HMB2201",
                              "request_msgid": opened.msgid, "now": NOW}
    assert open_answer(answer, KEYS, **kwargs).body == {"result": {"status": "succeeded"}}
    with pytest.raises(ProtocolError, match="bad_signature"):
        open_answer(dict(answer, infcode="2002"), KEYS, **kwargs)
    with pytest.raises(ProtocolError, match="malformed"):  # an answer to another request
        open_answer(answer, KEYS, **dict(kwargs, request_msgid="OTHER"))
    with pytest.raises(ProtocolError, match="stale_timestamp"):
        open_answer(answer, KEYS, **dict(kwargs, now=NOW + DEFAULT_SKEW_SECONDS + 1))
    with pytest.raises(ProtocolError, match="bad_signature"):
        open_answer(answer, ProtocolKeys.generate(), **kwargs)


def test_error_answers_carry_chinese_and_english_messages_and_are_signed() -> None:
    opened = open_request(request(), keys_for, ReplayCache(), now=NOW)
    answer = build_answer(opened, now=NOW, error=Errors.REQUEST_NO_REUSED)
    opened_answer = open_answer(answer, KEYS, sender_id=SENDER, infno="HMB2201",
                                request_msgid=opened.msgid, now=NOW)
    assert opened_answer.error is Errors.REQUEST_NO_REUSED
    assert opened_answer.err_msg and "流水号" in opened_answer.err_msg
    assert opened_answer.err_msg_en and "request number" in opened_answer.err_msg_en


# --- configuration -------------------------------------------------------------------------


def env_of(**changes: str) -> dict[str, str]:
    env = {
        "HUIMINBAO_REGISTRY_URL": "https://bridge.example.cn/hmb/registry/v1",
        "HUIMINBAO_REGISTRY_SENDER_ID": "HMB330100",
        "HUIMINBAO_REGISTRY_SIGNING_KEY": KEYS.signing_key_b64(),
        "HUIMINBAO_REGISTRY_ENCRYPTION_KEY": KEYS.encryption_key_b64(),
    }
    env.update(changes)
    return {name: value for name, value in env.items() if value}


def test_config_is_none_without_variables_and_complete_with_all() -> None:
    assert RegistryConfig.from_env({"DATABASE_URL": "x"}) is None
    config = RegistryConfig.from_env(env_of(HUIMINBAO_REGISTRY_TIMEOUT="2.5"))
    assert config is not None
    assert config.timeout_seconds == 2.5
    assert config.keys == KEYS
    described = config.describe()
    assert "bridge.example.cn" in described
    assert KEYS.signing_key_b64() not in described
    assert KEYS.encryption_key_b64() not in described


@pytest.mark.parametrize(("changes", "named"), [
    ({"HUIMINBAO_REGISTRY_SENDER_ID": ""}, "HUIMINBAO_REGISTRY_SENDER_ID"),
    ({"HUIMINBAO_REGISTRY_URL": ""}, "HUIMINBAO_REGISTRY_URL"),
    ({"HUIMINBAO_REGISTRY_URL": "ftp://x"}, "HUIMINBAO_REGISTRY_URL"),
    ({"HUIMINBAO_REGISTRY_SIGNING_KEY": "not base64!"}, "HUIMINBAO_REGISTRY_SIGNING_KEY"),
    ({"HUIMINBAO_REGISTRY_SIGNING_KEY": base64.b64encode(b"short").decode()},
     "HUIMINBAO_REGISTRY_SIGNING_KEY"),
    ({"HUIMINBAO_REGISTRY_ENCRYPTION_KEY": base64.b64encode(b"k" * 16).decode()},
     "HUIMINBAO_REGISTRY_ENCRYPTION_KEY"),
    ({"HUIMINBAO_REGISTRY_TIMEOUT": "soon"}, "HUIMINBAO_REGISTRY_TIMEOUT"),
    ({"HUIMINBAO_REGISTRY_TIMEOUT": "0"}, "HUIMINBAO_REGISTRY_TIMEOUT"),
])
def test_config_names_the_variable_that_is_missing_or_invalid(changes: dict[str, str],
                                                              named: str) -> None:
    with pytest.raises(ConfigError, match=named):
        RegistryConfig.from_env(env_of(**changes))


def test_only_a_timeout_is_a_partial_configuration() -> None:
    with pytest.raises(ConfigError, match="HUIMINBAO_REGISTRY_URL"):
        RegistryConfig.from_env({"HUIMINBAO_REGISTRY_TIMEOUT": "5"})


# --- the machine-readable specification ----------------------------------------------------


def test_the_openapi_spec_documents_every_transaction_and_error_code() -> None:
    spec = yaml.safe_load((DOCS / "registry-protocol.openapi.yaml").read_text(encoding="utf-8"))
    assert spec["openapi"].startswith("3.1")
    text = (DOCS / "registry-protocol.openapi.yaml").read_text(encoding="utf-8")
    prose = (DOCS / "registry-protocol.md").read_text(encoding="utf-8")
    for transaction in Transaction:
        assert transaction.value in text, transaction
        assert transaction.value in prose, transaction
    for code in Errors.ALL:
        assert code.infcode in text and code.name in text, code
        assert code.name in prose, code
    schemas = spec["components"]["schemas"]
    for name in ("RequestEnvelope", "AnswerEnvelope", "Person", "OperationResult"):
        assert name in schemas
