"""Pure disclosure and complaint rules: age bands, the payout ratio in integers, working-day
deadlines, complaint numbers and the complaint status machine."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from huiminbao.core.money import format_percent, format_yuan
from huiminbao.core.states import InvalidTransition
from huiminbao.disclosure.domain import (
    COMPLAINT_TRANSITIONS,
    SECONDS_PER_DAY,
    ComplaintStatus,
    add_working_days,
    age_band,
    channel_of,
    complaint_no,
    complaint_transition,
    is_overdue,
    median_tenth_days,
    normalize_text,
    payout_ratio_hundredths,
    reply_sms,
    response_due_at,
    surplus_fen,
    text_length_problem,
)


@pytest.mark.parametrize(("birth", "day", "band"), [
    (date(2009, 11, 23), date(2026, 11, 22), "under_18"),  # 17, one day short of 18
    (date(2008, 11, 22), date(2026, 11, 22), "18_39"),  # 18 today
    (date(1986, 11, 23), date(2026, 11, 22), "18_39"),  # 39
    (date(1986, 11, 22), date(2026, 11, 22), "40_59"),
    (date(1966, 11, 23), date(2026, 11, 22), "40_59"),
    (date(1966, 11, 22), date(2026, 11, 22), "60_69"),
    (date(1956, 11, 23), date(2026, 11, 22), "60_69"),
    (date(1956, 11, 22), date(2026, 11, 22), "70_plus"),
    (date(1943, 6, 18), date(2026, 11, 22), "70_plus"),
    (date(2026, 11, 22), date(2026, 11, 22), "under_18"),  # born today
    (date(2008, 2, 29), date(2026, 2, 28), "under_18"),  # a leap-day birthday ages on 1 March
    (date(2008, 2, 29), date(2026, 3, 1), "18_39"),
])
def test_age_bands_at_the_as_of_date(birth: date, day: date, band: str) -> None:
    assert age_band(birth, day).key == band


@pytest.mark.parametrize(("method", "channel"), [
    ("personal_account", "personal_account"), ("online", "online"), ("subsidy", "subsidy"),
    ("employer", "employer"), ("counter_cash", "counter"),
])
def test_payment_methods_map_to_disclosure_channels(method: str, channel: str) -> None:
    assert channel_of(method).value == channel


@pytest.mark.parametrize(("payout", "premium", "hundredths", "text"), [
    (0, 0, None, None),  # nothing to divide by: no ratio, not 0 %
    (0, 15000, 0, "0.00%"),
    (15000, 15000, 10000, "100.00%"),
    (1, 3, 3333, "33.33%"),
    (2, 3, 6667, "66.67%"),  # half up
    (1, 8, 1250, "12.50%"),
    (1, 80000, 0, "0.00%"),  # 0.00125 % rounds down
    (1, 20000, 1, "0.01%"),  # exactly 0.005 % rounds half up
    (30000, 15000, 20000, "200.00%"),
    (123_456_789_012, 987_654_321_098, 1250, "12.50%"),  # big sums stay exact
])
def test_the_payout_ratio_uses_integers_only(payout: int, premium: int, hundredths: int | None,
                                             text: str | None) -> None:
    assert payout_ratio_hundredths(payout, premium) == hundredths
    assert format_percent(hundredths, fixed=True) == text


@pytest.mark.parametrize(("fen", "text"), [(0, "0.00"), (5, "0.05"), (15000, "150.00"),
                                           (123456789, "1234567.89"), (-150, "-1.50")])
def test_yuan_for_csv_cells(fen: int, text: str) -> None:
    assert format_yuan(fen) == text


@pytest.mark.parametrize(("start", "days", "due"), [
    (date(2026, 11, 22), 5, date(2026, 11, 27)),  # filed on a Sunday: Mon–Fri of next week
    (date(2026, 11, 23), 5, date(2026, 11, 30)),  # Monday: the following Monday
    (date(2026, 11, 27), 1, date(2026, 11, 30)),  # Friday + 1 working day: Monday
    (date(2026, 11, 28), 1, date(2026, 11, 30)),  # Saturday + 1: Monday
    (date(2026, 12, 31), 1, date(2027, 1, 1)),  # holidays are not counted by default
])
def test_working_days_are_monday_to_friday(start: date, days: int, due: date) -> None:
    assert add_working_days(start, days) == due


def test_a_holiday_list_can_be_given() -> None:
    assert add_working_days(date(2026, 12, 31), 1, {date(2027, 1, 1)}) == date(2027, 1, 4)


def test_a_complaint_is_overdue_from_midnight_after_its_last_working_day() -> None:
    filed = datetime(2026, 11, 22, 2, 0, tzinfo=UTC)  # Sunday 10:00 in Hangzhou
    due = response_due_at(filed, 5)
    assert due == datetime(2026, 11, 27, 16, 0, tzinfo=UTC)  # 2026-11-28 00:00 China
    assert not is_overdue(ComplaintStatus.RECEIVED, due, datetime(2026, 11, 27, 15, 59,
                                                                   tzinfo=UTC))
    assert is_overdue(ComplaintStatus.IN_PROGRESS, due, due)
    assert not is_overdue(ComplaintStatus.RESOLVED, due, datetime(2027, 1, 1, tzinfo=UTC))


def test_complaint_numbers() -> None:
    assert complaint_no(date(2026, 11, 22), 1) == "TS2026112200001"
    assert complaint_no(date(2026, 1, 2), 12345) == "TS2026010212345"


ALLOWED = {
    (ComplaintStatus.RECEIVED, ComplaintStatus.IN_PROGRESS),
    (ComplaintStatus.IN_PROGRESS, ComplaintStatus.IN_PROGRESS),
    (ComplaintStatus.IN_PROGRESS, ComplaintStatus.RESOLVED),
}


@pytest.mark.parametrize("current", list(ComplaintStatus))
@pytest.mark.parametrize("target", list(ComplaintStatus))
def test_the_complaint_transition_table(current: ComplaintStatus,
                                        target: ComplaintStatus) -> None:
    assert (target in COMPLAINT_TRANSITIONS[current]) == ((current, target) in ALLOWED)
    if (current, target) in ALLOWED:
        assert complaint_transition(current, target) is target
    else:
        with pytest.raises(InvalidTransition) as refused:
            complaint_transition(current, target)
        assert refused.value.message  # a Chinese reason for the staff member


def test_resolved_is_final_and_says_so() -> None:
    with pytest.raises(InvalidTransition) as refused:
        complaint_transition(ComplaintStatus.RESOLVED, ComplaintStatus.IN_PROGRESS)
    assert refused.value.message == "该投诉已办结，不能再回复或变更状态"
    with pytest.raises(InvalidTransition) as skipped:
        complaint_transition(ComplaintStatus.RECEIVED, ComplaintStatus.RESOLVED)
    assert skipped.value.message == "请先将投诉转为“处理中”，再办结"


def test_text_lengths_count_characters_not_bytes() -> None:
    assert text_length_problem("林𫖮" * 5, minimum=10, maximum=1000, what="投诉内容") is None
    assert text_length_problem("太短了", minimum=10, maximum=1000, what="投诉内容") == \
        "投诉内容至少需要10个字，请说明具体情况"
    assert "不能超过1000个字" in str(
        text_length_problem("字" * 1001, minimum=10, maximum=1000, what="投诉内容"))
    assert normalize_text("  e\u0301\r\n ") == "\u00e9"


def test_reply_texts_carry_the_number_only() -> None:
    for status in ComplaintStatus:
        text = reply_sms("TS2026112200001", status)
        assert "TS2026112200001" in text
        assert not any(char.isdigit() for char in text.replace("TS2026112200001", ""))


@pytest.mark.parametrize(("premium", "payout", "target", "surplus"), [
    (30_000, 749, 8500, 24_751),
    (30_001, 0, 8500, 25_500),  # 25,500.85 rounded down
    (30_000, 30_000, 8500, -4_500),  # paid beyond the target: a shortfall
    (0, 0, 8500, 0),
])
def test_the_surplus_against_the_target_payout_ratio(premium: int, payout: int, target: int,
                                                      surplus: int) -> None:
    assert surplus_fen(premium, payout, target) == surplus


DAY = SECONDS_PER_DAY


@pytest.mark.parametrize(("seconds", "tenths"), [
    ((), None),
    ((DAY,), 10),
    ((DAY, 2 * DAY), 15),  # two middle values: their mean
    ((0, DAY, 10 * DAY), 10),
    ((DAY // 20,), 1),  # 0.05 day rounds half up to 0.1
    ((DAY // 20 - 1,), 0),
    ((10 * DAY, 0, DAY), 10),  # in any order
])
def test_median_turnaround_is_tenths_of_a_day_rounded_half_up(seconds: tuple[int, ...],
                                                               tenths: int | None) -> None:
    assert median_tenth_days(seconds) == tenths
