"""家人 holds still while the registry's relatives load: in 长辈模式 on a 320 px screen, 张伟
scrolls to 添加其他家人 while 医保 is slow to answer; when the list arrives (or 医保 fails), the
form, and 子女 under his finger, stay exactly where they were. His four relatives do not all fit
the place held for them: two show, the others behind 显示其余2位家人, a move he asks for. When
医保 answers before the family list, all four are drawn in the first paint, nothing held.

为家人投保 and 申请代办 hold their place alike for 张建国 (wife and son in the registry): what
he taps next below the list stays put when it arrives or 医保 fails, and nothing is held when
医保 answers at once. On all three pages relatives with long or rare names (fifteen
characters, 䶮, 𫖮) wrap within their rows, nothing cut off or wider than the screen; and a
phone turned sideways while 医保 is slow keeps the next step where it was, reachable.

The registry's answer is held back in the browser until the test lets it through, so "slow" is
as slow as needed, on any machine; the names are written into it there, not into the demo data.
Places are measured on the page, not on the screen (see ``top``)."""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import pytest
from playwright.sync_api import Locator, Page, Route, expect

from e2e.proxy_support import elderly_problems
from e2e.support import assert_no_axe_violations, keep_screenshot, sign_up
from e2e.test_console import api_session
from huiminbao.core.api import REMOTE_UNAVAILABLE_MESSAGE
from huiminbao.core.masking import mask_name

pytestmark = pytest.mark.e2e

ELDERLY = "localStorage.setItem('huiminbao.mode', 'elderly')"
ZHANG_WEI = ("13800000001", "张伟", "330106198803150130")
ZHANG_JIANGUO = ("13800000004", "张建国", "330102195802100458")
REGISTRY_PATH = "/api/v1/me/family/from-registry"
REGISTRY = f"**{REGISTRY_PATH}"
FAMILY = "**/api/v1/me/family"
NARROW = {"width": 320, "height": 640}
LANDSCAPE = {"width": NARROW["height"], "height": NARROW["width"]}
# Sub-pixel rounding only: the form must not move at all.
STILL_PX = 0.5
# 张建国's relatives in the registry: his wife and his son.
RELATIVES = 2
# Names as the registry's list shows them (masked: first and last character kept), as long or as
# rare as names come: a Uyghur name of fifteen characters, and one that begins and ends beyond the
# basic CJK block (䶮, Extension A; 𫖮, Extension E, a UTF-16 surrogate pair).
LONG_NAMES = (mask_name("玉苏甫江·阿卜杜热西提·买买提"), mask_name("䶮晓𫖮"))


@dataclass(frozen=True)
class RegistryPage:
    """A page listing the registry's relatives: the box the list loads into (its place held,
    _layouts/registry-reserve.html), one relative's row in it, and what is tapped next below."""

    path: str
    box: str
    row: str
    tapped_next: Callable[[Page], Locator]


FAMILY_PAGE = RegistryPage(
    "/family.html", "#registry-box", "[data-relative]",
    lambda page: page.locator("#add-form").get_by_role("radio", name="子女", exact=True))
# The other pages that read the registry's relatives hold their place the same way
# (family-picks.js).
HELD_ELSEWHERE = {
    "为家人投保": RegistryPage(
        "/family-enroll.html", "#fe-registry", "[data-registry]",
        lambda page: page.get_by_role("group", name="支付方式").get_by_role("radio").first),
    "申请代办": RegistryPage(
        "/proxy-new.html", "#principal-box", "[data-choice]:not([data-choice=other])",
        lambda page: page.get_by_label("家人姓名")),
}
REGISTRY_PAGES = {"家人": FAMILY_PAGE, **HELD_ELSEWHERE}


class HeldRegistry:
    """The page's GET /me/family/from-registry, kept waiting until ``answer`` or ``fail``; with
    ``names``, the answer names the relatives so (in the registry's order), the demo data's
    names being short and common."""

    def __init__(self, page: Page, names: Sequence[str] = ()) -> None:
        self.page = page
        self.names = names
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
        route = self.routes.pop(0)
        if not self.names:
            route.fallback()
            return
        response = route.fetch()
        answer: dict[str, Any] = response.json()
        assert len(answer["items"]) == len(self.names), answer
        for relative, name in zip(answer["items"], self.names, strict=True):
            relative["name"] = name
        route.fulfill(response=response, json=answer)

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
    """Where ``locator`` is on the page, not on the screen: Chromium scrolls to make up for a
    shift above what is on screen (scroll anchoring), which would hide the shift that Safari and
    iOS's WebViews, without it, show under the finger."""
    place = locator.evaluate("(el) => el.getClientRects().length"
                             " ? el.getBoundingClientRect().top + window.scrollY : null")
    assert place is not None, "not on screen"
    return float(place)


def assert_no_place_held(box: Locator) -> None:
    """The list came in time for the first paint: the place held for it takes no room (not just
    unseen, as it is once a late list has come into it)."""
    reserve = box.locator(".registry-box__reserve")
    expect(reserve).to_have_count(1)
    assert reserve.evaluate("(el) => el.getClientRects().length") == 0, "a place is held"


# The lines a name is drawn on in its row, each wholly inside the row, inside anything that would
# clip it (overflow other than visible) and inside the screen's width: nothing cut off or hidden.
_NAME_LINES = """
(row, name) => {
  const walker = document.createTreeWalker(row, NodeFilter.SHOW_TEXT);
  let node = walker.nextNode();
  while (node && !node.data.includes(name)) node = walker.nextNode();
  if (!node) return { missing: row.textContent };
  const range = document.createRange();
  range.setStart(node, node.data.indexOf(name));
  range.setEnd(node, node.data.indexOf(name) + name.length);
  const lines = [...range.getClientRects()].filter((rect) => rect.width > 0);
  const bounds = [["row", row.getBoundingClientRect()], ["screen",
    { left: 0, right: document.documentElement.clientWidth, top: -Infinity, bottom: Infinity }]];
  for (let el = node.parentElement; el && el !== document.body; el = el.parentElement) {
    const style = getComputedStyle(el);
    if (style.overflowX !== "visible" || style.overflowY !== "visible") {
      bounds.push([`${el.tagName.toLowerCase()}.${el.className}`, el.getBoundingClientRect()]);
    }
  }
  const out = [];
  for (const line of lines) {
    for (const [what, box] of bounds) {
      if (line.left < box.left - 0.5 || line.right > box.right + 0.5
          || line.top < box.top - 0.5 || line.bottom > box.bottom + 0.5) {
        out.push(`${what}: line ${JSON.stringify(line)} outside ${JSON.stringify(box)}`);
      }
    }
  }
  return { lines: new Set(lines.map((line) => Math.round(line.top))).size, out };
}
"""


def name_lines(row: Locator, name: str) -> int:
    """How many lines ``name`` takes in ``row``; fails if any of it is cut off."""
    found = row.evaluate(_NAME_LINES, name)
    assert "missing" not in found, f"{name} is not in {found.get('missing')!r}"
    assert not found["out"], f"{name} is clipped: {found['out']}"
    lines: int = found["lines"]
    return lines


def assert_reachable(target: Locator) -> None:
    """On screen as it is, and a tap at its middle lands on it (or its label), not on a sticky
    header or anything else drawn over it."""
    expect(target).to_be_in_viewport(ratio=1)
    assert target.evaluate("""(el) => {
      const box = el.getBoundingClientRect();
      const hit = document.elementFromPoint(box.x + box.width / 2, box.y + box.height / 2);
      return el.contains(hit) || [...(el.labels || [])].some((label) => label.contains(hit));
    }"""), "something is drawn over it"


def assert_no_sideways_scroll(page: Page) -> None:
    widths = page.evaluate("() => [document.documentElement.scrollWidth,"
                           " document.documentElement.clientWidth]")
    assert widths[0] <= widths[1], f"sideways scroll: {widths}"


@pytest.fixture(scope="module")
def zhang_jianguo_cookies(base_url: str) -> dict[str, str]:
    """张建国 (wife and son in the registry) signed up once for the module, through the API: a
    second login code for one phone waits a minute. His session cookies."""
    phone, name, id_number = ZHANG_JIANGUO
    session = api_session(base_url, phone, bind=(name, id_number))
    return {cookie.name: cookie.value or "" for cookie in session.cookies}


@pytest.fixture
def zhang_jianguo(narrow_elderly_page: Page, base_url: str,
                  zhang_jianguo_cookies: dict[str, str]) -> Page:
    narrow_elderly_page.context.add_cookies([
        {"name": name, "value": value, "url": base_url}
        for name, value in zhang_jianguo_cookies.items()])
    return narrow_elderly_page


def open_with_registry_held(page: Page, where: RegistryPage, names: Sequence[str] = ()
                            ) -> tuple[HeldRegistry, Locator, Locator]:
    """``where`` with the registry's answer held (the place held for it on screen): the held
    answer, the box, and what is tapped next, scrolled to under the finger (measure before
    anything else scrolls: axe and screenshots do)."""
    held = HeldRegistry(page, names)
    page.goto(where.path)
    target = where.tapped_next(page)
    expect(target).to_be_visible()
    held.wait_for_request()
    box = page.locator(where.box)
    expect(box).to_have_attribute("aria-busy", "true")
    expect(box).to_contain_text("正在读取医保登记的家人")
    target.scroll_into_view_if_needed()
    return held, box, target


def assert_still(target: Locator, before: float, label: str) -> None:
    assert abs(top(target) - before) <= STILL_PX, (label, before, top(target))


def show_all(box: Locator, rows: Locator, count: int) -> None:
    """The relatives that wait behind 显示其余N位家人, shown (the person's own tap)."""
    shown = rows.filter(visible=True).count()
    if shown < count:
        box.get_by_role("button", name=f"显示其余{count - shown}位家人").click()
    expect(rows.filter(visible=True)).to_have_count(count)


def assert_elderly_and_narrow(page: Page, label: str) -> None:
    expect(page.locator("html")).to_have_attribute("data-mode", "elderly")
    problems = elderly_problems(page)
    assert not problems, f"长辈模式 {label}: {problems}"
    assert_no_sideways_scroll(page)
    assert_no_axe_violations(page, label)


def test_the_form_stays_under_the_finger_while_the_registry_is_slow(
    narrow_elderly_page: Page, base_url: str
) -> None:
    page = narrow_elderly_page
    sign_up(page, base_url, *ZHANG_WEI)
    held, _, child = open_with_registry_held(page, FAMILY_PAGE)
    form = page.locator("#add-form")
    registry = page.get_by_role("region", name="从医保登记的家人中选择")
    assert_elderly_and_narrow(page, "while the registry is slow")
    keep_screenshot(page, "family-registry-loading")  # scrolls to the top
    child.scroll_into_view_if_needed()
    form_before, child_before = top(form), top(child)

    held.answer()
    expect(page.locator("#registry-box")).not_to_have_attribute("aria-busy", "true")
    rows = registry.locator("[data-relative]")
    expect(rows).to_have_count(4)
    assert_still(form, form_before, "the form")
    assert_still(child, child_before, "子女")
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
    held, _, child = open_with_registry_held(page, FAMILY_PAGE)
    form_before, child_before = top(form), top(child)
    held.fail()
    expect(registry.locator("[data-registry-note=error]")).to_contain_text(
        REMOTE_UNAVAILABLE_MESSAGE)
    expect(page.locator("#registry-box")).not_to_have_attribute("aria-busy", "true")
    assert_still(form, form_before, "the form with 医保 unavailable")
    assert_still(child, child_before, "子女 with 医保 unavailable")
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
    assert_no_place_held(page.locator("#registry-box"))
    expect(registry.get_by_role("button", name="显示其余2位家人")).to_have_count(0)


@pytest.mark.parametrize("page_name", HELD_ELSEWHERE)
def test_what_is_tapped_next_stays_put_on_the_other_pages_while_the_registry_is_slow(
    zhang_jianguo: Page, page_name: str
) -> None:
    page, where = zhang_jianguo, HELD_ELSEWHERE[page_name]
    held, box, target = open_with_registry_held(page, where)
    assert_elderly_and_narrow(page, f"{page_name} while the registry is slow")
    target.scroll_into_view_if_needed()
    before = top(target)

    held.answer()
    expect(box).not_to_have_attribute("aria-busy", "true")
    rows = box.locator(where.row)
    expect(rows).to_have_count(RELATIVES)
    assert_still(target, before, page_name)
    shown = rows.filter(visible=True).count()
    if shown < RELATIVES:
        expect(box.get_by_role("button", name=f"显示其余{RELATIVES - shown}位家人")).to_be_visible()
    assert_elderly_and_narrow(page, f"{page_name} with {shown} of {RELATIVES} relatives shown")
    keep_screenshot(page, f"registry-held-place-{where.path.strip('/').removesuffix('.html')}")
    show_all(box, rows, RELATIVES)
    held.release()

    # 医保 fails after a while: its words take the list's place, and nothing below moves.
    held, box, target = open_with_registry_held(page, where)
    before = top(target)
    held.fail()
    expect(box.locator("[data-registry-note=error]")).to_contain_text(REMOTE_UNAVAILABLE_MESSAGE)
    expect(box).not_to_have_attribute("aria-busy", "true")
    assert_still(target, before, f"{page_name} with 医保 unavailable")
    assert_elderly_and_narrow(page, f"{page_name} with 医保 unavailable")
    held.release()

    # 医保 answers at once (from an answer read beforehand: no server time, well within the
    # page's grace): the whole list is in the first paint, and no place is held.
    answer = page.request.get(REGISTRY_PATH).json()
    page.route(REGISTRY, lambda route: route.fulfill(json=answer))
    page.goto(where.path)
    expect(box).not_to_have_attribute("aria-busy", "true")
    expect(rows.filter(visible=True)).to_have_count(RELATIVES)
    assert_no_place_held(box)
    expect(box.get_by_role("button", name=re.compile("^显示其余"))).to_have_count(0)
    page.unroute(REGISTRY)


@pytest.mark.parametrize("page_name", REGISTRY_PAGES)
def test_long_and_rare_names_wrap_and_the_page_turns_while_the_registry_is_slow(
    zhang_jianguo: Page, page_name: str
) -> None:
    page, where = zhang_jianguo, REGISTRY_PAGES[page_name]
    held, box, target = open_with_registry_held(page, where, LONG_NAMES)
    before = top(target)
    held.answer()
    expect(box).not_to_have_attribute("aria-busy", "true")
    assert_still(target, before, f"{page_name} with long names")
    rows = box.locator(where.row)
    show_all(box, rows, RELATIVES)
    lines = [name_lines(row, name) for row, name in zip(rows.all(), LONG_NAMES, strict=True)]
    assert lines[0] >= 2, f"{LONG_NAMES[0]} fits one line at 320 px: the wrap is not tested"
    assert_elderly_and_narrow(page, f"{page_name} with long names")
    keep_screenshot(page, f"registry-long-names-{where.path.strip('/').removesuffix('.html')}")
    held.release()

    # Turned sideways while 医保 is slow: the person finds the next step again, the list
    # arrives, and it stays under the finger, reachable; nothing is wider than the screen.
    held, box, target = open_with_registry_held(page, where, LONG_NAMES)
    page.set_viewport_size(LANDSCAPE)
    assert_no_sideways_scroll(page)
    target.scroll_into_view_if_needed()
    before = top(target)
    held.answer()
    expect(box).not_to_have_attribute("aria-busy", "true")
    assert_still(target, before, f"{page_name} turned")
    assert_reachable(target)
    show_all(box, rows, RELATIVES)
    for row, name in zip(rows.all(), LONG_NAMES, strict=True):
        name_lines(row, name)
    assert_elderly_and_narrow(page, f"{page_name} turned, with long names")
    held.release()
