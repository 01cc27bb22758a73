"""Payment endpoints: the gateway's notification, the caller's personal account, and the SMS
code that confirms a personal-account debit."""

from __future__ import annotations

import logging
from typing import Any, ClassVar

from flask import Response, jsonify, request
from flask.views import MethodView
from flask_smorest import Blueprint

from huiminbao.core.container import container
from huiminbao.core.errors import DomainError, RemoteUnavailable
from huiminbao.core.masking import mask_phone
from huiminbao.core.ratelimit import limiter
from huiminbao.enrollment import quoting, resolving
from huiminbao.enrollment.routes import enrollment_request
from huiminbao.enrollment.schemas import EnrollmentRequestSchema
from huiminbao.identity.access import acts_for, subject_for
from huiminbao.identity.auth import current_actor
from huiminbao.identity.domain import Action
from huiminbao.identity.schemas import OtpSentSchema
from huiminbao.payments import account
from huiminbao.payments.gateway.port import GatewayError, InvalidNotification
from huiminbao.payments.schemas import AccountView, NotifyAnswer

log = logging.getLogger(__name__)

blp = Blueprint("payments", __name__, url_prefix="/api/v1", description="支付与个人账户")


def _notify_failure(status: int, message: str) -> Response:
    """A refusal as WeChat Pay v3 reads it: any 4xx/5xx (the gateway retries later) with
    ``{"code": "FAIL", "message": ...}``."""
    response = jsonify({"code": "FAIL", "message": message})
    response.status_code = status
    return response


@blp.route("/payments/online/notify")
class OnlineNotify(MethodView):
    @blp.response(200, NotifyAnswer)
    def post(self) -> dict[str, Any] | Response:
        """The payment gateway's signed notification (service-to-service, no session): a payment,
        or (WeChat Pay v3) a refund. Answered per WeChat Pay v3: 200 on success; a 4xx/5xx with
        ``{"code": "FAIL", "message"}`` otherwise (401 for a notification that is not the
        gateway's or not understood, 503 when the gateway could not be asked back), which makes
        the gateway retry later."""
        try:
            resolving.handle_gateway_notification(
                container(), request.get_data(), dict(request.headers.items()))
        except InvalidNotification:
            return _notify_failure(401, "通知签名校验失败")
        except DomainError as exc:
            return _notify_failure(exc.http_status, exc.message)
        except RemoteUnavailable:
            return _notify_failure(503, "支付结果暂时无法确认，请稍后重试")
        except GatewayError as exc:
            # Asking the gateway back failed otherwise (its refusal, a conflict, an unknown
            # trade): never a 500; the gateway retries and reconcile settles it meanwhile.
            log.error("gateway notification not settled: %s: %s", type(exc).__name__, exc)
            return _notify_failure(503, "支付结果暂时无法确认，请稍后重试")
        return {"code": "SUCCESS", "message": "成功"}


@blp.route("/me/account")
class MyAccount(MethodView):
    @blp.response(200, AccountView)
    def get(self) -> account.PersonalAccount:
        """The caller's personal medical-insurance account (masked) with every debit and
        refund and its purpose. Needs the sensitive-data consent."""
        c = container()
        return account.personal_account(c, current_actor())


@blp.route("/me/payment-code")
class PaymentCode(MethodView):
    decorators: ClassVar[list[Any]] = [
        # Only a code actually sent counts: a debit the rules refuse sends none.
        limiter.limit("1 per minute;10 per day", methods=["POST"], scope="payment-code",
                      key_func=lambda: f"account:{current_actor().account_id}",
                      deduct_when=lambda response: response.status_code == 200),
    ]

    @acts_for(Action.ENROLL)
    @blp.arguments(EnrollmentRequestSchema)
    @blp.response(200, OtpSentSchema)
    @blp.alt_response(403, description="`identity_unverified`: the caller's binding is not "
                                        "verified, so no personal account may be used")
    def post(self, body: dict[str, Any]) -> dict[str, Any]:
        """Text the personal account's owner a code that confirms this debit: the body is the
        enrollment about to be sent (as for the preview). The code goes to the phone the
        registry holds for the owner (not the caller's login phone, unless they are the same),
        names the amount and the insured (masked), and confirms only this debit. The answer
        shows that phone masked."""
        c, actor = container(), current_actor()
        subject = subject_for(Action.ENROLL, actor)
        quote = quoting.quote(c, actor, subject,
                                 enrollment_request(body, subject.person_id))
        phone, expires_at = quoting.send_debit_code(c, quote)
        return {"phone": mask_phone(phone), "expires_at": expires_at, "resend_after_seconds": 60}
