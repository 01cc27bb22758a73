"""``RegistryPort`` over HTTP: the documented registry protocol (docs/registry-protocol.md),
spoken to the bridge a city's integration team runs in front of its 医保信息平台.

* Every request is a fresh envelope (new message id, real wall-clock timestamp), signed and its
  body encrypted; every answer must verify against the same keys or it is not believed.
* Queries are retried with back-off on a lost connection, a timeout or an untrusted answer.
  Debits and refunds are re-sent only with the same request number (the registry answers a
  repeated request number with the recorded result and never moves money twice); when no
  trustworthy answer arrives, ``RegistryUnavailable`` says the outcome is unknown and reconcile
  settles it with ``query`` as for any registry.
* A signed business refusal is an answer: ``RequestNumberReused``, ``ValueError`` (invalid
  argument) as from the simulator.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any, Protocol, TypeVar
from urllib.parse import urlsplit

import requests.utils
import urllib3
from urllib3.exceptions import HTTPError, LocationValueError, NewConnectionError
from urllib3.exceptions import TimeoutError as Urllib3Timeout

from huiminbao.core.config import ConfigError, on_this_machine
from huiminbao.registry import wire
from huiminbao.registry.port import (
    AccountBalance,
    AccountEntry,
    BalanceKind,
    DistrictCounts,
    FamilyLink,
    OperationKind,
    OperationResult,
    PersonsAndBalances,
    PriorDiagnosis,
    RegistryPerson,
    RegistryUnavailable,
    RequestNumberReused,
    Scheme,
    SettlementRecord,
)
from huiminbao.registry.protocol import (
    DEFAULT_SKEW_SECONDS,
    SENDER_ID_SHAPE,
    Answer,
    Errors,
    ProtocolError,
    ProtocolKeys,
    Transaction,
    build_request,
    decode_key,
    open_answer,
    wall_clock,
)

log = logging.getLogger(__name__)

ENV_URL = "HUIMINBAO_REGISTRY_URL"
ENV_SENDER_ID = "HUIMINBAO_REGISTRY_SENDER_ID"
ENV_SIGNING_KEY = "HUIMINBAO_REGISTRY_SIGNING_KEY"
ENV_ENCRYPTION_KEY = "HUIMINBAO_REGISTRY_ENCRYPTION_KEY"
ENV_TIMEOUT = "HUIMINBAO_REGISTRY_TIMEOUT"
REQUIRED_VARIABLES = (ENV_URL, ENV_SENDER_ID, ENV_SIGNING_KEY, ENV_ENCRYPTION_KEY)
DEFAULT_TIMEOUT_SECONDS = 10.0
MAX_CONNECT_TIMEOUT_SECONDS = 3.0
QUERY_ATTEMPTS = 3
MONEY_ATTEMPTS = 2
BACKOFF_SECONDS = (0.2, 0.6)

_T = TypeVar("_T")


# Refusals a re-sent message would meet again (configuration or clock trouble).
_FINAL_REFUSALS = frozenset({
    Errors.MALFORMED, Errors.UNSUPPORTED_PROFILE, Errors.UNKNOWN_SENDER, Errors.BAD_SIGNATURE,
    Errors.STALE_TIMESTAMP, Errors.DECRYPTION_FAILED, Errors.UNKNOWN_TRANSACTION,
})
POOL_SIZE = 32


class RegistryRefused(RegistryUnavailable):
    """The registry refused the envelope (unknown sender, bad signature, stale timestamp, ...) or
    gave an answer that cannot be trusted. Nothing was learnt about the operation: like any
    unavailability, ``query`` settles it. ``code`` is the protocol's error name, if known."""

    def __init__(self, message: str, code: str | None = None) -> None:
        super().__init__(message)
        self.code = code


def check_registry_url(url: str) -> None:
    """``ConfigError`` naming ``HUIMINBAO_REGISTRY_URL`` unless the URL is ``https://``, or
    ``http://`` to this machine (loopback: the simulator, a bridge on the same host, tests).
    Personal data and money orders never travel in clear text over a network."""
    try:
        parts = urlsplit(url)
        host = parts.hostname
    except ValueError as exc:
        raise ConfigError(f"{ENV_URL} must be an https URL, not {url!r}") from exc
    if parts.scheme not in ("http", "https") or not host:
        raise ConfigError(f"{ENV_URL} must be an https URL, not {url!r}")
    if parts.scheme == "http" and not on_this_machine(host):
        raise ConfigError(f"{ENV_URL} must use https:// (http:// is allowed only for "
                          f"127.0.0.1, ::1 or localhost), not {url!r}")


@dataclass(frozen=True)
class RegistryConfig:
    """Where the registry bridge is and the keys shared with it (from HUIMINBAO_REGISTRY_*)."""

    url: str
    sender_id: str
    keys: ProtocolKeys = field(repr=False)
    timeout_seconds: float = DEFAULT_TIMEOUT_SECONDS

    def __post_init__(self) -> None:
        check_registry_url(self.url)

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> RegistryConfig | None:
        """None when none of the variables is set; ``ConfigError`` naming the variable when only
        some are set or one is invalid."""
        values = {name: env.get(name, "").strip() for name in (*REQUIRED_VARIABLES, ENV_TIMEOUT)}
        if not any(values.values()):
            return None
        for name in REQUIRED_VARIABLES:
            if not values[name]:
                raise ConfigError(f"{name} must be set together with the other registry "
                                  f"variables ({', '.join(REQUIRED_VARIABLES)})")
        url = values[ENV_URL]
        check_registry_url(url)
        sender_id = values[ENV_SENDER_ID]
        if not SENDER_ID_SHAPE.fullmatch(sender_id):
            raise ConfigError(f"{ENV_SENDER_ID} must be 1-32 letters, digits, '-' or '_'")
        try:
            signing_key = decode_key(values[ENV_SIGNING_KEY])
        except ValueError as exc:
            raise ConfigError(f"{ENV_SIGNING_KEY} must be base64 of at least 32 bytes") from exc
        if len(signing_key) < 32:
            raise ConfigError(f"{ENV_SIGNING_KEY} must be base64 of at least 32 bytes")
        try:
            encryption_key = decode_key(values[ENV_ENCRYPTION_KEY])
        except ValueError as exc:
            raise ConfigError(f"{ENV_ENCRYPTION_KEY} must be base64 of exactly 32 bytes") from exc
        if len(encryption_key) != 32:
            raise ConfigError(f"{ENV_ENCRYPTION_KEY} must be base64 of exactly 32 bytes "
                              "(an AES-256 key)")
        timeout = DEFAULT_TIMEOUT_SECONDS
        if values[ENV_TIMEOUT]:
            try:
                timeout = float(values[ENV_TIMEOUT])
            except ValueError as exc:
                raise ConfigError(f"{ENV_TIMEOUT} must be a number of seconds") from exc
            if not 0 < timeout <= 120:
                raise ConfigError(f"{ENV_TIMEOUT} must be more than 0 and at most 120 seconds")
        return cls(url, sender_id, ProtocolKeys(signing_key, encryption_key), timeout)

    def describe(self) -> str:
        """Where it points, secrets masked."""
        return (f"医保平台接口 {self.url}（发送方 {self.sender_id}，签名 HMAC-SHA256，"
                f"加密 AES-256-GCM，密钥已隐藏，超时 {self.timeout_seconds:g} 秒）")

    def to_env(self) -> dict[str, str]:
        return {
            ENV_URL: self.url,
            ENV_SENDER_ID: self.sender_id,
            ENV_SIGNING_KEY: self.keys.signing_key_b64(),
            ENV_ENCRYPTION_KEY: self.keys.encryption_key_b64(),
            ENV_TIMEOUT: f"{self.timeout_seconds:g}",
        }


@dataclass(frozen=True)
class Exchange:
    """One request and what came back (for the contract kit, which inspects raw answers)."""

    request: dict[str, Any]
    status: int
    envelope: dict[str, Any] | None


class TransportFailure(Exception):
    """No answer came back: the connection could not be made or was lost. The message names
    the underlying error."""


class TransportTimeout(TransportFailure):
    """No answer came back in time (connecting or waiting for the answer)."""


class Transport(Protocol):
    """Carries one request body to the registry endpoint and brings back what it answered."""

    def post(self, url: str, body: bytes, headers: Mapping[str, str],
             timeout: tuple[float, float]) -> tuple[int, bytes]:
        """POST ``body``; the HTTP status and the answer's body. ``timeout`` is (connect,
        read) in seconds. Raises ``TransportTimeout`` or ``TransportFailure``; never retries."""
        ...


class Urllib3Transport:
    """``Transport`` over one urllib3 pool shared by the app's threads (urllib3's pools are
    thread-safe), connections kept alive. Plain urllib3 rather than requests: requests' own
    per-call machinery (settings merges, hooks, cookies, typing checks) cost about 0.5 ms of CPU
    per call, a third of the call, three times on the enrollment hot path.

    The egress proxy (HTTPS_PROXY, NO_PROXY, ...) and the trusted certificate authorities are
    decided once, here, exactly as requests decided them before (same environment variables,
    NO_PROXY host suffixes and CIDR ranges, proxy credentials in the URL, certifi's bundle)."""

    def __init__(self, url: str, *, pool_size: int = POOL_SIZE) -> None:
        self.proxy = _environment_proxy(url)
        self._pool = _pool_for(url, self.proxy, num_pools=1, maxsize=pool_size, block=False,
                               cert_reqs="CERT_REQUIRED",
                               ca_certs=requests.utils.DEFAULT_CA_BUNDLE_PATH)

    def post(self, url: str, body: bytes, headers: Mapping[str, str],
             timeout: tuple[float, float]) -> tuple[int, bytes]:
        connect, read = timeout
        try:
            response = self._pool.urlopen(
                "POST", url, body=body, headers=headers,
                timeout=urllib3.Timeout(connect=connect, read=read),
                retries=False, redirect=False)  # the caller's attempts are the only retries
        except NewConnectionError as exc:
            # A refused or unresolvable connection: a ConnectTimeoutError by inheritance only.
            raise TransportFailure(type(exc).__name__) from exc
        except Urllib3Timeout as exc:  # ConnectTimeoutError, ReadTimeoutError
            raise TransportTimeout(type(exc).__name__) from exc
        except (HTTPError, OSError) as exc:  # ProtocolError, ProxyError, SSLError, ...
            raise TransportFailure(type(exc).__name__) from exc
        return response.status, response.data


def _environment_proxy(url: str) -> str | None:
    """The proxy the environment names for ``url`` (None: direct), as requests chooses it."""
    proxies = requests.utils.get_environ_proxies(url)
    proxy = requests.utils.select_proxy(url, proxies)
    return requests.utils.prepend_scheme_if_needed(proxy, "http") if proxy else None


def _pool_for(url: str, proxy: str | None, **options: Any) -> urllib3.PoolManager:
    """A direct pool, or one through ``proxy`` (CONNECT tunnels for https://), which is sent
    the credentials its URL carries."""
    if proxy is None:
        return urllib3.PoolManager(**options)
    username, password = requests.utils.get_auth_from_url(proxy)
    proxy_headers = (urllib3.make_headers(proxy_basic_auth=f"{username}:{password}")
                     if username else None)
    try:
        return urllib3.ProxyManager(proxy, proxy_headers=proxy_headers, **options)
    except LocationValueError as exc:  # ProxySchemeUnknown: socks5://, ...
        raise ConfigError(f"the egress proxy the environment names for {url} (HTTPS_PROXY, "
                          f"HTTP_PROXY or ALL_PROXY) must be an http:// or https:// URL, "
                          f"not {exc}") from exc


_REQUEST_HEADERS = {"Content-Type": "application/json", "Accept": "application/json"}


class ProtocolClient:
    """Sends envelopes to the registry endpoint and verifies the answers. Thread-safe."""

    def __init__(self, config: RegistryConfig, *, transport: Transport | None = None,
                 now: Callable[[], float] = wall_clock) -> None:
        self.config = config
        self.transport: Transport = (Urllib3Transport(config.url) if transport is None
                                     else transport)
        self._now = now

    @property
    def timeouts(self) -> tuple[float, float]:
        read = self.config.timeout_seconds
        return min(MAX_CONNECT_TIMEOUT_SECONDS, read), read

    def envelope(self, infno: str, body: Mapping[str, Any], **overrides: Any) -> dict[str, Any]:
        return build_request(self.config.keys, self.config.sender_id, infno, body,
                             now=overrides.pop("now", self._now()), **overrides)

    def post(self, envelope: Mapping[str, Any]) -> Exchange:
        """Send an envelope as it is. Raises ``TransportFailure`` (``TransportTimeout``) on a
        lost connection or a timeout."""
        status, answer = self.transport.post(
            self.config.url, json.dumps(envelope, allow_nan=False).encode(), _REQUEST_HEADERS,
            self.timeouts)
        try:
            parsed = json.loads(answer)
        except ValueError:  # not JSON, or not text at all (UnicodeDecodeError)
            parsed = None
        return Exchange(dict(envelope), status, parsed if isinstance(parsed, dict) else None)

    def open(self, exchange: Exchange) -> Answer:
        """The verified answer of an exchange; ``ProtocolError`` if it cannot be trusted."""
        if exchange.envelope is None:
            raise ProtocolError(Errors.MALFORMED, f"HTTP {exchange.status} without an envelope")
        return open_answer(exchange.envelope, self.config.keys,
                           sender_id=self.config.sender_id, infno=exchange.request["infno"],
                           request_msgid=exchange.request["msgid"], now=self._now(),
                           skew_seconds=DEFAULT_SKEW_SECONDS)

    def call(self, transaction: Transaction, body: Mapping[str, Any], *,
             attempts: int = 1) -> Answer:
        """Send (each attempt a fresh envelope of the same body) until a trustworthy answer
        arrives; ``RegistryUnavailable`` (or ``RegistryRefused``) after the last attempt."""
        failure: RegistryUnavailable | None = None
        for attempt in range(attempts):
            if attempt:
                time.sleep(BACKOFF_SECONDS[min(attempt - 1, len(BACKOFF_SECONDS) - 1)])
            try:
                exchange = self.post(self.envelope(transaction.value, body))
            except TransportTimeout as exc:
                failure = RegistryUnavailable(f"医保平台无应答（超时）：{exc}")
                continue
            except TransportFailure as exc:
                failure = RegistryUnavailable(f"无法连接医保平台：{exc}")
                continue
            try:
                answer = self.open(exchange)
            except ProtocolError as exc:
                failure = RegistryRefused(
                    f"医保平台应答不可信（{exc.code.message_zh}）：HTTP {exchange.status}",
                    code=exc.code.name)
                unsigned = exchange.envelope or {}
                if unsigned.get("signature") is None \
                        and unsigned.get("infcode") not in (None, "0"):
                    # An unsigned refusal: the registry answers a request it could not
                    # authenticate (unknown sender, bad signature, stale timestamp, ...)
                    # unsigned. Report what it says; it is still only a refusal, never an answer
                    # about the operation. One a new message would meet again ends at once.
                    refused = Errors.by_infcode(str(unsigned.get("infcode")))
                    failure = RegistryRefused(
                        f"医保平台拒绝请求：{unsigned.get('err_msg')}",
                        code=refused.name if refused else str(unsigned.get("err_code")))
                    if refused in _FINAL_REFUSALS:
                        raise failure from exc
                continue
            if answer.ok:
                return answer
            code = answer.error
            if code is Errors.REQUEST_NO_REUSED:
                raise RequestNumberReused(answer.err_msg_en or "request number reused")
            if code is Errors.INVALID_ARGUMENT:
                raise ValueError(answer.err_msg_en or "invalid argument")
            # A signed refusal of the envelope or an internal error: nothing we can know of
            # happened. A refusal that a new message id cannot cure (wrong keys or profile, an
            # unknown transaction, clocks apart) ends at once; the others are tried again.
            failure = RegistryRefused(f"医保平台拒绝请求：{answer.err_msg}",
                                      code=answer.err_code)
            if code in _FINAL_REFUSALS:
                raise failure
        assert failure is not None
        raise failure


class HttpRegistry:
    """``RegistryPort`` over the registry protocol."""

    def __init__(self, config: RegistryConfig, *, transport: Transport | None = None,
                 query_attempts: int = QUERY_ATTEMPTS,
                 money_attempts: int = MONEY_ATTEMPTS) -> None:
        self.config = config
        self.client = ProtocolClient(config, transport=transport)
        self._query_attempts = query_attempts
        self._money_attempts = money_attempts
        # False once the bridge refused ``balances_of`` (one that checks requests against the
        # schema from before the field): balances are then read one by one.
        self._balances_in_batch = True

    def describe(self) -> str:
        return self.config.describe()

    def _ask(self, transaction: Transaction, body: Mapping[str, Any]) -> dict[str, Any]:
        attempts = self._money_attempts if transaction.moves_money else self._query_attempts
        answer = self.client.call(transaction, body, attempts=attempts)
        assert answer.body is not None  # open_answer guarantees a body on success
        return answer.body

    @staticmethod
    @contextmanager
    def _shaped() -> Iterator[None]:
        """A body that does not have the documented shape is an untrusted answer."""
        try:
            yield
        except (ValueError, KeyError, TypeError) as exc:
            raise RegistryRefused(f"医保平台应答格式不符合协议：{exc}", code="malformed") from exc

    def probe(self) -> None:
        """One harmless round trip (the ping transaction); raises ``RegistryUnavailable`` (or
        ``RegistryRefused`` with the protocol's reason, e.g. a wrong key) on failure."""
        body = self.client.call(Transaction.PING, {}, attempts=1).body or {}
        if body.get("pong") is not True:
            raise RegistryRefused("医保平台应答格式不符合协议：ping", code="malformed")

    # --- reads -------------------------------------------------------------------------------

    def _read_one(self, transaction: Transaction, body: Mapping[str, Any], name: str,
                  read: Callable[[Mapping[str, Any]], _T]) -> _T | None:
        """The answer's member ``name``, read by ``read``; None when the member is null."""
        answer = self._ask(transaction, body)
        with self._shaped():
            raw = _member(answer, name)
            if raw is None:
                return None
            return read(wire.object_of(raw, name))

    def _read_list(self, transaction: Transaction, body: Mapping[str, Any], name: str,
                   read: Callable[[Mapping[str, Any]], _T]) -> list[_T]:
        """The answer's list member ``name``, each item read by ``read``."""
        answer = self._ask(transaction, body)
        with self._shaped():
            return [read(item) for item in wire.list_of(answer.get(name), name)]

    def find_person(self, id_number: str) -> RegistryPerson | None:
        person = self._read_one(Transaction.PERSON, {"id_number": id_number}, "person",
                                wire.person_in)
        if person is None:
            return None
        if person.id_number != id_number:
            raise RegistryRefused("医保平台应答的参保人与请求不符", code="malformed")
        return person

    def find_persons(self, id_numbers: Sequence[str]) -> dict[str, RegistryPerson]:
        found: dict[str, RegistryPerson] = {}
        wanted = list(dict.fromkeys(id_numbers))
        for start in range(0, len(wanted), wire.MAX_BATCH):
            body = self._ask(Transaction.PERSONS,
                             {"id_numbers": wanted[start: start + wire.MAX_BATCH]})
            with self._shaped():
                persons = [wire.person_in(item)
                           for item in wire.list_of(body.get("persons"), "persons")]
            found.update((person.id_number, person) for person in persons)
        return found

    def persons_and_balances(self, id_numbers: Sequence[str],
                             balances_of: Sequence[str]) -> PersonsAndBalances:
        wanted = list(dict.fromkeys(id_numbers))
        accounts = list(dict.fromkeys(balances_of))
        if not accounts or not self._balances_in_batch or len(wanted) > wire.MAX_BATCH \
                or len(accounts) > wire.MAX_BATCH:
            return PersonsAndBalances(self.find_persons(wanted), self._balances_of(accounts))
        try:
            body = self._ask(Transaction.PERSONS, {"id_numbers": wanted,
                                                   "balances_of": accounts})
        except ValueError:  # 2001: a bridge that does not know the field refuses it
            log.warning("the registry bridge refused balances_of; reading balances one by one")
            self._balances_in_batch = False
            return PersonsAndBalances(self.find_persons(wanted), self._balances_of(accounts))
        with self._shaped():
            persons = [wire.person_in(item)
                       for item in wire.list_of(body.get("persons"), "persons")]
            raw = body.get("balances")
            given = None if raw is None else [wire.balance_in(item)
                                              for item in wire.list_of(raw, "balances")]
        if given is None:  # a bridge older than ``balances_of``: one balance lookup each
            return PersonsAndBalances({person.id_number: person for person in persons},
                                      self._balances_of(accounts))
        return PersonsAndBalances({person.id_number: person for person in persons},
                                  {balance.id_number: balance for balance in given
                                   if balance.id_number in accounts})  # none not asked for

    def _balances_of(self, id_numbers: Sequence[str]) -> dict[str, AccountBalance]:
        balances = (self.balance(number) for number in id_numbers)
        return {balance.id_number: balance for balance in balances if balance is not None}

    def contact_matches(self, id_number: str, phone: str) -> bool:
        body = self._ask(Transaction.CONTACT_CHECK, {"id_number": id_number, "phone": phone})
        matches = body.get("matches")
        if not isinstance(matches, bool):
            raise RegistryRefused("医保平台应答格式不符合协议：matches", code="malformed")
        return matches

    def relations(self, id_number: str) -> list[FamilyLink]:
        return self._read_list(Transaction.RELATIONS, {"id_number": id_number}, "relations",
                               wire.link_in)

    def prior_diagnoses(self, id_number: str, before: date) -> list[PriorDiagnosis]:
        return self._read_list(Transaction.PRIOR_DIAGNOSES,
                               {"id_number": id_number, "before": before.isoformat()},
                               "diagnoses", wire.diagnosis_in)

    def settlements(self, id_number: str, since: date, until: date) -> list[SettlementRecord]:
        body = self._ask(Transaction.SETTLEMENTS, {"id_number": id_number,
                                                   "since": since.isoformat(),
                                                   "until": until.isoformat()})
        with self._shaped():
            records = [wire.settlement_in(item)
                       for item in wire.list_of(body.get("settlements"), "settlements")]
        # Records outside the period asked for were not authorized: the answer is not used.
        if any(not since <= record.visit_date <= until for record in records):
            raise RegistryRefused("医保平台应答的结算记录超出所请求的期间", code="malformed")
        return records

    def balance(self, id_number: str) -> AccountBalance | None:
        return self._read_one(Transaction.BALANCE, {"id_number": id_number}, "balance",
                              wire.balance_in)

    def entries(self, id_number: str) -> list[AccountEntry]:
        return self._read_list(Transaction.ENTRIES, {"id_number": id_number}, "entries",
                               wire.entry_in)

    def accounts_out_of_balance(self) -> list[str]:
        """A remote registry keeps its own books and audits them itself: nothing to report."""
        return []

    def scheme_counts(self, id_numbers: Sequence[str]) -> dict[Scheme, int]:
        counts: dict[Scheme, int] = {}
        # Distinct first, so a number given twice in different batches still counts once.
        wanted = sorted(set(id_numbers))
        for start in range(0, len(wanted), wire.MAX_COUNT_BATCH):
            body = self._ask(Transaction.SCHEME_COUNTS,
                             {"id_numbers": wanted[start: start + wire.MAX_COUNT_BATCH]})
            with self._shaped():
                raw = wire.object_of(body.get("counts"), "counts")
                batch = {Scheme(name): wire.integer(raw, name) for name in raw}
            for scheme, count in batch.items():
                counts[scheme] = counts.get(scheme, 0) + count
        return counts

    def district_counts(self, id_numbers: Sequence[str]) -> DistrictCounts:
        counts: dict[str, int] = {}
        without: list[str] = []
        wanted = sorted(set(id_numbers))
        for start in range(0, len(wanted), wire.MAX_COUNT_BATCH):
            batch = wanted[start: start + wire.MAX_COUNT_BATCH]
            body = self._ask(Transaction.DISTRICT_COUNTS, {"id_numbers": batch})
            with self._shaped():
                raw = wire.object_of(body.get("counts"), "counts")
                found = {str(code): wire.integer(raw, code) for code in raw}
                left = wire.id_number_list(body, "without_district", len(batch))
            if not set(left) <= set(batch) or sum(found.values()) + len(left) > len(batch):
                raise RegistryRefused("医保平台应答的区县统计与请求不符", code="malformed")
            for code, count in found.items():
                counts[code] = counts.get(code, 0) + count
            without += left
        return DistrictCounts(counts, tuple(without))

    def query(self, request_no: str) -> OperationResult | None:
        """None only for a signed, well-formed ``{"found": false, "result": null}``: the caller
        may close an order as never paid on it. Anything else that is not a result for this
        request number raises ``RegistryRefused`` (the outcome stays unknown)."""
        body = self._ask(Transaction.QUERY, {"request_no": request_no})
        with self._shaped():
            found = _member(body, "found")
            raw = _member(body, "result")
            if not isinstance(found, bool):
                raise ValueError("found must be true or false")
            if not found:
                if raw is not None:
                    raise ValueError("a result with found=false")
                return None
            result = wire.result_in(wire.object_of(raw, "result"))
        if result.request_no != request_no:
            raise RegistryRefused("医保平台应答的业务流水号与请求不符", code="malformed")
        return result

    def statement(self, since: datetime | None = None,
                  until: datetime | None = None) -> list[OperationResult]:
        results: list[OperationResult] = []
        cursor: str | None = None
        while True:
            body = self._ask(Transaction.STATEMENT, {"since": wire.iso(since),
                                                     "until": wire.iso(until), "cursor": cursor})
            with self._shaped():
                results.extend(wire.result_in(item)
                               for item in wire.list_of(body.get("results"), "results"))
            next_cursor = body.get("next_cursor")
            if next_cursor is not None and not isinstance(next_cursor, str):
                raise RegistryRefused("医保平台应答格式不符合协议：next_cursor", code="malformed")
            if not next_cursor:
                return results
            cursor = next_cursor

    # --- money -------------------------------------------------------------------------------

    def debit(self, request_no: str, id_number: str, amount_fen: int, *,
              sources: Sequence[BalanceKind], purpose: str) -> OperationResult:
        if isinstance(sources, str):
            raise ValueError("sources must be a sequence of balance kinds, not a string")
        body = self._ask(Transaction.DEBIT, {
            "request_no": request_no, "id_number": id_number, "amount_fen": amount_fen,
            "sources": [BalanceKind(source).value for source in sources], "purpose": purpose})
        return self._result(body, OperationKind.DEBIT, request_no, amount_fen,
                            id_number=id_number)

    def refund(self, request_no: str, original_request_no: str, amount_fen: int, *,
               purpose: str) -> OperationResult:
        body = self._ask(Transaction.REFUND, {
            "request_no": request_no, "original_request_no": original_request_no,
            "amount_fen": amount_fen, "purpose": purpose})
        return self._result(body, OperationKind.REFUND, request_no, amount_fen,
                            original_request_no=original_request_no)

    def _result(self, body: dict[str, Any], kind: OperationKind, request_no: str,
                amount_fen: int, *, id_number: str | None = None,
                original_request_no: str | None = None) -> OperationResult:
        """The result of a debit or refund, believed only if it is about the request: same
        kind, request number and amount (and person for a debit, original for a refund).
        Otherwise ``RegistryRefused``: the outcome stays unknown and reconcile queries it."""
        with self._shaped():
            result = wire.result_in(wire.object_of(body["result"], "result"))
        mismatched = [name for name, same in (
            ("kind", result.kind is kind),
            ("request_no", result.request_no == request_no),
            ("amount_fen", result.amount_fen == amount_fen),
            ("id_number", id_number is None or result.id_number == id_number),
            ("original_request_no", original_request_no is None
             or result.original_request_no == original_request_no),
        ) if not same]
        if mismatched:
            raise RegistryRefused(f"医保平台应答与请求不符（{', '.join(mismatched)}）",
                                  code="malformed")
        return result


def _member(body: Mapping[str, Any], name: str) -> Any:
    """A member the documented answer always has (its value may be null); ``KeyError`` (read
    as a malformed answer by ``_shaped``) when it is missing, never a silent null."""
    if name not in body:
        raise KeyError(f"{name} is missing")
    return body[name]
