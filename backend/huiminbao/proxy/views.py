"""How grants and proxy activity look in responses: masked names, plain Chinese labels."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from huiminbao.core.clock import CHINA_TZ
from huiminbao.core.masking import mask_id_number, mask_name
from huiminbao.identity.domain import Action
from huiminbao.proxy.domain import ConfirmMethod, Evidence, Scope, scope_label
from huiminbao.proxy.services import ActivityItem, Confirmation, GrantDetails


def grant_view(details: GrantDetails, *, viewer_person_id: int | None,
               staff: bool = False) -> dict[str, Any]:
    grant = details.grant
    role = "agent" if viewer_person_id == grant.agent_person_id else (
        "principal" if viewer_person_id == grant.principal_person_id else "staff")
    pays = Scope.PAY_FROM_PRINCIPAL_ACCOUNT in details.scopes
    view: dict[str, Any] = {
        "id": grant.id,
        "role": role,
        "agent_name": mask_name(details.agent.name),
        "principal_name": mask_name(details.principal.name),
        "principal_person_id": grant.principal_person_id,
        "scopes": [scope.value for scope in details.scopes],
        "scope_labels": [scope_label(scope, grant.pay_limit_fen,
                                     to_principal=role == "principal")
                         for scope in details.scopes],
        "pay_limit_fen": grant.pay_limit_fen,
        "paid_this_year_fen": details.paid_this_year_fen if pays else None,
        "pay_remaining_fen": (max(0, (grant.pay_limit_fen or 0) - details.paid_this_year_fen)
                              if pays else None),
        "valid_days": grant.valid_days,
        "valid_until": grant.valid_until,
        "status": details.status.value,
        "status_label": details.status.label,
        "confirm_method": grant.confirm_method,
        "confirm_method_label": ConfirmMethod(grant.confirm_method).label,
        "confirmed_method": grant.confirmed_method,
        "created_at": grant.created_at,
        "pending_expires_at": grant.pending_expires_at,
        "confirmed_at": grant.confirmed_at,
        "ended_at": grant.ended_at,
    }
    if staff:
        view["agent_id_number"] = mask_id_number(details.agent.id_number)
        view["principal_id_number"] = mask_id_number(details.principal.id_number)
        view["evidence"] = [{"code": value, "label": Evidence(value).label}
                            for value in grant.evidence or []]
        view["counter_note"] = grant.counter_note
    return view


def _date(instant: datetime) -> str:
    return f"{instant.astimezone(CHINA_TZ):%Y年%m月%d日}"


def confirmation_view(confirmation: Confirmation) -> dict[str, Any]:
    """The principal's large-text confirm page, in plain words."""
    details = confirmation.details
    grant = details.grant
    agent = mask_name(details.agent.name)
    labels = [scope_label(scope, grant.pay_limit_fen, to_principal=True)
              for scope in details.scopes]
    until = confirmation.valid_until_if_confirmed_now
    return {
        "grant_id": grant.id,
        "status": details.status.value,
        "status_label": details.status.label,
        "agent_name": agent,
        "principal_name": mask_name(details.principal.name),
        "scopes": [{"code": scope.value, "label": label}
                   for scope, label in zip(details.scopes, labels, strict=True)],
        "pay_limit_fen": grant.pay_limit_fen,
        "valid_days": grant.valid_days,
        "valid_until": until,
        "valid_until_label": _date(until),
        "token_expires_at": confirmation.token_expires_at,
        "summary": (f"{agent}将可以代您办理：{'、'.join(labels)}。"
                    f"授权有效期至{_date(until)}，您可以随时在“代办授权”中撤销。"),
    }


_ACTION_LABELS = {
    "proxy.grant.create": "申请代办授权",
    "proxy.grant.confirm": "确认代办授权",
    "proxy.grant.revoke": "撤销代办授权",
    "proxy.grant.cancel": "取消代办授权申请",
    "proxy.grant.decline": "拒绝代办授权申请",
    "proxy.grant.expire": "代办授权到期",
    "order.create": "提交参保订单",
    "order.paid": "缴费成功并出单",
    "policy.cancel": "办理退保",
    "policy.auto_renew_on": "开启自动续保",
    "policy.auto_renew_off": "关闭自动续保",
    "policy.auto_renew_revoked": "自动续保因非付款人本人开启被关闭",
}

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
    label = _ACTION_LABELS.get(event.action, "代办操作")
    if event.action == "proxy.grant.confirm" and details.get("method") in {
            method.value for method in ConfirmMethod}:
        label += f"（{ConfirmMethod(details['method']).label}）"
    return label


def activity_view(item: ActivityItem) -> dict[str, Any]:
    event = item.event
    details = event.details or {}
    kind = _OBJECT_LABELS.get(event.object_type or "")
    amount = details.get("payable_fen")
    return {
        "id": event.id,
        "occurred_at": event.occurred_at,
        "grant_id": event.grant_id,
        "agent_name": item.agent_name,
        "by": item.by,
        "by_label": _BY_LABELS[item.by],
        "action": event.action,
        "action_label": _action_label(item),
        "object": f"{kind} {event.object_id}" if kind and event.object_id else None,
        "amount_fen": amount if isinstance(amount, int) else None,
        "outcome": event.outcome,
    }
