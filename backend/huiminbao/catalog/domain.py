"""Pure product rules: benefit categories, the benefit floor and the enrollment window.

No Flask, no database: these run in unit tests in microseconds.
"""

from __future__ import annotations

import calendar
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from enum import StrEnum
from typing import Protocol


class BenefitCategory(StrEnum):
    COMPLIANT = "compliant"  # 合规费用: in-policy costs left to the person
    REASONABLE = "reasonable"  # 合理费用: listed out-of-policy items
    SPECIAL_DRUG = "special_drug"  # 特药

    @property
    def label(self) -> str:
        return {
            BenefitCategory.COMPLIANT: "医保范围内合规费用",
            BenefitCategory.REASONABLE: "医保范围外合理费用",
            BenefitCategory.SPECIAL_DRUG: "特定药品费用",
        }[self]


class DeductibleMode(StrEnum):
    """How the tier's annual deductibles are read: one per category (the default), or one
    shared by all categories (the categories' deductibles are then equal)."""

    PER_CATEGORY = "per_category"
    SHARED = "shared"

    @property
    def label(self) -> str:
        return {DeductibleMode.PER_CATEGORY: "各类费用分别计算免赔额",
                DeductibleMode.SHARED: "各类费用共用一个年度免赔额"}[self]


class ProductStatus(StrEnum):
    DRAFT = "draft"
    PUBLISHED = "published"
    WITHDRAWN = "withdrawn"


BASIS_POINTS = 10_000


@dataclass(frozen=True)
class EnrollmentWindow:
    opens_on: date
    closes_on: date  # inclusive

    def is_open_on(self, day: date) -> bool:
        return self.opens_on <= day <= self.closes_on


@dataclass(frozen=True)
class CoveragePeriod:
    starts_on: date
    ends_on: date  # inclusive

    def covers(self, day: date) -> bool:
        return self.starts_on <= day <= self.ends_on

    def has_started_on(self, day: date) -> bool:
        return day >= self.starts_on


def one_year_from(start: date) -> date:
    """The last day of a one-year period starting on ``start`` (29 Feb starts end on 28 Feb)."""
    try:
        anniversary = start.replace(year=start.year + 1)
    except ValueError:  # 29 February: the anniversary falls on 1 March of a common year
        return start.replace(year=start.year + 1, day=28)
    return date.fromordinal(anniversary.toordinal() - 1)


# ---------------------------------------------------------------- product configuration rules
#
# An administrator's product draft is checked against the seed texts before anything is stored.
# Every rule that fails yields its own ``Violation`` (all of them at once, never only the first),
# with the field path in the same dotted form as the API's other field errors
# (``tiers.0.benefits.compliant.ratio_bp``) and a Chinese message that names the rule.

YUAN = 100  # fen per yuan
MAX_DEDUCTIBLE_FEN = 20_000 * YUAN  # 003 三(五): 起付线(免赔额)不高于2万元
MIN_RATIO_BP = 7_000  # 003 三(五): 总体报销比例不低于70%
MIN_CAP_FEN = 1_000_000 * YUAN  # 003 三(五): 封顶线不低于100万元
FIRST_YEAR_WINDOW_MONTHS = 2  # 003 三(八)1: 首次投保期原则上不超过2个月


class PayableBalances(StrEnum):
    """Personal-account balances that may pay, in the order drawn (002 三(三), 003 三(三)2)."""

    PRIOR_YEARS = "prior_years"  # 历年账户 only (Hangzhou)
    PRIOR_YEARS_THEN_CURRENT = "prior_years,current_year"  # 历年账户, then 当年账户

    @property
    def parts(self) -> tuple[str, ...]:
        return tuple(self.value.split(","))

    @classmethod
    def from_parts(cls, parts: tuple[str, ...]) -> PayableBalances | None:
        return next((member for member in cls if member.parts == parts), None)


class AssistanceCategory(StrEnum):
    """Groups whose premium the government pays (003 三(三)3)."""

    TEKUN = "tekun"  # 特困
    DIBAO = "dibao"  # 低保
    DIBIAN = "dibian"  # 低边
    DISABLED = "disabled"  # 持《残疾人基本生活保障证》

    @property
    def label(self) -> str:
        return {
            AssistanceCategory.TEKUN: "特困人员",
            AssistanceCategory.DIBAO: "低保对象",
            AssistanceCategory.DIBIAN: "低边对象",
            AssistanceCategory.DISABLED: "残疾人员",
        }[self]


ALL_ASSISTANCE_CATEGORIES: tuple[str, ...] = tuple(c.value for c in AssistanceCategory)

# Words that betray a health, age, medical-history, occupation or residence condition. Only the
# declared eligibility conditions are scanned, never the notice (which itself says "不设年龄、
# 既往病史…条件"); within a condition, a clause that waives a condition ("不限年龄、健康状况")
# is dropped before the scan (only the listed condition nouns after the waiving word, so that
# "不限职业、年满18岁" is still refused).
HEALTH_CONDITION_WORDS: tuple[str, ...] = (
    "健康", "告知", "既往", "病史", "疾病", "患有", "患病", "带病", "慢性病", "体检", "诊断",
    "住院", "手术", "癌", "肿瘤", "年龄", "周岁", "岁", "职业", "工种", "户籍", "户口",
)
_WAIVED = (r"(年龄|健康状况|健康告知|健康|既往病史|既往症|病史|疾病风险|疾病|职业类别|职业类型|职业"
           r"|户籍|体检)")
_WAIVER_CLAUSE = re.compile(rf"(不限|不设置?|无需|无须|不论|不分|不需要?|不要求|不作){_WAIVED}"
                            rf"([、和及或与]{_WAIVED})*(等(前置)?(条件|限制)?)?")

_PRODUCT_CODE = re.compile(r"[A-Za-z0-9_-]{1,40}")
_TIER_CODE = re.compile(r"[a-z0-9_-]{1,32}")
_CITY_CODE = re.compile(r"\d{6}")

NO_HEALTH_CONDITIONS = (
    "不得设置健康告知、年龄、既往病史、职业等参保条件（湖北指导意见 二(一)、杭州方案 二(一)）"
)
NOTICE_REQUIRED = "条款须明确告知本产品为商业保险，不是基本医疗保险（湖北指导意见 四(二)）"
TIERS_REQUIRED = "应设置至少一个保障档次（杭州方案 三(五)：可设定多档可选的缴费档次）"
PAYABLE_BALANCES_VALUES = (
    "个人账户可支付范围只能是“仅历年账户”或“历年账户和当年账户”"
    "（杭州方案 三(三)2、湖北指导意见 三(三)）"
)
UNKNOWN_ASSISTANCE_CATEGORY = "资助人群只能是特困、低保、低边或残疾人员（杭州方案 三(三)3）"


@dataclass(frozen=True)
class BandDraft:
    """Above ``above_fen`` of the year's amount after the deductible, pay ``ratio_bp``."""

    above_fen: int
    ratio_bp: int


@dataclass(frozen=True)
class BenefitDraft:
    category: str
    deductible_fen: int
    ratio_bp: int
    cap_fen: int
    bands: tuple[BandDraft, ...] = ()
    waiting_days: int = 0  # first-time enrollees only


@dataclass(frozen=True)
class PreExistingDraft:
    """A pre-existing condition (既往症): an ICD-10 code prefix, its name, and per category a
    ratio or None ("not covered")."""

    code_prefix: str
    name: str
    compliant_ratio_bp: int | None
    reasonable_ratio_bp: int | None
    special_drug_ratio_bp: int | None

    def ratio(self, category: BenefitCategory) -> int | None:
        return {BenefitCategory.COMPLIANT: self.compliant_ratio_bp,
                BenefitCategory.REASONABLE: self.reasonable_ratio_bp,
                BenefitCategory.SPECIAL_DRUG: self.special_drug_ratio_bp}[category]


@dataclass(frozen=True)
class TierDraft:
    code: str
    name: str
    premium_fen: int
    benefits: tuple[BenefitDraft, ...]


@dataclass(frozen=True)
class TermsDraft:
    version: str
    notice: str
    coverage: str
    claim_scope: str
    exclusions: str


@dataclass(frozen=True)
class ProductDraft:
    code: str
    name: str
    city_code: str
    city_name: str
    insurer: str
    window: EnrollmentWindow
    coverage: CoveragePeriod
    first_year: bool
    payable_balances: tuple[str, ...]
    tiers: tuple[TierDraft, ...]
    terms: TermsDraft
    subsidized_tier: str | None = None  # None: the cheapest tier
    subsidized_categories: tuple[str, ...] = ALL_ASSISTANCE_CATEGORIES
    eligibility_conditions: tuple[str, ...] = ()
    health_questions: tuple[str, ...] = ()
    status: ProductStatus = ProductStatus.DRAFT
    deductible_mode: str = DeductibleMode.PER_CATEGORY.value
    pre_existing: tuple[PreExistingDraft, ...] = ()

    @property
    def year(self) -> int:
        """The product year is the year its coverage starts."""
        return self.coverage.starts_on.year

    @property
    def effective_subsidized_tier(self) -> str | None:
        if self.subsidized_tier is not None:
            return self.subsidized_tier  # an unknown code is refused by validate_product
        return subsidized_tier_code(self.tiers, None)


@dataclass(frozen=True)
class Violation:
    field: str  # dotted path, e.g. "tiers.0.benefits.compliant.ratio_bp"
    rule: str  # stable code, e.g. "ratio_min"
    message: str  # Chinese, names the rule


class _Priced(Protocol):
    @property
    def code(self) -> str: ...

    @property
    def premium_fen(self) -> int: ...


def subsidized_tier_code(tiers: Sequence[_Priced], configured: str | None) -> str | None:
    """The tier the subsidy fund buys (003 三(三)3): the product's configured tier, else the
    lowest premium, the first listed on a tie. ``tiers`` in the product's order."""
    if configured is not None and any(tier.code == configured for tier in tiers):
        return configured
    if not tiers:
        return None
    return min(enumerate(tiers), key=lambda pair: (pair[1].premium_fen, pair[0]))[1].code


def add_months(day: date, months: int) -> date | None:
    """The same day ``months`` later, or None when that month has no such day."""
    index = day.month - 1 + months
    year, month = day.year + index // 12, index % 12 + 1
    if day.day > calendar.monthrange(year, month)[1]:
        return None
    return date(year, month, day.day)


def window_last_day(opens_on: date, months: int = FIRST_YEAR_WINDOW_MONTHS) -> date:
    """The latest closing day of a window of ``months`` calendar months opening on ``opens_on``.

    Both ends count as whole days, so the window ends the day before the same day ``months``
    later (15 Nov → 14 Jan, 1 Dec → 31 Jan); when that month has no such day, it ends on the
    month's last day (31 Dec → 28 or 29 Feb). At most 62 days, at least 59.
    """
    same_day = add_months(opens_on, months)
    if same_day is None:
        index = opens_on.month - 1 + months
        year, month = opens_on.year + index // 12, index % 12 + 1
        return date(year, month, calendar.monthrange(year, month)[1])
    return same_day - timedelta(days=1)


def mentions_health_condition(condition: str) -> bool:
    """Whether an eligibility condition sets a health, age, history, occupation or residence
    requirement (waiving clauses such as "不限年龄、健康状况" do not count)."""
    remaining = _WAIVER_CLAUSE.sub("", condition)
    return any(word in remaining for word in HEALTH_CONDITION_WORDS)


def notice_separates_from_basic_insurance(notice: str) -> bool:
    """002 四(二): say plainly that this is commercial insurance and not basic insurance."""
    return "商业保险" in notice and ("不是基本医疗保险" in notice or "非基本医保" in notice)


def validate_product(draft: ProductDraft, *,
                     min_pre_existing_ratio_bp: int = MIN_RATIO_BP) -> list[Violation]:
    """Every rule the draft breaks, in a stable order; an empty list means it may be stored.
    ``min_pre_existing_ratio_bp`` is the city's floor for pre-existing-condition ratios."""
    violations: list[Violation] = []
    violations += _identity_rules(draft)
    violations += _date_rules(draft)
    violations += _tier_rules(draft.tiers)
    violations += _payment_rules(draft)
    violations += _eligibility_rules(draft)
    violations += _terms_rules(draft.terms)
    violations += _claim_terms_rules(draft, min_pre_existing_ratio_bp)
    return violations


def _text_rule(value: str, path: str, label: str, max_length: int) -> list[Violation]:
    if not value.strip():
        return [Violation(path, "required", f"{label}不能为空")]
    if len(value) > max_length:
        return [Violation(path, "too_long", f"{label}不得超过{max_length}个字")]
    return []


def _identity_rules(draft: ProductDraft) -> list[Violation]:
    found = _text_rule(draft.name, "name", "产品名称", 100)
    if not _PRODUCT_CODE.fullmatch(draft.code):
        found.append(Violation("code", "code_format",
                               "产品代码应为1至40位字母、数字、连字符或下划线"))
    if not _CITY_CODE.fullmatch(draft.city_code):
        found.append(Violation("city_code", "city_code_format",
                               "城市代码应为6位数字（行政区划代码）"))
    found += _text_rule(draft.city_name, "city_name", "城市名称", 40)
    found += _text_rule(draft.insurer, "insurer", "承保机构名称", 200)
    return found


def _date_rules(draft: ProductDraft) -> list[Violation]:
    window, coverage = draft.window, draft.coverage
    found: list[Violation] = []
    if window.closes_on < window.opens_on:
        found.append(Violation("enrollment.closes_on", "window_order",
                               "投保期结束日期不得早于开始日期"))
    elif draft.first_year and window.closes_on > window_last_day(window.opens_on):
        found.append(Violation(
            "enrollment.closes_on", "first_year_window_max",
            f"首年投保期不得超过2个月（杭州方案 三(八)）：{window.opens_on.isoformat()}开始的"
            f"投保期最晚应于{window_last_day(window.opens_on).isoformat()}结束",
        ))
    if coverage.ends_on <= coverage.starts_on:
        found.append(Violation("coverage.ends_on", "coverage_order",
                               "保障期结束日期应晚于开始日期"))
    elif coverage.ends_on > one_year_from(coverage.starts_on):
        found.append(Violation(
            "coverage.ends_on", "coverage_one_year",
            f"保障期不得超过一年：{coverage.starts_on.isoformat()}开始的保障期最晚应于"
            f"{one_year_from(coverage.starts_on).isoformat()}结束",
        ))
    if coverage.starts_on < window.opens_on:
        found.append(Violation("coverage.starts_on", "coverage_after_window_opens",
                               "保障期不得早于投保期开始"))
    if window.closes_on > coverage.ends_on:
        found.append(Violation("enrollment.closes_on", "window_within_coverage",
                               "投保期应在保障期结束前截止"))
    return found


def _tier_rules(tiers: tuple[TierDraft, ...]) -> list[Violation]:
    if not tiers:
        return [Violation("tiers", "tiers_required", TIERS_REQUIRED)]
    found: list[Violation] = []
    seen_codes: set[str] = set()
    seen_names: set[str] = set()
    for index, tier in enumerate(tiers):
        path = f"tiers.{index}"
        label = tier.name.strip() or f"第{index + 1}档"
        if not _TIER_CODE.fullmatch(tier.code):
            found.append(Violation(f"{path}.code", "tier_code_format",
                                   "档次代码应为1至32位小写字母、数字、连字符或下划线"))
        elif tier.code in seen_codes:
            found.append(Violation(f"{path}.code", "tier_code_unique",
                                   f"档次代码“{tier.code}”重复，每个档次的代码应唯一"))
        seen_codes.add(tier.code)
        name_violations = _text_rule(tier.name, f"{path}.name", "档次名称", 40)
        if not name_violations and tier.name.strip() in seen_names:
            name_violations.append(Violation(f"{path}.name", "tier_name_unique",
                                             f"档次名称“{label}”重复，每个档次的名称应唯一"))
        seen_names.add(tier.name.strip())
        found += name_violations
        if tier.premium_fen <= 0:
            found.append(Violation(f"{path}.premium_fen", "premium_positive",
                                   f"{label}的保费应大于0元"))
        found += _benefit_rules(tier, path, label)
    return found


def _benefit_rules(tier: TierDraft, path: str, label: str) -> list[Violation]:
    found: list[Violation] = []
    by_category: dict[str, BenefitDraft] = {}
    for benefit in tier.benefits:
        if benefit.category not in {c.value for c in BenefitCategory}:
            found.append(Violation(f"{path}.benefits.{benefit.category}", "benefit_category",
                                   "赔付类别只能是合规费用、合理费用或特定药品费用"))
        elif benefit.category in by_category:
            found.append(Violation(f"{path}.benefits.{benefit.category}", "benefit_unique",
                                   f"{label}·{BenefitCategory(benefit.category).label}"
                                   "的赔付规则重复"))
        else:
            by_category[benefit.category] = benefit
    for category in BenefitCategory:
        where = f"{path}.benefits.{category.value}"
        what = f"{label}·{category.label}"
        rule = by_category.get(category.value)
        if rule is None:
            found.append(Violation(where, "benefit_required",
                                   f"{label}缺少{category.label}的赔付规则（杭州方案 三(四)）"))
            continue
        if rule.deductible_fen < 0:
            found.append(Violation(f"{where}.deductible_fen", "deductible_non_negative",
                                   f"{what}的免赔额不得为负数"))
        elif rule.deductible_fen > MAX_DEDUCTIBLE_FEN:
            found.append(Violation(f"{where}.deductible_fen", "deductible_max",
                                   f"{what}的免赔额不得高于2万元（杭州方案 三(五)）"))
        found += _ratio_rule(rule.ratio_bp, f"{where}.ratio_bp", f"{what}的赔付比例")
        if rule.cap_fen < MIN_CAP_FEN:
            found.append(Violation(f"{where}.cap_fen", "cap_min",
                                   f"{what}的封顶线不得低于100万元（杭州方案 三(五)）"))
        found += _band_rules(rule, where, what)
    return found


MAX_BANDS = 5
MAX_WAITING_DAYS = 180
MAX_PRE_EXISTING = 50
_ICD10_PREFIX = re.compile(r"[A-Z]\d{2}(\.\d{1,2})?")


def _band_rules(rule: BenefitDraft, where: str, what: str) -> list[Violation]:
    found: list[Violation] = []
    if not 0 <= rule.waiting_days <= MAX_WAITING_DAYS:
        found.append(Violation(f"{where}.waiting_days", "waiting_days_range",
                               f"{what}的等待期应为0至{MAX_WAITING_DAYS}天"))
    if len(rule.bands) > MAX_BANDS:
        return [*found, Violation(f"{where}.bands", "bands_max",
                                  f"{what}的分段赔付最多设置{MAX_BANDS}段")]
    previous = 0
    for index, band in enumerate(rule.bands):
        path = f"{where}.bands.{index}"
        if band.above_fen <= previous:
            found.append(Violation(f"{path}.above_fen", "bands_ascending",
                                   f"{what}的分段起点应大于0且逐段递增"))
        previous = max(previous, band.above_fen)
        found += _ratio_rule(band.ratio_bp, f"{path}.ratio_bp", f"{what}的分段赔付比例")
    return found


def _ratio_rule(ratio_bp: int, field: str, what: str) -> list[Violation]:
    """A payout ratio: 70% (杭州方案 三(五)) to 100%."""
    if ratio_bp < MIN_RATIO_BP:
        return [Violation(field, "ratio_min", f"{what}不得低于70%（杭州方案 三(五)）")]
    if ratio_bp > BASIS_POINTS:
        return [Violation(field, "ratio_max", f"{what}不得高于100%")]
    return []


def _percent(ratio_bp: int) -> str:
    whole, rest = divmod(ratio_bp, 100)
    return f"{whole}%" if rest == 0 else f"{whole}.{rest:02d}".rstrip("0") + "%"


def _claim_terms_rules(draft: ProductDraft, floor_bp: int) -> list[Violation]:
    """The deductible mode and the pre-existing conditions (issue 17 item 5)."""
    found: list[Violation] = []
    if draft.deductible_mode not in {mode.value for mode in DeductibleMode}:
        found.append(Violation("deductible_mode", "deductible_mode_values",
                               "免赔额方式只能是 per_category（各类分别计算）或 shared（共用）"))
    elif draft.deductible_mode == DeductibleMode.SHARED.value:
        for index, tier in enumerate(draft.tiers):
            if len({benefit.deductible_fen for benefit in tier.benefits}) > 1:
                label = tier.name.strip() or f"第{index + 1}档"
                found.append(Violation(f"tiers.{index}.benefits", "shared_deductible_equal",
                                       f"共用免赔额时，{label}各类费用的免赔额应相同"))
    if len(draft.pre_existing) > MAX_PRE_EXISTING:
        return [*found, Violation("pre_existing", "pre_existing_max",
                                  f"既往症最多列出{MAX_PRE_EXISTING}项")]
    seen: set[str] = set()
    for index, condition in enumerate(draft.pre_existing):
        path = f"pre_existing.{index}"
        label = condition.name.strip() or condition.code_prefix or f"第{index + 1}项"
        if not _ICD10_PREFIX.fullmatch(condition.code_prefix):
            found.append(Violation(f"{path}.code_prefix", "icd10_prefix",
                                   "既往症应以ICD-10编码前缀表示，如 C22 或 C22.0"))
        elif condition.code_prefix in seen:
            found.append(Violation(f"{path}.code_prefix", "pre_existing_unique",
                                   f"既往症编码“{condition.code_prefix}”重复"))
        seen.add(condition.code_prefix)
        found += _text_rule(condition.name, f"{path}.name", "既往症名称", 40)
        for category in BenefitCategory:
            ratio = condition.ratio(category)
            if ratio is None:
                continue
            where = f"{path}.ratios.{category.value}"
            if ratio < floor_bp:
                found.append(Violation(
                    where, "pre_existing_ratio_min",
                    f"既往症（{label}）·{category.label}的赔付比例不得低于{_percent(floor_bp)}"
                    "（本市既往症赔付比例下限）"))
            elif ratio > BASIS_POINTS:
                found.append(Violation(where, "ratio_max",
                                       f"既往症（{label}）·{category.label}的赔付比例不得高于100%"))
    return found


def highlights(pre_existing: Sequence[PreExistingDraft], waiting_days: Sequence[int],
               deductible_mode: str) -> list[str]:
    """The home page's highlights, from the product's terms (002 四(二): 合理引导预期): never
    "既往症可保可赔" for a product that limits pre-existing conditions."""
    texts = ["无健康告知", "不限年龄"]
    if not pre_existing:
        texts.append("既往症可保可赔")
    else:
        names = "、".join(condition.name for condition in pre_existing[:3])
        more = "等" if len(pre_existing) > 3 else ""
        excluded = any(condition.ratio(category) is None for condition in pre_existing
                       for category in BenefitCategory)
        texts.append(f"既往症可保；{names}{more}既往症按约定比例赔付"
                     f"{'或部分费用不赔' if excluded else ''}")
    longest = max(waiting_days, default=0)
    texts.append(f"首次参保等待期{longest}天，连续续保无等待期" if longest else "无等待期")
    if deductible_mode == DeductibleMode.SHARED.value:
        texts.append("各类费用共用一个年度免赔额")
    return texts


def _payment_rules(draft: ProductDraft) -> list[Violation]:
    found: list[Violation] = []
    if PayableBalances.from_parts(draft.payable_balances) is None:
        found.append(Violation("payable_balances", "payable_balances_values",
                               PAYABLE_BALANCES_VALUES))
    tier_codes = {tier.code for tier in draft.tiers}
    if draft.subsidized_tier is not None and tier_codes and draft.subsidized_tier not in tier_codes:
        # (no tiers at all is reported once, as "tiers_required")
        found.append(Violation("subsidy.tier", "subsidized_tier_unknown",
                               f"资助参保档次“{draft.subsidized_tier}”不是本产品的档次"
                               "（杭州方案 三(三)3）"))
    seen: set[str] = set()
    for index, category in enumerate(draft.subsidized_categories):
        path = f"subsidy.categories.{index}"
        if category not in ALL_ASSISTANCE_CATEGORIES:
            found.append(Violation(path, "assistance_category", UNKNOWN_ASSISTANCE_CATEGORY))
        elif category in seen:
            found.append(Violation(path, "assistance_category_unique",
                                   f"资助人群“{AssistanceCategory(category).label}”重复"))
        seen.add(category)
    return found


def _eligibility_rules(draft: ProductDraft) -> list[Violation]:
    """002 二(一)、三(二), 003 二(一): no age, health, history, occupation condition, ever."""
    found: list[Violation] = []
    if any(question.strip() for question in draft.health_questions):
        found.append(Violation("health_questions", "no_health_questions", NO_HEALTH_CONDITIONS))
    for index, condition in enumerate(draft.eligibility_conditions):
        if mentions_health_condition(condition):
            found.append(Violation(f"eligibility_conditions.{index}", "no_health_conditions",
                                   NO_HEALTH_CONDITIONS))
        elif len(condition) > 200:
            found.append(Violation(f"eligibility_conditions.{index}", "too_long",
                                   "每项参保条件不得超过200个字"))
    return found


def _terms_rules(terms: TermsDraft) -> list[Violation]:
    found = _text_rule(terms.version, "terms.version", "条款版本号", 20)
    if not notice_separates_from_basic_insurance(terms.notice):
        found.append(Violation("terms.notice", "notice_commercial", NOTICE_REQUIRED))
    for name, label in (("coverage", "保障责任"), ("claim_scope", "理赔范围"),
                        ("exclusions", "责任免除")):
        if not getattr(terms, name).strip():
            found.append(Violation(f"terms.{name}", f"{name}_required",
                                   f"条款须写明{label}（湖北指导意见 四(二)）"))
    return found
