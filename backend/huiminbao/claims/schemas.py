"""Marshmallow schemas of the claims API."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from flask import url_for
from flask_smorest.fields import Upload
from marshmallow import Schema, ValidationError, fields, validate, validates_schema

from huiminbao.catalog.domain import BenefitCategory
from huiminbao.claims.domain import OPEN_STATUSES, Channel, ClaimStatus, Decision
from huiminbao.claims.models import ClaimDocument, ClaimEvent, ProductItem
from huiminbao.claims.payout import Breakdown, CategoryPayout
from huiminbao.claims.services import ESTIMATE_NOTICE, ClaimDetails
from huiminbao.core.inputs import Id
from huiminbao.core.masking import mask_id_number, mask_name
from huiminbao.core.money import format_percent
from huiminbao.core.responses import (
    Computed,
    ComputedBoolean,
    ComputedList,
    Label,
    Masked,
    ResponseSchema,
)

CLAIM_NOTICE = ("本产品为商业保险，不是基本医疗保险。理赔范围和责任免除以保险条款为准；"
                "赔付金额按年度免赔额、赔付比例和封顶线计算。")

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


class ClaimRequestSchema(_BillSchema, _StaySchema):
    policy_no = fields.String(load_default=None, validate=validate.Length(max=32), metadata={
        "description": "default: the insured person's live policy covering the stay"})
    hospital_name = fields.String(required=True, validate=validate.Length(min=1, max=100))


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


class UncoveredItemView(ResponseSchema):
    code = fields.String(attribute="item.code")
    name = fields.String(attribute="item.name")
    amount_fen = fields.Integer(attribute="item.amount_fen")
    reason = fields.String(metadata={"description": "why the item is not covered, in Chinese"})


class ClaimItemView(BillItemView):
    category = fields.String(allow_none=True)
    category_label = Label(BenefitCategory, source="category", allow_none=True)
    reason = fields.String(allow_none=True)


class EarlierUseView(ResponseSchema):
    deductible_used_fen = fields.Integer()
    paid_fen = fields.Integer()


# Earlier claims' use of this policy year, per benefit category (a category without any use is
# left out).
EarlierUsesView = ResponseSchema.from_dict(
    {category.value: fields.Nested(EarlierUseView) for category in BenefitCategory},
    name="EarlierUsesView")


class PayoutLineView(ResponseSchema):
    category = fields.String()
    label = fields.String()
    eligible_fen = fields.Integer()
    deductible_fen = fields.Integer()
    deductible_remaining_fen = fields.Integer()
    deductible_used_fen = fields.Integer()
    ratio_bp = fields.Integer()
    ratio = Label(format_percent, source="ratio_bp")
    cap_fen = fields.Integer()
    cap_remaining_fen = fields.Integer()
    computed_fen = fields.Integer()
    payout_fen = fields.Integer()
    capped = fields.Boolean()
    items = fields.List(fields.Nested(BillItemView))
    text = Computed(CategoryPayout.describe, metadata={"description": "the line in plain Chinese"})


class PayoutBreakdownView(ResponseSchema):
    total_fen = fields.Integer()
    eligible_fen = fields.Integer()
    uncovered_fen = fields.Integer()
    lines = fields.List(fields.Nested(PayoutLineView))
    uncovered = fields.List(fields.Nested(UncoveredItemView), metadata={
        "description": "items not covered"})
    summary = ComputedList(Breakdown.describe, fields.String(),
                           metadata={"description": "plain Chinese"})


class ClaimSummaryView(ResponseSchema):
    """A claim in a list: dumps a ``ClaimSummary`` (or ``ClaimDetails``)."""

    claim_no = fields.String(attribute="claim.claim_no")
    status = fields.String(attribute="claim.status")
    status_label = Label(ClaimStatus, source="claim.status")
    channel = fields.String(attribute="claim.channel")
    channel_label = Label(Channel, source="claim.channel")
    policy_no = fields.String()
    product_id = fields.Integer(attribute="claim.product_id")
    product_name = fields.String()
    insured_person_id = fields.Integer(attribute="insured.id")
    insured_name = Masked(mask_name, attribute="insured.name", metadata={"description": "masked"})
    hospital_name = fields.String(attribute="claim.hospital_name")
    admitted_on = fields.Date(attribute="claim.admitted_on")
    discharged_on = fields.Date(attribute="claim.discharged_on")
    claimed_fen = fields.Integer(attribute="claim.claimed_fen")
    payout_fen = fields.Integer(attribute="claim.payout_fen", allow_none=True)
    created_at = fields.DateTime(attribute="claim.created_at")


class ClaimListView(ResponseSchema):
    items = fields.List(fields.Nested(ClaimSummaryView))


def _by(event: ClaimEvent) -> str:
    if event.actor_client:
        return "医院（一站式结算）"
    if event.actor_role in {"insurer_staff", "admin"}:
        return "保险公司"
    if event.grant_id is not None:
        return "代办人"
    if event.actor_account_id is not None:
        return "申请人"
    return "系统"


class ClaimTimelineEntryView(ResponseSchema):
    """A ``ClaimEvent`` as the claimant sees it."""

    status = fields.String(attribute="to_status")
    status_label = Label(ClaimStatus, source="to_status")
    from_status = fields.String(allow_none=True)
    at = fields.DateTime(attribute="occurred_at")
    by = Computed(_by)
    message = fields.String()


class StaffClaimTimelineEntryView(ClaimTimelineEntryView):
    """A ``ClaimEvent`` as the insurer's staff see it: who acted, exactly."""

    actor_account_id = fields.Integer(allow_none=True)
    actor_role = fields.String(allow_none=True)
    actor_client = fields.String(allow_none=True)
    grant_id = fields.Integer(allow_none=True)


@dataclass(frozen=True)
class ClaimDocumentLink:
    """A claim's document with the address it is downloaded from."""

    document: ClaimDocument
    claim_no: str

    @property
    def url(self) -> str:
        return url_for("claims.ClaimDocumentFile", claim_no=self.claim_no,
                       document_id=self.document.id)


class ClaimDocumentView(ResponseSchema):
    """Dumps a ``ClaimDocumentLink``."""

    id = fields.Integer(attribute="document.id")
    filename = fields.String(attribute="document.filename")
    content_type = fields.String(attribute="document.content_type")
    size_bytes = fields.Integer(attribute="document.size_bytes")
    uploaded_at = fields.DateTime(attribute="document.uploaded_at")
    url = fields.String()


def document_links(details: ClaimDetails) -> list[ClaimDocumentLink]:
    return [ClaimDocumentLink(d, details.claim.claim_no) for d in details.claim.documents]


class ClaimDetailView(ClaimSummaryView):
    """One claim as the claimant sees it: dumps a ``ClaimDetails``."""

    tier = fields.String(attribute="claim.tier_code")
    tier_name = fields.String()
    insured_id_number = Masked(mask_id_number, attribute="insured.id_number",
                               metadata={"description": "masked"})
    in_policy_self_pay_fen = fields.Integer(attribute="claim.in_policy_self_pay_fen")
    items = fields.List(fields.Nested(ClaimItemView), attribute="claim.items")
    breakdown = fields.Nested(PayoutBreakdownView, allow_none=True)
    breakdown_is_estimate = fields.Boolean(attribute="preview", metadata={
        "description": "staff view of an open claim: what approval would pay now"})
    reject_reason = fields.String(attribute="claim.reject_reason", allow_none=True)
    decided_at = fields.DateTime(attribute="claim.decided_at", allow_none=True)
    paid_at = fields.DateTime(attribute="claim.paid_at", allow_none=True)
    can_upload = ComputedBoolean(lambda d: ClaimStatus(d.claim.status) in OPEN_STATUSES)
    documents = ComputedList(document_links, fields.Nested(ClaimDocumentView))
    timeline = fields.List(fields.Nested(ClaimTimelineEntryView), attribute="claim.events")
    notice = Computed(lambda _: CLAIM_NOTICE)


class StaffClaimDetailView(ClaimDetailView):
    """One claim as the insurer's staff see it."""

    timeline = fields.List(fields.Nested(StaffClaimTimelineEntryView), attribute="claim.events")
    first_approval_insurer = fields.String(allow_none=True, metadata={
        "description": "a contested claim (payout above the product's "
                       "contested_claim_threshold_fen) approved by this insurer, waiting for "
                       "another insurer's approval (共保体复核)"})


class ClaimEstimateView(ResponseSchema):
    """Dumps an ``Estimate``."""

    product_id = fields.Integer()
    product_name = fields.String()
    tier = fields.String()
    tier_name = fields.String()
    policy_no = fields.String(allow_none=True)
    payout_fen = fields.Integer(attribute="breakdown.total_fen")
    breakdown = fields.Nested(PayoutBreakdownView)
    used_before = fields.Nested(EarlierUsesView, attribute="earlier.usage", metadata={
        "description": "per category: deductible_used_fen and paid_fen of earlier claims"})
    notice = Computed(lambda _: ESTIMATE_NOTICE)


class ClaimUploadSchema(Schema):
    file = Upload(required=True, metadata={"description": "JPEG, PNG or PDF, at most 10 MB"})


@dataclass(frozen=True)
class ClaimUploaded:
    details: ClaimDetails
    document_id: int

    @property
    def document(self) -> ClaimDocumentLink:
        return next(link for link in document_links(self.details)
                    if link.document.id == self.document_id)


class ClaimUploadedView(ResponseSchema):
    """Dumps a ``ClaimUploaded``."""

    document = fields.Nested(ClaimDocumentView)
    claim = fields.Nested(ClaimDetailView, attribute="details")


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


@dataclass(frozen=True)
class ProductItemLists:
    product_id: int
    items: list[ProductItem]

    @property
    def special_drugs(self) -> list[ProductItem]:
        return [i for i in self.items if i.kind == "special_drug"]

    @property
    def reasonable_items(self) -> list[ProductItem]:
        return [i for i in self.items if i.kind == "reasonable"]


class ProductItemListView(ResponseSchema):
    """Dumps ``ProductItemLists``."""

    product_id = fields.Integer()
    special_drugs = fields.List(fields.Nested(ProductItemView))
    reasonable_items = fields.List(fields.Nested(ProductItemView))
