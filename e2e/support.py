"""Helpers for the journeys: the live server, API look-ups, axe-core and touch-target checks."""

from __future__ import annotations

import contextlib
import http.client
import io
import json
import os
import re
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import axe_playwright_python
import zxingcpp
from PIL import Image
from playwright.sync_api import Page, expect

from huiminbao.core.config import PORT_SETTING_PREFIXES
from huiminbao.core.crypto import FIELD_KEYS_ENV, INDEX_KEY_ENV

REPO_ROOT = Path(__file__).resolve().parents[1]
# Screenshots go here (E2E_ARTIFACTS_DIR moves them, e.g. out of pytest-playwright's --output).
ARTIFACTS_DIR = Path(os.environ.get("E2E_ARTIFACTS_DIR") or REPO_ROOT / "test-results")
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]
LOCAL_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})
SERVER_START_TIMEOUT_S = 30.0

AXE_SCRIPT = (Path(axe_playwright_python.__file__).parent / "axe.min.js").read_text(
    encoding="utf-8"
)
WCAG_A_AA = ("wcag2a", "wcag2aa")


# ------------------------------------------------------------------------------ live server


@dataclass
class LiveServer:
    base_url: str
    process: subprocess.Popen[bytes]
    workdir: Path
    # The keys of personal data the server seals with: a command or in-process service run
    # against its database must use the same ones (stand-in runs use their own keys).
    keys_env: dict[str, str] = field(default_factory=dict)

    @property
    def stdout_path(self) -> Path:
        return self.workdir / "server.stdout.log"

    @property
    def stderr_path(self) -> Path:
        return self.workdir / "server.stderr.log"

    def output(self, limit: int = 6000) -> str:
        parts = []
        for path in (self.stderr_path, self.stdout_path):
            text = path.read_text(encoding="utf-8", errors="replace") if path.exists() else ""
            parts.append(f"--- {path.name} (last {limit} chars) ---\n{text[-limit:]}")
        return "\n".join(parts)


def database_path(workdir: Path) -> Path:
    return workdir / "e2e.sqlite3"


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _server_env(database: Path, ports_env: dict[str, str] | None) -> dict[str, str]:
    env = {name: value for name, value in os.environ.items()
           if not name.startswith(PORT_SETTING_PREFIXES)}
    env.update(ports_env or {})
    env.pop("REDIS_URL", None)  # the embedded in-process stores: nothing shared between runs
    env.pop("HUIMINBAO_NOW", None)
    env.update({
        "DATABASE_URL": f"sqlite:///{database}",
        "HUIMINBAO_MODE": "demo",
        "PYTHONUNBUFFERED": "1",
        "PYTHONPATH": os.pathsep.join(
            filter(None, [str(REPO_ROOT / "backend"), env.get("PYTHONPATH")])
        ),
    })
    return env


_demo_template: Path | None = None


def _demo_database_template() -> Path:
    """The demo database (migrated, demo city loaded) built once per test run: each server
    starts from a copy rather than running every migration and the demo load again. ``serve``
    still upgrades and loads on start, which on a copy finds nothing to do."""
    global _demo_template
    if _demo_template is None:
        workdir = Path(tempfile.mkdtemp(prefix="e2e-demo-template-"))
        template = database_path(workdir)
        subprocess.run([sys.executable, "-m", "huiminbao.cli", "demo-data"], cwd=REPO_ROOT,
                       env=_server_env(template, None), check=True, capture_output=True)
        _demo_template = template
    return _demo_template


def _copy_database(source: Path, target: Path) -> None:
    # SQLite's backup API copies a consistent image (a plain file copy could miss a WAL).
    with contextlib.closing(sqlite3.connect(source)) as src, \
            contextlib.closing(sqlite3.connect(target)) as dst:
        src.backup(dst)


def start_server(workdir: Path, *, port: int | None = None,
                 ports_env: dict[str, str] | None = None) -> LiveServer:
    """``huiminbao serve`` in demo mode on a fresh SQLite file (``database_path``); returns once
    /health answers 200. ``ports_env`` wires ports to real services (``huiminbao.standins``)
    instead of the in-process simulators; those seal personal data with their own keys, so they
    start from an empty file rather than the demo template."""
    port = port or free_port()
    database = database_path(workdir)
    if not ports_env and not database.exists():
        _copy_database(_demo_database_template(), database)
    env = _server_env(database, ports_env)
    command = [sys.executable, "-m", "huiminbao.cli", "serve",
               "--host", "127.0.0.1", "--port", str(port)]
    with (workdir / "server.stdout.log").open("wb") as out, \
            (workdir / "server.stderr.log").open("wb") as err:
        process = subprocess.Popen(command, cwd=REPO_ROOT, env=env, stdout=out, stderr=err)
    server = LiveServer(base_url=f"http://127.0.0.1:{port}", process=process, workdir=workdir,
                        keys_env={name: env[name] for name in (FIELD_KEYS_ENV, INDEX_KEY_ENV)
                                  if name in env})
    # The server's JSON logs join the session's scan for full ID numbers and phone numbers.
    from tests.log_scan import watch_log_file

    watch_log_file(workdir / "server.stderr.log")
    watch_log_file(workdir / "server.stdout.log")
    try:
        _wait_until_healthy(server)
    except BaseException:
        stop_server(server)
        raise
    return server


def _wait_until_healthy(server: LiveServer) -> None:
    deadline = time.monotonic() + SERVER_START_TIMEOUT_S
    last_problem = "no answer yet"
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            raise RuntimeError(
                f"the server exited with code {server.process.returncode} before it was healthy\n"
                + server.output()
            )
        try:
            status, _ = http_get(server.base_url, "/api/v1/health", timeout=2)
        except OSError as exc:
            last_problem = repr(exc)
        else:
            if status == 200:
                return
            last_problem = f"/api/v1/health answered {status}"
        time.sleep(0.2)
    raise RuntimeError(
        f"the server was not healthy within {SERVER_START_TIMEOUT_S:.0f}s ({last_problem})\n"
        + server.output()
    )


def stop_server(server: LiveServer) -> None:
    if server.process.poll() is not None:
        return
    server.process.send_signal(signal.SIGTERM)
    try:
        server.process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        server.process.kill()
        server.process.wait(timeout=5)


def http_get(base_url: str, path: str, *, timeout: float = 10) -> tuple[int, Any]:
    """GET a path on the live server; returns (status, parsed JSON or None)."""
    parts = urlsplit(base_url)
    if parts.hostname not in LOCAL_HOSTS:
        raise ValueError(f"e2e requests stay on this machine, not {parts.hostname}")
    connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=timeout)
    try:
        connection.request("GET", path, headers={"Accept": "application/json"})
        response = connection.getresponse()
        body = response.read()
        is_json = "json" in (response.getheader("Content-Type") or "")
        return response.status, json.loads(body) if is_json and body else None
    finally:
        connection.close()


def api_json(base_url: str, path: str) -> Any:
    status, body = http_get(base_url, path)
    assert status == 200, f"GET {path} answered {status}: {body}"
    return body


# ------------------------------------------------------------------------------ screenshots


def keep_screenshot(page: Page, name: str) -> Path:
    """A full-page screenshot kept as ``test-results/<name>.png`` (scrolled to the top first, so
    the sticky header is drawn where a person sees it)."""
    ARTIFACTS_DIR.mkdir(parents=True, exist_ok=True)
    safe_name = re.sub(r"[^\w.-]+", "_", name).strip("_")
    path = ARTIFACTS_DIR / f"{safe_name}.png"
    page.evaluate("() => window.scrollTo(0, 0)")
    page.screenshot(path=path, full_page=True)
    return path


# ------------------------------------------------------------------------------ axe-core


def axe_violations(page: Page, tags: tuple[str, ...] = WCAG_A_AA) -> list[dict[str, Any]]:
    """Run axe-core (shipped by axe-playwright-python) on the page, limited to ``tags``."""
    if not page.evaluate("() => typeof window.axe === 'object'"):
        page.evaluate(AXE_SCRIPT)
    options = {"runOnly": {"type": "tag", "values": list(tags)}, "resultTypes": ["violations"]}
    violations: list[dict[str, Any]] = page.evaluate(
        "(options) => window.axe.run(document, options).then((results) => results.violations)",
        options,
    )
    return violations


def format_violations(violations: list[dict[str, Any]]) -> str:
    lines = []
    for violation in violations:
        lines.append(f"[{violation['impact']}] {violation['id']}: {violation['help']}"
                     f" ({violation['helpUrl']})")
        for node in violation["nodes"]:
            lines.append(f"    target {node['target']}: {node.get('failureSummary', '')!s}"
                         .replace("\n", " | "))
    return "\n".join(lines)


def assert_no_axe_violations(page: Page, label: str = "") -> None:
    violations = axe_violations(page)
    message = f"axe found {len(violations)} WCAG 2 A/AA violation(s) {label}:\n"
    assert not violations, message + format_violations(violations)


# ------------------------------------------------------------------------------ sizes

TOUCH_TARGETS = (
    "a[href], button, summary, input:not([type=hidden]), select, textarea, [role=button]"
)


def small_touch_targets(page: Page, minimum: float) -> list[str]:
    """Every visible interactive element whose box is smaller than ``minimum`` CSS px."""
    problems = []
    targets = page.locator(TOUCH_TARGETS)
    for index in range(targets.count()):
        target = targets.nth(index)
        if not target.is_visible():
            continue
        box = target.bounding_box()
        assert box is not None
        if box["width"] < minimum or box["height"] < minimum:
            description = target.evaluate(
                "(el) => el.tagName.toLowerCase() + ' ' + JSON.stringify(el.textContent.trim())"
            )
            problems.append(f"{description}: {box['width']:.0f}×{box['height']:.0f}")
    return problems


def body_font_size(page: Page) -> float:
    size: str = page.evaluate("() => getComputedStyle(document.body).fontSize")
    assert size.endswith("px"), size
    return float(size[:-2])


# ------------------------------------------------------------------------------ signing in

DEMO_CONSENT_TITLES = ("个人信息处理告知同意书", "敏感个人信息单独同意书")
_CODE_IN_SMS = re.compile(r"验证码为(\d{6})")


def sms_code(base_url: str, phone: str) -> str:
    """The newest login code texted to ``phone`` (demo outbox: GET /api/v1/dev/sms)."""
    outbox = api_json(base_url, f"/api/v1/dev/sms?phone={phone}")
    for item in outbox["items"]:  # newest first
        match = _CODE_IN_SMS.search(item["text"])
        if match:
            return match.group(1)
    raise AssertionError(f"no login code in the outbox of {phone}: {outbox}")


def request_code(page: Page, phone: str) -> None:
    """On the login page: type the phone number and press 获取验证码 (waits for 已发送)."""
    page.get_by_label("手机号码").fill(phone)
    page.get_by_role("button", name="获取验证码").click()
    expect(page.get_by_text("验证码已发送至")).to_be_visible()


AGREEMENT_BOX = "我已阅读并同意《用户协议》和《隐私政策》"


def agree_to_terms(page: Page) -> None:
    """On the login page: tick 用户协议 and 隐私政策 (a first login needs them)."""
    page.get_by_label(AGREEMENT_BOX).check()


def log_in(page: Page, base_url: str, phone: str, *, path: str = "/login.html") -> None:
    """Log in as a person does: open the login page, get a code, type it, tick the agreements,
    press 登录. Returns once the page has left the login page."""
    page.goto(path)
    request_code(page, phone)
    page.get_by_label("短信验证码").fill(sms_code(base_url, phone))
    agree_to_terms(page)
    page.get_by_role("button", name="登录", exact=True).click()
    page.wait_for_url(lambda url: "/login" not in url)


def bind_identity(page: Page, name: str, id_number: str) -> None:
    """On the 实名认证 page: type name and ID number, tick both consents, press 提交认证."""
    page.get_by_label("姓名").fill(name)
    page.get_by_label("身份证号码").fill(id_number)
    for title in DEMO_CONSENT_TITLES:
        page.get_by_label(f"我已阅读并同意《{title}》").check()
    page.get_by_role("button", name="提交认证").click()


def sign_up(page: Page, base_url: str, phone: str, name: str, id_number: str) -> None:
    """A first visit: log in with a code, then 实名认证 with name and ID number (ends on 我的)."""
    log_in(page, base_url, phone)
    expect(page).to_have_url(re.compile(r"/bind\.html"))
    bind_identity(page, name, id_number)
    expect(page).to_have_url(re.compile(r"/me\.html$"))


# The owner's debit code names the amount and the insured.
_PAYMENT_CODE_IN_SMS = re.compile(r"确认使用医保个人账户支付[^，]*，验证码(\d{6})")


def payment_sms_code(base_url: str, phone: str) -> str:
    """The newest code texted to confirm a personal-account debit."""
    outbox = api_json(base_url, f"/api/v1/dev/sms?phone={phone}")
    for item in outbox["items"]:
        match = _PAYMENT_CODE_IN_SMS.search(item["text"])
        if match:
            return match.group(1)
    raise AssertionError(f"no payment code in the outbox of {phone}: {outbox}")


def http_put_json(base_url: str, path: str, body: Any, *, timeout: float = 10) -> tuple[int, Any]:
    """PUT JSON to the live server without any session (the demo-only /dev endpoints)."""
    parts = urlsplit(base_url)
    if parts.hostname not in LOCAL_HOSTS:
        raise ValueError(f"e2e requests stay on this machine, not {parts.hostname}")
    connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=timeout)
    try:
        connection.request("PUT", path, body=json.dumps(body),
                           headers={"Content-Type": "application/json",
                                    "Accept": "application/json"})
        response = connection.getresponse()
        data = response.read()
        is_json = "json" in (response.getheader("Content-Type") or "")
        return response.status, json.loads(data) if is_json and data else None
    finally:
        connection.close()


# ------------------------------------------------------------------------------ taps

# Counts real taps (trusted clicks: Playwright's clicks and checks are trusted, the click a <label>
# passes on to its input is not) in this tab's sessionStorage, so the count survives navigation.
TAP_COUNTER = """
(() => {
  document.addEventListener("click", (event) => {
    if (!event.isTrusted) return;
    const seen = Number(sessionStorage.getItem("e2e.taps") || 0);
    sessionStorage.setItem("e2e.taps", String(seen + 1));
  }, true);
})();
"""


def reset_taps(page: Page) -> None:
    page.evaluate("() => sessionStorage.setItem('e2e.taps', '0')")


def taps(page: Page) -> int:
    count: int = page.evaluate("() => Number(sessionStorage.getItem('e2e.taps') || 0)")
    return count


# ------------------------------------------------------------------------------ QR codes


def decode_qr(png: bytes) -> str:
    """The text of the one QR code in a PNG image (zxing-cpp)."""
    image = Image.open(io.BytesIO(png)).convert("RGB")
    results = zxingcpp.read_barcodes(image, formats=zxingcpp.BarcodeFormat.QRCode)
    assert len(results) == 1, f"expected one QR code, found {len(results)}"
    text: str = results[0].text
    return text
