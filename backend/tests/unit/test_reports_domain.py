"""The bureau report's pure rules: periods, medians in tenths of a day, and sections built from
the disclosure's figures (stocks as differences, breakdowns beside their totals)."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from huiminbao.disclosure.claims_figures import ClaimFigures, PeriodClaims
from huiminbao.disclosure.complaints import ComplaintFigures
from huiminbao.disclosure.domain import district_label, district_of
from huiminbao.disclosure.figures import Figures
from huiminbao.reports.domain import (
    Period,
    PeriodProblem,
    Unit,
    build_report,
    period_of,
    report_rows,
)

TODAY = date(2027, 3, 20)
DAY = 86_400


def test_a_month_is_its_calendar_days_in_china_time() -> None:
    period = period_of("2027-02", None, None, TODAY)
    assert (period.first_day, period.last_day, period.label) == (
        date(2027, 2, 1), date(2027, 2, 28), "2027年2月")
    assert period.start == datetime(2027, 1, 31, 16, tzinfo=UTC)
    assert period.end == datetime(2027, 2, 28, 16, tzinfo=UTC)
    assert period_of("2028-02", None, None, date(2028, 3, 1)).last_day == date(2028, 2, 29)


def test_a_custom_period_includes_both_days_and_at_most_366() -> None:
    period = period_of(None, date(2026, 3, 20), date(2027, 3, 20), TODAY)
    assert period == Period(date(2026, 3, 20), date(2027, 3, 20),
                            "2026年03月20日至2027年03月20日")
    with pytest.raises(PeriodProblem) as refused:
        period_of(None, date(2026, 3, 19), date(2027, 3, 20), TODAY)
    assert refused.value.field == "to"


@pytest.mark.parametrize(("month", "first", "last", "field"), [
    (None, None, None, "month"),
    ("2027-00", None, None, "month"),
    ("27-03", None, None, "month"),
    ("2027-03", date(2027, 3, 1), None, "month"),
    (None, date(2027, 3, 1), None, "to"),
    (None, None, date(2027, 3, 1), "from"),
    (None, date(2027, 3, 2), date(2027, 3, 1), "to"),
    (None, date(2027, 3, 21), date(2027, 3, 22), "from"),
    ("2027-04", None, None, "month"),
])
def test_periods_that_mean_nothing_are_refused_in_chinese(month: str | None, first: date | None,
                                                          last: date | None, field: str) -> None:
    with pytest.raises(PeriodProblem) as refused:
        period_of(month, first, last, TODAY)
    assert refused.value.field == field
    assert all("\u4e00" <= ch <= "\u9fff" for ch in refused.value.message[:2])


def test_units_read_as_people_read_them() -> None:
    assert Unit.FEN.text(123_456) == "1,234.56" and Unit.FEN.csv(123_456) == "1234.56"
    assert Unit.TENTH_DAYS.text(25) == "2.5" and Unit.PERSONS.text(None) == "—"
    assert district_of("330106198803150130") == "330106" and district_label("330106") == "西湖区"
    assert district_of("") == "unknown" and district_label("110101") == "其他（区划代码110101）"


def _figures(at: datetime, enrolled: int, premium: int, payout: int) -> Figures:
    return Figures(as_of=at, enrolled_total=enrolled, by_scheme={"employee": enrolled},
                   by_age_band={"18_39": enrolled}, by_channel={"online": enrolled},
                   premium_income_fen=premium,
                   claims=ClaimFigures(True, accepted=enrolled, paid=1, payout_fen=payout),
                   by_district={"330106": enrolled})


def test_stocks_change_over_the_period_and_totals_are_the_closing_figures() -> None:
    period = period_of("2027-03", None, None, TODAY)
    opening = _figures(period.start, 3, 45_000, 1_000)
    closing = _figures(datetime(2027, 3, 20, tzinfo=UTC), 5, 75_000, 9_000)
    report = build_report(1, "西湖益联保", 2027, period, opening, closing,
                          PeriodClaims(payout_by_channel={"online": 8_000},
                                       seconds_to_decision=(DAY,)),
                          ComplaintFigures({"claims": 2}, 1, 0, 1, 0))
    assert report.as_of == closing.as_of
    assert (report.row("enrolled", "total").period, report.row("enrolled", "total").total) == (
        2, 5)
    assert report.row("by_district", "330106").label == "西湖区"
    assert report.row("premiums", "premium_income").period == 30_000
    assert report.row("payouts", "total").period == 8_000
    assert report.row("payouts", "online").period == 8_000
    assert report.row("turnaround", "to_decision").period_text == "1.0"
    assert report.row("complaints", "filed").period == 2
    assert report.row("complaints", "open").total == 1
    rows = report_rows(report)
    assert rows[3] == ("分组", "指标", "单位", "本期", "期末累计")
    assert ("保费收入（元）", "保费收入", "元", "300.00", "750.00") in rows
