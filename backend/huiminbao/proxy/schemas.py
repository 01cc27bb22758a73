"""Marshmallow schemas of the proxy API. Field types are checked here; the rules about scopes,
limits and periods live in ``domain.terms_problems`` (one set of Chinese messages)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from marshmallow import Schema, ValidationError, fields, post_dump, validate, validates_schema

from huiminbao.audit.labels import ACTION_LABELS
from huiminbao.core.clock import CHINA_TZ
from huiminbao.core.masking import mask_id_number, mask_name
from huiminbao.core.responses import (
    CodeLabel,
    Computed,
    ComputedInteger,
    ComputedList,
    Label,
    Masked,
    ResponseSchema,
)
from huiminbao.identity.domain import Action
from huiminbao.proxy.domain import ConfirmMethod, Evidence, GrantStatus, Scope, scope_label
from huiminbao.proxy.models import ProxyGrant
from huiminbao.proxy.services import ActivityItem, Confirmation, GrantDetails

_SCOPES = " | ".join(scope.value for scope in Scope)
_METHODS = [method.value for method in ConfirmMethod]
_EVIDENCE = [item.value for item in Evidence]


class GrantRequestSchema(Schema):
    principal_pick = fields.String(
        load_default=None, validate=validate.Length(min=1, max=64, error="请选择要代办的家人"),
        metadata={"description": "a relative picked from GET /me/family/from-registry (its "
                                 "``pick``), instead of principal_name + principal_id_number"})
    principal_name = fields.String(
        load_default=None, validate=validate.Length(min=1, max=64, error="请输入委托人姓名"),
        metadata={"description": "without a pick: the principal's name as registered "
                                 "(compared in NFC)"})
    principal_id_number = fields.String(
        load_default=None,
        validate=validate.Length(min=1, max=32, error="请输入委托人身份证号码"),
        metadata={"description": "without a pick: the principal's ID number"})
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

    @validates_schema
    def _one_way_to_name_the_principal(self, data: dict[str, Any], **_kwargs: Any) -> None:
        """A pick from the registry's list, or a name and an ID number: one of the two."""
        typed = {"principal_name": "请输入委托人姓名",
                 "principal_id_number": "请输入委托人身份证号码"}
        if data.get("principal_pick") is not None:
            if any(data.get(name) is not None for name in typed):
                raise ValidationError("已从列表中选择家人时，无需再填写姓名和身份证号码",
                                      "principal_pick")
            return
        missing = {name: [message] for name, message in typed.items() if not data.get(name)}
        if missing:
            raise ValidationError(missing)


@dataclass(frozen=True)
class GrantAnswer:
    """A grant as one caller sees it: ``viewer_person_id`` is who asks (the agent, the
    principal, or neither: counter staff, who also see ID numbers and the evidence)."""

    details: GrantDetails
    viewer_person_id: int | None
    staff: bool = False

    @classmethod
    def to(cls, viewer_person_id: int | None, details: GrantDetails) -> GrantAnswer:
        """Staff are whoever is neither the agent nor the principal."""
        grant = details.grant
        return cls(details, viewer_person_id,
                   staff=viewer_person_id not in {grant.agent_person_id,
                                                  grant.principal_person_id})

    @property
    def grant(self) -> ProxyGrant:
        return self.details.grant

    @property
    def role(self) -> str:
        if self.viewer_person_id == self.grant.agent_person_id:
            return "agent"
        return "principal" if self.viewer_person_id == self.grant.principal_person_id else "staff"

    @property
    def scope_labels(self) -> list[str]:
        return [scope_label(scope, self.grant.pay_limit_fen, to_principal=self.role == "principal")
                for scope in self.details.scopes]

    @property
    def _pays(self) -> bool:
        return Scope.PAY_FROM_PRINCIPAL_ACCOUNT in self.details.scopes

    @property
    def paid_this_year_fen(self) -> int | None:
        return self.details.paid_this_year_fen if self._pays else None

    @property
    def pay_remaining_fen(self) -> int | None:
        if not self._pays:
            return None
        return max(0, (self.grant.pay_limit_fen or 0) - self.details.paid_this_year_fen)


_STAFF_ONLY = ("agent_id_number", "principal_id_number", "evidence", "counter_note")


class GrantView(ResponseSchema):
    """Dumps a ``GrantAnswer``."""

    id = fields.Integer(attribute="grant.id")
    role = fields.String(metadata={"description": "the caller's part: agent | principal | staff"})
    agent_name = Masked(mask_name, attribute="details.agent.name",
                        metadata={"description": "masked"})
    principal_name = Masked(mask_name, attribute="details.principal.name",
                            metadata={"description": "masked"})
    principal_person_id = fields.Integer(
        attribute="grant.principal_person_id",
        metadata={"description": "send as X-Acting-For to act for the principal"})
    scopes = fields.List(fields.String(), attribute="details.scopes")
    scope_labels = fields.List(fields.String(), metadata={"description": "plain Chinese"})
    pay_limit_fen = fields.Integer(attribute="grant.pay_limit_fen", allow_none=True)
    paid_this_year_fen = fields.Integer(allow_none=True)
    pay_remaining_fen = fields.Integer(allow_none=True)
    valid_days = fields.Integer(attribute="grant.valid_days")
    valid_until = fields.AwareDateTime(attribute="grant.valid_until", allow_none=True,
                                       metadata={"description": "set at confirmation"})
    status = fields.String(attribute="details.status", metadata={
        "description": "pending | active | revoked | cancelled | expired (a lapsed grant reads "
                       "expired)"})
    status_label = Label(GrantStatus, source="details.status")
    confirm_method = fields.String(attribute="grant.confirm_method",
                                   metadata={"description": "as asked for"})
    confirm_method_label = Label(ConfirmMethod, source="grant.confirm_method")
    confirmed_method = fields.String(attribute="grant.confirmed_method", allow_none=True,
                                     metadata={"description": "as it was done"})
    created_at = fields.AwareDateTime(attribute="grant.created_at")
    pending_expires_at = fields.AwareDateTime(attribute="grant.pending_expires_at")
    confirmed_at = fields.AwareDateTime(attribute="grant.confirmed_at", allow_none=True)
    ended_at = fields.AwareDateTime(attribute="grant.ended_at", allow_none=True)
    # Counter staff only:
    agent_id_number = Masked(mask_id_number, attribute="details.agent.id_number",
                             metadata={"description": "staff only, masked"})
    principal_id_number = Masked(mask_id_number, attribute="details.principal.id_number",
                                 metadata={"description": "staff only, masked"})
    evidence = ComputedList(lambda answer: [Evidence(code) for code in answer.grant.evidence or []],
                            fields.Nested(CodeLabel), metadata={"description": "staff only"})
    counter_note = fields.String(attribute="grant.counter_note", allow_none=True,
                                 metadata={"description": "staff only"})

    @post_dump(pass_original=True)
    def _staff_only(self, data: dict[str, Any], answer: GrantAnswer, **_: Any) -> dict[str, Any]:
        if not answer.staff:
            for key in _STAFF_ONLY:
                data.pop(key, None)
        return data


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


def _date(instant: datetime) -> str:
    return f"{instant.astimezone(CHINA_TZ):%Y年%m月%d日}"


def _scope_lines(confirmation: Confirmation) -> list[dict[str, str]]:
    limit = confirmation.details.grant.pay_limit_fen
    return [{"code": scope.value, "label": scope_label(scope, limit, to_principal=True)}
            for scope in confirmation.details.scopes]


def _summary(confirmation: Confirmation) -> str:
    agent = mask_name(confirmation.details.agent.name)
    labels = "、".join(line["label"] for line in _scope_lines(confirmation))
    until = _date(confirmation.valid_until_if_confirmed_now)
    return f"{agent}将可以代您办理：{labels}。授权有效期至{until}，您可以随时在“代办授权”中撤销。"


class ConfirmationView(ResponseSchema):
    """The principal's large-text confirm page, in plain words: dumps a ``Confirmation``."""

    grant_id = fields.Integer(attribute="details.grant.id")
    status = fields.String(attribute="details.status")
    status_label = Label(GrantStatus, source="details.status")
    agent_name = Masked(mask_name, attribute="details.agent.name",
                        metadata={"description": "masked"})
    principal_name = Masked(mask_name, attribute="details.principal.name",
                            metadata={"description": "masked"})
    scopes = ComputedList(_scope_lines, fields.Nested(ScopeLine))
    pay_limit_fen = fields.Integer(attribute="details.grant.pay_limit_fen", allow_none=True)
    valid_days = fields.Integer(attribute="details.grant.valid_days")
    valid_until = fields.AwareDateTime(attribute="valid_until_if_confirmed_now",
                                       metadata={"description": "if confirmed now"})
    valid_until_label = Label(_date, source="valid_until_if_confirmed_now")
    token_expires_at = fields.AwareDateTime()
    summary = Computed(_summary,
                       metadata={"description": "the whole grant in one plain sentence"})


class ConfirmationAnswerSchema(Schema):
    agree = fields.Boolean(required=True,
                           metadata={"description": "true confirms; false declines (cancels)"})


# Requests made under a grant ("proxy.act"): by endpoint where known, else by the act's action.
_ENDPOINT_LABELS = {
    "enrollment.EnrollmentPreview": "查看参保确认单",
    "enrollment.Enrollments": "办理参保",
    "enrollment.Policies": "查看保单列表",
    "enrollment.PolicyDetail": "查看保单",
    "enrollment.PolicyQr": "查看电子保单二维码",
}
_ACT_LABELS = {
    Action.ENROLL.value: "代为参保",
    Action.VIEW_POLICIES.value: "查看保单",
    Action.SUBMIT_CLAIMS.value: "代为申请理赔",
    Action.VIEW_CLAIMS.value: "查看理赔进度",
    Action.PAY_FROM_ACCOUNT.value: "使用医保个人账户缴费",
}
_OBJECT_LABELS = {"order": "订单", "policy": "保单", "claim": "理赔", "proxy_grant": "授权"}
_BY_LABELS = {"agent": "代办人", "principal": "您本人", "staff": "窗口工作人员", "system": "系统"}


def _action_label(item: ActivityItem) -> str:
    event = item.event
    details = event.details or {}
    if event.action == "proxy.act":
        return _ENDPOINT_LABELS.get(str(details.get("endpoint")),
                                    _ACT_LABELS.get(str(details.get("action")), "代办操作"))
    label = ACTION_LABELS.get(event.action, "代办操作")
    if event.action == "proxy.grant.confirm" and details.get("method") in {
            method.value for method in ConfirmMethod}:
        label += f"（{ConfirmMethod(details['method']).label}）"
    return label


def _object(item: ActivityItem) -> str | None:
    kind = _OBJECT_LABELS.get(item.event.object_type or "")
    return f"{kind} {item.event.object_id}" if kind and item.event.object_id else None


def _amount(item: ActivityItem) -> int | None:
    amount = (item.event.details or {}).get("payable_fen")
    return amount if isinstance(amount, int) else None


class ActivityView(ResponseSchema):
    """Dumps an ``ActivityItem``."""

    id = fields.Integer(attribute="event.id")
    occurred_at = fields.AwareDateTime(attribute="event.occurred_at")
    grant_id = fields.Integer(attribute="event.grant_id")
    agent_name = fields.String(metadata={"description": "masked"})
    by = fields.String(metadata={"description": "agent | principal | staff | system"})
    by_label = Label(_BY_LABELS.__getitem__, source="by")
    action = fields.String(attribute="event.action", metadata={"description": "the audit action"})
    action_label = Computed(_action_label)
    object = Computed(_object, allow_none=True, metadata={"description": "e.g. 订单 HM..."})
    amount_fen = ComputedInteger(_amount, allow_none=True)
    outcome = fields.String(attribute="event.outcome", metadata={"description": "ok | failed"})


class ActivityListView(ResponseSchema):
    items = fields.List(fields.Nested(ActivityView))
