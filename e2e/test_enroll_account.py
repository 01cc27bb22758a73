"""张伟 (employee) enrolls in three taps from the home page, paying from his personal account;
sees 已参保 when he tries again; reads his e-policy, whose QR code leads to a public verification
page; switches auto-renewal on and off; cancels before coverage starts and gets ¥150.00 back.

One journey: the server allows one login code per phone per minute."""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable
from datetime import date, datetime, time, timedelta
from typing import Any

import pytest
from playwright.sync_api import BrowserContext, Page, expect

from e2e.support import (
    TAP_COUNTER,
    assert_no_axe_violations,
    decode_qr,
    http_put_json,
    keep_screenshot,
    reset_taps,
    sign_up,
    small_touch_targets,
    taps,
)
from huiminbao.core.clock import CHINA_TZ

pytestmark = pytest.mark.e2e

PHONE, NAME, ID_NUMBER = "13800000001", "张伟", "330106198803150130"
AGREE = "我已阅读并同意《保险条款》"


def is_enroll_post(request: Any) -> bool:
    return bool(request.method == "POST" and request.url.endswith("/api/v1/enrollments"))


def open_account(page: Page) -> None:
    page.goto("/account.html")
    expect(page.get_by_role("heading", level=2, name="账户余额")).to_be_visible()


def prior_years_balance(page: Page) -> Any:
    return page.locator("[data-balance=prior_years] .balance__amount")


def test_zhang_wei_enrolls_in_three_taps_and_cancels_before_coverage(
    page: Page, base_url: str, new_context: Callable[..., BrowserContext]
) -> None:
    page.context.add_init_script(TAP_COUNTER)
    sign_up(page, base_url, PHONE, NAME, ID_NUMBER)

    # 我的 links to 我的保单 and the personal account.
    expect(page.get_by_role("link", name=re.compile("^我的保单"))).to_have_attribute(
        "href", "/policies.html")
    page.get_by_role("link", name=re.compile("^医保个人账户")).click()
    expect(page).to_have_url(re.compile(r"/account\.html$"))
    expect(prior_years_balance(page)).to_have_text("¥2,000.00")
    expect(page.get_by_text("暂无扣款或退款记录")).to_be_visible()

    # ---------------------------------------------------------------- three taps to a policy
    page.goto("/")
    enroll = page.get_by_role("link", name="立即参保")
    expect(enroll).not_to_have_attribute("aria-disabled", "true")
    reset_taps(page)

    enroll.click()  # tap 1
    expect(page).to_have_url(re.compile(r"/enroll\.html"))
    standard = page.get_by_role("radio", name=re.compile("^标准版"))
    expect(standard).to_be_checked()
    expect(page.get_by_role("radio", name=re.compile("^医保个人账户"))).to_be_checked()
    sheet = page.get_by_role("region", name="确认信息")
    expect(sheet.locator("[data-row=insured] dd")).to_have_text("张*（本人）")
    expect(sheet.locator("[data-row=tier] dd")).to_have_text("标准版")
    expect(sheet.locator("[data-total]")).to_contain_text("¥150.00")
    expect(sheet.locator("[data-row=holder] dd")).to_have_text("张*")
    expect(sheet.locator("[data-row=balance-before] dd")).to_have_text("¥2,000.00")
    expect(sheet.locator("[data-row=balance-after] dd")).to_have_text("¥1,850.00")
    expect(page.get_by_role("complementary", name="重要提示")).to_contain_text("不是基本医疗保险")
    terms = page.get_by_role("region", name="保险条款")
    for part in ("保障责任", "理赔范围", "责任免除"):
        expect(terms.get_by_text(part, exact=True)).to_be_visible()

    # The box can be ticked only once the end of the terms has been on screen.
    agree = page.get_by_label(AGREE)
    expect(agree).to_be_disabled()
    assert not small_touch_targets(page, 44)
    assert_no_axe_violations(page, "on 确认参保 (personal account)")
    agree.scroll_into_view_if_needed()
    expect(agree).to_be_enabled()
    agree.check()  # tap 2
    keep_screenshot(page, "enroll-personal-account")

    with page.expect_request(is_enroll_post) as sent:
        page.get_by_role("button", name="确认支付 ¥150.00").click()  # tap 3
    expect(page).to_have_url(re.compile(r"/enrollment-result\.html\?order_no="))
    result = page.get_by_role("region", name="参保成功")
    expect(result).to_be_visible()
    assert taps(page) <= 3, f"{taps(page)} taps from the home page to the result"

    post = sent.value
    uuid.UUID(post.headers["idempotency-key"])  # one fresh UUID for this intent
    body = post.post_data_json
    assert body["payment_method"] == "personal_account"
    assert body["tier"] == "standard"
    assert body["confirmations"]["debit_amount_fen"] == 15000
    assert body["confirmations"]["not_basic_insurance"] is True
    assert body["confirmations"]["terms_version"]

    policy_no = result.locator("[data-fact=policy-no] dd").inner_text().strip()
    assert re.fullmatch(r"[A-Z0-9]{8,}", policy_no), policy_no
    expect(result.locator("[data-fact=paid] dd")).to_have_text("¥150.00")
    expect(result.locator("[data-fact=method] dd")).to_have_text("医保个人账户")
    expect(result.locator("[data-fact=validity] dd")).to_have_text("有效（待生效）")
    expect(page.get_by_role("link", name="查看电子保单")).to_be_visible()
    expect(page.get_by_role("link", name="我的保单")).to_have_attribute("href", "/policies.html")
    assert_no_axe_violations(page, "on 参保结果")
    keep_screenshot(page, "enrollment-result-personal-account")

    # The debit in his account: exactly ¥150.00 from the prior-years balance.
    page.get_by_role("link", name="查看个人账户扣款记录").click()
    expect(prior_years_balance(page)).to_have_text("¥1,850.00")
    debit = page.locator("[data-entry=debit]")
    expect(debit).to_have_count(1)
    expect(debit).to_contain_text("-¥150.00")
    expect(debit).to_contain_text("支出")
    expect(debit).to_contain_text("保费")
    assert_no_axe_violations(page, "on 医保个人账户")

    # ---------------------------------------------------------------- trying again: 已参保
    page.goto("/")
    expect(page.get_by_role("link", name="已参保 · 查看保单")).to_be_visible()
    expect(page.get_by_role("link", name="立即参保")).to_have_count(0)
    page.goto("/enroll.html")  # reached another way (a bookmark): refused, nothing to pay
    refusal = page.locator("[data-refusal=already_insured]")
    expect(refusal).to_contain_text("已参保")
    expect(page.get_by_role("button", name=re.compile("确认支付"))).to_be_hidden()
    page.get_by_role("link", name="查看我的保单").click()

    # ---------------------------------------------------------------- 我的保单 and the e-policy
    expect(page).to_have_url(re.compile(r"/policies\.html$"))
    card = page.locator(f"[data-policy='{policy_no}']")
    expect(card).to_contain_text("有效（待生效）")
    expect(card).to_contain_text("张*")
    assert_no_axe_violations(page, "on 我的保单")
    keep_screenshot(page, "policies")
    card.get_by_role("link", name=re.compile("^查看电子保单")).click()

    expect(page).to_have_url(re.compile(rf"/policy\.html\?no={policy_no}$"))
    epolicy = page.locator("#epolicy")
    expect(epolicy.locator("[data-fact=insured] dd")).to_have_text("张*")
    expect(epolicy.locator("[data-fact=id-number] dd")).to_have_text("3****************0")
    expect(epolicy.locator("[data-fact=paid] dd")).to_contain_text("¥150.00")
    expect(page.locator("body")).not_to_contain_text(ID_NUMBER)
    qr = page.locator("img[data-qr]")
    expect(qr).to_be_visible()
    page.wait_for_function("() => document.querySelector('img[data-qr]').naturalWidth > 0")
    assert_no_axe_violations(page, "on 电子保单")
    keep_screenshot(page, "policy")

    # The QR code, read from the PNG and from the picture on screen, is the verify link.
    verify_url = page.locator("[data-verify-link]").get_attribute("href")
    assert verify_url and verify_url.startswith(f"{base_url}/verify/")
    png = page.request.get(qr.get_attribute("src") or "")
    assert png.ok and png.headers["content-type"] == "image/png"
    assert decode_qr(png.body()) == verify_url
    assert decode_qr(qr.screenshot()) == verify_url

    # On paper: the e-policy and its QR code, without the page's buttons.
    page.emulate_media(media="print")
    expect(qr).to_be_visible()
    expect(page.locator(".site-header")).to_be_hidden()
    expect(page.get_by_role("button", name="申请退保")).to_be_hidden()
    page.emulate_media(media="screen")

    # Anyone can verify, without logging in: masked name, no ID number.
    visitor = new_context().new_page()
    visitor.goto(verify_url)
    expect(visitor.locator("[data-verdict=ok]")).to_have_text(re.compile("保单真实有效"))
    expect(visitor.locator("[data-fact=insured] dd")).to_have_text("张*")
    expect(visitor.locator("[data-fact=validity] dd")).to_have_text("有效（待生效）")
    expect(visitor.locator("[data-fact=policy-no] dd")).to_have_text(policy_no)
    body_text = visitor.locator("body").inner_text()
    assert ID_NUMBER not in body_text and "张伟" not in body_text
    assert_no_axe_violations(visitor, "on 保单验真")
    keep_screenshot(visitor, "verify-valid")

    # ---------------------------------------------------------------- auto-renewal
    switch = page.get_by_role("switch", name="自动续保")
    expect(switch).to_have_attribute("aria-checked", "false")
    consent = page.request.get("/api/v1/auto-renew-consent").json()
    switch.click()
    dialog = page.get_by_role("dialog", name="开启自动续保")
    expect(dialog).to_contain_text(consent["text"])
    expect(dialog.get_by_role("button", name="暂不开启")).to_be_focused()
    dialog.get_by_role("button", name="暂不开启").click()
    expect(switch).to_have_attribute("aria-checked", "false")
    switch.click()
    page.get_by_role("dialog").get_by_role("button", name="同意并开启").click()
    expect(switch).to_have_attribute("aria-checked", "true")
    expect(switch).to_contain_text("开")
    expect(page.get_by_role("status").filter(has_text="已开启自动续保")).to_be_visible()
    assert page.request.get(f"/api/v1/policies/{policy_no}").json()["auto_renew"] is True
    switch.click()  # off at any time, no questions asked
    expect(switch).to_have_attribute("aria-checked", "false")
    expect(page.get_by_role("status").filter(has_text="已关闭自动续保")).to_be_visible()

    # ---------------------------------------------------------------- 退保 before coverage
    page.get_by_role("button", name="申请退保").click()
    dialog = page.get_by_role("dialog", name="确认退保？")
    expect(dialog.locator("[data-refund-amount]")).to_have_text("¥150.00")
    expect(dialog.locator("[data-refund-to]")).to_contain_text("医保个人账户")
    expect(dialog.get_by_role("button", name="暂不退保")).to_be_focused()
    assert_no_axe_violations(page, "with the 退保 dialog open")
    with page.expect_request(lambda r: r.method == "POST" and r.url.endswith("/cancel")) as sent:
        dialog.get_by_role("button", name="确认退保").click()
    uuid.UUID(sent.value.headers["idempotency-key"])
    expect(page.get_by_role("alert")).to_contain_text("已退保，¥150.00已原路退回您的医保个人账户")
    refund = epolicy.locator("[data-refund]")
    expect(refund.locator("[data-fact=refund-amount] dd")).to_have_text("¥150.00")
    expect(refund.locator("[data-fact=refund-status] dd")).to_contain_text("已退回")
    expect(epolicy.locator(".status-pill")).to_contain_text("已退保")
    expect(page.get_by_role("button", name="申请退保")).to_have_count(0)
    assert_no_axe_violations(page, "on a cancelled 电子保单")
    keep_screenshot(page, "policy-cancelled")

    # The refund in his account history, back to ¥2,000.00.
    open_account(page)
    expect(prior_years_balance(page)).to_have_text("¥2,000.00")
    refund_entry = page.locator("[data-entry=refund]")
    expect(refund_entry).to_contain_text("+¥150.00")
    expect(refund_entry).to_contain_text("退保退费")
    expect(refund_entry).to_contain_text("退回")
    keep_screenshot(page, "account-after-refund")

    # The QR code still verifies, and now says the policy was cancelled.
    visitor.reload()
    expect(visitor.locator("[data-verdict=warn]")).to_contain_text("已退保")

    # Half a year after the coverage ends the code itself expires: no details any more.
    ends = date.fromisoformat(page.request.get(f"/api/v1/policies/{policy_no}").json()[
        "coverage_ends_on"])
    later = datetime.combine(ends + timedelta(days=181), time(9), CHINA_TZ)
    status, _ = http_put_json(base_url, "/api/v1/dev/clock", {"now": later.isoformat()})
    assert status == 200
    visitor.reload()
    expect(visitor.locator("[data-verdict=warn]")).to_have_text(re.compile("此验证码已过期"))
    expect(visitor.locator("[data-reason]")).to_contain_text("保障期已结束")
    expect(visitor.locator("[data-fact=policy-no]")).to_have_count(0)
    assert policy_no not in visitor.locator("body").inner_text()
    answer = visitor.request.get(f"/api/v1/verify/{verify_url.rsplit('/', 1)[1]}")
    assert answer.status == 410 and answer.headers["cache-control"] == "no-store"
    assert_no_axe_violations(visitor, "on 保单验真 (expired)")
    keep_screenshot(visitor, "verify-expired")
