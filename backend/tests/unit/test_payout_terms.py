"""The calculator under the terms beyond one ratio: a shared deductible, ratio bands,
waiting periods and pre-existing conditions (issue 17 item 5). Amounts are yuan in the table and
fen in the engine."""

from __future__ import annotations

from datetime import date

import pytest

from huiminbao.catalog.domain import BenefitCategory
from huiminbao.claims.payout import (
    Band,
    Bill,
    BillItem,
    CategoryRule,
    CategoryUsage,
    Circumstances,
    Diagnosis,
    LineBasis,
    PayoutRules,
    PreExistingCondition,
    YearToDate,
    calculate,
)

Y = 100  # fen per yuan
COMPLIANT, REASONABLE, DRUG = (BenefitCategory.COMPLIANT, BenefitCategory.REASONABLE,
                               BenefitCategory.SPECIAL_DRUG)
STARTS = date(2027, 1, 1)
LIVER_CANCER = PreExistingCondition("C22", "肝癌", {COMPLIANT: 3_000, REASONABLE: None})


def standard(*, shared: bool = True, waiting_days: int = 0) -> PayoutRules:
    """标准版 of the worked example: a shared ¥20,000 deductible, in-policy 70 % up to ¥100,000
    after the deductible and 80 % above, pre-existing liver cancer at 30 % (out-of-policy items
    not covered for it)."""
    banded = CategoryRule(20_000 * Y, 7_000, 3_000_000 * Y, bands=(Band(100_000 * Y, 8_000),),
                          waiting_days=waiting_days)
    flat = CategoryRule(20_000 * Y, 7_000, 1_000_000 * Y, waiting_days=waiting_days)
    return PayoutRules({COMPLIANT: banded, REASONABLE: flat, DRUG: flat},
                       special_drugs={"TY001": "信迪利单抗注射液"},
                       reasonable_items={"HL001": "质子重离子放射治疗"},
                       shared_deductible=shared, pre_existing=(LIVER_CANCER,))


def test_the_worked_example_pays_94000() -> None:
    """(150,000 − 20,000) → 70 % × 100,000 + 80 % × 30,000 = 94,000."""
    breakdown = calculate(standard(), Bill(150_000 * Y), circumstances=Circumstances(
        diagnosis_codes=("I21.0",), coverage_starts_on=STARTS, treated_on=date(2027, 3, 1)))
    line = breakdown.line(COMPLIANT)
    assert breakdown.total_fen == 94_000 * Y
    assert line.deductible_used_fen == 20_000 * Y
    assert [(s.amount_fen, s.ratio_bp, s.paid_fen) for s in line.segments] == [
        (100_000 * Y, 7_000, 70_000 * Y), (30_000 * Y, 8_000, 24_000 * Y)]
    assert line.describe() == (
        "医保范围内合规费用 ¥150,000.00，扣除免赔额 ¥20,000.00 后分段按 ¥100,000.00 × 70%、"
        "¥30,000.00 × 80% 赔付 ¥94,000.00")


def _prior(code: str, on: date) -> tuple[Diagnosis, ...]:
    return (Diagnosis(code, on),)


# (case, rules, bill yuan (in-policy, reasonable item, drug item), circumstances,
#  earlier (deductible used yuan per category, banded yuan compliant), expected payout yuan,
#  expected bases (compliant, reasonable, drug))
CASES = [
    ("pre-existing liver cancer at 30 %, no bands", standard(), (150_000, 0, 0),
     Circumstances(("C22.0",), _prior("C22.9", date(2025, 6, 1)), STARTS, date(2027, 3, 1)),
     None, 39_000, ("pre_existing", "not_covered", "standard")),
    ("pre-existing: a diagnosis recorded after the start is not pre-existing", standard(),
     (150_000, 0, 0),
     Circumstances(("C22.0",), _prior("C22.0", date(2027, 1, 5)), STARTS, date(2027, 3, 1)),
     None, 94_000, ("standard", "standard", "standard")),
    ("pre-existing: another condition in the records does not count", standard(),
     (150_000, 0, 0),
     Circumstances(("C22.0",), _prior("E11", date(2020, 1, 1)), STARTS, date(2027, 3, 1)),
     None, 94_000, ("standard", "standard", "standard")),
    ("pre-existing: a category marked not covered pays nothing and takes no deductible",
     standard(), (0, 50_000, 0),
     Circumstances(("C22",), _prior("C22.1", date(2024, 1, 1)), STARTS, date(2027, 3, 1)),
     None, 0, ("pre_existing", "not_covered", "standard")),
    ("pre-existing: a category the condition leaves out pays its general rule", standard(),
     (0, 0, 30_000),
     Circumstances(("C22",), _prior("C22", date(2024, 1, 1)), STARTS, date(2027, 3, 1)),
     None, 7_000, ("pre_existing", "not_covered", "standard")),
    ("waiting period: a first-time enrollee treated on day 30 of 30 gets nothing",
     standard(waiting_days=30), (150_000, 0, 0),
     Circumstances((), (), STARTS, date(2027, 1, 30), first_enrollment=True),
     None, 0, ("waiting", "waiting", "waiting")),
    ("waiting period ends: day 31 is paid", standard(waiting_days=30), (150_000, 0, 0),
     Circumstances((), (), STARTS, date(2027, 1, 31), first_enrollment=True),
     None, 94_000, ("standard", "standard", "standard")),
    ("waiting period: an uninterrupted renewal has none", standard(waiting_days=30),
     (150_000, 0, 0), Circumstances((), (), STARTS, date(2027, 1, 2), first_enrollment=False),
     None, 94_000, ("standard", "standard", "standard")),
    ("bands continue over the year: ¥80,000 already banded", standard(), (50_000, 0, 0),
     Circumstances(), (20_000, 80_000), 20_000 * 0.7 + 30_000 * 0.8,
     ("standard", "standard", "standard")),
    ("a bill within the first band", standard(), (60_000, 0, 0), Circumstances(), None,
     28_000, ("standard", "standard", "standard")),
    ("shared deductible: taken once over the categories, compliant first", standard(),
     (15_000, 10_000, 0), Circumstances(), None, 5_000 * 0.7,
     ("standard", "standard", "standard")),
    ("shared deductible: used up by an earlier claim in another category", standard(),
     (0, 10_000, 0), Circumstances(), (20_000, 0), 7_000,
     ("standard", "standard", "standard")),
    ("per-category deductibles (today's reading): each takes its own", standard(shared=False),
     (25_000, 25_000, 0), Circumstances(), None, 5_000 * 0.7 * 2,
     ("standard", "standard", "standard")),
]


@pytest.mark.parametrize(
    ("rules", "bill", "circumstances", "earlier", "expected_yuan", "bases"),
    [case[1:] for case in CASES], ids=[case[0] for case in CASES])
def test_terms_table(rules: PayoutRules, bill: tuple[int, int, int],
                     circumstances: Circumstances, earlier: tuple[int, int] | None,
                     expected_yuan: float, bases: tuple[str, str, str]) -> None:
    self_pay, reasonable, drug = bill
    items = tuple(item for item in (
        BillItem("HL001", "质子重离子放射治疗", reasonable * Y) if reasonable else None,
        BillItem("TY001", "信迪利单抗注射液", drug * Y) if drug else None) if item)
    year = YearToDate()
    if earlier is not None:
        year = YearToDate({COMPLIANT: CategoryUsage(earlier[0] * Y, 0, earlier[1] * Y)})
    breakdown = calculate(rules, Bill(self_pay * Y, items), year, circumstances)
    assert breakdown.total_fen == round(expected_yuan * Y)
    assert tuple(line.basis.value for line in breakdown.lines) == bases
    for line in breakdown.lines:
        if line.basis in (LineBasis.WAITING, LineBasis.NOT_COVERED):
            assert line.deductible_used_fen == 0 and line.payout_fen == 0
            if line.eligible_fen:
                assert line.describe().endswith("本次赔付 ¥0.00")


def test_pre_existing_line_says_so() -> None:
    breakdown = calculate(standard(), Bill(30_000 * Y), circumstances=Circumstances(
        ("C22.0",), _prior("C22", date(2026, 12, 31)), STARTS, date(2027, 3, 1)))
    assert breakdown.line(COMPLIANT).describe() == (
        "医保范围内合规费用 ¥30,000.00（既往症：肝癌），扣除免赔额 ¥20,000.00 后按 30% "
        "赔付 ¥3,000.00")


def test_bands_must_ascend_from_above_zero() -> None:
    with pytest.raises(ValueError, match="bands"):
        CategoryRule(0, 7_000, 1, bands=(Band(0, 8_000),))
    with pytest.raises(ValueError, match="bands"):
        CategoryRule(0, 7_000, 1, bands=(Band(200, 8_000), Band(100, 9_000)))


@pytest.mark.parametrize(("kind_code", "stored", "expected"), [
    (None, None, ()),
    (None, "C22.0,K74", ("C22.0", "K74")),
    ("C34", None, ("C34",)),  # a special drug's indication alone counts for the terms
    ("C34", "C22.0", ("C34", "C22.0")),
    ("C22.0", "C22.0,K74", ("C22.0", "K74")),  # stated twice, counted once
])
def test_a_claims_stated_codes_join_its_kinds_diagnosis_and_its_list(
    kind_code: str | None, stored: str | None, expected: tuple[str, ...]
) -> None:
    from huiminbao.claims.terms import stated_codes

    assert stated_codes(kind_code, stored) == expected
