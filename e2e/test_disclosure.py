"""The public disclosure page: reached from the home page's footer without logging in,
its figures equal counts taken straight from the live server's database (opened read-only), the
charts are drawn without any CDN, and the CSV download opens in Excel (UTF-8 with BOM)."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect
from sqlalchemy import text

from e2e.support import (
    LiveServer,
    assert_no_axe_violations,
    keep_screenshot,
    small_touch_targets,
)
from e2e.test_console import (
    DEMO_PRODUCT,
    WANG_XIUYING,
    api_session,
    create_staff,
    demo_product,
    read_only,
)
from huiminbao.core.clock import CHINA_TZ

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def enrolled(live_server: LiveServer) -> None:
    """Three people, three channels, through the API as their apps would do it: 张伟 from his
    personal account, 孙丽 subsidized, 王秀英 in cash at a counter."""
    base = live_server.base_url
    product = demo_product(base)
    for phone, person, method in (("13800000001", ("张伟", "330106198803150130"),
                                   "personal_account"),
                                  ("13800000009", ("孙丽", "330110196504300923"), "subsidy")):
        session = api_session(base, phone, bind=person)
        confirmations = {"terms_version": product["terms"]["version"],
                         "not_basic_insurance": True}
        if method == "personal_account":
            confirmations["debit_amount_fen"] = product["tiers"][0]["premium_fen"]
        answer = session.post(f"{base}/api/v1/enrollments", timeout=30, json={
            "product_id": product["id"], "tier": "standard", "payment_method": method,
            "confirmations": confirmations}, headers={"Idempotency-Key": uuid.uuid4().hex})
        assert answer.status_code == 201, answer.text
    create_staff(live_server, "13700000021", "counter_staff", "窗口甲")
    counter = api_session(base, "13700000021")
    walk_in = counter.post(f"{base}/api/v1/counter/enrollments", timeout=30, json={
        "id_number": WANG_XIUYING[1], "name": WANG_XIUYING[0], "tier": "standard",
        "payment": "counter_cash",
        "evidence": {"id_document_checked": True, "receipt_no": "XJ-0001"}},
        headers={"Idempotency-Key": uuid.uuid4().hex})
    assert walk_in.status_code == 201, walk_in.text


def from_database(server: LiveServer, product_id: int) -> dict[str, int]:
    """The figures, counted straight from the tables."""
    engine = read_only(server)
    try:
        with engine.connect() as conn:
            def count(sql: str) -> int:
                return int(conn.execute(text(sql), {"p": product_id}).scalar() or 0)

            live = ("FROM policies p JOIN order_items i ON i.id = p.order_item_id "
                    "JOIN orders o ON o.id = i.order_id "
                    "WHERE p.product_id = :p AND p.status = 'active'")
            return {
                "total": count(f"SELECT COUNT(*) {live}"),
                "personal_account": count(f"SELECT COUNT(*) {live} "
                                          "AND o.payment_method = 'personal_account'"),
                "subsidy": count(f"SELECT COUNT(*) {live} AND o.payment_method = 'subsidy'"),
                "counter": count(f"SELECT COUNT(*) {live} AND o.payment_method = 'counter_cash'"),
                "employer": count(f"SELECT COUNT(*) {live} AND o.payment_method = 'employer'"),
                "premium_fen": count(
                    "SELECT COALESCE(SUM(amount_fen), 0) FROM ledger_entries "
                    "WHERE account = 'premium_income:' || :p"),
                "claims": count("SELECT COUNT(*) FROM claims WHERE product_id = :p"),
            }
    finally:
        engine.dispose()


def yuan(fen: int) -> str:
    return f"¥{fen // 100:,}.{fen % 100:02d}"


def test_the_public_figures_equal_the_database(
    page: Page, base_url: str, live_server: LiveServer, enrolled: None,
    assert_stayed_local: Callable[[], None]
) -> None:
    product = demo_product(base_url)
    page.goto("/")
    expect(page.get_by_role("heading", level=2, name=DEMO_PRODUCT)).to_be_visible()
    page.get_by_role("contentinfo").get_by_role("link", name="信息披露").click()
    expect(page.get_by_role("heading", level=1, name="信息披露")).to_be_visible()
    expect(page.locator("[data-as-of]")).to_contain_text("（最新统计，每5分钟更新）")

    counted = from_database(live_server, product["id"])
    assert counted["total"] == 3
    figures = page.locator("#figures")
    expect(figures.locator("[data-figure=enrolled-total] .stat__value")).to_have_text(
        f"{counted['total']}人")
    expect(figures.locator("[data-figure=premium-income] .stat__value")).to_have_text(
        yuan(counted["premium_fen"]))
    expect(figures.locator("[data-figure=claims-accepted] .stat__value")).to_have_text(
        f"{counted['claims']}件")
    for key in ("personal_account", "subsidy", "counter", "employer"):
        expect(page.locator(f"[data-bucket='channel:{key}']")).to_have_text(f"{counted[key]}人")
    expect(page.locator("[data-bucket='channel:online']")).to_have_text("0人")
    expect(page.locator("[data-bucket='age:70_plus']")).to_have_text("1人")  # 王秀英, 1943
    expect(page.locator("[data-bucket='age:60_69']")).to_have_text("1人")  # 孙丽, 1965
    expect(page.locator("[data-bucket='scheme:employee']")).to_have_text("1人")
    expect(page.locator("[data-bucket='scheme:resident']")).to_have_text("2人")
    expect(page.locator("[data-chart=channel] .hbar__row").first).to_be_visible()
    for name in ("张伟", "孙丽", "王秀英"):
        expect(page.locator("main")).not_to_contain_text(name)
    assert_no_axe_violations(page, "on the disclosure page")
    assert not small_touch_targets(page, 44)
    keep_screenshot(page, "disclosure")

    # As at the end of yesterday (截至昨日24时): nobody yet, and said so.
    today = datetime.now(CHINA_TZ).date()
    yesterday = today - timedelta(days=1)
    page.get_by_label("截至日期（北京时间）").fill(yesterday.isoformat())
    page.get_by_role("button", name="查询", exact=True).click()
    expect(figures.locator("[data-figure=enrolled-total] .stat__value")).to_have_text("0人")
    expect(page.locator("[data-as-of]")).to_contain_text(
        f"截至{yesterday.year}年{yesterday.month}月{yesterday.day}日24时")
    expect(page.locator("[data-as-of]")).not_to_contain_text("最新统计")
    page.get_by_role("button", name="最新数据").click()
    expect(figures.locator("[data-figure=enrolled-total] .stat__value")).to_have_text("3人")

    # The CSV: UTF-8 with a BOM, the same figures.
    with page.expect_download() as caught:
        page.get_by_role("link", name="下载数据（CSV）").click()
    data = Path(caught.value.path()).read_bytes()
    assert data.startswith(b"\xef\xbb\xbf")
    assert "参保人数,合计,3".encode() in data
    assert f"保费收入（元）,,{counted['premium_fen'] // 100}.{counted['premium_fen'] % 100:02d}" \
        .encode() in data
    assert "王秀英".encode() not in data
    assert_stayed_local()


def test_the_page_reads_well_in_elderly_mode(page: Page, enrolled: None) -> None:
    page.goto("/disclosure.html")
    page.get_by_role("button", name="长辈模式").click()
    expect(page.locator("html")).to_have_attribute("data-mode", "elderly")
    expect(page.locator("[data-figure=enrolled-total]")).to_be_visible()
    small = small_touch_targets(page, 48)
    assert not small, f"touch targets under 48×48 in 长辈模式: {small}"
    assert_no_axe_violations(page, "on the disclosure page in 长辈模式")
