"""刘䶮 (resident: no personal account) pays online through the payment gateway's own page.

His first 确认支付 reaches the server but the answer is lost on the way back: pressing again
sends the same Idempotency-Key and gets the same order (one order, one payment). On the gateway
he first presses 取消, comes back to 继续支付, then pays; the result page shows his policy."""

from __future__ import annotations

import re
import uuid
from typing import Any

import pytest
from playwright.sync_api import Page, Route, expect

from e2e.support import assert_no_axe_violations, keep_screenshot, sign_up

pytestmark = pytest.mark.e2e

PHONE, NAME, ID_NUMBER = "13800000006", "刘䶮", "330105198109040613"
AGREE = "我已阅读并同意《保险条款》"


def is_enroll_post(request: Any) -> bool:
    return bool(request.method == "POST" and request.url.endswith("/api/v1/enrollments"))


def test_liu_yan_pays_online_through_the_gateway(page: Page, base_url: str) -> None:
    sign_up(page, base_url, PHONE, NAME, ID_NUMBER)
    page.goto("/")
    page.get_by_role("link", name="立即参保").click()

    # Residents have no personal account: online payment is the one way shown, and why.
    online = page.get_by_role("radio", name=re.compile("^在线支付"))
    expect(online).to_be_checked()
    expect(page.get_by_role("radio", name=re.compile("^医保个人账户"))).to_be_hidden()
    expect(page.get_by_role("radio", name=re.compile("^政府资助"))).to_be_hidden()
    expect(page.get_by_text("城乡居民医保参保人员没有医保个人账户")).to_be_visible()
    sheet = page.get_by_role("region", name="确认信息")
    expect(sheet.locator("[data-row=insured] dd")).to_have_text("刘*（本人）")
    expect(sheet.locator("[data-total]")).to_contain_text("¥150.00")
    expect(sheet.locator("[data-row=method] dd")).to_have_text("在线支付（微信支付）")
    expect(sheet.locator("[data-account]")).to_have_count(0)

    agree = page.get_by_label(AGREE)
    agree.scroll_into_view_if_needed()
    agree.check()
    assert_no_axe_violations(page, "on 确认参保 (online)")

    # The server creates the order, but its answer never arrives.
    lost: list[str] = []

    def lose_the_answer(route: Route) -> None:
        if lost or route.request.method != "POST":
            route.fallback()
            return
        route.fetch()  # the server handles it…
        lost.append(route.request.headers["idempotency-key"])
        route.abort("connectionreset")  # …and the phone never hears back

    page.route("**/api/v1/enrollments", lose_the_answer)
    pay = page.get_by_role("button", name="确认支付 ¥150.00")
    pay.click()
    expect(page.get_by_role("alert")).to_contain_text("网络连接失败")
    expect(page.get_by_role("alert")).to_contain_text("不会重复扣款")
    assert len(lost) == 1

    # Pressing again repeats the same intent: same key, same order, straight to the gateway.
    with page.expect_request(is_enroll_post) as retried:
        pay.click()
    assert retried.value.headers["idempotency-key"] == lost[0]
    uuid.UUID(lost[0])
    expect(page).to_have_url(re.compile(r"/gateway/pay/"))
    page.unroute("**/api/v1/enrollments")
    expect(page.get_by_role("heading", name="模拟微信支付")).to_be_visible()
    expect(page.locator(".amount")).to_contain_text("150.00")

    # 取消 on the gateway: back to the result page, which offers to go on paying.
    page.get_by_role("button", name="取消").click()
    expect(page).to_have_url(re.compile(r"/enrollment-result\.html\?order_no=.+&cancelled=1"))
    expect(page.get_by_role("heading", name="您已取消支付")).to_be_visible()
    expect(page.get_by_text("您还没有参保")).to_be_visible()
    assert_no_axe_violations(page, "on 参保结果 after 取消")
    keep_screenshot(page, "enrollment-result-cancelled")
    found = re.search(r"order_no=([^&]+)", page.url)
    assert found
    order_no = found.group(1)

    # Back on 确认参保, the unpaid order is named, with 继续支付.
    page.goto("/enroll.html")
    pending = page.locator("[data-refusal=pending_order]")
    expect(pending).to_contain_text("待支付")
    expect(pending.get_by_role("link", name=re.compile("^继续支付"))).to_be_visible()
    page.go_back()

    # 继续支付 → the gateway → 确认支付 → the result page shows the policy.
    page.get_by_role("link", name=re.compile("^继续支付")).click()
    expect(page).to_have_url(re.compile(r"/gateway/pay/"))
    page.get_by_role("button", name="确认支付").click()
    expect(page).to_have_url(re.compile(rf"/enrollment-result\.html\?order_no={order_no}$"))
    result = page.get_by_role("region", name="参保成功")
    expect(result).to_be_visible(timeout=20_000)
    expect(result.locator("[data-fact=insured] dd")).to_have_text("刘*")
    expect(result.locator("[data-fact=paid] dd")).to_have_text("¥150.00")
    expect(result.locator("[data-fact=method] dd")).to_have_text("微信支付")
    policy_no = result.locator("[data-fact=policy-no] dd").inner_text().strip()
    assert_no_axe_violations(page, "on 参保结果 (online)")
    keep_screenshot(page, "enrollment-result-online")

    # One order, one policy: the lost answer did not make a second one.
    policies = page.request.get("/api/v1/policies").json()["items"]
    assert [p["policy_no"] for p in policies] == [policy_no]
    assert page.request.get(f"/api/v1/enrollments/{order_no}").json()["status"] == "issued"

    # Home now says so: the bar that said 立即参保 reads 已参保 · 查看保单.
    page.goto("/")
    expect(page.get_by_role("link", name="已参保 · 查看保单")).to_be_in_viewport()
    expect(page.get_by_role("link", name="立即参保")).to_have_count(0)
    page.go_back()

    page.get_by_role("link", name="查看电子保单").click()
    expect(page.locator("#epolicy [data-fact=paid] dd")).to_contain_text("微信支付")
    expect(page.get_by_role("button", name="申请退保")).to_be_visible()
