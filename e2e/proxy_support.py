"""Helpers for the 家人代办 and 长辈模式 journeys (test_proxy_*.py, test_elderly_*.py): staff
accounts and hospital clients on the live server's database, the demo clock, the codes texted for
a grant, a desktop browser for counter staff, and the 适老化 measurements."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from typing import Any

from playwright.sync_api import Browser, BrowserContext, Page

from e2e.support import LiveServer, api_json, http_put_json, small_touch_targets

# ------------------------------------------------------------------------------ the live server


@contextmanager
def wired(server: LiveServer) -> Iterator[Any]:
    """The application's services on the live server's database, in this process: what the
    ``huiminbao staff create`` / ``huiminbao clients create`` commands do, without paying for a
    second interpreter start on every call."""
    from huiminbao.app import build_container
    from huiminbao.core.config import Settings

    settings = Settings.from_env({
        **server.keys_env,
        "DATABASE_URL": f"sqlite:///{server.workdir / 'e2e.sqlite3'}", "HUIMINBAO_MODE": "demo",
    })
    container = build_container(settings)
    try:
        yield container
    finally:
        container.db.dispose()


def create_staff(server: LiveServer, phone: str, role: str, name: str) -> None:
    """A staff account (the service behind ``huiminbao staff create``); it logs in by SMS."""
    from huiminbao.identity.domain import Role
    from huiminbao.identity.services import create_staff as create

    with wired(server) as container:
        create(container, phone, Role(role), name)


def create_hospital(server: LiveServer, name: str) -> tuple[str, str]:
    """A hospital's settlement credentials (``huiminbao clients create --kind hospital``):
    (client id, signing key)."""
    from huiminbao.claims.clients import create_client

    with wired(server) as container:
        issued = create_client(container, "hospital", name)
    return issued.client_id, issued.signing_key


def clock_now(base_url: str) -> datetime:
    return datetime.fromisoformat(api_json(base_url, "/api/v1/dev/clock")["now"])


def move_clock(base_url: str, delta: timedelta) -> datetime:
    """Move the demo clock by ``delta`` (it keeps running from there)."""
    target = clock_now(base_url) + delta
    status, body = http_put_json(base_url, "/api/v1/dev/clock", {"now": target.isoformat()})
    assert status == 200, body
    return datetime.fromisoformat(body["now"])


def latest_text(base_url: str, phone: str, contains: str) -> str:
    """The newest SMS to ``phone`` containing ``contains`` (demo outbox)."""
    for item in api_json(base_url, f"/api/v1/dev/sms?phone={phone}")["items"]:
        if contains in item["text"]:
            text: str = item["text"]
            return text
    raise AssertionError(f"no SMS with {contains!r} to {phone}")


def grant_sms_code(base_url: str, phone: str) -> str:
    """The code texted to a principal so that they can read it out to their agent."""
    text = latest_text(base_url, phone, "代您办理惠民保业务，验证码")
    return text.split("验证码", 1)[1][:6]


# ------------------------------------------------------------------------------ browsers


def desktop_context(browser: Browser, base_url: str) -> BrowserContext:
    """A desktop browser (counter staff work at a PC), not the iPhone of the other journeys.
    The caller closes it."""
    return browser.new_context(
        base_url=base_url, locale="zh-CN", timezone_id="Asia/Shanghai",
        viewport={"width": 1280, "height": 900}, device_scale_factor=1,
    )


def watch_errors(page: Page) -> list[str]:
    """Uncaught errors in a page opened outside the ``page`` fixture (check it at the end)."""
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    return errors


# ------------------------------------------------------------------------------ 适老化 (MIIT 2021)

ELDERLY_BODY_MIN_PX = 18.0
ELDERLY_MAIN_MIN_PX = 30.0
ELDERLY_TARGET_MIN_PX = 60.0
ELDERLY_LINE_SPACING_MIN = 1.3

# The main functions of a page: its primary and full-width buttons, the home page's four tiles.
MAIN_FUNCTIONS = ".btn--primary, .btn--block, .elder-home__action"

_TEXT_METRICS = """
(selector) => {
  const out = {text: [], main: []};
  const visible = (el) => {
    if (el.closest('[aria-hidden="true"], .visually-hidden')) return false;
    const box = el.getBoundingClientRect();
    const style = getComputedStyle(el);
    return box.width > 0 && box.height > 0 && style.visibility !== 'hidden';
  };
  const describe = (el) => {
    const classes = typeof el.className === 'string' ? el.className.trim().split(/\\s+/) : [];
    return [el.tagName.toLowerCase(), ...classes.filter(Boolean)].join('.')
      + ' ' + JSON.stringify(el.textContent.trim().slice(0, 30));
  };
  for (const el of document.body.querySelectorAll('*')) {
    const ownText = [...el.childNodes].some((n) => n.nodeType === 3 && n.textContent.trim());
    if (!ownText || !visible(el)) continue;
    if (['SCRIPT', 'STYLE', 'NOSCRIPT', 'OPTION'].includes(el.tagName)) continue;
    const style = getComputedStyle(el);
    const size = parseFloat(style.fontSize);
    const lh = style.lineHeight === 'normal' ? null : parseFloat(style.lineHeight);
    out.text.push({what: describe(el), size, ratio: lh === null ? null : lh / size});
  }
  for (const el of document.querySelectorAll(selector)) {
    if (!visible(el)) continue;
    out.main.push({what: describe(el), size: parseFloat(getComputedStyle(el).fontSize)});
  }
  return out;
}
"""


def elderly_problems(page: Page) -> list[str]:
    """Everything on the page that misses the 适老化 numbers in 长辈模式: text under 18px or with
    line spacing under 1.3, main functions' text under 30px, touch targets under 60×60."""
    metrics = page.evaluate(_TEXT_METRICS, MAIN_FUNCTIONS)
    problems = []
    for item in metrics["text"]:
        if item["size"] < ELDERLY_BODY_MIN_PX - 0.01:
            problems.append(f"text {item['size']:.1f}px < 18px: {item['what']}")
        if item["ratio"] is None or item["ratio"] < ELDERLY_LINE_SPACING_MIN - 0.001:
            ratio = "normal" if item["ratio"] is None else f"{item['ratio']:.2f}"
            problems.append(f"line spacing {ratio} < 1.3: {item['what']}")
    for item in metrics["main"]:
        if item["size"] < ELDERLY_MAIN_MIN_PX - 0.01:
            problems.append(f"main function {item['size']:.1f}px < 30px: {item['what']}")
    problems += [f"target {small}" for small in small_touch_targets(page, ELDERLY_TARGET_MIN_PX)]
    return problems
