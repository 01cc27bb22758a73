"""长辈模式 against MIIT's 《移动互联网应用（APP）适老化通用设计规范》(2021), measured in the
browser.

孙丽 (61) switches it on from the home page's large switch before logging in; the home page turns
into four large tiles (参保, 我的保单, 查理赔, 找家人帮忙). On every page she then uses — home,
login, 实名认证, 我的, 确认参保, 我的保单, 理赔, and the 代办 pages (including the QR step) — the
computed styles meet the numbers: text >= 18px with line spacing >= 1.3, the main functions' text
>= 30px, every touch target >= 60×60. The login code's resend button shows no ticking seconds.
The choice follows her to her account, the page follows the browser's own text size, and axe-core
finds no WCAG 2 A/AA violation on any of these pages in either mode."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect

from e2e.proxy_support import elderly_problems
from e2e.support import (
    agree_to_terms,
    assert_no_axe_violations,
    bind_identity,
    body_font_size,
    keep_screenshot,
    request_code,
    sms_code,
)

pytestmark = pytest.mark.e2e

PHONE, NAME, ID_NUMBER = "13800000009", "孙丽", "330110196504300923"
FATHER_ID = "330102195802100458"

# (path, something on it once loaded) for the signed-in pages checked in both modes.
SIGNED_IN_PAGES = [
    ("/me.html", "#me-content .card"),
    ("/enroll.html", "#sheet-body .sheet-total"),
    ("/policies.html", ".state--empty"),
    ("/claims.html", "#claims-state:not([aria-busy=true])"),
    ("/proxy.html", "#agent-title"),
    ("/proxy-new.html", "#grant-form .card"),
    ("/proxy-activity.html", ".state--empty"),
]


def check_elderly(page: Page, label: str) -> None:
    expect(page.locator("html")).to_have_attribute("data-mode", "elderly")
    problems = elderly_problems(page)
    assert not problems, f"{label} in 长辈模式 misses the 适老化 numbers:\n" + "\n".join(problems)
    assert_no_axe_violations(page, f"on {label} in 长辈模式")


def open_loaded(page: Page, path: str, ready: str) -> None:
    page.goto(path)
    expect(page.locator(ready).first).to_be_visible()


def test_sun_li_uses_every_page_in_elderly_mode(page: Page, base_url: str) -> None:
    # ---------------------------------------------------------------- standard mode, logged out
    page.goto("/login.html")
    expect(page.get_by_label("手机号码")).to_be_visible()
    assert_no_axe_violations(page, "on 登录 (standard)")
    page.goto("/")
    expect(page.get_by_role("heading", level=2, name="西湖益联保（演示版）")).to_be_visible()
    tiles = page.get_by_role("navigation", name="常用服务")
    expect(tiles).to_be_hidden()  # the four tiles belong to 长辈模式
    assert_no_axe_violations(page, "on the home page (standard)")
    standard_body = body_font_size(page)

    # ---------------------------------------------------------------- the home page's switch
    switch = page.get_by_role("switch", name="长辈模式")
    expect(switch).to_have_attribute("aria-checked", "false")
    expect(switch).to_contain_text("关")
    switch.click()
    expect(switch).to_have_attribute("aria-checked", "true")
    expect(switch).to_contain_text("开")  # the state in words, not only by colour
    # One 长辈模式 switch on the home page: its own large one, not the header's as well.
    expect(page.get_by_role("button", name="长辈模式")).to_have_count(0)
    expect(tiles).to_be_visible()
    expect(tiles.get_by_role("link")).to_have_text(  # each after its aria-hidden icon character
        [re.compile(f"{name}$") for name in ("参保", "我的保单", "查理赔", "找家人帮忙")])
    hrefs = [tiles.get_by_role("link").nth(i).get_attribute("href") for i in range(4)]
    # Logged out, the tiles that need an account go straight to 登录 and on to their page.
    assert hrefs == ["/enroll.html", "/login.html?next=%2Fpolicies.html",
                     "/login.html?next=%2Fclaims.html", "/login.html?next=%2Fproxy.html"]
    assert body_font_size(page) >= 18 and body_font_size(page) > standard_body
    check_elderly(page, "the home page")
    keep_screenshot(page, "elderly-home")

    # It follows the browser's own text size (rem all the way down, no fixed px on html).
    cdp = page.context.new_cdp_session(page)
    cdp.send("Page.setFontSizes", {"fontSizes": {"standard": 20, "fixed": 16}})
    page.reload()
    expect(tiles).to_be_visible()
    assert body_font_size(page) == pytest.approx(20 * 1.25 * 1.125)
    cdp.send("Page.setFontSizes", {"fontSizes": {"standard": 16, "fixed": 13}})
    page.reload()
    assert body_font_size(page) == pytest.approx(22.5)
    cdp.detach()

    # ---------------------------------------------------------------- 登录 and 实名认证
    # The page's timers run on Playwright's clock: "no ticking seconds" is checked by moving it.
    page.clock.install()
    page.get_by_role("link", name="登录", exact=True).click()
    expect(page).to_have_url(re.compile(r"/login\.html"))
    check_elderly(page, "登录")
    request_code(page, PHONE)
    resend = page.locator("#send-code")
    expect(resend).to_be_disabled()
    expect(resend).to_have_text("请稍后再获取")  # no ticking seconds in 长辈模式
    page.clock.run_for(1200)  # a ticking countdown would have changed the text by now
    expect(resend).to_have_text("请稍后再获取")
    check_elderly(page, "登录 (code sent)")
    keep_screenshot(page, "elderly-login")
    page.get_by_label("短信验证码").fill(sms_code(base_url, PHONE))
    agree_to_terms(page)
    page.get_by_role("button", name="登录", exact=True).click()
    expect(page).to_have_url(re.compile(r"/bind\.html"))
    expect(page.get_by_label("姓名")).to_be_visible()
    check_elderly(page, "实名认证")
    # Switched on before logging in: kept, and saved on her account.
    assert page.request.get("/api/v1/me").json()["elderly_mode"] is True
    bind_identity(page, NAME, ID_NUMBER)
    expect(page).to_have_url(re.compile(r"/me\.html$"))
    # Already in 长辈模式: nothing to offer.
    expect(page.get_by_role("region", name="要开启长辈模式吗？")).to_have_count(0)

    # ---------------------------------------------------------------- every signed-in page
    for path, ready in SIGNED_IN_PAGES:
        open_loaded(page, path, ready)
        check_elderly(page, path)

    # The QR step and a pending grant, as an agent would see them.
    open_loaded(page, "/proxy-new.html", "#grant-form .card")
    keep_screenshot(page, "elderly-proxy-new")
    page.get_by_label("家人姓名").fill("张建国")
    page.get_by_label("家人身份证号码").fill(FATHER_ID)
    page.get_by_label("查看保单").check()
    page.get_by_role("button", name="提交申请").click()
    expect(page.locator("img[data-qr]")).to_be_visible()
    page.wait_for_function("() => document.querySelector('img[data-qr]').naturalWidth > 0")
    check_elderly(page, "the QR step")
    keep_screenshot(page, "elderly-proxy-qr")
    page.get_by_role("button", name="改用短信验证码").click()
    expect(page.get_by_label("张*国收到的验证码")).to_be_visible()
    send = page.locator("[data-send-code]")
    send.click()
    expect(send).to_have_text("请稍后再获取")  # the resend wait, without ticking seconds
    expect(send).to_be_disabled()
    check_elderly(page, "the SMS step")
    open_loaded(page, "/proxy.html", "[data-grant]")
    check_elderly(page, "代办授权 with a pending request")
    keep_screenshot(page, "elderly-proxy")

    # ---------------------------------------------------------------- and in standard mode
    # The switch saves the choice in the background: wait for that save before asking.
    with page.expect_response(lambda r: r.url.endswith("/api/v1/me/preferences")) as saved:
        page.get_by_role("button", name="长辈模式").click()
    assert saved.value.ok
    expect(page.locator("html")).not_to_have_attribute("data-mode", "elderly")
    assert page.request.get("/api/v1/me").json()["elderly_mode"] is False
    assert_no_axe_violations(page, "on 代办授权 (standard)")
    for path, ready in SIGNED_IN_PAGES:
        open_loaded(page, path, ready)
        assert_no_axe_violations(page, f"on {path} (standard)")
    keep_screenshot(page, "standard-proxy-activity")
