"""The benchmarks' registry stand-in as a process of its own (bench/huiminbao_bench/
registry_server.py): it speaks the registry protocol to the app's client, keeps connections
alive, and stops with its process."""

from __future__ import annotations

import http.client
from collections.abc import Iterator
from datetime import date
from pathlib import Path

import pytest

from huiminbao.core import idnumber
from huiminbao.registry.http_adapter import HttpRegistry, RegistryConfig
from huiminbao.registry.port import BalanceKind, OperationStatus
from huiminbao.registry.protocol import ProtocolKeys
from huiminbao_bench import registry_server

pytestmark = pytest.mark.postgres

SENDER = "HMBBENCH"
# A well-formed ID number the stand-in's registry does not hold.
NOBODY = idnumber.make("330106", date(1990, 1, 1), 123)


@pytest.fixture
def standin(pg_url: str, tmp_path: Path) -> Iterator[tuple[registry_server.RegistryProcess,
                                                             ProtocolKeys]]:
    keys = ProtocolKeys.generate()
    process = registry_server.start(pg_url, SENDER, keys, tmp_path)
    try:
        yield process, keys
    finally:
        registry_server.stop(process)


def test_it_answers_the_protocol_and_keeps_connections_alive(
        standin: tuple[registry_server.RegistryProcess, ProtocolKeys]) -> None:
    process, keys = standin
    registry = HttpRegistry(RegistryConfig(process.url, SENDER, keys))
    assert registry.find_persons([NOBODY]) == {}
    assert registry.balance(NOBODY) is None
    refused = registry.debit("BENCHR1", NOBODY, 100, sources=[BalanceKind.PRIOR_YEARS],
                             purpose="测试")
    assert refused.status is OperationStatus.FAILED

    connection = http.client.HTTPConnection("127.0.0.1", process.port, timeout=5)
    for _ in range(2):  # two answers on one connection
        connection.request("GET", "/healthz")
        response = connection.getresponse()
        assert response.status == 200
        response.read()
        assert (response.getheader("Connection") or "").lower() != "close"
    connection.close()


def test_it_stops_with_its_process(
        standin: tuple[registry_server.RegistryProcess, ProtocolKeys]) -> None:
    process, _keys = standin
    registry_server.stop(process)
    assert process.process.poll() is not None
    connection = http.client.HTTPConnection("127.0.0.1", process.port, timeout=2)
    try:
        with pytest.raises(ConnectionRefusedError):
            connection.request("GET", "/healthz")
    finally:
        connection.close()
