"""Racing requests in tests: start them together, collect every answer."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

JOIN_TIMEOUT_S = 120


def race(count: int, attempt: Callable[[int], Any]) -> list[Any]:
    """Run ``attempt(0)`` … ``attempt(count - 1)`` on as many threads, released together by a
    barrier; the answers in index order (None for an attempt that did not finish in time)."""
    barrier = threading.Barrier(count)
    results: list[Any] = [None] * count

    def run(index: int) -> None:
        barrier.wait()
        results[index] = attempt(index)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=JOIN_TIMEOUT_S)
    return results
