"""Marshmallow schemas of the operator console API."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from flask_smorest.fields import Upload
from marshmallow import Schema, fields, validate

from huiminbao.catalog.domain import AssistanceCategory
from huiminbao.catalog.schemas import CoverageInSchema, WindowInSchema
from huiminbao.console import bulk, roster
from huiminbao.console.counter import CounterResult
from huiminbao.core.clock import to_china_time
from huiminbao.core.inputs import Id
from huiminbao.core.masking import mask_phone, scrub_text
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
from huiminbao.disclosure.domain import Channel
from huiminbao.enrollment.domain import PayerKind, PaymentMethod
from huiminbao.identity.domain import BindingVerification
from huiminbao.identity.sms_domain import SmsStatus
from huiminbao.identity.sms_worker import OutboxEntry

_PAYMENTS = ["counter_cash", "subsidy"]


class CloneInSchema(Schema):
    year = fields.Integer(required=True, strict=True, validate=validate.Range(
        min=2000, max=2100, error="年度应为2000至2100之间的年份"), metadata={
        "description": "the new product year (the year its coverage starts)"})
    enrollment = fields.Nested(WindowInSchema, required=True)
    coverage = fields.Nested(CoverageInSchema, required=True)
    code = fields.String(load_default=None, allow_none=True, metadata={
        "description": "default: the source code with the year replaced (XHYLB-2028)"})
    name = fields.String(load_default=None, allow_none=True, metadata={
        "description": "default: the source name, its year replaced if it has one"})


class CsvUploadSchema(Schema):
    file = Upload(required=True, metadata={"description": "CSV, UTF-8 (BOM allowed) or GB18030"})


class BulkFormSchema(Schema):
    employer_code = fields.String(required=True, metadata={
        "description": "e.g. the unified social credit code; the ledger account employer:<code>"})
    employer_name = fields.String(required=True)
    product_id = Id(required=True, metadata={
        "description": "a published product whose window is open"})


class RosterFormSchema(Schema):
    product_id = Id(required=True, metadata={
        "description": "a published product whose window is open; its year is the roster's"})


class BulkUploadSchema(BulkFormSchema, CsvUploadSchema):
    """The whole multipart body of a bulk upload, for the OpenAPI document (the view reads the
    form fields and the file with their own schemas)."""


class RosterUploadSchema(RosterFormSchema, CsvUploadSchema):
    """The whole multipart body of a roster import, for the OpenAPI document."""


def multipart_body(schema: type[Schema]) -> dict[str, Any]:
    """``@blp.doc(requestBody=...)`` for a form with a file: flask-smorest documents only the
    last ``@blp.arguments`` of the same content type, which would drop the form fields."""
    return {"required": True, "content": {"multipart/form-data": {"schema": schema}}}


def _counts(rows: Sequence[Any], *outcomes: str) -> dict[str, int]:
    """How many rows an import has, and how many ended in each of ``outcomes``."""
    counts = {"total": len(rows)} | dict.fromkeys(outcomes, 0)
    for row in rows:
        if row.outcome in outcomes:
            counts[row.outcome] += 1
    return counts


def batch_counts(report: bulk.BatchReport) -> dict[str, int]:
    return _counts(report.batch.rows, "enrolled", "already", "failed")


def roster_counts(report: roster.RosterReport) -> dict[str, int]:
    return _counts(report.roster_import.rows, "enrolled", "skipped", "failed")


def _batch_message(report: bulk.BatchReport) -> str:
    counts, batch = batch_counts(report), report.batch
    message = (f"共{counts['total']}行：{counts['enrolled']}人参保成功，"
               f"{counts['already']}人此前已由本单位投保，{counts['failed']}行未通过")
    if report.replayed:
        message = (f"该文件已于{to_china_time(batch.created_at):%Y年%m月%d日 %H:%M}上传处理"
                   f"（批次号{batch.batch_no}），本次未重复投保。上次结果：{message}")
    return message


def _roster_message(report: roster.RosterReport) -> str:
    counts = roster_counts(report)
    return (f"共{counts['total']}行：{counts['enrolled']}人资助参保成功，"
            f"{counts['skipped']}人已跳过，{counts['failed']}行未通过")


class _ImportCountsSchema(ResponseSchema):
    total = fields.Integer()
    enrolled = fields.Integer()
    failed = fields.Integer()


class BatchCountsSchema(_ImportCountsSchema):
    already = fields.Integer(metadata={"description": "insured by this employer before"})


class _ImportRowSchema(ResponseSchema):
    """A stored row of an uploaded file: only masked identifiers were kept."""

    line = fields.Integer(metadata={"description": "line in the file (the header is line 1)"})
    id_number = fields.String(attribute="id_number_masked", metadata={"description": "masked"})
    name = fields.String(attribute="name_masked", metadata={"description": "masked"})
    reason = fields.String(allow_none=True, metadata={"description": "why not (Chinese)"})
    policy_no = fields.String(allow_none=True)


class BatchRowSchema(_ImportRowSchema):
    tier = fields.String(attribute="tier_code")
    outcome = fields.String(metadata={"description": "enrolled | already | failed | pending"})
    outcome_label = Label(bulk.OUTCOME_LABELS.__getitem__, source="outcome")


class BatchView(ResponseSchema):
    """Dumps a ``BatchReport``."""

    batch_no = fields.String(attribute="batch.batch_no")
    employer_code = fields.String(attribute="employer.code")
    employer_name = fields.String(attribute="employer.name")
    product_id = fields.Integer(attribute="batch.product_id")
    product_name = fields.String()
    filename = fields.String(attribute="batch.filename")
    file_sha256 = fields.String(attribute="batch.file_sha256")
    status = fields.String(attribute="batch.status")
    replayed = fields.Boolean(metadata={
        "description": "true: this very file was uploaded before; nothing was enrolled now"})
    message = Computed(_batch_message)
    created_at = fields.DateTime(attribute="batch.created_at")
    finished_at = fields.DateTime(attribute="batch.finished_at", allow_none=True)
    counts = ComputedNested(batch_counts, BatchCountsSchema)
    rows = fields.List(fields.Nested(BatchRowSchema), attribute="batch.rows")


class RosterCountsSchema(_ImportCountsSchema):
    skipped = fields.Integer()


class RosterRowSchema(_ImportRowSchema):
    category = fields.String(allow_none=True)
    category_label = Label(AssistanceCategory, source="category", allow_none=True)
    outcome = fields.String(metadata={"description": "enrolled | skipped | failed"})
    outcome_label = Label(roster.OUTCOME_LABELS.__getitem__, source="outcome")
    payer = fields.String(attribute="payer_code", allow_none=True,
                          metadata={"description": "the paying body's code"})
    subsidy_fen = fields.Integer(allow_none=True, metadata={"description": "paid by it"})


class RosterView(ResponseSchema):
    """Dumps a ``RosterReport``."""

    import_no = fields.String(attribute="roster_import.import_no")
    product_id = fields.Integer(attribute="roster_import.product_id")
    product_name = fields.String()
    year = fields.Integer(attribute="roster_import.year")
    filename = fields.String(attribute="roster_import.filename")
    status = fields.String(attribute="roster_import.status")
    message = Computed(_roster_message)
    created_at = fields.DateTime(attribute="roster_import.created_at")
    donor = fields.String(attribute="roster_import.donor_code", allow_none=True, metadata={
        "description": "a donor's list: the code of the donor paying for every person"})
    counts = ComputedNested(roster_counts, RosterCountsSchema)
    rows = fields.List(fields.Nested(RosterRowSchema), attribute="roster_import.rows")


class EvidenceSchema(Schema):
    id_document_checked = fields.Boolean(required=True, metadata={
        "description": "the staff member saw the original identity document"})
    receipt_no = fields.String(load_default=None, allow_none=True, validate=validate.Length(
        max=40, error="收据编号不超过40个字符"), metadata={
        "description": "the cash receipt number (required for counter_cash)"})


class CounterInSchema(Schema):
    id_number = fields.String(required=True)
    name = fields.String(required=True)
    tier = fields.String(required=True, metadata={"description": "tier code or name"})
    payment = fields.String(load_default="counter_cash", validate=validate.OneOf(
        _PAYMENTS, error="窗口只能办理现金缴费（counter_cash）或政府资助（subsidy）"),
        metadata={"description": " | ".join(_PAYMENTS)})
    evidence = fields.Nested(EvidenceSchema, required=True)
    product_id = Id(load_default=None, allow_none=True, metadata={
        "description": "default: the city's product open today"})


class IdentityEvidenceSchema(Schema):
    id_document_checked = fields.Boolean(required=True, metadata={
        "description": "the staff member saw the original ID card of this person, in person"})
    consents_signed = fields.Boolean(required=True, metadata={
        "description": "the resident signed both consent texts (current versions) on paper"})


class CounterIdentityInSchema(Schema):
    phone = fields.String(required=True, validate=validate.Length(
        min=1, max=20, error="请输入居民登录惠民保的手机号"), metadata={
        "description": "the phone the resident signs in with (their account)"})
    name = fields.String(required=True, validate=validate.Length(min=1, max=64,
                                                                   error="请输入姓名"))
    id_number = fields.String(required=True, validate=validate.Length(
        min=1, max=32, error="请输入身份证号码"))
    evidence = fields.Nested(IdentityEvidenceSchema, required=True)


class CounterIdentityView(ResponseSchema):
    """Dumps a ``CounterIdentityResult`` (masked when it was made)."""

    phone = fields.String(metadata={"description": "masked"})
    name = fields.String(metadata={"description": "masked"})
    id_number = fields.String(metadata={"description": "masked"})
    verified_by = fields.String()
    verified_by_label = Label(BindingVerification, source="verified_by")
    displaced = fields.Boolean(metadata={
        "description": "an unverified binding of this person on another account was ended"})
    staff_name = fields.String()


def _tier_name(result: CounterResult) -> str:
    tier = result.product.tier(result.tier_code)
    return tier.name if tier else result.tier_code


class CounterView(ResponseSchema):
    """Dumps a ``CounterResult`` (masked when it was made)."""

    order_no = fields.String()
    policy_no = fields.String()
    channel = Computed(lambda _: Channel.COUNTER.value)
    channel_label = Computed(lambda _: Channel.COUNTER.label)
    product_id = fields.Integer(attribute="product.id")
    product_name = fields.String(attribute="product.name")
    tier = fields.String(attribute="tier_code")
    tier_name = Computed(_tier_name)
    insured_name = fields.String(metadata={"description": "masked"})
    id_number = fields.String(metadata={"description": "masked"})
    premium_fen = fields.Integer()
    subsidy_fen = fields.Integer()
    paid_fen = fields.Integer()
    payment = fields.String()
    payment_label = Label(PaymentMethod, source="payment")
    receipt_no = fields.String(allow_none=True)
    staff_name = fields.String()
    coverage_starts_on = fields.Date(attribute="product.coverage_starts_on")
    coverage_ends_on = fields.Date(attribute="product.coverage_ends_on")


class ReconcileRunQuerySchema(Schema):
    limit = fields.Integer(load_default=20, validate=validate.Range(
        min=1, max=100, error="条数应为1至100之间的整数"), metadata={
        "description": "how many runs, newest first (1–100, default 20)"})


class ReconcileRunSchema(ResponseSchema):
    """Dumps a ``ReconcileRun``."""

    started_at = fields.DateTime()
    finished_at = fields.DateTime()
    ok = fields.Boolean(metadata={"description": "true: no violation found"})
    settled_orders = fields.Integer(metadata={
        "description": "orders waiting for a payment outcome that this run settled"})
    settled_refunds = fields.Integer(metadata={"description": "refunds this run confirmed"})
    healed = fields.Integer(metadata={
        "description": "money that arrived for a closed order, refunded by this run"})
    violations = ComputedList(lambda run: list(run.violations), fields.String(), metadata={
        "description": "what does not add up, in Chinese (healed money is listed too)"})


class ReconcileRunListSchema(ResponseSchema):
    """Dumps the runs, newest first."""

    items = ComputedList(list, fields.Nested(ReconcileRunSchema), metadata={
        "description": "newest first"})
    latest_ok = ComputedBoolean(lambda runs: runs[0].ok if runs else None, allow_none=True,
                                metadata={
        "description": "the newest run's result; null before the first run"})


class SmsOutboxQuerySchema(Schema):
    status = fields.String(load_default=None, validate=validate.OneOf(
        ["queued", "sending", "sent", "failed", "given_up"], error="短信状态不正确"), metadata={
        "description": "only messages in this state"})


class SmsOutboxItemSchema(ResponseSchema):
    """Dumps an ``OutboxEntry``: never the text itself (it may hold a one-time code), its
    template, state and error."""

    id = fields.Integer()
    phone = Masked(mask_phone, metadata={"description": "masked: 138****5678"})
    template = fields.String(allow_none=True, metadata={"description": "template key"})
    status = fields.String(metadata={"description": "queued, sending, sent, failed, given_up"})
    status_label = Label(SmsStatus, source="status")
    attempts = fields.Integer()
    created_at = fields.DateTime()
    next_attempt_at = fields.DateTime(allow_none=True)
    sent_at = fields.DateTime(allow_none=True)
    last_error = Computed(lambda entry: scrub_text(entry.last_error) if entry.last_error else None,
                          allow_none=True)
    provider_message_id = fields.String(allow_none=True)


def _per_state(entries: Sequence[OutboxEntry]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for entry in entries:
        counts[entry.status] = counts.get(entry.status, 0) + 1
    return counts


class SmsCountsSchema(ResponseSchema):
    """Messages per state among those listed; a state none is in is left out."""

    queued = fields.Integer()
    sending = fields.Integer()
    sent = fields.Integer()
    failed = fields.Integer()
    given_up = fields.Integer()


class SmsOutboxSchema(ResponseSchema):
    """Dumps the listed ``OutboxEntry`` items, newest first."""

    items = ComputedList(list, fields.Nested(SmsOutboxItemSchema))
    counts = ComputedNested(_per_state, SmsCountsSchema, metadata={
        "description": "messages per state among those listed"})


# ---------------------------------------------------------------- co-insurers (共保体)


class CoinsurerInSchema(Schema):
    insurer = fields.String(required=True, validate=validate.Length(
        max=200, error="承保机构名称不能超过200个字"),
        metadata={"description": "the insurer's name"})
    share_bp = fields.Integer(required=True, strict=True, validate=validate.Range(
        min=1, max=10000, error="每家承保机构的份额必须大于0%且不超过100%"), metadata={
        "description": "basis points: 5000 = 50 %; all shares sum to 10000"})
    lead = fields.Boolean(load_default=False, metadata={"description": "the lead (主承保)"})


class CoinsuranceInSchema(Schema):
    insurers = fields.List(fields.Nested(CoinsurerInSchema), required=True,
                           validate=validate.Length(max=10, error="共保体最多10家承保机构"))
    contested_claim_threshold_fen = fields.Integer(
        load_default=None, allow_none=True, strict=True,
        validate=validate.Range(min=1, max=10**12, error="共保复核金额须为正数（分），不设请留空"),
        metadata={"description": "claims paying more than this need a second insurer's "
                                 "approval; null: none do"})


class CoinsurerSchema(ResponseSchema):
    """Dumps a ``ProductInsurer``."""

    id = fields.Integer(metadata={"description": "names the ledger accounts "
                                                 "insurer_premium/insurer_payout:<product>:<id>"})
    insurer = fields.String()
    share_bp = fields.Integer()
    share_label = Label(format_percent, source="share_bp", metadata={"description": "e.g. 50%"})
    lead = fields.Boolean(attribute="is_lead")


class CoinsuranceSchema(ResponseSchema):
    product_id = fields.Integer()
    insurers = fields.List(fields.Nested(CoinsurerSchema))
    contested_claim_threshold_fen = fields.Integer(allow_none=True)
    editable = fields.Boolean(metadata={"description": "false once money has been split by "
                                                      "these shares"})


class StaffInsurerInSchema(Schema):
    insurer = fields.String(required=True)
    supervisor = fields.Boolean(load_default=False, metadata={
        "description": "the insurer's supervisor (复核主管): makes the second decision of a "
                       "contested claim when a product has this insurer alone"})


class StaffInsurerSchema(ResponseSchema):
    account_id = fields.Integer()
    insurer = fields.String()
    supervisor = fields.Boolean()


class StatementQuerySchema(Schema):
    insurer = fields.String(required=True)
    starts_on = fields.Date(required=True, data_key="from", metadata={
        "description": "first day (China time), included"})
    ends_on = fields.Date(required=True, data_key="to", metadata={
        "description": "last day (China time), included"})
    format = fields.String(load_default="json", validate=validate.OneOf(
        ["json", "csv"], error="format 只能是 json 或 csv"))


class StatementLineSchema(ResponseSchema):
    occurred_at = fields.DateTime()
    kind = fields.String(metadata={"description": "premium | refund | payout"})
    kind_label = fields.String()
    reference = fields.String()
    amount_fen = fields.Integer(metadata={"description": "premiums positive, refunds and "
                                                         "payouts negative"})


class StatementSchema(ResponseSchema):
    product_id = fields.Integer()
    product_name = fields.String()
    insurer = fields.String()
    share_bp = fields.Integer()
    lead = fields.Boolean()
    starts_on = fields.Date(data_key="from")
    ends_on = fields.Date(data_key="to")
    lines = fields.List(fields.Nested(StatementLineSchema))
    premiums_fen = fields.Integer()
    refunds_fen = fields.Integer()
    payouts_fen = fields.Integer()
    net_fen = fields.Integer()


class SurplusSchema(ResponseSchema):
    target_payout_ratio_bp = fields.Integer(
        required=True, allow_none=True, strict=True,
        validate=validate.Range(min=1, max=10000, error="目标赔付率须大于0%且不超过100%"),
        metadata={"description": "basis points: 8500 = 85 %; null: none set"})
    surplus_used_fen = fields.Integer(
        load_default=None, allow_none=True, strict=True,
        validate=validate.Range(min=0, max=10**13, error="结余使用金额须为不小于0的整数（分）"),
        metadata={"description": "how much of the previous year's surplus this product uses"})
    surplus_use_note = fields.String(load_default=None, allow_none=True, metadata={
        "description": "how it is used; required with an amount"})
    previous_year_surplus_fen = fields.Integer(dump_only=True, allow_none=True, metadata={
        "description": "the surplus of the city's previous-year product as its disclosure shows "
                       "it now (the most surplus_used_fen may be); null: none yet (no such "
                       "product, its coverage year not over, or no target ratio)"})


# ---------------------------------------------------------------- paying bodies (资助出资方)

_PAYER_KINDS = ["city", "district", "charity"]
_GROUPS = ["tekun", "dibao", "dibian", "disabled"]
_GROUP = validate.OneOf(_GROUPS, error="资助类别只能是 tekun（特困）、dibao（低保）、dibian（低边）"
                                        "或 disabled（残疾人员）")
_PAYER_NAME = validate.Length(min=1, max=100, error="请填写出资方名称（不超过100字）")
_CITY_CODE = validate.Regexp(r"^[0-9]{6}$", error="城市代码应为6位数字，如 330100")


class PayerQuerySchema(Schema):
    city_code = fields.String(required=True, validate=_CITY_CODE)


class PayerInSchema(Schema):
    city_code = fields.String(required=True, validate=_CITY_CODE)
    code = fields.String(required=True, validate=validate.Regexp(
        r"^[a-z0-9][a-z0-9_-]{1,31}$",
        error="出资方代码应为2至32位小写字母、数字、下划线或连字符，如 xihu"), metadata={
        "description": "names the fund account subsidy_fund:<city>:<code> (the city "
                       "government's is subsidy_fund:<city>); rosters may name it"})
    name = fields.String(required=True, validate=_PAYER_NAME)
    kind = fields.String(required=True, validate=validate.OneOf(
        _PAYER_KINDS, error="出资方类型只能是 city（市级财政）、district（区县财政）或 "
                            "charity（慈善捐赠）"))
    district_code = fields.String(load_default=None, allow_none=True, metadata={
        "description": "a district payer's district (6 digits)"})
    categories = fields.List(fields.String(validate=_GROUP), load_default=list, metadata={
        "description": "the assistance groups a district pays for"})


class PayerUpdateSchema(Schema):
    name = fields.String(validate=_PAYER_NAME)
    categories = fields.List(fields.String(validate=_GROUP))
    active = fields.Boolean()


class PayerSchema(ResponseSchema):
    """Dumps a ``PayerView``."""

    id = fields.Integer(attribute="row.id")
    city_code = fields.String(attribute="row.city_code")
    code = fields.String(attribute="row.code")
    name = fields.String(attribute="row.name")
    kind = fields.String(attribute="row.kind",
                         metadata={"description": "city | district | charity"})
    kind_label = Label(PayerKind, source="row.kind")
    district_code = fields.String(attribute="row.district_code", allow_none=True)
    categories = ComputedList(lambda payer: [group for group in payer.row.categories.split(",")
                                             if group], fields.String())
    active = fields.Boolean(attribute="row.active")
    fund_account = fields.String(metadata={"description": "its ledger account"})
    paid_fen = fields.Integer(metadata={
        "description": "subsidies its fund has paid, net of refunds (from the ledger)"})


class PayerListSchema(ResponseSchema):
    payers = fields.List(fields.Nested(PayerSchema))


class ReceiptQuerySchema(Schema):
    format = fields.String(load_default="json", validate=validate.OneOf(
        ["json", "csv"], error="format 只能是 json 或 csv"))


class ReceiptLineSchema(ResponseSchema):
    line = fields.Integer()
    name = fields.String(metadata={"description": "masked"})
    id_number = fields.String(metadata={"description": "masked"})
    outcome = fields.String()
    reason = fields.String(allow_none=True)
    policy_no = fields.String(allow_none=True)
    payer_name = fields.String(allow_none=True)
    subsidy_fen = fields.Integer()


class ReceiptSchema(ResponseSchema):
    import_no = fields.String()
    product_name = fields.String()
    year = fields.Integer()
    donor_name = fields.String(allow_none=True)
    created_at = fields.DateTime()
    total_fen = fields.Integer()
    lines = fields.List(fields.Nested(ReceiptLineSchema))
