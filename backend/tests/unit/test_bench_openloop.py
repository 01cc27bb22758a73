"""The open-loop generator's pacing and latency accounting, on a simulated clock (not timed)."""

from __future__ import annotations

import math
import threading

import pytest

from huiminbao_bench import openloop
from huiminbao_bench.openloop import Request, Sample


class SimulatedTime:
    """A clock that moves only when the generator sleeps or a simulated request is served."""

    def __init__(self) -> None:
        self.now = 100.0
        self.lock = threading.Lock()

    def clock(self) -> float:
        with self.lock:
            return self.now

    def sleep(self, seconds: float) -> None:
        with self.lock:
            self.now += seconds


def _requests(count: int) -> list[Request]:
    return [Request("GET", f"/r/{i}", {}) for i in range(count)]


def _server(time: SimulatedTime, seconds: float, status: int) -> openloop.Send:
    """A simulated server answering every request with ``status`` after ``seconds``."""
    def send(_request: Request) -> int:
        time.sleep(seconds)
        return status
    return send


def test_a_slow_server_shows_in_the_latency_from_the_intended_send_time() -> None:
    """One connection, 10 requests/s due, each answer takes 0.3 s: the generator falls behind
    and request i is sent at 0.3 i instead of 0.1 i. A closed loop would report 300 ms for
    every request; counted from the schedule, request i waited 0.2 i s more."""
    time = SimulatedTime()
    result = openloop.run(_requests(5), rate=10, connections=1,
                          make_sender=lambda: _server(time, 0.3, 200),
                          expected_status=200, clock=time.clock, sleep=time.sleep)
    assert [s.intended for s in result.samples] == pytest.approx([0, 0.1, 0.2, 0.3, 0.4])
    assert [s.sent for s in result.samples] == pytest.approx([0, 0.3, 0.6, 0.9, 1.2])
    assert [s.latency for s in result.samples] == pytest.approx([0.3, 0.5, 0.7, 0.9, 1.1])
    assert [s.service for s in result.samples] == pytest.approx([0.3] * 5)
    assert result.latency_ms(0.99) == pytest.approx(1100)
    assert result.service_ms(0.99) == pytest.approx(300)
    assert result.late == 4
    assert (result.good, result.errors) == (5, 0)


def test_a_fast_server_is_paced_at_the_rate_and_nothing_is_late() -> None:
    time = SimulatedTime()
    result = openloop.run(_requests(4), rate=20, connections=1,
                          make_sender=lambda: _server(time, 0.01, 201),
                          expected_status=201, clock=time.clock, sleep=time.sleep)
    assert [s.sent for s in result.samples] == pytest.approx([0, 0.05, 0.10, 0.15])
    assert [s.latency for s in result.samples] == pytest.approx([0.01] * 4)
    assert result.late == 0
    assert result.duration_s == pytest.approx(0.2)


def test_failed_sends_and_other_statuses_are_errors() -> None:
    time = SimulatedTime()
    statuses = iter([201, 503, 201])

    def make_sender() -> openloop.Send:
        def send(request: Request) -> int:
            if request.path == "/r/3":
                raise ConnectionResetError("gone")
            return next(statuses)
        return send

    result = openloop.run(_requests(4), rate=100, connections=1, make_sender=make_sender,
                          expected_status=201, clock=time.clock, sleep=time.sleep)
    assert result.statuses == {201: 2, 503: 1, 0: 1}
    assert (result.good, result.errors) == (2, 2)


def test_every_request_is_sent_once_over_several_connections() -> None:
    time = SimulatedTime()
    seen: list[str] = []

    def make_sender() -> openloop.Send:
        def send(request: Request) -> int:
            seen.append(request.path)
            return 200
        return send

    result = openloop.run(_requests(50), rate=1000, connections=4, make_sender=make_sender,
                          expected_status=200, clock=time.clock, sleep=time.sleep)
    assert sorted(seen) == sorted(f"/r/{i}" for i in range(50))
    assert [s.intended for s in result.samples] == pytest.approx([i / 1000 for i in range(50)])


def test_nearest_rank_percentiles() -> None:
    values = [float(v) for v in range(1, 101)]
    assert openloop.percentile(values, 0.5) == 50
    assert openloop.percentile(values, 0.99) == 99
    assert openloop.percentile(values, 1.0) == 100
    assert openloop.percentile([7.0], 0.99) == 7
    assert math.isnan(openloop.percentile([], 0.5))
    assert Sample(1.0, 1.5, 2.0, 200).latency == 1.0
