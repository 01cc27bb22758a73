"""The payout calculation: pure code, no Flask, no database (003 三(四)、三(五)).

Input: the tier's benefit rules and item lists, what the insured person's earlier claims in the
same policy year already used (deductibles and payouts, per category), and one bill: the in-policy
costs left to the person (合规费用) and out-of-policy items ``{code, name, amount}``.

- Items whose code is on the product's 特药 list count as 特定药品费用; on its 合理 list as
  医保范围外合理费用; anything else is not covered and is listed with the reason. (A code on both
  lists counts as 特药: the lists are kept disjoint by a unique constraint anyway.)
- For each category separately: the part of the annual deductible not yet used is taken first,
  the rest is paid at the category's ratio, floored to the fen with integer arithmetic
  (``amount * ratio_bp // 10000``), and limited by what is left of the category's annual cap.
  特药 follows the same rule; its deductible is the tier's (0 in the demo product).
- Deductibles and caps are consumed in the order claims are approved: the caller passes the
  year-to-date usage as it stands when this claim is approved.

The product's terms beyond one ratio (issue 17 item 5), each optional:

- **Shared deductible** (``PayoutRules.shared_deductible``): one annual deductible for all
  categories (the tiers' deductibles are then equal, checked at publication), consumed in
  ``CATEGORY_ORDER``; otherwise each category has its own (the default reading).
- **Ratio bands** (``CategoryRule.bands``): after the deductible, the category's ``ratio_bp``
  applies from ¥0 and each band's ratio above its ``above_fen``; the amounts count over the
  policy year (``CategoryUsage.banded_fen``), so a second claim continues where the first ended.
- **Waiting period** (``CategoryRule.waiting_days``): a first-time enrollee's treatment that
  starts within that many days of the coverage start is not paid in the category (an
  uninterrupted renewal has none; the caller decides which one the insured is).
- **Pre-existing conditions** (``PayoutRules.pre_existing``): when one of the claim's diagnoses
  and one of the insured's diagnoses recorded before the coverage started share a listed ICD-10
  prefix, each category pays at the condition's ratio (no bands) or not at all.

All money is integer fen; ratios are basis points (7500 = 75 %).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, timedelta
from enum import StrEnum
from itertools import pairwise

from huiminbao.catalog.domain import BASIS_POINTS, BenefitCategory
from huiminbao.core.money import format_fen, format_percent

CATEGORY_ORDER: tuple[BenefitCategory, ...] = (
    BenefitCategory.COMPLIANT, BenefitCategory.REASONABLE, BenefitCategory.SPECIAL_DRUG,
)
NOT_LISTED = "不在本产品合理费用清单和特药清单内，不属于保障范围"


def normalize_code(code: str) -> str:
    return code.strip().upper()


def apply_ratio(amount_fen: int, ratio_bp: int) -> int:
    """Pay ``ratio_bp`` of ``amount_fen``, floored to the fen."""
    return amount_fen * ratio_bp // BASIS_POINTS


# ---------------------------------------------------------------- inputs


@dataclass(frozen=True)
class Band:
    """Above ``above_fen`` of the year's amount after the deductible, pay ``ratio_bp``."""

    above_fen: int
    ratio_bp: int


@dataclass(frozen=True)
class CategoryRule:
    deductible_fen: int  # annual
    ratio_bp: int  # from the first fen after the deductible
    cap_fen: int  # annual
    bands: tuple[Band, ...] = ()  # ascending ``above_fen``, each above 0
    waiting_days: int = 0  # first-time enrollees only

    def __post_init__(self) -> None:
        if self.deductible_fen < 0 or self.cap_fen < 0:
            raise ValueError("deductible and cap must not be negative")
        ratios = [self.ratio_bp, *(band.ratio_bp for band in self.bands)]
        if not all(0 <= ratio <= BASIS_POINTS for ratio in ratios):
            raise ValueError("ratio must be 0..10000 basis points")
        edges = [0, *(band.above_fen for band in self.bands)]
        if any(low >= high for low, high in pairwise(edges)):
            raise ValueError("bands must start above 0 and ascend")
        if self.waiting_days < 0:
            raise ValueError("waiting days must not be negative")

    def schedule(self) -> list[tuple[int, int | None, int]]:
        """(from, to or None for no end, ratio) of each band, from 0."""
        edges = [(0, self.ratio_bp), *((b.above_fen, b.ratio_bp) for b in self.bands)]
        return [(low, edges[i + 1][0] if i + 1 < len(edges) else None, ratio)
                for i, (low, ratio) in enumerate(edges)]


@dataclass(frozen=True)
class PreExistingCondition:
    """A listed condition (ICD-10 code prefix, e.g. ``C22`` 肝癌) and what each category pays
    for it: a ratio, or None for "not covered". A category left out pays under its general
    rule."""

    prefix: str
    name: str
    ratios: Mapping[BenefitCategory, int | None]

    def matches(self, code: str) -> bool:
        return normalize_code(code).replace(".", "").startswith(
            normalize_code(self.prefix).replace(".", ""))


@dataclass(frozen=True)
class Diagnosis:
    code: str  # ICD-10
    diagnosed_on: date


@dataclass(frozen=True)
class Circumstances:
    """What the terms need beyond the bill: the claim's diagnoses and first day of treatment,
    the insured's diagnoses in the registry's records, the coverage start, and whether the
    insured enrolls for the first time (no uninterrupted policy the year before)."""

    diagnosis_codes: tuple[str, ...] = ()
    prior_diagnoses: tuple[Diagnosis, ...] = ()
    coverage_starts_on: date | None = None
    treated_on: date | None = None
    first_enrollment: bool = False


class LineBasis(StrEnum):
    STANDARD = "standard"  # the category's ratio and bands
    PRE_EXISTING = "pre_existing"  # the condition's ratio
    NOT_COVERED = "not_covered"  # a pre-existing condition this category does not cover
    WAITING = "waiting"  # within a first-time enrollee's waiting period


@dataclass(frozen=True)
class PayoutRules:
    """One tier's rules: a ``CategoryRule`` for each of the three categories, and the product's
    特药 and 合理 lists (code → listed name)."""

    benefits: Mapping[BenefitCategory, CategoryRule]
    special_drugs: Mapping[str, str] = field(default_factory=dict)
    reasonable_items: Mapping[str, str] = field(default_factory=dict)
    shared_deductible: bool = False
    pre_existing: tuple[PreExistingCondition, ...] = ()

    def __post_init__(self) -> None:
        missing = [c.value for c in CATEGORY_ORDER if c not in self.benefits]
        if missing:
            raise ValueError(f"rules missing for {', '.join(missing)}")

    def rule(self, category: BenefitCategory) -> CategoryRule:
        return self.benefits[category]

    def category_of(self, code: str) -> BenefitCategory | None:
        code = normalize_code(code)
        if code in self.special_drugs:
            return BenefitCategory.SPECIAL_DRUG
        if code in self.reasonable_items:
            return BenefitCategory.REASONABLE
        return None


@dataclass(frozen=True)
class BillItem:
    code: str
    name: str
    amount_fen: int


@dataclass(frozen=True)
class Bill:
    in_policy_self_pay_fen: int  # 合规费用: in-policy costs left to the person
    items: tuple[BillItem, ...] = ()

    def __post_init__(self) -> None:
        if self.in_policy_self_pay_fen < 0:
            raise ValueError("in-policy self-pay must not be negative")
        if any(item.amount_fen <= 0 for item in self.items):
            raise ValueError("item amounts must be positive")

    @property
    def total_fen(self) -> int:
        return self.in_policy_self_pay_fen + sum(item.amount_fen for item in self.items)


@dataclass(frozen=True)
class CategoryUsage:
    deductible_used_fen: int = 0
    paid_fen: int = 0
    banded_fen: int = 0  # amount after the deductible already paid under the bands


@dataclass(frozen=True)
class YearToDate:
    """What earlier counted claims of the policy year used, per category."""

    usage: Mapping[BenefitCategory, CategoryUsage] = field(default_factory=dict)

    def of(self, category: BenefitCategory) -> CategoryUsage:
        return self.usage.get(category, CategoryUsage())

    @property
    def deductible_used_fen(self) -> int:
        """Over all categories (what a shared deductible has used)."""
        return sum(usage.deductible_used_fen for usage in self.usage.values())

    def plus(self, breakdown: Breakdown) -> YearToDate:
        combined = dict(self.usage)
        for line in breakdown.lines:
            before = self.of(line.category)
            combined[line.category] = CategoryUsage(
                before.deductible_used_fen + line.deductible_used_fen,
                before.paid_fen + line.payout_fen,
                before.banded_fen + line.banded_fen,
            )
        return YearToDate(combined)

    @classmethod
    def of_claims(cls, breakdowns: Iterable[Breakdown]) -> YearToDate:
        total = cls()
        for breakdown in breakdowns:
            total = total.plus(breakdown)
        return total


# ---------------------------------------------------------------- output


@dataclass(frozen=True)
class Segment:
    """A part of the amount after the deductible paid at one ratio."""

    amount_fen: int
    ratio_bp: int
    paid_fen: int


@dataclass(frozen=True)
class CategoryPayout:
    category: BenefitCategory
    eligible_fen: int
    deductible_fen: int  # the rule's annual deductible
    deductible_remaining_fen: int  # not yet used before this claim
    deductible_used_fen: int  # taken by this claim
    ratio_bp: int
    cap_fen: int  # the rule's annual cap
    cap_remaining_fen: int  # left before this claim
    computed_fen: int  # (eligible - deductible used) at the ratio, before the cap
    payout_fen: int
    items: tuple[BillItem, ...] = ()
    basis: LineBasis = LineBasis.STANDARD
    note: str | None = None  # the pre-existing condition or waiting period, in Chinese
    segments: tuple[Segment, ...] = ()  # empty: one segment at ``ratio_bp``

    @property
    def banded_fen(self) -> int:
        """What this line adds to the year's banded amount."""
        if self.basis is not LineBasis.STANDARD:
            return 0
        return self.eligible_fen - self.deductible_used_fen

    @property
    def capped(self) -> bool:
        return self.payout_fen < self.computed_fen

    @property
    def deductible_left_after_fen(self) -> int:
        return self.deductible_remaining_fen - self.deductible_used_fen

    @property
    def label(self) -> str:
        return self.category.label

    def describe(self) -> str:
        """The line in plain Chinese, e.g. "医保范围内合规费用 ¥30,000.00，扣除免赔额
        ¥20,000.00 后按 75% 赔付 ¥7,500.00"."""
        head = f"{self.label} {format_fen(self.eligible_fen)}"
        how = f"按 {format_percent(self.ratio_bp)}"
        rest = self.eligible_fen - self.deductible_used_fen
        if self.eligible_fen == 0:
            return f"{head}，无需赔付"
        if self.basis in (LineBasis.WAITING, LineBasis.NOT_COVERED):
            return f"{head}，{self.note}，本次赔付 ¥0.00"
        if self.basis is LineBasis.PRE_EXISTING and self.note:
            head = f"{head}（{self.note}）"
        if len(self.segments) > 1:
            how = "分段按 " + "、".join(f"{format_fen(s.amount_fen)} × {format_percent(s.ratio_bp)}"
                                       for s in self.segments)
        if rest == 0:
            return (f"{head}，全部计入年度免赔额（本年度免赔额尚余 "
                    f"{format_fen(self.deductible_left_after_fen)}），本次赔付 ¥0.00")
        if self.deductible_used_fen:
            basis = f"{head}，扣除免赔额 {format_fen(self.deductible_used_fen)} 后{how}"
        elif self.deductible_fen:
            basis = f"{head}，年度免赔额已扣除完毕，{how}"
        else:
            basis = f"{head}，{how}"
        if self.capped:
            return (f"{basis} 计算为 {format_fen(self.computed_fen)}，受年度封顶线限制（本年度"
                    f"剩余额度 {format_fen(self.cap_remaining_fen)}），赔付 "
                    f"{format_fen(self.payout_fen)}")
        return f"{basis} 赔付 {format_fen(self.payout_fen)}"


@dataclass(frozen=True)
class UncoveredItem:
    item: BillItem
    reason: str


@dataclass(frozen=True)
class Breakdown:
    lines: tuple[CategoryPayout, ...]  # one per category, in ``CATEGORY_ORDER``
    uncovered: tuple[UncoveredItem, ...] = ()

    @property
    def total_fen(self) -> int:
        return sum(line.payout_fen for line in self.lines)

    @property
    def eligible_fen(self) -> int:
        return sum(line.eligible_fen for line in self.lines)

    @property
    def uncovered_fen(self) -> int:
        return sum(entry.item.amount_fen for entry in self.uncovered)

    def line(self, category: BenefitCategory) -> CategoryPayout:
        return next(line for line in self.lines if line.category is category)

    def describe(self) -> list[str]:
        """Every line with costs, every item not covered, and the total, in plain Chinese."""
        texts = [line.describe() for line in self.lines if line.eligible_fen]
        texts += [f"{entry.item.name}（{entry.item.code}）{format_fen(entry.item.amount_fen)}："
                  f"{entry.reason}" for entry in self.uncovered]
        texts.append(f"合计赔付 {format_fen(self.total_fen)}")
        return texts


# ---------------------------------------------------------------- the calculation


def classify(rules: PayoutRules, items: Iterable[BillItem]
             ) -> tuple[dict[BenefitCategory, list[BillItem]], list[UncoveredItem]]:
    listed: dict[BenefitCategory, list[BillItem]] = {
        BenefitCategory.REASONABLE: [], BenefitCategory.SPECIAL_DRUG: []}
    uncovered: list[UncoveredItem] = []
    for item in items:
        category = rules.category_of(item.code)
        if category is None:
            uncovered.append(UncoveredItem(item, NOT_LISTED))
        else:
            listed[category].append(item)
    return listed, uncovered


def banded(rule: CategoryRule, before_fen: int, amount_fen: int) -> tuple[Segment, ...]:
    """``amount_fen`` after the deductible, split over the rule's bands given ``before_fen``
    already paid under them this year; each part paid at its ratio, floored to the fen."""
    segments: list[Segment] = []
    start, end = before_fen, before_fen + amount_fen
    for low, high, ratio in rule.schedule():
        part = min(end, high if high is not None else end) - max(start, low)
        if part > 0:
            segments.append(Segment(part, ratio, apply_ratio(part, ratio)))
    return tuple(segments)


def pre_existing_condition(rules: PayoutRules, circumstances: Circumstances
                           ) -> PreExistingCondition | None:
    """The listed condition the claim treats and the registry recorded for the insured before
    the coverage started, or None."""
    starts_on = circumstances.coverage_starts_on
    if starts_on is None:
        return None
    earlier = [d.code for d in circumstances.prior_diagnoses if d.diagnosed_on < starts_on]
    for condition in rules.pre_existing:
        if (any(condition.matches(code) for code in circumstances.diagnosis_codes)
                and any(condition.matches(code) for code in earlier)):
            return condition
    return None


def in_waiting_period(rule: CategoryRule, circumstances: Circumstances) -> bool:
    """A first-time enrollee's treatment starting within the category's waiting days."""
    starts_on, treated_on = circumstances.coverage_starts_on, circumstances.treated_on
    if not (circumstances.first_enrollment and rule.waiting_days and starts_on and treated_on):
        return False
    return treated_on < starts_on + timedelta(days=rule.waiting_days)


def pay_category(category: BenefitCategory, rule: CategoryRule, eligible_fen: int,
                 used: CategoryUsage, items: tuple[BillItem, ...] = (), *,
                 basis: LineBasis = LineBasis.STANDARD, ratio_bp: int | None = None,
                 deductible_remaining_fen: int | None = None,
                 note: str | None = None) -> CategoryPayout:
    """One category's line. ``deductible_remaining_fen`` overrides the category's own (a shared
    deductible); ``ratio_bp`` is a pre-existing condition's ratio."""
    deductible_remaining = (max(0, rule.deductible_fen - used.deductible_used_fen)
                            if deductible_remaining_fen is None else deductible_remaining_fen)
    segments: tuple[Segment, ...] = ()
    deductible_used, ratio = 0, 0
    if basis in (LineBasis.STANDARD, LineBasis.PRE_EXISTING):
        deductible_used = min(eligible_fen, deductible_remaining)
        rest = eligible_fen - deductible_used
        if basis is LineBasis.PRE_EXISTING:
            assert ratio_bp is not None
            ratio = ratio_bp
            segments = (Segment(rest, ratio_bp, apply_ratio(rest, ratio_bp)),) if rest else ()
        else:
            segments = banded(rule, used.banded_fen, rest)
            ratio = segments[0].ratio_bp if segments else rule.ratio_bp
    computed = sum(segment.paid_fen for segment in segments)
    cap_remaining = max(0, rule.cap_fen - used.paid_fen)
    return CategoryPayout(
        category=category, eligible_fen=eligible_fen, deductible_fen=rule.deductible_fen,
        deductible_remaining_fen=deductible_remaining, deductible_used_fen=deductible_used,
        ratio_bp=ratio, cap_fen=rule.cap_fen, cap_remaining_fen=cap_remaining,
        computed_fen=computed, payout_fen=min(computed, cap_remaining), items=items,
        basis=basis, note=note, segments=segments,
    )


def _basis(rules: PayoutRules, category: BenefitCategory, circumstances: Circumstances,
           condition: PreExistingCondition | None) -> tuple[LineBasis, int | None, str | None]:
    rule = rules.rule(category)
    if in_waiting_period(rule, circumstances):
        return (LineBasis.WAITING, None,
                f"首次参保等待期（保障开始后{rule.waiting_days}天）内发生，不予赔付")
    if condition is not None and category in condition.ratios:
        ratio = condition.ratios[category]
        if ratio is None:
            return (LineBasis.NOT_COVERED, None,
                    f"既往症（{condition.name}）不属于{category.label}的保障范围")
        return LineBasis.PRE_EXISTING, ratio, f"既往症：{condition.name}"
    return LineBasis.STANDARD, None, None


def calculate(rules: PayoutRules, bill: Bill, earlier: YearToDate | None = None,
              circumstances: Circumstances | None = None) -> Breakdown:
    """The payout of ``bill`` given what ``earlier`` claims of the policy year used and the
    ``circumstances`` the terms ask about (none: no waiting period, nothing pre-existing)."""
    earlier = earlier or YearToDate()
    circumstances = circumstances or Circumstances()
    listed, uncovered = classify(rules, bill.items)
    eligible = {
        BenefitCategory.COMPLIANT: bill.in_policy_self_pay_fen,
        BenefitCategory.REASONABLE: sum(i.amount_fen for i in listed[BenefitCategory.REASONABLE]),
        BenefitCategory.SPECIAL_DRUG: sum(
            i.amount_fen for i in listed[BenefitCategory.SPECIAL_DRUG]),
    }
    condition = pre_existing_condition(rules, circumstances)
    shared_left: int | None = None
    if rules.shared_deductible:
        shared = rules.rule(CATEGORY_ORDER[0]).deductible_fen
        shared_left = max(0, shared - earlier.deductible_used_fen)
    lines: list[CategoryPayout] = []
    for category in CATEGORY_ORDER:
        basis, ratio, note = _basis(rules, category, circumstances, condition)
        line = pay_category(category, rules.rule(category), eligible[category],
                            earlier.of(category), tuple(listed.get(category, ())),
                            basis=basis, ratio_bp=ratio, deductible_remaining_fen=shared_left,
                            note=note)
        if shared_left is not None:
            shared_left -= line.deductible_used_fen
        lines.append(line)
    return Breakdown(tuple(lines), tuple(uncovered))
