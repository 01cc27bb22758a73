"""The registry protocol's codec (no network beyond loopback, no database): signatures,
encryption, tampering, replays, clock skew, answers, the adapter's configuration, and the spec's
coverage."""

from __future__ import annotations

import base64
import copy
import json
import json as json_module
import socket
import threading
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, cast

import pytest
import yaml

from huiminbao.core.config import ConfigError
from huiminbao.registry import wire
from huiminbao.registry.http_adapter import HttpRegistry, RegistryConfig, RegistryRefused
from huiminbao.registry.port import BalanceKind, RegistryPort, RegistryUnavailable
from huiminbao.registry.protocol import (
    DEFAULT_SKEW_SECONDS,
    Errors,
    HmacSha256,
    ProtocolError,
    ProtocolKeys,
    ReplayCache,
    RequestHeader,
    Transaction,
    build_answer,
    build_request,
    canonical,
    open_answer,
    open_request,
)
from huiminbao.registry.server import RegistryProtocolServer

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
    assert len(cache) <= 3


def test_a_full_replay_cache_refuses_new_messages_rather_than_forget_live_ones() -> None:
    cache = ReplayCache(window_seconds=600, max_entries=3)
    for index in range(3):
        assert cache.add("A", f"m{index}", 100 + index)
    with pytest.raises(ProtocolError, match="busy") as raised:
        cache.add("A", "new", 200)
    assert raised.value.code is Errors.INTERNAL and raised.value.authenticated
    # Every id inside the window is still remembered: a replay cannot slip through.
    assert [cache.add("A", f"m{index}", 300) for index in range(3)] == [False] * 3
    # Once the oldest have expired they make room (and only they are dropped).
    assert cache.add("A", "new", 701)
    assert not cache.add("A", "m1", 701) and not cache.add("A", "m2", 701)
    assert len(cache) == 3


def test_a_replay_is_refused_even_when_the_cache_is_full() -> None:
    replay = ReplayCache(max_entries=1)
    envelope = request()
    open_request(envelope, keys_for, replay, now=NOW)
    assert refusal(envelope, replay=replay) == "replayed_msgid"
    assert refusal(request(), replay=replay) == "internal"  # busy: refused, not executed


def test_only_refusals_after_the_signature_verified_are_authenticated() -> None:
    replay = ReplayCache()
    forged = dict(request(), signature=HmacSha256().sign(ProtocolKeys.generate(), b"x"))
    with pytest.raises(ProtocolError) as raised:
        open_request(forged, keys_for, replay, now=NOW)
    assert raised.value.code is Errors.BAD_SIGNATURE and not raised.value.authenticated
    with pytest.raises(ProtocolError) as raised:
        open_request(request(now=NOW - 3600), keys_for, replay, now=NOW)
    assert raised.value.code is Errors.STALE_TIMESTAMP and not raised.value.authenticated
    envelope = request()
    open_request(envelope, keys_for, replay, now=NOW)
    with pytest.raises(ProtocolError) as raised:
        open_request(envelope, keys_for, replay, now=NOW)
    assert raised.value.code is Errors.REPLAYED_MSGID and raised.value.authenticated


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


# --- secrets stay out of reprs ---------------------------------------------------------------


def test_keys_never_appear_in_reprs() -> None:
    config = RegistryConfig.from_env(env_of())
    assert config is not None
    opened = open_request(request(), keys_for, ReplayCache(), now=NOW)
    header = RequestHeader("HMB2201", "M1", SENDER, KEYS)
    for value in (KEYS, config, opened, header):
        text = repr(value)
        for secret in (KEYS.signing_key, KEYS.encryption_key):
            assert repr(secret) not in text and repr(secret)[2:-1] not in text
            assert base64.b64encode(secret).decode() not in text
    assert "bridge.example.cn" in repr(config)  # the rest is still there


# --- the URL: https, or http to this machine only --------------------------------------------


@pytest.mark.parametrize("url", [
    "https://bridge.example.cn/hmb/registry/v1", "http://127.0.0.1:8700/hmb/registry/v1",
    "http://localhost:8700/hmb/registry/v1", "http://[::1]:8700/hmb/registry/v1",
    "HTTP://LOCALHOST:8700/x",
])
def test_http_is_accepted_only_for_loopback_hosts(url: str) -> None:
    config = RegistryConfig.from_env(env_of(HUIMINBAO_REGISTRY_URL=url))
    assert config is not None and config.url == url


@pytest.mark.parametrize("url", [
    "http://bridge.example.cn/hmb/registry/v1", "http://10.0.0.5:8700/hmb/registry/v1",
    "http://127.0.0.1.example.cn/x", "http://localhost.example.cn/x", "https:///x",
])
def test_http_to_another_host_is_a_config_error(url: str) -> None:
    with pytest.raises(ConfigError, match="HUIMINBAO_REGISTRY_URL"):
        RegistryConfig.from_env(env_of(HUIMINBAO_REGISTRY_URL=url))
    with pytest.raises(ConfigError, match="HUIMINBAO_REGISTRY_URL"):
        RegistryConfig(url, SENDER, KEYS)  # built directly, too


class FirstBytes:
    """A loopback listener that keeps the first bytes each connection sends (a request line, a
    TLS hello) and hangs up: where did the client's traffic go?"""

    def __init__(self) -> None:
        self._listener = socket.create_server(("127.0.0.1", 0))
        self._listener.settimeout(0.05)  # polls, so that close() is prompt
        self.port: int = self._listener.getsockname()[1]
        self.received: list[bytes] = []
        self._closed = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while not self._closed.is_set():
            try:
                connection, _address = self._listener.accept()
            except TimeoutError:
                continue
            with connection:
                connection.settimeout(5)
                self.received.append(connection.recv(1024))

    def close(self) -> None:
        self._closed.set()
        self._thread.join(timeout=5)
        self._listener.close()


@pytest.mark.parametrize(("no_proxy", "proxied"), [("", True), ("127.0.0.1", False)])
def test_an_egress_proxy_from_the_environment_is_honoured(
        monkeypatch: pytest.MonkeyPatch, no_proxy: str, proxied: bool) -> None:
    """HTTPS_PROXY tunnels the registry's traffic (CONNECT) unless NO_PROXY names the host; the
    settings are read once, when the client is made (not on every call: the hot path)."""
    for name in ("https_proxy", "no_proxy", "all_proxy", "ALL_PROXY"):
        monkeypatch.delenv(name, raising=False)  # the lower-case spelling would win
    proxy, bridge = FirstBytes(), FirstBytes()
    try:
        monkeypatch.setenv("HTTPS_PROXY", f"http://127.0.0.1:{proxy.port}")
        monkeypatch.setenv("NO_PROXY", no_proxy)
        config = RegistryConfig.from_env(env_of(
            HUIMINBAO_REGISTRY_URL=f"https://127.0.0.1:{bridge.port}/hmb/registry/v1",
            HUIMINBAO_REGISTRY_TIMEOUT="2"))
        assert config is not None
        registry = HttpRegistry(config, query_attempts=1)
        monkeypatch.setenv("NO_PROXY", "127.0.0.1" if proxied else "")  # too late to count
        with pytest.raises(RegistryUnavailable, match="无法连接医保平台"):
            registry.probe()  # neither listener answers: only where the bytes went matters
    finally:
        proxy.close()
        bridge.close()
    if proxied:
        assert [first.split(b" ")[:2] for first in proxy.received] == [
            [b"CONNECT", f"127.0.0.1:{bridge.port}".encode()]]
        assert bridge.received == []
    else:
        assert proxy.received == []
        assert [first[:1] for first in bridge.received] == [b"\x16"]  # a TLS handshake


def test_the_credentials_in_the_proxy_url_are_sent_to_the_proxy(
        monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("https_proxy", "no_proxy", "NO_PROXY", "all_proxy", "ALL_PROXY"):
        monkeypatch.delenv(name, raising=False)
    proxy = FirstBytes()
    try:
        monkeypatch.setenv("HTTPS_PROXY", f"http://egress:p%40ss@127.0.0.1:{proxy.port}")
        registry = HttpRegistry(RegistryConfig("https://bridge.example.cn/hmb/registry/v1",
                                               SENDER, KEYS, timeout_seconds=2))
        with pytest.raises(RegistryUnavailable, match="无法连接医保平台"):
            registry.probe()
    finally:
        proxy.close()
    (connect,) = proxy.received
    assert connect.startswith(b"CONNECT bridge.example.cn:443 ")
    credentials = base64.b64encode(b"egress:p@ss").decode()
    assert f"\r\nproxy-authorization: basic {credentials.lower()}\r\n".encode() \
        in connect.lower()


def test_a_proxy_url_that_is_not_http_is_a_config_error(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("https_proxy", "no_proxy", "NO_PROXY"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HTTPS_PROXY", "socks5://proxy.city.example:1080")
    with pytest.raises(ConfigError, match="egress proxy"):
        HttpRegistry(RegistryConfig("https://bridge.example.cn/hmb/registry/v1", SENDER, KEYS))


# --- the server: unsigned refusals of unauthenticated requests -------------------------------


def protocol_server(replay: ReplayCache | None = None) -> RegistryProtocolServer:
    registry = cast(RegistryPort, object())  # refusals never reach the registry
    return RegistryProtocolServer(registry, {SENDER: KEYS}, replay_cache=replay,
                                  now=lambda: NOW)


def serve(server: RegistryProtocolServer, envelope: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    return server.handle(json.dumps(envelope).encode())


def test_requests_that_fail_authentication_are_answered_unsigned() -> None:
    server = protocol_server()
    forged = dict(request(), signature=HmacSha256().sign(ProtocolKeys.generate(), b"x"))
    for envelope, code in ((forged, Errors.BAD_SIGNATURE),
                           (request(now=NOW - 3600), Errors.STALE_TIMESTAMP),
                           (dict(request(), sign_type="SM3-SM2"), Errors.UNSUPPORTED_PROFILE),
                           (dict(request(), signature=None), Errors.MALFORMED),
                           (dict(request(), sender_id="NOBODY"), Errors.UNKNOWN_SENDER)):
        status, answer = serve(server, envelope)
        assert (status, answer["infcode"]) == (code.http_status, code.infcode)
        assert answer["signature"] is None and answer["output"] is None, code
        assert answer["sign_type"] is None


def test_refusals_of_authentic_requests_are_signed() -> None:
    server = protocol_server(ReplayCache(max_entries=1))
    envelope = request()
    serve(server, envelope)  # takes the one place (the body lacks sources: 2001)
    status, replayed = serve(server, envelope)
    assert (status, replayed["infcode"]) == (409, Errors.REPLAYED_MSGID.infcode)
    assert open_answer(replayed, KEYS, sender_id=SENDER, infno="HMB2201",
                       request_msgid=envelope["msgid"], now=NOW).error is Errors.REPLAYED_MSGID
    fresh = request()
    status, busy = serve(server, fresh)
    assert (status, busy["infcode"]) == (503, Errors.INTERNAL.infcode)
    assert "busy" in busy["err_msg_en"]
    assert open_answer(busy, KEYS, sender_id=SENDER, infno="HMB2201",
                       request_msgid=fresh["msgid"], now=NOW).error is Errors.INTERNAL


# --- the client: a malformed or mismatched signed answer is never believed -------------------


class FakeBridge:
    """A ``Transport``: opens each request and answers, signed with the right keys, the body
    ``answer(infno, request body)`` gives (or a prepared raw envelope)."""

    def __init__(self, answer: Callable[[str, dict[str, Any]], dict[str, Any]] | None = None,
                 raw: dict[str, Any] | None = None) -> None:
        self.answer = answer
        self.raw = raw
        self.posts = 0

    def post(self, url: str, body: bytes, headers: Mapping[str, str],
             timeout: tuple[float, float]) -> tuple[int, bytes]:
        self.posts += 1
        now = time.time()
        request = json_module.loads(body)
        if self.raw is not None:
            envelope = dict(self.raw, ref_msgid=request["msgid"], infno=request["infno"])
        else:
            assert self.answer is not None
            opened = open_request(request, keys_for, ReplayCache(), now=now)
            envelope = build_answer(opened, now=now, body=self.answer(opened.infno, opened.body))
        return 200, json_module.dumps(envelope).encode()


def adapter(answer: Callable[[str, dict[str, Any]], dict[str, Any]] | None = None,
            raw: dict[str, Any] | None = None) -> tuple[HttpRegistry, FakeBridge]:
    bridge = FakeBridge(answer, raw)
    config = RegistryConfig("https://bridge.example.cn/hmb/registry/v1", SENDER, KEYS)
    registry = HttpRegistry(config, transport=bridge, query_attempts=1, money_attempts=1)
    return registry, bridge


def result_wire(**changes: Any) -> dict[str, Any]:
    result = {"request_no": "R1", "kind": "debit", "status": "succeeded",
              "id_number": ID_NUMBER, "amount_fen": 100, "failure_reason": None,
              "by_balance": {"prior_years": 100}, "occurred_at": "2026-11-22T10:00:00+08:00",
              "original_request_no": None}
    result.update(changes)
    return result


ID_NUMBER = "330106198803150130"


@pytest.mark.parametrize("body", [
    {"result": None},  # no "found"
    {"found": None, "result": None},
    {"found": "false", "result": None},
    {"found": 0, "result": None},
    {"found": False, "result": result_wire()},  # contradicts itself
    {"found": True, "result": None},
    {"found": True, "result": result_wire(request_no="OTHER")},
    {"found": True},
])
def test_a_query_answer_without_a_clear_found_is_malformed_not_a_negative(
        body: dict[str, Any]) -> None:
    registry, _bridge = adapter(lambda _infno, _body: body)
    with pytest.raises(RegistryRefused) as raised:
        registry.query("R1")
    assert raised.value.code == "malformed"


def test_a_well_formed_query_answer_is_believed() -> None:
    registry, _bridge = adapter(lambda _infno, _body: {"found": False, "result": None})
    assert registry.query("R1") is None
    registry, _bridge = adapter(lambda _infno, _body: {"found": True, "result": result_wire()})
    found = registry.query("R1")
    assert found is not None and found.succeeded and found.amount_fen == 100


@pytest.mark.parametrize("changes", [
    {"request_no": "R2"}, {"kind": "refund"}, {"amount_fen": 99}, {"amount_fen": 1000},
    {"id_number": "110101190001019991"},
])
def test_a_debit_result_about_another_operation_is_not_believed(changes: dict[str, Any]) -> None:
    registry, _bridge = adapter(lambda _infno, _body: {"result": result_wire(**changes)})
    with pytest.raises(RegistryRefused) as raised:
        registry.debit("R1", ID_NUMBER, 100, sources=[BalanceKind.PRIOR_YEARS], purpose="x")
    assert raised.value.code == "malformed"


def test_a_matching_debit_and_refund_result_are_believed() -> None:
    registry, _bridge = adapter(lambda _infno, _body: {"result": result_wire()})
    assert registry.debit("R1", ID_NUMBER, 100, sources=[BalanceKind.PRIOR_YEARS],
                          purpose="x").succeeded
    refund = result_wire(request_no="R1-RF", kind="refund", original_request_no="R1")
    registry, _bridge = adapter(lambda _infno, _body: {"result": refund})
    assert registry.refund("R1-RF", "R1", 100, purpose="x").succeeded
    other = dict(refund, original_request_no="R0")
    registry, _bridge = adapter(lambda _infno, _body: {"result": other})
    with pytest.raises(RegistryRefused):
        registry.refund("R1-RF", "R1", 100, purpose="x")


@pytest.mark.parametrize(("method", "body"), [
    ("find_person", {}), ("find_person", {"persons": None}), ("balance", {}),
    ("find_person", {"person": {"id_number": "110101190001019991", "name": "x"}}),
])
def test_a_lookup_answer_missing_its_member_is_malformed_not_absent(
        method: str, body: dict[str, Any]) -> None:
    registry, _bridge = adapter(lambda _infno, _body: body)
    with pytest.raises(RegistryRefused):
        getattr(registry, method)(ID_NUMBER)


def test_an_unsigned_final_refusal_ends_at_once() -> None:
    unsigned = build_answer(RequestHeader("HMB2203", "M", SENDER, None), now=time.time(),
                            error=Errors.BAD_SIGNATURE)
    registry, bridge = adapter(raw=unsigned)
    registry._query_attempts = 3
    with pytest.raises(RegistryRefused) as raised:
        registry.query("R1")
    assert raised.value.code == "bad_signature" and bridge.posts == 1


@pytest.mark.parametrize("answered", ["33010219430618052x", " 33010219430618052X ",
                                      "３３０１０２１９４３０６１８０５２Ｘ"])
def test_id_numbers_in_answers_are_read_in_the_one_form_persons_are_keyed_by(
        answered: str) -> None:
    balance = wire.balance_in({"id_number": answered, "prior_years_fen": 1,
                               "current_year_fen": 2})
    link = wire.link_in({"relative_id_number": answered, "relation": "parent"})
    [left] = wire.id_number_list({"without_district": [answered]}, "without_district", 1)
    assert balance.id_number == link.relative_id_number == left == "33010219430618052X"
