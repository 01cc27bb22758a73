"""李娜 files an outpatient special-disease claim (门特) from her authorized 医保 records.

She enrolls; during the coverage year she opens 从医保结算记录申请理赔, authorizes reading her
settlement records for the coverage year, sees her 门特 visit (chronic kidney disease, dialysis)
among them and files from it: the claim form arrives filled and locked (hospital, dates, the
in-policy amount, the diagnoses), she only names her bank card and adds a document. The
reviewer approves it, an administrator runs the payout, and she sees "已支付". Then she revokes
the authorization: the records are no longer read."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Browser, Page, expect

from e2e.claims_support import (
    approve_then_run_payout,
    coverage_day,
    enrolled_online_on_last_day,
    finish_cli,
    image_bytes,
    move_clock,
    start_cli,
    start_staff,
)
from e2e.support import LiveServer, assert_no_axe_violations, keep_screenshot

pytestmark = pytest.mark.e2e

PHONE, NAME, ID_NUMBER = "13800000002", "李娜", "330106199007220243"
REVIEWER_PHONE, ADMIN_PHONE = "13600000021", "13600000022"
CARD = "6222021234567890128"  # Luhn-valid, 中国工商银行
RECORD_NO = "JS3301002027000101"  # the demo registry's 门特 visit, the coverage year's 2nd day


def test_li_na_files_an_outpatient_special_claim_from_her_authorized_records_and_is_paid(
    page: Page, base_url: str, live_server: LiveServer, browser: Browser
) -> None:
    reviewer = start_staff(live_server, REVIEWER_PHONE)
    admin = start_cli(live_server, "staff", "create", "--phone", ADMIN_PHONE, "--role", "admin",
                      "--name", "运营管理员")
    product = enrolled_online_on_last_day(page, base_url, PHONE, NAME, ID_NUMBER)

    # ---------------------------------------------------------------- she authorizes
    move_clock(base_url, coverage_day(product, 3))
    page.goto("/claims.html")
    page.get_by_role("link", name="从医保结算记录申请理赔").click()
    expect(page).to_have_url(re.compile(r"/claim-records\.html$"))
    expect(page.get_by_label("起始日期（就诊日期）")).to_have_value(str(coverage_day(product, 0)))
    expect(page.locator("#records-box [data-empty]")).to_contain_text("授权后")
    assert_no_axe_violations(page, "on 从医保结算记录申请理赔 (before authorizing)")
    page.get_by_role("button", name="同意授权并读取记录").click()
    consent = page.locator("[data-consent][data-live=true]")
    expect(consent).to_contain_text("已授权")
    record = page.locator(f"[data-record='{RECORD_NO}']")
    expect(record).to_contain_text("门诊特殊病、慢性病")
    expect(record).to_contain_text("浙江大学医学院附属第一医院")
    expect(record.locator("[data-fact=self-pay] dd")).to_contain_text("35,000.00")
    assert_no_axe_violations(page, "on 从医保结算记录申请理赔 (records read)")
    keep_screenshot(page, "claim-records")

    # ---------------------------------------------------------------- the form, pre-filled
    record.get_by_role("link", name=re.compile("用这条记录申请理赔")).click()
    expect(page).to_have_url(re.compile(rf"/claim-new\.html\?record={RECORD_NO}$"))
    expect(page.locator("#record-notice")).to_contain_text(RECORD_NO)
    expect(page.get_by_role("radio", name=re.compile("门诊特殊病"))).to_be_checked()
    expect(page.get_by_label("医院名称")).to_have_value("浙江大学医学院附属第一医院")
    expect(page.get_by_label("医院名称")).not_to_be_editable()
    expect(page.get_by_label("首次就诊日期")).to_have_value(str(coverage_day(product, 1)))
    expect(page.get_by_label("医保范围内个人负担费用（元）")).to_have_value("35000")
    expect(page.get_by_label("诊断编码（ICD-10）")).to_have_value("N18.5")
    expect(page.locator("#record-items")).to_contain_text("血液透析耗材")
    page.get_by_label("银行卡号").fill(CARD)
    page.get_by_label("从相册或文件中选择").set_input_files(
        {"name": "认定证明.png", "mimeType": "image/png", "buffer": image_bytes("PNG")})
    assert_no_axe_violations(page, "on 申请理赔 (from a record)")
    keep_screenshot(page, "claim-new-from-record")
    with page.expect_request(lambda r: r.method == "POST"
                             and r.url.endswith("/api/v1/claims/records/claims")) as sent:
        page.get_by_role("button", name="提交理赔申请").click()
    body = sent.value.post_data_json
    assert body["record_no"] == RECORD_NO and "in_policy_self_pay_fen" not in body
    assert body["payee"] == {"kind": "self", "card_no": CARD, "name": None, "id_number": None}
    expect(page).to_have_url(re.compile(r"/claim\.html\?no=LP\d+"))
    claim_no = re.search(r"no=(LP\d+)", page.url).group(1)  # type: ignore[union-attr]
    expect(page.locator("[data-fact=kind] dd")).to_contain_text("门诊特殊病")
    expect(page.locator("[data-fact=payee] dd")).to_contain_text("0128")

    # ---------------------------------------------------------------- approved, then paid
    finish_cli(reviewer)
    finish_cli(admin)
    approve_then_run_payout(browser, base_url, claim_no, REVIEWER_PHONE, ADMIN_PHONE)

    page.reload()
    expect(page.locator("[data-payout-status=paid]")).to_have_text("赔款支付：已支付")
    expect(page.locator("#claim-summary")).to_contain_text("已支付")

    # ---------------------------------------------------------------- she revokes
    page.goto("/claim-records.html")
    expect(page.locator(f"[data-record='{RECORD_NO}'] [data-claimed]")).to_be_visible()
    consent.get_by_role("button", name="撤回授权").click()
    page.get_by_role("dialog").get_by_role("button", name="撤回授权").click()
    expect(page.locator("#consents-status")).to_contain_text("授权已撤回")
    expect(page.locator("[data-consent][data-live=false]")).to_contain_text("已撤回")
    expect(page.locator("[data-record]")).to_have_count(0)
    assert_no_axe_violations(page, "on 从医保结算记录申请理赔 (revoked)")
