"""Development endpoints, registered in demo mode only (production answers 404)."""

from __future__ import annotations

from typing import Any

from flask.views import MethodView
from flask_smorest import Blueprint
from marshmallow import fields
from sqlalchemy import select

from huiminbao.core.clock import MovableClock
from huiminbao.core.container import container
from huiminbao.core.errors import Conflict
from huiminbao.core.masking import mask_phone
from huiminbao.core.responses import ResponseSchema
from huiminbao.identity.models import SmsMessage
from huiminbao.identity.schemas import SmsListSchema, SmsQuerySchema

blp = Blueprint(
    "dev", __name__, url_prefix="/api/v1/dev", description="演示模式专用（生产环境不存在）"
)


class ClockSchema(ResponseSchema):
    now = fields.AwareDateTime(required=True, metadata={"description": "ISO 8601 with offset"})


@blp.route("/sms")
class DevSmsOutbox(MethodView):
    @blp.arguments(SmsQuerySchema, location="query")
    @blp.response(200, SmsListSchema)
    def get(self, query: dict[str, Any]) -> dict[str, Any]:
        """The latest messages sent to a phone (newest first), for demos and e2e tests."""
        with container().db.read() as session:
            messages = session.scalars(
                select(SmsMessage).where(SmsMessage.phone_is(query["phone"]))
                .order_by(SmsMessage.id.desc()).limit(10)  # sent order, whatever the clock says
            ).all()
        return {"items": [{"phone": mask_phone(m.phone), "text": m.text,
                           "created_at": m.created_at} for m in messages]}


@blp.route("/clock")
class DevClock(MethodView):
    @blp.response(200, ClockSchema)
    def get(self) -> dict[str, Any]:
        return {"now": container().clock.now()}

    @blp.arguments(ClockSchema)
    @blp.response(200, ClockSchema)
    def put(self, body: dict[str, Any]) -> dict[str, Any]:
        """Move the demo clock (it keeps running from the new instant)."""
        clock = container().clock
        if not isinstance(clock, MovableClock):
            raise Conflict("当前时钟不可调整：请以 HUIMINBAO_NOW 启动演示模式", code="clock_fixed")
        clock.travel_to(body["now"])
        return {"now": clock.now()}
