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

All money is integer fen; ratios are basis points (7500 = 75 %).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

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
class CategoryRule:
    deductible_fen: int  # annual
    ratio_bp: int
    cap_fen: int  # annual

    def __post_init__(self) -> None:
        if self.deductible_fen < 0 or self.cap_fen < 0:
            raise ValueError("deductible and cap must not be negative")
        if not 0 <= self.ratio_bp <= BASIS_POINTS:
            raise ValueError("ratio must be 0..10000 basis points")


@dataclass(frozen=True)
class PayoutRules:
    """One tier's rules: a ``CategoryRule`` for each of the three categories, and the product's
    特药 and 合理 lists (code → listed name)."""

    benefits: Mapping[BenefitCategory, CategoryRule]
    special_drugs: Mapping[str, str] = field(default_factory=dict)
    reasonable_items: Mapping[str, str] = field(default_factory=dict)

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


@dataclass(frozen=True)
class YearToDate:
    """What earlier counted claims of the policy year used, per category."""

    usage: Mapping[BenefitCategory, CategoryUsage] = field(default_factory=dict)

    def of(self, category: BenefitCategory) -> CategoryUsage:
        return self.usage.get(category, CategoryUsage())

    def plus(self, breakdown: Breakdown) -> YearToDate:
        combined = dict(self.usage)
        for line in breakdown.lines:
            before = self.of(line.category)
            combined[line.category] = CategoryUsage(
                before.deductible_used_fen + line.deductible_used_fen,
                before.paid_fen + line.payout_fen,
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
        ratio = format_percent(self.ratio_bp)
        rest = self.eligible_fen - self.deductible_used_fen
        if self.eligible_fen == 0:
            return f"{head}，无需赔付"
        if rest == 0:
            return (f"{head}，全部计入年度免赔额（本年度免赔额尚余 "
                    f"{format_fen(self.deductible_left_after_fen)}），本次赔付 ¥0.00")
        if self.deductible_used_fen:
            basis = f"{head}，扣除免赔额 {format_fen(self.deductible_used_fen)} 后按 {ratio}"
        elif self.deductible_fen:
            basis = f"{head}，年度免赔额已扣除完毕，按 {ratio}"
        else:
            basis = f"{head}，按 {ratio}"
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


def pay_category(category: BenefitCategory, rule: CategoryRule, eligible_fen: int,
                 used: CategoryUsage, items: tuple[BillItem, ...] = ()) -> CategoryPayout:
    deductible_remaining = max(0, rule.deductible_fen - used.deductible_used_fen)
    deductible_used = min(eligible_fen, deductible_remaining)
    computed = apply_ratio(eligible_fen - deductible_used, rule.ratio_bp)
    cap_remaining = max(0, rule.cap_fen - used.paid_fen)
    return CategoryPayout(
        category=category, eligible_fen=eligible_fen, deductible_fen=rule.deductible_fen,
        deductible_remaining_fen=deductible_remaining, deductible_used_fen=deductible_used,
        ratio_bp=rule.ratio_bp, cap_fen=rule.cap_fen, cap_remaining_fen=cap_remaining,
        computed_fen=computed, payout_fen=min(computed, cap_remaining), items=items,
    )


def calculate(rules: PayoutRules, bill: Bill, earlier: YearToDate | None = None) -> Breakdown:
    """The payout of ``bill`` given what ``earlier`` claims of the policy year used."""
    earlier = earlier or YearToDate()
    listed, uncovered = classify(rules, bill.items)
    eligible = {
        BenefitCategory.COMPLIANT: bill.in_policy_self_pay_fen,
        BenefitCategory.REASONABLE: sum(i.amount_fen for i in listed[BenefitCategory.REASONABLE]),
        BenefitCategory.SPECIAL_DRUG: sum(
            i.amount_fen for i in listed[BenefitCategory.SPECIAL_DRUG]),
    }
    lines = tuple(
        pay_category(category, rules.rule(category), eligible[category], earlier.of(category),
                     tuple(listed.get(category, ())))
        for category in CATEGORY_ORDER
    )
    return Breakdown(lines, tuple(uncovered))
