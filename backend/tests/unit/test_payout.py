"""The payout calculation: hand-computed tables (the issue's worked example first), boundaries,
caps, a tier with a 特药 deductible, items not covered; and properties that hold for any bill."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from huiminbao.catalog.domain import BenefitCategory
from huiminbao.claims.payout import (
    NOT_LISTED,
    Bill,
    BillItem,
    CategoryRule,
    CategoryUsage,
    PayoutRules,
    YearToDate,
    calculate,
)

C, R, S = BenefitCategory.COMPLIANT, BenefitCategory.REASONABLE, BenefitCategory.SPECIAL_DRUG
YUAN = 100
SPECIAL_DRUGS = {"TY001": "信迪利单抗注射液", "TY002": "阿来替尼胶囊"}
REASONABLE = {"HL001": "质子重离子放射治疗", "HL002": "CAR-T细胞治疗", "HL003": "进口心脏支架"}


def rules(*, compliant: tuple[int, int, int] = (20_000, 7_500, 1_000_000),
          reasonable: tuple[int, int, int] = (20_000, 7_000, 1_000_000),
          special: tuple[int, int, int] = (0, 8_000, 1_000_000)) -> PayoutRules:
    """标准版 of the demo product by default; (deductible yuan, ratio bp, cap yuan)."""
    def rule(spec: tuple[int, int, int]) -> CategoryRule:
        return CategoryRule(spec[0] * YUAN, spec[1], spec[2] * YUAN)

    return PayoutRules({C: rule(compliant), R: rule(reasonable), S: rule(special)},
                       special_drugs=SPECIAL_DRUGS, reasonable_items=REASONABLE)


STANDARD = rules()


def item(code: str, yuan: float) -> BillItem:
    name = SPECIAL_DRUGS.get(code) or REASONABLE.get(code) or "其他项目"
    return BillItem(code, name, round(yuan * YUAN))


def bill(compliant_yuan: float, *items: BillItem) -> Bill:
    return Bill(round(compliant_yuan * YUAN), tuple(items))


# ---------------------------------------------------------------- the worked example


def test_the_worked_example_first_claim_of_the_year() -> None:
    result = calculate(STANDARD, bill(30_000, item("HL001", 10_000), item("TY001", 5_000)))
    compliant, reasonable, special = (result.line(C), result.line(R), result.line(S))
    assert (compliant.eligible_fen, compliant.deductible_used_fen, compliant.payout_fen) == (
        3_000_000, 2_000_000, 750_000)
    assert (reasonable.eligible_fen, reasonable.deductible_used_fen, reasonable.payout_fen) == (
        1_000_000, 1_000_000, 0)
    assert (special.eligible_fen, special.deductible_used_fen, special.payout_fen) == (
        500_000, 0, 400_000)
    assert result.total_fen == 1_150_000
    assert compliant.describe() == (
        "医保范围内合规费用 ¥30,000.00，扣除免赔额 ¥20,000.00 后按 75% 赔付 ¥7,500.00")
    assert special.describe() == "特定药品费用 ¥5,000.00，按 80% 赔付 ¥4,000.00"
    assert "全部计入年度免赔额" in reasonable.describe()
    assert "¥10,000.00" in reasonable.describe()  # what is left of its deductible
    assert result.describe()[-1] == "合计赔付 ¥11,500.00"


def test_the_worked_example_second_claim_uses_what_is_left() -> None:
    first = calculate(STANDARD, bill(30_000, item("HL001", 10_000), item("TY001", 5_000)))
    second = calculate(STANDARD, bill(8_000, item("HL002", 15_000)), YearToDate().plus(first))
    assert second.line(C).payout_fen == 600_000  # deductible used up: 8,000 × 75 %
    assert second.line(C).deductible_used_fen == 0
    assert second.line(R).deductible_used_fen == 1_000_000  # the 10,000 left of its own
    assert second.line(R).payout_fen == 350_000  # (15,000 − 10,000) × 70 %
    assert second.total_fen == 950_000
    assert second.line(C).describe() == (
        "医保范围内合规费用 ¥8,000.00，年度免赔额已扣除完毕，按 75% 赔付 ¥6,000.00")
    assert second.line(R).describe() == (
        "医保范围外合理费用 ¥15,000.00，扣除免赔额 ¥10,000.00 后按 70% 赔付 ¥3,500.00")


# ---------------------------------------------------------------- tables


@pytest.mark.parametrize(
    ("case", "the_rules", "earlier", "the_bill", "expected"),
    [
        ("nothing above the deductible", STANDARD, YearToDate(), bill(20_000), (0, 0, 0)),
        ("one fen above the deductible", STANDARD, YearToDate(), Bill(2_000_001), (0, 0, 0)),
        ("four fen above: 3 fen", STANDARD, YearToDate(), Bill(2_000_004), (3, 0, 0)),
        ("a fen below the deductible", STANDARD, YearToDate(), Bill(1_999_999), (0, 0, 0)),
        ("floored, never rounded", rules(compliant=(0, 7_500, 1_000_000)), YearToDate(),
         Bill(133), (99, 0, 0)),
        ("only 特药, no deductible", STANDARD, YearToDate(), bill(0, item("TY002", 1_234.56)),
         (0, 0, 98_764)),
        ("特药 with the tier's deductible", rules(special=(5_000, 8_000, 1_000_000)),
         YearToDate(), bill(0, item("TY001", 8_000)), (0, 0, 240_000)),
        ("特药 deductible partly used before", rules(special=(5_000, 8_000, 1_000_000)),
         YearToDate({S: CategoryUsage(deductible_used_fen=400_000)}),
         bill(0, item("TY001", 8_000)), (0, 0, 560_000)),
        ("cap almost reached", STANDARD,
         YearToDate({C: CategoryUsage(2_000_000, 99_900_000)}), bill(10_000),
         (100_000, 0, 0)),
        ("cap reached", STANDARD, YearToDate({C: CategoryUsage(2_000_000, 100_000_000)}),
         bill(10_000), (0, 0, 0)),
        ("a huge bill meets the cap", STANDARD, YearToDate(), bill(5_000_000),
         (100_000_000, 0, 0)),
        ("每类 separately: 合理 deductible used, 合规 not", STANDARD,
         YearToDate({R: CategoryUsage(2_000_000, 0)}), bill(1_000, item("HL003", 1_000)),
         (0, 70_000, 0)),
        ("100 % ratio pays all above the deductible", rules(compliant=(0, 10_000, 1_000_000)),
         YearToDate(), bill(12_345.67), (1_234_567, 0, 0)),
    ],
    ids=lambda value: value if isinstance(value, str) else None,
)
def test_payout_table(case: str, the_rules: PayoutRules, earlier: YearToDate, the_bill: Bill,
                      expected: tuple[int, int, int]) -> None:
    result = calculate(the_rules, the_bill, earlier)
    got = (result.line(C).payout_fen, result.line(R).payout_fen, result.line(S).payout_fen)
    assert got == expected, case
    assert result.total_fen == sum(expected)


def test_a_capped_line_says_so() -> None:
    result = calculate(STANDARD, bill(10_000),
                       YearToDate({C: CategoryUsage(2_000_000, 99_900_000)}))
    line = result.line(C)
    assert line.capped and line.computed_fen == 750_000 and line.payout_fen == 100_000
    assert "受年度封顶线限制" in line.describe()
    assert "¥1,000.00" in line.describe()


def test_items_not_on_either_list_are_not_covered_with_the_reason() -> None:
    cosmetic = BillItem("ZZ999", "美容整形项目", 300_000)
    result = calculate(STANDARD, Bill(0, (item("HL001", 25_000), cosmetic)))
    assert [entry.item for entry in result.uncovered] == [cosmetic]
    assert result.uncovered[0].reason == NOT_LISTED
    assert result.line(R).eligible_fen == 2_500_000
    assert result.line(R).payout_fen == 350_000
    assert result.uncovered_fen == 300_000
    assert any("美容整形项目（ZZ999）¥3,000.00：不在本产品" in text
               for text in result.describe())


def test_codes_are_matched_without_case_or_spaces() -> None:
    result = calculate(STANDARD, Bill(0, (BillItem(" ty001 ", "信迪利单抗", 100_000),)))
    assert result.line(S).payout_fen == 80_000
    assert not result.uncovered


def test_a_code_on_both_lists_counts_as_a_special_drug() -> None:
    both = PayoutRules(STANDARD.benefits, special_drugs={"X1": "药"},
                       reasonable_items={"X1": "项目"})
    assert calculate(both, Bill(0, (BillItem("X1", "药", 100_000),))).line(S).payout_fen == 80_000


def test_bad_inputs_are_refused() -> None:
    with pytest.raises(ValueError, match="negative"):
        Bill(-1)
    with pytest.raises(ValueError, match="positive"):
        Bill(0, (BillItem("HL001", "x", 0),))
    with pytest.raises(ValueError, match="basis points"):
        CategoryRule(0, 10_001, 1)
    with pytest.raises(ValueError, match="missing"):
        PayoutRules({C: CategoryRule(0, 7_000, 1)})


# ---------------------------------------------------------------- properties

_money = st.integers(min_value=0, max_value=5_000_000 * YUAN)
_rule = st.builds(CategoryRule, deductible_fen=st.integers(0, 20_000 * YUAN),
                  ratio_bp=st.integers(0, 10_000), cap_fen=st.integers(0, 2_000_000 * YUAN))
_rules = st.builds(lambda c, r, s: PayoutRules({C: c, R: r, S: s}, SPECIAL_DRUGS, REASONABLE),
                   _rule, _rule, _rule)
_codes = st.sampled_from([*SPECIAL_DRUGS, *REASONABLE, "ZZ001", "ZZ002"])
_items = st.lists(st.builds(lambda code, amount: BillItem(code, "项目", amount), _codes,
                            st.integers(1, 1_000_000 * YUAN)), max_size=6)
_usage = st.builds(CategoryUsage, deductible_used_fen=st.integers(0, 20_000 * YUAN),
                   paid_fen=st.integers(0, 2_000_000 * YUAN))
_year = st.builds(lambda c, r, s: YearToDate({C: c, R: r, S: s}), _usage, _usage, _usage)


@settings(max_examples=300, deadline=None)
@given(the_rules=_rules, compliant=_money, items=_items, earlier=_year)
def test_a_payout_never_exceeds_the_eligible_amount_or_the_remaining_cap(
    the_rules: PayoutRules, compliant: int, items: list[BillItem], earlier: YearToDate
) -> None:
    result = calculate(the_rules, Bill(compliant, tuple(items)), earlier)
    for line in result.lines:
        rule, used = the_rules.rule(line.category), earlier.of(line.category)
        assert 0 <= line.payout_fen <= line.eligible_fen
        assert line.payout_fen <= max(0, rule.cap_fen - used.paid_fen)
        assert line.payout_fen <= line.computed_fen
    assert result.total_fen <= result.eligible_fen
    assert result.eligible_fen + result.uncovered_fen == compliant + sum(
        i.amount_fen for i in items)


@settings(max_examples=300, deadline=None)
@given(the_rules=_rules, compliant=_money, items=_items, earlier=_year)
def test_deductibles_only_decrease(the_rules: PayoutRules, compliant: int,
                                   items: list[BillItem], earlier: YearToDate) -> None:
    result = calculate(the_rules, Bill(compliant, tuple(items)), earlier)
    after = earlier.plus(result)
    for line in result.lines:
        rule = the_rules.rule(line.category)
        before_left = max(0, rule.deductible_fen - earlier.of(line.category).deductible_used_fen)
        after_left = max(0, rule.deductible_fen - after.of(line.category).deductible_used_fen)
        assert 0 <= after_left <= before_left
        assert line.deductible_used_fen == before_left - after_left
        assert after.of(line.category).paid_fen >= earlier.of(line.category).paid_fen


@settings(max_examples=500, deadline=None)
@given(the_rules=_rules, compliant=_money, share=st.floats(0, 1), items=_items,
       split=st.lists(st.booleans(), min_size=6, max_size=6), earlier=_year)
def test_splitting_one_bill_into_two_claims_never_pays_more(
    the_rules: PayoutRules, compliant: int, share: float, items: list[BillItem],
    split: list[bool], earlier: YearToDate,
) -> None:
    first_part = int(compliant * share)
    first = Bill(first_part, tuple(i for i, side in zip(items, split, strict=False) if side))
    second = Bill(compliant - first_part,
                  tuple(i for i, side in zip(items, split, strict=False) if not side))
    whole = calculate(the_rules, Bill(compliant, tuple(items)), earlier)
    one = calculate(the_rules, first, earlier)
    two = calculate(the_rules, second, earlier.plus(one))
    assert one.total_fen + two.total_fen <= whole.total_fen
    # and the year's usage ends the same either way, up to flooring of the payouts
    for category in (C, R, S):
        assert (earlier.plus(one).plus(two).of(category).deductible_used_fen
                == earlier.plus(whole).of(category).deductible_used_fen)
