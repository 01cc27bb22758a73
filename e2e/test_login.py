"""Journeys on the login page: checks before sending, a wrong code, the countdown, where a login
leads, 长辈模式 following the person, logout, and the 微信登录 messages.

The server allows one code per phone per minute, so every journey here uses its own phone."""

from __future__ import annotations

import re
from urllib.parse import parse_qs, urlsplit

import pytest
from playwright.sync_api import Page, Route, expect

from e2e.support import (
    AGREEMENT_BOX,
    agree_to_terms,
    assert_no_axe_violations,
    body_font_size,
    http_get,
    log_in,
    request_code,
    small_touch_targets,
    sms_code,
)

pytestmark = pytest.mark.e2e

WRONG_CODE = "验证码不正确，请核对后重新输入"


def test_login_page_checks_input_and_reads_well_in_both_modes(page: Page, base_url: str) -> None:
    page.goto("/login.html")
    expect(page).to_have_title(re.compile("登录"))
    expect(page.get_by_role("heading", level=1, name="手机号登录")).to_be_visible()

    phone = page.get_by_label("手机号码")
    code = page.get_by_label("短信验证码")
    expect(phone).to_have_attribute("inputmode", "tel")
    expect(code).to_have_attribute("inputmode", "numeric")
    expect(code).to_have_attribute("autocomplete", "one-time-code")
    assert not small_touch_targets(page, 44)
    assert_no_axe_violations(page, "on the login page")

    # 登录 with nothing typed: the phone field says what is missing, tied to the field.
    page.get_by_role("button", name="登录", exact=True).click()
    expect(phone).to_have_attribute("aria-invalid", "true")
    expect(phone).to_be_focused()
    error = page.locator("#phone-error")
    expect(error).to_have_text(re.compile("请输入手机号码"))
    expect(phone).to_have_attribute("aria-describedby", re.compile(r"\bphone-error\b"))

    # A short number is caught before any code is sent.
    phone.fill("1380000")
    page.get_by_role("button", name="获取验证码").click()
    expect(error).to_have_text(re.compile("请输入11位手机号码"))
    expect(page.get_by_text("验证码已发送至")).to_have_count(0)
    assert_no_axe_violations(page, "on the login page with an error")

    # 长辈模式: bigger text, bigger targets, still no violations.
    page.get_by_role("button", name="长辈模式").click()
    expect(page.locator("html")).to_have_attribute("data-mode", "elderly")
    assert body_font_size(page) >= 20
    small = small_touch_targets(page, 48)
    assert not small, f"touch targets under 48×48 in 长辈模式: {small}"
    assert_no_axe_violations(page, "on the login page in 长辈模式")

    # 微信登录 is offered only when the server has it switched on (GET /auth/methods).
    status, methods = http_get(base_url, "/api/v1/auth/methods")
    assert status == 200 and methods["sms"] is True
    wechat = page.get_by_role("link", name="微信登录")
    if methods["wechat"]:
        expect(wechat).to_be_visible()
    else:
        expect(wechat).to_be_hidden()


def test_wechat_messages(page: Page) -> None:
    page.goto("/login.html?wechat=link")
    expect(page.get_by_role("status").filter(has_text="微信")).to_match_aria_snapshot(
        "- status:\n  - paragraph: 首次使用微信登录，请验证手机号完成绑定")
    assert_no_axe_violations(page, "with the WeChat link message")

    page.goto("/login.html?wechat_error=access_denied")
    expect(page.get_by_role("alert")).to_match_aria_snapshot(
        "- alert:\n  - paragraph: 微信登录未成功，请使用手机验证码登录")


def test_wechat_login_asks_for_the_agreements_and_carries_the_ticked_versions(
    page: Page, base_url: str,
) -> None:
    # A linked WeChat account that has not accepted the current texts comes back here.
    status, methods = http_get(base_url, "/api/v1/auth/methods")
    assert status == 200
    page.route("**/api/v1/auth/methods",
               lambda route: route.fulfill(json={**methods, "wechat": True}))
    started: list[str] = []

    def wechat_start(route: Route) -> None:
        started.append(route.request.url)
        route.fulfill(status=200, content_type="text/plain", body="WeChat")

    page.route("**/api/v1/auth/wechat/login*", wechat_start)
    page.goto("/login.html?wechat_error=agreement_required")
    expect(page.get_by_role("alert")).to_match_aria_snapshot(
        "- alert:\n  - paragraph: 使用微信登录需同意最新的《用户协议》和《隐私政策》，"
        "请阅读并勾选后再点击“微信登录”")
    box = page.get_by_label(AGREEMENT_BOX)
    expect(box).to_have_attribute("aria-invalid", "true")
    expect(page.locator("#agree-error")).to_have_text(re.compile("请阅读并勾选同意"))
    assert_no_axe_violations(page, "with the WeChat agreement message")

    # Ticked, 微信登录 starts with the versions shown on the page.
    status, texts = http_get(base_url, "/api/v1/agreements")
    assert status == 200
    expect(page.get_by_text("阅读《用户协议》")).to_be_visible()
    agree_to_terms(page)
    page.get_by_role("link", name="微信登录").click()
    expect(page.get_by_text("WeChat")).to_be_visible()
    (url,) = started
    assert parse_qs(urlsplit(url).query) == {
        text["document"]: [text["version"]] for text in texts["items"]}


def test_wrong_code_is_refused_then_the_right_one_signs_in(page: Page, base_url: str) -> None:
    # 李娜 switches 长辈模式 on before logging in; her account keeps that choice afterwards.
    page.goto("/login.html")
    page.get_by_role("button", name="长辈模式").click()
    request_code(page, "13800000002")
    expect(page.get_by_text("验证码已发送至 138****0002")).to_be_visible()

    # The button waits and cannot be pressed again — in 长辈模式 without ticking seconds (MIIT
    # 适老化: no countdown pressure); the code field has the focus.
    resend = page.get_by_role("button", name="请稍后再获取")
    expect(resend).to_be_disabled()
    code_input = page.get_by_label("短信验证码")
    expect(code_input).to_be_focused()

    right = sms_code(base_url, "13800000002")
    code_input.fill(f"{(int(right) + 1) % 1_000_000:06d}")
    page.get_by_role("button", name="登录", exact=True).click()
    expect(page.locator("#code-error")).to_have_text(re.compile(WRONG_CODE))
    expect(code_input).to_have_attribute("aria-invalid", "true")
    expect(code_input).to_have_attribute("aria-describedby", re.compile(r"\bcode-error\b"))
    expect(page).to_have_url(re.compile(r"/login\.html$"))
    assert_no_axe_violations(page, "after a wrong code")

    code_input.fill(right)
    page.get_by_role("button", name="登录", exact=True).click()
    # A first login without 用户协议 and 隐私政策 is refused at the box; the code still works.
    expect(page.locator("#agree-error")).to_contain_text("《用户协议》和《隐私政策》")
    page.get_by_text("阅读《隐私政策》").click()
    expect(page.get_by_text("我的个人信息")).to_be_visible()
    agree_to_terms(page)
    page.get_by_role("button", name="登录", exact=True).click()
    # Not yet bound, no `next`: on to 实名认证.
    expect(page).to_have_url(re.compile(r"/bind\.html$"))
    expect(page.get_by_role("heading", level=1, name="实名认证")).to_be_visible()
    expect(page.locator("html")).to_have_attribute("data-mode", "elderly")
    me = page.request.get("/api/v1/me").json()
    assert me["phone"] == "138****0002"
    assert me["elderly_mode"] is True


def test_login_follows_next_then_logout_returns_to_login(page: Page, base_url: str) -> None:
    # Someone not yet bound opens 我的: sent to log in, and brought back to 我的 afterwards.
    page.goto("/me.html")
    expect(page).to_have_url(re.compile(r"/login\.html\?next=%2Fme\.html$"))
    log_in(page, base_url, "13800000010", path=page.url)
    expect(page).to_have_url(re.compile(r"/me\.html$"))

    expect(page.get_by_text("尚未实名认证")).to_be_visible()
    expect(page.get_by_role("link", name="去实名认证")).to_have_attribute("href", "/bind.html")
    expect(page.locator("[data-fact=phone]")).to_contain_text("138****0010")
    assert_no_axe_violations(page, "on 我的 before binding")

    page.get_by_role("button", name="退出登录").click()
    expect(page).to_have_url(re.compile(r"/login\.html$"))
    expect(page.get_by_role("heading", level=1, name="手机号登录")).to_be_visible()
    assert page.request.get("/api/v1/me").status == 401

    page.goto("/me.html")
    expect(page).to_have_url(re.compile(r"/login\.html\?next=%2Fme\.html$"))
    page.goto("/")
    expect(page.get_by_role("link", name="登录", exact=True)).to_have_attribute(
        "href", "/login.html")


def test_only_same_origin_paths_are_followed_after_login(page: Page) -> None:
    page.goto("/login.html")
    results = page.evaluate(
        """async () => {
            const s = await import("/assets/session.js");
            const cases = ["/me.html", "/?tab=1#enroll", "//evil.example/x", "/\\\\evil.example",
                           "https://evil.example/", "javascript:alert(1)", "/login.html?next=/",
                           "/api/v1/auth/logout", "me.html", "", null];
            return cases.map((value) => s.safeNext(value));
        }"""
    )
    assert results == ["/me.html", "/?tab=1#enroll", None, None, None, None, None, None, None,
                       None, None]
