"""Payment endpoints: the gateway's notification, the caller's personal account, and the SMS
code that confirms a personal-account debit."""

from __future__ import annotations

from typing import Any, ClassVar

from flask import request
from flask.views import MethodView
from flask_smorest import Blueprint
from marshmallow import Schema, fields

from huiminbao.core.container import container
from huiminbao.core.errors import RuleViolation
from huiminbao.core.masking import mask_phone
from huiminbao.core.ratelimit import limiter
from huiminbao.enrollment import services as enrollment
from huiminbao.identity import services as identity
from huiminbao.identity.auth import current_actor
from huiminbao.identity.domain import OtpPurpose
from huiminbao.identity.schemas import OtpSentSchema
from huiminbao.payments import account
from huiminbao.payments.gateway import InvalidNotification

blp = Blueprint("payments", __name__, url_prefix="/api/v1", description="支付与个人账户")


class NotifyAnswer(Schema):
    return_code = fields.String()
    return_msg = fields.String()


@blp.route("/payments/online/notify")
class OnlineNotify(MethodView):
    @blp.response(200, NotifyAnswer)
    def post(self) -> dict[str, Any]:
        """The payment gateway's signed notification (service-to-service, no session).
        Answering anything but 200 makes the gateway retry later."""
        try:
            enrollment.handle_gateway_notification(container(), request.get_data())
        except InvalidNotification as exc:
            raise RuleViolation("通知签名校验失败", code="invalid_signature") from exc
        return {"return_code": "SUCCESS", "return_msg": "OK"}


class AccountEntryView(Schema):
    occurred_at = fields.DateTime()
    kind = fields.String(metadata={"description": "debit | refund"})
    balance = fields.String(metadata={"description": "prior_years | current_year"})
    amount_fen = fields.Integer(metadata={"description": "negative for a debit"})
    balance_after_fen = fields.Integer()
    purpose = fields.String()


class AccountView(Schema):
    holder = fields.String(metadata={"description": "masked name"})
    account = fields.String(metadata={"description": "masked ID number of the account"})
    prior_years_fen = fields.Integer()
    current_year_fen = fields.Integer()
    entries = fields.List(fields.Nested(AccountEntryView))


@blp.route("/me/account")
class MyAccount(MethodView):
    @blp.response(200, AccountView)
    def get(self) -> dict[str, Any]:
        """The caller's personal medical-insurance account (masked) with every debit and
        refund and its purpose. Needs the sensitive-data consent."""
        c = container()
        return account.personal_account_view(c, current_actor())


@blp.route("/me/payment-code")
class PaymentCode(MethodView):
    decorators: ClassVar[list[Any]] = [
        limiter.limit("1 per minute;10 per day", methods=["POST"], scope="payment-code",
                      key_func=lambda: f"account:{current_actor().account_id}"),
    ]

    @blp.response(200, OtpSentSchema)
    def post(self) -> dict[str, Any]:
        """Text a code to the caller's own phone to confirm a personal-account debit."""
        c = container()
        phone = identity.profile(c, current_actor().account_id).account.phone
        expires_at = identity.send_code(c, phone, OtpPurpose.CONFIRM_PAYMENT)
        return {"phone": mask_phone(phone), "expires_at": expires_at, "resend_after_seconds": 60}
