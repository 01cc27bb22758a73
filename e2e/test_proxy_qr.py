"""张伟 asks to act for his father 张建国 (代为参保 + paying from 张建国's personal account, at most
¥300 a year). 张建国, on his own phone, is offered 长辈模式 at his first login (he is 68) and takes
it; he scans the QR code on 张伟's screen and agrees on a large-text page. 张伟 enrolls him, paying
¥150 from 张建国's prior-years balance (¥3,000.00 → ¥2,850.00); 张建国 sees it on his activity
page. 张伟 may not see his father's claims (no 查看理赔进度). 张建国 revokes; 张伟's next attempt is
refused.

Two browser contexts, two people; each logs in once (one code per phone per minute)."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import pytest
from playwright.sync_api import BrowserContext, Page, expect

from e2e.proxy_support import elderly_problems, watch_errors
from e2e.support import (
    assert_no_axe_violations,
    bind_identity,
    decode_qr,
    keep_screenshot,
    log_in,
    payment_sms_code,
    sign_up,
)

pytestmark = pytest.mark.e2e

AGENT = ("13800000001", "张伟", "330106198803150130")
FATHER = ("13800000004", "张建国", "330102195802100458")
REFUSED = "您没有代办该人员此项业务的有效授权"
NEUTRAL = "身份信息核验未通过，请核对姓名和身份证号码后重试"
AGREE = "我已阅读并同意《保险条款》"


def is_enroll_post(request: Any) -> bool:
    return bool(request.method == "POST" and request.url.endswith("/api/v1/enrollments"))


def test_zhang_wei_enrolls_his_father_who_confirmed_by_qr_code_then_revokes(
    page: Page, base_url: str, new_context: Callable[..., BrowserContext]
) -> None:
    sign_up(page, base_url, *AGENT)

    # ---------------------------------------------------------------- 张建国's own phone
    father = new_context().new_page()
    father_errors = watch_errors(father)
    log_in(father, base_url, FATHER[0])
    bind_identity(father, FATHER[1], FATHER[2])
    expect(father).to_have_url(re.compile(r"/me\.html$"))
    # 68 years old, first login: 长辈模式 is offered in the page (no pop-up), and he takes it.
    offer = father.get_by_role("region", name="要开启长辈模式吗？")
    expect(offer).to_be_visible()
    expect(father.get_by_role("dialog")).to_have_count(0)
    assert_no_axe_violations(father, "on 我的 with the 长辈模式 offer")
    keep_screenshot(father, "proxy-father-offer")
    with father.expect_response("**/api/v1/me/preferences") as saved:
        offer.get_by_role("button", name="好的，开启").click()
    assert saved.value.ok
    expect(father.locator("html")).to_have_attribute("data-mode", "elderly")
    expect(father.get_by_text("已开启长辈模式")).to_be_visible()
    assert father.request.get("/api/v1/me").json()["elderly_mode"] is True
    father.reload()
    expect(father.get_by_role("heading", name="个人信息")).to_be_visible()
    expect(father.get_by_role("region", name="要开启长辈模式吗？")).to_have_count(0)  # asked once
    account = father.request.get("/api/v1/me/account").json()
    assert account["prior_years_fen"] == 300_000, account

    # ---------------------------------------------------------------- 张伟 asks
    page.get_by_role("link", name=re.compile("^代办授权")).click()
    expect(page).to_have_url(re.compile(r"/proxy\.html$"))
    expect(page.get_by_text("您还没有为家人代办的授权")).to_be_visible()
    assert_no_axe_violations(page, "on 代办授权 (empty)")
    page.get_by_role("link", name="申请为家人代办").click()
    expect(page).to_have_url(re.compile(r"/proxy-new\.html$"))

    page.get_by_label("家人姓名").fill("张建军")  # a slip: one neutral refusal, no hint which
    page.get_by_label("家人身份证号码").fill(FATHER[2])
    page.get_by_label("代为参保").check()
    page.get_by_label("用家人的医保个人账户缴费").check()
    page.get_by_label("每年最多可从家人账户缴费（元）").fill("300")
    expect(page.get_by_role("radio", name="1年")).to_be_checked()
    expect(page.get_by_role("radio", name=re.compile("^扫码确认"))).to_be_checked()
    assert_no_axe_violations(page, "on 申请为家人代办")
    page.get_by_role("button", name="提交申请").click()
    expect(page.get_by_role("alert").filter(has_text="核验")).to_match_aria_snapshot(
        f"- alert:\n  - paragraph: {NEUTRAL}")
    page.get_by_label("家人姓名").fill(FATHER[1])
    page.get_by_role("button", name="提交申请").click()

    # The QR code, on 张伟's screen; the link inside is for 张建国's own phone.
    qr = page.locator("img[data-qr]")
    expect(qr).to_be_visible()
    page.wait_for_function("() => document.querySelector('img[data-qr]').naturalWidth > 0")
    expect(page.get_by_role("status").filter(has_text="正在等待张*国确认")).to_be_visible()
    expect(page.locator("main")).not_to_contain_text(re.compile(r"\d+\s*秒"))  # no countdown
    assert_no_axe_violations(page, "on the QR step")
    keep_screenshot(page, "proxy-qr")
    confirm_url = decode_qr(qr.screenshot())
    assert confirm_url.startswith(f"{base_url}/proxy-confirm.html?token=")

    # ---------------------------------------------------------------- 张建国 confirms
    father.goto(confirm_url)
    ask = father.get_by_role("region", name=re.compile("请求代您办理惠民保业务"))
    expect(ask).to_contain_text("张* 请求代您办理惠民保业务")
    expect(ask.get_by_role("listitem")).to_contain_text(
        ["代为参保", "使用您的医保个人账户缴费（每年不超过¥300.00）"])
    expect(ask.locator("[data-fact=until] dd")).to_have_text(
        re.compile(r"^\d{4}年\d{1,2}月\d{1,2}日$"))
    expect(ask.locator("[data-fact=pay-limit] dd")).to_have_text("每年最多¥300.00")
    problems = elderly_problems(father)
    assert not problems, "确认代办授权 in 长辈模式:\n" + "\n".join(problems)
    assert_no_axe_violations(father, "on 确认代办授权 in 长辈模式")
    keep_screenshot(father, "proxy-confirm-elderly")
    father.get_by_role("button", name="同意授权").click()
    expect(father.get_by_role("heading", name="您已同意授权")).to_be_visible()
    expect(father.locator("[data-answer=agreed]")).to_contain_text("张*现在可以代您办理")
    assert_no_axe_violations(father, "after agreeing")

    # 张伟's screen notices by itself.
    expect(page.locator("[data-result=active]")).to_contain_text("授权已生效", timeout=15_000)
    page.get_by_role("button", name="开始为张*国代办").click()
    banner = page.get_by_role("region", name="代办提示")
    expect(banner).to_contain_text("正在为 张*国 代办")
    page.get_by_role("link", name="为张*国参保").click()

    # ---------------------------------------------------------------- enrolling him
    expect(page).to_have_url(re.compile(r"/enroll\.html$"))
    expect(banner).to_contain_text("正在为 张*国 代办")
    expect(page.locator("#enroll-lead")).to_contain_text("您正在为张*国参保")
    expect(page.get_by_role("radio", name=re.compile("^医保个人账户"))).to_be_checked()
    sheet = page.get_by_role("region", name="确认信息")
    expect(sheet.locator("[data-row=insured] dd")).to_have_text("张*国（您代办）")
    expect(sheet.locator("[data-row=holder] dd")).to_have_text("张*国")
    expect(sheet.locator("[data-row=balance-before] dd")).to_have_text("¥3,000.00")
    expect(sheet.locator("[data-row=balance-after] dd")).to_have_text("¥2,850.00")
    agree = page.get_by_label(AGREE)
    page.locator("#terms-end").scroll_into_view_if_needed()
    agree.check()
    assert_no_axe_violations(page, "on 确认参保 while acting")
    keep_screenshot(page, "proxy-enroll-acting")
    grants = page.request.get("/api/v1/proxy/grants").json()["as_agent"]
    father_person = grants[0]["principal_person_id"]
    # The debit is his father's to confirm: a code to the phone the registry holds
    # for him, naming the amount and the insured, which he reads out to his son.
    page.get_by_role("button", name="获取验证码").click()
    expect(page.get_by_text("验证码已发送至 138****0004")).to_be_visible()
    page.get_by_label("短信验证码").fill(payment_sms_code(base_url, FATHER[0]))
    with page.expect_request(is_enroll_post) as sent:
        page.get_by_role("button", name="确认支付 ¥150.00").click()
    assert sent.value.headers["x-acting-for"] == str(father_person)
    result = page.get_by_role("region", name="参保成功")
    expect(result).to_be_visible(timeout=20_000)
    expect(result.locator("[data-fact=insured] dd")).to_have_text("张*国")
    expect(banner).to_contain_text("正在为 张*国 代办")

    # 为家人投保 is for his own family, from his own account: not while acting for his father.
    enrollment_calls: list[str] = []

    def note_enrollment_call(request: Any) -> None:
        if "/api/v1/enrollments" in request.url or "/api/v1/policies" in request.url:
            enrollment_calls.append(f"{request.method} {request.url}")

    page.on("request", note_enrollment_call)
    page.goto("/family-enroll.html")
    refusal = page.locator("[data-refusal=acting]")
    expect(refusal.get_by_role("heading", name="代办时不能为家人投保")).to_be_visible()
    expect(refusal.locator("[data-reason]")).to_contain_text("您正在为张*国代办")
    expect(refusal.get_by_role("button", name="结束代办，为自己的家人投保")).to_be_visible()
    expect(page.locator("#fe-form")).to_be_hidden()
    expect(banner).to_contain_text("正在为 张*国 代办")
    assert_no_axe_violations(page, "on 为家人投保 while acting")
    page.remove_listener("request", note_enrollment_call)
    assert not enrollment_calls, enrollment_calls

    # Without 查看理赔进度, 张建国's claims stay closed to him.
    page.goto("/claims.html")
    expect(page.get_by_role("alert")).to_contain_text(REFUSED)

    # ---------------------------------------------------------------- what 张建国 sees
    father.goto("/account.html")
    expect(father.locator("[data-balance=prior_years] .balance__amount")).to_have_text("¥2,850.00")
    father.goto("/proxy-activity.html")
    paid = father.locator("[data-activity='order.paid']")
    expect(paid).to_contain_text("缴费成功并出单")
    expect(paid.locator("[data-fact=amount] dd")).to_have_text("¥150.00")
    enrolled = father.locator("[data-activity='proxy.act']").filter(has_text="办理参保")
    expect(enrolled.first.locator("[data-fact=who] dd")).to_have_text("张*（代办人）")
    expect(father.locator("[data-activity='proxy.grant.confirm']")).to_contain_text("确认代办授权（扫码确认）")
    problems = elderly_problems(father)
    assert not problems, "谁替我办了什么 in 长辈模式:\n" + "\n".join(problems)
    assert_no_axe_violations(father, "on 谁替我办了什么 in 长辈模式")
    keep_screenshot(father, "proxy-activity-elderly")

    # ---------------------------------------------------------------- 张建国 revokes
    father.goto("/proxy.html")
    card = father.locator("#principal-list [data-grant]").first
    expect(card).to_contain_text("张*代我办理")
    expect(card).to_contain_text("生效中")
    expect(card.locator("[data-fact=pay-limit] dd")).to_have_text("每年¥300.00，今年还可缴¥150.00")
    problems = elderly_problems(father)
    assert not problems, "代办授权 in 长辈模式:\n" + "\n".join(problems)
    card.get_by_role("button", name=re.compile("^撤销授权")).click()
    question = card.get_by_role("group", name="确定撤销张*代您办理的授权吗？")
    expect(question.get_by_role("button", name="不撤销")).to_be_focused()
    expect(father.get_by_role("dialog")).to_have_count(0)  # asked in place, not in a pop-up
    assert_no_axe_violations(father, "asking before 撤销")
    question.get_by_role("button", name="确定撤销").click()
    expect(father.get_by_role("status")).to_contain_text("已撤销：张*不能再代您办理")
    keep_screenshot(father, "proxy-principal-revoked-elderly")

    # ---------------------------------------------------------------- 张伟 is refused at once
    page.goto("/enroll.html")
    refusal = page.locator("[data-refusal=not_authorized]")
    expect(refusal).to_contain_text("不能为张*国代办参保")
    expect(refusal.locator("[data-reason]")).to_have_text(REFUSED)
    expect(page.get_by_role("button", name=re.compile("确认支付"))).to_be_hidden()
    expect(banner).to_contain_text("这份代办授权已撤销，不能继续代办")
    assert_no_axe_violations(page, "on 确认参保 after the grant was revoked")
    keep_screenshot(page, "proxy-refused-after-revoke")
    banner.get_by_role("button", name="结束代办").click()
    expect(page.get_by_role("region", name="代办提示")).to_have_count(0)
    expect(page.get_by_role("region", name="确认信息")).to_be_visible()  # his own, again
    page.goto("/family-enroll.html")  # his own family again
    expect(page.get_by_role("group", name="选择被保险人")).to_be_visible()
    expect(page.locator("[data-refusal]")).to_have_count(0)

    assert not father_errors, father_errors
