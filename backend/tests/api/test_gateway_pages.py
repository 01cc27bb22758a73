"""The built-in gateway's confirm page ("模拟微信支付"), through the Flask test client."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from flask import Flask
from flask.testing import FlaskClient

from huiminbao.app import create_app
from huiminbao.core.clock import MovableClock
from huiminbao.core.container import Container
from huiminbao.payments.gateway.models import NotificationStatus
from huiminbao.payments.gateway.port import GatewayPayment, TradeState
from huiminbao.payments.gateway.routes import gateway_pages
from huiminbao.payments.gateway.simulator import PAYMENT_TTL, SimulatedGateway

NOTIFY_URL = "http://127.0.0.1:8000/api/v1/payments/online/notify"
RETURN_URL = "/enroll/result.html?order=HMB0001"
_TOKEN = re.compile(r'name="token" value="([^"]+)"')
_serial = iter(range(1, 10_000))


@pytest.fixture
def gateway_app(wired: Container) -> Flask:
    app = create_app(container=wired)
    if "gateway_pages" not in app.blueprints:  # until create_app registers it
        app.register_blueprint(gateway_pages)
    return app


@pytest.fixture
def gateway(wired: Container) -> SimulatedGateway:
    assert isinstance(wired.gateway, SimulatedGateway)
    return wired.gateway


@pytest.fixture
def web(gateway_app: Flask) -> FlaskClient:
    return gateway_app.test_client()


def new_payment(gateway: SimulatedGateway, amount_fen: int = 15000) -> GatewayPayment:
    return gateway.create_payment(
        f"HMBPAGE{next(_serial):06d}", amount_fen, "西湖益联保2027 基础版 1人", NOTIFY_URL,
        RETURN_URL,
    )


def page_token(web: FlaskClient, payment: GatewayPayment) -> str:
    response = web.get(payment.pay_url)
    assert response.status_code == 200
    match = _TOKEN.search(response.get_data(as_text=True))
    assert match, "the page has no form token"
    return match.group(1)


def state_of(gateway: SimulatedGateway, payment: GatewayPayment) -> TradeState:
    result = gateway.query(payment.out_trade_no)
    assert result is not None
    return result.trade_state


def test_the_page_shows_merchant_description_and_amount(
    web: FlaskClient, gateway: SimulatedGateway
) -> None:
    payment = new_payment(gateway)
    response = web.get(payment.pay_url)
    html = response.get_data(as_text=True)
    assert response.status_code == 200
    assert response.mimetype == "text/html"
    assert '<html lang="zh-CN">' in html
    assert "模拟微信支付" in html
    assert "演示" in html
    assert "西湖益联保" in html
    assert "西湖益联保2027 基础版 1人" in html
    assert "150.00" in html
    assert "确认支付" in html
    assert "取消" in html
    assert payment.out_trade_no in html
    assert "http://" not in html and "https://" not in html  # nothing loaded from elsewhere
    assert "Set-Cookie" not in response.headers
    assert response.headers["Cache-Control"] == "no-store"
    assert "frame-ancestors 'none'" in response.headers["Content-Security-Policy"]


def test_large_amounts_are_grouped(web: FlaskClient, gateway: SimulatedGateway) -> None:
    payment = new_payment(gateway, amount_fen=123456789)
    assert "1,234,567.89" in web.get(payment.pay_url).get_data(as_text=True)


def test_confirming_pays_and_returns_to_the_merchant(
    web: FlaskClient, gateway: SimulatedGateway
) -> None:
    payment = new_payment(gateway)
    token = page_token(web, payment)
    response = web.post(f"{payment.pay_url}/confirm", data={"token": token})
    assert response.status_code == 303
    assert response.headers["Location"] == RETURN_URL
    assert state_of(gateway, payment) is TradeState.SUCCESS
    notification = gateway.notifications.state(payment.out_trade_no)
    assert notification is not None
    assert notification.status is NotificationStatus.PENDING
    paid = gateway.query(payment.out_trade_no)

    # A second click (or a replayed form) pays nothing more and returns to the merchant again.
    again = web.post(f"{payment.pay_url}/confirm", data={"token": token})
    assert again.status_code == 303
    assert gateway.query(payment.out_trade_no) == paid


def test_a_paid_payment_shows_its_state_instead_of_the_button(
    web: FlaskClient, gateway: SimulatedGateway
) -> None:
    payment = new_payment(gateway)
    gateway.confirm(payment.prepay_id)
    html = web.get(payment.pay_url).get_data(as_text=True)
    assert "已支付" in html
    assert "确认支付" not in html
    assert "返回商户" in html


@pytest.mark.parametrize("token", ["", "forged", "0" * 64])
def test_a_forged_or_missing_token_is_refused(
    web: FlaskClient, gateway: SimulatedGateway, token: str
) -> None:
    payment = new_payment(gateway)
    for action in ("confirm", "cancel"):
        response = web.post(f"{payment.pay_url}/{action}", data={"token": token})
        assert response.status_code == 403
        assert "支付页面已失效" in response.get_data(as_text=True)
    assert state_of(gateway, payment) is TradeState.NOTPAY


def test_another_payments_token_is_refused(web: FlaskClient, gateway: SimulatedGateway) -> None:
    first, second = new_payment(gateway), new_payment(gateway)
    response = web.post(f"{second.pay_url}/confirm", data={"token": page_token(web, first)})
    assert response.status_code == 403
    assert state_of(gateway, second) is TradeState.NOTPAY


def test_cancelling_returns_to_the_merchant_and_leaves_the_payment_payable(
    web: FlaskClient, gateway: SimulatedGateway
) -> None:
    payment = new_payment(gateway)
    response = web.post(f"{payment.pay_url}/cancel", data={"token": page_token(web, payment)})
    assert response.status_code == 303
    assert response.headers["Location"] == "/enroll/result.html?order=HMB0001&cancelled=1"
    assert state_of(gateway, payment) is TradeState.NOTPAY


def test_a_closed_payment_cannot_be_paid(web: FlaskClient, gateway: SimulatedGateway) -> None:
    payment = new_payment(gateway)
    token = page_token(web, payment)
    gateway.close(payment.out_trade_no)
    html = web.get(payment.pay_url).get_data(as_text=True)
    assert "已关闭" in html
    assert "确认支付" not in html
    response = web.post(f"{payment.pay_url}/confirm", data={"token": token})
    assert response.status_code == 409
    assert "已关闭" in response.get_data(as_text=True)
    assert state_of(gateway, payment) is TradeState.CLOSED


def test_an_expired_payment_cannot_be_paid(
    web: FlaskClient, gateway: SimulatedGateway, clock: MovableClock
) -> None:
    payment = new_payment(gateway)
    token = page_token(web, payment)
    clock.advance(PAYMENT_TTL + timedelta(seconds=1))
    html = web.get(payment.pay_url).get_data(as_text=True)
    assert "已超时" in html
    assert "确认支付" not in html
    response = web.post(f"{payment.pay_url}/confirm", data={"token": token})
    assert response.status_code == 409
    assert state_of(gateway, payment) is TradeState.CLOSED


def test_an_unknown_payment_is_not_found(web: FlaskClient) -> None:
    response = web.get("/gateway/pay/wx20261122100000nosuchpayment")
    assert response.status_code == 404
    assert "未找到该支付订单" in response.get_data(as_text=True)
    response = web.post("/gateway/pay/wx20261122100000nosuchpayment/confirm",
                        data={"token": "x"})
    assert response.status_code == 404
