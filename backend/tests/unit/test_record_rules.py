"""The rules of claims from authorized records: which periods may be authorized, which live
authorization covers a read, and what a settlement becomes as a claim."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from huiminbao.claims.kinds import ClaimKind
from huiminbao.claims.record_rules import (
    ConsentPeriod,
    claim_kind,
    covering,
    period_problems,
    refusal,
    still_needed,
)
from huiminbao.registry.port import SettlementRecord, VisitType

TODAY = date(2027, 3, 20)
JAN_TO_JUN = ConsentPeriod(1, date(2027, 1, 1), date(2027, 6, 30))
REVOKED = ConsentPeriod(2, date(2026, 1, 1), date(2026, 12, 31),
                        revoked_at=datetime(2027, 2, 1, tzinfo=UTC))


@pytest.mark.parametrize(("since", "until", "found"), [
    (date(2027, 1, 8), date(2027, 1, 8), 1),  # one visit day inside
    (date(2027, 1, 1), date(2027, 6, 30), 1),  # the whole period, both ends included
    (date(2026, 12, 31), date(2027, 1, 8), None),  # starts a day before
    (date(2027, 6, 1), date(2027, 7, 1), None),  # ends a day after
    (date(2026, 5, 1), date(2026, 5, 1), None),  # inside a revoked period only
])
def test_a_read_needs_one_live_consent_covering_every_day(
        since: date, until: date, found: int | None) -> None:
    consent = covering([REVOKED, JAN_TO_JUN], since, until)
    assert (consent.consent_id if consent else None) == found


def test_revoking_stops_the_consent_covering_anything() -> None:
    revoked = ConsentPeriod(1, date(2027, 1, 1), date(2027, 6, 30),
                            revoked_at=datetime(2027, 3, 1, tzinfo=UTC))
    assert not revoked.live
    assert covering([revoked], date(2027, 1, 8), date(2027, 1, 8)) is None


@pytest.mark.parametrize(("period_from", "period_to", "field", "words"), [
    (date(2027, 3, 1), date(2027, 2, 28), "period_to", "不能早于"),
    (date(2027, 1, 1), date(2028, 1, 2), "period_to", "最长366天"),
    (date(2023, 1, 1), date(2023, 12, 31), "period_from", "近三年"),
    (date(2028, 3, 1), date(2028, 3, 30), "period_to", "一年以后"),
])
def test_periods_that_cannot_be_authorized(period_from: date, period_to: date, field: str,
                                           words: str) -> None:
    problems = period_problems(period_from, period_to, TODAY)
    assert words in problems[field][0]


@pytest.mark.parametrize(("period_from", "period_to"), [
    (date(2027, 1, 1), date(2027, 12, 31)),  # a calendar year (365 days)
    (date(2028, 1, 1), date(2028, 12, 31)),  # a leap year (366 days)
    (TODAY, TODAY),  # a single day
])
def test_periods_of_up_to_a_year_may_be_authorized(period_from: date, period_to: date) -> None:
    assert period_problems(period_from, period_to, date(2028, 1, 1)) == {}


def test_the_refusal_names_the_days_and_whose_records() -> None:
    assert refusal(date(2027, 1, 8), date(2027, 1, 8)).startswith(
        "您尚未授权平台读取2027年01月08日的医保结算记录")
    assert refusal(date(2027, 1, 1), date(2027, 1, 31), "李*").startswith(
        "李*尚未授权平台读取2027年01月01日至2027年01月31日")


def _visit(kind: VisitType) -> SettlementRecord:
    return SettlementRecord("JS1", kind, TODAY, TODAY, "医院", 100)


@pytest.mark.parametrize(("visit", "out_of_city", "kind"), [
    (VisitType.INPATIENT, False, ClaimKind.INPATIENT),
    (VisitType.INPATIENT, True, ClaimKind.OUT_OF_CITY),
    (VisitType.OUTPATIENT_SPECIAL, False, ClaimKind.OUTPATIENT_SPECIAL),
    (VisitType.OUTPATIENT_SPECIAL, True, ClaimKind.OUT_OF_CITY),
    (VisitType.PHARMACY, False, ClaimKind.SPECIAL_DRUG),
    (VisitType.PHARMACY, True, ClaimKind.SPECIAL_DRUG),
    (VisitType.OUTPATIENT, False, None),
])
def test_a_settlement_becomes_the_claim_kind_of_its_visit(
        visit: VisitType, out_of_city: bool, kind: ClaimKind | None) -> None:
    assert claim_kind(_visit(visit), out_of_city) is kind


def test_the_resident_adds_only_what_the_records_lack() -> None:
    assert still_needed(ClaimKind.OUTPATIENT_SPECIAL) == ()
    assert still_needed(ClaimKind.INPATIENT) == ()
    assert still_needed(ClaimKind.SPECIAL_DRUG) == ("prescription_no", "pharmacy_code")
    assert still_needed(ClaimKind.OUT_OF_CITY) == ("treatment_city_code",)
