"""The built-in gateway's own site: the payer's confirm page ("模拟微信支付").

This is the gateway's page, not the product's: it reads no session or cookie of the product, and
its forms carry a token that only the gateway can make (a keyed hash of the prepay_id), so another
site cannot post them. It finds the gateway as ``container().gateway``; with any other gateway
configured these pages answer 404.

* ``GET /gateway/pay/<prepay_id>``: amount, merchant, description; 确认支付 and 取消 while the
  payment can be paid, a plain statement otherwise (已支付, 已关闭, 已超时).
* ``POST /gateway/pay/<prepay_id>/confirm``: pay, then 303 to the merchant's return_url.
* ``POST /gateway/pay/<prepay_id>/cancel``: nothing changes; 303 to return_url with
  ``cancelled=1``.
"""

from __future__ import annotations

import functools
import secrets
from collections.abc import Callable
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from flask import Blueprint, Response, abort, make_response, redirect, render_template, request

from huiminbao.core.clock import to_china_time
from huiminbao.core.container import container
from huiminbao.core.money import format_yuan
from huiminbao.payments.gateway.port import GatewayRequestConflict, TradeNotFound, TradeState
from huiminbao.payments.gateway.simulator import PayPage, SimulatedGateway

gateway_pages = Blueprint("gateway_pages", __name__, template_folder="templates")

TEMPLATE = "gateway/pay.html"
MESSAGES = {
    "paid": "该订单已支付，请勿重复付款。",
    "closed": "该订单已关闭，无法支付。如需继续，请返回商户重新下单。",
    "expired": "支付已超时，订单已失效。请返回商户重新下单。",
    "bad_token": "支付页面已失效，请刷新页面后重试。",
    "not_found": "未找到该支付订单，请返回商户重新发起支付。",
}


def _gateway() -> SimulatedGateway:
    gateway = container().gateway
    if not isinstance(gateway, SimulatedGateway):
        abort(404)
    return gateway


def _state_key(page: PayPage) -> str | None:
    if page.trade_state.was_paid:
        return "paid"
    if page.expired:
        return "expired"
    if page.trade_state is not TradeState.NOTPAY:
        return "closed"
    return None


def _render(
    gateway: SimulatedGateway, page: PayPage | None, status: int, alert: str | None = None
) -> Response:
    nonce = secrets.token_urlsafe(16)
    state = _state_key(page) if page else "not_found"
    html = render_template(
        TEMPLATE,
        page=page,
        merchant_name=gateway.merchant_name,
        amount=format_yuan(page.amount_fen, grouping=True) if page else None,
        expires_at=to_china_time(page.expires_at).strftime("%H:%M") if page else None,
        state=state,
        state_message=MESSAGES[state] if state else None,
        alert=MESSAGES[alert] if alert else None,
        token=gateway.page_token(page.prepay_id) if page else None,
        csp_nonce=nonce,
    )
    response = make_response(html, status)
    response.headers["Content-Type"] = "text/html; charset=utf-8"
    response.headers["Cache-Control"] = "no-store"
    response.headers["Content-Security-Policy"] = (
        f"default-src 'none'; style-src 'nonce-{nonce}'; base-uri 'none'; "
        "frame-ancestors 'none'"
    )
    response.headers["X-Frame-Options"] = "DENY"
    response.headers["Referrer-Policy"] = "no-referrer"
    return response


def _see_other(location: str) -> Response:
    response: Response = make_response(redirect(location, code=303))
    response.headers["Cache-Control"] = "no-store"
    return response


def _with_query(url: str, **params: str) -> str:
    parts = urlsplit(url)
    query = [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if k not in params]
    query.extend(params.items())
    return urlunsplit(parts._replace(query=urlencode(query)))


def _checked_token(gateway: SimulatedGateway, prepay_id: str) -> bool:
    token = request.form.get("token", "")
    return bool(token) and gateway.check_page_token(prepay_id, token)


@gateway_pages.get("/gateway/pay/<prepay_id>")
def pay_page(prepay_id: str) -> Response:
    gateway = _gateway()
    page = gateway.page(prepay_id)
    return _render(gateway, page, 200 if page else 404)


def _page_form(
    act: Callable[[SimulatedGateway, PayPage], Response],
) -> Callable[[str], Response]:
    """A form posted from the pay page: 404 for an unknown payment and 403 (the page again, with
    its alert) for a missing or foreign token, before ``act`` runs."""

    @functools.wraps(act)
    def view(prepay_id: str) -> Response:
        gateway = _gateway()
        page = gateway.page(prepay_id)
        if page is None:
            return _render(gateway, None, 404)
        if not _checked_token(gateway, prepay_id):
            return _render(gateway, page, 403, alert="bad_token")
        return act(gateway, page)

    return view


@gateway_pages.post("/gateway/pay/<prepay_id>/confirm")
@_page_form
def confirm(gateway: SimulatedGateway, page: PayPage) -> Response:
    try:
        gateway.confirm(page.prepay_id)
    except TradeNotFound:
        return _render(gateway, None, 404)
    except GatewayRequestConflict:
        return _render(gateway, gateway.page(page.prepay_id), 409)
    return _see_other(page.return_url)


@gateway_pages.post("/gateway/pay/<prepay_id>/cancel")
@_page_form
def cancel(gateway: SimulatedGateway, page: PayPage) -> Response:
    return _see_other(_with_query(gateway.cancel(page.prepay_id), cancelled="1"))
