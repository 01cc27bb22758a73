"""Subsidy funds by payer in the console (003 三(三)3, 002 三(三)): an administrator sees the
demo city's paying bodies, registers a district (refused in Chinese first), imports a roster
whose payer column names them — an unknown payer refuses the whole file, a district pays only
for its residents, and 钱桂兰, who holds another poverty-relief insurance, is refused (择一) —
then a charity funds a list of people it names and downloads the per-person receipt. The fund
accounts equal what each payer paid, and ``huiminbao reconcile`` finds nothing wrong."""

from __future__ import annotations

import csv
import io
import re
from datetime import date

import pytest
from playwright.sync_api import Page, expect
from sqlalchemy import text

from e2e.support import LiveServer, assert_no_axe_violations, keep_screenshot
from e2e.test_console import (
    cli,
    create_staff,
    csv_file,
    import_registry,
    new_id,
    scalar,
    staff_log_in,
)

pytestmark = pytest.mark.e2e

ADMIN_PHONE = "13700000061"
QIAN_GUILAN = ("330106195103082129", "钱桂兰")  # demo: 特困, another poverty-relief insurance


def fund(server: LiveServer, account: str) -> int:
    return int(scalar(server, text(
        "SELECT COALESCE(SUM(amount_fen), 0) FROM ledger_entries WHERE account = :account"
    ).bindparams(account=account)))


def test_a_roster_names_its_payers_and_a_charity_funds_the_people_it_names(
    page: Page, base_url: str, live_server: LiveServer,
    tmp_path_factory: pytest.TempPathFactory
) -> None:
    dibao, tekun, named = (new_id(date(1951, 2, 3), 71), new_id(date(1949, 4, 5), 72),
                           new_id(date(1966, 6, 7), 73))
    import_registry(live_server, tmp_path_factory.mktemp("funds"), [
        (dibao, "冯低保", "resident", "dibao"), (tekun, "陈特困", "resident", "tekun"),
        (named, "褚受助", "resident", "disabled")])
    create_staff(live_server, ADMIN_PHONE, "admin", "管理员戊")

    # The demo city's payers, with their fund accounts; a district registered here.
    staff_log_in(page, base_url, ADMIN_PHONE, "/admin/payers.html")
    expect(page.get_by_role("heading", level=1, name="资助出资方")).to_be_visible()
    expect(page.locator("tr[data-payer=xihu]")).to_contain_text("subsidy_fund:330100:xihu")
    expect(page.locator("tr[data-payer=hangzhou]")).to_contain_text("subsidy_fund:330100")
    page.get_by_label("出资方类型").select_option("district")
    page.get_by_label("出资方名称").fill("拱墅区财政局")
    page.get_by_label("出资方代码").fill("gongshu")
    page.get_by_label("区县代码").fill("310105")
    page.get_by_role("button", name="登记出资方").click()
    expect(page.locator("#payer-district-error")).to_contain_text(
        "区县代码应属于该城市（前4位与城市代码相同）")
    page.get_by_label("区县代码").fill("330105")
    page.get_by_label("残疾人员").uncheck()
    page.get_by_role("button", name="登记出资方").click()
    expect(page.locator("#payers-status")).to_contain_text("已登记拱墅区财政局")
    expect(page.locator("tr[data-payer=gongshu]")).to_contain_text("330105：特困、低保、低边")
    assert_no_axe_violations(page, "on the payers page")

    # A roster naming an unregistered payer is refused whole, each such line said.
    page.goto("/admin/subsidy.html")
    header = "id_number,name,category,payer"
    page.get_by_label("名单文件（CSV）").set_input_files(csv_file([
        f"{dibao},冯低保,低保,hangzhou", f"{tekun},陈特困,特困,滨江区财政局"], header))
    page.get_by_role("button", name="导入并资助参保").click()
    expect(page.locator("#file-error")).to_contain_text(
        "名单中有未登记或已停用的出资方，整份名单未导入，请更正后重新上传：第3行：出资方“滨江区财政局”未登记")
    assert scalar(live_server, text("SELECT COUNT(*) FROM subsidy_uses")) == 0

    # Named payers: the city, a charity by its name; 西湖区 refuses a person it does not cover;
    # 钱桂兰 is refused with the reason (择一).
    page.get_by_label("名单文件（CSV）").set_input_files(csv_file([
        f"{dibao},冯低保,低保,hangzhou", f"{tekun},陈特困,特困,杭州市慈善总会",
        f"{named},褚受助,残疾人员,xihu", f"{QIAN_GUILAN[0]},{QIAN_GUILAN[1]},特困,"], header))
    page.get_by_role("button", name="导入并资助参保").click()
    expect(page.locator("#report-summary")).to_have_text("共4行：2人资助参保成功，0人已跳过，2行未通过")
    expect(page.locator("tr[data-line='2']")).to_contain_text("hangzhou")
    expect(page.locator("tr[data-line='3']")).to_contain_text("cishan")
    expect(page.locator("tr[data-line='4']")).to_contain_text("该人员医保参保地不在西湖区财政局的辖区")
    expect(page.locator("tr[data-line='5']")).to_contain_text(
        "该人员已参加其他政策性扶贫类商业补充医疗保险。按规定，困难人员只能在本保险和其他"
        "政策性扶贫类商业补充医疗保险中择一投保，政府不重复资助")
    assert fund(live_server, "subsidy_fund:330100") == -15000
    assert fund(live_server, "subsidy_fund:330100:cishan") == -15000

    # A charity funds the person it names; the receipt per person, on screen and as CSV.
    page.goto("/admin/payers.html")
    page.get_by_label("捐赠方").select_option(label="杭州市慈善总会")
    page.get_by_label("受助人员名单（CSV）").set_input_files(csv_file([f"{named},褚受助"],
                                                                  "id_number,name"))
    page.get_by_role("button", name="出资并参保").click()
    expect(page.get_by_role("heading", name="捐赠回执")).to_be_focused()
    expect(page.locator("#report-summary")).to_have_text("杭州市慈善总会共为1人出资参保，合计¥150.00")
    expect(page.locator("tr[data-line='2']")).to_contain_text("褚*助")
    expect(page.locator("tr[data-payer=cishan]")).to_contain_text("¥300.00")
    with page.expect_download() as download:
        page.get_by_role("link", name="下载回执（CSV）").click()
    rows = list(csv.reader(io.StringIO(
        download.value.path().read_bytes().decode("utf-8-sig"))))
    assert ["捐赠方", "杭州市慈善总会"] in rows
    assert rows[-1][0] == "合计" and rows[-1][-1] == "150.00"
    assert "褚受助" not in str(rows)
    assert_no_axe_violations(page, "on the donor's receipt")
    keep_screenshot(page, "console-donor-receipt")

    assert fund(live_server, "subsidy_fund:330100:cishan") == -30000
    assert re.search("账实一致", cli(live_server, "reconcile"))
