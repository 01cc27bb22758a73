"""``HttpRegistry`` against the protocol server over real HTTP, the simulator on PostgreSQL:
every port method, money rules under concurrency, lost answers, timeouts, untrusted answers,
and the contract kit against the simulator and two deliberately faulty bridges."""

from __future__ import annotations

import io
import itertools
import json
import os
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest
import requests
from click.testing import CliRunner

from huiminbao.cli import main
from huiminbao.core.clock import SystemClock
from huiminbao.core.db import Database
from huiminbao.registry import wire
from huiminbao.registry.contract import ContractData, run_contract
from huiminbao.registry.demo import demo_person, load_demo_population
from huiminbao.registry.http_adapter import HttpRegistry, RegistryConfig, RegistryRefused
from huiminbao.registry.port import (
    BalanceKind,
    OperationResult,
    OperationStatus,
    PersonsAndBalances,
    RegistryUnavailable,
    RequestNumberReused,
    SettlementRecord,
)
from huiminbao.registry.protocol import (
    HmacSha256,
    OpenedRequest,
    ProtocolKeys,
    Transaction,
    canonical,
)
from huiminbao.registry.server import (
    HANDLERS,
    RegistryProtocolServer,
    RunningRegistryServer,
    simulator_server,
)
from huiminbao.registry.simulator import SimulatedRegistry
from tests.faultproxy import FaultProxy

pytestmark = pytest.mark.postgres

PRIOR, CURRENT = BalanceKind.PRIOR_YEARS, BalanceKind.CURRENT_YEAR
ZHANG_WEI = demo_person("张伟")
LI_NA = demo_person("李娜")
_serial = itertools.count(1)


def request_no(label: str = "R") -> str:
    return f"HTTP-{label}-{uuid.uuid4().hex[:12]}-{next(_serial)}"


@pytest.fixture(scope="module")
def server(pg_url: str) -> Iterator[RunningRegistryServer]:
    running = RunningRegistryServer.start(pg_url, demo=True)
    yield running
    running.stop()


@pytest.fixture(scope="module")
def simulator(pg_url: str) -> Iterator[SimulatedRegistry]:
    """The same database read directly, to compare with what comes over HTTP."""
    db = Database(pg_url)
    yield SimulatedRegistry(db, SystemClock())
    db.dispose()


def http_registry(env: dict[str, str], **kwargs: Any) -> HttpRegistry:
    config = RegistryConfig.from_env(env)
    assert config is not None
    return HttpRegistry(config, **kwargs)


@pytest.fixture(scope="module")
def remote(server: RunningRegistryServer) -> HttpRegistry:
    return http_registry(server.env())


def test_reads_over_http_equal_the_simulator(
        remote: HttpRegistry, simulator: SimulatedRegistry) -> None:
    remote.probe()
    person = remote.find_person(ZHANG_WEI.id_number)
    assert person is not None and person.phone
    local = simulator.find_person(ZHANG_WEI.id_number)
    assert local is not None and local.phone
    assert person == local
    assert remote.find_person("110101190001019999") is None
    numbers = [ZHANG_WEI.id_number, LI_NA.id_number, "110101190001019999"]
    assert set(remote.find_persons(numbers)) == set(simulator.find_persons(numbers))
    assert remote.relations(ZHANG_WEI.id_number) == simulator.relations(ZHANG_WEI.id_number)
    assert remote.balance(ZHANG_WEI.id_number) == simulator.balance(ZHANG_WEI.id_number)
    assert remote.balance(demo_person("赵敏").id_number) == simulator.balance(
        demo_person("赵敏").id_number)
    assert remote.scheme_counts(numbers + numbers) == simulator.scheme_counts(numbers)
    districts = remote.district_counts(numbers + numbers)
    assert districts == simulator.district_counts(numbers)
    assert districts.counts == {"330106": 2}  # 张伟 and 李娜
    assert districts.without_district == ("110101190001019999",)  # unknown: counted by prefix
    assert remote.contact_matches(ZHANG_WEI.id_number, local.phone)
    assert not remote.contact_matches(ZHANG_WEI.id_number, "13912345678")
    assert not remote.contact_matches("110101190001019999", local.phone)
    # 择一 and the paying district travel through the port (protocol Person, optional fields).
    flagged = remote.find_person(demo_person("钱桂兰").id_number)
    assert flagged is not None and flagged.other_relief_insurance
    assert flagged.district_code == "330106" and flagged == simulator.find_person(
        flagged.id_number)
    assert not person.other_relief_insurance
    # Settlement records (HMB1107): the same over HTTP, only those of the period asked for.
    today = date.today()  # noqa: DTZ011 - the simulator's system clock
    since = today - timedelta(days=90)
    records = remote.settlements(ZHANG_WEI.id_number, since, today)
    assert records == simulator.settlements(ZHANG_WEI.id_number, since, today)
    assert len(records) == 2 and records[0].diagnosis_codes == ("J06.9",)
    last = records[-1].visit_date
    assert remote.settlements(ZHANG_WEI.id_number, last, last) == records[-1:]
    assert remote.settlements("110101190001019999", since, today) == []


def test_persons_and_balances_come_in_one_exchange_equal_to_the_separate_reads(
        remote: HttpRegistry, simulator: SimulatedRegistry, server: RunningRegistryServer,
        monkeypatch: pytest.MonkeyPatch) -> None:
    resident = demo_person("刘䶮")  # insured as a resident: no personal account
    unknown = "110101190001019999"
    numbers = [ZHANG_WEI.id_number, resident.id_number, unknown]
    sent: list[str] = []
    monkeypatch.setattr(remote.client, "call", _recording(remote.client.call, sent))
    both = remote.persons_and_balances(numbers, [LI_NA.id_number, *numbers])
    assert sent == [Transaction.PERSONS.value]  # one exchange
    assert both == simulator.persons_and_balances(numbers, [LI_NA.id_number, *numbers])
    assert set(both.persons) == {ZHANG_WEI.id_number, resident.id_number}
    assert both.balances == {number: balance for number in (ZHANG_WEI.id_number, LI_NA.id_number)
                             if (balance := simulator.balance(number)) is not None}
    # A bridge that predates ``balances_of`` answers the persons only: one balance read each.
    monkeypatch.setitem(HANDLERS, Transaction.PERSONS.value, lambda registry, body: {"persons": [
        wire.person_out(p) for p in registry.find_persons(body["id_numbers"]).values()]})
    sent.clear()
    assert remote.persons_and_balances(numbers, [LI_NA.id_number, resident.id_number]) == (
        PersonsAndBalances(both.persons, {LI_NA.id_number: both.balances[LI_NA.id_number]}))
    assert sent == [Transaction.PERSONS.value, Transaction.BALANCE.value,
                    Transaction.BALANCE.value]
    # One that checks requests against the schema from before the field refuses it (2001):
    # the adapter reads the balances one by one, and from then on sends no balances_of.
    def strict(registry: Any, body: dict[str, Any]) -> dict[str, Any]:
        if "balances_of" in body:
            raise ValueError("unknown field balances_of")
        return {"persons": [wire.person_out(p)
                            for p in registry.find_persons(body["id_numbers"]).values()]}

    monkeypatch.setitem(HANDLERS, Transaction.PERSONS.value, strict)
    strict_bridge = http_registry(server.env())
    monkeypatch.setattr(strict_bridge.client, "call", _recording(strict_bridge.client.call, sent))
    for attempt in range(2):
        sent.clear()
        assert strict_bridge.persons_and_balances(numbers, [LI_NA.id_number]) == (
            PersonsAndBalances(both.persons, {LI_NA.id_number: both.balances[LI_NA.id_number]}))
        refused_first = [Transaction.PERSONS.value] if attempt == 0 else []
        assert sent == [*refused_first, Transaction.PERSONS.value, Transaction.BALANCE.value]


def test_an_answer_with_a_lower_case_x_still_names_the_person_asked_about(
        remote: HttpRegistry, simulator: SimulatedRegistry,
        monkeypatch: pytest.MonkeyPatch) -> None:
    """Some bridges keep ID numbers as typed (a lower-case x): the answer is read in the one
    form the platform keys persons by, so 王秀英 is found, not silently missing."""
    elder = demo_person("王秀英").id_number
    assert elder.endswith("X")
    for transaction, handler in [(Transaction.PERSON.value, HANDLERS[Transaction.PERSON.value]),
                                 (Transaction.PERSONS.value, HANDLERS[Transaction.PERSONS.value])]:
        monkeypatch.setitem(HANDLERS, transaction, _lower_case_x(handler))
    assert remote.find_person(elder) == simulator.find_person(elder)
    both = remote.persons_and_balances([elder, ZHANG_WEI.id_number], [ZHANG_WEI.id_number])
    assert set(both.persons) == {elder, ZHANG_WEI.id_number}
    assert both.persons[elder] == simulator.find_person(elder)
    assert set(both.balances) == {ZHANG_WEI.id_number}


def _lower_case_x(handler: Callable[[Any, dict[str, Any]], dict[str, Any]]
                  ) -> Callable[[Any, dict[str, Any]], dict[str, Any]]:
    def lower(value: Any) -> Any:
        if isinstance(value, dict):
            return {k: v.lower() if k == "id_number" and isinstance(v, str) else lower(v)
                    for k, v in value.items()}
        if isinstance(value, list):
            return [lower(item) for item in value]
        return value
    return lambda registry, body: lower(handler(registry, body))


def _recording(call: Callable[..., Any], sent: list[str]) -> Callable[..., Any]:
    def recorded(transaction: Transaction, *args: Any, **kwargs: Any) -> Any:
        sent.append(transaction.value)
        return call(transaction, *args, **kwargs)
    return recorded


def test_money_over_http_matches_the_simulator_and_is_idempotent(
        remote: HttpRegistry, simulator: SimulatedRegistry) -> None:
    number = request_no("D")
    before = simulator.balance(ZHANG_WEI.id_number)
    assert before is not None
    debit = remote.debit(number, ZHANG_WEI.id_number, 1_000, sources=[PRIOR, CURRENT],
                         purpose="惠民保保费")
    assert debit.succeeded and debit == simulator.query(number)
    assert remote.debit(number, ZHANG_WEI.id_number, 1_000, sources=[PRIOR, CURRENT],
                        purpose="惠民保保费") == debit
    with pytest.raises(RequestNumberReused):
        remote.debit(number, ZHANG_WEI.id_number, 1_001, sources=[PRIOR], purpose="x")
    with pytest.raises(ValueError, match="amount_fen"):
        remote.debit(request_no(), ZHANG_WEI.id_number, 0, sources=[PRIOR], purpose="x")
    refund = remote.refund(request_no("F"), number, 400, purpose="退保")
    assert refund.succeeded and refund.original_request_no == number
    too_much = remote.refund(request_no("F"), number, 601, purpose="退保")
    assert too_much.status is OperationStatus.FAILED
    assert remote.query(request_no("never")) is None
    assert remote.entries(ZHANG_WEI.id_number) == simulator.entries(ZHANG_WEI.id_number)
    after = simulator.balance(ZHANG_WEI.id_number)
    assert after is not None and after.available([PRIOR, CURRENT]) == before.available(
        [PRIOR, CURRENT]) - 600
    since = debit.occurred_at - timedelta(seconds=1) if debit.occurred_at else None
    assert remote.statement(since) == simulator.statement(since)


def test_twenty_concurrent_sends_of_one_request_number_debit_once(
        remote: HttpRegistry, simulator: SimulatedRegistry) -> None:
    number = request_no("TWIN")
    before = simulator.balance(LI_NA.id_number)
    assert before is not None
    barrier = threading.Barrier(20)

    def send() -> OperationResult:
        barrier.wait(timeout=10)
        return remote.debit(number, LI_NA.id_number, 300, sources=[PRIOR, CURRENT],
                            purpose="并发")

    with ThreadPoolExecutor(20) as pool:
        results = list(pool.map(lambda _i: send(), range(20)))
    assert len({repr(result) for result in results}) == 1 and results[0].succeeded
    after = simulator.balance(LI_NA.id_number)
    assert after is not None
    assert before.available([PRIOR, CURRENT]) - after.available([PRIOR, CURRENT]) == 300


# --- faults ------------------------------------------------------------------------------------


class DropAnswerAfterDebit(RegistryProtocolServer):
    """Applies the debit, then drops every connection before the answer leaves."""

    proxy: FaultProxy | None = None

    def _dispatch(self, opened: OpenedRequest) -> tuple[int, dict[str, Any]]:
        answer = super()._dispatch(opened)
        if opened.infno == Transaction.DEBIT.value and self.proxy is not None:
            self.proxy.refuse()
        return answer


@pytest.fixture
def dropping(pg_url: str) -> Iterator[tuple[RunningRegistryServer, FaultProxy]]:
    keys = ProtocolKeys.generate()
    protocol, db = simulator_server(pg_url, {"HMBTEST": keys}, migrate=False,
                                    server_class=DropAnswerAfterDebit)
    running = RunningRegistryServer.start(protocol=protocol, keys=keys)
    proxy = FaultProxy("127.0.0.1", running.port).start()
    assert isinstance(protocol, DropAnswerAfterDebit)
    protocol.proxy = proxy
    yield running, proxy
    proxy.close()
    running.stop()
    db.dispose()


def via(proxy: FaultProxy, server: RunningRegistryServer, **changes: str) -> dict[str, str]:
    return {**server.env(),
            "HUIMINBAO_REGISTRY_URL": server.url.replace(f":{server.port}/", f":{proxy.port}/"),
            **changes}


def test_an_applied_debit_whose_answer_is_lost_is_unknown_then_found_by_query(
        dropping: tuple[RunningRegistryServer, FaultProxy],
        simulator: SimulatedRegistry) -> None:
    running, proxy = dropping
    remote = http_registry(via(proxy, running))
    number = request_no("LOST")
    before = simulator.balance(ZHANG_WEI.id_number)
    assert before is not None
    with pytest.raises(RegistryUnavailable):
        remote.debit(number, ZHANG_WEI.id_number, 250, sources=[PRIOR], purpose="丢失应答")
    proxy.passthrough()
    found = remote.query(number)
    assert found is not None and found.succeeded and found.amount_fen == 250
    after = simulator.balance(ZHANG_WEI.id_number)
    assert after is not None and after.prior_years_fen == before.prior_years_fen - 250
    # The caller may re-send with the same number: the recorded answer, nothing moves again.
    running.protocol.proxy = None  # type: ignore[attr-defined]
    assert remote.debit(number, ZHANG_WEI.id_number, 250, sources=[PRIOR],
                        purpose="丢失应答") == found
    assert simulator.balance(ZHANG_WEI.id_number) == after


def test_a_black_holed_registry_is_unavailable_within_the_timeout(
        server: RunningRegistryServer) -> None:
    with FaultProxy("127.0.0.1", server.port) as proxy:
        remote = http_registry(via(proxy, server, HUIMINBAO_REGISTRY_TIMEOUT="0.3"))
        remote.probe()
        proxy.blackhole()
        started = time.monotonic()
        with pytest.raises(RegistryUnavailable, match="医保平台无应答（超时）"):
            remote.find_person(ZHANG_WEI.id_number)
        assert time.monotonic() - started < 5
        proxy.refuse()
        with pytest.raises(RegistryUnavailable, match="无法连接医保平台"):
            remote.probe()


def tamper_answers(app: Callable[..., Any]) -> Callable[..., Any]:
    """WSGI middleware that flips one character of every answer's signature."""

    def wrapped(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        captured: dict[str, Any] = {}

        def capture(status: str, headers: list[tuple[str, str]], *args: Any) -> Any:
            captured["status"], captured["headers"] = status, headers
            return lambda _data: None

        body = b"".join(app(environ, capture))
        envelope = json.loads(body)
        signature = envelope["signature"]
        envelope["signature"] = ("A" if signature[0] != "A" else "B") + signature[1:]
        out = json.dumps(envelope).encode()
        headers = [(k, v) for k, v in captured["headers"] if k.lower() != "content-length"]
        start_response(captured["status"], [*headers, ("Content-Length", str(len(out)))])
        return [out]

    return wrapped


def test_an_answer_with_a_bad_signature_is_not_believed(pg_url: str,
                                                       simulator: SimulatedRegistry) -> None:
    with RunningRegistryServer.start(pg_url, wrap=tamper_answers) as running:
        remote = http_registry(running.env())
        with pytest.raises(RegistryRefused) as raised:
            remote.probe()
        assert raised.value.code == "bad_signature"
        number = request_no("FORGEDANSWER")
        with pytest.raises(RegistryUnavailable):
            remote.debit(number, ZHANG_WEI.id_number, 10, sources=[PRIOR], purpose="x")
        # It was applied (once, though sent twice): reconcile finds it with a trusted query.
        assert simulator.query(number) is not None


def test_wrong_keys_are_refused_and_named_by_probe(server: RunningRegistryServer) -> None:
    other = ProtocolKeys.generate()
    remote = http_registry({**server.env(),
                            "HUIMINBAO_REGISTRY_SIGNING_KEY": other.signing_key_b64()})
    with pytest.raises(RegistryRefused):
        remote.probe()
    stranger = http_registry({**server.env(), "HUIMINBAO_REGISTRY_SENDER_ID": "NOBODY"})
    with pytest.raises(RegistryRefused) as raised:
        stranger.probe()
    assert raised.value.code == "unknown_sender"


def test_the_server_keeps_answering_while_slow_requests_run(server: RunningRegistryServer,
                                                             remote: HttpRegistry) -> None:
    with ThreadPoolExecutor(8) as pool:
        found = list(pool.map(lambda _i: remote.find_person(ZHANG_WEI.id_number), range(40)))
    assert all(person is not None for person in found)
    assert requests.get(server.url.replace("/hmb/registry/v1", "/healthz"), timeout=5).ok


# --- the contract kit --------------------------------------------------------------------------


def contract_data() -> ContractData:
    assert ZHANG_WEI.phone
    return ContractData(person=ZHANG_WEI.id_number, phone=ZHANG_WEI.phone,
                        account_person=demo_person("李娜").id_number, amount_fen=3)


def contract_args(env: dict[str, str]) -> list[str]:
    data = contract_data()
    return ["registry", "contract-test", env["HUIMINBAO_REGISTRY_URL"],
            "--sender-id", env["HUIMINBAO_REGISTRY_SENDER_ID"],
            "--signing-key", env["HUIMINBAO_REGISTRY_SIGNING_KEY"],
            "--encryption-key", env["HUIMINBAO_REGISTRY_ENCRYPTION_KEY"],
            "--person", data.person, "--phone", data.phone,
            "--account-person", data.account_person, "--amount-fen", str(data.amount_fen)]


def test_the_contract_passes_against_the_simulator_and_leaves_the_balance_as_it_was(
        server: RunningRegistryServer, simulator: SimulatedRegistry) -> None:
    before = simulator.balance(LI_NA.id_number)
    result = CliRunner().invoke(main, contract_args(server.env()))
    assert result.exit_code == 0, result.output
    assert result.output.count("PASS") == 17 and "FAIL" not in result.output
    assert simulator.balance(LI_NA.id_number) == before


class DoubleDebitOnRetry(SimulatedRegistry):
    """A broken bridge: a request number sent again is debited again."""

    def __init__(self, *args: Any) -> None:
        super().__init__(*args)
        self._seen: set[str] = set()
        self._lock = threading.Lock()

    def debit(self, request_no: str, id_number: str, amount_fen: int, *,
              sources: Sequence[BalanceKind], purpose: str) -> OperationResult:
        with self._lock:
            again = request_no in self._seen
            self._seen.add(request_no)
        if not again:
            return super().debit(request_no, id_number, amount_fen, sources=sources,
                                 purpose=purpose)
        super().debit(f"{request_no}-again-{uuid.uuid4().hex[:6]}", id_number, amount_fen,
                      sources=sources, purpose=purpose)
        recorded = self.query(request_no)
        assert recorded is not None
        return recorded


class IgnoresThePeriod(SimulatedRegistry):
    """A broken bridge: settlement records are answered from the person's whole history, not
    only from the period asked for (records the person did not authorize)."""

    def settlements(self, id_number: str, since: date, until: date) -> list[SettlementRecord]:
        return super().settlements(id_number, date(2000, 1, 1), until)


def ignores_signatures(keys: ProtocolKeys) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """A broken bridge: whatever signature a request carries, it is taken as good (the
    middleware re-signs every request before the real server sees it)."""

    def wrap(app: Callable[..., Any]) -> Callable[..., Any]:
        def wrapped(environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
            raw = environ["wsgi.input"].read(int(environ.get("CONTENT_LENGTH") or 0))
            envelope = json.loads(raw)
            envelope["signature"] = HmacSha256().sign(keys, canonical("request", envelope))
            body = json.dumps(envelope).encode()
            environ = {**environ, "wsgi.input": io.BytesIO(body),
                       "CONTENT_LENGTH": str(len(body))}
            return app(environ, start_response)

        return wrapped

    return wrap


@pytest.mark.parametrize(("build", "broken_rule"), [
    ("double_debit", "debit-retry-idempotent"),
    ("ignores_signatures", "bad-signature-refused"),
    ("ignores_the_period", "settlements-within-period"),
])
def test_the_contract_fails_a_faulty_bridge_naming_the_broken_rule(
        pg_url: str, build: str, broken_rule: str) -> None:
    keys = ProtocolKeys.generate()
    db = Database(pg_url)
    try:
        wrap = None
        if build == "double_debit":
            registry: SimulatedRegistry = DoubleDebitOnRetry(db, SystemClock())
        elif build == "ignores_the_period":
            registry = IgnoresThePeriod(db, SystemClock())
        else:
            registry, wrap = SimulatedRegistry(db, SystemClock()), ignores_signatures(keys)
        protocol = RegistryProtocolServer(registry, {"HMBTEST": keys})
        load_demo_population(db, SystemClock())
        with RunningRegistryServer.start(protocol=protocol, keys=keys, wrap=wrap) as running:
            result = CliRunner().invoke(main, contract_args(running.env()))
            config = RegistryConfig.from_env(running.env())
            assert config is not None
            report = run_contract(config, contract_data())
    finally:
        db.dispose()
    assert result.exit_code == 1, result.output
    assert f"FAIL  {broken_rule}" in result.output
    assert broken_rule in report.broken()


def test_serve_simulator_runs_as_a_process(tmp_path: Path) -> None:
    """``huiminbao registry serve-simulator --demo`` on SQLite, probed, then the contract."""
    keys = ProtocolKeys.generate()
    env = {**os.environ, "HUIMINBAO_REGISTRY_SIGNING_KEY": keys.signing_key_b64(),
           "HUIMINBAO_REGISTRY_ENCRYPTION_KEY": keys.encryption_key_b64(),
           "HUIMINBAO_REGISTRY_SENDER_ID": "HMBPROC"}
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "huiminbao.cli", "registry", "serve-simulator", "--port",
         str(port), "--database-url", f"sqlite:///{tmp_path / 'registry.db'}", "--demo"],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        url = f"http://127.0.0.1:{port}/hmb/registry/v1"
        remote = http_registry({**env, "HUIMINBAO_REGISTRY_URL": url})
        deadline = time.monotonic() + 60
        while True:
            try:
                remote.probe()
                break
            except RegistryUnavailable:
                if time.monotonic() > deadline or process.poll() is not None:
                    raise
                time.sleep(0.3)
        assert remote.find_person(ZHANG_WEI.id_number) is not None
    finally:
        process.terminate()
        output, _ = process.communicate(timeout=10)
    assert "HUIMINBAO_REGISTRY_URL" in output
    # Keys it was given are never echoed (only keys it generates itself are printed).
    assert keys.signing_key_b64() not in output and keys.encryption_key_b64() not in output


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])
