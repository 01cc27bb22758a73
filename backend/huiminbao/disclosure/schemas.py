"""Marshmallow schemas of the disclosure and complaints API."""

from __future__ import annotations

from marshmallow import Schema, fields, validate

from huiminbao.catalog.schemas import CoverageSchema
from huiminbao.core.responses import ResponseSchema
from huiminbao.disclosure.domain import (
    MAX_RESPONSE_WORKING_DAYS,
    ComplaintCategory,
    ComplaintStatus,
)
from huiminbao.disclosure.snapshots import MAX_AGE

_CATEGORIES = [category.value for category in ComplaintCategory]
_MAX_AGE_MINUTES = int(MAX_AGE.total_seconds() // 60)
_STATUSES = [status.value for status in ComplaintStatus]


# ---------------------------------------------------------------- disclosure


class DisclosureQuerySchema(Schema):
    as_of = fields.AwareDateTime(load_default=None, metadata={
        "description": "figures as of this instant (ISO 8601 with offset); default: now"})
    format = fields.String(load_default="json", validate=validate.OneOf(
        ["json", "csv"], error="format 只能是 json 或 csv"),
        metadata={"description": "csv: the same figures as a UTF-8 (BOM) CSV download"})


class DisclosureCsvQuerySchema(Schema):
    as_of = fields.AwareDateTime(load_default=None)


class BucketSchema(ResponseSchema):
    key = fields.String()
    label = fields.String()
    count = fields.Integer()


class EnrollmentDatesSchema(ResponseSchema):
    opens_on = fields.Date()
    closes_on = fields.Date(metadata={"description": "inclusive"})


class DisclosedProductSchema(ResponseSchema):
    id = fields.Integer()
    name = fields.String()
    city_name = fields.String()
    year = fields.Integer()
    insurer = fields.String()
    enrollment = fields.Nested(EnrollmentDatesSchema)
    coverage = fields.Nested(CoverageSchema)


class EnrolledSchema(ResponseSchema):
    total = fields.Integer(metadata={"description": "persons with a live policy at as_of"})
    by_scheme = fields.List(fields.Nested(BucketSchema), metadata={
        "description": "employee (职工医保) | resident (城乡居民医保) [| unknown]"})
    by_age_band = fields.List(fields.Nested(BucketSchema), metadata={
        "description": "age at the as_of date (China): <18, 18–39, 40–59, 60–69, 70+"})
    by_channel = fields.List(fields.Nested(BucketSchema), metadata={
        "description": "personal_account | online | subsidy | employer | counter"})


class ClaimsFiguresSchema(ResponseSchema):
    available = fields.Boolean(metadata={"description": "false while claims data is absent"})
    accepted = fields.Integer(metadata={"description": "claims received (受理)"})
    paid = fields.Integer(metadata={"description": "claims paid (incl. one-stop settlements)"})
    payout_fen = fields.Integer()
    largest_payout_fen = fields.Integer(metadata={"description": "largest single payout"})
    overdue = fields.Integer(metadata={"description": "claims past the promised decision or "
                                                      "payment day (保险法 §23)"})
    median_days_to_decision = fields.Float(allow_none=True, metadata={
        "description": "online claims: median days from submission to decision"})
    median_days_to_payment = fields.Float(allow_none=True, metadata={
        "description": "online claims: median days from submission to payment"})


class YearEndSchema(ResponseSchema):
    target_payout_ratio = fields.String(metadata={"description": "e.g. 85.00%"})
    target_payout_ratio_bp = fields.Integer()
    premium_income_fen = fields.Integer()
    payout_fen = fields.Integer(metadata={"description": "claim payouts booked in the ledger"})
    payout_ratio = fields.String(allow_none=True)
    surplus_fen = fields.Integer(metadata={
        "description": "target ratio × premium income − payouts (fen, rounded down); negative: "
                       "paid beyond the target"})


class SurplusUseSchema(ResponseSchema):
    amount_fen = fields.Integer(metadata={"description": "the previous year's surplus used"})
    note = fields.String(metadata={"description": "how it is used (e.g. 提高赔付比例)"})


class DisclosureSchema(ResponseSchema):
    product = fields.Nested(DisclosedProductSchema)
    as_of = fields.DateTime(metadata={
        "description": "the instant the figures were counted at"})
    live = fields.Boolean(metadata={
        "description": f"true: the latest figures, counted at most {_MAX_AGE_MINUTES} minutes "
                       "before the request (as_of says when); false: counted as of the requested "
                       "as_of"})
    enrolled = fields.Nested(EnrolledSchema)
    premium_income_fen = fields.Integer(metadata={"description": "net of refunds"})
    claims = fields.Nested(ClaimsFiguresSchema)
    payout_ratio = fields.String(allow_none=True, metadata={
        "description": "payouts ÷ premiums, e.g. 12.34% (integer arithmetic, half up)"})
    payout_ratio_hundredths = fields.Integer(allow_none=True, metadata={
        "description": "the same ratio in hundredths of a percent (1234 = 12.34 %)"})
    year_end = fields.Nested(YearEndSchema, allow_none=True, metadata={
        "description": "002 三(五): after the coverage year ends, when a target payout ratio is "
                       "set; null before"})
    surplus_use = fields.Nested(SurplusUseSchema, allow_none=True, metadata={
        "description": "how this product uses the previous year's surplus (结余滚存); null: "
                       "none recorded"})
    csv_url = fields.String()


class DisclosureProductListSchema(ResponseSchema):
    items = fields.List(fields.Nested(DisclosedProductSchema))


# ---------------------------------------------------------------- complaints


class ComplaintInSchema(Schema):
    category = fields.String(required=True, validate=validate.OneOf(
        _CATEGORIES, error="请选择投诉类别"), metadata={"description": " | ".join(_CATEGORIES)})
    content = fields.String(required=True, metadata={
        "description": "10 to 1000 characters; no ID or phone numbers are needed"})
    policy_no = fields.String(load_default=None, allow_none=True,
                              validate=validate.Length(max=32, error="保单号格式不正确"))
    claim_no = fields.String(load_default=None, allow_none=True,
                             validate=validate.Length(max=32, error="理赔编号格式不正确"))


class ReplyView(ResponseSchema):
    author_label = fields.String(metadata={"description": "who answered (a role, not a name)"})
    message = fields.String()
    from_status = fields.String()
    to_status = fields.String()
    to_status_label = fields.String()
    created_at = fields.DateTime()


class ComplaintView(ResponseSchema):
    complaint_no = fields.String()
    category = fields.String()
    category_label = fields.String()
    status = fields.String(metadata={"description": " | ".join(_STATUSES)})
    status_label = fields.String()
    content = fields.String()
    policy_no = fields.String(allow_none=True)
    claim_no = fields.String(allow_none=True)
    complainant_name = fields.String(metadata={"description": "masked"})
    filed_by_agent = fields.Boolean(metadata={"description": "filed by someone acting for them"})
    created_at = fields.DateTime()
    due_at = fields.DateTime(metadata={"description": "unresolved from this instant: overdue"})
    overdue = fields.Boolean()
    resolved_at = fields.DateTime(allow_none=True)
    next_statuses = fields.List(fields.String(), metadata={
        "description": "statuses a staff reply may move it to"})
    replies = fields.List(fields.Nested(ReplyView))


class ComplaintListSchema(ResponseSchema):
    items = fields.List(fields.Nested(ComplaintView))


class CategorySchema(ResponseSchema):
    code = fields.String()
    label = fields.String()


class CategoryListSchema(ResponseSchema):
    items = fields.List(fields.Nested(CategorySchema))


class ComplaintQueueQuerySchema(Schema):
    status = fields.String(load_default=None, validate=validate.OneOf(
        _STATUSES, error="状态只能是 received、in_progress 或 resolved"))
    overdue = fields.Boolean(load_default=None, metadata={
        "description": "true: only overdue; false: only not overdue"})


class ReplyInSchema(Schema):
    message = fields.String(required=True, metadata={"description": "1 to 1000 characters"})
    status = fields.String(load_default=None, validate=validate.OneOf(
        _STATUSES, error="状态只能是 received、in_progress 或 resolved"), metadata={
        "description": "default: in_progress (from received), else unchanged"})


class ComplaintSettingsSchema(ResponseSchema):
    response_working_days = fields.Integer(required=True, strict=True, validate=validate.Range(
        min=1, max=MAX_RESPONSE_WORKING_DAYS,
        error=f"投诉处理时限应为1至{MAX_RESPONSE_WORKING_DAYS}个工作日"), metadata={
        "description": "working days (Mon–Fri) a complaint may take; default 5"})
