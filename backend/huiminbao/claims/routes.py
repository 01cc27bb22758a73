"""Claim endpoints: online claims and their documents, look-up, the estimator, the hospitals'
settlement feed, and the insurer's review. Routes validate, call one service, shape the answer."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, ClassVar, TypeVar

from flask import Response, g, jsonify, make_response, request
from flask.views import MethodView
from flask_smorest import Blueprint
from flask_smorest.pagination import PaginationParameters

from huiminbao.audit.services import AuditActor
from huiminbao.claims import clients, filing, payouts, services, settlement, statements
from huiminbao.claims import terms as claim_terms
from huiminbao.claims.domain import ClaimStatus, Decision
from huiminbao.claims.filing import PayeeInput
from huiminbao.claims.kinds import ClaimKind, KindRule
from huiminbao.claims.payees import PayeeKind
from huiminbao.claims.schemas import (
    ClaimAppealSchema,
    ClaimDecisionSchema,
    ClaimDetailView,
    ClaimEstimateView,
    ClaimListView,
    ClaimQueueQuerySchema,
    ClaimRequestSchema,
    ClaimUploaded,
    ClaimUploadedView,
    ClaimUploadSchema,
    EstimateRequestSchema,
    PayeeSchema,
    PayoutRunView,
    ProductClaimKindsSchema,
    ProductClaimKindsView,
    ProductItemLists,
    ProductItemListView,
    SettlementRequestSchema,
    SettlementView,
    SpecialDrugListView,
    SpecialDrugQuerySchema,
    SpecialDrugSearch,
    SpecialDrugSettlementRequestSchema,
    StaffClaimDetailView,
    StatementQuerySchema,
    StatementView,
)
from huiminbao.claims.signing import CLIENT_ID_HEADER, SIGNATURE_HEADER, TIMESTAMP_HEADER
from huiminbao.core.container import container
from huiminbao.core.errors import Busy
from huiminbao.core.idempotency import idempotent
from huiminbao.core.pagination import page_items, window_of
from huiminbao.core.ratelimit import limiter
from huiminbao.core.web import as_attachment, csv_download, private_body
from huiminbao.identity.access import acts_for, subject_for
from huiminbao.identity.auth import account_or_address, current_actor, staff_only
from huiminbao.identity.domain import Action, Role

F = TypeVar("F", bound=Callable[..., Any])

blp = Blueprint("claims", __name__, url_prefix="/api/v1", description="理赔")
admin_blp = Blueprint("claims_admin", __name__, url_prefix="/api/v1/admin",
                      description="理赔审核（保险公司工作人员、管理员）")

IDEMPOTENCY_HEADER = [{"in": "header", "name": "Idempotency-Key", "required": True,
                       "schema": {"type": "string"}}]
SIGNED_HEADERS = [{"in": "header", "name": name, "required": True, "schema": {"type": "string"}}
                  for name in (CLIENT_ID_HEADER, TIMESTAMP_HEADER, SIGNATURE_HEADER)]


def _account_owner() -> str:
    return f"account:{current_actor().account_id}"


def _items(body: dict[str, Any]) -> list[services.ItemInput]:
    return [services.ItemInput(i["code"], i["name"], i["amount_fen"]) for i in body["items"]]


def _payee(body: dict[str, Any] | None) -> PayeeInput | None:
    if body is None:
        return None
    return PayeeInput(PayeeKind(body["kind"]), body["card_no"], body["name"], body["id_number"],
                      body["relation"])


# ---------------------------------------------------------------- claimants


def _resume_submission(resource: str, _rerun: Callable[[], Any]) -> Any:
    """A retry whose first attempt died after the claim was written: answer with that claim."""
    number = resource.removeprefix("claim:")
    return services.load_details(container(), number), 201


def _resume_decision(resource: str, _rerun: Callable[[], Any]) -> Any:
    """A retry whose first attempt died after its decision was written: the claim as it is."""
    return services.staff_claim(container(), current_actor(), resource.removeprefix("claim:"))


@blp.route("/claims")
class Claims(MethodView):
    @acts_for(Action.VIEW_CLAIMS)
    @blp.response(200, ClaimListView)
    def get(self) -> dict[str, Any]:
        """Claims where the caller (or, with X-Acting-For, the principal) is the insured."""
        c, actor = container(), current_actor()
        subject = subject_for(Action.VIEW_CLAIMS, actor)
        return {"items": services.list_claims(c, subject)}

    @acts_for(Action.SUBMIT_CLAIMS)
    @blp.arguments(ClaimRequestSchema)
    @blp.response(201, ClaimDetailView)
    @blp.doc(parameters=IDEMPOTENCY_HEADER)
    @idempotent(_account_owner, resume=_resume_submission)
    def post(self, body: dict[str, Any]) -> Any:
        """Submit an online claim with the bill's figures; then upload the documents. The stay
        must fall within the policy's coverage period."""
        c, actor = container(), current_actor()
        subject = subject_for(Action.SUBMIT_CLAIMS, actor)
        number = services.submit_claim(c, actor, subject, services.ClaimRequest(
            hospital_name=body["hospital_name"], admitted_on=body["admitted_on"],
            discharged_on=body["discharged_on"],
            in_policy_self_pay_fen=body["in_policy_self_pay_fen"], items=_items(body),
            policy_no=body["policy_no"], diagnosis_codes=body["diagnosis_codes"],
            kind=ClaimKind(body["kind"]),
            diagnosis_code=body["diagnosis_code"], prescription_no=body["prescription_no"],
            pharmacy_code=body["pharmacy_code"], treatment_city_code=body["treatment_city_code"],
            payee=_payee(body["payee"]),
        ))
        return services.load_details(c, number), 201


@blp.route("/claims/estimate")
class ClaimEstimate(MethodView):
    @acts_for(Action.VIEW_CLAIMS)
    @blp.arguments(EstimateRequestSchema)
    @blp.response(200, ClaimEstimateView)
    def post(self, body: dict[str, Any]) -> services.Estimate:
        """"花了这些钱，大概能赔多少？" The same calculation as a settlement, counting what this
        policy year's approved, paid and settled claims already used. Without a policy, give
        product_id and tier. Writes nothing."""
        c, actor = container(), current_actor()
        subject = subject_for(Action.VIEW_CLAIMS, actor)
        return services.estimate(c, subject, services.EstimateRequest(
            in_policy_self_pay_fen=body["in_policy_self_pay_fen"], items=_items(body),
            policy_no=body["policy_no"], product_id=body["product_id"], tier=body["tier"],
            diagnosis_codes=body["diagnosis_codes"], treated_on=body["treated_on"],
        ))


@blp.route("/claims/<string:claim_no>")
class ClaimDetail(MethodView):
    @blp.response(200, ClaimDetailView)
    def get(self, claim_no: str) -> services.ClaimDetails:
        """One claim: status, timeline and the breakdown in plain Chinese. For the insured, an
        agent holding claims_view, and the insurer's staff; anyone else gets 404."""
        return services.get_claim(container(), current_actor(), claim_no)


@blp.route("/claims/<string:claim_no>/payee")
class ClaimPayee(MethodView):
    @blp.arguments(PayeeSchema)
    @blp.response(200, ClaimDetailView)
    def put(self, body: dict[str, Any], claim_no: str) -> services.ClaimDetails:
        """Name or replace the claim's payee (the claimant, or an agent with claims_submit;
        anyone else gets 404), e.g. after the bank refused the first card. The card is verified
        as the payee's; a failed payout is retried on it by the next payout run. Not while the
        money is being sent or once it is paid."""
        c = container()
        payee = _payee(body)
        assert payee is not None
        payouts.change_payee(c, current_actor(), claim_no, payee)
        return services.load_details(c, claim_no)


@blp.route("/claims/<string:claim_no>/appeal")
class ClaimAppeal(MethodView):
    @blp.arguments(ClaimAppealSchema)
    @blp.response(200, ClaimDetailView)
    @blp.alt_response(409, description="Not rejected, or appealed before")
    def post(self, body: dict[str, Any], claim_no: str) -> services.ClaimDetails:
        """Appeal a rejected claim, once, with a reason (the insured, or an agent holding the
        claims scope; anyone else gets 404). The claim becomes `appealed`: staff of an insurer
        other than the one that rejected it approve it or uphold the rejection."""
        return services.appeal(container(), current_actor(), claim_no, body["reason"])


@blp.route("/claims/<string:claim_no>/documents")
class ClaimDocuments(MethodView):
    # Photos of a long stay's invoices come in a burst; a script filling storage does not.
    decorators: ClassVar[list[Any]] = [
        limiter.limit("60 per 10 minutes;300 per day", key_func=account_or_address,
                      methods=["POST"], scope="claim-documents"),
    ]
    @blp.arguments(ClaimUploadSchema, location="files")
    @blp.response(201, ClaimUploadedView)
    def post(self, files: dict[str, Any], claim_no: str) -> ClaimUploaded:
        """Upload one document (multipart field ``file``): JPEG, PNG or PDF, at most 10 MB,
        checked by content. A claim waiting for a supplement goes back under review."""
        c, actor = container(), current_actor()
        upload = files["file"]
        data = upload.read()
        document_id = services.add_document(c, actor, claim_no, upload.filename or "", data)
        return ClaimUploaded(services.load_details(c, claim_no), document_id)


@blp.route("/claims/<string:claim_no>/documents/<int:document_id>")
class ClaimDocumentFile(MethodView):
    @blp.response(200, content_type="application/octet-stream")
    def get(self, claim_no: str, document_id: int) -> Response:
        """Download a document (the claimant, an agent with claims_view, staff; else 404)."""
        content = services.read_document(container(), current_actor(), claim_no, document_id)
        document = content.document
        response = as_attachment(private_body(content.data, document.content_type),
                                 f"document-{document.id}", document.filename)
        response.headers["X-Content-Type-Options"] = "nosniff"
        return response


@blp.route("/products/<int:product_id>/claim-items")
class ProductClaimItems(MethodView):
    @blp.response(200, ProductItemListView)
    def get(self, product_id: int) -> ProductItemLists:
        """Public: the product's 特药 list and 合理费用 list (items on neither are not covered)."""
        return ProductItemLists(product_id, services.product_item_lists(container(), product_id))


@blp.route("/products/<int:product_id>/claim-kinds")
class ProductClaimKinds(MethodView):
    @blp.response(200, ProductClaimKindsView)
    def get(self, product_id: int) -> filing.ProductKinds:
        """Public: the claim kinds the product accepts, the documents each needs, the
        product's promises (decide within N working days of complete material, pay within M
        days of the decision) and its designated special-drug pharmacies."""
        return filing.product_kinds(container(), product_id)


@blp.route("/products/<int:product_id>/special-drugs")
class ProductSpecialDrugs(MethodView):
    @blp.arguments(SpecialDrugQuerySchema, location="query")
    @blp.response(200, SpecialDrugListView)
    def get(self, query: dict[str, Any], product_id: int) -> SpecialDrugSearch:
        """Public: search the product's 特药 list by name, code, indication or pharmacy; each
        drug with its listed indications and designated pharmacies."""
        return SpecialDrugSearch(
            product_id, claim_terms.search_special_drugs(container(), product_id, query["q"]))


# ---------------------------------------------------------------- hospitals


def hospital_signed(view: F) -> F:
    """Authenticate the hospital by its signed request before the body is even parsed."""

    @functools.wraps(view)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        g.service_client = clients.authenticate(
            container(), client_id=request.headers.get(CLIENT_ID_HEADER),
            timestamp=request.headers.get(TIMESTAMP_HEADER),
            signature=request.headers.get(SIGNATURE_HEADER), method=request.method,
            path=request.path, body=request.get_data(cache=True),
        )
        return view(*args, **kwargs)

    return wrapper  # type: ignore[return-value]


@blp.route("/settlements")
class Settlements(MethodView):
    @blp.response(201, SettlementView, description="Settled: a claim was created and paid")
    @blp.alt_response(200, schema=SettlementView,
                      description="Recorded, not covered (no policy, outside coverage)")
    @blp.alt_response(401, description="Missing or wrong signature, or a stale timestamp")
    @blp.alt_response(403, description="The client is a pharmacy (special drugs only)")
    @blp.alt_response(409, description="This settlement number was sent with other content")
    @blp.doc(parameters=SIGNED_HEADERS)
    @hospital_signed
    @blp.arguments(SettlementRequestSchema)
    def post(self, body: dict[str, Any]) -> Response:
        """Hospitals' one-stop settlement feed (service-client credentials, signed requests).
        Idempotent per settlement number: a repeat gets the first answer (header
        ``Idempotency-Replayed: true``); the same number with other content answers 409.
        Signature: ``hex(HMAC-SHA256(key, f"{X-Timestamp}\\n{METHOD}\\n{path}\\n{sha256(body)}"))``,
        timestamp (unix seconds or ISO 8601) within 5 minutes."""
        answer = settlement.receive(container(), g.service_client, settlement.SettlementRequest(
            settlement_no=body["settlement_no"], id_number=body["id_number"],
            admitted_on=body["admitted_on"], discharged_on=body["discharged_on"],
            in_policy_self_pay_fen=body["in_policy_self_pay_fen"], items=_items(body),
        ))
        return _settlement_response(answer)


@blp.route("/settlements/special-drugs")
class SpecialDrugSettlements(MethodView):
    @blp.response(201, SettlementView, description="Settled at the pharmacy's counter")
    @blp.alt_response(200, schema=SettlementView,
                      description="Recorded, not covered (no policy, outside coverage)")
    @blp.alt_response(401, description="Missing or wrong signature, or a stale timestamp")
    @blp.alt_response(403, description="The client is a hospital, not a designated pharmacy")
    @blp.alt_response(409, description="This settlement number was sent with other content")
    @blp.alt_response(422, description="Not a listed drug, not a listed indication, or the "
                                       "pharmacy is not designated for the product")
    @blp.doc(parameters=SIGNED_HEADERS)
    @hospital_signed
    @blp.arguments(SpecialDrugSettlementRequestSchema)
    def post(self, body: dict[str, Any]) -> Response:
        """Designated pharmacies' direct settlement of special drugs (特药), signed and
        idempotent as the hospitals' feed. The drug must be on the product's 特药 list, the
        diagnosis one of its indications, the pharmacy designated for the product; the payout
        is owed to the pharmacy and cleared by its statement."""
        answer = settlement.receive(container(), g.service_client, settlement.SettlementRequest(
            settlement_no=body["settlement_no"], id_number=body["id_number"],
            admitted_on=body["prescribed_on"], discharged_on=body["purchased_on"],
            in_policy_self_pay_fen=body["in_policy_self_pay_fen"], items=_items(body),
            prescription_no=body["prescription_no"].strip(),
            diagnosis_code=body["diagnosis_code"],
        ))
        return _settlement_response(answer)


def _settlement_response(answer: settlement.SettlementAnswer) -> Response:
    response = make_response(jsonify(answer.body), answer.status)
    response.headers["Idempotency-Replayed"] = "true" if answer.replayed else "false"
    return response


# ---------------------------------------------------------------- the insurer's staff


@admin_blp.route("/claims")
class AdminClaims(MethodView):
    @staff_only(Role.INSURER_STAFF, Role.ADMIN)
    @admin_blp.arguments(ClaimQueueQuerySchema, location="query")
    @admin_blp.response(200, ClaimListView)
    @admin_blp.alt_response(401, description="Not signed in")
    @admin_blp.alt_response(403, description="Not insurer staff or an administrator")
    @admin_blp.paginate(page_size=50, max_page_size=200)
    def get(self, query: dict[str, Any],
            pagination_parameters: PaginationParameters) -> dict[str, Any]:
        """The review queue, oldest first (default: submitted and under review), a page at a
        time (`page`, `page_size`; totals in the `X-Pagination` header)."""
        statuses = [ClaimStatus(s) for s in query["status"]] if query["status"] else [
            ClaimStatus.SUBMITTED, ClaimStatus.UNDER_REVIEW, ClaimStatus.APPEALED]
        page = services.review_queue(container(), statuses, window_of(pagination_parameters))
        return {"items": page_items(pagination_parameters, page)}


@admin_blp.route("/claims/<string:claim_no>")
class AdminClaimDetail(MethodView):
    @staff_only(Role.INSURER_STAFF, Role.ADMIN)
    @admin_blp.response(200, StaffClaimDetailView)
    @admin_blp.alt_response(401, description="Not signed in")
    @admin_blp.alt_response(403, description="Not insurer staff or an administrator")
    def get(self, claim_no: str) -> services.ClaimDetails:
        """A claim for review with its documents; an open claim comes with the breakdown that
        approving it now would give (``breakdown_is_estimate``)."""
        return services.staff_claim(container(), current_actor(), claim_no)


@admin_blp.route("/claims/<string:claim_no>/decision")
class AdminClaimDecision(MethodView):
    @staff_only(Role.INSURER_STAFF, Role.ADMIN)
    @admin_blp.arguments(ClaimDecisionSchema)
    @admin_blp.response(200, StaffClaimDetailView)
    @admin_blp.alt_response(401, description="Not signed in")
    @admin_blp.alt_response(403, description="Not insurer staff or an administrator")
    @admin_blp.alt_response(409, description="Not allowed in the claim's current status")
    @admin_blp.doc(parameters=IDEMPOTENCY_HEADER)
    @idempotent(_account_owner, resume=_resume_decision)
    def post(self, body: dict[str, Any], claim_no: str) -> Any:
        """Decide: start_review, approve (computes the payout now, in approval order), reject
        or request_supplement (a message to the claimant is required), mark_paid (books the
        payout)."""
        return services.decide(container(), current_actor(), claim_no,
                               Decision(body["decision"]), body["message"],
                               missing=body["missing"], supervisor_reason=body["supervisor_reason"])


@admin_blp.route("/products/<int:product_id>/claim-kinds")
class AdminProductClaimKinds(MethodView):
    @staff_only(Role.ADMIN)
    @admin_blp.arguments(ProductClaimKindsSchema)
    @admin_blp.response(200, ProductClaimKindsView)
    @admin_blp.alt_response(401, description="Not signed in")
    @admin_blp.alt_response(403, description="Not an administrator")
    @admin_blp.alt_response(409, description="The product is published")
    def put(self, body: dict[str, Any], product_id: int) -> filing.ProductKinds:
        """Set a draft product's claim kinds: documents and promises, within the law's limits
        (decide within 20 working days at most, pay within 10 days at most)."""
        actor = current_actor()
        rules = [KindRule(ClaimKind(k["kind"]), tuple(k["documents"]),
                          k["decide_within_working_days"], k["pay_within_days"])
                 for k in body["kinds"]]
        return filing.set_product_kinds(container(), actor.account_id, actor.role.value,
                                        product_id, rules)


@admin_blp.route("/claim-payout-runs")
class PayoutRuns(MethodView):
    @staff_only(Role.ADMIN)
    @admin_blp.response(200, PayoutRunView)
    @admin_blp.alt_response(401, description="Not signed in")
    @admin_blp.alt_response(403, description="Not an administrator")
    @admin_blp.alt_response(503, description="No payout service is wired")
    @admin_blp.doc(parameters=IDEMPOTENCY_HEADER)
    @idempotent(_account_owner)
    def post(self) -> payouts.RunReport:
        """Pay every approved claim with a verified payee through the payout service (also
        ``huiminbao claims payout-run``). Two runs at once pay each claim once; a payment whose
        outcome is unknown stays pending and is queried by its request number first."""
        actor = current_actor()
        try:
            return payouts.run_payouts(container(), actor_account_id=actor.account_id,
                                       actor_role=actor.role.value)
        except payouts.PayoutsUnavailable as exc:
            raise Busy("未接入赔款支付通道，暂时无法支付", code="payouts_unavailable") from exc


@admin_blp.route("/settlement-statements")
class SettlementStatements(MethodView):
    @staff_only(Role.INSURER_STAFF, Role.ADMIN)
    @admin_blp.arguments(StatementQuerySchema, location="query")
    @admin_blp.response(200, StatementView)
    @admin_blp.alt_response(401, description="Not signed in")
    @admin_blp.alt_response(403, description="Not insurer staff or an administrator")
    @admin_blp.alt_response(404, description="No such hospital or pharmacy client")
    def get(self, query: dict[str, Any]) -> statements.Statement:
        """A hospital's or pharmacy's statement for a period (China dates, inclusive): each
        one-stop settlement with the payout booked to its payable, the total, and whether it
        was cleared (also ``huiminbao claims statement``)."""
        return statements.statement(container(), query["client_id"], query["period_from"],
                                    query["period_to"])

    @staff_only(Role.INSURER_STAFF, Role.ADMIN)
    @admin_blp.arguments(StatementQuerySchema)
    @admin_blp.response(200, StatementView)
    @admin_blp.alt_response(401, description="Not signed in")
    @admin_blp.alt_response(403, description="Not insurer staff or an administrator")
    @admin_blp.alt_response(404, description="No such hospital or pharmacy client")
    @admin_blp.alt_response(422, description="The period has not ended, or overlaps a cleared "
                                             "statement")
    @admin_blp.doc(parameters=IDEMPOTENCY_HEADER)
    @idempotent(_account_owner)
    def post(self, body: dict[str, Any]) -> statements.Statement:
        """Clear the statement (the client has been paid): its total moves from the client's
        payable to its paid account in the ledger, once; clearing the same period again
        answers with the same statement and moves nothing."""
        actor = current_actor()
        return statements.clear(container(), body["client_id"], body["period_from"],
                                body["period_to"],
                                actor=AuditActor(actor.account_id, actor.role.value))


@admin_blp.route("/settlement-statements.csv")
class SettlementStatementCsv(MethodView):
    @staff_only(Role.INSURER_STAFF, Role.ADMIN)
    @admin_blp.arguments(StatementQuerySchema, location="query")
    @admin_blp.response(200, content_type="text/csv")
    @admin_blp.alt_response(401, description="Not signed in")
    @admin_blp.alt_response(403, description="Not insurer staff or an administrator")
    @admin_blp.alt_response(404, description="No such hospital or pharmacy client")
    def get(self, query: dict[str, Any]) -> Response:
        """The same statement as a CSV download (UTF-8 with BOM)."""
        found = statements.statement(container(), query["client_id"], query["period_from"],
                                     query["period_to"])
        period = f"{found.period_from:%Y%m%d}-{found.period_to:%Y%m%d}"
        return csv_download(statements.statement_csv(found),
                            f"settlement-statement-{found.client_id}-{period}.csv",
                            f"{found.client_name}-一站式结算对账单-{period}.csv")
