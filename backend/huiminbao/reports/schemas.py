"""Marshmallow schemas of the bureau report: its query (a month, or a first and last day) and its
answer, dumped from ``reports.domain.Report``."""

from __future__ import annotations

from marshmallow import Schema, fields

from huiminbao.core.responses import ResponseSchema


class ReportQuerySchema(Schema):
    month = fields.String(load_default=None, allow_none=True, metadata={
        "description": "a calendar month, YYYY-MM (China time); or give `from` and `to`"})
    first_day = fields.Date(load_default=None, allow_none=True, data_key="from", metadata={
        "description": "first day (China time), included; with `to`, at most 366 days"})
    last_day = fields.Date(load_default=None, allow_none=True, data_key="to", metadata={
        "description": "last day (China time), included"})


class PeriodSchema(ResponseSchema):
    first_day = fields.Date(data_key="from")
    last_day = fields.Date(data_key="to", metadata={"description": "inclusive"})
    label = fields.String()


class ReportRowSchema(ResponseSchema):
    key = fields.String()
    label = fields.String()
    unit = fields.String(metadata={
        "description": "persons | claims | complaints | fen | tenth_days (25 = 2.5 days)"})
    unit_label = fields.Function(lambda row: row.unit.label)
    period = fields.Integer(allow_none=True, metadata={
        "description": "within the period; for stocks the change over it; null: not a flow"})
    total = fields.Integer(allow_none=True, metadata={
        "description": "at the period's end (cumulative); null: a flow only"})
    period_text = fields.String(metadata={"description": "`period` as shown (yuan, days)"})
    total_text = fields.String()


class ReportSectionSchema(ResponseSchema):
    key = fields.String()
    title = fields.String()
    rows = fields.List(fields.Nested(ReportRowSchema))
    chart = fields.String(allow_none=True, metadata={
        "description": "which column the page draws as bars (total | period), or null"})


class ReportSchema(ResponseSchema):
    product_id = fields.Integer()
    product_name = fields.String()
    year = fields.Integer()
    period = fields.Nested(PeriodSchema)
    as_of = fields.DateTime(metadata={
        "description": "the instant of the stock figures: the period's end, or now while it "
                       "runs; the disclosure's figures as of this instant are the same"})
    sections = fields.List(fields.Nested(ReportSectionSchema))
    csv_url = fields.String()
