"""The bureau report in the console: residents enroll; an administrator opens 监管报表 for this
month, sees the table and the bar charts (figures in words beside each bar, also in large-text
mode), and downloads the CSV, whose figures equal the screen's and the ledger's."""

from __future__ import annotations

import csv
import io

import pytest
from playwright.sync_api import Page, expect
from sqlalchemy import text

from e2e.support import LiveServer, api_json, assert_no_axe_violations, keep_screenshot
from e2e.test_console import create_staff, demo_product, scalar, staff_log_in
from e2e.test_console_coinsurance import enroll_residents

pytestmark = pytest.mark.e2e


def test_an_administrator_reads_the_months_report_and_downloads_it(
    page: Page, base_url: str, live_server: LiveServer
) -> None:
    product = demo_product(base_url)
    premium = enroll_residents(base_url)  # 张伟 and 李娜, both 西湖区, from personal accounts
    month = api_json(base_url, "/api/v1/dev/clock")["now"][:7]
    create_staff(live_server, "13700000061", "admin", "管理员报表")
    staff_log_in(page, base_url, "13700000061", "/admin/reports.html")

    page.get_by_label("产品", exact=True).select_option(str(product["id"]))
    page.get_by_label("按起止日期").check()
    page.get_by_label("开始日期").fill(f"{month}-20")
    page.get_by_label("结束日期").fill(f"{month}-10")
    page.get_by_role("button", name="生成报表").click()
    expect(page.locator("#to-error")).to_contain_text("结束日期不能早于开始日期")

    page.get_by_label("按月").check()
    page.get_by_label("月份", exact=True).fill(month)
    page.get_by_role("button", name="生成报表").click()
    report = page.locator("#report")
    expect(report.get_by_role("heading", level=2)).to_contain_text(
        f"{int(month[:4])}年{int(month[5:])}月监管报表")
    enrolled = report.locator("[data-section=enrolled] [data-row=total]")
    expect(enrolled.locator("td")).to_have_text(["2 人", "2 人"])
    yuan = f"{premium * 2 // 100:,}.{premium * 2 % 100:02d} 元"
    expect(report.locator("[data-section=premiums] [data-row=premium_income] td").first
           ).to_have_text(yuan)
    # The chart: a bar beside each figure, said in words (not by colour or length alone).
    chart = report.locator("figure[data-chart=by_channel]")
    expect(chart.locator("figcaption")).to_have_text("图：参保人数（按缴费渠道）：期末累计")
    bar = chart.locator("[data-key=personal_account]")
    expect(bar.locator(".bar-chart__label")).to_have_text("医保个人账户")
    expect(bar.locator(".bar-chart__value")).to_have_text("2 人")
    expect(bar.locator("svg rect.bar-chart__fill")).to_have_attribute("width", "100")
    expect(chart.locator("[data-key=online] svg rect.bar-chart__fill")).to_have_attribute(
        "width", "0")
    district = report.locator("figure[data-chart=by_district] [data-key='330106']")
    expect(district).to_contain_text("西湖区")
    assert_no_axe_violations(page, "on 监管报表")
    keep_screenshot(page, "console-report")

    # Large text: the figures grow with the page and stay beside their bars.
    size = float(bar.locator(".bar-chart__value").evaluate(
        "el => parseFloat(getComputedStyle(el).fontSize)"))
    page.evaluate("document.documentElement.dataset.mode = 'elderly'")
    larger = float(bar.locator(".bar-chart__value").evaluate(
        "el => parseFloat(getComputedStyle(el).fontSize)"))
    assert larger > size
    expect(bar.locator(".bar-chart__value")).to_be_visible()
    keep_screenshot(page, "console-report-large-text")
    page.evaluate("delete document.documentElement.dataset.mode")

    with page.expect_download() as downloading:
        page.get_by_role("link", name="下载CSV").click()
    download = downloading.value
    assert download.suggested_filename == (
        f"{product['name']}-{int(month[:4])}年{int(month[5:])}月-监管报表.csv")
    path = download.path()
    assert path is not None
    table = list(csv.reader(io.StringIO(path.read_text(encoding="utf-8-sig"))))
    assert table[3] == ["分组", "指标", "单位", "本期", "期末累计"]
    cells = {(row[0], row[1]): row[3:] for row in table[4:]}
    assert cells[("参保人数", "参保人数合计")] == ["2", "2"]
    assert cells[("参保人数（按参保区县，未登记的按身份证号前6位）", "西湖区")] == ["2", "2"]
    premium_cells = cells[("保费收入（元）", "保费收入")]
    assert premium_cells == [f"{premium * 2 // 100}.{premium * 2 % 100:02d}"] * 2
    ledger = scalar(live_server, text(
        "SELECT COALESCE(SUM(amount_fen), 0) FROM ledger_entries WHERE account = :account"
    ).bindparams(account=f"premium_income:{product['id']}"))
    assert int(ledger) == premium * 2
