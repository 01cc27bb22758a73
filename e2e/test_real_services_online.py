"""刘䶮 (a resident: no personal account) pays online through WeChat Pay API v3 and then cancels
his policy, with every port on its real adapter over HTTP (``e2e/real_services.py``).

The order opens an H5 payment at the v3 stand-in (signed requests, the merchant's RSA key); he
confirms on its page; the stand-in sends its signed, AES-256-GCM encrypted notification to the app,
which verifies it, asks the gateway to confirm, and issues the policy. His cancellation refunds
the ¥150.00 through v3's refund API; the gateway then reports the payment refunded."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect

from e2e.real_services import RealServices, live_server, real_services  # noqa: F401 - fixtures
from e2e.support import assert_no_axe_violations, keep_screenshot, sign_up

pytestmark = pytest.mark.e2e

PHONE, NAME, ID_NUMBER = "13800000006", "刘䶮", "330105198109040613"


def test_liu_yan_pays_through_wechat_pay_v3_and_is_refunded(
    page: Page, base_url: str,
    real_services: RealServices,  # noqa: F811 - the fixture imported above
) -> None:
    gateway = real_services.services.gateway
    sign_up(page, base_url, PHONE, NAME, ID_NUMBER)
    page.goto("/")
    page.get_by_role("link", name="立即参保").click()
    expect(page.get_by_role("radio", name=re.compile("^在线支付"))).to_be_checked()
    agree = page.get_by_label("我已阅读并同意《保险条款》")
    agree.scroll_into_view_if_needed()
    agree.check()
    page.get_by_role("button", name="确认支付 ¥150.00").click()

    # WeChat Pay's own page (the stand-in's h5_url), not the product's.
    expect(page).to_have_url(re.compile("^" + re.escape(gateway.url)))
    expect(page.get_by_role("heading", name="微信支付")).to_be_visible()
    page.get_by_role("button", name="确认支付 ¥150.00").click()

    expect(page).to_have_url(re.compile(r"/enrollment-result\.html\?order_no=.+"))
    result = page.get_by_role("region", name="参保成功")
    expect(result).to_be_visible(timeout=20_000)
    expect(result.locator("[data-fact=paid] dd")).to_have_text("¥150.00")
    expect(result.locator("[data-fact=method] dd")).to_have_text("微信支付")
    order_no = re.search(r"order_no=([^&]+)", page.url).group(1)  # type: ignore[union-attr]
    order = page.request.get(f"/api/v1/enrollments/{order_no}").json()
    assert order["status"] == "issued"
    assert order["payable_fen"] == 15000
    # The gateway's signed notification of the payment was delivered (answered 2xx).
    [paid] = [d for d in gateway.deliveries if d.event_type == "TRANSACTION.SUCCESS"]
    assert gateway.wait_for(lambda: paid.delivered)
    assert_no_axe_violations(page, "on 参保结果 (WeChat Pay v3)")

    # 退保 before coverage: ¥150.00 goes back through v3's refund API.
    page.get_by_role("link", name="查看电子保单").click()
    page.get_by_role("button", name="申请退保").click()
    dialog = page.get_by_role("dialog", name="确认退保？")
    expect(dialog.locator("[data-refund-amount]")).to_have_text("¥150.00")
    dialog.get_by_role("button", name="确认退保").click()
    expect(page.get_by_role("alert")).to_contain_text("已退保")
    refund = page.locator("#epolicy [data-refund]")
    expect(refund.locator("[data-fact=refund-amount] dd")).to_have_text("¥150.00")
    keep_screenshot(page, "real-services-online-refunded")
    assert gateway.wait_for(lambda: gateway.payment_state(paid.key) == "REFUND")
