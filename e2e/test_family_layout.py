"""家人 holds still while the registry's relatives load: in 长辈模式 on a 320 px screen, 张伟
scrolls to 添加其他家人 while 医保 is slow to answer; when the list arrives (or 医保 fails), the
form, and 子女 under his finger, stay exactly where they were. His four relatives do not all fit
the place held for them: two show, the others behind 显示其余2位家人, a move he asks for. When
医保 answers before the family list, all four are drawn in the first paint, nothing held.

The registry's answer is held back in the browser until the test lets it through, so "slow" is
as slow as needed, on any machine."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from playwright.sync_api import Locator, Page, Route, expect

from e2e.proxy_support import elderly_problems
from e2e.support import assert_no_axe_violations, keep_screenshot, sign_up
from huiminbao.core.api import REMOTE_UNAVAILABLE_MESSAGE

pytestmark = pytest.mark.e2e

ELDERLY = "localStorage.setItem('huiminbao.mode', 'elderly')"
ZHANG_WEI = ("13800000001", "张伟", "330106198803150130")
REGISTRY = "**/api/v1/me/family/from-registry"
FAMILY = "**/api/v1/me/family"
NARROW = {"width": 320, "height": 640}
# Sub-pixel rounding only: the form must not move at all.
STILL_PX = 0.5


class HeldRegistry:
    """The page's GET /me/family/from-registry, kept waiting until ``answer`` or ``fail``."""

    def __init__(self, page: Page) -> None:
        self.page = page
        self.routes: list[Route] = []
        page.route(REGISTRY, self._hold)

    def _hold(self, route: Route) -> None:
        if route.request.method == "GET":
            self.routes.append(route)
        else:
            route.fallback()

    def wait_for_request(self) -> None:
        for _ in range(100):
            if self.routes:
                return
            self.page.wait_for_timeout(50)
        raise AssertionError("the page never asked for the registry's relatives")

    def answer(self) -> None:
        self.routes.pop(0).fallback()

    def fail(self) -> None:
        self.routes.pop(0).fulfill(status=503, json={
            "code": "remote_unavailable", "message": REMOTE_UNAVAILABLE_MESSAGE, "errors": {}})

    def release(self) -> None:
        self.page.unroute(REGISTRY)
        while self.routes:
            self.answer()


@pytest.fixture
def narrow_elderly_page(page: Page) -> Page:
    page.context.add_init_script(ELDERLY)
    page.set_viewport_size(NARROW)
    return page


def top(locator: Locator) -> float:
    box = locator.bounding_box()
    assert box is not None, "not on screen"
    return float(box["y"])


def assert_no_sideways_scroll(page: Page) -> None:
    widths = page.evaluate("() => [document.documentElement.scrollWidth,"
                           " document.documentElement.clientWidth]")
    assert widths[0] <= widths[1], f"sideways scroll: {widths}"


def open_family_with_registry_held(page: Page) -> tuple[HeldRegistry, Locator, Locator]:
    """家人 with the registry's answer held: the form is there, scrolled to under the finger
    (measure before anything else scrolls: axe and screenshots do)."""
    held = HeldRegistry(page)
    page.goto("/family.html")
    form = page.locator("#add-form")
    child = form.get_by_role("radio", name="子女", exact=True)
    expect(form).to_be_visible()
    held.wait_for_request()
    expect(page.locator("#registry-box")).to_have_attribute("aria-busy", "true")
    child.scroll_into_view_if_needed()
    return held, form, child


def test_the_form_stays_under_the_finger_while_the_registry_is_slow(
    narrow_elderly_page: Page, base_url: str
) -> None:
    page = narrow_elderly_page
    sign_up(page, base_url, *ZHANG_WEI)
    held, form, child = open_family_with_registry_held(page)
    registry = page.get_by_role("region", name="从医保登记的家人中选择")
    expect(registry).to_contain_text("正在读取医保登记的家人")
    assert_elderly_and_narrow(page, "while the registry is slow")
    keep_screenshot(page, "family-registry-loading")  # scrolls to the top
    child.scroll_into_view_if_needed()
    form_before, child_before = top(form), top(child)

    held.answer()
    expect(page.locator("#registry-box")).not_to_have_attribute("aria-busy", "true")
    rows = registry.locator("[data-relative]")
    expect(rows).to_have_count(4)
    assert abs(top(form) - form_before) <= STILL_PX, (form_before, top(form))
    assert abs(top(child) - child_before) <= STILL_PX, (child_before, top(child))
    expect(registry.get_by_role("button", name="显示其余2位家人")).to_be_visible()
    expect(rows.filter(visible=True)).to_have_count(2)
    assert_elderly_and_narrow(page, "with two relatives shown and two behind 显示其余")
    keep_screenshot(page, "family-registry-held-place")

    # A tap on 子女 now ticks 子女.
    child.click()
    expect(child).to_be_checked()

    # The others are one tap away; the first of them takes the focus.
    registry.get_by_role("button", name="显示其余2位家人").click()
    expect(rows.filter(visible=True)).to_have_count(4)
    expect(rows.nth(2).get_by_role("button", name="添加")).to_be_focused()
    assert_elderly_and_narrow(page, "with all four relatives shown")

    # 医保 fails after a while: the words take the list's place, and the form stays put.
    held.release()
    held, form, child = open_family_with_registry_held(page)
    form_before, child_before = top(form), top(child)
    held.fail()
    expect(registry.locator("[data-registry-note=error]")).to_contain_text(
        REMOTE_UNAVAILABLE_MESSAGE)
    expect(page.locator("#registry-box")).not_to_have_attribute("aria-busy", "true")
    assert abs(top(form) - form_before) <= STILL_PX, (form_before, top(form))
    assert abs(top(child) - child_before) <= STILL_PX, (child_before, top(child))
    assert_elderly_and_narrow(page, "with 医保 unavailable")
    keep_screenshot(page, "family-registry-outage")
    held.release()

    # 医保 answers before the family list is in: the list is drawn in the first paint, all of it,
    # and no place is held (no blank rows under a short list).
    held_family: list[Route] = []
    page.route(FAMILY, lambda route: held_family.append(route))
    with page.expect_response(REGISTRY):
        page.goto("/family.html")
    held_family.pop().fallback()
    page.unroute(FAMILY)
    expect(page.locator("#registry-box")).not_to_have_attribute("aria-busy", "true")
    expect(rows.filter(visible=True)).to_have_count(4)
    expect(page.locator(".registry-box__reserve")).to_be_hidden()
    expect(registry.get_by_role("button", name="显示其余2位家人")).to_have_count(0)


def assert_elderly_and_narrow(page: Page, label: str) -> None:
    expect(page.locator("html")).to_have_attribute("data-mode", "elderly")
    problems = elderly_problems(page)
    assert not problems, f"长辈模式 {label}: {problems}"
    assert_no_sideways_scroll(page)
    assert_no_axe_violations(page, label)



# The two other pages that list the registry's relatives hold their place the same way
# (_layouts/registry-reserve.html, family-picks.js): the list, its held place, what is tapped next.
# 张建国 (wife and son in the registry) signs up once: a second code for 张伟 waits a minute.
ZHANG_JIANGUO = ("13800000004", "张建国", "330102195802100458")
HELD_ELSEWHERE: dict[str, tuple[str, str, str, Callable[[Page], Locator]]] = {
    "为家人投保": (
        "/family-enroll.html", "#fe-registry", "[data-registry]",
        lambda page: page.get_by_role("group", name="支付方式").get_by_role("radio").first),
    "申请代办": (
        "/proxy-new.html", "#principal-box", "[data-choice]:not([data-choice=other])",
        lambda page: page.get_by_label("家人姓名")),
}


def test_what_is_tapped_next_stays_put_on_the_other_pages_while_the_registry_is_slow(
    narrow_elderly_page: Page, base_url: str
) -> None:
    page = narrow_elderly_page
    sign_up(page, base_url, *ZHANG_JIANGUO)
    for page_name, (path, box_selector, row_selector, tapped_next) in HELD_ELSEWHERE.items():
        held = HeldRegistry(page)
        page.goto(path)
        target = tapped_next(page)
        expect(target).to_be_visible()
        held.wait_for_request()
        box = page.locator(box_selector)
        expect(box).to_have_attribute("aria-busy", "true")
        expect(box).to_contain_text("正在读取医保登记的家人")
        assert_elderly_and_narrow(page, f"{page_name} while the registry is slow")
        target.scroll_into_view_if_needed()
        before = top(target)

        held.answer()
        expect(box).not_to_have_attribute("aria-busy", "true")
        rows = box.locator(row_selector)
        expect(rows).to_have_count(2)
        assert abs(top(target) - before) <= STILL_PX, (page_name, before, top(target))
        shown = rows.filter(visible=True).count()
        if shown < 2:
            more = box.get_by_role("button", name=f"显示其余{2 - shown}位家人")
            expect(more).to_be_visible()
        assert_elderly_and_narrow(page, f"{page_name} with {shown} of 2 relatives shown")
        keep_screenshot(page, f"registry-held-place-{path.strip('/').removesuffix('.html')}")
        if shown < 2:
            more.click()
            expect(rows.filter(visible=True)).to_have_count(2)
        held.release()
