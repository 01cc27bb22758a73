"""The 429 message names the wait in the unit a person would use."""

from __future__ import annotations

import pytest

from huiminbao.core.ratelimit import throttled_message


@pytest.mark.parametrize(("seconds", "message"), [
    (1, "操作过于频繁，请1秒后再试"),
    (120, "操作过于频繁，请120秒后再试"),
    (121, "操作过于频繁，请3分钟后再试"),
    (3599, "操作过于频繁，请60分钟后再试"),  # an hourly limit: within the hour, not tomorrow
    (7199, "操作过于频繁，请120分钟后再试"),
    (7200, "操作过于频繁，请2小时后再试"),
    (5 * 3600 + 1, "操作过于频繁，请6小时后再试"),
    (20 * 3600, "操作过于频繁，请明天再试"),
    (86_399, "操作过于频繁，请明天再试"),
])
def test_the_wait_is_said_in_a_sensible_unit(seconds: int, message: str) -> None:
    assert throttled_message(seconds) == message
