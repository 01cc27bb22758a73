# mypy: disallow-untyped-decorators=False
# (flask-smorest decorators carry no annotations, as in the other routes modules)
"""The person's rights over their data: see and download it (PIPL Art. 45), ask for deletion
(Art. 47). Routes only: the services are ``export`` and ``deletion``."""

from __future__ import annotations

import json
from typing import Any, ClassVar

from flask import Response, make_response
from flask.views import MethodView
from flask_smorest import Blueprint
from marshmallow import Schema, fields, validate

from huiminbao.audit import services as audit
from huiminbao.audit.services import AuditActor, AuditEntry
from huiminbao.core.container import container
from huiminbao.core.ratelimit import limiter
from huiminbao.core.responses import ResponseSchema
from huiminbao.identity import deletion, export
from huiminbao.identity.auth import CSRF_COOKIE, SESSION_COOKIE, account_or_address, current_actor

blp = Blueprint("privacy", __name__, url_prefix="/api/v1",
                description="个人信息查阅、导出与注销（《个人信息保护法》第四十五、四十七条）")


class ExportQuerySchema(Schema):
    download = fields.Boolean(load_default=False, metadata={
        "description": "true: answer as a file (Content-Disposition: attachment)"})


# What the export holds, as `identity/export.py` writes it: times as ISO 8601 text, people as
# masked names (本人 for the caller), statuses with their Chinese labels.
_WHEN = {"format": "date-time"}


class ExportAccountSchema(ResponseSchema):
    phone = fields.String(metadata={"description": "masked"})
    role = fields.String()
    created_at = fields.String(allow_none=True, metadata=_WHEN)
    last_login_at = fields.String(allow_none=True, metadata=_WHEN)
    wechat_linked = fields.Boolean()
    elderly_mode = fields.Boolean()


class ExportIdentitySchema(ResponseSchema):
    bound = fields.Boolean()
    bound_at = fields.String(allow_none=True, metadata=_WHEN)
    person_id = fields.Integer()
    name = fields.String(metadata={"description": "masked"})
    id_number = fields.String(metadata={"description": "masked"})
    birth_year = fields.Integer()
    sex = fields.String()


class ExportConsentSchema(ResponseSchema):
    kind = fields.String()
    title = fields.String()
    text_version = fields.String()
    granted_at = fields.String(allow_none=True, metadata=_WHEN)
    withdrawn_at = fields.String(allow_none=True, metadata=_WHEN)
    needed_for = fields.List(fields.String())


class ExportFamilyMemberSchema(ResponseSchema):
    relation = fields.String()
    name = fields.String(allow_none=True, metadata={"description": "masked"})
    id_number = fields.String(allow_none=True, metadata={"description": "masked"})
    verification = fields.String()
    added_at = fields.String(allow_none=True, metadata=_WHEN)
    verified_at = fields.String(allow_none=True, metadata=_WHEN)
    removed_at = fields.String(allow_none=True, metadata=_WHEN)


class ExportPolicySchema(ResponseSchema):
    policy_no = fields.String()
    product = fields.String(allow_none=True)
    tier = fields.String()
    insured = fields.String(allow_none=True)
    holder = fields.String(allow_none=True)
    payer = fields.String(allow_none=True)
    status = fields.String()
    status_label = fields.String()
    premium_fen = fields.Integer()
    subsidy_fen = fields.Integer()
    coverage_starts_on = fields.String(metadata={"format": "date"})
    coverage_ends_on = fields.String(metadata={"format": "date"})
    issued_at = fields.String(allow_none=True, metadata=_WHEN)
    cancelled_at = fields.String(allow_none=True, metadata=_WHEN)
    auto_renew = fields.Boolean()


class ExportOrderSchema(ResponseSchema):
    order_no = fields.String()
    product = fields.String(allow_none=True)
    status = fields.String()
    status_label = fields.String()
    payment_method = fields.String()
    channel = fields.String()
    for_ = fields.String(data_key="for", attribute="for", allow_none=True)
    payer = fields.String(allow_none=True)
    insured = fields.List(fields.String(allow_none=True))
    premium_fen = fields.Integer()
    subsidy_fen = fields.Integer()
    payable_fen = fields.Integer()
    refunded_fen = fields.Integer()
    created_at = fields.String(allow_none=True, metadata=_WHEN)
    paid_at = fields.String(allow_none=True, metadata=_WHEN)
    closed_at = fields.String(allow_none=True, metadata=_WHEN)
    acted_for_grant_id = fields.Integer(allow_none=True)


class ExportClaimSchema(ResponseSchema):
    claim_no = fields.String()
    status = fields.String()
    status_label = fields.String()
    channel = fields.String()
    for_self = fields.Boolean()
    hospital = fields.String()
    admitted_on = fields.String(metadata={"format": "date"})
    discharged_on = fields.String(metadata={"format": "date"})
    claimed_fen = fields.Integer()
    payout_fen = fields.Integer(allow_none=True)
    created_at = fields.String(allow_none=True, metadata=_WHEN)
    decided_at = fields.String(allow_none=True, metadata=_WHEN)
    paid_at = fields.String(allow_none=True, metadata=_WHEN)
    documents = fields.Integer(metadata={"description": "how many were uploaded"})


class ExportGrantSchema(ResponseSchema):
    id = fields.Integer()
    agent = fields.String(allow_none=True, metadata={"description": "grants given only"})
    principal = fields.String(allow_none=True, metadata={"description": "grants received only"})
    scopes = fields.List(fields.String())
    status = fields.String()
    status_label = fields.String()
    created_at = fields.String(allow_none=True, metadata=_WHEN)
    confirmed_at = fields.String(allow_none=True, metadata=_WHEN)
    confirmed_method = fields.String(allow_none=True)
    valid_until = fields.String(allow_none=True, metadata=_WHEN)
    ended_at = fields.String(allow_none=True, metadata=_WHEN)


class GrantsExportSchema(ResponseSchema):
    given = fields.List(fields.Nested(ExportGrantSchema))
    received = fields.List(fields.Nested(ExportGrantSchema))


class ExportReplySchema(ResponseSchema):
    at = fields.String(allow_none=True, metadata=_WHEN)
    message = fields.String()
    by = fields.String()


class ExportComplaintSchema(ResponseSchema):
    complaint_no = fields.String()
    category = fields.String()
    status = fields.String()
    status_label = fields.String()
    content = fields.String()
    policy_no = fields.String(allow_none=True)
    claim_no = fields.String(allow_none=True)
    created_at = fields.String(allow_none=True, metadata=_WHEN)
    resolved_at = fields.String(allow_none=True, metadata=_WHEN)
    replies = fields.List(fields.Nested(ExportReplySchema))


class ExportAuditSchema(ResponseSchema):
    occurred_at = fields.String(allow_none=True, metadata=_WHEN)
    action = fields.String()
    label = fields.String()
    outcome = fields.String()
    outcome_label = fields.String()
    by = fields.String()
    about_me = fields.Boolean()
    grant_id = fields.Integer(allow_none=True)
    object_type = fields.String(allow_none=True)
    object_id = fields.String(allow_none=True)
    details = fields.Dict(keys=fields.String(), metadata={
        "description": "what the audited act recorded; differs per action"})


class DataExportSchema(ResponseSchema):
    generated_at = fields.String(metadata=_WHEN)
    account = fields.Nested(ExportAccountSchema)
    identity = fields.Nested(ExportIdentitySchema)
    consents = fields.List(fields.Nested(ExportConsentSchema))
    family_members = fields.List(fields.Nested(ExportFamilyMemberSchema))
    policies = fields.List(fields.Nested(ExportPolicySchema))
    orders = fields.List(fields.Nested(ExportOrderSchema))
    claims = fields.List(fields.Nested(ExportClaimSchema))
    proxy_grants = fields.Nested(GrantsExportSchema)
    complaints = fields.List(fields.Nested(ExportComplaintSchema))
    audit_trail = fields.List(fields.Nested(ExportAuditSchema))
    retention = fields.String()


class DeletionPlanSchema(ResponseSchema):
    removed = fields.List(fields.String())
    kept = fields.List(fields.String())
    kept_how = fields.String()
    blockers = fields.List(fields.String())
    allowed = fields.Boolean()


class DeletionRequestSchema(Schema):
    confirm = fields.Boolean(required=True, validate=validate.Equal(
        True, error="请确认已了解注销的后果"))


@blp.route("/me/data-export")
class DataExport(MethodView):
    decorators: ClassVar[list[Any]] = [
        limiter.limit("10 per hour;30 per day", key_func=account_or_address, methods=["GET"],
                      scope="data-export"),
    ]

    @blp.arguments(ExportQuerySchema, location="query")
    @blp.response(200, DataExportSchema)
    def get(self, query: dict[str, Any]) -> Any:
        """Everything the platform holds about the caller and the audit trail about them,
        masked (DESIGN §5). Rate-limited per account."""
        c = container()
        actor = current_actor()
        data = export.export_for(c, actor)
        with c.db.transaction() as session:
            audit.record(session, c.clock, AuditEntry(
                action="data.export", actor=AuditActor(actor.account_id, actor.role.value),
                subject_person_id=actor.person_id,
                details={"download": bool(query["download"])},
            ))
        if not query["download"]:
            return data
        response = make_response(json.dumps(data, ensure_ascii=False, indent=2))
        response.mimetype = "application/json"
        stamp = data["generated_at"][:10]
        response.headers["Content-Disposition"] = (
            f'attachment; filename="huiminbao-my-data-{stamp}.json"')
        return response


@blp.route("/me/deletion")
class AccountDeletion(MethodView):
    @blp.response(200, DeletionPlanSchema)
    def get(self) -> dict[str, Any]:
        """What deleting the account removes, what the law requires us to keep and why, and
        what has to end first."""
        return deletion.plan(container(), current_actor()).view()

    @blp.arguments(DeletionRequestSchema)
    @blp.response(200, DeletionPlanSchema)
    def post(self, body: dict[str, Any]) -> Response:
        """Delete the account where the law allows: close, unbind, anonymize; keep what must be
        kept. Signs the caller out everywhere."""
        done = deletion.delete_account(container(), current_actor())
        response = make_response(done.view())
        response.delete_cookie(SESSION_COOKIE, path="/")
        response.delete_cookie(CSRF_COOKIE, path="/")
        return response
