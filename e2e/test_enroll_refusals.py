"""Who cannot enroll, or cannot pay that way, is told why in words: 赵敏 (insurance suspended),
吴芳 (insured in Shanghai), 钱桂兰 (特困, already in another policy-based poverty-relief
insurance: 择一), 周强 (balance ¥0.01 short: offered online payment); and a tampered QR code fails
verification."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect

from e2e.support import assert_no_axe_violations, bind_identity, keep_screenshot, log_in, sign_up

pytestmark = pytest.mark.e2e


def open_enroll_from_home(page: Page) -> None:
    page.goto("/")
    page.get_by_role("link", name="立即参保").click()
    expect(page).to_have_url(re.compile(r"/enroll\.html"))


def expect_refused(page: Page, code: str, reason: str) -> None:
    refusal = page.locator(f"[data-refusal={code}]")
    expect(refusal).to_be_visible()
    expect(refusal.get_by_role("heading", name="暂时不能参保")).to_be_visible()
    expect(refusal.locator("[data-reason]")).to_contain_text(reason)
    expect(page.get_by_role("button", name=re.compile("确认支付|确认参保"))).to_have_count(0)
    expect(page.locator("#enroll-form")).to_be_hidden()


def test_zhao_min_is_told_her_insurance_is_suspended(page: Page, base_url: str) -> None:
    sign_up(page, base_url, "13800000008", "赵敏", "330104197411270865")
    open_enroll_from_home(page)
    expect_refused(page, "insurance_suspended", "暂停")
    assert_no_axe_violations(page, "on 确认参保 refused (suspended)")
    keep_screenshot(page, "enroll-refused-suspended")


def test_wu_fang_is_told_the_product_is_for_hangzhou(page: Page, base_url: str) -> None:
    # Logged out, from the home page: 立即参保 → login → 实名认证 first (the login goes there
    # itself, no stop on 确认参保's own 请先完成实名认证) → back on 确认参保.
    page.goto("/")
    page.get_by_role("link", name="立即参保").click()
    log_in(page, base_url, "13800000011", path=page.url)
    expect(page).to_have_url(re.compile(r"/bind\.html\?next=%2Fenroll\.html%3Fproduct%3D\d+$"))
    assert_no_axe_violations(page, "on 实名认证 on the way to 确认参保")
    bind_identity(page, "吴芳", "310104198602271124")
    expect(page).to_have_url(re.compile(r"/enroll\.html\?product=\d+$"))
    expect_refused(page, "other_city", "不在杭州市")
    assert_no_axe_violations(page, "on 确认参保 refused (other city)")


def test_qian_guilan_is_told_she_may_hold_only_one_poverty_relief_insurance(
        page: Page, base_url: str) -> None:
    sign_up(page, base_url, "13800000012", "钱桂兰", "330106195103082129")
    open_enroll_from_home(page)
    expect_refused(page, "other_relief_insurance",
                   "您已参加其他政策性扶贫类商业补充医疗保险。按规定，困难人员只能在本保险和其他"
                   "政策性扶贫类商业补充医疗保险中择一投保，政府不重复资助")
    assert_no_axe_violations(page, "on 确认参保 refused (择一)")


def test_zhou_qiang_is_short_by_one_fen_and_pays_online(page: Page, base_url: str) -> None:
    sign_up(page, base_url, "13800000010", "周强", "330106199308121011")
    open_enroll_from_home(page)
    expect(page.get_by_role("radio", name=re.compile("^医保个人账户"))).to_be_checked()
    sheet = page.get_by_role("region", name="确认信息")
    expect(sheet.locator("[data-row=balance-before] dd")).to_have_text("¥149.99")
    expect(sheet.locator("[data-shortfall]")).to_contain_text("余额不足，还差¥0.01")
    expect(page.get_by_role("button", name=re.compile("^确认支付"))).to_be_hidden()
    switch = page.get_by_role("button", name="改用在线支付 ¥150.00")
    expect(switch).to_be_visible()
    assert_no_axe_violations(page, "on 确认参保 with a shortfall")
    keep_screenshot(page, "enroll-shortfall")

    agree = page.get_by_label("我已阅读并同意《保险条款》")
    agree.scroll_into_view_if_needed()
    agree.check()
    switch.click()
    expect(page).to_have_url(re.compile(r"/gateway/pay/"))
    expect(page.get_by_role("heading", name="模拟微信支付")).to_be_visible()
    expect(page.locator(".amount")).to_contain_text("150.00")
    # Nothing was taken from his account.
    assert page.request.get("/api/v1/me/account").json()["prior_years_fen"] == 14_999


def test_a_tampered_qr_code_fails_verification(page: Page) -> None:
    page.goto("/verify/IlhIWUwyMDI3MDAwMDAwMDAwMDAwIg.forged-signature")
    verdict = page.locator("[data-verdict=bad]")
    expect(verdict).to_have_text(re.compile("未通过验真"))
    expect(page.locator("[data-reason]")).to_contain_text("篡改")
    assert_no_axe_violations(page, "on 保单验真 (tampered)")
    keep_screenshot(page, "verify-tampered")
