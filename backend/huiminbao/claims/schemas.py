"""Marshmallow schemas of the claims API."""

from __future__ import annotations

from typing import Any

from flask_smorest.fields import Upload
from marshmallow import Schema, ValidationError, fields, validate, validates_schema

from huiminbao.claims.domain import ClaimStatus, Decision
from huiminbao.claims.kinds import ClaimKind
from huiminbao.claims.payees import PayeeKind
from huiminbao.core.inputs import Id
from huiminbao.core.responses import ResponseSchema

MAX_FEN = 10**10  # 1亿元: far beyond any hospital bill, well within BIGINT
_MONEY = validate.Range(min=0, max=MAX_FEN, error="金额超出允许范围")
_POSITIVE_MONEY = validate.Range(min=1, max=MAX_FEN, error="金额应大于0且不超过1亿元")


class ClaimItemSchema(Schema):
    code = fields.String(required=True, validate=validate.Length(min=1, max=32),
                         metadata={"description": "the item's code on the bill, e.g. HL001"})
    name = fields.String(required=True, validate=validate.Length(min=1, max=100))
    amount_fen = fields.Integer(required=True, strict=True, validate=_POSITIVE_MONEY)


class _BillSchema(Schema):
    in_policy_self_pay_fen = fields.Integer(
        required=True, strict=True, validate=_MONEY,
        metadata={"description": "医保范围内个人负担的合规费用, fen"})
    items = fields.List(fields.Nested(ClaimItemSchema), load_default=list,
                        validate=validate.Length(max=100, error="费用项目最多100项"),
                        metadata={"description": "医保范围外的费用项目"})


class _StaySchema(Schema):
    admitted_on = fields.Date(required=True, metadata={"description": "入院日期"})
    discharged_on = fields.Date(required=True, metadata={"description": "出院日期"})

    @validates_schema
    def _stay_order(self, data: dict[str, Any], **_kwargs: Any) -> None:
        if data["discharged_on"] < data["admitted_on"]:
            raise ValidationError("出院日期不能早于入院日期", "discharged_on")


class PayeeSchema(Schema):
    kind = fields.String(load_default=PayeeKind.SELF.value,
                         validate=validate.OneOf([k.value for k in PayeeKind],
                                                 error="请选择收款人：本人、监护人或继承人"),
                         metadata={"description": "self (default) | guardian (insured under 18) "
                                                  "| heir (deceased insured)"})
    card_no = fields.String(required=True,
                            validate=validate.Regexp(r"^[0-9 ]{12,23}$",
                                                     error="银行卡号应为12至19位数字"),
                            metadata={"description": "the payee's own debit card"})
    name = fields.String(load_default=None, validate=validate.Length(max=40),
                         metadata={"description": "guardian or heir: the payee's name"})
    id_number = fields.String(load_default=None, validate=validate.Length(max=32),
                              metadata={"description": "guardian or heir: the payee's ID number"})
    relation = fields.String(load_default=None, validate=validate.Length(max=16))


class ClaimRequestSchema(_BillSchema, _StaySchema):
    policy_no = fields.String(load_default=None, validate=validate.Length(max=32), metadata={
        "description": "default: the insured person's live policy covering the stay"})
    hospital_name = fields.String(required=True, validate=validate.Length(min=1, max=100))
    kind = fields.String(load_default=ClaimKind.INPATIENT.value,
                         validate=validate.OneOf([k.value for k in ClaimKind],
                                                 error="请选择理赔类型"),
                         metadata={"description": " | ".join(k.value for k in ClaimKind)})
    diagnosis_code = fields.String(load_default=None, validate=validate.Length(max=16),
                                   metadata={"description": "ICD-10; outpatient_special and "
                                                            "special_drug need it"})
    prescription_no = fields.String(load_default=None, validate=validate.Length(max=64),
                                    metadata={"description": "special_drug: the prescription"})
    pharmacy_code = fields.String(load_default=None, validate=validate.Length(max=32),
                                  metadata={"description": "special_drug: designated pharmacy"})
    treatment_city_code = fields.String(load_default=None, validate=validate.Length(max=6),
                                        metadata={"description": "out_of_city: where treated"})
    payee = fields.Nested(PayeeSchema, load_default=None, metadata={
        "description": "who receives the money; the card is verified as the payee's"})


class EstimateRequestSchema(_BillSchema):
    policy_no = fields.String(load_default=None, validate=validate.Length(max=32), metadata={
        "description": "default: the live policy (current, else upcoming)"})
    product_id = Id(load_default=None, strict=True, metadata={
        "description": "without a policy: the product to estimate on"})
    tier = fields.String(load_default=None, validate=validate.Length(max=32), metadata={
        "description": "without a policy: the tier to estimate on"})


class SettlementRequestSchema(_BillSchema, _StaySchema):
    settlement_no = fields.String(
        required=True,
        validate=validate.Regexp(r"^[A-Za-z0-9._:-]{1,64}$",
                                 error="结算单号应为1至64位字母、数字或 . _ : -"),
        metadata={"description": "the hospital's settlement number (idempotency key)"})
    id_number = fields.String(required=True, validate=validate.Length(min=1, max=32),
                              metadata={"description": "the patient's ID number (never echoed)"})


class BillItemView(ResponseSchema):
    code = fields.String()
    name = fields.String()
    amount_fen = fields.Integer()


class UncoveredItemView(BillItemView):
    reason = fields.String(metadata={"description": "why the item is not covered, in Chinese"})


class ClaimItemView(BillItemView):
    category = fields.String(allow_none=True)
    category_label = fields.String(allow_none=True)
    reason = fields.String(allow_none=True)


class EarlierUseView(ResponseSchema):
    deductible_used_fen = fields.Integer()
    paid_fen = fields.Integer()


class PayoutLineView(ResponseSchema):
    category = fields.String()
    label = fields.String()
    eligible_fen = fields.Integer()
    deductible_fen = fields.Integer()
    deductible_remaining_fen = fields.Integer()
    deductible_used_fen = fields.Integer()
    ratio_bp = fields.Integer()
    ratio = fields.String()
    cap_fen = fields.Integer()
    cap_remaining_fen = fields.Integer()
    computed_fen = fields.Integer()
    payout_fen = fields.Integer()
    capped = fields.Boolean()
    items = fields.List(fields.Nested(BillItemView))
    text = fields.String(metadata={"description": "the line in plain Chinese"})


class PayoutBreakdownView(ResponseSchema):
    total_fen = fields.Integer()
    eligible_fen = fields.Integer()
    uncovered_fen = fields.Integer()
    lines = fields.List(fields.Nested(PayoutLineView))
    uncovered = fields.List(fields.Nested(UncoveredItemView), metadata={
        "description": "items not covered"})
    summary = fields.List(fields.String(), metadata={"description": "plain Chinese"})


class ClaimSummaryView(ResponseSchema):
    claim_no = fields.String()
    status = fields.String()
    status_label = fields.String()
    channel = fields.String()
    channel_label = fields.String()
    policy_no = fields.String()
    product_id = fields.Integer()
    product_name = fields.String()
    insured_person_id = fields.Integer()
    insured_name = fields.String(metadata={"description": "masked"})
    hospital_name = fields.String()
    admitted_on = fields.Date()
    discharged_on = fields.Date()
    claimed_fen = fields.Integer()
    payout_fen = fields.Integer(allow_none=True)
    created_at = fields.DateTime()
    kind = fields.String(metadata={"description": "inpatient | outpatient_special | "
                                                  "special_drug | out_of_city"})
    kind_label = fields.String()
    decide_by = fields.Date(allow_none=True, metadata={"description": "promised decision day"})
    overdue = fields.Boolean(metadata={"description": "past the promised decision or payment "
                                                      "day"})


class ClaimListView(ResponseSchema):
    items = fields.List(fields.Nested(ClaimSummaryView))


class ClaimTimelineEntryView(ResponseSchema):
    status = fields.String()
    status_label = fields.String()
    from_status = fields.String(allow_none=True)
    at = fields.DateTime()
    by = fields.String()
    message = fields.String()
    actor_account_id = fields.Integer(allow_none=True, metadata={"description": "staff only"})
    actor_role = fields.String(allow_none=True, metadata={"description": "staff only"})
    actor_client = fields.String(allow_none=True, metadata={"description": "staff only"})
    grant_id = fields.Integer(allow_none=True, metadata={"description": "staff only"})


class ClaimDocumentView(ResponseSchema):
    id = fields.Integer()
    filename = fields.String()
    content_type = fields.String()
    size_bytes = fields.Integer()
    uploaded_at = fields.DateTime()
    url = fields.String()


class ClaimClockView(ResponseSchema):
    stage = fields.String(metadata={"description": "decision | payment"})
    due_on = fields.Date()
    days_left = fields.Integer()
    overdue = fields.Boolean()
    text = fields.String()


class PayeeView(ResponseSchema):
    kind = fields.String()
    kind_label = fields.String()
    holder_name = fields.String(metadata={"description": "masked"})
    bank_name = fields.String()
    card = fields.String(metadata={"description": "masked"})


class PayoutView(ResponseSchema):
    status = fields.String(metadata={"description": "sending | paid | failed"})
    status_label = fields.String()
    amount_fen = fields.Integer()
    attempts = fields.Integer()
    paid_at = fields.DateTime(allow_none=True)


class ClaimDetailView(ClaimSummaryView):
    tier = fields.String()
    tier_name = fields.String()
    insured_id_number = fields.String(metadata={"description": "masked"})
    in_policy_self_pay_fen = fields.Integer()
    items = fields.List(fields.Nested(ClaimItemView))
    breakdown = fields.Nested(PayoutBreakdownView, allow_none=True)
    breakdown_is_estimate = fields.Boolean(metadata={
        "description": "staff view of an open claim: what approval would pay now"})
    reject_reason = fields.String(allow_none=True)
    decided_at = fields.DateTime(allow_none=True)
    paid_at = fields.DateTime(allow_none=True)
    can_upload = fields.Boolean()
    documents = fields.List(fields.Nested(ClaimDocumentView))
    timeline = fields.List(fields.Nested(ClaimTimelineEntryView))
    notice = fields.String()
    diagnosis_code = fields.String(allow_none=True)
    prescription_no = fields.String(allow_none=True)
    pharmacy_code = fields.String(allow_none=True)
    treatment_city_code = fields.String(allow_none=True)
    documents_needed = fields.List(fields.String())
    pay_by = fields.Date(allow_none=True)
    clock = fields.Nested(ClaimClockView, allow_none=True)
    payee = fields.Nested(PayeeView, allow_none=True)
    payout = fields.Nested(PayoutView, allow_none=True)
    supplement_requests = fields.Integer()
    first_approval_insurer = fields.String(allow_none=True, metadata={
        "description": "staff only: a contested claim (payout above the product's "
                       "contested_claim_threshold_fen) approved by this insurer, waiting for "
                       "another insurer's approval (共保体复核)"})


class ClaimEstimateView(ResponseSchema):
    product_id = fields.Integer()
    product_name = fields.String()
    tier = fields.String()
    tier_name = fields.String()
    policy_no = fields.String(allow_none=True)
    payout_fen = fields.Integer()
    breakdown = fields.Nested(PayoutBreakdownView)
    used_before = fields.Dict(keys=fields.String(), values=fields.Nested(EarlierUseView), metadata={
        "description": "per category: deductible_used_fen and paid_fen of earlier claims"})
    notice = fields.String()


class ClaimUploadSchema(Schema):
    file = Upload(required=True, metadata={"description": "JPEG, PNG or PDF, at most 10 MB"})


class ClaimUploadedView(ResponseSchema):
    document = fields.Nested(ClaimDocumentView)
    claim = fields.Nested(ClaimDetailView)


class ClaimQueueQuerySchema(Schema):
    status = fields.List(
        fields.String(validate=validate.OneOf([s.value for s in ClaimStatus])),
        load_default=None,
        metadata={"description": "default: submitted, under_review (repeat to combine)"})


class ClaimDecisionSchema(Schema):
    decision = fields.String(required=True,
                             validate=validate.OneOf([d.value for d in Decision],
                                                     error="请选择审核结论"),
                             metadata={"description": " | ".join(d.value for d in Decision)})
    message = fields.String(load_default=None, validate=validate.Length(max=500), metadata={
        "description": "to the claimant; required for reject and request_supplement"})
    missing = fields.List(fields.String(validate=validate.Length(min=1, max=100)),
                          load_default=list,
                          validate=validate.Length(max=30, error="最多列出30项材料"),
                          metadata={"description": "request_supplement: every missing document "
                                                   "(asked once; else the message is the list)"})
    supervisor_reason = fields.String(load_default=None, validate=validate.Length(max=500),
                                      metadata={"description": "a second request_supplement: "
                                                               "an administrator's reason"})


class PayoutRunView(ResponseSchema):
    paid = fields.List(fields.String(), metadata={"description": "claim numbers paid"})
    failed = fields.List(fields.String(), metadata={"description": "refused by the bank side"})
    pending = fields.List(fields.String(), metadata={
        "description": "outcome not known yet: left sending, queried by the next run"})
    message = fields.String()


class ClaimKindView(ResponseSchema):
    kind = fields.String()
    label = fields.String()
    documents = fields.List(fields.String())
    decide_within_working_days = fields.Integer()
    pay_within_days = fields.Integer()
    period_labels = fields.List(fields.String())


class PharmacyView(ResponseSchema):
    code = fields.String()
    name = fields.String()
    address = fields.String()


class KindRuleSchema(Schema):
    kind = fields.String(required=True, validate=validate.OneOf(
        [k.value for k in ClaimKind], error="请选择理赔类型"))
    documents = fields.List(fields.String(validate=validate.Length(min=1, max=60)),
                            required=True, validate=validate.Length(
                                min=1, max=20, error="材料清单应为1至20项"))
    decide_within_working_days = fields.Integer(required=True, strict=True, metadata={
        "description": "promise: decide within N working days of complete material (1-20; "
                       "保险法 §23 allows 30 days)"})
    pay_within_days = fields.Integer(required=True, strict=True, metadata={
        "description": "promise: pay within N days of the decision (1-10, 保险法 §23)"})


class ProductClaimKindsSchema(Schema):
    kinds = fields.List(fields.Nested(KindRuleSchema), required=True,
                        validate=validate.Length(max=4, error="理赔类型最多4种"))


class ProductClaimKindsView(ResponseSchema):
    product_id = fields.Integer()
    kinds = fields.List(fields.Nested(ClaimKindView))
    pharmacies = fields.List(fields.Nested(PharmacyView))


class SettlementView(ResponseSchema):
    settlement_no = fields.String()
    outcome = fields.String(metadata={"description": "settled | no_policy | outside_coverage"})
    accepted = fields.Boolean()
    claim_no = fields.String(allow_none=True)
    patient = fields.String(metadata={"description": "the ID number, masked"})
    hospital = fields.String()
    payout_fen = fields.Integer()
    reason = fields.String(allow_none=True)
    breakdown = fields.Nested(PayoutBreakdownView, allow_none=True)
    message = fields.String()


class ProductItemView(ResponseSchema):
    kind = fields.String()
    code = fields.String()
    name = fields.String()


class ProductItemListView(ResponseSchema):
    product_id = fields.Integer()
    special_drugs = fields.List(fields.Nested(ProductItemView))
    reasonable_items = fields.List(fields.Nested(ProductItemView))
