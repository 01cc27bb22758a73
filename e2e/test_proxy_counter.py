"""张伟's mother 王秀英 (83) has no phone: she cannot get a code nor scan one. 张伟 asks to act
for her (参保, 查看保单, 查看理赔进度) with 窗口现场确认; counter staff (desktop) find the request
by her ID number, record the documents they checked and confirm. 张伟 enrolls her, paying online
through the gateway, sees her policy, and — once she has been in hospital and the hospital settled
the bill directly — her claim's status.

He also asks to act for his wife 李娜 for three days by SMS code (she reads it out), with at most
¥100 a year from her account: the ¥150 premium is refused from her account (online instead), and
once the three days are over, acting for her stops (her policies, visible the day before, are
refused).

The demo clock starts near the end of the enrollment window (44 days on), so that coverage begins
two days later without anyone's session running out; every login happens after that move."""

from __future__ import annotations

import http.client
import json
import re
from datetime import timedelta
from typing import Any
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

import pytest
from playwright.sync_api import Browser, Page, expect

from e2e.proxy_support import (
    clock_now,
    create_hospital,
    create_staff,
    desktop_context,
    grant_sms_code,
    move_clock,
    watch_errors,
)
from e2e.support import (
    LiveServer,
    assert_no_axe_violations,
    keep_screenshot,
    log_in,
    sign_up,
)

pytestmark = pytest.mark.e2e

AGENT = ("13800000001", "张伟", "330106198803150130")
MOTHER_ID = "33010219430618052X"
WIFE = ("13800000002", "李娜", "330106199007220243")
STAFF_PHONE = "13600000001"
AGREE = "我已阅读并同意《保险条款》"
REFUSED = "您没有代办该人员此项业务的有效授权"
CHINA = ZoneInfo("Asia/Shanghai")


def ask_for_grant(page: Page, name: str, id_number: str, scopes: list[str], period: str,
                  method: str, pay_limit: str | None = None) -> None:
    page.goto("/proxy-new.html")
    page.get_by_label("家人姓名").fill(name)
    page.get_by_label("家人身份证号码").fill(id_number)
    for scope in scopes:
        page.get_by_label(scope).check()
    if pay_limit is not None:
        page.get_by_label("每年最多可从家人账户缴费（元）").fill(pay_limit)
    page.get_by_role("radio", name=period, exact=True).check()
    page.get_by_role("radio", name=re.compile(f"^{method}")).check()
    page.get_by_role("button", name="提交申请").click()


def hospital_settles(server: LiveServer, id_number: str, admitted: str,
                     discharged: str) -> dict[str, Any]:
    """杭州市第一人民医院 sends a one-stop settlement (a signed request, as a hospital would)."""
    from huiminbao.claims.signing import sign

    client_id, key = create_hospital(server, "杭州市第一人民医院")
    body = json.dumps({
        "settlement_no": "JS20270101001", "id_number": id_number, "admitted_on": admitted,
        "discharged_on": discharged, "in_policy_self_pay_fen": 3_000_000,
        "items": [{"code": "TY001", "name": "信迪利单抗注射液", "amount_fen": 500_000}],
    }).encode()
    timestamp = str(int(clock_now(server.base_url).timestamp()))  # the server's (moved) clock
    path = "/api/v1/settlements"
    parts = urlsplit(server.base_url)
    connection = http.client.HTTPConnection(parts.hostname or "127.0.0.1", parts.port, timeout=10)
    try:
        connection.request("POST", path, body=body, headers={
            "Content-Type": "application/json", "Accept": "application/json",
            "X-Client-Id": client_id, "X-Timestamp": timestamp,
            "X-Signature": sign(key, timestamp, "POST", path, body)})
        response = connection.getresponse()
        answer = json.loads(response.read())
        assert response.status == 201, answer.get("message")
        return dict(answer)
    finally:
        connection.close()


def test_counter_staff_confirm_for_wang_xiuying_and_zhang_wei_acts_for_her(
    page: Page, base_url: str, live_server: LiveServer, browser: Browser,
) -> None:
    move_clock(base_url, timedelta(days=44))  # the window's last days, before anyone logs in
    create_staff(live_server, STAFF_PHONE, "counter_staff", "窗口甲")
    sign_up(page, base_url, *AGENT)

    # ---------------------------------------------------------------- asking for 王秀英
    pay = "用家人的医保个人账户缴费"
    ask_for_grant(page, "王秀英", MOTHER_ID.lower(), ["代为参保", "查看保单", "查看理赔进度", pay],
                  "3个月", "短信验证码", pay_limit="300")
    # Typed, she is known only when the server answers: as a resident she has no personal
    # account, and the scope group says so in words.
    expect(page.locator("#scopes-error")).to_contain_text(
        "王*英没有医保个人账户（城乡居民医保不设个人账户），不能授权从其个人账户缴费")
    expect(page.get_by_role("group", name=re.compile("^要代办哪些事"))).to_have_attribute(
        "aria-describedby", re.compile(r"\bscopes-error\b"))
    page.get_by_label(pay).uncheck()
    page.get_by_role("button", name="提交申请").click()
    method_error = page.locator("#method-error")
    expect(method_error).to_contain_text("委托人未登记手机号")  # she has no phone
    expect(page.get_by_role("group", name="家人怎样确认")).to_have_attribute(
        "aria-describedby", re.compile(r"\bmethod-error\b"))
    page.get_by_role("radio", name=re.compile("^到窗口现场确认")).check()
    page.get_by_role("button", name="提交申请").click()
    expect(page.get_by_role("heading", name="到医保经办窗口确认")).to_be_visible()
    expect(page.locator("main")).to_contain_text("带上王*英的身份证或户口簿，以及您的身份证")
    assert_no_axe_violations(page, "on the counter step")
    keep_screenshot(page, "proxy-counter-step")

    # ---------------------------------------------------------------- at the counter
    staff_context = desktop_context(browser, base_url)
    staff = staff_context.new_page()
    staff_errors = watch_errors(staff)
    log_in(staff, base_url, STAFF_PHONE, path="/login.html?next=%2Fcounter%2Fproxy.html")
    expect(staff).to_have_url(re.compile(r"/counter/proxy\.html$"))
    staff.get_by_label("委托人身份证号码").fill(MOTHER_ID)
    staff.get_by_role("button", name="查找").click()
    expect(staff.get_by_role("heading", name="查找结果（1份）")).to_be_visible()
    card = staff.locator("[data-grant]")
    expect(card).to_contain_text("张* 代 王*英 办理")
    expect(card.locator("[data-fact=principal] dd")).to_have_text("王*英（3****************X）")
    expect(card).to_contain_text("待确认")
    expect(staff.locator("body")).not_to_contain_text(MOTHER_ID)
    confirm = card.get_by_role("button", name="核验无误，确认授权")
    confirm.click()  # nothing ticked yet
    expect(card.get_by_text("请核验委托人的身份证或户口簿")).to_be_visible()
    card.get_by_label("委托人户口簿").check()
    card.get_by_label("代办人身份证").check()
    card.get_by_label("备注（选填）").fill("委托人无手机，与代办人一同到窗口")
    assert_no_axe_violations(staff, "on 代办授权窗口确认")
    keep_screenshot(staff, "proxy-counter-desk")
    confirm.click()
    expect(staff.get_by_role("status")).to_contain_text("已确认：张*可以代王*英办理")
    expect(card).to_contain_text("生效中")
    expect(card.locator("[data-fact=evidence] dd")).to_have_text("户口簿、代办人身份证")
    assert_no_axe_violations(staff, "after the counter confirmed")

    # ---------------------------------------------------------------- 张伟 enrolls her (online)
    expect(page.locator("[data-result=active]")).to_contain_text("授权已生效", timeout=15_000)
    page.get_by_role("button", name="开始为王*英代办").click()
    expect(page.get_by_role("region", name="代办提示")).to_contain_text("正在为 王*英 代办")
    page.get_by_role("link", name="为王*英参保").click()
    expect(page.get_by_role("radio", name=re.compile("^在线支付"))).to_be_checked()
    expect(page.get_by_role("radio", name=re.compile("^医保个人账户"))).to_be_hidden()
    sheet = page.get_by_role("region", name="确认信息")
    expect(sheet.locator("[data-row=insured] dd")).to_have_text("王*英（您代办）")
    page.locator("#terms-end").scroll_into_view_if_needed()
    page.get_by_label(AGREE).check()
    page.get_by_role("button", name="确认支付 ¥150.00").click()
    expect(page).to_have_url(re.compile(r"/gateway/pay/"))
    page.get_by_role("button", name="确认支付").click()
    result = page.get_by_role("region", name="参保成功")
    expect(result).to_be_visible(timeout=20_000)
    expect(result.locator("[data-fact=insured] dd")).to_have_text("王*英")

    page.goto("/policies.html")
    expect(page.locator(".page-lead")).to_have_text("王*英的保单（您正在为其代办）。")
    expect(page.locator("[data-policy] [data-fact=insured] dd")).to_have_text("王*英")

    # The banner stays on screen while the page scrolls and, in 长辈模式, takes under a sixth of it.
    page.locator("header [data-mode-toggle]").click()
    expect(page.locator("html")).to_have_attribute("data-mode", "elderly")
    page.mouse.wheel(0, 5000)
    banner = page.get_by_role("region", name="代办提示").bounding_box()
    screen = page.evaluate("window.innerHeight")
    assert banner is not None and banner["y"] >= 0, banner
    assert banner["y"] + banner["height"] <= screen, (banner, screen)
    assert banner["height"] < screen / 6, (banner, screen)
    # 医保个人账户 is always one's own: it says whose, also while acting for 王*英.
    page.goto("/account.html")
    expect(page.locator("[data-account-owner]")).to_contain_text("不是王*英的")
    page.locator("header [data-mode-toggle]").click()
    expect(page.locator("html")).not_to_have_attribute("data-mode", "elderly")

    # ---------------------------------------------------------------- 李娜: SMS code, ¥100 a year
    ask_for_grant(page, "李娜", WIFE[2], ["代为参保", "查看保单", "用家人的医保个人账户缴费"],
                  "3天", "短信验证码")
    expect(page.locator("#pay-limit-error")).to_contain_text("请填写每年最多可缴费的金额")
    page.get_by_label("每年最多可从家人账户缴费（元）").fill("100")
    page.get_by_role("button", name="提交申请").click()
    page.get_by_role("button", name="发送验证码").click()
    expect(page.get_by_role("status").filter(has_text="验证码已发送至 138****0002")).to_be_visible()
    expect(page.get_by_role("button", name=re.compile(r"重新获取\(\d+s\)"))).to_be_disabled()
    page.get_by_label("李*收到的验证码").fill(grant_sms_code(base_url, WIFE[0]))
    assert_no_axe_violations(page, "on the SMS step")
    keep_screenshot(page, "proxy-sms-step")
    page.get_by_role("button", name="确认授权").click()
    expect(page.locator("[data-result=active]")).to_contain_text("授权已生效")
    page.get_by_role("button", name="开始为李*代办").click()
    page.get_by_role("link", name="为李*参保").click()
    # ¥150 from her account would pass the ¥100 she allowed: refused, online instead.
    expect(page.locator("#method-note")).to_contain_text("超出授权的缴费额度：本年度剩余¥100.00")
    expect(page.get_by_role("radio", name=re.compile("^医保个人账户"))).to_be_hidden()
    expect(page.get_by_role("radio", name=re.compile("^在线支付"))).to_be_checked()
    assert_no_axe_violations(page, "on 确认参保 over the grant's limit")
    keep_screenshot(page, "proxy-enroll-over-limit")
    page.goto("/policies.html")
    expect(page.get_by_text("李*还没有保单")).to_be_visible()

    # ---------------------------------------------------------------- five days later
    move_clock(base_url, timedelta(days=5))  # 李娜's three days are over; 王秀英 is covered
    page.reload()
    expect(page.get_by_role("alert")).to_contain_text(REFUSED)
    expect(page.get_by_role("region", name="代办提示")).to_contain_text("这份代办授权已过期")
    keep_screenshot(page, "proxy-expired")

    # 王秀英 was in hospital; the hospital settles with the insurer directly.
    yesterday = (clock_now(base_url).astimezone(CHINA) - timedelta(days=1)).date().isoformat()
    settled = hospital_settles(live_server, MOTHER_ID, yesterday, yesterday)
    # Back to acting for her (the switcher), then her claims.
    page.goto("/proxy.html")
    page.get_by_role("radio", name=re.compile("^王\\*英")).check()
    expect(page.get_by_role("status")).to_contain_text("现在为王*英代办")
    assert_no_axe_violations(page, "on 代办授权 with the switcher")
    keep_screenshot(page, "proxy-switcher")
    page.get_by_role("link", name="查看王*英的理赔").click()
    claim = page.locator("[data-claim]")
    expect(claim).to_have_count(1)
    expect(claim).to_contain_text("杭州市第一人民医院")
    expect(claim.locator("[data-fact=insured] dd")).to_have_text("王*英")
    expect(claim.locator("[data-status=settled]")).to_contain_text("已一站式结算")
    assert claim.get_attribute("data-claim") == settled["claim_no"]
    keep_screenshot(page, "proxy-claims-acting")

    staff_context.close()
    assert not staff_errors, staff_errors
