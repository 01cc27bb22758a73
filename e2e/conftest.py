"""Fixtures for the browser journeys.

- ``live_server`` (per test module): ``python -m huiminbao.cli serve`` in demo mode on a free port
  with a fresh SQLite file in a temporary directory; stopped when the module ends. Its output is
  kept in that directory (server.stdout.log / server.stderr.log) and shown if it fails to start.
- ``base_url``: the live server's address (overrides pytest-playwright's session-wide option).
- Browser: pytest-playwright's fixtures, launching Debian's chromium with the iPhone 13 profile.
- ``context``: every request that would leave the machine is aborted and recorded; a test that
  attempted one fails (``outside_requests`` holds them, ``assert_stayed_local`` checks mid-test).
- ``page``: uncaught page errors fail the test; a full-page screenshot of the journey's last page
  is kept as ``test-results/<test name>.png``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any
from urllib.parse import urlsplit

import pytest
from playwright.sync_api import BrowserContext, ConsoleMessage, Page, Playwright, Route

from e2e.support import (
    CHROMIUM,
    CHROMIUM_ARGS,
    LOCAL_HOSTS,
    LiveServer,
    keep_screenshot,
    start_server,
    stop_server,
)

DEVICE = "iPhone 13"


@pytest.fixture(scope="module")
def live_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    server = start_server(tmp_path_factory.mktemp("e2e-server"))
    yield server
    stop_server(server)


@pytest.fixture(scope="module")
def base_url(live_server: LiveServer) -> str:
    return live_server.base_url


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args: dict[str, Any]) -> dict[str, Any]:
    # Playwright cannot download its own browsers here: drive Debian's chromium.
    return {**browser_type_launch_args, "executable_path": CHROMIUM, "args": CHROMIUM_ARGS}


@pytest.fixture(scope="module")
def browser_context_args(playwright: Playwright, base_url: str) -> dict[str, Any]:
    device = dict(playwright.devices[DEVICE])
    device.pop("default_browser_type", None)  # the profile says webkit; we run it on chromium
    return {**device, "base_url": base_url, "locale": "zh-CN", "timezone_id": "Asia/Shanghai"}


@pytest.fixture
def outside_requests() -> list[str]:
    """URLs the page tried to reach beyond this machine (each one was aborted)."""
    return []


@pytest.fixture
def context(
    new_context: Callable[..., BrowserContext], outside_requests: list[str]
) -> Iterator[BrowserContext]:
    context = new_context()

    def stay_local(route: Route) -> None:
        url = route.request.url
        scheme = urlsplit(url).scheme
        if scheme in {"http", "https", "ws", "wss"} and urlsplit(url).hostname not in LOCAL_HOSTS:
            outside_requests.append(url)
            route.abort("blockedbyclient")
        else:
            route.fallback()

    context.route("**/*", stay_local)
    yield context
    if outside_requests:
        pytest.fail("requests tried to leave the machine:\n" + "\n".join(outside_requests))


@pytest.fixture
def assert_stayed_local(outside_requests: list[str]) -> Callable[[], None]:
    def check() -> None:
        assert not outside_requests, f"requests tried to leave the machine: {outside_requests}"

    return check


@pytest.fixture
def console_messages() -> list[str]:
    return []


@pytest.fixture
def page(
    context: BrowserContext, request: pytest.FixtureRequest, console_messages: list[str]
) -> Iterator[Page]:
    page = context.new_page()
    page_errors: list[str] = []
    page.on("pageerror", lambda error: page_errors.append(str(error)))

    def remember(message: ConsoleMessage) -> None:
        console_messages.append(f"{message.type}: {message.text}")

    page.on("console", remember)
    yield page
    if not page.is_closed():
        keep_screenshot(page, request.node.name)
    if page_errors:
        pytest.fail("uncaught errors in the page:\n" + "\n".join(page_errors))
    # The Content-Security-Policy (core/headers.py) blocks inline code and foreign sources;
    # Chromium reports each refusal on the console. A page the policy breaks fails here.
    refused = [message for message in console_messages if "Content Security Policy" in message]
    if refused:
        pytest.fail("the Content-Security-Policy refused something:\n" + "\n".join(refused))
