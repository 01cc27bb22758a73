"""An open-loop (constant arrival rate) load generator with honest latency accounting.

A closed-loop generator (wrk, N connections each waiting for its answer) sends less when the
server slows down, so the requests that would have arrived during a stall are never sent and
never measured: coordinated omission. Here request ``i`` is due at ``start + i / rate`` whatever
happened before, and its latency is counted from that intended time to its answer. A request a
busy generator (every connection waiting) sends late therefore carries its lateness in its
latency, as a real user arriving then would have. The service time (sent to answered) is kept
too, so a report can show how much of the latency was queueing.

Each connection is a thread with one keep-alive HTTP/1.1 connection; the threads take the next
due request in order. With enough connections the generator keeps its schedule; when it does
not, the figures stay honest (``late`` counts the requests sent more than ``LATE_S`` after
their time).
"""

from __future__ import annotations

import http.client
import math
import threading
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

LATE_S = 0.010  # sent this long after its intended time: the generator was behind
ANSWER_TIMEOUT_S = 30.0
MAX_ERRORS = 5
# What a request on a keep-alive connection the server has already closed fails with.
STALE_CONNECTION = (http.client.RemoteDisconnected, BrokenPipeError, ConnectionResetError)


@dataclass(frozen=True)
class Request:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes | None = None


@dataclass(frozen=True)
class Sample:
    intended: float  # seconds since the run's start: when the schedule says it is sent
    sent: float
    done: float
    status: int  # 0: no answer (connection error or timeout)

    @property
    def latency(self) -> float:
        """From the intended send time: includes any wait for a free connection."""
        return self.done - self.intended

    @property
    def service(self) -> float:
        return self.done - self.sent


def intended_offset(index: int, rate: float) -> float:
    """When request ``index`` is due, in seconds after the start, at ``rate`` per second."""
    return index / rate


def percentile(values: Sequence[float], fraction: float) -> float:
    """Nearest-rank percentile (the smallest value with at least ``fraction`` of the values at
    or below it); NaN for no values."""
    if not values:
        return math.nan
    ordered = sorted(values)
    rank = max(1, math.ceil(fraction * len(ordered)))
    return ordered[rank - 1]


@dataclass
class OpenLoopResult:
    rate: float
    duration_s: float
    samples: list[Sample]
    expected_status: int
    statuses: Counter[int] = field(default_factory=Counter)

    def __post_init__(self) -> None:
        self.statuses = Counter(sample.status for sample in self.samples)

    @property
    def good(self) -> int:
        return self.statuses.get(self.expected_status, 0)

    @property
    def errors(self) -> int:
        return len(self.samples) - self.good

    @property
    def late(self) -> int:
        return sum(1 for sample in self.samples if sample.sent - sample.intended > LATE_S)

    @property
    def achieved_rate(self) -> float:
        if not self.samples:
            return 0.0
        span = max(sample.done for sample in self.samples)
        return self.good / span if span > 0 else 0.0

    def latency_ms(self, fraction: float) -> float:
        return percentile([s.latency for s in self.samples], fraction) * 1000

    def service_ms(self, fraction: float) -> float:
        return percentile([s.service for s in self.samples], fraction) * 1000

    def to_json(self) -> dict[str, Any]:
        return {"rate": self.rate, "duration_s": self.duration_s, "sent": len(self.samples),
                "good": self.good, "errors": self.errors, "late": self.late,
                "statuses": {str(k): v for k, v in self.statuses.items()},
                "achieved_rate": self.achieved_rate,
                "latency_ms": {"p50": self.latency_ms(0.5), "p99": self.latency_ms(0.99),
                               "max": self.latency_ms(1.0)},
                "service_ms": {"p50": self.service_ms(0.5), "p99": self.service_ms(0.99)}}


Send = Callable[[Request], int]  # one request on this thread's connection: its status (0: none)


def run(requests: Sequence[Request], *, rate: float, connections: int,
        make_sender: Callable[[], Send], expected_status: int,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep) -> OpenLoopResult:
    """Send ``requests`` in order, request ``i`` due at ``i / rate`` seconds after the start,
    over ``connections`` threads (each with a sender of its own), and time every answer from
    the request's intended send time."""
    if rate <= 0 or connections < 1:
        raise ValueError("rate must be positive and connections at least 1")
    lock = threading.Lock()
    next_index = 0
    samples: list[Sample] = []
    start = clock()

    def worker() -> None:
        nonlocal next_index
        send = make_sender()
        while True:
            with lock:
                index = next_index
                if index >= len(requests):
                    return
                next_index += 1
            intended = intended_offset(index, rate)
            wait = start + intended - clock()
            if wait > 0:
                sleep(wait)
            sent = clock() - start
            try:
                status = send(requests[index])
            except (OSError, http.client.HTTPException):
                status = 0
            done = clock() - start
            with lock:
                samples.append(Sample(intended, sent, done, status))

    threads = [threading.Thread(target=worker, name=f"open-loop-{n}", daemon=True)
               for n in range(connections)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    samples.sort(key=lambda sample: sample.intended)
    return OpenLoopResult(rate=rate, duration_s=len(requests) / rate, samples=samples,
                          expected_status=expected_status)


def http_sender(base_url: str, errors: list[str] | None = None) -> Callable[[], Send]:
    """Senders on keep-alive connections to ``base_url`` (one per thread); a connection that
    failed is replaced for the next request. The first few answers of 400 and above go to
    ``errors`` (status and the start of the body), for the report."""
    parts = urlsplit(base_url)
    host, port = parts.hostname or "127.0.0.1", parts.port or 80

    def make() -> Send:
        connection: list[http.client.HTTPConnection] = []

        def attempt(request: Request) -> int:
            if not connection:
                connection.append(http.client.HTTPConnection(host, port,
                                                             timeout=ANSWER_TIMEOUT_S))
            conn = connection[0]
            try:
                conn.request(request.method, request.path, body=request.body,
                             headers=request.headers)
                answer = conn.getresponse()
                content = answer.read()
            except (OSError, http.client.HTTPException):
                conn.close()
                connection.clear()
                raise
            if errors is not None and answer.status >= 400 and len(errors) < MAX_ERRORS:
                errors.append(f"{answer.status} {content[:200].decode(errors='replace')}")
            return answer.status

        def send(request: Request) -> int:
            reused = bool(connection)
            try:
                return attempt(request)
            except STALE_CONNECTION:
                if not reused:
                    raise
            # The server closed an idle keep-alive connection (gunicorn's keepalive is 2 s)
            # before this request reached it: send it again on a new connection, as any HTTP
            # client does. The time lost stays in the latency; a POST here carries an
            # Idempotency-Key, so even a request that had arrived is answered once.
            return attempt(request)

        return send

    return make
