"""孙丽 (低保, in 长辈模式) is enrolled by the government subsidy at no cost to her; 林𫖮 comes back
to 确认参保 more than ten minutes after logging in and confirms her debit with an SMS code."""

from __future__ import annotations

import re
from datetime import datetime, timedelta

import pytest
from playwright.sync_api import Page, expect

from e2e.support import (
    api_json,
    assert_no_axe_violations,
    body_font_size,
    http_put_json,
    keep_screenshot,
    payment_sms_code,
    sign_up,
    small_touch_targets,
)

pytestmark = pytest.mark.e2e

AGREE = "我已阅读并同意《保险条款》"


def agree_to_terms(page: Page) -> None:
    agree = page.get_by_label(AGREE)
    agree.scroll_into_view_if_needed()
    agree.check()


def test_sun_li_is_enrolled_by_the_subsidy_at_no_cost(page: Page, base_url: str) -> None:
    sign_up(page, base_url, "13800000009", "孙丽", "330110196504300923")
    # The page adopts the account's saved mode once /me answers: let it settle first, or
    # that adoption can undo the click below (seen under load).
    page.wait_for_load_state("networkidle")
    page.goto("/")
    page.wait_for_load_state("networkidle")
    page.get_by_role("switch", name="长辈模式").click()  # the home page's one switch
    expect(page.locator("html")).to_have_attribute("data-mode", "elderly")
    page.get_by_role("link", name="立即参保").click()

    # 政府资助 is the one way to pay 标准版, and she pays nothing.
    subsidy = page.get_by_role("radio", name=re.compile("^政府资助"))
    expect(subsidy).to_be_checked()
    for other in ("医保个人账户", "在线支付"):
        expect(page.get_by_role("radio", name=re.compile(f"^{other}"))).to_be_hidden()
    sheet = page.get_by_role("region", name="确认信息")
    expect(sheet.locator("[data-row=subsidy] dd")).to_have_text("-¥150.00")
    expect(sheet.locator("[data-total]")).to_contain_text("本人需支付")
    expect(sheet.locator("[data-total]")).to_contain_text("¥0.00")
    expect(page.get_by_role("button", name="确认参保（无需支付）")).to_be_visible()

    # 长辈模式: large text, large targets, no violations.
    assert body_font_size(page) >= 20
    small = small_touch_targets(page, 48)
    assert not small, f"touch targets under 48×48 on 确认参保 in 长辈模式: {small}"
    assert_no_axe_violations(page, "on 确认参保 in 长辈模式")
    keep_screenshot(page, "enroll-subsidy-elderly")

    # 升级版 costs more than the subsidy: she would pay the difference online.
    page.get_by_role("radio", name=re.compile("^升级版")).check()
    expect(sheet.locator("[data-total]")).to_contain_text("¥149.00")
    expect(page.get_by_role("radio", name=re.compile("^在线支付"))).to_be_checked()
    expect(subsidy).to_be_hidden()
    expect(page.get_by_text("政府已资助¥150.00")).to_be_visible()
    page.get_by_role("radio", name=re.compile("^标准版")).check()
    expect(subsidy).to_be_checked()
    expect(sheet.locator("[data-total]")).to_contain_text("¥0.00")

    agree_to_terms(page)
    page.get_by_role("button", name="确认参保（无需支付）").click()
    result = page.get_by_role("region", name="参保成功")
    expect(result).to_be_visible()
    expect(result.locator("[data-fact=paid] dd")).to_have_text("¥0.00")
    expect(result.locator("[data-fact=method] dd")).to_contain_text("政府资助")
    assert body_font_size(page) >= 20
    assert_no_axe_violations(page, "on 参保结果 in 长辈模式")
    keep_screenshot(page, "enrollment-result-subsidy-elderly")

    page.get_by_role("link", name="查看电子保单").click()
    epolicy = page.locator("#epolicy")
    expect(epolicy.locator("[data-fact=subsidy] dd")).to_have_text("¥150.00")
    expect(epolicy.locator("[data-fact=paid] dd")).to_contain_text("¥0.00")
    small = small_touch_targets(page, 48)
    assert not small, f"touch targets under 48×48 on 电子保单 in 长辈模式: {small}"
    assert_no_axe_violations(page, "on 电子保单 in 长辈模式")
    keep_screenshot(page, "policy-subsidy-elderly")

    # 我的保单 in 长辈模式; a resident has no personal account, and is told so.
    page.goto("/policies.html")
    expect(page.locator("[data-policy]")).to_have_count(1)
    small = small_touch_targets(page, 48)
    assert not small, f"touch targets under 48×48 on 我的保单 in 长辈模式: {small}"
    assert_no_axe_violations(page, "on 我的保单 in 长辈模式")
    page.get_by_role("link", name=re.compile("^医保个人账户")).click()
    expect(page.locator("[data-refusal=no_personal_account]")).to_contain_text("您没有医保个人账户")
    assert_no_axe_violations(page, "on 医保个人账户 (none) in 长辈模式")
    keep_screenshot(page, "account-none-elderly")


def test_lin_yan_confirms_her_debit_with_an_sms_code(page: Page, base_url: str) -> None:
    phone = "13800000007"
    sign_up(page, base_url, phone, "林𫖮", "330108199701130742")

    # Eleven minutes later, a debit needs a fresh code from her phone.
    now = datetime.fromisoformat(api_json(base_url, "/api/v1/dev/clock")["now"])
    status, _ = http_put_json(base_url, "/api/v1/dev/clock",
                              {"now": (now + timedelta(minutes=11)).isoformat()})
    assert status == 200

    page.goto("/enroll.html")
    sheet = page.get_by_role("region", name="确认信息")
    expect(sheet.locator("[data-row=balance-before] dd")).to_have_text("¥1,000.00")
    code = page.get_by_label("短信验证码")
    expect(code).to_be_visible()
    agree_to_terms(page)
    pay = page.get_by_role("button", name="确认支付 ¥150.00")
    pay.click()
    expect(page.locator("#sms-code-error")).to_have_text(re.compile("请输入短信验证码"))
    expect(code).to_be_focused()
    assert_no_axe_violations(page, "on 确认参保 asking for an SMS code")

    page.get_by_role("button", name="获取验证码").click()
    expect(page.get_by_text("验证码已发送至 138****0007")).to_be_visible()
    expect(page.get_by_role("button", name=re.compile(r"重新获取\(\d+s\)"))).to_be_disabled()
    code.fill(payment_sms_code(base_url, phone))
    pay.click()
    result = page.get_by_role("region", name="参保成功")
    expect(result).to_be_visible()
    expect(result.locator("[data-fact=insured] dd")).to_have_text("林*")
    account = page.request.get("/api/v1/me/account").json()
    assert account["prior_years_fen"] == 85_000
