"""Marshmallow schemas of the claims API."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from flask import url_for
from flask_smorest.fields import Upload
from marshmallow import Schema, ValidationError, fields, validate, validates_schema

from huiminbao.catalog.domain import BenefitCategory
from huiminbao.claims.domain import (
    OPEN_STATUSES,
    AppealState,
    Channel,
    ClaimStatus,
    Decision,
    SecondDecider,
    appeal_problem,
    appeal_state,
    is_overdue,
)
from huiminbao.claims.kinds import ClaimKind, Clock, KindRule
from huiminbao.claims.models import (
    Claim,
    ClaimDocument,
    ClaimEvent,
    ClaimItem,
    ClaimPayout,
    ProductItem,
)
from huiminbao.claims.payees import PayeeKind, mask_card
from huiminbao.claims.payout import Breakdown, CategoryPayout, normalize_code
from huiminbao.claims.payouts import PayoutStatus, RunReport, payout_label
from huiminbao.claims.services import ESTIMATE_NOTICE, ClaimDetails, ClaimSummary
from huiminbao.claims.signing import PHARMACY_CLIENT_PREFIX
from huiminbao.claims.terms import SPECIAL_DRUG_NOTICE, SpecialDrugs
from huiminbao.core.container import container
from huiminbao.core.inputs import Id
from huiminbao.core.masking import mask_id_number, mask_name
from huiminbao.core.money import format_percent
from huiminbao.core.responses import (
    Computed,
    ComputedBoolean,
    ComputedList,
    ComputedNested,
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


_ICD10 = validate.Regexp(r"^\s*[A-Za-z]\d{2}(\.\d{1,4})?\s*$",
                         error="诊断编码应为ICD-10编码，如 C22.0")


def _diagnosis_codes() -> fields.List[Any]:
    return fields.List(
        fields.String(validate=_ICD10), load_default=list,
        validate=validate.Length(max=5, error="诊断编码最多5个"),
        metadata={"description": "ICD-10 codes of what was treated (the product's "
                                 "pre-existing-condition terms compare them with the "
                                 "registry's earlier diagnoses)"})


class ClaimantFactsSchema(Schema):
    """What only the claimant can tell, whether the bill is typed or read from the 医保 records:
    the policy, a special drug's prescription and pharmacy, the city treated in, the payee."""

    policy_no = fields.String(load_default=None, validate=validate.Length(max=32), metadata={
        "description": "default: the insured person's live policy covering the stay"})
    prescription_no = fields.String(load_default=None, validate=validate.Length(max=64),
                                    metadata={"description": "special_drug: the prescription"})
    pharmacy_code = fields.String(load_default=None, validate=validate.Length(max=32),
                                  metadata={"description": "special_drug: designated pharmacy"})
    treatment_city_code = fields.String(load_default=None, validate=validate.Length(max=6),
                                        metadata={"description": "out_of_city: where treated"})
    payee = fields.Nested(PayeeSchema, load_default=None, metadata={
        "description": "who receives the money; the card is verified as the payee's"})


class ClaimRequestSchema(_BillSchema, _StaySchema, ClaimantFactsSchema):
    hospital_name = fields.String(required=True, validate=validate.Length(min=1, max=100))
    kind = fields.String(load_default=ClaimKind.INPATIENT.value,
                         validate=validate.OneOf([k.value for k in ClaimKind],
                                                 error="请选择理赔类型"),
                         metadata={"description": " | ".join(k.value for k in ClaimKind)})
    diagnosis_code = fields.String(load_default=None, validate=validate.Length(max=16),
                                   metadata={"description": "ICD-10; outpatient_special and "
                                                            "special_drug need it"})
    diagnosis_codes = _diagnosis_codes()


class EstimateRequestSchema(_BillSchema):
    policy_no = fields.String(load_default=None, validate=validate.Length(max=32), metadata={
        "description": "default: the live policy (current, else upcoming)"})
    product_id = Id(load_default=None, strict=True, metadata={
        "description": "without a policy: the product to estimate on"})
    tier = fields.String(load_default=None, validate=validate.Length(max=32), metadata={
        "description": "without a policy: the tier to estimate on"})
    diagnosis_codes = _diagnosis_codes()
    treated_on = fields.Date(load_default=None, metadata={
        "description": "first day of treatment (a first-time enrollee's waiting period)"})


class _SettlementIdsSchema(Schema):
    settlement_no = fields.String(
        required=True,
        validate=validate.Regexp(r"^[A-Za-z0-9._:-]{1,64}$",
                                 error="结算单号应为1至64位字母、数字或 . _ : -"),
        metadata={"description": "the hospital's settlement number (idempotency key)"})
    id_number = fields.String(required=True, validate=validate.Length(min=1, max=32),
                              metadata={"description": "the patient's ID number (never echoed)"})


class SettlementRequestSchema(_BillSchema, _StaySchema, _SettlementIdsSchema):
    """A hospital's one-stop settlement."""


class BillItemView(ResponseSchema):
    code = fields.String()
    name = fields.String()
    amount_fen = fields.Integer()


class UncoveredItemView(ResponseSchema):
    code = fields.String(attribute="item.code")
    name = fields.String(attribute="item.name")
    amount_fen = fields.Integer(attribute="item.amount_fen")
    reason = fields.String(metadata={"description": "why the item is not covered, in Chinese"})


@dataclass(frozen=True)
class ListedClaimItem:
    """A claim's item with its category: as computed, or (not computed yet) as the product's
    lists say, so a listed 特药 shows 特定药品费用 before review."""

    item: ClaimItem
    listed: Mapping[str, str]

    code = property(lambda self: self.item.code)
    name = property(lambda self: self.item.name)
    amount_fen = property(lambda self: self.item.amount_fen)
    reason = property(lambda self: self.item.reason)

    @property
    def category(self) -> str | None:
        if self.item.category is None and self.item.reason is None:
            return self.listed.get(normalize_code(self.item.code))
        return self.item.category


def listed_items(details: ClaimDetails) -> list[ListedClaimItem]:
    return [ListedClaimItem(i, details.listed) for i in details.claim.items]


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


class PayoutSegmentView(ResponseSchema):
    amount_fen = fields.Integer()
    ratio_bp = fields.Integer()
    paid_fen = fields.Integer()


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
    basis = fields.String(metadata={
        "description": "standard | pre_existing | not_covered | waiting (the rule that paid)"})
    note = fields.String(allow_none=True, metadata={
        "description": "the pre-existing condition or waiting period, in Chinese"})
    segments = fields.List(fields.Nested(PayoutSegmentView), metadata={
        "description": "the ratio bands this line was paid in"})
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


def _kind(found: ClaimSummary | ClaimDetails) -> ClaimKind:
    return ClaimKind(found.claim.kind or ClaimKind.INPATIENT.value)


def _overdue(found: ClaimSummary | ClaimDetails) -> bool:
    claim = found.claim
    return is_overdue(ClaimStatus(claim.status), claim.decide_by, claim.pay_by,
                      container().clock.today())


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
    kind = Computed(lambda s: _kind(s).value, metadata={
        "description": "inpatient | outpatient_special | special_drug | out_of_city"})
    kind_label = Computed(lambda s: _kind(s).label)
    decide_by = fields.Date(attribute="claim.decide_by", allow_none=True,
                            metadata={"description": "promised decision day"})
    overdue = ComputedBoolean(_overdue,
                              metadata={"description": "past the promised decision or payment "
                                                       "day"})


class ClaimListView(ResponseSchema):
    items = fields.List(fields.Nested(ClaimSummaryView))


def _by(event: ClaimEvent) -> str:
    if event.actor_client:
        return ("定点药店（直接结算）" if event.actor_client.startswith(PHARMACY_CLIENT_PREFIX)
                else "医院（一站式结算）")
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


class ClaimClockView(ResponseSchema):
    """Dumps a ``kinds.Clock``."""

    stage = fields.String(metadata={"description": "decision | payment"})
    due_on = fields.Date()
    days_left = fields.Integer()
    overdue = fields.Boolean()
    text = Computed(Clock.describe)


class PayeeView(ResponseSchema):
    """Dumps a ``ClaimPayee``."""

    kind = fields.String()
    kind_label = Label(PayeeKind, source="kind")
    holder_name = Masked(mask_name, metadata={"description": "masked"})
    bank_name = fields.String()
    card = Masked(mask_card, attribute="card_no", metadata={"description": "masked"})


def _payout_label(payout: ClaimPayout) -> str:
    return payout_label(PayoutStatus(payout.status), payout.attempts, payout.max_attempts)


class PayoutView(ResponseSchema):
    """Dumps a ``ClaimPayout``."""

    status = fields.String(metadata={"description": "sending | paid | failed"})
    status_label = Computed(_payout_label)
    amount_fen = fields.Integer()
    attempts = fields.Integer()
    paid_at = fields.DateTime(allow_none=True)


def _appeal_state(claim: Claim) -> AppealState | None:
    return appeal_state(ClaimStatus(claim.status), claim.appealed_at is not None)


class ClaimAppealView(ResponseSchema):
    """Dumps an appealed ``Claim``'s appeal."""

    reason = fields.String(attribute="appeal_reason")
    filed_at = fields.DateTime(attribute="appealed_at")
    state = Computed(lambda claim: _appeal_state(claim),
                     metadata={"description": "pending | upheld | overturned"})
    state_label = Computed(lambda claim: getattr(_appeal_state(claim), "label", None))
    decided_at = fields.DateTime(attribute="appeal_decided_at", allow_none=True)


class ClaimAppealSchema(Schema):
    reason = fields.String(required=True, metadata={
        "description": "why the rejection is wrong (5–500 characters)"})


class ClaimDetailView(ClaimSummaryView):
    """One claim as the claimant sees it: dumps a ``ClaimDetails``."""

    tier = fields.String(attribute="claim.tier_code")
    tier_name = fields.String()
    insured_id_number = Masked(mask_id_number, attribute="insured.id_number",
                               metadata={"description": "masked"})
    in_policy_self_pay_fen = fields.Integer(attribute="claim.in_policy_self_pay_fen")
    items = ComputedList(listed_items, fields.Nested(ClaimItemView))
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
    diagnosis_code = fields.String(attribute="claim.diagnosis_code", allow_none=True)
    prescription_no = fields.String(attribute="claim.prescription_no", allow_none=True)
    pharmacy_code = fields.String(attribute="claim.pharmacy_code", allow_none=True)
    treatment_city_code = fields.String(attribute="claim.treatment_city_code", allow_none=True)
    documents_needed = fields.List(fields.String())
    pay_by = fields.Date(attribute="claim.pay_by", allow_none=True)
    clock = fields.Nested(ClaimClockView, allow_none=True)
    payee = fields.Nested(PayeeView, allow_none=True)
    payout = fields.Nested(PayoutView, allow_none=True)
    supplement_requests = fields.Integer(attribute="claim.supplement_requests")
    can_appeal = ComputedBoolean(lambda d: appeal_problem(
        ClaimStatus(d.claim.status), d.claim.appealed_at is not None) is None, metadata={
        "description": "rejected and not appealed yet: the claimant may appeal once"})
    appeal = ComputedNested(
        lambda d: d.claim if _appeal_state(d.claim) is not None else None, ClaimAppealView,
        allow_none=True,
        metadata={"description": "the claimant's appeal and its outcome; null: not appealed"})


class StaffClaimDetailView(ClaimDetailView):
    """One claim as the insurer's staff see it."""

    timeline = fields.List(fields.Nested(StaffClaimTimelineEntryView), attribute="claim.events")
    first_approval_insurer = fields.String(allow_none=True, metadata={
        "description": "a contested claim (payout above the product's "
                       "contested_claim_threshold_fen) approved by this insurer, waiting for "
                       "another insurer's approval (共保体复核)"})
    appeal_rejected_by_insurer = fields.String(attribute="claim.appeal_rejected_by_insurer",
                                               allow_none=True, metadata={
        "description": "the insurer whose staff made the appealed rejection; the appeal is "
                       "decided as second_decider says"})
    second_decider = fields.Enum(SecondDecider, by_value=True, metadata={
        "description": "who makes a contested claim's second decision (an appeal's, or a large "
                       "claim's second approval) for this product: staff of another insurer of "
                       "its co-insurance group, or a supervisor (复核主管) of its one insurer, "
                       "on another account than the first decider's"})


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
        metadata={"description": "default: submitted, under_review, appealed (repeat to "
                                 "combine)"})


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


def _run_message(report: RunReport) -> str:
    return (f"已支付{len(report.paid)}件，支付失败{len(report.failed)}件"
            f"（下次重试），结果待确认{len(report.pending)}件")


def _period_labels(rule: KindRule) -> list[str]:
    return list(rule.kind.period_labels)


class PayoutRunView(ResponseSchema):
    """Dumps a ``payouts.RunReport``."""

    paid = fields.List(fields.String(), metadata={"description": "claim numbers paid"})
    failed = fields.List(fields.String(), metadata={"description": "refused by the bank side"})
    pending = fields.List(fields.String(), metadata={
        "description": "outcome not known yet: left sending, queried by the next run"})
    message = Computed(_run_message)


class ClaimKindView(ResponseSchema):
    """Dumps a ``kinds.KindRule``."""

    kind = Computed(lambda r: r.kind.value)
    label = Computed(lambda r: r.kind.label)
    documents = fields.List(fields.String())
    decide_within_working_days = fields.Integer()
    pay_within_days = fields.Integer()
    period_labels = ComputedList(_period_labels, fields.String())


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
    """Dumps a ``filing.ProductKinds``."""

    product_id = fields.Integer()
    kinds = fields.List(fields.Nested(ClaimKindView), attribute="rules")
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


class SpecialDrugQuerySchema(Schema):
    q = fields.String(load_default="", validate=validate.Length(max=40, error="搜索内容最多40个字"),
                      metadata={"description": "part of the drug's name or code, an indication "
                                               "or a pharmacy; empty: the whole list"})


class SpecialDrugView(ResponseSchema):
    """Dumps a 特药 ``ProductItem``."""

    code = fields.String()
    name = fields.String()
    indications = fields.List(fields.String(), attribute="indication_list",
                              metadata={"description": "listed indications"})
    pharmacies = fields.List(fields.String(), attribute="pharmacy_list",
                             metadata={"description": "designated pharmacies"})


@dataclass(frozen=True)
class SpecialDrugSearch:
    product_id: int
    found: SpecialDrugs


class SpecialDrugListView(ResponseSchema):
    """Dumps a ``SpecialDrugSearch``."""

    product_id = fields.Integer()
    product_name = fields.String(attribute="found.product_name")
    query = fields.String(attribute="found.query")
    items = fields.List(fields.Nested(SpecialDrugView), attribute="found.drugs")
    notice = Computed(lambda _: SPECIAL_DRUG_NOTICE)


# ---------------------------------------------------------------- pharmacies and statements


class SpecialDrugSettlementRequestSchema(_SettlementIdsSchema):
    """A designated pharmacy's special-drug purchase, settled at its counter."""

    prescription_no = fields.String(required=True, validate=validate.Length(min=1, max=64),
                                    metadata={"description": "特药处方编号"})
    diagnosis_code = fields.String(required=True, validate=_ICD10, metadata={
        "description": "ICD-10 diagnosis on the prescription (must be a listed indication)"})
    prescribed_on = fields.Date(required=True, metadata={"description": "处方日期"})
    purchased_on = fields.Date(required=True, metadata={"description": "购药日期"})
    in_policy_self_pay_fen = fields.Integer(
        load_default=0, strict=True, validate=_MONEY,
        metadata={"description": "医保范围内个人负担的药费, fen (default 0)"})
    items = fields.List(fields.Nested(ClaimItemSchema), required=True,
                        validate=validate.Length(min=1, max=20,
                                                 error="请填写所购特药（1至20项）"),
                        metadata={"description": "the drugs bought: codes from the product's "
                                                 "特药 list"})

    @validates_schema
    def _order(self, data: dict[str, Any], **_kwargs: Any) -> None:
        if data["purchased_on"] < data["prescribed_on"]:
            raise ValidationError("购药日期不能早于处方日期", "purchased_on")


class StatementQuerySchema(Schema):
    client_id = fields.String(required=True, validate=validate.Length(min=1, max=64), metadata={
        "description": "the hospital's or pharmacy's X-Client-Id"})
    period_from = fields.Date(required=True, data_key="from",
                              metadata={"description": "first day (China date)"})
    period_to = fields.Date(required=True, data_key="to",
                            metadata={"description": "last day, inclusive (China date)"})


class StatementLineView(ResponseSchema):
    settlement_no = fields.String()
    claim_no = fields.String()
    received_on = fields.Date()
    patient = fields.String(metadata={"description": "the ID number, masked"})
    claimed_fen = fields.Integer()
    payout_fen = fields.Integer(metadata={"description": "the claim's payout"})
    booked_fen = fields.Integer(metadata={"description": "booked to the client's payable"})


class StatementClearedView(ResponseSchema):
    statement_no = fields.String()
    cleared_at = fields.DateTime()
    ledger_reference = fields.String(allow_none=True, metadata={
        "description": "the clearing ledger transaction (none for a total of 0)"})


class StatementView(ResponseSchema):
    """A ``statements.Statement``."""

    client_id = fields.String()
    client_name = fields.String()
    client_kind = fields.String(metadata={"description": "hospital | pharmacy"})
    client_kind_label = fields.String()
    period_from = fields.Date(data_key="from")
    period_to = fields.Date(data_key="to")
    settlement_count = fields.Integer()
    total_fen = fields.Integer(metadata={"description": "what the period added to the payable"})
    lines = fields.List(fields.Nested(StatementLineView))
    cleared = fields.Nested(StatementClearedView, allow_none=True,
                            metadata={"description": "none until the statement is cleared"})
    csv_url = Computed(lambda s: url_for(
        "claims_admin.SettlementStatementCsv", client_id=s.client_id,
        **{"from": s.period_from.isoformat(), "to": s.period_to.isoformat()}))
