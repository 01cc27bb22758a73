"""Marshmallow schemas of the catalog API."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any

from marshmallow import Schema, fields, post_load, validate

from huiminbao.catalog.domain import (
    ALL_ASSISTANCE_CATEGORIES,
    BandDraft,
    BenefitCategory,
    BenefitDraft,
    CoveragePeriod,
    DeductibleMode,
    EnrollmentWindow,
    PayableBalances,
    PreExistingDraft,
    ProductDraft,
    ProductStatus,
    TermsDraft,
    TierDraft,
    highlights,
)
from huiminbao.catalog.models import PreExistingTerm, Product
from huiminbao.core.responses import Computed, ComputedList, ComputedNested, ResponseSchema


class BandSchema(ResponseSchema):
    above_fen = fields.Integer(metadata={
        "description": "above this much of the year's amount after the deductible, fen"})
    ratio_bp = fields.Integer(metadata={"description": "ratio of this band, basis points"})


class BenefitSchema(ResponseSchema):
    category = fields.String(metadata={"description": "compliant | reasonable | special_drug"})
    label = fields.String()
    deductible_fen = fields.Integer(metadata={"description": "annual deductible, fen"})
    ratio_bp = fields.Integer(metadata={
        "description": "reimbursement ratio, basis points (below the first band)"})
    cap_fen = fields.Integer(metadata={"description": "annual cap, fen"})
    bands = fields.List(fields.Nested(BandSchema), metadata={
        "description": "ratio bands after the deductible, ascending; empty: one ratio"})
    waiting_days = fields.Integer(metadata={
        "description": "waiting period of first-time enrollees, days (0: none)"})


class CategoryRatiosSchema(ResponseSchema):
    compliant = fields.Integer(allow_none=True, metadata={"description": "null: not covered"})
    reasonable = fields.Integer(allow_none=True, metadata={"description": "null: not covered"})
    special_drug = fields.Integer(allow_none=True, metadata={"description": "null: not covered"})


class PreExistingSchema(ResponseSchema):
    code_prefix = fields.String(metadata={"description": "ICD-10 code prefix, e.g. C22"})
    name = fields.String(metadata={"description": "e.g. 肝癌"})
    ratios = fields.Nested(CategoryRatiosSchema, metadata={
        "description": "per category: the ratio in basis points, or null (not covered)"})


class TierSchema(ResponseSchema):
    code = fields.String()
    name = fields.String()
    premium_fen = fields.Integer(metadata={"description": "premium per person per year, fen"})
    benefits = fields.List(fields.Nested(BenefitSchema))


class EnrollmentDatesSchema(ResponseSchema):
    """Dumps an ``EnrollmentWindow``."""

    opens_on = fields.Date()
    closes_on = fields.Date(metadata={"description": "inclusive"})


@dataclass(frozen=True)
class WindowOnDay:
    window: EnrollmentWindow
    today: date

    @property
    def opens_on(self) -> date:
        return self.window.opens_on

    @property
    def closes_on(self) -> date:
        return self.window.closes_on

    @property
    def is_open(self) -> bool:
        return self.window.is_open_on(self.today)


class WindowSchema(EnrollmentDatesSchema):
    """Dumps a ``WindowOnDay``."""

    is_open = fields.Boolean()


class CoverageSchema(ResponseSchema):
    """Dumps a ``CoveragePeriod``."""

    starts_on = fields.Date()
    ends_on = fields.Date(metadata={"description": "inclusive"})


class TermsSchema(ResponseSchema):
    version = fields.String()
    notice = fields.String(metadata={"description": "commercial insurance, not basic insurance"})
    coverage = fields.String()
    claim_scope = fields.String()
    exclusions = fields.String()


def _subsidized(product: Product, attribute: str) -> str | None:
    tier = product.subsidized_tier
    return getattr(tier, attribute) if tier else None


class SubsidySchema(ResponseSchema):
    """Dumps a ``Product``'s subsidy."""

    tier = Computed(lambda product: _subsidized(product, "code"), allow_none=True,
                    metadata={"description": "code of the subsidized tier"})
    tier_name = Computed(lambda product: _subsidized(product, "name"), allow_none=True)
    categories = fields.List(fields.String(), attribute="subsidized_category_list", metadata={
        "description": "tekun (特困) | dibao (低保) | dibian (低边) | disabled (残疾人员)",
    })


@dataclass(frozen=True)
class ProductOnDay:
    """A product as of ``today`` (whether its window is open); reads as the product."""

    product: Product
    today: date

    def __getattr__(self, name: str) -> Any:
        return getattr(self.product, name)

    @property
    def enrollment(self) -> WindowOnDay:
        return WindowOnDay(self.product.window, self.today)


class ProductSchema(ResponseSchema):
    """Dumps a ``ProductOnDay``."""

    id = fields.Integer()
    code = fields.String()
    name = fields.String()
    status = fields.String(metadata={"description": "draft | published | withdrawn"})
    city_code = fields.String()
    city_name = fields.String()
    year = fields.Integer(metadata={"description": "the year coverage starts"})
    insurer = fields.String()
    first_year = fields.Boolean(metadata={
        "description": "the scheme's first year (window at most two months, 003 三(八))",
    })
    enrollment = fields.Nested(WindowSchema)
    coverage = fields.Nested(CoverageSchema)
    payable_balances = ComputedList(lambda product: product.payable_balances.split(","),
                                    fields.String(), metadata={
        "description": "personal-account balances that may pay, in order drawn",
    })
    tiers = fields.List(fields.Nested(TierSchema))
    subsidy = ComputedNested(lambda product: product.product, SubsidySchema)
    eligibility_conditions = fields.List(fields.String(), attribute="eligibility_condition_list")
    health_questions = fields.List(fields.String(), attribute="health_question_list",
                                   metadata={"description": "always empty"})
    terms = fields.Nested(TermsSchema, attribute="current_terms", allow_none=True)
    deductible_mode = fields.String(metadata={"description": "per_category | shared"})
    pre_existing = fields.List(fields.Nested(PreExistingSchema), metadata={
        "description": "pre-existing conditions (既往症) paid at their own ratios or not at all, "
                       "when the registry recorded the diagnosis before coverage started"})
    highlights = ComputedList(lambda product: product_highlights(product.product),
                              fields.String(), metadata={
        "description": "the product's highlights, derived from its terms"})


class ProductListSchema(ResponseSchema):
    items = fields.List(fields.Nested(ProductSchema))


class ProductQuerySchema(Schema):
    city_code = fields.String(
        load_default=None,
        validate=validate.Regexp(r"^\d{6}$", error="城市代码应为6位数字"),
        metadata={"description": "6-digit city code; defaults to the deployment's city"},
    )


def product_highlights(product: Product) -> list[str]:
    return highlights(
        [pre_existing_draft(term) for term in product.pre_existing],
        [benefit.waiting_days for tier in product.tiers for benefit in tier.benefits],
        product.deductible_mode)


def pre_existing_draft(term: PreExistingTerm) -> PreExistingDraft:
    return PreExistingDraft(term.code_prefix, term.name, term.compliant_ratio_bp,
                            term.reasonable_ratio_bp, term.special_drug_ratio_bp)


# ---------------------------------------------------------------- administrator's product draft
#
# The schema checks only shape and types; every business rule (DESIGN.md §2) is checked by
# ``catalog.domain.validate_product`` so that all violations are reported together.

_MAX_FEN = 10**12  # 100亿元: beyond any premium, deductible or cap, and within BIGINT
_MONEY = validate.Range(max=_MAX_FEN, error="金额超出允许范围")
_STATUS = validate.OneOf(
    [ProductStatus.DRAFT.value, ProductStatus.PUBLISHED.value],
    error="产品状态只能是 draft（草稿）或 published（直接发布）",
)


def _fen(description: str) -> fields.Integer:
    return fields.Integer(required=True, strict=True, validate=_MONEY,
                          metadata={"description": description})


class BandInSchema(Schema):
    above_fen = _fen("above this much of the year's amount after the deductible, fen")
    ratio_bp = fields.Integer(required=True, strict=True, metadata={
        "description": "the band's ratio, basis points (at least 7000 = 70 %)"})


class BenefitRuleInSchema(Schema):
    deductible_fen = _fen("annual deductible, fen (at most 2,000,000 = ¥20,000)")
    ratio_bp = fields.Integer(required=True, strict=True, metadata={
        "description": "reimbursement ratio, basis points (at least 7000 = 70 %)",
    })
    cap_fen = _fen("annual cap, fen (at least 100,000,000 = ¥1,000,000)")
    bands = fields.List(fields.Nested(BandInSchema), load_default=list, metadata={
        "description": "ratio bands after the deductible, ascending (at most 5)"})
    waiting_days = fields.Integer(load_default=0, strict=True, metadata={
        "description": "waiting period of first-time enrollees, days (0..180; renewals none)"})


class CategoryRatiosInSchema(Schema):
    compliant = fields.Integer(required=True, strict=True, allow_none=True,
                               metadata={"description": "basis points; null: not covered"})
    reasonable = fields.Integer(required=True, strict=True, allow_none=True,
                                metadata={"description": "basis points; null: not covered"})
    special_drug = fields.Integer(required=True, strict=True, allow_none=True,
                                  metadata={"description": "basis points; null: not covered"})


class PreExistingInSchema(Schema):
    code_prefix = fields.String(required=True, metadata={"description": "ICD-10 prefix, e.g. C22"})
    name = fields.String(required=True, metadata={"description": "e.g. 肝癌"})
    ratios = fields.Nested(CategoryRatiosInSchema, required=True)


class TierBenefitsInSchema(Schema):
    compliant = fields.Nested(BenefitRuleInSchema, load_default=None,
                              metadata={"description": "医保范围内合规费用"})
    reasonable = fields.Nested(BenefitRuleInSchema, load_default=None,
                               metadata={"description": "医保范围外合理费用"})
    special_drug = fields.Nested(BenefitRuleInSchema, load_default=None,
                                 metadata={"description": "特定药品费用"})


class TierInSchema(Schema):
    code = fields.String(required=True, metadata={"description": "e.g. standard"})
    name = fields.String(required=True, metadata={"description": "e.g. 标准版"})
    premium_fen = _fen("premium per person per year, fen")
    benefits = fields.Nested(TierBenefitsInSchema, required=True, metadata={
        "description": "all three categories are required",
    })


class WindowInSchema(Schema):
    opens_on = fields.Date(required=True)
    closes_on = fields.Date(required=True, metadata={"description": "inclusive"})


class CoverageInSchema(Schema):
    starts_on = fields.Date(required=True)
    ends_on = fields.Date(required=True, metadata={"description": "inclusive; at most one year"})


class SubsidyInSchema(Schema):
    tier = fields.String(load_default=None, allow_none=True,
                         metadata={"description": "tier code; default: the cheapest tier"})
    categories = fields.List(fields.String(), load_default=lambda: list(ALL_ASSISTANCE_CATEGORIES),
                             metadata={"description": "subset of tekun, dibao, dibian, disabled; "
                                                      "default: all four"})


class TermsInSchema(Schema):
    version = fields.String(required=True, metadata={"description": "e.g. 2027.1"})
    notice = fields.String(required=True, metadata={
        "description": "must say 商业保险 and 不是基本医疗保险 (or 非基本医保)",
    })
    coverage = fields.String(required=True)
    claim_scope = fields.String(required=True)
    exclusions = fields.String(required=True)


class ProductDraftSchema(Schema):
    """A product for one city and year, as the administrator configures it."""

    code = fields.String(required=True, metadata={"description": "unique, e.g. XHYLB-2027"})
    name = fields.String(required=True)
    city_code = fields.String(required=True, metadata={"description": "6-digit division code"})
    city_name = fields.String(required=True)
    insurer = fields.String(required=True)
    status = fields.String(load_default=ProductStatus.DRAFT.value, validate=_STATUS)
    first_year = fields.Boolean(required=True, metadata={
        "description": "the scheme's first year: the window may be at most two calendar months",
    })
    enrollment = fields.Nested(WindowInSchema, required=True)
    coverage = fields.Nested(CoverageInSchema, required=True)
    payable_balances = fields.List(
        fields.String(), load_default=lambda: list(PayableBalances.PRIOR_YEARS.parts),
        metadata={"description": '["prior_years"] or ["prior_years", "current_year"]'},
    )
    tiers = fields.List(fields.Nested(TierInSchema), required=True)
    subsidy = fields.Nested(SubsidyInSchema, load_default=lambda: {
        "tier": None, "categories": list(ALL_ASSISTANCE_CATEGORIES),
    })
    eligibility_conditions = fields.List(fields.String(), load_default=list, metadata={
        "description": "who may enroll; no health, age, history or occupation condition",
    })
    health_questions = fields.List(fields.String(), load_default=list, metadata={
        "description": "must be empty: the product never asks a health question",
    })
    terms = fields.Nested(TermsInSchema, required=True)
    deductible_mode = fields.String(load_default=DeductibleMode.PER_CATEGORY.value, metadata={
        "description": "per_category (each category its own deductible) or shared (one for all;"
                       " the categories' deductibles must then be equal)"})
    pre_existing = fields.List(fields.Nested(PreExistingInSchema), load_default=list, metadata={
        "description": "pre-existing conditions paid at their own ratio per category or not at "
                       "all; ratios at least the city's floor (default 70 %)"})

    @post_load
    def to_draft(self, data: dict[str, Any], **_: Any) -> ProductDraft:
        return ProductDraft(
            code=data["code"].strip(),
            name=data["name"].strip(),
            city_code=data["city_code"].strip(),
            city_name=data["city_name"].strip(),
            insurer=data["insurer"].strip(),
            status=ProductStatus(data["status"]),
            first_year=data["first_year"],
            window=EnrollmentWindow(data["enrollment"]["opens_on"],
                                    data["enrollment"]["closes_on"]),
            coverage=CoveragePeriod(data["coverage"]["starts_on"], data["coverage"]["ends_on"]),
            payable_balances=tuple(data["payable_balances"]),
            tiers=tuple(_tier_draft(tier) for tier in data["tiers"]),
            subsidized_tier=data["subsidy"]["tier"],
            subsidized_categories=tuple(data["subsidy"]["categories"]),
            eligibility_conditions=tuple(
                " ".join(condition.split()) for condition in data["eligibility_conditions"]
                if condition.strip()
            ),
            health_questions=tuple(data["health_questions"]),
            terms=TermsDraft(**{key: value.strip() for key, value in data["terms"].items()}),
            deductible_mode=data["deductible_mode"].strip(),
            pre_existing=tuple(
                PreExistingDraft(item["code_prefix"].strip().upper(), item["name"].strip(),
                                 item["ratios"]["compliant"], item["ratios"]["reasonable"],
                                 item["ratios"]["special_drug"])
                for item in data["pre_existing"]),
        )


def _tier_draft(tier: dict[str, Any]) -> TierDraft:
    return TierDraft(
        code=tier["code"].strip(),
        name=tier["name"].strip(),
        premium_fen=tier["premium_fen"],
        benefits=tuple(
            BenefitDraft(category.value, rule["deductible_fen"], rule["ratio_bp"], rule["cap_fen"],
                         tuple(BandDraft(b["above_fen"], b["ratio_bp"]) for b in rule["bands"]),
                         rule["waiting_days"])
            for category in BenefitCategory
            if (rule := tier["benefits"][category.value]) is not None
        ),
    )



# ---------------------------------------------------------------- help (客服与投诉)


class ServicePointSchema(ResponseSchema):
    name = fields.String()
    address = fields.String()
    hours = fields.String()
    map_text = fields.String(metadata={"description": "the text a map link shows (may be empty)"})


class FaqSchema(ResponseSchema):
    question = fields.String()
    answer = fields.String()


class HelpSchema(ResponseSchema):
    product_id = fields.Integer(allow_none=True)
    product_name = fields.String()
    configured = fields.Boolean(metadata={"description": "false until the operator sets it"})
    hotline = fields.String()
    service_hours = fields.String()
    service_points = fields.List(fields.Nested(ServicePointSchema))
    faq = fields.List(fields.Nested(FaqSchema))


class ServicePointInSchema(Schema):
    name = fields.String(required=True)
    address = fields.String(required=True)
    hours = fields.String(required=True)
    map_text = fields.String(load_default="")


class FaqInSchema(Schema):
    question = fields.String(required=True)
    answer = fields.String(required=True)


class HelpInSchema(Schema):
    """Checked in Chinese by ``catalog.help.check_help`` (lengths, the hotline's form)."""

    hotline = fields.String(required=True, metadata={"description": "e.g. 0571-88888888"})
    service_hours = fields.String(required=True)
    service_points = fields.List(fields.Nested(ServicePointInSchema), load_default=list)
    faq = fields.List(fields.Nested(FaqInSchema), load_default=list)
