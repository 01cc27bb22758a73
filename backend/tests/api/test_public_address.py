"""Where payers come back to, and who the payer is, behind a load balancer.

The gateway sends the payer back under HUIMINBAO_PUBLIC_URL whatever Host header a request
carried; with HUIMINBAO_TRUSTED_PROXIES the payer's address (WeChat Pay H5 checks it) is the one
the load balancer saw, and without it no forwarded header is believed."""

from __future__ import annotations

import io
from dataclasses import replace

import pytest
import zxingcpp
from flask import request
from flask.testing import FlaskClient
from PIL import Image

from huiminbao.app import create_app
from huiminbao.core.container import Container
from huiminbao.enrollment.routes import _gateway_urls
from tests.api.enrollment_helpers import enroll, sign_in


def _app(wired: Container, **changes: object):  # type: ignore[no-untyped-def]
    return create_app(container=replace(wired, settings=replace(wired.settings, **changes)))


def test_payers_come_back_to_the_public_address_whatever_the_host_header(
        wired: Container) -> None:
    app = _app(wired, public_url="https://hmb.example.gov.cn")
    with app.test_request_context("/api/v1/enrollments", headers={"Host": "evil.example"}):
        notify_url, return_url = _gateway_urls()
    assert notify_url == "https://hmb.example.gov.cn/api/v1/payments/online/notify"
    assert return_url == "https://hmb.example.gov.cn/enrollment-result.html?order_no={order_no}"


def test_demo_without_a_public_address_uses_the_requests_own(wired: Container) -> None:
    with _app(wired).test_request_context("/", base_url="http://127.0.0.1:8000"):
        assert _gateway_urls()[1].startswith("http://127.0.0.1:8000/enrollment-result.html")


@pytest.mark.parametrize(("trusted", "seen"), [(0, "10.0.0.5"), (1, "203.0.113.9")])
def test_forwarded_addresses_are_believed_only_from_trusted_proxies(
        wired: Container, trusted: int, seen: str) -> None:
    app = _app(wired, trusted_proxies=trusted)

    @app.get("/whoami-test")
    def whoami() -> str:
        return request.remote_addr or ""

    answer = app.test_client().get("/whoami-test", environ_base={"REMOTE_ADDR": "10.0.0.5"},
                                   headers={"X-Forwarded-For": "203.0.113.9"})
    assert answer.get_data(as_text=True) == seen


def test_verify_links_and_their_qr_are_on_the_public_address_whatever_the_host(
        wired: Container) -> None:
    app = _app(wired, public_url="https://hmb.example.gov.cn")
    client = app.test_client()
    zhang = sign_in(client, "张伟")
    order = enroll(zhang, "personal_account").get_json()
    policy_no = order["policies"][0]["policy_no"]
    forged = {**zhang.bearer, "Host": "evil.example"}
    policy = client.get(f"/api/v1/policies/{policy_no}", headers=forged).get_json()
    assert policy["verify_url"].startswith("https://hmb.example.gov.cn/verify/")
    png = client.get(policy["qr_url"], headers=forged)
    [decoded] = zxingcpp.read_barcodes(Image.open(io.BytesIO(png.data)),
                                         formats=zxingcpp.BarcodeFormat.QRCode)
    assert decoded.text == policy["verify_url"]


def test_a_wrong_method_keeps_its_allow_header(client: FlaskClient) -> None:
    answer = client.delete("/api/v1/products")
    assert answer.status_code == 405
    assert "GET" in answer.headers["Allow"]
    assert answer.get_json()["code"] == "method_not_allowed"


def test_the_public_verify_endpoint_is_rate_limited(client: FlaskClient) -> None:
    answers = [client.get("/api/v1/verify/not-a-token").status_code for _ in range(31)]
    assert answers[:30] == [404] * 30
    assert answers[30] == 429
    throttled = client.get("/api/v1/verify/not-a-token")
    assert throttled.get_json()["code"] == "too_many_requests"
    assert int(throttled.headers["Retry-After"]) > 0


def test_behind_a_trusted_proxy_two_clients_get_separate_limits(wired: Container) -> None:
    client = _app(wired, trusted_proxies=1).test_client()
    balancer = {"REMOTE_ADDR": "10.0.0.5"}  # every request arrives from the load balancer

    def verify(resident: str) -> int:
        return client.get("/api/v1/verify/not-a-token", environ_base=balancer,
                          headers={"X-Forwarded-For": resident}).status_code

    assert [verify("203.0.113.9") for _ in range(31)][-1] == 429
    assert verify("198.51.100.7") == 404  # another resident: a bucket of their own
