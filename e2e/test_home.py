"""Journeys on the home page: the open product, 长辈模式, the API docs, error and empty states."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import date
from typing import Any

import pytest
from playwright.sync_api import Page, Route, expect

from e2e.support import (
    api_json,
    assert_no_axe_violations,
    body_font_size,
    keep_screenshot,
    small_touch_targets,
)

pytestmark = pytest.mark.e2e

DEMO_PRODUCT = "西湖益联保（演示版）"


def chinese_date(iso: str) -> str:
    day = date.fromisoformat(iso)
    return f"{day.year}年{day.month}月{day.day}日"


def demo_product(base_url: str) -> dict[str, Any]:
    items = api_json(base_url, "/api/v1/products")["items"]
    return next(item for item in items if item["name"] == DEMO_PRODUCT)


def open_home(page: Page) -> None:
    page.goto("/")
    expect(page.get_by_role("heading", level=2, name=DEMO_PRODUCT)).to_be_visible()


def test_home_shows_the_open_product_its_notice_and_terms(page: Page, base_url: str) -> None:
    product = demo_product(base_url)
    open_home(page)
    expect(page).to_have_title(re.compile("惠民保"))
    expect(page.locator("html")).to_have_attribute("lang", "zh-CN")
    expect(page.get_by_text(product["insurer"], exact=False)).to_be_visible()
    if product["enrollment"]["is_open"]:
        expect(page.get_by_text("投保进行中")).to_be_visible()

    # Both tiers, each with its premium per person per year.
    standard = page.get_by_role("region", name="标准版")
    upgraded = page.get_by_role("region", name="升级版")
    expect(standard).to_contain_text("¥150.00")
    expect(standard).to_contain_text("/人/年")
    expect(upgraded).to_contain_text("¥299.00")

    # 标准版's in-policy benefit: deductible, ratio and cap, each under its own label.
    compliant = standard.get_by_role("listitem").filter(has_text="医保范围内合规费用")
    expect(compliant.locator(".figure", has_text="免赔额")).to_contain_text("¥20,000")
    expect(compliant.locator(".figure", has_text="赔付比例")).to_contain_text("75%")
    expect(compliant.locator(".figure", has_text="封顶线")).to_contain_text("¥1,000,000")
    for benefit in product["tiers"][0]["benefits"]:
        expect(standard).to_contain_text(benefit["label"])

    # The enrollment window and the coverage period, in Chinese dates.
    window, coverage = product["enrollment"], product["coverage"]
    expect(page.locator("[data-fact=enrollment]")).to_contain_text(
        f"投保时间{chinese_date(window['opens_on'])} 至 {chinese_date(window['closes_on'])}"
    )
    expect(page.locator("[data-fact=coverage]")).to_contain_text(
        f"保障期间{chinese_date(coverage['starts_on'])} 至 {chinese_date(coverage['ends_on'])}"
    )

    # Commercial insurance, not basic medical insurance: said plainly, in the API's own words.
    notice = page.get_by_role("complementary", name="重要提示")
    expect(notice).to_be_visible()
    expect(notice).to_contain_text("商业保险")
    expect(notice).to_contain_text("不是基本医疗保险")
    expect(notice).to_contain_text(product["terms"]["notice"])

    # Logged out: 登录 in the header, and 立即参保 leads to the login page, then on to 确认参保.
    expect(page.get_by_role("link", name="登录", exact=True)).to_have_attribute(
        "href", "/login.html")
    enroll = page.get_by_role("link", name="立即参保")
    expect(enroll).not_to_have_attribute("aria-disabled", "true")
    expect(enroll).to_have_attribute(
        "href", re.compile(r"^/login\.html\?next=%2Fenroll\.html%3Fproduct%3D\d+$"))
    expect(page.get_by_text("参保前请先登录")).to_be_visible()
    # The bar stays on screen wherever the page is scrolled to.
    page.evaluate("window.scrollTo(0, 0)")
    expect(enroll).to_be_in_viewport()
    page.evaluate("window.scrollTo(0, document.body.scrollHeight / 2)")
    expect(enroll).to_be_in_viewport()

    assert not small_touch_targets(page, 44)
    assert body_font_size(page) >= 16
    assert_no_axe_violations(page, "on the home page (standard mode)")

    # The terms: exclusions hidden until the disclosure is opened.
    first_exclusion = product["terms"]["exclusions"].splitlines()[0]
    expect(page.get_by_text(first_exclusion)).to_be_hidden()
    page.get_by_text("责任免除", exact=True).click()
    expect(page.get_by_text(first_exclusion)).to_be_visible()
    page.get_by_text("保障责任", exact=True).click()
    expect(page.get_by_text(product["terms"]["coverage"].splitlines()[0])).to_be_visible()
    page.get_by_text("理赔范围", exact=True).click()
    expect(page.get_by_text(product["terms"]["claim_scope"].splitlines()[0])).to_be_visible()
    assert_no_axe_violations(page, "with every terms disclosure open")


def test_elderly_mode_enlarges_text_and_targets_and_persists(page: Page) -> None:
    open_home(page)
    toggle = page.get_by_role("switch", name="长辈模式")
    expect(toggle).to_have_attribute("aria-checked", "false")
    standard_size = body_font_size(page)

    toggle.click()
    expect(page.locator("html")).to_have_attribute("data-mode", "elderly")
    expect(toggle).to_have_attribute("aria-checked", "true")
    expect(toggle).to_contain_text("开")  # the state is said in words, not only by colour
    assert body_font_size(page) >= 20 > standard_size
    small = small_touch_targets(page, 48)
    assert not small, f"touch targets under 48×48 in 长辈模式: {small}"
    assert_no_axe_violations(page, "in 长辈模式")

    page.reload()
    expect(page.get_by_role("heading", level=2, name=DEMO_PRODUCT)).to_be_visible()
    expect(page.locator("html")).to_have_attribute("data-mode", "elderly")
    expect(page.get_by_role("switch", name="长辈模式")).to_have_attribute("aria-checked", "true")
    assert body_font_size(page) >= 20
    keep_screenshot(page, "home-elderly-mode")

    # And off again, which also persists.
    page.get_by_role("switch", name="长辈模式").click()
    expect(page.locator("html")).not_to_have_attribute("data-mode", "elderly")
    page.reload()
    expect(page.get_by_role("switch", name="长辈模式")).to_have_attribute("aria-checked", "false")
    assert body_font_size(page) == standard_size


def test_api_docs_load_offline(page: Page, assert_stayed_local: Callable[[], None]) -> None:
    page.goto("/api/docs")
    expect(page.locator(".swagger-ui")).to_be_visible()
    expect(page.locator(".swagger-ui .info .title")).to_contain_text("惠民保 API")
    expect(
        page.locator(".opblock-summary-path", has_text="/api/v1/products").first
    ).to_be_visible()
    page.wait_for_load_state("networkidle")
    assert_stayed_local()


ERROR_BODY = {
    "code": "unavailable",
    "message": "服务暂不可用，请稍后再试",
    "errors": {},
    "request_id": "e2e-request-0001",
}


def _api_error(route: Route) -> None:
    route.fulfill(status=503, json=ERROR_BODY)


def _html_bad_gateway(route: Route) -> None:
    route.fulfill(status=502, content_type="text/html", body="<h1>502 Bad Gateway</h1>")


def _network_down(route: Route) -> None:
    route.abort("internetdisconnected")


@pytest.mark.parametrize(
    ("failure", "message"),
    [
        pytest.param(_api_error, "服务暂不可用，请稍后再试", id="api-error-shape"),
        pytest.param(_html_bad_gateway, "系统繁忙，请稍后再试", id="non-json-answer"),
        pytest.param(_network_down, "网络连接失败，请检查网络后重试", id="network-down"),
    ],
)
def test_error_state_shows_a_chinese_message_and_retry_recovers(
    page: Page, failure: Callable[[Route], None], message: str
) -> None:
    failures: list[str] = []

    def fail_first_time(route: Route) -> None:
        if failures:
            route.fallback()
            return
        failures.append(route.request.url)
        failure(route)

    page.route("**/api/v1/products", fail_first_time)
    page.goto("/")
    alert = page.get_by_role("alert")
    expect(alert).to_contain_text("加载失败")
    expect(alert).to_contain_text(message)
    if failure is _api_error:
        expect(alert).to_contain_text("请求编号：e2e-request-0001")
    retry = page.get_by_role("button", name="重试")
    expect(retry).to_be_focused()
    assert not small_touch_targets(page, 44)
    assert_no_axe_violations(page, "in the error state")

    retry.click()
    expect(page.get_by_role("heading", level=2, name=DEMO_PRODUCT)).to_be_visible()
    expect(page.get_by_role("alert")).to_have_count(0)
    assert len(failures) == 1


def test_empty_state_when_no_product_is_open(page: Page) -> None:
    page.route("**/api/v1/products", lambda route: route.fulfill(json={"items": []}))
    page.goto("/")
    expect(page.get_by_text("当前没有开放投保的产品")).to_be_visible()
    expect(page.get_by_role("heading", level=2)).to_have_count(0)
    assert_no_axe_violations(page, "in the empty state")


def test_formatting_uses_integer_arithmetic(page: Page) -> None:
    page.goto("/")
    results = page.evaluate(
        """async () => {
            const f = await import("/assets/format.js");
            return {
                premium: f.formatFen(15000),
                upgraded: f.formatFen(29900),
                cap: f.formatFen(100000000, {compact: true}),
                deductible: f.formatFen(2000000, {compact: true}),
                with_fen: f.formatFen(2000050, {compact: true}),
                tiny: f.formatFen(1),
                float_trap: f.formatFen(30),
                big: f.formatFen("900719925474099312"),
                refund: f.formatFen(-150),
                ratio: f.formatRatio(7500),
                ratio_half: f.formatRatio(7550),
                ratio_bp: f.formatRatio(7525),
                date: f.formatDate("2026-11-15"),
                date_time: f.formatDate("2027-01-06T23:30:00+08:00"),
                rejects_float: (() => { try { f.formatFen(0.1 + 0.2); return "accepted"; }
                                        catch (e) { return "rejected"; } })(),
            };
        }"""
    )
    assert results == {
        "premium": "¥150.00",
        "upgraded": "¥299.00",
        "cap": "¥1,000,000",
        "deductible": "¥20,000",
        "with_fen": "¥20,000.50",
        "tiny": "¥0.01",
        "float_trap": "¥0.30",
        "big": "¥9,007,199,254,740,993.12",
        "refund": "-¥1.50",
        "ratio": "75%",
        "ratio_half": "75.5%",
        "ratio_bp": "75.25%",
        "date": "2026年11月15日",
        "date_time": "2027年1月6日",
        "rejects_float": "rejected",
    }
