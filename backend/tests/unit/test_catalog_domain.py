"""Pure product date rules."""

from __future__ import annotations

from datetime import date

import pytest

from huiminbao.catalog.demo import demo_dates
from huiminbao.catalog.domain import CoveragePeriod, EnrollmentWindow, one_year_from


@pytest.mark.parametrize(
    ("start", "last_day"),
    [
        (date(2027, 1, 7), date(2028, 1, 6)),
        (date(2027, 1, 1), date(2027, 12, 31)),
        (date(2028, 2, 29), date(2029, 2, 28)),
        (date(2027, 3, 1), date(2028, 2, 29)),
    ],
)
def test_one_year_period_ends_the_day_before_the_anniversary(start: date, last_day: date) -> None:
    assert one_year_from(start) == last_day


@pytest.mark.parametrize(
    ("day", "is_open"),
    [(date(2026, 11, 14), False), (date(2026, 11, 15), True), (date(2027, 1, 6), True),
     (date(2027, 1, 7), False)],
)
def test_window_includes_both_ends(day: date, is_open: bool) -> None:
    assert EnrollmentWindow(date(2026, 11, 15), date(2027, 1, 6)).is_open_on(day) is is_open


def test_coverage_start_is_the_boundary_for_cancellation() -> None:
    period = CoveragePeriod(date(2027, 1, 7), date(2028, 1, 6))
    assert not period.has_started_on(date(2027, 1, 6))
    assert period.has_started_on(date(2027, 1, 7))
    assert period.covers(date(2028, 1, 6))
    assert not period.covers(date(2028, 1, 7))


def test_demo_window_is_relative_to_today_and_first_year_fits_two_months() -> None:
    opens_on, closes_on, starts_on, ends_on = demo_dates(date(2026, 11, 22))
    assert (opens_on, closes_on) == (date(2026, 11, 15), date(2027, 1, 6))
    assert (closes_on - opens_on).days <= 61  # 003 三(八): first-year window at most two months
    assert (starts_on, ends_on) == (date(2027, 1, 7), date(2028, 1, 6))
