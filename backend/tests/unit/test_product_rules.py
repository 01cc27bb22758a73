"""Product configuration rules (DESIGN.md §2, seeds 002 and 003): each refuses with its message."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from datetime import date
from typing import Any

import pytest

from huiminbao.catalog.demo import CLAIM_SCOPE, COVERAGE, DEMO_TIERS, EXCLUSIONS, NOTICE, YUAN
from huiminbao.catalog.domain import (
    NO_HEALTH_CONDITIONS,
    NOTICE_REQUIRED,
    PAYABLE_BALANCES_VALUES,
    TIERS_REQUIRED,
    UNKNOWN_ASSISTANCE_CATEGORY,
    BenefitCategory,
    BenefitDraft,
    CoveragePeriod,
    EnrollmentWindow,
    ProductDraft,
    TermsDraft,
    TierDraft,
    Violation,
    mentions_health_condition,
    validate_product,
    window_last_day,
)

OPENS_ON = date(2026, 11, 15)


def demo_tiers() -> tuple[TierDraft, ...]:
    return tuple(
        TierDraft(code=code, name=name, premium_fen=premium * YUAN, benefits=tuple(
            BenefitDraft(category.value, deductible * YUAN, ratio_bp, cap * YUAN)
            for category, (deductible, ratio_bp, cap) in benefits.items()
        ))
        for code, name, premium, benefits in DEMO_TIERS
    )


def valid_draft() -> ProductDraft:
    """The demo product's numbers: standard tier exactly on the benefit floor."""
    return ProductDraft(
        code="XHYLB-2027", name="西湖益联保（2027版）", city_code="330100", city_name="杭州市",
        insurer="演示保险股份有限公司杭州分公司",
        window=EnrollmentWindow(OPENS_ON, date(2027, 1, 6)),
        coverage=CoveragePeriod(date(2027, 1, 7), date(2028, 1, 6)),
        first_year=True, payable_balances=("prior_years",), tiers=demo_tiers(),
        terms=TermsDraft(version="2027.1", notice=NOTICE, coverage=COVERAGE,
                         claim_scope=CLAIM_SCOPE, exclusions=EXCLUSIONS),
        eligibility_conditions=("杭州市职工基本医疗保险、城乡居民基本医疗保险参保人员",),
    )


def with_benefit(draft: ProductDraft, tier: int, category: BenefitCategory,
                 **changes: Any) -> ProductDraft:
    tiers = list(draft.tiers)
    tiers[tier] = replace(tiers[tier], benefits=tuple(
        replace(benefit, **changes) if benefit.category == category.value else benefit
        for benefit in tiers[tier].benefits
    ))
    return replace(draft, tiers=tuple(tiers))


def with_tier(draft: ProductDraft, tier: int, **changes: Any) -> ProductDraft:
    tiers = list(draft.tiers)
    tiers[tier] = replace(tiers[tier], **changes)
    return replace(draft, tiers=tuple(tiers))


def with_terms(draft: ProductDraft, **changes: str) -> ProductDraft:
    return replace(draft, terms=replace(draft.terms, **changes))


def only(violations: list[Violation]) -> tuple[str, str, str]:
    assert len(violations) == 1, violations
    return violations[0].field, violations[0].rule, violations[0].message


def test_the_demo_product_passes() -> None:
    assert validate_product(valid_draft()) == []


# ---------------------------------------------------------------- benefit floor, 003 三(五)


@pytest.mark.parametrize(("deductible_fen", "ok"), [
    (20_000 * YUAN, True), (20_000 * YUAN + 1, False), (0, True),
])
def test_deductible_at_most_twenty_thousand_yuan(deductible_fen: int, ok: bool) -> None:
    draft = with_benefit(valid_draft(), 0, BenefitCategory.COMPLIANT,
                         deductible_fen=deductible_fen)
    if ok:
        assert validate_product(draft) == []
    else:
        assert only(validate_product(draft)) == (
            "tiers.0.benefits.compliant.deductible_fen", "deductible_max",
            "标准版·医保范围内合规费用的免赔额不得高于2万元（杭州方案 三(五)）",
        )


@pytest.mark.parametrize(("ratio_bp", "ok"), [(7_000, True), (6_999, False), (10_000, True)])
def test_every_ratio_at_least_seventy_percent(ratio_bp: int, ok: bool) -> None:
    draft = with_benefit(valid_draft(), 1, BenefitCategory.REASONABLE, ratio_bp=ratio_bp)
    if ok:
        assert validate_product(draft) == []
    else:
        assert only(validate_product(draft)) == (
            "tiers.1.benefits.reasonable.ratio_bp", "ratio_min",
            "升级版·医保范围外合理费用的赔付比例不得低于70%（杭州方案 三(五)）",
        )


@pytest.mark.parametrize(("cap_fen", "ok"), [
    (1_000_000 * YUAN, True), (1_000_000 * YUAN - 1, False),
])
def test_cap_at_least_one_million_yuan(cap_fen: int, ok: bool) -> None:
    draft = with_benefit(valid_draft(), 0, BenefitCategory.SPECIAL_DRUG, cap_fen=cap_fen)
    if ok:
        assert validate_product(draft) == []
    else:
        assert only(validate_product(draft)) == (
            "tiers.0.benefits.special_drug.cap_fen", "cap_min",
            "标准版·特定药品费用的封顶线不得低于100万元（杭州方案 三(五)）",
        )


# ---------------------------------------------------------------- first-year window, 003 三(八)


@pytest.mark.parametrize(("opens_on", "last_day"), [
    (date(2026, 11, 15), date(2027, 1, 14)),  # 61 days
    (date(2026, 12, 1), date(2027, 1, 31)),  # 62 days: two whole calendar months
    (date(2027, 1, 1), date(2027, 2, 28)),  # 59 days
    (date(2026, 12, 31), date(2027, 2, 28)),  # no 31 February: the month's last day
    (date(2027, 12, 31), date(2028, 2, 29)),
    (date(2027, 12, 29), date(2028, 2, 28)),
])
def test_two_calendar_months_end_the_day_before_the_same_day(opens_on: date,
                                                            last_day: date) -> None:
    assert window_last_day(opens_on) == last_day


@pytest.mark.parametrize(("closes_on", "ok"), [(date(2027, 1, 14), True),
                                               (date(2027, 1, 15), False)])
def test_first_year_window_at_most_two_months(closes_on: date, ok: bool) -> None:
    draft = replace(valid_draft(), window=EnrollmentWindow(OPENS_ON, closes_on))
    if ok:
        assert validate_product(draft) == []
    else:
        assert only(validate_product(draft)) == (
            "enrollment.closes_on", "first_year_window_max",
            "首年投保期不得超过2个月（杭州方案 三(八)）：2026-11-15开始的投保期最晚应于"
            "2027-01-14结束",
        )


def test_the_two_month_limit_applies_only_to_the_first_year() -> None:
    draft = replace(valid_draft(), first_year=False,
                    window=EnrollmentWindow(date(2026, 10, 1), date(2027, 1, 6)))
    assert validate_product(draft) == []


# ---------------------------------------------------------------- no health conditions, ever


def test_any_health_question_is_refused() -> None:
    draft = replace(valid_draft(), health_questions=("过去两年内是否住院？",))
    assert only(validate_product(draft)) == (
        "health_questions", "no_health_questions", NO_HEALTH_CONDITIONS,
    )
    assert NO_HEALTH_CONDITIONS == (
        "不得设置健康告知、年龄、既往病史、职业等参保条件（湖北指导意见 二(一)、杭州方案 二(一)）"
    )


@pytest.mark.parametrize("condition", [
    "年龄在70周岁以下", "年满18岁", "无既往病史", "未患有恶性肿瘤", "须如实进行健康告知",
    "近一年未住院", "非高风险职业", "须提供体检报告", "不限职业、年满18岁", "本市户籍居民",
])
def test_health_age_history_or_occupation_conditions_are_refused(condition: str) -> None:
    draft = replace(valid_draft(), eligibility_conditions=("本市基本医保参保人员", condition))
    assert only(validate_product(draft)) == (
        "eligibility_conditions.1", "no_health_conditions", NO_HEALTH_CONDITIONS,
    )


@pytest.mark.parametrize("condition", [
    "杭州市职工基本医疗保险、城乡居民基本医疗保险参保人员",
    "本市基本医保参保人员，不限年龄、健康状况、既往病史、职业类别",
    "无需健康告知",
])
def test_plain_or_waiving_conditions_pass(condition: str) -> None:
    assert not mentions_health_condition(condition)
    assert validate_product(replace(valid_draft(), eligibility_conditions=(condition,))) == []


def test_the_notice_may_say_there_are_no_conditions() -> None:
    assert "不设年龄、既往病史" in NOTICE  # scanned as terms, never as conditions
    assert validate_product(valid_draft()) == []


# ---------------------------------------------------------------- every other rule

Change = Callable[[ProductDraft], ProductDraft]

RULES: list[tuple[str, Change, str, str, str]] = [
    ("tiers required", lambda d: replace(d, tiers=()), "tiers", "tiers_required",
     TIERS_REQUIRED),
    ("premium positive", lambda d: with_tier(d, 1, premium_fen=0), "tiers.1.premium_fen",
     "premium_positive", "升级版的保费应大于0元"),
    ("tier code unique", lambda d: with_tier(d, 1, code="standard"), "tiers.1.code",
     "tier_code_unique", "档次代码“standard”重复，每个档次的代码应唯一"),
    ("tier code format", lambda d: with_tier(d, 0, code="标准"), "tiers.0.code",
     "tier_code_format", "档次代码应为1至32位小写字母、数字、连字符或下划线"),
    ("tier name required", lambda d: with_tier(d, 0, name=" "), "tiers.0.name", "required",
     "档次名称不能为空"),
    ("tier name unique", lambda d: with_tier(d, 1, name="标准版"), "tiers.1.name",
     "tier_name_unique", "档次名称“标准版”重复，每个档次的名称应唯一"),
    ("benefit category missing",
     lambda d: with_tier(d, 0, benefits=d.tiers[0].benefits[:2]),
     "tiers.0.benefits.special_drug", "benefit_required",
     "标准版缺少特定药品费用的赔付规则（杭州方案 三(四)）"),
    ("deductible non-negative",
     lambda d: with_benefit(d, 0, BenefitCategory.SPECIAL_DRUG, deductible_fen=-1),
     "tiers.0.benefits.special_drug.deductible_fen", "deductible_non_negative",
     "标准版·特定药品费用的免赔额不得为负数"),
    ("ratio at most 100 %",
     lambda d: with_benefit(d, 0, BenefitCategory.COMPLIANT, ratio_bp=10_001),
     "tiers.0.benefits.compliant.ratio_bp", "ratio_max",
     "标准版·医保范围内合规费用的赔付比例不得高于100%"),
    ("payable balances", lambda d: replace(d, payable_balances=("current_year",)),
     "payable_balances", "payable_balances_values", PAYABLE_BALANCES_VALUES),
    ("name required", lambda d: replace(d, name=""), "name", "required", "产品名称不能为空"),
    ("code format", lambda d: replace(d, code="西湖 2027"), "code", "code_format",
     "产品代码应为1至40位字母、数字、连字符或下划线"),
    ("city code six digits", lambda d: replace(d, city_code="3301"), "city_code",
     "city_code_format", "城市代码应为6位数字（行政区划代码）"),
    ("city name required", lambda d: replace(d, city_name=""), "city_name", "required",
     "城市名称不能为空"),
    ("insurer required", lambda d: replace(d, insurer=""), "insurer", "required",
     "承保机构名称不能为空"),
    ("notice: commercial, not basic insurance",
     lambda d: with_terms(d, notice="本产品由保险公司承保，保障范围以条款为准。"),
     "terms.notice", "notice_commercial", NOTICE_REQUIRED),
    ("notice: saying commercial is not enough",
     lambda d: with_terms(d, notice="本产品为商业保险。"),
     "terms.notice", "notice_commercial", NOTICE_REQUIRED),
    ("coverage terms required", lambda d: with_terms(d, coverage=""), "terms.coverage",
     "coverage_required", "条款须写明保障责任（湖北指导意见 四(二)）"),
    ("claim scope required", lambda d: with_terms(d, claim_scope=""), "terms.claim_scope",
     "claim_scope_required", "条款须写明理赔范围（湖北指导意见 四(二)）"),
    ("exclusions required", lambda d: with_terms(d, exclusions=""), "terms.exclusions",
     "exclusions_required", "条款须写明责任免除（湖北指导意见 四(二)）"),
    ("terms version required", lambda d: with_terms(d, version=""), "terms.version",
     "required", "条款版本号不能为空"),
    ("window order",
     lambda d: replace(d, window=EnrollmentWindow(date(2026, 11, 15), date(2026, 11, 14))),
     "enrollment.closes_on", "window_order", "投保期结束日期不得早于开始日期"),
    ("coverage order",
     lambda d: replace(d, coverage=CoveragePeriod(date(2027, 1, 7), date(2027, 1, 7))),
     "coverage.ends_on", "coverage_order", "保障期结束日期应晚于开始日期"),
    ("coverage at most one year",
     lambda d: replace(d, coverage=CoveragePeriod(date(2027, 1, 7), date(2028, 1, 7))),
     "coverage.ends_on", "coverage_one_year",
     "保障期不得超过一年：2027-01-07开始的保障期最晚应于2028-01-06结束"),
    ("coverage not before the window opens",
     lambda d: replace(d, coverage=CoveragePeriod(date(2026, 11, 14), date(2027, 11, 13))),
     "coverage.starts_on", "coverage_after_window_opens", "保障期不得早于投保期开始"),
    ("window closes before coverage ends",
     lambda d: replace(d, first_year=False,
                       window=EnrollmentWindow(date(2026, 11, 15), date(2028, 1, 7))),
     "enrollment.closes_on", "window_within_coverage", "投保期应在保障期结束前截止"),
    ("subsidized tier exists", lambda d: replace(d, subsidized_tier="gold"), "subsidy.tier",
     "subsidized_tier_unknown", "资助参保档次“gold”不是本产品的档次（杭州方案 三(三)3）"),
    ("assistance categories known",
     lambda d: replace(d, subsidized_categories=("tekun", "veterans")),
     "subsidy.categories.1", "assistance_category", UNKNOWN_ASSISTANCE_CATEGORY),
    ("assistance categories unique",
     lambda d: replace(d, subsidized_categories=("dibao", "dibao")),
     "subsidy.categories.1", "assistance_category_unique", "资助人群“低保对象”重复"),
]


@pytest.mark.parametrize(("change", "field", "rule", "message"),
                         [pytest.param(*case[1:], id=case[0]) for case in RULES])
def test_each_rule_refuses_with_its_message(change: Change, field: str, rule: str,
                                            message: str) -> None:
    assert only(validate_product(change(valid_draft()))) == (field, rule, message)


def test_every_violation_is_reported_at_once() -> None:
    draft = with_benefit(valid_draft(), 0, BenefitCategory.COMPLIANT,
                         deductible_fen=30_000 * YUAN, ratio_bp=6_000, cap_fen=500_000 * YUAN)
    draft = replace(draft, city_code="33", health_questions=("是否患有慢性病？",),
                    window=EnrollmentWindow(OPENS_ON, date(2027, 3, 1)))
    draft = with_terms(draft, notice="")
    assert [(v.field, v.rule) for v in validate_product(draft)] == [
        ("city_code", "city_code_format"),
        ("enrollment.closes_on", "first_year_window_max"),
        ("tiers.0.benefits.compliant.deductible_fen", "deductible_max"),
        ("tiers.0.benefits.compliant.ratio_bp", "ratio_min"),
        ("tiers.0.benefits.compliant.cap_fen", "cap_min"),
        ("health_questions", "no_health_questions"),
        ("terms.notice", "notice_commercial"),
    ]


def test_the_subsidy_defaults_to_the_cheapest_tier_and_all_groups() -> None:
    draft = valid_draft()
    assert draft.subsidized_tier is None
    assert draft.effective_subsidized_tier == "standard"
    assert draft.subsidized_categories == ("tekun", "dibao", "dibian", "disabled")
    cheaper_second = with_tier(draft, 1, premium_fen=99 * YUAN)
    assert cheaper_second.effective_subsidized_tier == "premium"
    assert validate_product(replace(draft, subsidized_tier="premium",
                                    subsidized_categories=())) == []


def test_both_balances_may_pay_when_the_city_allows() -> None:
    draft = replace(valid_draft(), payable_balances=("prior_years", "current_year"))
    assert validate_product(draft) == []
    assert only(validate_product(replace(draft, payable_balances=("current_year",
                                                                  "prior_years"))))[1] == (
        "payable_balances_values")
