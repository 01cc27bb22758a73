"""Marshmallow schemas of the catalog API."""

from __future__ import annotations

from typing import Any

from marshmallow import Schema, fields, validate

from huiminbao.catalog.models import Product


class BenefitSchema(Schema):
    category = fields.String(metadata={"description": "compliant | reasonable | special_drug"})
    label = fields.String()
    deductible_fen = fields.Integer(metadata={"description": "annual deductible, fen"})
    ratio_bp = fields.Integer(metadata={"description": "reimbursement ratio, basis points"})
    cap_fen = fields.Integer(metadata={"description": "annual cap, fen"})


class TierSchema(Schema):
    code = fields.String()
    name = fields.String()
    premium_fen = fields.Integer(metadata={"description": "premium per person per year, fen"})
    benefits = fields.List(fields.Nested(BenefitSchema))


class WindowSchema(Schema):
    opens_on = fields.Date()
    closes_on = fields.Date(metadata={"description": "inclusive"})
    is_open = fields.Boolean()


class CoverageSchema(Schema):
    starts_on = fields.Date()
    ends_on = fields.Date(metadata={"description": "inclusive"})


class TermsSchema(Schema):
    version = fields.String()
    notice = fields.String(metadata={"description": "commercial insurance, not basic insurance"})
    coverage = fields.String()
    claim_scope = fields.String()
    exclusions = fields.String()


class ProductSchema(Schema):
    id = fields.Integer()
    code = fields.String()
    name = fields.String()
    city_code = fields.String()
    city_name = fields.String()
    year = fields.Integer()
    insurer = fields.String()
    enrollment = fields.Nested(WindowSchema)
    coverage = fields.Nested(CoverageSchema)
    payable_balances = fields.List(fields.String())
    tiers = fields.List(fields.Nested(TierSchema))
    terms = fields.Nested(TermsSchema, allow_none=True)


class ProductListSchema(Schema):
    items = fields.List(fields.Nested(ProductSchema))


class ProductQuerySchema(Schema):
    city_code = fields.String(
        load_default=None,
        validate=validate.Regexp(r"^\d{6}$", error="城市代码应为6位数字"),
        metadata={"description": "6-digit city code; defaults to the deployment's city"},
    )


def product_view(product: Product, today: Any) -> dict[str, Any]:
    """The API's view of a product on a given day."""
    return {
        "id": product.id,
        "code": product.code,
        "name": product.name,
        "city_code": product.city_code,
        "city_name": product.city_name,
        "year": product.year,
        "insurer": product.insurer,
        "enrollment": {
            "opens_on": product.window_opens_on,
            "closes_on": product.window_closes_on,
            "is_open": product.window.is_open_on(today),
        },
        "coverage": {"starts_on": product.coverage_starts_on, "ends_on": product.coverage_ends_on},
        "payable_balances": product.payable_balances.split(","),
        "tiers": product.tiers,
        "terms": product.current_terms,
    }
