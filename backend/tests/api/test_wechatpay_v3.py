"""WeChat Pay API v3: the adapter against the local stand-in server over HTTP (real signatures,
real encryption, no mocks), and the app paid through it."""

from __future__ import annotations

import dataclasses
import html as html_module
import http.server
import json
import logging
import re
import threading
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from flask import Flask
from sqlalchemy import func, select, update
from werkzeug.serving import BaseWSGIServer, make_server

from huiminbao.app import create_app
from huiminbao.core.clock import CHINA_TZ, MovableClock
from huiminbao.core.config import ConfigError
from huiminbao.core.container import Container
from huiminbao.enrollment import resolving
from huiminbao.enrollment.models import Order, Refund
from huiminbao.payments.gateway.port import (
    NOTIFY_PATH,
    GatewayRequestConflict,
    GatewayUnavailable,
    InvalidNotification,
    PaymentNotification,
    RefundFailure,
    RefundNotification,
    RefundStatus,
    TradeNotFound,
    TradeState,
)
from huiminbao.payments.ledger import LedgerEntry, LedgerTransaction
from huiminbao.payments.wechatpay_v3 import (
    WechatPayConfig,
    WechatPayError,
    WechatPayV3Gateway,
    parse_trade_bill,
    rsa_verify,
)
from huiminbao.payments.wechatpay_v3_standin import WechatPayStandin
from tests.conftest import TEST_NOW
from tests.faultproxy import FaultProxy

from .enrollment_helpers import enroll, sign_in

_no_proxy = urllib.request.build_opener(urllib.request.ProxyHandler({}),
                                        urllib.request.HTTPErrorProcessor())


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *_args: Any, **_kwargs: Any) -> None:
        return None


_browser = urllib.request.build_opener(urllib.request.ProxyHandler({}), _NoRedirect())


def _post(url: str, body: bytes, headers: dict[str, str]) -> tuple[int, Any]:
    request = urllib.request.Request(url, data=body, method="POST",  # noqa: S310 (local)
                                     headers={**headers, "Content-Type": "application/json"})
    try:
        with _no_proxy.open(request, timeout=10) as response:
            raw = response.read()
            return int(response.status), json.loads(raw) if raw else None
    except urllib.error.HTTPError as exc:
        raw = exc.read()
        exc.close()
        return exc.code, json.loads(raw) if raw else None


@pytest.fixture
def standin(clock: MovableClock) -> Iterator[WechatPayStandin]:
    server = WechatPayStandin(clock=clock, refund_delay=0.3,
                              retry_schedule=(0.2, 0.2, 0.5, 1.0)).start()
    yield server
    server.stop()


def _gateway(standin: WechatPayStandin, clock: MovableClock,
             notify_url: str = f"http://127.0.0.1:9{NOTIFY_PATH}",
             **kwargs: Any) -> WechatPayV3Gateway:
    config = WechatPayConfig.from_env(standin.env(notify_url))
    assert config is not None
    return WechatPayV3Gateway(config, clock, timeout=5.0, **kwargs)


@pytest.fixture
def gateway(standin: WechatPayStandin, clock: MovableClock) -> WechatPayV3Gateway:
    return _gateway(standin, clock)


@dataclasses.dataclass
class Served:
    app: Flask
    url: str
    wired: Container
    gateway: WechatPayV3Gateway


@pytest.fixture
def served(wired: Container, standin: WechatPayStandin,
           clock: MovableClock) -> Iterator[Served]:
    """The app on a real HTTP port, its gateway the v3 adapter pointed at the stand-in."""
    app = create_app(container=wired)
    server: BaseWSGIServer = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{server.server_port}"
    gateway = _gateway(standin, clock, notify_url=url + NOTIFY_PATH)
    wired.gateway = gateway
    yield Served(app, url, wired, gateway)
    server.shutdown()
    server.server_close()


# ---------------------------------------------------------------- configuration


def test_config_is_none_when_unset_and_names_what_is_missing_or_wrong(
        standin: WechatPayStandin, tmp_path: Path) -> None:
    assert WechatPayConfig.from_env({}) is None
    env = standin.env("https://hmb.example.cn/api/v1/payments/online/notify")
    with pytest.raises(ConfigError, match="WECHATPAY_PUBLIC_KEY_ID"):
        WechatPayConfig.from_env({k: v for k, v in env.items() if k != "WECHATPAY_PUBLIC_KEY_ID"})
    with pytest.raises(ConfigError, match="WECHATPAY_APIV3_KEY"):
        WechatPayConfig.from_env({**env, "WECHATPAY_APIV3_KEY": "short"})
    with pytest.raises(ConfigError, match="WECHATPAY_PRIVATE_KEY_FILE"):
        WechatPayConfig.from_env({**env, "WECHATPAY_PRIVATE_KEY_FILE": str(tmp_path / "none")})
    garbage = tmp_path / "garbage.pem"
    garbage.write_text("not a key")
    with pytest.raises(ConfigError, match="WECHATPAY_PUBLIC_KEY_FILE"):
        WechatPayConfig.from_env({**env, "WECHATPAY_PUBLIC_KEY_FILE": str(garbage)})
    with pytest.raises(ConfigError, match="WECHATPAY_NOTIFY_URL"):
        WechatPayConfig.from_env({**env, "WECHATPAY_NOTIFY_URL": "http://hmb.example.cn/n"})
    config = WechatPayConfig.from_env(env)
    assert config is not None and config.base_url == standin.url
    described = config.describe()
    assert standin.apiv3_key not in described and "PRIVATE KEY" not in described
    assert standin.apiv3_key not in repr(config)
    assert standin.url in described and standin.public_key_id in described


def test_probe_passes_and_a_merchant_key_the_gateway_does_not_know_fails(
        standin: WechatPayStandin, gateway: WechatPayV3Gateway) -> None:
    gateway.probe()
    stranger = dataclasses.replace(
        gateway.config,
        private_key=rsa.generate_private_key(public_exponent=65537, key_size=2048))
    with pytest.raises(WechatPayError, match="SIGN_ERROR"):
        WechatPayV3Gateway(stranger, gateway.clock).probe()


def test_an_answer_not_signed_by_the_platform_is_an_unknown_outcome(
        standin: WechatPayStandin, gateway: WechatPayV3Gateway) -> None:
    other_platform = dataclasses.replace(
        gateway.config,
        public_key=rsa.generate_private_key(public_exponent=65537, key_size=2048).public_key())
    with pytest.raises(GatewayUnavailable, match="not signed"):
        WechatPayV3Gateway(other_platform, gateway.clock).create_payment(
            "HMBSIGN000001", 100, "保费", "https://x/n", "https://x/r", payer_ip="1.2.3.4")


# ---------------------------------------------------------------- the port over HTTP


EXPIRES = TEST_NOW + timedelta(minutes=30)


def test_create_query_close(standin: WechatPayStandin, gateway: WechatPayV3Gateway) -> None:
    payment = gateway.create_payment("HMBT000001", 15000, "西湖益联保保费",
                                     "https://ignored.example/n",
                                     "https://hmb.example.cn/enrollment-result.html?order_no=X1",
                                     expires_at=EXPIRES, payer_ip="203.0.113.9")
    assert payment.pay_url.startswith(f"{standin.url}/pay/h5?prepay_id=")
    query = parse_qs(urlsplit(payment.pay_url).query)
    assert query["redirect_url"] == ["https://hmb.example.cn/enrollment-result.html?order_no=X1"]
    assert payment.prepay_id == query["prepay_id"][0]
    again = gateway.create_payment("HMBT000001", 15000, "西湖益联保保费", "", "https://x/r",
                                   expires_at=EXPIRES, payer_ip="203.0.113.9")
    assert again.prepay_id == payment.prepay_id  # same number, same payment
    with pytest.raises(GatewayRequestConflict):
        gateway.create_payment("HMBT000001", 16000, "西湖益联保保费", "", "https://x/r",
                               expires_at=EXPIRES, payer_ip="203.0.113.9")
    found = gateway.query("HMBT000001")
    assert found is not None and found.trade_state is TradeState.NOTPAY
    assert found.amount_fen == 15000 and found.transaction_id is None
    assert gateway.query("HMBUNKNOWN01") is None
    gateway.close("HMBT000001")
    gateway.close("HMBT000001")  # idempotent
    closed = gateway.query("HMBT000001")
    assert closed is not None and closed.trade_state is TradeState.CLOSED
    with pytest.raises(TradeNotFound):
        gateway.close("HMBUNKNOWN01")
    gateway.create_payment("HMBT000002", 100, "保费", "", "https://x/r", payer_ip="1.2.3.4")
    standin.pay("HMBT000002")
    with pytest.raises(GatewayRequestConflict):
        gateway.close("HMBT000002")
    paid = gateway.query("HMBT000002")
    assert paid is not None and paid.trade_state is TradeState.SUCCESS and paid.transaction_id


def test_refunds(standin: WechatPayStandin, gateway: WechatPayV3Gateway) -> None:
    gateway.create_payment("HMBR000001", 15000, "保费", "", "https://x/r", payer_ip="1.2.3.4")
    unpaid = gateway.refund("HMBR000001R1", "HMBR000001", 100, "退保")
    assert unpaid.status is RefundStatus.FAILED
    assert unpaid.failure_reason is RefundFailure.TRADE_NOT_PAID
    standin.pay("HMBR000001")
    part = gateway.refund("HMBR000001R2", "HMBR000001", 10000, "退保退费")
    assert part.succeeded and part.refund_id  # PROCESSING at first, SUCCESS after polling
    assert gateway.refund("HMBR000001R2", "HMBR000001", 10000, "退保退费").refund_id \
        == part.refund_id  # a resend is answered from the record
    over = gateway.refund("HMBR000001R3", "HMBR000001", 5001, "退保退费")
    assert over.status is RefundStatus.FAILED
    assert over.failure_reason is RefundFailure.NOT_ENOUGH
    with pytest.raises(GatewayRequestConflict):
        gateway.refund("HMBR000001R2", "HMBR000001", 9000, "退保退费")
    unknown = gateway.refund("HMBR000009R1", "HMBR000009", 100, "退保")
    assert unknown.failure_reason is RefundFailure.ORDER_NOT_EXIST
    rest = gateway.refund("HMBR000001R4", "HMBR000001", 5000, "退保退费")
    assert rest.succeeded
    refunded = gateway.query("HMBR000001")
    assert refunded is not None and refunded.trade_state is TradeState.REFUND


def test_a_refund_still_processing_is_neither_success_nor_failure(
        standin: WechatPayStandin, gateway: WechatPayV3Gateway) -> None:
    gateway.create_payment("HMBP000001", 15000, "保费", "", "https://x/r", payer_ip="1.2.3.4")
    standin.pay("HMBP000001")
    standin.refund_delay = 30.0
    with pytest.raises(GatewayUnavailable, match="still processing"):
        gateway.refund("HMBP000001R1", "HMBP000001", 15000, "退保退费")
    standin._settle_refund("HMBP000001R1")  # the bank answers at last
    settled = gateway.refund("HMBP000001R1", "HMBP000001", 15000, "退保退费")
    assert settled.succeeded


def test_connection_drops_mid_create_and_mid_refund_are_resolved_with_the_same_numbers(
        standin: WechatPayStandin, gateway: WechatPayV3Gateway) -> None:
    standin.fail_next("create")
    with pytest.raises(GatewayUnavailable):
        gateway.create_payment("HMBF000001", 15000, "保费", "", "https://x/r",
                               expires_at=EXPIRES, payer_ip="1.2.3.4")
    created = gateway.query("HMBF000001")  # it got there: asked with the same number
    assert created is not None and created.trade_state is TradeState.NOTPAY
    page = gateway.create_payment("HMBF000001", 15000, "保费", "", "https://x/r",
                                  expires_at=EXPIRES, payer_ip="1.2.3.4")
    assert page.pay_url
    standin.pay("HMBF000001")
    standin.fail_next("refund")
    with pytest.raises(GatewayUnavailable):
        gateway.refund("HMBF000001R1", "HMBF000001", 15000, "退保退费")
    again = gateway.refund("HMBF000001R1", "HMBF000001", 15000, "退保退费")
    assert again.succeeded
    assert standin._payments["HMBF000001"].refunded == 15000  # the money went back once


def test_an_unreachable_gateway_is_an_unknown_outcome(
        standin: WechatPayStandin, gateway: WechatPayV3Gateway) -> None:
    port = int(standin.url.rsplit(":", 1)[1])
    with FaultProxy("127.0.0.1", port) as proxy:
        via_proxy = WechatPayV3Gateway(
            dataclasses.replace(gateway.config, base_url=f"http://127.0.0.1:{proxy.port}"),
            gateway.clock, timeout=1.0)
        assert via_proxy.query("HMBX000001") is None
        proxy.refuse()
        with pytest.raises(GatewayUnavailable):
            via_proxy.query("HMBX000001")
        proxy.blackhole()
        with pytest.raises(GatewayUnavailable):
            via_proxy.create_payment("HMBX000001", 100, "保费", "", "https://x/r",
                                     expires_at=EXPIRES, payer_ip="1.2.3.4")
        proxy.passthrough()
        # Whether the black-holed create got there is unknown; the query with the same number
        # tells, and creating again with it gives the one payment either way.
        found = via_proxy.query("HMBX000001")
        assert found is None or (found.trade_state is TradeState.NOTPAY
                                 and found.amount_fen == 100)
        page = via_proxy.create_payment("HMBX000001", 100, "保费", "", "https://x/r",
                                        expires_at=EXPIRES, payer_ip="1.2.3.4")
        assert page.prepay_id == standin._payments["HMBX000001"].prepay_id


def test_the_statement_lists_payments_and_refunds_of_the_days_asked(
        standin: WechatPayStandin, gateway: WechatPayV3Gateway, clock: MovableClock) -> None:
    gateway.create_payment("HMBS000001", 15000, "保费", "", "https://x/r", payer_ip="1.2.3.4")
    gateway.create_payment("HMBS000002", 30000, "保费", "", "https://x/r", payer_ip="1.2.3.4")
    standin.pay("HMBS000001")
    standin.pay("HMBS000002")
    assert gateway.refund("HMBS000002R1", "HMBS000002", 30000, "退保").succeeded
    statement = gateway.statement(TEST_NOW - timedelta(hours=1), TEST_NOW + timedelta(hours=1))
    assert sorted((p.out_trade_no, p.amount_fen) for p in statement.payments) == [
        ("HMBS000001", 15000), ("HMBS000002", 30000)]
    assert [(r.out_refund_no, r.out_trade_no, r.amount_fen) for r in statement.refunds] == [
        ("HMBS000002R1", "HMBS000002", 30000)]
    unbounded = gateway.statement()  # the last days up to now: the same, plus empty days
    assert len(unbounded.payments) == 2 and len(unbounded.refunds) == 1
    later = gateway.statement(TEST_NOW + timedelta(hours=1), TEST_NOW + timedelta(days=1))
    assert later.payments == [] and later.refunds == []


def test_a_trade_bill_as_documented_is_parsed() -> None:
    bill = (
        "交易时间,公众账号ID,商户号,特约商户号,设备号,微信订单号,商户订单号,用户标识,交易类型,交易状态,"
        "付款银行,货币种类,应结订单金额,代金券金额,微信退款单号,商户退款单号,退款金额,充值券退款金额,"
        "退款类型,退款状态,商品名称,商户数据包,手续费,费率,订单金额,申请退款金额,费率备注\r\n"
        "`2026-11-22 10:05:12,`wxd678efh567hg6787,`1900000109,`0,`,`4200001234202611221234567890,"
        "`HMB2026112200001,`oUpF8u,`MWEB,`SUCCESS,`OTHERS,`CNY,`150.00,`0.00,`0,`0,`0.00,`0.00,`,"
        "`,`保费,`,`0.90000,`0.60%,`150.00,`0.00,`\r\n"
        "`2026-11-23 09:00:00,`wxd678efh567hg6787,`1900000109,`0,`,`4200001234202611221234567890,"
        "`HMB2026112200001,`oUpF8u,`MWEB,`REFUND,`OTHERS,`CNY,`0.00,`0.00,"
        "`50300001234202611231234567890,`HMB2026112200001R1,`150.00,`0.00,`ORIGINAL,`SUCCESS,"
        "`保费,`,`-0.90000,`0.60%,`0.00,`150.00,`\r\n"
        "总交易单数,应结订单总金额,退款总金额,充值券退款总金额,手续费总金额,订单总金额,申请退款总金额\r\n"
        "`2,`150.00,`150.00,`0.00,`0.00000,`150.00,`150.00\r\n")
    statement = parse_trade_bill(bill)
    assert [(p.out_trade_no, p.amount_fen, p.paid_at) for p in statement.payments] == [
        ("HMB2026112200001", 15000, TEST_NOW + timedelta(minutes=5, seconds=12))]
    assert [(r.out_refund_no, r.amount_fen) for r in statement.refunds] == [
        ("HMB2026112200001R1", 15000)]


# ---------------------------------------------------------------- notifications


def _order_for(wired: Container, order_no: str) -> Order:
    with wired.db.read() as session:
        return session.scalars(select(Order).where(Order.order_no == order_no)).one()


def test_paying_on_the_h5_page_notifies_the_app_which_issues_the_policy(
        served: Served, standin: WechatPayStandin) -> None:
    client = served.app.test_client()
    liu = sign_in(client, "刘䶮")
    response = enroll(liu, "online")
    assert response.status_code == 201, response.get_json()
    order = response.get_json()
    pay_url = order["pay_url"]
    assert pay_url.startswith(f"{standin.url}/pay/h5?prepay_id=")
    redirect_url = parse_qs(urlsplit(pay_url).query)["redirect_url"][0]
    assert redirect_url.endswith(f"/enrollment-result.html?order_no={order['order_no']}")

    with _browser.open(pay_url, timeout=10) as page:
        html = page.read().decode()
    assert "确认支付 ¥150.00" in html and "取消" in html
    form = {name: html_module.unescape(value) for name, value in
            re.findall(r'name="(\w+)" value="([^"]*)"', html)}
    confirm = urllib.request.Request(f"{standin.url}/pay/h5/confirm",  # noqa: S310 (local)
                                     method="POST",
                                     data=urlencode(form).encode())
    with pytest.raises(urllib.error.HTTPError) as redirected:
        _browser.open(confirm, timeout=10)
    assert redirected.value.code == 303
    assert redirected.value.headers["Location"] == redirect_url
    redirected.value.close()

    assert standin.wait_for(lambda: any(d.delivered for d in standin.deliveries))
    assert standin.deliveries[0].statuses == [200]
    done = client.get(f"/api/v1/enrollments/{order['order_no']}", headers=liu.bearer).get_json()
    assert done["status"] == "issued" and len(done["policies"]) == 1

    # A duplicate (WeChat Pay retries) is answered 200 and changes nothing.
    order_row = _order_for(served.wired, order["order_no"])
    body, headers = standin.notification(
        "TRANSACTION.SUCCESS", standin.transaction_resource(order_row.payment_request_no))
    for _ in range(2):
        status, answer = _post(served.url + NOTIFY_PATH, body, headers)
        assert status == 200 and answer["code"] == "SUCCESS"
    with served.wired.db.read() as session:
        payments = session.scalar(select(func.count()).select_from(LedgerTransaction).where(
            LedgerTransaction.order_no == order["order_no"],
            LedgerTransaction.kind == "payment"))
        gateway_total = session.scalar(select(func.sum(LedgerEntry.amount_fen)).where(
            LedgerEntry.account == "gateway:online"))
    assert payments == 1 and gateway_total == -15000

    # Cancelling the policy refunds through WeChat Pay (PROCESSING, then SUCCESS), once.
    policy_no = done["policies"][0]["policy_no"]
    cancelled = client.post(f"/api/v1/policies/{policy_no}/cancel",
                            headers={**liu.bearer, "Idempotency-Key": uuid.uuid4().hex})
    assert cancelled.status_code == 200, cancelled.get_json()
    assert cancelled.get_json()["refund"]["status"] == "succeeded"
    # The refund notification that follows is verified and harmless.
    assert standin.wait_for(lambda: any(d.event_type == "REFUND.SUCCESS" and d.delivered
                                        for d in standin.deliveries))
    with served.wired.db.read() as session:
        refunds = session.scalars(select(Refund)).all()
    assert [(r.status, r.amount_fen) for r in refunds] == [("succeeded", 15000)]


def test_a_refund_left_processing_is_settled_by_its_notification(
        served: Served, standin: WechatPayStandin) -> None:
    client = served.app.test_client()
    liu = sign_in(client, "刘䶮")
    order = enroll(liu, "online").get_json()
    order_row = _order_for(served.wired, order["order_no"])
    standin.pay(order_row.payment_request_no)
    assert standin.wait_for(lambda: _order_for(served.wired, order["order_no"]).status
                            == "issued")
    standin.refund_delay = 3.0  # longer than the adapter polls
    policy_no = client.get(f"/api/v1/enrollments/{order['order_no']}",
                           headers=liu.bearer).get_json()["policies"][0]["policy_no"]
    cancelled = client.post(f"/api/v1/policies/{policy_no}/cancel",
                            headers={**liu.bearer, "Idempotency-Key": uuid.uuid4().hex})
    assert cancelled.status_code == 200, cancelled.get_json()
    assert cancelled.get_json()["refund"]["status"] == "pending"  # honest: not known yet

    def settled() -> bool:
        with served.wired.db.read() as session:
            return session.scalar(select(Refund.status)) == "succeeded"

    assert standin.wait_for(settled, timeout=15)  # REFUND.SUCCESS made the app ask again


def test_tampered_notifications_are_refused(served: Served, standin: WechatPayStandin) -> None:
    client = served.app.test_client()
    liu = sign_in(client, "刘䶮")
    order = enroll(liu, "online").get_json()
    order_row = _order_for(served.wired, order["order_no"])
    resource = standin.transaction_resource(order_row.payment_request_no)
    resource.update(trade_state="SUCCESS", transaction_id="4200000000202611220000000001",
                    success_time="2026-11-22T10:05:12+08:00")
    resource["amount"].update(payer_total=15000)
    stranger = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    url = served.url + NOTIFY_PATH

    cases: dict[str, tuple[bytes, dict[str, str]]] = {
        "bad signature": standin.notification("TRANSACTION.SUCCESS", resource, key=stranger),
        "wrong APIv3 key": standin.notification("TRANSACTION.SUCCESS", resource,
                                                apiv3_key="k" * 32),
        "wrong amount": standin.notification(
            "TRANSACTION.SUCCESS", {**resource, "amount": {"total": 1, "currency": "CNY"}}),
        "wrong mchid": standin.notification("TRANSACTION.SUCCESS",
                                            {**resource, "mchid": "1900000999"}),
        "wrong appid": standin.notification("TRANSACTION.SUCCESS",
                                            {**resource, "appid": "wx0000000000000000"}),
        # Signed right, but the gateway's own record says unpaid: nothing is issued.
        "not paid at the gateway": standin.notification("TRANSACTION.SUCCESS", resource),
    }
    body, headers = standin.notification("TRANSACTION.SUCCESS", resource)
    cases["body changed after signing"] = (body.replace(b'"id":"', b'"id":"x'), headers)
    cases["stale"] = (body, {**headers, **standin.signed_headers(body, timestamp="1700000000")})
    cases["unknown serial"] = (body, {**headers, "Wechatpay-Serial": "PUB_KEY_ID_OTHER"})
    cases["no headers"] = (body, {})
    for name, (payload, sent) in cases.items():
        status, answer = _post(url, payload, sent)
        assert status >= 400, name
        assert answer["code"] == "FAIL" and answer["message"], name
    assert _order_for(served.wired, order["order_no"]).status == "pending_payment"


def test_verify_notification_answers_payment_and_refund_notifications(
        standin: WechatPayStandin, gateway: WechatPayV3Gateway) -> None:
    gateway.create_payment("HMBN000001", 15000, "保费", "", "https://x/r", payer_ip="1.2.3.4")
    standin.pay("HMBN000001")
    body, headers = standin.notification("TRANSACTION.SUCCESS",
                                         standin.transaction_resource("HMBN000001"))
    lowered = {name.lower(): value for name, value in headers.items()}
    payment = gateway.verify_notification(body, lowered)
    assert isinstance(payment, PaymentNotification)
    assert (payment.out_trade_no, payment.amount_fen, payment.trade_state) == (
        "HMBN000001", 15000, TradeState.SUCCESS)
    refund_body, refund_headers = standin.notification("REFUND.SUCCESS", {
        "mchid": standin.mchid, "out_trade_no": "HMBN000001", "out_refund_no": "HMBN000001R1",
        "refund_id": "50300001", "refund_status": "SUCCESS",
        "amount": {"total": 15000, "refund": 15000, "payer_total": 15000,
                   "payer_refund": 15000}})
    refund = gateway.verify_notification(refund_body, refund_headers)
    assert isinstance(refund, RefundNotification) and refund.amount_fen == 15000
    with pytest.raises(InvalidNotification):
        gateway.verify_notification(refund_body, headers)  # another body's signature


def test_jsapi_differs_only_in_the_create_call(standin: WechatPayStandin,
                                               gateway: WechatPayV3Gateway) -> None:
    prepay_id, params = gateway.create_jsapi_payment("HMBJ000001", 15000, "保费",
                                                     "oUpF8uMuAJO_M2pxb1Q9zNjWeS6o")
    assert params["package"] == f"prepay_id={prepay_id}" and params["signType"] == "RSA"
    message = (f"{params['appId']}\n{params['timeStamp']}\n{params['nonceStr']}\n"
               f"{params['package']}\n").encode()
    assert rsa_verify(standin.merchant_key.public_key(), message, params["paySign"])
    standin.pay("HMBJ000001")
    paid = gateway.query("HMBJ000001")
    assert paid is not None and paid.trade_state is TradeState.SUCCESS


# ---------------------------------------------------------------- answers that are not WeChat Pay's

_NOT_EXIST = json.dumps({"code": "ORDER_NOT_EXIST", "message": "订单不存在"})
_NO_RESOURCE = json.dumps({"code": "RESOURCE_NOT_EXISTS", "message": "退款单不存在"})


class _Bare404(http.server.BaseHTTPRequestHandler):
    """A plain web server with nothing at /v3/: 404 without a body, or a page."""

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def _answer(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        self.rfile.read(length)
        if self.path.startswith("/page"):
            self.send_error(404)  # http.server's own HTML error page
            return
        self.send_response(404)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def do_GET(self) -> None:
        self._answer()

    def do_POST(self) -> None:
        self._answer()


@pytest.fixture
def plain_server() -> Iterator[str]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Bare404)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_a_plain_web_server_is_not_wechat_pay_and_its_404_means_nothing(
        gateway: WechatPayV3Gateway, plain_server: str) -> None:
    for base_url in (plain_server, plain_server + "/page"):  # a bare 404, an HTML 404 page
        elsewhere = WechatPayV3Gateway(dataclasses.replace(gateway.config, base_url=base_url),
                                       gateway.clock, timeout=2.0)
        with pytest.raises(GatewayUnavailable):
            elsewhere.probe()
        with pytest.raises(GatewayUnavailable):
            elsewhere.query("HMBPLAIN0001")
        with pytest.raises(GatewayUnavailable):
            elsewhere.close("HMBPLAIN0001")
        with pytest.raises(GatewayUnavailable):
            elsewhere.refund("HMBPLAIN0001R1", "HMBPLAIN0001", 100, "退保")


def test_not_found_is_believed_only_as_wechat_pays_signed_error(
        standin: WechatPayStandin, gateway: WechatPayV3Gateway) -> None:
    gateway.create_payment("HMBNF0000001", 15000, "保费", "", "https://x/r",
                           expires_at=EXPIRES, payer_ip="1.2.3.4")
    standin.pay("HMBNF0000001")
    # The paid trade answered "does not exist" by something that did not sign it: unknown.
    standin.answer_next("query", 404, _NOT_EXIST, signed=False)
    with pytest.raises(GatewayUnavailable, match="not signed"):
        gateway.query("HMBNF0000001")
    standin.answer_next("query", 404, "<html>Not Found</html>", signed=False,
                        content_type="text/html")
    with pytest.raises(GatewayUnavailable):
        gateway.query("HMBNF0000001")
    standin.answer_next("query", 404, "<html>Not Found</html>", signed=True,
                        content_type="text/html")
    with pytest.raises(GatewayUnavailable, match="not a JSON error"):
        gateway.query("HMBNF0000001")
    standin.answer_next("query", 204)  # no body where the trade was expected
    with pytest.raises(GatewayUnavailable):
        gateway.query("HMBNF0000001")
    standin.answer_next("query", 200)
    with pytest.raises(GatewayUnavailable):
        gateway.query("HMBNF0000001")
    standin.answer_next("query", 502, "<html>Bad Gateway</html>", content_type="text/html")
    with pytest.raises(GatewayUnavailable):
        gateway.query("HMBNF0000001")
    # Signed, but another code than the endpoint's not-found: WeChat Pay's refusal, not None.
    standin.answer_next("query", 404, _NO_RESOURCE, signed=True)
    with pytest.raises(WechatPayError, match="RESOURCE_NOT_EXISTS"):
        gateway.query("HMBNF0000001")
    # Signed ORDER_NOT_EXIST is the real answer.
    standin.answer_next("query", 404, _NOT_EXIST, signed=True)
    assert gateway.query("HMBNF0000001") is None
    paid = gateway.query("HMBNF0000001")
    assert paid is not None and paid.trade_state is TradeState.SUCCESS

    standin.answer_next("close", 404, _NOT_EXIST, signed=False)
    with pytest.raises(GatewayUnavailable):
        gateway.close("HMBNF0000001")
    standin.answer_next("close", 404)
    with pytest.raises(GatewayUnavailable):
        gateway.close("HMBNF0000001")

    # Refunds: no unsigned "not found" ever fails a refund for good.
    standin.answer_next("refund_query", 404, _NO_RESOURCE, signed=False)
    with pytest.raises(GatewayUnavailable):
        gateway.refund("HMBNF0000001R1", "HMBNF0000001", 15000, "退保")
    standin.answer_next("query", 404, _NOT_EXIST, signed=False)
    with pytest.raises(GatewayUnavailable):
        gateway.refund("HMBNF0000001R1", "HMBNF0000001", 15000, "退保")
    standin.answer_next("refund", 404, _NO_RESOURCE, signed=False)
    with pytest.raises(GatewayUnavailable):
        gateway.refund("HMBNF0000001R1", "HMBNF0000001", 15000, "退保")
    # That unsigned 404 hid a refund that was made: asking again with its number finds it.
    settled = gateway.refund("HMBNF0000001R1", "HMBNF0000001", 15000, "退保")
    assert settled.succeeded
    assert standin._payments["HMBNF0000001"].refunded == 15000


# ---------------------------------------------------------------- repeated creates


def test_a_repeated_create_sends_the_very_same_parameters(
        standin: WechatPayStandin, gateway: WechatPayV3Gateway, clock: MovableClock) -> None:
    first = gateway.create_payment("HMBRP0000001", 15000, "保费", "", "https://x/r",
                                   expires_at=EXPIRES, payer_ip="203.0.113.9")
    clock.advance(timedelta(minutes=7))  # asked again later, e.g. a lost answer
    again = gateway.create_payment("HMBRP0000001", 15000, "保费", "", "https://x/r2",
                                   expires_at=EXPIRES, payer_ip="203.0.113.9")
    assert again.prepay_id == first.prepay_id and again.expires_at == first.expires_at
    # The stand-in compares every parameter, as WeChat Pay does: "now + 2 hours" or another
    # address is another request (订单号重复).
    with pytest.raises(GatewayRequestConflict):
        gateway.create_payment("HMBRP0000001", 15000, "保费", "", "https://x/r",
                               payer_ip="203.0.113.9")
    with pytest.raises(GatewayRequestConflict):
        gateway.create_payment("HMBRP0000001", 15000, "保费", "", "https://x/r",
                               expires_at=EXPIRES, payer_ip="198.51.100.7")
    # Only the duplicate-order answer is a conflict; another INVALID_REQUEST is a refusal.
    standin.answer_next("create", 400, json.dumps(
        {"code": "INVALID_REQUEST", "message": "H5支付权限未开通"}), signed=True)
    with pytest.raises(WechatPayError, match="INVALID_REQUEST"):
        gateway.create_payment("HMBRP0000002", 100, "保费", "", "https://x/r",
                               expires_at=EXPIRES, payer_ip="203.0.113.9")


def test_a_lost_pay_page_is_asked_for_with_the_orders_own_parameters(
        served: Served, standin: WechatPayStandin, clock: MovableClock) -> None:
    client = served.app.test_client()
    liu = sign_in(client, "刘䶮")
    order = enroll(liu, "online").get_json()
    row = _order_for(served.wired, order["order_no"])
    assert row.payer_ip == "127.0.0.1"
    sent = standin._payments[row.payment_request_no].request
    assert sent["scene_info"]["payer_client_ip"] == "127.0.0.1"
    assert sent["time_expire"] == row.expires_at.astimezone(CHINA_TZ).isoformat(
        timespec="seconds")
    with served.wired.db.transaction() as session:
        session.execute(update(Order).where(Order.id == row.id).values(pay_url=None))
    clock.advance(timedelta(minutes=5))
    with served.app.test_request_context(environ_base={"REMOTE_ADDR": "198.51.100.7"}):
        resolving.recover_pay_page(served.wired, order["order_no"], "https://x/n",
                                  "https://x/r?order_no={order_no}")
    recovered = _order_for(served.wired, order["order_no"])
    assert recovered.pay_url is not None
    assert parse_qs(urlsplit(recovered.pay_url).query)["prepay_id"] == [
        standin._payments[row.payment_request_no].prepay_id]


# ---------------------------------------------------------------- refunds re-read and ABNORMAL


def test_a_refund_refused_as_invalid_is_read_back_before_it_fails(
        standin: WechatPayStandin, gateway: WechatPayV3Gateway) -> None:
    gateway.create_payment("HMBIR0000001", 15000, "保费", "", "https://x/r",
                           expires_at=EXPIRES, payer_ip="1.2.3.4")
    standin.pay("HMBIR0000001")
    # A concurrent settle made this very refund; this POST is then answered INVALID_REQUEST.
    standin.answer_next("refund", 400, json.dumps(
        {"code": "INVALID_REQUEST", "message": "订单已全额退款"}), signed=True)
    refund = gateway.refund("HMBIR0000001R1", "HMBIR0000001", 15000, "退保")
    assert refund.succeeded and refund.refund_id
    assert standin._payments["HMBIR0000001"].refunded == 15000
    # No such refund at all: the refusal stands.
    over = gateway.refund("HMBIR0000001R2", "HMBIR0000001", 1, "退保")
    assert over.status is RefundStatus.FAILED and over.failure_reason is RefundFailure.NOT_ENOUGH


def test_an_abnormal_refund_stays_pending_and_is_logged_for_staff(
        standin: WechatPayStandin, gateway: WechatPayV3Gateway,
        caplog: pytest.LogCaptureFixture) -> None:
    gateway.create_payment("HMBAB0000001", 15000, "保费", "", "https://x/r",
                           expires_at=EXPIRES, payer_ip="1.2.3.4")
    standin.pay("HMBAB0000001")
    standin.refund_delay = 30.0
    with pytest.raises(GatewayUnavailable, match="still processing"):
        gateway.refund("HMBAB0000001R1", "HMBAB0000001", 15000, "退保")
    standin.end_refund("HMBAB0000001R1", "ABNORMAL")
    with caplog.at_level(logging.ERROR), pytest.raises(GatewayUnavailable, match="ABNORMAL"):
        gateway.refund("HMBAB0000001R1", "HMBAB0000001", 15000, "退保")
    assert any(r.levelno == logging.ERROR and "ABNORMAL" in r.getMessage()
               for r in caplog.records)
    standin.end_refund("HMBAB0000001R1", "SUCCESS")  # staff recovered it (异常退款)
    assert gateway.refund("HMBAB0000001R1", "HMBAB0000001", 15000, "退保").succeeded


# ---------------------------------------------------------------- the notify route never 500s


def test_signed_notifications_with_malformed_resources_are_refused_not_500(
        served: Served, standin: WechatPayStandin) -> None:
    client = served.app.test_client()
    liu = sign_in(client, "刘䶮")
    order = enroll(liu, "online").get_json()
    row = _order_for(served.wired, order["order_no"])
    resource = standin.transaction_resource(row.payment_request_no)
    url = served.url + NOTIFY_PATH
    refund_resource = {"mchid": standin.mchid, "out_trade_no": row.payment_request_no,
                       "out_refund_no": "R1", "refund_id": "503", "refund_status": "SUCCESS"}
    for amount in ("15000", [15000], None, 15000):
        for event, base in (("TRANSACTION.SUCCESS", resource),
                            ("REFUND.SUCCESS", refund_resource)):
            status, answer = _post(url, *standin.notification(event, {**base, "amount": amount}))
            assert 400 <= status < 500, (event, amount, status)
            assert answer["code"] == "FAIL"
    assert _order_for(served.wired, order["order_no"]).status == "pending_payment"


def test_a_gateway_error_while_asking_back_is_answered_503(
        served: Served, standin: WechatPayStandin) -> None:
    client = served.app.test_client()
    liu = sign_in(client, "刘䶮")
    order = enroll(liu, "online").get_json()
    row = _order_for(served.wired, order["order_no"])
    standin.retry_schedule = ()
    standin.pay(row.payment_request_no)
    assert standin.wait_for(lambda: bool(standin.deliveries)
                            and bool(standin.deliveries[0].statuses))
    body, headers = standin.notification(
        "TRANSACTION.SUCCESS", standin.transaction_resource(row.payment_request_no))
    # The confirming query is refused (WechatPayError), then the trade is "unknown" (signed).
    standin.answer_next("query", 403, json.dumps(
        {"code": "NO_AUTH", "message": "商户无权限"}), signed=True)
    status, answer = _post(served.url + NOTIFY_PATH, body, headers)
    assert status == 503 and answer["code"] == "FAIL" and answer["message"]
    status, answer = _post(served.url + NOTIFY_PATH, body, headers)
    assert status == 200 and answer["code"] == "SUCCESS"
    assert _order_for(served.wired, order["order_no"]).status == "issued"
