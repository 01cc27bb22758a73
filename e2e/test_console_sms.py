"""短信发送状态 in the console: an administrator sees each text's state in words — queued while
no worker has run, sent once ``huiminbao worker`` has delivered it — with the phone masked and
no text shown (a text may hold a one-time code); on an iPhone-sized screen, passing axe."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect

from e2e.support import LiveServer, assert_no_axe_violations, keep_screenshot
from e2e.test_console import cli, create_staff, staff_log_in

pytestmark = pytest.mark.e2e

ADMIN_PHONE = "13700000031"


def test_an_administrator_sees_each_text_queued_then_sent(
    page: Page, base_url: str, live_server: LiveServer
) -> None:
    create_staff(live_server, ADMIN_PHONE, "admin", "管理员丁")
    staff_log_in(page, base_url, ADMIN_PHONE, "/admin/")

    page.locator("#console-tasks").get_by_role("link", name="短信发送状态").click()
    expect(page).to_have_url(re.compile(r"/admin/sms\.html$"))
    expect(page.get_by_role("heading", level=1, name="短信发送状态")).to_be_visible()
    # Her own login code: waiting for a worker (demo mode runs none), in words, phone masked.
    code_row = page.locator("tr[data-status=queued]").filter(has_text="登录验证码").first
    expect(code_row).to_contain_text("待发送")
    expect(code_row).to_contain_text("137****0031")
    body = page.locator("body").inner_text()
    assert ADMIN_PHONE not in body and "验证码为" not in body
    assert_no_axe_violations(page, "on 短信发送状态 (queued)")

    assert "已发送 " in cli(live_server, "worker", "--once")  # the demo's simulated provider
    page.reload()
    sent_row = page.locator("tr[data-status=sent]").filter(has_text="登录验证码").first
    expect(sent_row).to_contain_text("已发送")
    expect(page.locator("tr[data-status=queued]")).to_have_count(0)
    assert_no_axe_violations(page, "on 短信发送状态 (sent)")
    keep_screenshot(page, "console-sms")
