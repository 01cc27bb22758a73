"""Claims from authorized records: pure rules, no Flask, no database.

A resident authorizes the platform to read their 医保 settlement records for a period (PIPL
Art. 14, 29: a separate consent for sensitive data, given for a purpose and revocable). A read
is allowed only under a live consent (not revoked) whose period covers every visit date it
asks for; revoking stops further reads, never undoes what was filed before. A settlement
becomes a claim of the kind its visit calls for; the resident adds only what the record lacks.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from huiminbao.claims.kinds import ClaimKind
from huiminbao.registry.port import SettlementRecord, VisitType

MAX_PERIOD_DAYS = 366  # one authorization covers at most a year of visits
MAX_LOOKBACK_DAYS = 3 * 366  # no further back than three years (保险法 §26: 2-year claim limit)


@dataclass(frozen=True)
class ConsentPeriod:
    consent_id: int
    period_from: date
    period_to: date
    revoked_at: datetime | None = None

    @property
    def live(self) -> bool:
        return self.revoked_at is None

    def covers(self, since: date, until: date) -> bool:
        return self.live and self.period_from <= since and until <= self.period_to


def consent_status_label(revoked_at: datetime | None) -> str:
    return "已授权" if revoked_at is None else "已撤回"


def period_problems(period_from: date, period_to: date, today: date) -> dict[str, list[str]]:
    """Why a period cannot be authorized, by field (empty: fine)."""
    if period_to < period_from:
        return {"period_to": ["截止日期不能早于起始日期"]}
    problems: dict[str, list[str]] = {}
    if (period_to - period_from).days + 1 > MAX_PERIOD_DAYS:
        problems["period_to"] = [f"一次授权的期间最长{MAX_PERIOD_DAYS}天，请分段授权"]
    if period_from < today - timedelta(days=MAX_LOOKBACK_DAYS):
        problems["period_from"] = ["只能授权读取近三年内的就诊结算记录"]
    if period_to > today + timedelta(days=MAX_PERIOD_DAYS):
        problems["period_to"] = ["截止日期不能晚于一年以后"]
    return problems


def covering(consents: Sequence[ConsentPeriod], since: date,
             until: date) -> ConsentPeriod | None:
    """The live consent whose period covers every visit date in ``[since, until]``, if any."""
    return next((c for c in consents if c.covers(since, until)), None)


def refusal(since: date, until: date, whose: str | None = None) -> str:
    """The clear message when no live consent covers the visit dates asked for."""
    days = f"{since:%Y年%m月%d日}" if since == until else \
        f"{since:%Y年%m月%d日}至{until:%Y年%m月%d日}"
    who = whose or "您"
    return (f"{who}尚未授权平台读取{days}的医保结算记录（或授权已撤回），无法读取。"
            "请先在“从医保记录申请理赔”中授权读取该期间的记录，也可以照着结算单自行填写理赔申请。")


# ---------------------------------------------------------------- record -> claim

KIND_OF_VISIT: dict[VisitType, ClaimKind] = {
    VisitType.INPATIENT: ClaimKind.INPATIENT,
    VisitType.OUTPATIENT_SPECIAL: ClaimKind.OUTPATIENT_SPECIAL,
    VisitType.PHARMACY: ClaimKind.SPECIAL_DRUG,
}
NOT_CLAIMABLE = ("普通门诊费用不在惠民保保障范围内；门诊特殊病、慢性病（门特/门慢）、住院和特药费用"
                 "可以申请理赔")


def claim_kind(record: SettlementRecord, out_of_city: bool = False) -> ClaimKind | None:
    """The claim kind a settlement makes (None: not claimable); a stay or special-disease visit
    the resident says was outside the insured city is an out-of-city (异地) claim."""
    kind = KIND_OF_VISIT.get(record.visit_type)
    if kind in (ClaimKind.INPATIENT, ClaimKind.OUTPATIENT_SPECIAL) and out_of_city:
        return ClaimKind.OUT_OF_CITY
    return kind


def still_needed(kind: ClaimKind) -> tuple[str, ...]:
    """What the resident adds to a claim pre-filled from a settlement (besides the documents
    and the payee's bank card): the fields the records do not hold."""
    if kind is ClaimKind.SPECIAL_DRUG:
        return ("prescription_no", "pharmacy_code")
    if kind is ClaimKind.OUT_OF_CITY:
        return ("treatment_city_code",)
    return ()
