"""Helpers for the claim journeys: the server's command line (hospital clients, staff accounts),
the demo clock, signed hospital settlements, API calls from a signed-in page, small real images."""

from __future__ import annotations

import hashlib
import hmac
import http.client
import io
import json
import os
import re
import subprocess
import sys
import uuid
from datetime import date, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

from PIL import Image
from playwright.sync_api import Page, expect

from e2e.support import (
    LOCAL_HOSTS,
    REPO_ROOT,
    LiveServer,
    api_json,
    body_font_size,
    http_put_json,
    sign_up,
    small_touch_targets,
)

HOSPITAL = "杭州市第一人民医院"
# The worked example of the issue: 合规 ¥30,000, 合理 ¥10,000 (HL001), 特药 ¥5,000 (TY001).
WORKED_EXAMPLE: dict[str, Any] = {
    "in_policy_self_pay_fen": 3_000_000,
    "items": [{"code": "HL001", "name": "质子重离子放射治疗", "amount_fen": 1_000_000},
              {"code": "TY001", "name": "信迪利单抗注射液", "amount_fen": 500_000}],
}


# ------------------------------------------------------------------------------ the clock


def demo_product(base_url: str) -> dict[str, Any]:
    items: list[dict[str, Any]] = api_json(base_url, "/api/v1/products")["items"]
    return items[0]


def move_clock(base_url: str, day: date | str, time: str = "10:00:00") -> datetime:
    """Move the demo clock to ``day`` at ``time`` in Hangzhou; returns the server's new now."""
    status, body = http_put_json(base_url, "/api/v1/dev/clock", {"now": f"{day}T{time}+08:00"})
    assert status == 200, body
    return datetime.fromisoformat(body["now"])


def last_enrollment_day(product: dict[str, Any]) -> str:
    """Sign in and enroll on the window's last day: coverage starts the next day, so the stay
    (and the claim) can come three days later while the 7-day session still lives: one login
    code per phone is enough."""
    closes_on: str = product["enrollment"]["closes_on"]
    return closes_on


def coverage_day(product: dict[str, Any], days: int) -> date:
    return date.fromisoformat(product["coverage"]["starts_on"]) + timedelta(days=days)


# ------------------------------------------------------------------------------ the command line


def start_cli(server: LiveServer, *args: str) -> subprocess.Popen[str]:
    """Start ``huiminbao …`` against the live server's database, in the background (importing
    the app takes seconds: the journey goes on meanwhile). ``finish_cli`` collects the output."""
    env = dict(os.environ)
    env.pop("REDIS_URL", None)
    env.pop("HUIMINBAO_NOW", None)
    env.update(server.keys_env)
    env.update({
        "DATABASE_URL": f"sqlite:///{server.workdir / 'e2e.sqlite3'}",
        "HUIMINBAO_MODE": "demo",
        "PYTHONPATH": os.pathsep.join(
            filter(None, [str(REPO_ROOT / "backend"), env.get("PYTHONPATH")])),
    })
    return subprocess.Popen([sys.executable, "-m", "huiminbao.cli", *args], cwd=REPO_ROOT,
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def finish_cli(process: subprocess.Popen[str]) -> str:
    """Wait for a command started with ``start_cli``; returns what it printed."""
    stdout, stderr = process.communicate(timeout=90)
    assert process.returncode == 0, f"{process.args} failed:\n{stdout}\n{stderr}"
    return stdout


def start_hospital(server: LiveServer, name: str = HOSPITAL) -> subprocess.Popen[str]:
    """``huiminbao clients create --kind hospital``: a hospital's settlement-feed credentials."""
    return start_cli(server, "clients", "create", "--kind", "hospital", "--name", name)


def hospital_credentials(process: subprocess.Popen[str]) -> tuple[str, str]:
    """(client id, signing key) from what ``clients create`` printed (the key is shown once)."""
    printed = finish_cli(process)
    client_id = re.search(r"X-Client-Id:\s*(\S+)", printed)
    key = re.search(r"签名密钥[^:：]*[:：]\s*([0-9a-f]{64})", printed)
    assert client_id and key, printed
    return client_id.group(1), key.group(1)


def start_staff(server: LiveServer, phone: str, name: str = "审核员") -> subprocess.Popen[str]:
    """``huiminbao staff create --role insurer_staff``: a reviewer who signs in by SMS code."""
    return start_cli(server, "staff", "create", "--phone", phone, "--role", "insurer_staff",
                     "--name", name)


# ------------------------------------------------------------------------------ settlements


def start_pharmacy(server: LiveServer, code: str, name: str) -> subprocess.Popen[str]:
    """``huiminbao clients create --kind pharmacy``: a designated pharmacy's credentials."""
    return start_cli(server, "clients", "create", "--kind", "pharmacy", "--name", name,
                     "--pharmacy-code", code)


def post_settlement(base_url: str, client_id: str, signing_key: str,
                    body: dict[str, Any], path: str = "/api/v1/settlements"
                    ) -> tuple[int, dict[str, Any]]:
    """POST a settlement signed as the hospital (or pharmacy: ``path``): HMAC-SHA256 over
    ``f"{timestamp}\\n{METHOD}\\n{path}\\n{sha256(body)}"``, timestamped by the server's clock."""
    now = datetime.fromisoformat(api_json(base_url, "/api/v1/dev/clock")["now"])
    timestamp = str(int(now.timestamp()))
    raw = json.dumps(body, ensure_ascii=False).encode()
    message = f"{timestamp}\nPOST\n{path}\n{hashlib.sha256(raw).hexdigest()}"
    signature = hmac.new(signing_key.encode(), message.encode(), hashlib.sha256).hexdigest()
    parts = urlsplit(base_url)
    assert parts.hostname in LOCAL_HOSTS, parts.hostname
    connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=10)
    try:
        connection.request("POST", path, body=raw, headers={
            "Content-Type": "application/json", "Accept": "application/json",
            "X-Client-Id": client_id, "X-Timestamp": timestamp, "X-Signature": signature,
        })
        response = connection.getresponse()
        return response.status, json.loads(response.read() or b"{}")
    finally:
        connection.close()


# ------------------------------------------------------------------------------ a signed-in page


def csrf_token(page: Page) -> str:
    for cookie in page.context.cookies():
        if cookie["name"] == "hmb_csrf":
            return cookie["value"]
    raise AssertionError("no hmb_csrf cookie: not signed in?")


def api_post(page: Page, path: str, body: Any, *, acting_for: int | None = None) -> Any:
    """POST JSON with the page's session cookie (as the page itself would: CSRF token and a fresh
    Idempotency-Key; ``X-Acting-For`` when acting for someone)."""
    headers = {"Content-Type": "application/json", "Accept": "application/json",
               "X-CSRF-Token": csrf_token(page), "Idempotency-Key": str(uuid.uuid4())}
    if acting_for is not None:
        headers["X-Acting-For"] = str(acting_for)
    response = page.request.post(path, data=json.dumps(body), headers=headers)
    assert response.ok, f"POST {path} answered {response.status}: {response.text()}"
    return response.json()


def enrollment_body(product: dict[str, Any], method: str) -> dict[str, Any]:
    confirmations: dict[str, Any] = {"terms_version": product["terms"]["version"],
                                     "not_basic_insurance": True}
    standard = next(t for t in product["tiers"] if t["code"] == "standard")
    if method == "personal_account":
        confirmations["debit_amount_fen"] = standard["premium_fen"]
    return {"product_id": product["id"], "tier": "standard", "payment_method": method,
            "confirmations": confirmations}


def enrolled_online_on_last_day(page: Page, base_url: str, phone: str, name: str,
                                id_number: str) -> dict[str, Any]:
    """Sign up and enroll online (the order, then the payment gateway's own page) on the
    window's last day, so a claim three days into coverage is made in the same session.
    Returns the product."""
    product = demo_product(base_url)
    move_clock(base_url, last_enrollment_day(product))
    sign_up(page, base_url, phone, name, id_number)
    order = api_post(page, "/api/v1/enrollments", enrollment_body(product, "online"))
    page.goto(order["pay_url"])
    page.get_by_role("button", name="确认支付").click()
    expect(page.get_by_role("region", name="参保成功")).to_be_visible(timeout=20_000)
    return product


# ------------------------------------------------------------------------------ documents


def image_bytes(kind: str = "PNG", colour: tuple[int, int, int] = (250, 250, 245)) -> bytes:
    """A small real picture (a PNG or a JPEG made with Pillow): a 'photo' of a receipt."""
    image = Image.new("RGB", (120, 160), colour)
    for y in range(20, 150, 12):  # a few dark "lines of text"
        for x in range(12, 108):
            image.putpixel((x, y), (40, 40, 40))
    out = io.BytesIO()
    image.save(out, format=kind)
    return out.getvalue()


# ------------------------------------------------------------------------------ 长辈模式


def check_elderly(page: Page, label: str) -> None:
    """In 长辈模式: body text ≥ 22.5px and every touch target ≥ 60×60 CSS px."""
    assert page.evaluate("() => document.documentElement.dataset.mode") == "elderly", label
    assert body_font_size(page) >= 22.5, label
    small = small_touch_targets(page, 60)
    assert not small, f"small touch targets in 长辈模式 on {label}: {small}"


def switch_elderly(page: Page, on: bool) -> None:
    toggle = page.locator("header [data-mode-toggle]")
    if (toggle.get_attribute("aria-pressed") == "true") != on:
        toggle.click()
    expect(toggle).to_have_attribute("aria-pressed", "true" if on else "false")
