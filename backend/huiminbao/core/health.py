"""``GET /api/v1/health``: version, mode and whether the database answers."""

from __future__ import annotations

from typing import Any

from flask.views import MethodView
from flask_smorest import Blueprint
from marshmallow import Schema, fields

from huiminbao import __version__
from huiminbao.core.container import container

blp = Blueprint("health", __name__, url_prefix="/api/v1", description="服务状态")


class HealthSchema(Schema):
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
    def get(self) -> tuple[dict[str, Any], int]:
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
        return body, 200 if database_ok else 503
