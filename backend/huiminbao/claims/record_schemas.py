"""Marshmallow schemas of claims from authorized records."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from marshmallow import Schema, ValidationError, fields, validate, validates_schema

from huiminbao.claims.record_rules import consent_status_label
from huiminbao.claims.records import RecordsRead
from huiminbao.claims.schemas import ClaimantFactsSchema
from huiminbao.core.inputs import Id
from huiminbao.core.responses import Computed, ComputedBoolean, ComputedList, ResponseSchema
from huiminbao.registry.port import SettlementRecord, VisitType

RECORD_NO = validate.Regexp(r"^[A-Za-z0-9._:-]{1,64}$", error="结算记录编号格式不正确")

VISIT_LABELS = {
    VisitType.INPATIENT: "住院",
    VisitType.OUTPATIENT: "普通门诊",
    VisitType.OUTPATIENT_SPECIAL: "门诊特殊病、慢性病（门特/门慢）",
    VisitType.PHARMACY: "定点药店购药",
}


class RecordsConsentRequestSchema(Schema):
    period_from = fields.Date(required=True, metadata={
        "description": "first visit date the platform may read"})
    period_to = fields.Date(required=True, metadata={
        "description": "last visit date the platform may read (at most 366 days on)"})


class RecordsQuerySchema(Schema):
    since = fields.Date(load_default=None, metadata={
        "description": "default: the newest live authorization's first day"})
    until = fields.Date(load_default=None, metadata={
        "description": "default: the newest live authorization's last day"})

    @validates_schema
    def _both_or_neither(self, data: dict[str, Any], **_: Any) -> None:
        if (data.get("since") is None) != (data.get("until") is None):
            raise ValidationError("请同时填写起止日期", field_name="until")


class RecordsConsentRevokeSchema(Schema):
    consent_id = Id(required=True, strict=True, metadata={"description": "the authorization"})


class RecordPrefillQuerySchema(Schema):
    record_no = fields.String(required=True, validate=RECORD_NO)
    out_of_city = fields.Boolean(load_default=False, metadata={
        "description": "the stay or visit was outside the insured city (异地就医)"})


class ClaimFromRecordSchema(ClaimantFactsSchema):
    """Only what the settlement lacks: its figures, dates, hospital and diagnoses are read from
    the registry again and cannot be typed."""

    record_no = fields.String(required=True, validate=RECORD_NO)
    out_of_city = fields.Boolean(load_default=False, metadata={
        "description": "treated outside the insured city: an out_of_city claim"})


class RecordsConsentView(ResponseSchema):
    """Dumps a ``RecordsConsent``."""

    id = fields.Integer()
    period_from = fields.Date()
    period_to = fields.Date()
    granted_at = fields.DateTime()
    revoked_at = fields.DateTime(allow_none=True)
    live = ComputedBoolean(lambda c: c.revoked_at is None)
    by_agent = ComputedBoolean(lambda c: c.grant_id is not None, metadata={
        "description": "given by an agent under a proxy grant"})
    status_label = Computed(lambda c: consent_status_label(c.revoked_at))


class RecordsConsentListView(ResponseSchema):
    items = fields.List(fields.Nested(RecordsConsentView))


class SettledItemView(ResponseSchema):
    code = fields.String()
    name = fields.String()
    amount_fen = fields.Integer()


def _visit_label(record: SettlementRecord) -> str:
    return VISIT_LABELS[record.visit_type]


class SettlementRecordView(ResponseSchema):
    """Dumps a ``SettlementRecord``."""

    record_no = fields.String()
    visit_type = Computed(lambda r: r.visit_type.value)
    visit_label = Computed(_visit_label)
    visit_date = fields.Date()
    end_date = fields.Date()
    hospital_name = fields.String()
    in_policy_self_pay_fen = fields.Integer()
    items = fields.List(fields.Nested(SettledItemView))
    drug_codes = fields.List(fields.String())
    diagnosis_codes = fields.List(fields.String())


@dataclass(frozen=True)
class ListedRecord:
    record: SettlementRecord
    claimed: bool


class ListedSettlementRecordView(ResponseSchema):
    """Dumps a ``ListedRecord``."""

    record = fields.Nested(SettlementRecordView)
    claimed = fields.Boolean(metadata={"description": "a claim was filed from it already"})


def _listed(read: RecordsRead) -> list[ListedRecord]:
    return [ListedRecord(record, record.record_no in read.claimed) for record in read.records]


class SettlementRecordListView(ResponseSchema):
    """Dumps a ``records.RecordsRead``."""

    consent = fields.Nested(RecordsConsentView)
    items = ComputedList(_listed, fields.Nested(ListedSettlementRecordView))


class RecordPrefillView(ResponseSchema):
    """Dumps a ``records.Prefill``: the claim form as the settlement fills it."""

    record = fields.Nested(SettlementRecordView)
    kind = Computed(lambda p: p.kind.value)
    kind_label = Computed(lambda p: p.kind.label)
    period_labels = ComputedList(lambda p: list(p.kind.period_labels), fields.String())
    hospital_name = fields.String(attribute="record.hospital_name")
    admitted_on = fields.Date(attribute="record.visit_date")
    discharged_on = fields.Date(attribute="record.end_date")
    in_policy_self_pay_fen = fields.Integer(attribute="record.in_policy_self_pay_fen")
    items = fields.List(fields.Nested(SettledItemView), attribute="record.items")
    diagnosis_code = Computed(lambda p: p.record.diagnosis_codes[0]
                              if p.record.diagnosis_codes else None, allow_none=True)
    diagnosis_codes = ComputedList(lambda p: list(p.record.diagnosis_codes[1:]), fields.String())
    documents = fields.List(fields.String())
    to_add = fields.List(fields.String(), metadata={
        "description": "fields the resident still gives (besides documents and payee)"})
    claimed = fields.Boolean()

