"""Enrollment and policy endpoints. Routes validate, call one service, and shape the answer."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, ClassVar

from flask import Response, g, request, url_for
from flask.views import MethodView
from flask_smorest import Blueprint
from marshmallow import Schema, fields, validate

from huiminbao.core.container import container
from huiminbao.core.idempotency import idempotent
from huiminbao.core.ratelimit import limiter, unless_server_error
from huiminbao.core.requests import public_root
from huiminbao.core.web import as_attachment, private_body
from huiminbao.enrollment import (
    documents,
    lookup,
    order_reading,
    ordering,
    policies,
    quoting,
    resolving,
)
from huiminbao.enrollment.domain import OrderStatus, PaymentMethod
from huiminbao.enrollment.schemas import (
    AutoRenewConsentSchema,
    AutoRenewSchema,
    EnrollmentRequestSchema,
    LookupCodeSentSchema,
    OrderListSchema,
    OrderView,
    PolicyAnswer,
    PolicyListSchema,
    PolicyLookupCodeSchema,
    PolicyLookupResultSchema,
    PolicyLookupSchema,
    PolicyView,
    QuoteView,
    VerifyView,
)
from huiminbao.identity.access import acts_for, subject_for
from huiminbao.identity.auth import current_actor
from huiminbao.identity.domain import Action, hash_secret
from huiminbao.payments.gateway.port import NOTIFY_PATH

blp = Blueprint("enrollment", __name__, url_prefix="/api/v1", description="参保与保单")


def _account_owner() -> str:
    return f"account:{current_actor().account_id}"


def _gateway_urls() -> tuple[str, str]:
    """Where the gateway notifies us, and where it sends the payer back ({order_no} filled in),
    under ``public_root()``. WECHATPAY_NOTIFY_URL, when set, wins for the notification."""
    root = public_root()
    return (f"{root}{NOTIFY_PATH}",
            f"{root}/enrollment-result.html?order_no={{order_no}}")


def enrollment_request(body: dict[str, Any],
                       subject_person_id: int) -> quoting.EnrollmentRequest:
    insured = body["insured"] or [{"person_id": subject_person_id, "tier": body["tier"]}]
    confirmations = body["confirmations"] or {}
    notify_url, return_url = _gateway_urls()
    return quoting.EnrollmentRequest(
        product_id=body["product_id"],
        insured=[quoting.InsuredChoice(choice["person_id"], choice["tier"] or "")
                 for choice in insured],
        payment_method=PaymentMethod(body["payment_method"]),
        confirmations=quoting.Confirmations(
            terms_version=confirmations.get("terms_version"),
            not_basic_insurance=bool(confirmations.get("not_basic_insurance")),
            debit_amount_fen=confirmations.get("debit_amount_fen"),
            sms_code=confirmations.get("sms_code"),
        ),
        notify_url=notify_url,
        return_url=return_url,
        payer_ip=request.remote_addr or "",
    )


@blp.route("/enrollments/preview")
class EnrollmentPreview(MethodView):
    @acts_for(Action.ENROLL)
    @blp.arguments(EnrollmentRequestSchema)
    @blp.response(200, QuoteView)
    def post(self, body: dict[str, Any]) -> quoting.Quote:
        """The confirm sheet: who is insured, tiers, amounts, subsidy, and for the personal
        account the masked holder and the balance before and after. Writes nothing."""
        c, actor = container(), current_actor()
        subject = subject_for(Action.ENROLL, actor)
        request = enrollment_request(body, subject.person_id)
        return quoting.quote(c, actor, subject, request)


class OrderQuerySchema(Schema):
    status = fields.String(load_default=None, validate=validate.OneOf(
        [s.value for s in OrderStatus], error="订单状态不正确"))


def _resume_enrollment(resource: str, _rerun: Callable[[], Any]) -> Any:
    """A retry whose first attempt died after creating its order: settle the order (ask the
    registry or gateway with its request number: complete it if the money moved, release it if
    the payment never reached them) and answer as the POST does."""
    details = resolving.resume_order(container(), current_actor(),
                                     resource.removeprefix("order:"), *_gateway_urls())
    return details, 201


@blp.route("/enrollments")
class Enrollments(MethodView):
    @blp.arguments(OrderQuerySchema, location="query")
    @blp.response(200, OrderListSchema)
    def get(self, query: dict[str, Any]) -> dict[str, Any]:
        """The caller's orders (as buyer), newest first; `?status=pending_payment` finds an
        unpaid one to continue or cancel."""
        c, actor = container(), current_actor()
        status = OrderStatus(query["status"]) if query["status"] else None
        return {"items": order_reading.my_orders(c, actor, status)}

    @acts_for(Action.ENROLL)
    @blp.arguments(EnrollmentRequestSchema)
    @blp.response(201, OrderView)
    @blp.doc(parameters=[{"in": "header", "name": "Idempotency-Key", "required": True,
                          "schema": {"type": "string"}}])
    @idempotent(_account_owner, resume=_resume_enrollment, answer_from_resource=True)
    def post(self, body: dict[str, Any]) -> Any:
        """Enroll and pay: personal account (debited now, after the owner's confirmation),
        online (answers with the gateway's pay_url), or subsidy."""
        c, actor = container(), current_actor()
        subject = subject_for(Action.ENROLL, actor)
        request = enrollment_request(body, subject.person_id)
        details = ordering.enroll(c, actor, subject, request)
        return details, 201


@blp.route("/enrollments/<string:order_no>")
class EnrollmentDetail(MethodView):
    @blp.response(200, OrderView)
    def get(self, order_no: str) -> order_reading.OrderDetails:
        """An order; a pending one is first settled by asking the registry or gateway."""
        return resolving.read_order(container(), current_actor(), order_no)


@blp.route("/enrollments/<string:order_no>/cancel")
class EnrollmentCancel(MethodView):
    @blp.response(200, OrderView)
    def post(self, order_no: str) -> order_reading.OrderDetails:
        """Cancel an unpaid order (its persons are free to enroll again)."""
        c, actor = container(), current_actor()
        resolving.cancel_unpaid(c, actor, order_no)
        return order_reading.order_details(c, actor, order_no)


def _policy_response(details: policies.PolicyDetails) -> PolicyAnswer:
    c = container()
    token = policies.verify_token(c, details.policy)
    actor = current_actor()
    acting = g.get("acting_subject")
    viewer = acting.person_id if acting is not None else actor.person_id
    return PolicyAnswer(details, c.clock.today(),
                        verify_url=f"{public_root()}/verify/{token}",
                        qr_url=url_for("enrollment.PolicyQr", policy_no=details.policy.policy_no),
                        viewer_person_id=viewer, actor_person_id=actor.person_id)


@blp.route("/policies")
class Policies(MethodView):
    @acts_for(Action.VIEW_POLICIES)
    @blp.response(200, PolicyListSchema)
    def get(self) -> dict[str, Any]:
        """Policies where the caller (or the person acted for) is insured or the holder."""
        c, actor = container(), current_actor()
        subject = subject_for(Action.VIEW_POLICIES, actor)
        return {"items": [_policy_response(d) for d in policies.list_policies(c, subject)]}


@blp.route("/policies/<string:policy_no>")
class PolicyDetail(MethodView):
    @blp.response(200, PolicyView)
    def get(self, policy_no: str) -> PolicyAnswer:
        """One policy (insured, holder, or someone acting for them)."""
        return _policy_response(policies.get_policy(container(), current_actor(), policy_no))


@blp.route("/policies/<string:policy_no>/qr.png")
class PolicyQr(MethodView):
    @blp.response(200, content_type="image/png")
    def get(self, policy_no: str) -> Response:
        """The e-policy's QR code: it links to the public verification page."""
        c = container()
        details = policies.get_policy(c, current_actor(), policy_no)
        token = policies.verify_token(c, details.policy)
        png = policies.qr_png(f"{public_root()}/verify/{token}")
        return private_body(png, "image/png")


def _pdf_response(download: documents.Download) -> Response:
    return as_attachment(private_body(download.content, "application/pdf"),
                         download.ascii_name, download.filename)


# A PDF takes a moment of CPU (font subsetting): a person downloads a few, a script many.
_PDF_LIMIT = limiter.limit("30 per hour", methods=["GET"], scope="policy-pdf-ip")


@blp.route("/policies/<string:policy_no>/epolicy.pdf")
class PolicyPdf(MethodView):
    decorators: ClassVar[list[Any]] = [_PDF_LIMIT]

    @blp.response(200, content_type="application/pdf")
    def get(self, policy_no: str) -> Response:
        """The e-policy as a PDF to print or forward: masked names, the cover, the terms summary
        and the QR code of the public verification page. A download by an agent (grant with
        查看保单) or staff is audited."""
        return _pdf_response(documents.epolicy_pdf(container(), current_actor(), policy_no,
                                                   public_root()))


@blp.route("/policies/<string:policy_no>/receipt.pdf")
class PolicyReceiptPdf(MethodView):
    decorators: ClassVar[list[Any]] = [_PDF_LIMIT]

    @blp.response(200, content_type="application/pdf")
    def get(self, policy_no: str) -> Response:
        """The premium receipt (保费缴纳凭证) as a PDF: amount, payment method and payer (masked),
        order number and time of payment."""
        return _pdf_response(documents.receipt_pdf(container(), current_actor(), policy_no))


@blp.route("/policies/<string:policy_no>/cancel")
class PolicyCancel(MethodView):
    @blp.response(200, PolicyView)
    @blp.doc(parameters=[{"in": "header", "name": "Idempotency-Key", "required": True,
                          "schema": {"type": "string"}}])
    @idempotent(_account_owner)
    def post(self, policy_no: str) -> Any:
        """Cancel before coverage starts; the premium goes back to where it came from."""
        details = policies.cancel_policy(container(), current_actor(), policy_no)
        return _policy_response(details)


@blp.route("/policies/<string:policy_no>/auto-renew")
class PolicyAutoRenew(MethodView):
    @blp.arguments(AutoRenewSchema)
    @blp.response(200, PolicyView)
    def put(self, body: dict[str, Any], policy_no: str) -> PolicyAnswer:
        """Turn auto-renewal on (with consent to the shown text) or off, at any time."""
        details = policies.set_auto_renew(container(), current_actor(), policy_no,
                                          body["enabled"], body["consent_version"])
        return _policy_response(details)


@blp.route("/auto-renew-consent")
class AutoRenewConsent(MethodView):
    @blp.response(200, AutoRenewConsentSchema)
    def get(self) -> dict[str, Any]:
        """The text a person agrees to when turning auto-renewal on."""
        return {"version": policies.AUTO_RENEW_CONSENT_VERSION,
                "text": policies.AUTO_RENEW_CONSENT_TEXT}


@blp.route("/verify/<string:token>")
class Verify(MethodView):
    # Public and unauthenticated: a phone scanning QR codes needs a few a minute; a script
    # walking tokens gets 429 (per client address, behind HUIMINBAO_TRUSTED_PROXIES).
    decorators: ClassVar[list[Any]] = [
        limiter.limit("30 per minute;300 per day", methods=["GET"], scope="verify-ip"),
    ]

    @blp.response(200, VerifyView)
    @blp.alt_response(410, description="此验证码已过期 (code verify_expired): the token's policy "
                      "ended more than 180 days ago; no details are given")
    def get(self, token: str) -> PolicyAnswer:
        """Public: is this e-policy genuine? Product, current validity and the masked name only.
        The token names the policy and expires 180 days after its coverage ends."""
        c = container()
        return PolicyAnswer(policies.policy_for_token(c, token), c.clock.today(), "", "")


# ---------------------------------------------------------------- 保单查询 without an account

LOOKUP_RESEND_AFTER_SECONDS = 60


def _looked_up_key() -> str:
    """Limits per ID number asked about, keyed by a keyed hash (no ID number in Redis)."""
    body = request.get_json(silent=True)
    raw = body.get("id_number") if isinstance(body, dict) else None
    value = str(raw).strip().upper()[:32] if raw else "-"
    return "id:" + hash_secret(container().settings.secret_key, f"lookup:{value}")[:32]


@blp.route("/policy-lookup/code")
class PolicyLookupCode(MethodView):
    decorators: ClassVar[list[Any]] = [
        limiter.limit("1 per minute;10 per day", key_func=_looked_up_key, methods=["POST"],
                      scope="policy-lookup-code-id", deduct_when=unless_server_error),
        limiter.limit("20 per hour", methods=["POST"], scope="policy-lookup-code-ip"),
    ]

    @blp.arguments(PolicyLookupCodeSchema)
    @blp.response(200, LookupCodeSentSchema)
    @blp.alt_response(422, description="no_registry_phone: the registry holds no phone for this "
                      "ID number (or does not know it); the message names the hotline")
    @blp.alt_response(429, description="Too many codes for this ID number or address")
    def post(self, body: dict[str, Any]) -> dict[str, Any]:
        """Public: text a code to the phone the medical-insurance registry holds for this ID
        number (5 minutes, single use), to look up its policies without an account."""
        sent = lookup.send_lookup_code(container(), body["id_number"])
        return {"phone": sent.phone, "expires_at": sent.expires_at,
                "resend_after_seconds": LOOKUP_RESEND_AFTER_SECONDS}


@blp.route("/policy-lookup")
class PolicyLookup(MethodView):
    decorators: ClassVar[list[Any]] = [
        limiter.limit("10 per hour", key_func=_looked_up_key, methods=["POST"],
                      scope="policy-lookup-id"),
        limiter.limit("30 per hour", methods=["POST"], scope="policy-lookup-ip"),
    ]

    @blp.arguments(PolicyLookupSchema)
    @blp.response(200, PolicyLookupResultSchema)
    @blp.alt_response(422, description="A wrong or expired code, or no phone in the registry")
    def post(self, body: dict[str, Any]) -> lookup.LookupResult:
        """Public: the masked facts of the policies insuring this ID number's person (product,
        masked names, validity, coverage), after the code texted to the registry's phone."""
        result = lookup.look_up(container(), body["id_number"], body["code"])
        return result
