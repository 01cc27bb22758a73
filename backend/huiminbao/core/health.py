"""``GET /api/v1/health``: version, mode and whether the database (and its replica) answer."""

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
    replica = fields.String(metadata={
        "description": "the streaming replica (HUIMINBAO_REPLICA_DATABASE_URL): ok, unavailable "
                       "(status degraded; the primary still answers 200), or none configured"})
    replica_lag_seconds = fields.Float(allow_none=True, metadata={
        "description": "age of the last transaction the replica replayed (an upper bound on "
                       "its lag); null without a replica or when it is not a standby"})
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
        replica = wired.db.replica_status()
        replica_ok = replica is None or replica.reachable
        body = {
            "status": "ok" if database_ok and replica_ok else "degraded",
            "version": __version__,
            "mode": wired.settings.mode.value,
            "database": "ok" if database_ok else "unavailable",
            "database_backend": wired.db.engine.dialect.name,
            "replica": "none" if replica is None else "ok" if replica.reachable else "unavailable",
            "replica_lag_seconds": None if replica is None else replica.lag_seconds,
            "time": wired.clock.now(),
        }
        if database_ok:
            return body, 200
        return body, 503, {"Retry-After": str(DATABASE_RETRY_AFTER_SECONDS)}
