"""``GET /api/v1/health``: version, mode and whether the database answers."""

from __future__ import annotations

from typing import Any

from flask.views import MethodView
from flask_smorest import Blueprint
from marshmallow import fields

from huiminbao import __version__
from huiminbao.core.api import DATABASE_RETRY_AFTER_SECONDS
from huiminbao.core.container import container
from huiminbao.core.responses import ResponseSchema

blp = Blueprint("health", __name__, url_prefix="/api/v1", description="服务状态")


class HealthSchema(ResponseSchema):
    status = fields.String(metadata={"description": "ok or degraded"})
    version = fields.String()
    mode = fields.String()
    database = fields.String(metadata={"description": "ok or unavailable"})
    database_backend = fields.String()
    time = fields.DateTime()


@blp.route("/health")
class Health(MethodView):
    @blp.response(200, HealthSchema)
    @blp.alt_response(503, schema=HealthSchema, description="The database does not answer")
    def get(self) -> tuple[dict[str, Any], int] | tuple[dict[str, Any], int, dict[str, str]]:
        """Answers within about two seconds whatever the database does: the ping has its own
        connection, connect timeout and answer deadline (``Database.ping``)."""
        wired = container()
        database_ok = wired.db.ping()
        body = {
            "status": "ok" if database_ok else "degraded",
            "version": __version__,
            "mode": wired.settings.mode.value,
            "database": "ok" if database_ok else "unavailable",
            "database_backend": wired.db.engine.dialect.name,
            "time": wired.clock.now(),
        }
        if database_ok:
            return body, 200
        return body, 503, {"Retry-After": str(DATABASE_RETRY_AFTER_SECONDS)}
