"""Marshmallow schemas of the payments API."""

from __future__ import annotations

from marshmallow import fields

from huiminbao.core.masking import mask_id_number, mask_name
from huiminbao.core.responses import Masked, ResponseSchema


class NotifyAnswer(ResponseSchema):
    code = fields.String(metadata={"description": "SUCCESS, or FAIL with an HTTP error status"})
    message = fields.String()


class AccountEntryView(ResponseSchema):
    """Dumps a registry ``AccountEntry``."""

    occurred_at = fields.DateTime()
    kind = fields.String(metadata={"description": "debit | refund"})
    balance = fields.String(attribute="balance_kind",
                            metadata={"description": "prior_years | current_year"})
    amount_fen = fields.Integer(metadata={"description": "negative for a debit"})
    balance_after_fen = fields.Integer()
    purpose = fields.String()


class AccountView(ResponseSchema):
    """Dumps a ``PersonalAccount``."""

    holder = Masked(mask_name, attribute="person.name", metadata={"description": "masked name"})
    account = Masked(mask_id_number, attribute="person.id_number",
                     metadata={"description": "masked ID number of the account"})
    prior_years_fen = fields.Integer(attribute="balance.prior_years_fen")
    current_year_fen = fields.Integer(attribute="balance.current_year_fen")
    entries = fields.List(fields.Nested(AccountEntryView))
