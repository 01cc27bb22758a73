"""Marshmallow schemas of the enrollment and policy API."""

from __future__ import annotations

from marshmallow import Schema, fields, validate

from huiminbao.catalog.schemas import BenefitSchema, PreExistingSchema, TermsSchema
from huiminbao.core.inputs import Id
from huiminbao.core.responses import ResponseSchema
from huiminbao.enrollment.domain import PaymentMethod

_METHODS = [method.value for method in PaymentMethod]


class InsuredChoiceSchema(Schema):
    person_id = Id(required=True, strict=True,
                   metadata={"description": "a person id from GET /me or /me/family"})
    tier = fields.String(required=True, validate=validate.Length(min=1, max=32))


class ConfirmationsSchema(Schema):
    terms_version = fields.String(load_default=None,
                                  metadata={"description": "the terms version the person read"})
    not_basic_insurance = fields.Boolean(
        load_default=False,
        metadata={"description": "knows this is commercial insurance, not basic insurance"})
    debit_amount_fen = fields.Integer(
        load_default=None, strict=True, validate=validate.Range(min=0),
        metadata={"description": "personal account: the amount the owner confirms, fen"})
    sms_code = fields.String(
        load_default=None, validate=validate.Regexp(r"^\d{6}$", error="请输入6位数字验证码"),
        metadata={"description": "needed when the last sign-in is older than 10 minutes"})


class EnrollmentRequestSchema(Schema):
    product_id = Id(required=True, strict=True)
    tier = fields.String(load_default=None, metadata={"description": "tier for everyone"})
    insured = fields.List(fields.Nested(InsuredChoiceSchema), load_default=None,
                          validate=validate.Length(max=10, error="一笔订单最多为10人投保"),
                          metadata={"description": "default: the subject alone, with `tier`"})
    payment_method = fields.String(
        required=True, validate=validate.OneOf(_METHODS, error="请选择支付方式"),
        metadata={"description": " | ".join(_METHODS)})
    confirmations = fields.Nested(ConfirmationsSchema, load_default=dict)


class LineView(ResponseSchema):
    person_id = fields.Integer()
    name = fields.String(metadata={"description": "masked"})
    relation = fields.String()
    tier = fields.String()
    tier_name = fields.String()
    premium_fen = fields.Integer()
    subsidy_fen = fields.Integer()
    payable_fen = fields.Integer()


class QuoteAccountView(ResponseSchema):
    holder = fields.String(metadata={"description": "masked"})
    balances = fields.List(fields.String(), metadata={
        "description": "the balances the premium may be paid from"})
    balance_before_fen = fields.Integer()
    balance_after_fen = fields.Integer()
    shortfall_fen = fields.Integer()


class QuoteView(ResponseSchema):
    product_id = fields.Integer()
    product_name = fields.String()
    terms_version = fields.String()
    notice = fields.String()
    payment_method = fields.String()
    lines = fields.List(fields.Nested(LineView))
    premium_fen = fields.Integer()
    subsidy_fen = fields.Integer()
    payable_fen = fields.Integer()
    account = fields.Nested(QuoteAccountView, allow_none=True, metadata={
        "description": "personal account payments only"})
    needs_sms_code = fields.Boolean(metadata={
        "description": "the account owner confirms with an SMS code (POST /me/payment-code)"})
    sms_code_phone = fields.String(allow_none=True, metadata={
        "description": "masked: the phone the registry holds for the account owner"})


class PolicyBrief(ResponseSchema):
    policy_no = fields.String()
    person_id = fields.Integer()
    insured_name = fields.String()
    status = fields.String()


class OrderView(ResponseSchema):
    order_no = fields.String()
    status = fields.String()
    status_label = fields.String()
    product_id = fields.Integer()
    product_name = fields.String()
    payment_method = fields.String()
    premium_fen = fields.Integer()
    subsidy_fen = fields.Integer()
    payable_fen = fields.Integer()
    refunded_fen = fields.Integer()
    created_at = fields.DateTime()
    expires_at = fields.DateTime()
    paid_at = fields.DateTime(allow_none=True)
    pay_url = fields.String(allow_none=True, metadata={"description": "online: the gateway page"})
    failure_reason = fields.String(allow_none=True)
    lines = fields.List(fields.Nested(LineView))
    policies = fields.List(fields.Nested(PolicyBrief))


class RefundView(ResponseSchema):
    refund_no = fields.String()
    amount_fen = fields.Integer()
    subsidy_fen = fields.Integer()
    status = fields.String()
    settled_at = fields.DateTime(allow_none=True)


class PolicyView(ResponseSchema):
    policy_no = fields.String()
    status = fields.String()
    status_label = fields.String()
    validity = fields.String()
    product_id = fields.Integer()
    product_name = fields.String()
    insurer = fields.String()
    tier = fields.String()
    tier_name = fields.String()
    insured_person_id = fields.Integer()
    insured_name = fields.String(metadata={"description": "masked"})
    insured_id_number = fields.String(metadata={"description": "masked"})
    holder_name = fields.String(metadata={"description": "masked"})
    premium_fen = fields.Integer()
    subsidy_fen = fields.Integer()
    paid_fen = fields.Integer()
    payment_method = fields.String()
    coverage_starts_on = fields.Date()
    coverage_ends_on = fields.Date()
    issued_at = fields.DateTime()
    cancelled_at = fields.DateTime(allow_none=True)
    can_cancel = fields.Boolean()
    refund = fields.Nested(RefundView, allow_none=True)
    auto_renew = fields.Boolean()
    viewer_is_payer = fields.Boolean(metadata={
        "description": "the signed-in person's account paid this policy"})
    can_set_auto_renew = fields.Boolean(metadata={
        "description": "the signed-in person may turn auto-renewal on (only the payer)"})
    payer_name = fields.String(allow_none=True, metadata={
        "description": "masked; whose personal account paid, if one did"})
    verify_url = fields.String()
    qr_url = fields.String()
    notice = fields.String()
    # The e-policy's own cover, whatever the catalog shows today: the tier's benefits, the
    # terms the holder agreed to (the order's version), the product's claim terms.
    benefits = fields.List(fields.Nested(BenefitSchema))
    terms = fields.Nested(TermsSchema, allow_none=True, metadata={
        "description": "the terms version agreed when the policy was bought"})
    deductible_mode = fields.String(metadata={"description": "per_category | shared"})
    pre_existing = fields.List(fields.Nested(PreExistingSchema))


class PolicyListSchema(ResponseSchema):
    items = fields.List(fields.Nested(PolicyView))


class AutoRenewSchema(Schema):
    enabled = fields.Boolean(required=True)
    consent_version = fields.String(load_default=None)


class AutoRenewConsentSchema(ResponseSchema):
    version = fields.String()
    text = fields.String()


class VerifyView(ResponseSchema):
    valid = fields.Boolean()
    policy_no = fields.String()
    product_name = fields.String()
    insurer = fields.String()
    insured_name = fields.String(metadata={"description": "masked only"})
    validity = fields.String()
    coverage_starts_on = fields.Date()
    coverage_ends_on = fields.Date()
