"""Every message the reference server and client exchange validates against the JSON Schemas of
``docs/registry-protocol.openapi.yaml`` (the simulator behind the protocol server, on SQLite)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import yaml
from jsonschema import Draft202012Validator

from huiminbao.core.clock import MovableClock
from huiminbao.core.db import Base, Database
from huiminbao.registry.demo import demo_person, load_demo_population
from huiminbao.registry.protocol import (
    ProtocolKeys,
    Transaction,
    build_request,
    open_answer,
    wall_clock,
)
from huiminbao.registry.server import RegistryProtocolServer
from huiminbao.registry.simulator import SimulatedRegistry

SPEC = yaml.safe_load((Path(__file__).resolve().parents[3] / "docs"
                       / "registry-protocol.openapi.yaml").read_text(encoding="utf-8"))
KEYS = ProtocolKeys.generate()
SENDER = "HMBSPEC"
ZHANG_WEI = demo_person("张伟")
LI_NA = demo_person("李娜")
LIU_YAN = demo_person("刘䶮")


def validate(name: str, value: Any) -> None:
    schema = {"$ref": f"#/components/schemas/{name}", "components": SPEC["components"]}
    Draft202012Validator(schema).validate(value)


@pytest.fixture
def server(tmp_path: Path) -> Iterator[RegistryProtocolServer]:
    db = Database(f"sqlite:///{tmp_path}/registry.db")
    Base.metadata.create_all(db.engine)
    clock = MovableClock(datetime(2026, 11, 22, 2, 0, tzinfo=UTC))
    load_demo_population(db, clock)
    yield RegistryProtocolServer(SimulatedRegistry(db, clock), {SENDER: KEYS})
    db.dispose()


def exchange(server: RegistryProtocolServer, transaction: Transaction,
             body: dict[str, Any]) -> dict[str, Any]:
    names = SPEC["x-transactions"][transaction.value]
    validate(names["request"], body)
    envelope = build_request(KEYS, SENDER, transaction.value, body, now=wall_clock())
    validate("RequestEnvelope", envelope)
    status, answer = server.handle(json.dumps(envelope).encode())
    validate("AnswerEnvelope", answer)
    assert status == 200, answer
    opened = open_answer(answer, KEYS, sender_id=SENDER, infno=transaction.value,
                         request_msgid=envelope["msgid"], now=wall_clock())
    assert opened.ok and opened.body is not None
    validate(names["answer"], opened.body)
    return opened.body


def test_every_transaction_is_specified() -> None:
    assert set(SPEC["x-transactions"]) == {transaction.value for transaction in Transaction}


def test_every_message_of_every_transaction_matches_its_schema(
        server: RegistryProtocolServer) -> None:
    me = ZHANG_WEI.id_number
    exchange(server, Transaction.PING, {})
    assert exchange(server, Transaction.PERSON, {"id_number": me})["person"]["name"] == "张伟"
    assert exchange(server, Transaction.PERSON, {"id_number": "110101190001019991"}) == {
        "person": None}
    exchange(server, Transaction.PERSONS, {"id_numbers": [me, "110101190001019991"]})
    assert exchange(server, Transaction.CONTACT_CHECK,
                    {"id_number": me, "phone": ZHANG_WEI.phone or ""}) == {"matches": True}
    assert exchange(server, Transaction.RELATIONS, {"id_number": me})["relations"]
    exchange(server, Transaction.SCHEME_COUNTS, {"id_numbers": [me, me]})
    settled = exchange(server, Transaction.SETTLEMENTS,
                       {"id_number": me, "since": "2026-01-01", "until": "2026-11-22"})
    assert [r["visit_date"] for r in settled["settlements"]] == ["2026-09-23", "2026-11-02"]
    # 李娜's 门特 visit (2027-01-08) is not settled yet on the registry's today.
    assert exchange(server, Transaction.SETTLEMENTS, {
        "id_number": LI_NA.id_number, "since": "2027-01-01", "until": "2027-12-31"}) == {
        "settlements": []}
    assert exchange(server, Transaction.DISTRICT_COUNTS,
                    {"id_numbers": [me, me, "110101190001019991"]}) == {
        "counts": {"330106": 1}, "without_district": ["110101190001019991"]}
    balance = exchange(server, Transaction.BALANCE, {"id_number": me})["balance"]
    with_balances = exchange(server, Transaction.PERSONS, {
        "id_numbers": [me], "balances_of": [me, LIU_YAN.id_number, "110101190001019991"]})
    # 刘䶮 is insured as a resident, without a personal account; the last is unknown.
    assert [p["id_number"] for p in with_balances["persons"]] == [me]
    assert with_balances["balances"] == [balance]
    debit = exchange(server, Transaction.DEBIT, {
        "request_no": "SPEC-1", "id_number": me, "amount_fen": 500,
        "sources": ["prior_years", "current_year"], "purpose": "惠民保保费"})["result"]
    assert debit["status"] == "succeeded"
    # Business times come from the registry's clock (moved here); envelopes use the wall clock.
    assert debit["occurred_at"].startswith("2026-11-22T02:")
    failed = exchange(server, Transaction.DEBIT, {
        "request_no": "SPEC-2", "id_number": me, "amount_fen": 10**9,
        "sources": ["current_year"], "purpose": "x"})["result"]
    assert failed["failure_reason"] == "insufficient_balance"
    exchange(server, Transaction.REFUND, {"request_no": "SPEC-3", "original_request_no": "SPEC-1",
                                          "amount_fen": 200, "purpose": "退保"})
    exchange(server, Transaction.REFUND, {"request_no": "SPEC-4", "original_request_no": "NONE",
                                          "amount_fen": 200, "purpose": "退保"})
    exchange(server, Transaction.ENTRIES, {"id_number": me})
    assert exchange(server, Transaction.QUERY, {"request_no": "SPEC-1"})["found"] is True
    assert exchange(server, Transaction.QUERY, {"request_no": "NEVER"}) == {
        "found": False, "result": None}
    statement = exchange(server, Transaction.STATEMENT,
                         {"since": None, "until": None, "cursor": None})
    assert [r["request_no"] for r in statement["results"]] == ["SPEC-1", "SPEC-3"]


def test_refusals_and_business_errors_match_the_answer_schema(
        server: RegistryProtocolServer) -> None:
    envelope = build_request(KEYS, SENDER, "HMB2201", {"request_no": "X"}, now=wall_clock())
    for raw in (b"not json", json.dumps(dict(envelope, sender_id="NOBODY")).encode(),
                json.dumps(dict(envelope, signature="AAAA")).encode(),
                json.dumps(envelope).encode(), json.dumps(envelope).encode()):
        status, answer = server.handle(raw)
        validate("AnswerEnvelope", answer)
        assert status != 500
    status, answer = server.handle(json.dumps(envelope).encode())
    assert (status, answer["err_code"]) == (409, "replayed_msgid")
