"""Every resident page, walked three ways (logged out, logged in without 实名认证, bound), never
dead-ends: no page shows an error whose only way on is 重试 (issue 18). Pages that need a login
or a binding say what is missing with the button that fixes it, and that step comes back.

In 长辈模式 at 320 px wide every page fits the screen (no horizontal scroll, measured) and axe-core
finds no WCAG 2 A/AA violation; 信息披露's chart labels are as large as the body text.

And the acceptance journey: a logged-out person finds the hotline from the home page, files a
complaint after an SMS check of her phone, rates its handling once it is resolved, and the
average appears in 信息披露."""

from __future__ import annotations

import contextlib
import re
from typing import Any

import pytest
import requests
from playwright.sync_api import Browser, Page, expect

from e2e.support import (
    LiveServer,
    agree_to_terms,
    assert_no_axe_violations,
    bind_identity,
    body_font_size,
    request_code,
    sms_code,
)
from e2e.test_console import api_session, create_staff, demo_product, staff_log_in

pytestmark = pytest.mark.e2e

PHONE, NAME, ID_NUMBER = "13800000009", "孙丽", "330110196504300923"
UNBOUND_PHONE = "13900000418"
# Another person for the 320px walk: one phone may ask for a code once a minute.
NARROW = ("13800000006", "刘䶮", "330105198109040613")

# Every resident page (admin/, staff/ and counter/ are the console's), as a person reaches it:
# the ones that show one object also without its number (a link pasted wrongly).
PAGES = [
    "/", "/login.html", "/bind.html", "/me.html", "/enroll.html", "/enrollment-result.html",
    "/policies.html", "/policy.html", "/account.html", "/family.html", "/family-enroll.html",
    "/family-result.html", "/claims.html", "/claim.html", "/claim-new.html", "/claim-records.html",
    "/estimate.html",
    "/complaints.html", "/complaint.html", "/disclosure.html", "/help.html", "/my-data.html",
    "/proxy.html", "/proxy-new.html", "/proxy-activity.html", "/proxy-confirm.html",
    "/policy-lookup.html", "/drugs.html", "/verify/not-a-real-token",
]

# An error box (or alert) on screen whose only way on is 重试, or that offers nothing at all.
DEAD_ENDS = """() => [...document.querySelectorAll('.state--error, .state, [role=alert]')]
  .filter((el) => el.getClientRects().length && el.textContent.trim())
  .filter((el) => el.matches('.state--error, [role=alert]')
    || /加载失败|出错|失败/.test(el.textContent))
  .map((el) => ({ text: el.textContent.trim().replace(/\\s+/g, ' ').slice(0, 120),
                  actions: [...el.querySelectorAll('a[href], button')]
                    .filter((a) => a.getClientRects().length).map((a) => a.textContent.trim()) }))
  .filter((box) => box.actions.every((name) => name === '重试'))"""

# Measured against the layout viewport (320 CSS px), not window.innerWidth: a mobile browser may
# zoom out to fit an overflowing page, and innerWidth then grows with it.
WIDE = """() => ({ page: document.documentElement.scrollWidth,
  screen: document.documentElement.clientWidth,
  wide: [...document.querySelectorAll('body *')].filter((el) => {
    const r = el.getBoundingClientRect(); return r.width && r.right > 320.5;
  }).slice(0, 5).map((el) => `${el.tagName.toLowerCase()}#${el.id}.${el.className}`) })"""


def settle(page: Page) -> None:
    """Wait until the page has loaded what it shows (no box still busy)."""
    page.wait_for_load_state("networkidle")
    busy = page.locator("[aria-busy=true]")
    with contextlib.suppress(AssertionError):  # still busy: judged on what is on screen
        expect(busy).to_have_count(0, timeout=8000)


def dead_ends(page: Page, paths: list[str]) -> dict[str, Any]:
    found = {}
    for path in paths:
        page.goto(path)
        settle(page)
        boxes = page.evaluate(DEAD_ENDS)
        if boxes:
            found[f"{path} → {page.url}"] = boxes
    return found


def sign_in_by_page(page: Page, base_url: str, phone: str) -> None:
    page.goto("/login.html")
    request_code(page, phone)
    page.get_by_label("短信验证码").fill(sms_code(base_url, phone))
    agree_to_terms(page)
    page.get_by_role("button", name="登录", exact=True).click()
    page.wait_for_url(lambda url: "/login" not in url)


def test_no_page_dead_ends_logged_out_unbound_or_bound(page: Page, base_url: str) -> None:
    problems = {"logged out": dead_ends(page, PAGES)}

    sign_in_by_page(page, base_url, UNBOUND_PHONE)
    problems["logged in, not 实名认证"] = dead_ends(page, PAGES)

    # The guard: 我的保单 says what is missing, 实名认证 fixes it and comes back to 我的保单.
    page.goto("/policies.html")
    guard = page.locator("[data-guard=identity_required]")
    expect(guard).to_contain_text("请先完成实名认证")
    expect(guard.get_by_role("link", name="重试")).to_have_count(0)
    guard.get_by_role("link", name="实名认证").click()
    expect(page).to_have_url(re.compile(r"/bind\.html\?next=%2Fpolicies\.html$"))

    page.context.clear_cookies()
    sign_in_by_page(page, base_url, PHONE)
    expect(page).to_have_url(re.compile(r"/bind\.html"))
    bind_identity(page, NAME, ID_NUMBER)
    expect(page).to_have_url(re.compile(r"/me\.html$"))
    problems["bound"] = dead_ends(page, PAGES)

    found = {state: pages for state, pages in problems.items() if pages}
    assert not found, "pages that dead-end (an error with only 重试, or nothing):\n" + \
        "\n".join(f"[{state}] {where}: {boxes}" for state, pages in found.items()
                  for where, boxes in pages.items())


@pytest.mark.parametrize("signed_in", [False, True], ids=["logged out", "bound"])
def test_every_page_fits_320px_in_elderly_mode_without_axe_violations(
        browser: Browser, base_url: str, signed_in: bool) -> None:
    context = browser.new_context(base_url=base_url, viewport={"width": 320, "height": 640},
                                  locale="zh-CN", timezone_id="Asia/Shanghai", has_touch=True,
                                  is_mobile=True, device_scale_factor=2)
    context.add_init_script("localStorage.setItem('huiminbao.mode', 'elderly')")
    page = context.new_page()
    try:
        if signed_in:
            sign_in_by_page(page, base_url, NARROW[0])
            if "/bind.html" in page.url:
                bind_identity(page, NARROW[1], NARROW[2])
        wide, violations = {}, {}
        for path in PAGES:
            page.goto(path)
            settle(page)
            expect(page.locator("html")).to_have_attribute("data-mode", "elderly")
            measured = page.evaluate(WIDE)
            if measured["page"] > 320 or measured["screen"] > 320 or measured["wide"]:
                wide[page.url] = measured
            try:
                assert_no_axe_violations(page, page.url)
            except AssertionError as error:
                violations[page.url] = str(error)[:600]
        assert not wide, f"pages wider than 320px in 长辈模式: {wide}"
        assert not violations, "axe violations in 长辈模式 at 320px:\n" + "\n".join(
            violations.values())

        # 信息披露's chart labels are body text: as large as the page's own.
        page.goto("/disclosure.html")
        label = page.locator(".hbar__label").first
        expect(label).to_be_visible()
        size = label.evaluate("(el) => parseFloat(getComputedStyle(el).fontSize)")
        assert size == pytest.approx(body_font_size(page))
    finally:
        context.close()


def test_a_logged_out_person_complains_rates_and_sees_the_average(
        page: Page, base_url: str, live_server: LiveServer) -> None:
    phone = "13700000418"
    text = "在线缴费以后一直显示待支付，电话也打不通，请尽快帮我处理。"
    page.goto("/")
    page.get_by_role("link", name="客服与投诉").click()
    expect(page).to_have_url(re.compile(r"/help\.html$"))
    hotline = page.get_by_role("link", name=re.compile(r"^拨打 "))
    expect(hotline).to_have_attribute("href", re.compile(r"^tel:\d+$"))
    expect(page.get_by_text("市民中心医保服务窗口")).to_be_visible()
    page.get_by_role("link", name="在线投诉").click()

    form = page.get_by_role("form", name="不登录也可以投诉")
    expect(form).to_be_visible()
    form.get_by_label("手机号码").fill(phone)
    form.get_by_role("button", name="获取验证码").click()
    expect(page.get_by_text("验证码已发送至")).to_be_visible()
    outbox = requests.get(f"{base_url}/api/v1/dev/sms?phone={phone}", timeout=10).json()
    code = re.search(r"验证码(\d{6})", outbox["items"][0]["text"])
    assert code, outbox
    form.get_by_label("短信验证码").fill(code.group(1))
    form.get_by_label("怎么称呼您（选填）").fill("王女士")
    form.get_by_label("投诉类别").select_option(label="服务质量")
    form.get_by_label("投诉内容").fill(text)
    form.get_by_role("button", name="提交投诉").click()
    status = page.locator("#guest-status")
    expect(status).to_contain_text("已提交，投诉编号")
    found = re.search(r"TS\d+", status.inner_text())
    assert found
    number = found.group(0)
    assert_no_axe_violations(page, "after filing without an account")

    # Staff answer and resolve it (the queue's own page is tested in test_complaints).
    create_staff(live_server, "13700000419", "insurer_staff", "客服乙")
    staff = api_session(base_url, "13700000419")
    for message, to in (("已收到，正在核实。", "in_progress"), ("已为您处理完毕。", "resolved")):
        answer = staff.post(f"{base_url}/api/v1/admin/complaints/{number}/replies",
                            json={"message": message, "status": to}, timeout=10)
        assert answer.status_code == 201, answer.text

    # Back on her phone: the complaint, resolved, and one tap to rate it.
    page.goto("/complaints.html")
    page.locator(f"[data-complaint='{number}']").get_by_role("link", name="查看详情").click()
    expect(page.locator("#reply-list")).to_contain_text("已为您处理完毕")
    page.get_by_label("想说的话（选填）").fill("处理及时，谢谢")
    page.locator("button[data-score='4']").click()  # ★★★★ 满意: one tap
    expect(page.locator(".rating-done")).to_contain_text("您的评价：满意")
    assert_no_axe_violations(page, "after rating")

    page.goto("/disclosure.html")
    expect(page.locator("[data-figure=satisfaction-complaints]")).to_contain_text("4.0分")
    expect(page.locator("[data-figure=satisfaction-complaints]")).to_contain_text("1人评价")


def test_the_operator_edits_the_help_residents_see(page: Page, base_url: str,
                                                   live_server: LiveServer) -> None:
    product = demo_product(base_url)
    create_staff(live_server, "13700000420", "admin", "管理员帮助")
    staff_log_in(page, base_url, "13700000420", "/admin/products.html")
    row = page.locator(f"tr[data-product='{product['code']}']")
    row.get_by_role("button", name=re.compile("^客服与帮助")).click()
    hotline = page.get_by_label("客服电话")
    expect(hotline).to_have_value("0571-12345")  # the demo's own
    hotline.fill("请拨打客服")
    page.get_by_label("服务网点").fill(
        "滨江区医保窗口 | 杭州市滨江区江南大道1号 | 工作日 9:00-16:00 | 看地图")
    page.get_by_role("button", name="保存客服信息").click()
    expect(page.locator(f"#help-{product['id']}-hotline-error")).to_contain_text(
        "客服电话只能包含数字")
    hotline.fill("0571-55556666")
    page.get_by_role("button", name="保存客服信息").click()
    expect(page.get_by_role("status").filter(has_text="已保存")).to_contain_text("1个服务网点")
    assert_no_axe_violations(page, "on 客服与帮助")

    page.goto("/help.html")
    expect(page.get_by_role("link", name="拨打 0571-55556666")).to_have_attribute(
        "href", "tel:057155556666")
    expect(page.get_by_text("杭州市滨江区江南大道1号")).to_be_visible()
    expect(page.get_by_role("link", name="看地图")).to_be_visible()
