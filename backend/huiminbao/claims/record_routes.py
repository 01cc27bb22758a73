"""Claims from authorized records: the resident's authorization to read their 医保 settlement
records (given, listed, revoked), the records, the claim form pre-filled from one, and the
claim filed from it. Routes validate, call one service, shape the answer."""

from __future__ import annotations

from typing import Any

from flask.views import MethodView
from flask_smorest import Blueprint

from huiminbao.claims import records, services
from huiminbao.claims.record_models import RecordsConsent
from huiminbao.claims.record_schemas import (
    ClaimFromRecordSchema,
    RecordPrefillQuerySchema,
    RecordPrefillView,
    RecordsConsentListView,
    RecordsConsentRequestSchema,
    RecordsConsentRevokeSchema,
    RecordsConsentView,
    RecordsQuerySchema,
    SettlementRecordListView,
)
from huiminbao.claims.routes import (
    IDEMPOTENCY_HEADER,
    _account_owner,
    _payee,
    _resume_submission,
)
from huiminbao.claims.schemas import ClaimDetailView
from huiminbao.core.container import container
from huiminbao.core.idempotency import idempotent
from huiminbao.identity.access import acts_for, subject_for
from huiminbao.identity.auth import current_actor
from huiminbao.identity.domain import Action

blp = Blueprint("claim_records", __name__, url_prefix="/api/v1/claims/records",
                description="从医保结算记录申请理赔（经本人授权读取）")

_SUBMIT = Action.SUBMIT_CLAIMS


@blp.route("/consents")
class RecordConsents(MethodView):
    @acts_for(_SUBMIT)
    @blp.response(200, RecordsConsentListView)
    def get(self) -> dict[str, Any]:
        """The insured's authorizations to read their settlement records (revoked ones too)."""
        subject = subject_for(_SUBMIT, current_actor())
        return {"items": records.consents(container(), subject)}

    @acts_for(_SUBMIT)
    @blp.arguments(RecordsConsentRequestSchema)
    @blp.response(201, RecordsConsentView)
    def post(self, body: dict[str, Any]) -> RecordsConsent:
        """Authorize the platform to read the insured's 医保 settlement records whose visit
        date lies in the period (at most 366 days; the insured, or an agent holding the claims
        scope). Revocable at any time."""
        actor = current_actor()
        return records.authorize(container(), actor, subject_for(_SUBMIT, actor),
                                 body["period_from"], body["period_to"])


@blp.route("/consents/revoke")
class RecordConsentRevoke(MethodView):
    @acts_for(_SUBMIT)
    @blp.arguments(RecordsConsentRevokeSchema)
    @blp.response(200, RecordsConsentView)
    def post(self, body: dict[str, Any]) -> RecordsConsent:
        """Revoke an authorization: no further reads under it (claims filed stay)."""
        actor = current_actor()
        return records.revoke(container(), actor, subject_for(_SUBMIT, actor),
                              body["consent_id"])


@blp.route("")
class Records(MethodView):
    @acts_for(_SUBMIT)
    @blp.arguments(RecordsQuerySchema, location="query")
    @blp.response(200, SettlementRecordListView)
    @blp.alt_response(422, description="No live authorization covers the period")
    @blp.alt_response(503, description="The registry did not answer")
    def get(self, query: dict[str, Any]) -> records.RecordsRead:
        """The insured's settlement records in the period (default: the newest live
        authorization's), read from the 医保 registry; refused unless a live authorization
        covers every day asked for. Each read is audited."""
        actor = current_actor()
        return records.records(container(), actor, subject_for(_SUBMIT, actor),
                               query["since"], query["until"])


@blp.route("/prefill")
class RecordPrefill(MethodView):
    @acts_for(_SUBMIT)
    @blp.arguments(RecordPrefillQuerySchema, location="query")
    @blp.response(200, RecordPrefillView)
    def get(self, query: dict[str, Any]) -> records.Prefill:
        """The claim form as this settlement fills it, and what the resident still adds."""
        actor = current_actor()
        return records.prefill(container(), actor, subject_for(_SUBMIT, actor),
                               query["record_no"], query["out_of_city"])


@blp.route("/claims")
class ClaimFromRecord(MethodView):
    @acts_for(_SUBMIT)
    @blp.arguments(ClaimFromRecordSchema)
    @blp.response(201, ClaimDetailView)
    @blp.doc(parameters=IDEMPOTENCY_HEADER)
    @idempotent(_account_owner, resume=_resume_submission)
    def post(self, body: dict[str, Any]) -> Any:
        """File a claim from a settlement record: its figures, dates, hospital and diagnoses
        are read from the registry again (under a live authorization), never typed; the body
        carries only what the record lacks. Then upload the documents as for any claim."""
        c, actor = container(), current_actor()
        number = records.file_claim(c, actor, subject_for(_SUBMIT, actor),
                                    records.FromRecordRequest(
                                        record_no=body["record_no"], policy_no=body["policy_no"],
                                        out_of_city=body["out_of_city"],
                                        prescription_no=body["prescription_no"],
                                        pharmacy_code=body["pharmacy_code"],
                                        treatment_city_code=body["treatment_city_code"],
                                        payee=_payee(body["payee"])))
        return services.load_details(c, number), 201
