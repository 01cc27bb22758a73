"""The one clock every piece of code reads time from.

In demo mode ``HUIMINBAO_NOW`` sets the clock's starting point; it then advances with real time so
that expiries (one-time codes, unpaid orders) still behave. Tests can move it with ``travel_to``.
"""

from __future__ import annotations

import threading
import time
from datetime import UTC, date, datetime, timedelta
from typing import Protocol
from zoneinfo import ZoneInfo

CHINA_TZ = ZoneInfo("Asia/Shanghai")


class Clock(Protocol):
    def now(self) -> datetime:
        """The current time, timezone-aware."""
        ...

    def today(self) -> date:
        """Today's date in China (UTC+08:00)."""
        ...


class SystemClock:
    def now(self) -> datetime:
        return datetime.now(UTC)

    def today(self) -> date:
        return self.now().astimezone(CHINA_TZ).date()


class MovableClock:
    """A clock that starts at a chosen instant and runs forward at real speed."""

    def __init__(self, start: datetime) -> None:
        self._lock = threading.Lock()
        self._anchor = start
        self._anchor_monotonic = time.monotonic()

    def now(self) -> datetime:
        with self._lock:
            elapsed = time.monotonic() - self._anchor_monotonic
            return (self._anchor + timedelta(seconds=elapsed)).astimezone(UTC)

    def today(self) -> date:
        return self.now().astimezone(CHINA_TZ).date()

    def travel_to(self, instant: datetime) -> None:
        if instant.tzinfo is None:
            raise ValueError("the clock only takes timezone-aware times")
        with self._lock:
            self._anchor = instant
            self._anchor_monotonic = time.monotonic()

    def advance(self, delta: timedelta) -> None:
        self.travel_to(self.now() + delta)


def to_china_time(instant: datetime) -> datetime:
    return instant.astimezone(CHINA_TZ)
