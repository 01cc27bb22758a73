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

from huiminbao.audit import services as audit
from huiminbao.audit.services import AuditActor, AuditEntry
from huiminbao.core.container import container
from huiminbao.core.ratelimit import limiter
from huiminbao.identity import deletion, export
from huiminbao.identity.auth import CSRF_COOKIE, SESSION_COOKIE, account_or_address, current_actor
from huiminbao.identity.schemas import (
    DataExportSchema,
    DeletionPlanSchema,
    DeletionRequestSchema,
    ExportQuerySchema,
)

blp = Blueprint("privacy", __name__, url_prefix="/api/v1",
                description="个人信息查阅、导出与注销（《个人信息保护法》第四十五、四十七条）")


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
