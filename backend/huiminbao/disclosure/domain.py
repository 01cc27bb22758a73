"""Pure disclosure and complaint rules: age bands, the payout ratio, complaint categories, the
complaint status machine, working-day deadlines and complaint numbers. No Flask, no database.

Complaints::

    received → in_progress → resolved        (in_progress → in_progress: a further reply)

``COMPLAINT_TRANSITIONS`` is the only way a complaint's status changes; any other pair raises
``InvalidTransition``.

Working days are Monday to Friday. Public holidays and the make-up working weekends (调休) are
*not* counted by default: the State Council publishes them a year at a time, so a fixed list
would silently go stale. ``add_working_days`` takes an optional holiday set for callers that
know them.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Collection, Iterable
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from enum import StrEnum

from huiminbao.core.clock import CHINA_TZ, to_china_time
from huiminbao.core.idnumber import age_on
from huiminbao.core.states import InvalidTransition, StateMachine
from huiminbao.identity.sms_domain import SmsTemplate, SmsText

# ---------------------------------------------------------------- enrolled persons


@dataclass(frozen=True)
class AgeBand:
    key: str
    label: str
    lowest: int  # inclusive
    highest: int | None  # inclusive; None: no upper end


AGE_BANDS: tuple[AgeBand, ...] = (
    AgeBand("under_18", "18岁以下", 0, 17),
    AgeBand("18_39", "18–39岁", 18, 39),
    AgeBand("40_59", "40–59岁", 40, 59),
    AgeBand("60_69", "60–69岁", 60, 69),
    AgeBand("70_plus", "70岁及以上", 70, None),
)


def age_band(birth_date: date, day: date) -> AgeBand:
    age = max(0, age_on(birth_date, day))
    for band in AGE_BANDS:
        if age >= band.lowest and (band.highest is None or age <= band.highest):
            return band
    return AGE_BANDS[-1]


class Channel(StrEnum):
    """How an enrolled person's premium was paid, as the disclosure groups it."""

    PERSONAL_ACCOUNT = "personal_account"
    ONLINE = "online"
    SUBSIDY = "subsidy"
    EMPLOYER = "employer"
    COUNTER = "counter"

    @property
    def label(self) -> str:
        return {
            Channel.PERSONAL_ACCOUNT: "医保个人账户",
            Channel.ONLINE: "在线支付",
            Channel.SUBSIDY: "政府资助",
            Channel.EMPLOYER: "单位缴费",
            Channel.COUNTER: "窗口办理",
        }[self]


_CHANNEL_OF_METHOD = {
    "personal_account": Channel.PERSONAL_ACCOUNT,
    "online": Channel.ONLINE,
    "subsidy": Channel.SUBSIDY,
    "employer": Channel.EMPLOYER,
    "counter_cash": Channel.COUNTER,
}


def channel_of(payment_method: str) -> Channel:
    return _CHANNEL_OF_METHOD.get(payment_method, Channel.ONLINE)


# 区县: the district the registry records for an insured person (the one whose basic insurance
# they belong to); for a person it records none for, the county-level division their ID number
# was issued in (its first six digits: 户籍 at issue, ``district_of``), as the report says
# (``figures.district_counts``). Names of the demo city's divisions; any other code is shown as
# the code itself.
DISTRICT_NAMES = {
    "330102": "上城区", "330103": "下城区", "330104": "江干区", "330105": "拱墅区",
    "330106": "西湖区", "330108": "滨江区", "330109": "萧山区", "330110": "余杭区",
    "330111": "富阳区", "330112": "临安区", "330113": "临平区", "330114": "钱塘区",
    "330122": "桐庐县", "330127": "淳安县", "330182": "建德市",
}
UNKNOWN_DISTRICT = "unknown"


def district_of(id_number: str) -> str:
    """The division code an ID number begins with, or "unknown" for anything else."""
    code = id_number[:6]
    return code if len(code) == 6 and code.isdigit() else UNKNOWN_DISTRICT


def district_label(code: str) -> str:
    if code == UNKNOWN_DISTRICT:
        return "未能确认"
    return DISTRICT_NAMES.get(code, f"其他（区划代码{code}）")


SCHEME_LABELS = {"employee": "职工医保", "resident": "城乡居民医保", "unknown": "未能确认"}


# ---------------------------------------------------------------- money figures


def payout_ratio_hundredths(payout_fen: int, premium_fen: int) -> int | None:
    """Payouts ÷ premiums in hundredths of a percent (1234 = 12.34 %), rounded half up, in
    integers only; None when there is no premium income to divide by."""
    if premium_fen <= 0:
        return None
    numerator = payout_fen * 10_000
    return (2 * numerator + premium_fen) // (2 * premium_fen)


def surplus_fen(premium_fen: int, payout_fen: int, target_ratio_bp: int) -> int:
    """002 三(五) 结余: what the target payout ratio would have paid out of the premiums, less
    what was paid (integer fen, the target's share rounded down); negative: paid beyond the
    target (a shortfall)."""
    return premium_fen * target_ratio_bp // 10_000 - payout_fen


# ---------------------------------------------------------------- complaints


class ComplaintCategory(StrEnum):
    ENROLLMENT = "enrollment"
    PAYMENT = "payment"
    CLAIMS = "claims"
    REFUND = "refund"
    SERVICE = "service"
    PRIVACY = "privacy"
    OTHER = "other"

    @property
    def label(self) -> str:
        return {
            ComplaintCategory.ENROLLMENT: "参保投保",
            ComplaintCategory.PAYMENT: "缴费支付",
            ComplaintCategory.CLAIMS: "理赔",
            ComplaintCategory.REFUND: "退保退费",
            ComplaintCategory.SERVICE: "服务质量",
            ComplaintCategory.PRIVACY: "个人信息保护",
            ComplaintCategory.OTHER: "其他",
        }[self]


class ComplaintStatus(StrEnum):
    RECEIVED = "received"
    IN_PROGRESS = "in_progress"
    RESOLVED = "resolved"

    @property
    def label(self) -> str:
        return {
            ComplaintStatus.RECEIVED: "已受理",
            ComplaintStatus.IN_PROGRESS: "处理中",
            ComplaintStatus.RESOLVED: "已办结",
        }[self]




class InvalidComplaintTransition(InvalidTransition):
    current: ComplaintStatus
    target: ComplaintStatus

    @property
    def message(self) -> str:
        if self.current is ComplaintStatus.RESOLVED:
            return "该投诉已办结，不能再回复或变更状态"
        if self.target is ComplaintStatus.RESOLVED:
            return "请先将投诉转为“处理中”，再办结"
        return f"投诉状态不能从“{self.current.label}”变为“{self.target.label}”"


COMPLAINT_TRANSITIONS = StateMachine({
    ComplaintStatus.RECEIVED: frozenset({ComplaintStatus.IN_PROGRESS}),
    ComplaintStatus.IN_PROGRESS: frozenset({ComplaintStatus.IN_PROGRESS,
                                            ComplaintStatus.RESOLVED}),
    ComplaintStatus.RESOLVED: frozenset(),
}, InvalidComplaintTransition)
complaint_transition = COMPLAINT_TRANSITIONS.transition


COMPLAINT_MIN_CHARS = 10
COMPLAINT_MAX_CHARS = 1000
REPLY_MAX_CHARS = 1000
DEFAULT_RESPONSE_WORKING_DAYS = 5
MAX_RESPONSE_WORKING_DAYS = 30


def normalize_text(text: str) -> str:
    """NFC, trimmed, with Windows line ends made plain."""
    return unicodedata.normalize("NFC", text).replace("\r\n", "\n").strip()


def text_length_problem(text: str, *, minimum: int, maximum: int, what: str) -> str | None:
    """Lengths count characters (code points), so 𫖮 counts once."""
    if len(text) < minimum:
        return f"{what}至少需要{minimum}个字，请说明具体情况"
    if len(text) > maximum:
        return f"{what}不能超过{maximum}个字（当前{len(text)}个字）"
    return None


def add_working_days(start: date, count: int, holidays: Collection[date] = ()) -> date:
    """The ``count``-th working day (Monday to Friday, not in ``holidays``) after ``start``;
    ``start`` itself does not count."""
    day = start
    remaining = count
    while remaining > 0:
        day += timedelta(days=1)
        if day.weekday() < 5 and day not in holidays:
            remaining -= 1
    return day


def response_due_at(filed_at: datetime, working_days: int,
                    holidays: Collection[date] = ()) -> datetime:
    """The instant a complaint becomes overdue: the end of the last working day it may take
    (China time), i.e. midnight starting the day after."""
    last_day = add_working_days(to_china_time(filed_at).date(), working_days, holidays)
    return datetime.combine(last_day + timedelta(days=1), time.min, CHINA_TZ)


def is_overdue(status: ComplaintStatus, due_at: datetime, now: datetime) -> bool:
    return status is not ComplaintStatus.RESOLVED and now >= due_at


COMPLAINT_PREFIX = "TS"


def complaint_no(day: date, sequence: int) -> str:
    """TS + the China date + a 5-digit sequence of that day: TS2026112200001."""
    return f"{COMPLAINT_PREFIX}{day:%Y%m%d}{sequence:05d}"


def reply_sms_text(complaint_number: str, status: ComplaintStatus) -> SmsText:
    """The text to the complainant: the number only, never any personal data."""
    template = (SmsTemplate.COMPLAINT_RESOLVED if status is ComplaintStatus.RESOLVED
                else SmsTemplate.COMPLAINT_REPLIED)
    return SmsText(template, {"complaint_no": complaint_number})


def reply_sms(complaint_number: str, status: ComplaintStatus) -> str:
    """The text ``reply_sms_text`` renders, as the complainant reads it."""
    return reply_sms_text(complaint_number, status).render()


# ---------------------------------------------------------------- satisfaction ratings

RATING_COMMENT_MAX_CHARS = 200
SCORE_LABELS = {1: "很不满意", 2: "不满意", 3: "一般", 4: "满意", 5: "非常满意"}


class RatedSubject(StrEnum):
    COMPLAINT = "complaint"
    CLAIM = "claim"


def rating_problem(score: int, comment: str) -> dict[str, list[str]]:
    """Problems with a rating, by field (none: it may be stored)."""
    errors: dict[str, list[str]] = {}
    if score not in SCORE_LABELS:
        errors["score"] = ["请选择1至5分的满意度"]
    if len(comment) > RATING_COMMENT_MAX_CHARS:
        errors["comment"] = [f"意见不能超过{RATING_COMMENT_MAX_CHARS}个字"]
    return errors


def average_tenths(total: int, count: int) -> int | None:
    """The average score in tenths, rounded half up (4.45 → 45): integers only; none rated: None."""
    if count == 0:
        return None
    return (total * 20 + count) // (count * 2)


# ---------------------------------------------------------------- turnaround

SECONDS_PER_DAY = 86_400


def median_tenth_days(seconds: Iterable[int]) -> int | None:
    """The median of durations in seconds, in tenths of a day rounded half up; None for no
    durations. Two middle values: their mean. The one median of days to decision and to
    payment: the disclosure page (as of an instant) and the bureau report (over a period)."""
    ordered = sorted(seconds)
    if not ordered:
        return None
    middle = len(ordered) // 2
    twice = 2 * ordered[middle] if len(ordered) % 2 else ordered[middle - 1] + ordered[middle]
    # tenths = twice / 2 * 10 / 86400, rounded half up, in integers
    return (20 * twice + 2 * SECONDS_PER_DAY) // (4 * SECONDS_PER_DAY)
