"""Marshmallow schemas of the proxy API. Field types are checked here; the rules about scopes,
limits and periods live in ``domain.terms_problems`` (one set of Chinese messages)."""

from __future__ import annotations

from marshmallow import Schema, fields, validate

from huiminbao.core.responses import ResponseSchema
from huiminbao.proxy.domain import ConfirmMethod, Evidence, Scope

_SCOPES = " | ".join(scope.value for scope in Scope)
_METHODS = [method.value for method in ConfirmMethod]
_EVIDENCE = [item.value for item in Evidence]


class GrantRequestSchema(Schema):
    principal_name = fields.String(
        required=True, validate=validate.Length(min=1, max=64, error="请输入委托人姓名"),
        metadata={"description": "the principal's name as registered (compared in NFC)"})
    principal_id_number = fields.String(
        required=True, validate=validate.Length(min=1, max=32, error="请输入委托人身份证号码"))
    scopes = fields.List(fields.String(), required=True,
                         metadata={"description": f"one or more of {_SCOPES}"})
    pay_limit_fen = fields.Integer(
        load_default=None, allow_none=True, strict=True,
        metadata={"description": "required with pay_from_principal_account (only then): the "
                                 "most the agent may pay from the principal's personal account "
                                 "per calendar year, fen, > 0"})
    valid_days = fields.Integer(
        required=True, strict=True,
        metadata={"description": "1..366, counted from the principal's confirmation"})
    confirm_method = fields.String(
        required=True,
        validate=validate.OneOf(_METHODS,
                                error="请选择确认方式：扫码确认、短信验证码或窗口现场确认"),
        metadata={"description": " | ".join(_METHODS)})


class EvidenceView(ResponseSchema):
    code = fields.String()
    label = fields.String()


class GrantView(ResponseSchema):
    id = fields.Integer()
    role = fields.String(metadata={"description": "the caller's part: agent | principal | staff"})
    agent_name = fields.String(metadata={"description": "masked"})
    principal_name = fields.String(metadata={"description": "masked"})
    principal_person_id = fields.Integer(
        metadata={"description": "send as X-Acting-For to act for the principal"})
    scopes = fields.List(fields.String())
    scope_labels = fields.List(fields.String(), metadata={"description": "plain Chinese"})
    pay_limit_fen = fields.Integer(allow_none=True)
    paid_this_year_fen = fields.Integer(allow_none=True)
    pay_remaining_fen = fields.Integer(allow_none=True)
    valid_days = fields.Integer()
    valid_until = fields.AwareDateTime(allow_none=True,
                                       metadata={"description": "set at confirmation"})
    status = fields.String(metadata={"description": "pending | active | revoked | cancelled | "
                                                    "expired (a lapsed grant reads expired)"})
    status_label = fields.String()
    confirm_method = fields.String(metadata={"description": "as asked for"})
    confirm_method_label = fields.String()
    confirmed_method = fields.String(allow_none=True, metadata={"description": "as it was done"})
    created_at = fields.AwareDateTime()
    pending_expires_at = fields.AwareDateTime()
    confirmed_at = fields.AwareDateTime(allow_none=True)
    ended_at = fields.AwareDateTime(allow_none=True)
    # Counter staff only:
    agent_id_number = fields.String(metadata={"description": "staff only, masked"})
    principal_id_number = fields.String(metadata={"description": "staff only, masked"})
    evidence = fields.List(fields.Nested(EvidenceView), metadata={"description": "staff only"})
    counter_note = fields.String(allow_none=True, metadata={"description": "staff only"})


class GrantListsView(ResponseSchema):
    as_agent = fields.List(fields.Nested(GrantView))
    as_principal = fields.List(fields.Nested(GrantView))


class StaffGrantListView(ResponseSchema):
    items = fields.List(fields.Nested(GrantView))


class StaffGrantQuerySchema(Schema):
    principal_id_number = fields.String(
        required=True, validate=validate.Length(min=1, max=32, error="请输入委托人身份证号码"))


class CounterConfirmationSchema(Schema):
    evidence = fields.List(
        fields.String(validate=validate.OneOf(_EVIDENCE, error="不支持的核验材料")),
        required=True, validate=validate.Length(min=1, error="请选择已核验的证件材料"),
        metadata={"description": " | ".join(_EVIDENCE) + "; must include the principal's ID "
                                                          "card or household register and the "
                                                          "agent's ID card"})
    note = fields.String(load_default=None, allow_none=True,
                         validate=validate.Length(max=200, error="备注不能超过200字"))


class ConfirmSchema(Schema):
    code = fields.String(
        load_default=None, validate=validate.Regexp(r"^\d{6}$", error="请输入6位数字验证码"),
        metadata={"description": "SMS: the code the principal received (sent by the agent)"})
    counter = fields.Nested(CounterConfirmationSchema, load_default=None,
                            metadata={"description": "counter staff only"})


class CodeSentView(ResponseSchema):
    sent_to = fields.String(metadata={"description": "the principal's masked phone"})
    expires_at = fields.AwareDateTime()
    resend_after_seconds = fields.Integer()


class ScopeLine(ResponseSchema):
    code = fields.String()
    label = fields.String()


class ConfirmationView(ResponseSchema):
    grant_id = fields.Integer()
    status = fields.String()
    status_label = fields.String()
    agent_name = fields.String(metadata={"description": "masked"})
    principal_name = fields.String(metadata={"description": "masked"})
    scopes = fields.List(fields.Nested(ScopeLine))
    pay_limit_fen = fields.Integer(allow_none=True)
    valid_days = fields.Integer()
    valid_until = fields.AwareDateTime(metadata={"description": "if confirmed now"})
    valid_until_label = fields.String()
    token_expires_at = fields.AwareDateTime()
    summary = fields.String(metadata={"description": "the whole grant in one plain sentence"})


class ConfirmationAnswerSchema(Schema):
    agree = fields.Boolean(required=True,
                           metadata={"description": "true confirms; false declines (cancels)"})


class ActivityView(ResponseSchema):
    id = fields.Integer()
    occurred_at = fields.AwareDateTime()
    grant_id = fields.Integer()
    agent_name = fields.String(metadata={"description": "masked"})
    by = fields.String(metadata={"description": "agent | principal | staff | system"})
    by_label = fields.String()
    action = fields.String(metadata={"description": "the audit action"})
    action_label = fields.String()
    object = fields.String(allow_none=True, metadata={"description": "e.g. 订单 HM..."})
    amount_fen = fields.Integer(allow_none=True)
    outcome = fields.String(metadata={"description": "ok | failed"})


class ActivityListView(ResponseSchema):
    items = fields.List(fields.Nested(ActivityView))
