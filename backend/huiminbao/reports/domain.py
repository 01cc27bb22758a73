"""The bureau's periodic report (pure): which period a request means, and the report's sections
built from the disclosure's own figures. No Flask, no database.

A period is whole China-time days ``[first_day, last_day]``: a calendar month or a custom range
of at most a year. Its instants are ``(start, end]``: ``start`` is midnight before the first
day, ``end`` midnight after the last (or now, while the period runs). Stock figures (enrolled
persons, cumulative premiums and payouts) are the disclosure's figures at ``end``; a period's
own figure for them is the difference of the disclosure's figures at ``end`` and at ``start``,
so the report and the disclosure page cannot disagree. Flows that the disclosure has no stock
for (claims by kind, turnaround, complaints) are counted over the period itself.
"""

from __future__ import annotations

import calendar
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from enum import StrEnum

from huiminbao.catalog.domain import BenefitCategory
from huiminbao.claims.domain import Channel as ClaimChannel
from huiminbao.core.clock import CHINA_TZ
from huiminbao.core.csvrows import text_cell
from huiminbao.core.money import format_yuan
from huiminbao.disclosure.claims_figures import PeriodClaims
from huiminbao.disclosure.complaints import ComplaintFigures
from huiminbao.disclosure.domain import (
    AGE_BANDS,
    SCHEME_LABELS,
    Channel,
    ComplaintCategory,
    district_label,
    median_tenth_days,
)
from huiminbao.disclosure.figures import UNKNOWN_SCHEME, Figures

MAX_PERIOD_DAYS = 366
# The registry's district for the person; its ID number's first six digits when it has none.
BY_DISTRICT_TITLE = "参保人数（按参保区县，未登记的按身份证号前6位）"
_MONTH = re.compile(r"^(\d{4})-(\d{2})$")


class PeriodProblem(ValueError):
    """A period the request cannot mean: ``field`` names the query parameter."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field, self.message = field, message


@dataclass(frozen=True)
class Period:
    first_day: date
    last_day: date  # inclusive
    label: str

    @property
    def start(self) -> datetime:
        return datetime.combine(self.first_day, time.min, CHINA_TZ)

    @property
    def end(self) -> datetime:
        return datetime.combine(self.last_day + timedelta(days=1), time.min, CHINA_TZ)


def period_of(month: str | None, first_day: date | None, last_day: date | None,
              today: date) -> Period:
    """The period a request names: ``month`` (YYYY-MM), or ``from`` and ``to`` (inclusive)."""
    month = (month or "").strip() or None
    if month is not None and (first_day is not None or last_day is not None):
        raise PeriodProblem("month", "请按月份或按起止日期选择统计期间，二者选其一")
    if month is not None:
        found = _MONTH.match(month)
        if found is None or not 1 <= int(found.group(2)) <= 12 \
                or not 2000 <= int(found.group(1)) <= 2100:
            raise PeriodProblem("month", "月份格式应为“年-月”，例如 2027-03")
        year, number = int(found.group(1)), int(found.group(2))
        first = date(year, number, 1)
        period = Period(first, date(year, number, calendar.monthrange(year, number)[1]),
                        f"{year}年{number}月")
    elif first_day is None and last_day is None:
        raise PeriodProblem("month", "请选择统计月份，或填写开始日期和结束日期")
    elif first_day is None:
        raise PeriodProblem("from", "请填写开始日期")
    elif last_day is None:
        raise PeriodProblem("to", "请填写结束日期")
    else:
        if last_day < first_day:
            raise PeriodProblem("to", "结束日期不能早于开始日期")
        if (last_day - first_day).days + 1 > MAX_PERIOD_DAYS:
            raise PeriodProblem("to", f"统计期间最长为{MAX_PERIOD_DAYS}天，请缩短起止日期")
        period = Period(first_day, last_day,
                        f"{first_day:%Y年%m月%d日}至{last_day:%Y年%m月%d日}")
    if period.first_day > today:
        raise PeriodProblem("from" if month is None else "month",
                            "统计期间尚未开始，请选择今天或以前的日期")
    return period


# ---------------------------------------------------------------- the report


class Unit(StrEnum):
    PERSONS = "persons"
    CLAIMS = "claims"
    COMPLAINTS = "complaints"
    FEN = "fen"
    TENTH_DAYS = "tenth_days"  # tenths of a day: 25 = 2.5 days

    def text(self, value: int | None) -> str:
        if value is None:
            return "—"
        if self is Unit.FEN:
            return format_yuan(value, grouping=True)
        if self is Unit.TENTH_DAYS:
            sign = "-" if value < 0 else ""
            return f"{sign}{abs(value) // 10}.{abs(value) % 10}"
        return str(value)

    def csv(self, value: int | None) -> str:
        """CSV cells: yuan without grouping (a spreadsheet reads them as numbers)."""
        if value is None:
            return ""
        return format_yuan(value) if self is Unit.FEN else self.text(value)

    @property
    def label(self) -> str:
        return {Unit.PERSONS: "人", Unit.CLAIMS: "件", Unit.COMPLAINTS: "件", Unit.FEN: "元",
                Unit.TENTH_DAYS: "天"}[self]


@dataclass(frozen=True)
class ReportRow:
    key: str
    label: str
    unit: Unit
    period: int | None  # within the period (for stocks: the change over the period)
    total: int | None  # at the period's end (stocks and cumulative sums)

    @property
    def period_text(self) -> str:
        return self.unit.text(self.period)

    @property
    def total_text(self) -> str:
        return self.unit.text(self.total)


class ChartOf(StrEnum):
    TOTAL = "total"
    PERIOD = "period"


@dataclass(frozen=True)
class ReportSection:
    key: str
    title: str
    rows: tuple[ReportRow, ...]
    chart: ChartOf | None = None  # which column the page draws as bars, if any


@dataclass(frozen=True)
class Report:
    product_id: int
    product_name: str
    year: int
    period: Period
    as_of: datetime  # the period's end, or now while it runs
    sections: tuple[ReportSection, ...]

    def row(self, section: str, key: str) -> ReportRow:
        found = next(s for s in self.sections if s.key == section)
        return next(r for r in found.rows if r.key == key)


def _stock_rows(keys: Sequence[tuple[str, str]], opening: Mapping[str, int],
                closing: Mapping[str, int], unit: Unit) -> tuple[ReportRow, ...]:
    return tuple(ReportRow(key, label, unit, closing.get(key, 0) - opening.get(key, 0),
                           closing.get(key, 0)) for key, label in keys)


def _flow_rows(keys: Sequence[tuple[str, str]], values: Mapping[str, int],
               unit: Unit) -> tuple[ReportRow, ...]:
    return tuple(ReportRow(key, label, unit, values.get(key, 0), None) for key, label in keys)


def _keys_of(known: Sequence[tuple[str, str]], *seen: Mapping[str, int],
             label: Callable[[str], str]) -> list[tuple[str, str]]:
    """The known keys in order, then any other key the figures hold (sorted)."""
    known_keys = {key for key, _ in known}
    extra = sorted({key for figures in seen for key in figures} - known_keys)
    return [*known, *((key, label(key)) for key in extra)]


def build_report(product_id: int, product_name: str, year: int, period: Period,
                 opening: Figures, closing: Figures, claims: PeriodClaims,
                 complaints: ComplaintFigures) -> Report:
    persons, fen = Unit.PERSONS, Unit.FEN
    schemes = [(key, label) for key, label in SCHEME_LABELS.items()
               if key != UNKNOWN_SCHEME or opening.by_scheme.get(key)
               or closing.by_scheme.get(key)]
    channels = [(c.value, c.label) for c in ClaimChannel]
    categories = [(c.value, c.label) for c in BenefitCategory]
    op, cl = opening.claims, closing.claims
    enrolled = ReportRow("total", "参保人数合计", persons,
                         closing.enrolled_total - opening.enrolled_total, closing.enrolled_total)
    sections = (
        ReportSection("enrolled", "参保人数", (enrolled,)),
        ReportSection("by_district", BY_DISTRICT_TITLE, _stock_rows(
            _keys_of([], opening.by_district, closing.by_district, label=district_label),
            opening.by_district, closing.by_district, persons), ChartOf.TOTAL),
        ReportSection("by_scheme", "参保人数（按医保类型）", _stock_rows(
            schemes, opening.by_scheme, closing.by_scheme, persons), ChartOf.TOTAL),
        ReportSection("by_channel", "参保人数（按缴费渠道）", _stock_rows(
            [(c.value, c.label) for c in Channel], opening.by_channel, closing.by_channel,
            persons), ChartOf.TOTAL),
        ReportSection("by_age_band", "参保人数（按年龄段，按统计时点计算年龄）", _stock_rows(
            [(b.key, b.label) for b in AGE_BANDS], opening.by_age_band, closing.by_age_band,
            persons), ChartOf.TOTAL),
        ReportSection("premiums", "保费收入（元）", (
            ReportRow("premium_income", "保费收入", fen,
                      closing.premium_income_fen - opening.premium_income_fen,
                      closing.premium_income_fen),)),
        ReportSection("claims_received", "理赔受理件数", (
            ReportRow("total", "合计", Unit.CLAIMS, cl.accepted - op.accepted, cl.accepted),
            *_flow_rows(channels, claims.received_by_channel, Unit.CLAIMS))),
        ReportSection("claims_paid", "理赔赔付件数", (
            ReportRow("total", "合计", Unit.CLAIMS, cl.paid - op.paid, cl.paid),
            *_flow_rows(channels, claims.paid_by_channel, Unit.CLAIMS))),
        ReportSection("payouts", "赔付金额（元，按理赔方式和费用类别）", (
            ReportRow("total", "合计", fen, cl.payout_fen - op.payout_fen, cl.payout_fen),
            *_flow_rows(channels, claims.payout_by_channel, fen),
            *_flow_rows(categories, claims.payout_by_category, fen)), ChartOf.PERIOD),
        ReportSection("turnaround", "线上理赔时效（中位数，天）", (
            ReportRow("to_decision", "受理至审结（通过或拒赔）", Unit.TENTH_DAYS,
                      median_tenth_days(claims.seconds_to_decision), None),
            ReportRow("decided", "本期审结件数", Unit.CLAIMS,
                      len(claims.seconds_to_decision), None),
            ReportRow("to_payment", "受理至赔付到账", Unit.TENTH_DAYS,
                      median_tenth_days(claims.seconds_to_payment), None),
            ReportRow("paid", "本期赔付件数（线上理赔）", Unit.CLAIMS,
                      len(claims.seconds_to_payment), None))),
        ReportSection("complaints", "投诉（按类别和办理时效）", (
            ReportRow("filed", "本期受理投诉", Unit.COMPLAINTS,
                      sum(complaints.filed_by_category.values()), None),
            *_flow_rows([(c.value, c.label) for c in ComplaintCategory],
                        complaints.filed_by_category, Unit.COMPLAINTS),
            ReportRow("resolved_on_time", "本期按时办结", Unit.COMPLAINTS,
                      complaints.resolved_on_time, None),
            ReportRow("resolved_late", "本期超时办结", Unit.COMPLAINTS,
                      complaints.resolved_late, None),
            ReportRow("open", "期末未办结", Unit.COMPLAINTS, None, complaints.open_at_end),
            ReportRow("overdue", "期末已超过处理时限", Unit.COMPLAINTS, None,
                      complaints.overdue_at_end))),
    )
    return Report(product_id, product_name, year, period, closing.as_of, sections)


CSV_HEADER = ("分组", "指标", "单位", "本期", "期末累计")


def report_rows(report: Report) -> list[tuple[str, ...]]:
    """The report as CSV rows: a few lines saying what it is, the header, then one row per
    figure."""
    as_of = report.as_of.astimezone(CHINA_TZ).isoformat(timespec="seconds")
    rows: list[tuple[str, ...]] = [
        ("产品", text_cell(report.product_name), "", str(report.year), ""),
        ("统计期间", report.period.label, "", f"{report.period.first_day.isoformat()}",
         f"{report.period.last_day.isoformat()}"),
        ("统计时点", as_of, "", "", ""),
        CSV_HEADER,
    ]
    for section in report.sections:
        rows += [(section.title, row.label, row.unit.label, row.unit.csv(row.period),
                  row.unit.csv(row.total)) for row in section.rows]
    return rows
