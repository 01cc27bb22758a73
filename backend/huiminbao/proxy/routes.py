"""Proxy endpoints: grants, their confirmation, the counter's lookup, the principal's activity.
Routes validate, call one service, and shape the answer."""

from __future__ import annotations

from typing import Any, ClassVar

from flask import Response, request
from flask.views import MethodView
from flask_smorest import Blueprint
from flask_smorest.pagination import PaginationParameters

from huiminbao.core.container import container
from huiminbao.core.errors import InvalidInput
from huiminbao.core.pagination import page_items, window_of
from huiminbao.core.ratelimit import limiter
from huiminbao.core.requests import public_root
from huiminbao.core.web import private_body
from huiminbao.enrollment.policies import qr_png
from huiminbao.identity.auth import account_or_address, current_actor, staff_only
from huiminbao.identity.domain import Role
from huiminbao.proxy import services
from huiminbao.proxy.domain import ConfirmMethod
from huiminbao.proxy.schemas import (
    ActivityListView,
    CodeSentView,
    ConfirmationAnswerSchema,
    ConfirmationView,
    ConfirmSchema,
    GrantAnswer,
    GrantListsView,
    GrantRequestSchema,
    GrantView,
    StaffGrantListView,
    StaffGrantQuerySchema,
)

blp = Blueprint("proxy", __name__, url_prefix="/api/v1", description="授权代办（亲友代办）")

RESEND_AFTER_SECONDS = 60
CONFIRM_PAGE = "proxy-confirm.html"


def _view(details: services.GrantDetails) -> GrantAnswer:
    return GrantAnswer.to(current_actor().person_id, details)


@blp.route("/proxy/grants")
class Grants(MethodView):
    # Each request checks a name against an ID number at the registry: not an open oracle.
    decorators: ClassVar[list[Any]] = [
        limiter.limit("30 per hour", key_func=account_or_address, methods=["POST"],
                      scope="proxy-ask"),
    ]

    @blp.response(200, GrantListsView)
    def get(self) -> dict[str, Any]:
        """The caller's grants: those where the caller is the agent (whom they may act for;
        ``principal_person_id`` goes in ``X-Acting-For``) and those where the caller is the
        principal (who may act for them). Newest first; a lapsed grant reads ``expired``."""
        actor = current_actor()
        lists = services.list_grants(container(), actor)
        return {
            "as_agent": [GrantAnswer(d, actor.person_id) for d in lists.as_agent],
            "as_principal": [GrantAnswer(d, actor.person_id) for d in lists.as_principal],
        }

    @blp.arguments(GrantRequestSchema)
    @blp.response(201, GrantView)
    def post(self, body: dict[str, Any]) -> GrantAnswer:
        """Ask to act for a principal (name + ID number, checked against the registry). The
        grant is ``pending`` until the principal confirms by QR code, SMS code or at a counter;
        its ``valid_days`` count from that confirmation."""
        actor = current_actor()
        details = services.request_grant(container(), actor, services.GrantRequest(
            principal_name=body["principal_name"],
            principal_id_number=body["principal_id_number"],
            scopes=body["scopes"], pay_limit_fen=body["pay_limit_fen"],
            valid_days=body["valid_days"],
            confirm_method=ConfirmMethod(body["confirm_method"]),
        ))
        return GrantAnswer(details, actor.person_id)


@blp.route("/proxy/grants/<int:grant_id>")
class GrantItem(MethodView):
    @blp.response(200, GrantView)
    def get(self, grant_id: int) -> GrantAnswer:
        """One grant (its agent, its principal, or counter staff). The agent's QR screen polls
        this until ``status`` is ``active``."""
        return _view(services.get_grant(container(), current_actor(), grant_id))

    @blp.response(200, GrantView)
    def delete(self, grant_id: int) -> GrantAnswer:
        """End a grant (agent, principal, or counter staff for a principal without a phone):
        a pending request becomes ``cancelled``, an active grant ``revoked``; the very next
        request made under it is refused. Ending an ended grant changes nothing."""
        return _view(services.revoke(container(), current_actor(), grant_id))


@blp.route("/proxy/grants/<int:grant_id>/qr.png")
class GrantQr(MethodView):
    @blp.response(200, content_type="image/png")
    def get(self, grant_id: int) -> Response:
        """For the agent's screen: a QR code of ``{root}/proxy-confirm.html?token=...``, a signed
        token valid 10 minutes (``X-Token-Expires-At``). Fetch it again for a fresh one."""
        token, expires_at = services.confirmation_token(container(), current_actor(), grant_id)
        png = qr_png(f"{public_root()}/{CONFIRM_PAGE}?token={token}")
        response = private_body(png, "image/png")
        response.headers["X-Token-Expires-At"] = expires_at.isoformat()
        return response


def _grant_key() -> str:
    return f"proxy-grant:{(request.view_args or {}).get('grant_id')}"


def _admitted(response: Response) -> bool:
    return response.status_code < 400


def _refused(response: Response) -> bool:
    return response.status_code >= 400 and response.status_code != 429


@blp.route("/proxy/grants/<int:grant_id>/sms")
class GrantSms(MethodView):
    # The grant's allowance protects its principal's phone, and its agent must be able to use
    # it: only texts actually sent count against it — a stranger's or an anonymous call, turned
    # away by the login or the access check, never does. Those count against their caller
    # (account, else address) instead, so guessing grant numbers stays slow.
    decorators: ClassVar[list[Any]] = [
        limiter.limit("1 per minute;10 per day", key_func=_grant_key, methods=["POST"],
                      scope="proxy-sms", deduct_when=_admitted),
        limiter.limit("20 per hour", key_func=account_or_address, methods=["POST"],
                      scope="proxy-sms-refused", deduct_when=_refused),
    ]

    @blp.response(200, CodeSentView)
    def post(self, grant_id: int) -> dict[str, Any]:
        """The agent has a code texted to the principal's registered phone (valid 5 minutes);
        the principal reads it out and the agent enters it at ``/confirm``."""
        sent_to, expires_at = services.send_confirmation_code(container(), current_actor(),
                                                              grant_id)
        return {"sent_to": sent_to, "expires_at": expires_at,
                "resend_after_seconds": RESEND_AFTER_SECONDS}


@blp.route("/proxy/grants/<int:grant_id>/confirm")
class GrantConfirm(MethodView):
    @blp.arguments(ConfirmSchema)
    @blp.response(200, GrantView)
    def post(self, body: dict[str, Any], grant_id: int) -> GrantAnswer:
        """Confirm a pending grant, one of: ``{"code"}`` — the agent enters the SMS code the
        principal received; ``{"counter": {"evidence", "note"}}`` — counter staff (or admin)
        confirm in person, recording the documents they checked."""
        c, actor = container(), current_actor()
        if (body["code"] is None) == (body["counter"] is None):
            message = "请填写委托人收到的短信验证码，或由经办窗口工作人员现场确认"
            raise InvalidInput(message, errors={"code": [message]})
        if body["code"] is not None:
            details = services.confirm_with_code(c, actor, grant_id, body["code"])
        else:
            counter = body["counter"]
            details = services.confirm_at_counter(c, actor, grant_id, counter["evidence"],
                                                  counter["note"])
        return _view(details)


@blp.route("/proxy/confirmations/<string:token>")
class Confirmations(MethodView):
    @blp.response(200, ConfirmationView)
    def get(self, token: str) -> services.Confirmation:
        """The principal's confirm page (signed in on their own phone): in plain words what the
        agent may do and until when. Only the principal may open it (403 otherwise)."""
        return services.read_confirmation(container(), current_actor(), token)

    @blp.arguments(ConfirmationAnswerSchema)
    @blp.response(200, GrantView)
    def post(self, body: dict[str, Any], token: str) -> GrantAnswer:
        """The principal agrees (``active``) or declines (``cancelled``)."""
        return _view(services.answer_confirmation(container(), current_actor(), token,
                                                  body["agree"]))


@blp.route("/admin/proxy/grants")
class StaffGrants(MethodView):
    @staff_only(Role.COUNTER_STAFF, Role.ADMIN)
    @blp.arguments(StaffGrantQuerySchema, location="query")
    @blp.response(200, StaffGrantListView)
    def get(self, query: dict[str, Any]) -> dict[str, Any]:
        """Counter staff (or admin): the live grants (pending or active) whose principal has
        this ID number, masked, to confirm or revoke in the principal's presence. Audited."""
        actor = current_actor()
        found = services.counter_lookup(container(), actor, query["principal_id_number"])
        return {"items": [GrantAnswer(d, None, staff=True) for d in found]}


@blp.route("/me/proxy-activity")
class ProxyActivity(MethodView):
    @blp.response(200, ActivityListView)
    @blp.paginate(page_size=20, max_page_size=100)
    def get(self, pagination_parameters: PaginationParameters) -> dict[str, Any]:
        """Everything done under grants for the caller (as principal), newest first: who
        (masked), what (in Chinese), on which object, and the grant's lifecycle."""
        page = services.activity(container(), current_actor(), window_of(pagination_parameters))
        return {"items": page_items(pagination_parameters, page)}
