"""Co-insurers in the console: an administrator lists three insurers at 50/30/20 % for
the demo product (a wrong sum is refused with the reason), residents enroll, and each insurer's
statement shows its share of the premiums, on screen and as a CSV download whose totals equal
the ledger (the live server's SQLite file, opened read-only)."""

from __future__ import annotations

import csv
import io
import re
import uuid

import pytest
from playwright.sync_api import Page, expect
from sqlalchemy import text

from e2e.support import LiveServer, assert_no_axe_violations, keep_screenshot
from e2e.test_console import (
    api_session,
    demo_product,
    open_products_as_admin,
    scalar,
)

pytestmark = pytest.mark.e2e

LEAD = "演示保险股份有限公司杭州分公司（共保体主承保）"
SECOND, THIRD = "乙人寿保险杭州分公司", "丙健康保险浙江分公司"
RESIDENTS = (("13800000001", ("张伟", "330106198803150130")),
             ("13800000002", ("李娜", "330106199007220243")))


def enroll_residents(base: str) -> int:
    """Enroll two residents from their personal accounts; the premium each paid."""
    product = demo_product(base)
    premium = next(t["premium_fen"] for t in product["tiers"] if t["code"] == "standard")
    for phone, person in RESIDENTS:
        session = api_session(base, phone, bind=person)
        answer = session.post(f"{base}/api/v1/enrollments", timeout=30, json={
            "product_id": product["id"], "tier": "standard", "payment_method": "personal_account",
            "confirmations": {"terms_version": product["terms"]["version"],
                              "not_basic_insurance": True, "debit_amount_fen": premium}},
            headers={"Idempotency-Key": uuid.uuid4().hex})
        assert answer.status_code == 201, answer.text
    return int(premium)


def test_an_administrator_sets_three_insurers_and_reads_their_statements(
    page: Page, base_url: str, live_server: LiveServer
) -> None:
    product, row = open_products_as_admin(page, base_url, live_server, "13700000051",
                                          "管理员共保")
    row.get_by_role("button", name=re.compile("^共保体")).click()
    expect(page.get_by_role("heading", name=re.compile("共保体与对账单"))).to_be_focused()
    expect(page.get_by_label("承保机构1名称")).to_have_value(LEAD)
    expect(page.get_by_label("份额（%）")).to_have_value("100")

    # Three insurers, the shares first summing to 110 %: refused, with the reason.
    page.get_by_label("份额（%）").fill("50")
    page.get_by_role("button", name="添加承保机构").click()
    page.get_by_label("承保机构2名称").fill(SECOND)
    page.locator("#co-share-1").fill("40")
    page.get_by_role("button", name="添加承保机构").click()
    page.get_by_label("承保机构3名称").fill(THIRD)
    page.locator("#co-share-2").fill("20")
    form = page.locator("form[data-form=coinsurers]")
    form.get_by_role("button", name="保存共保体").click()
    expect(form.get_by_role("alert")).to_contain_text("各承保机构份额之和必须为100%")
    assert_no_axe_violations(page, "on the co-insurers form with a rule broken")
    page.locator("#co-share-1").fill("30")
    form.get_by_role("button", name="保存共保体").click()
    expect(form.get_by_role("status")).to_contain_text(
        f"{LEAD} 50%（主承保），{SECOND} 30%，{THIRD} 20%")

    # Residents enroll; each insurer's statement shows its share of their premiums.
    premium = enroll_residents(base_url)
    statement = page.locator("form[data-form=statement]")
    statement.get_by_label("承保机构", exact=True).select_option(SECOND)
    statement.get_by_role("button", name="查看对账单").click()
    totals = statement.locator("[data-statement-totals]")
    second_share = premium * 3000 // 10000
    expect(totals.locator("[data-total=premiums]")).to_have_text(
        f"¥{second_share * 2 // 100:,}.{second_share * 2 % 100:02d}")
    expect(statement.locator("table tbody tr")).to_have_count(2)
    expect(statement.locator("table")).to_contain_text("保费收入")
    assert_no_axe_violations(page, "on the statement")
    keep_screenshot(page, "console-coinsurance")

    with page.expect_download() as download_info:
        statement.get_by_role("link", name="下载对账单（CSV）").click()
    data = download_info.value.path().read_bytes()
    rows = list(csv.reader(io.StringIO(data.decode("utf-8-sig"))))
    sums = {r[0]: r[3] for r in rows if r and r[0].endswith(("合计", "净额"))}
    assert sums["保费收入合计"] == f"{second_share * 2 / 100:.2f}"

    # The three insurers' accounts are the ledger's: they sum to the product's premium income.
    product_id = product["id"]
    income = scalar(live_server, text(
        "SELECT SUM(amount_fen) FROM ledger_entries WHERE account = :account").bindparams(
        account=f"premium_income:{product_id}"))
    parts = scalar(live_server, text(
        "SELECT SUM(amount_fen) FROM ledger_entries WHERE account LIKE :accounts").bindparams(
        accounts=f"insurer_premium:{product_id}:%"))
    assert income == parts == 2 * premium

    # The target payout ratio, for the year-end figures on the disclosure page.
    surplus = page.locator("form[data-form=surplus]")
    surplus.get_by_label("目标赔付率（%，选填）").fill("85")
    surplus.get_by_role("button", name="保存结余设置").click()
    expect(surplus.get_by_role("status")).to_contain_text("已保存")
    assert scalar(live_server, text("SELECT target_payout_ratio_bp FROM products WHERE id = :id")
                  .bindparams(id=product_id)) == 8500
