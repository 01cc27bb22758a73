"""资金对账 in the console: an administrator opens it from the console home and reads
the latest run of ``huiminbao reconcile`` in words (✓ 账实一致), every run in a table, and an
earlier run's inconsistency listed — on an iPhone-sized screen, passing axe.

The earlier, failed run is written straight into the live server's SQLite file (reconcile on a
fresh demo city finds nothing wrong); the latest run is ``huiminbao reconcile`` itself, run from
the command line against the same database, as the scheduled job does."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from playwright.sync_api import Page, expect
from sqlalchemy import create_engine
from sqlalchemy.orm import Session

from e2e.support import LiveServer, assert_no_axe_violations, keep_screenshot
from e2e.test_console import cli, create_staff, staff_log_in
from huiminbao.enrollment.models import ReconcileRun

pytestmark = pytest.mark.e2e

KEPT_DEBIT = "订单 E20261122000001 已关闭，但个人账户扣款 15000 分既未出单也未退回"


def record_failed_run(server: LiveServer) -> datetime:
    engine = create_engine(f"sqlite:///{server.workdir / 'e2e.sqlite3'}")
    started = datetime.now(UTC) - timedelta(minutes=10)
    try:
        with Session(engine) as session, session.begin():
            session.add(ReconcileRun(
                started_at=started, finished_at=started + timedelta(seconds=2), ok=False,
                settled_orders=0, settled_refunds=0, healed=1, violations=[KEPT_DEBIT]))
    finally:
        engine.dispose()
    return started


def test_an_administrator_reads_the_latest_reconciliation_in_words(
    page: Page, base_url: str, live_server: LiveServer
) -> None:
    failed_at = record_failed_run(live_server).astimezone(ZoneInfo("Asia/Shanghai"))
    assert "账实一致" in cli(live_server, "reconcile")
    create_staff(live_server, "13700000021", "admin", "管理员丙")
    staff_log_in(page, base_url, "13700000021", "/admin/")

    page.locator("#console-tasks").get_by_role("link", name="资金对账").click()
    expect(page).to_have_url(re.compile(r"/admin/reconcile\.html$"))
    expect(page.get_by_role("heading", level=1, name="资金对账")).to_be_visible()
    nav = page.get_by_role("navigation", name="后台功能")
    expect(nav.locator("a[aria-current=page]")).to_have_text("资金对账")

    verdict = page.locator("[data-verdict]")
    expect(verdict).to_have_text("✓账实一致")  # the shape and the words, not colour alone
    expect(verdict).to_have_attribute("data-verdict", "ok")
    expect(page.locator(".reconcile-facts")).to_contain_text("退回到账款项")

    runs = page.get_by_role("region", name=re.compile("最近2次对账"))
    rows = runs.locator("tbody tr")
    expect(rows).to_have_count(2)
    expect(rows.nth(0)).to_have_attribute("data-ok", "true")
    expect(rows.nth(0)).to_contain_text("账实一致")
    expect(rows.nth(1)).to_have_attribute("data-ok", "false")
    expect(rows.nth(1)).to_contain_text("发现 1 处不一致")
    expect(rows.nth(1).locator("th")).to_have_text(  # China time, whatever the server's zone
        f"{failed_at.year}年{failed_at.month}月{failed_at.day}日 {failed_at:%H:%M}")

    findings = page.get_by_role("region", name="不一致明细")
    expect(findings.get_by_role("listitem")).to_have_text([KEPT_DEBIT])
    assert_no_axe_violations(page, "on the reconciliation page")

    page.get_by_role("button", name="刷新对账记录").click()
    expect(page.get_by_role("status").filter(has_text="已刷新")).to_be_visible()
    expect(rows).to_have_count(2)
    assert_no_axe_violations(page, "after refreshing")
    keep_screenshot(page, "console-reconcile")
