"""张伟's hospital stay, settled at the hospital (一站式结算).

Before the stay he asks the estimator "花了这些钱，大概能赔多少？" with the worked example's
figures (合规 ¥30,000, 合理 ¥10,000 HL001, 特药 ¥5,000 TY001) and reads ¥11,500.00. The hospital
then sends a signed settlement with the same figures: his claim list shows it as settled, and the
claim's page explains the payout in plain Chinese, ¥7,500 + ¥0 (deductible) + ¥4,000 — exactly
the estimator's figure.

One login: he signs in and enrolls on the window's last day; coverage starts the next day and the
session (7 days) outlives the move of the demo clock to the third day of coverage."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect

from e2e.claims_support import (
    HOSPITAL,
    WORKED_EXAMPLE,
    api_post,
    check_elderly,
    coverage_day,
    demo_product,
    enrollment_body,
    hospital_credentials,
    last_enrollment_day,
    move_clock,
    post_settlement,
    start_hospital,
    switch_elderly,
)
from e2e.support import LiveServer, assert_no_axe_violations, keep_screenshot, sign_up

pytestmark = pytest.mark.e2e

PHONE, NAME, ID_NUMBER = "13800000001", "张伟", "330106198803150130"


def fill_worked_example(page: Page) -> None:
    """The worked example typed in: 合规 30000, then 质子重离子 10000 and 信迪利单抗 5000."""
    page.get_by_label("医保范围内个人负担费用（元）").fill("30000")
    page.get_by_label("费用项目 1").select_option("HL001")
    page.locator("[data-item-row]").nth(0).get_by_label("金额（元）").fill("10000")
    page.get_by_role("button", name="＋ 再添加一项").click()
    expect(page.get_by_label("费用项目 2")).to_be_focused()
    page.get_by_label("费用项目 2").select_option("TY001")
    page.locator("[data-item-row]").nth(1).get_by_label("金额（元）").fill("5,000")


def test_settlement_for_zhang_wei_matches_the_estimate(
    page: Page, base_url: str, live_server: LiveServer
) -> None:
    hospital = start_hospital(live_server)  # ready by the time he leaves hospital
    product = demo_product(base_url)
    move_clock(base_url, last_enrollment_day(product))
    sign_up(page, base_url, PHONE, NAME, ID_NUMBER)

    # 我的 → 理赔: nothing yet.
    page.get_by_role("link", name=re.compile("^理赔")).click()
    expect(page).to_have_url(re.compile(r"/claims\.html$"))
    expect(page.get_by_role("heading", level=1, name="理赔")).to_be_visible()
    expect(page.locator("[data-empty]")).to_contain_text("还没有理赔记录")
    assert_no_axe_violations(page, "on 理赔 (empty)")

    # Enrolled from his personal account (the enrollment journeys cover the taps).
    order = api_post(page, "/api/v1/enrollments", enrollment_body(product, "personal_account"))
    assert order["status"] == "issued", order

    # ---------------------------------------------------------------- the estimator first
    page.get_by_role("link", name=re.compile("^赔付估算")).click()
    expect(page).to_have_url(re.compile(r"/estimate\.html$"))
    expect(page.get_by_text("花了这些钱，大概能赔多少？")).to_be_visible()
    expect(page.locator("#basis-policy")).to_contain_text("标准版")
    fill_worked_example(page)
    assert_no_axe_violations(page, "on 赔付估算 (form)")
    page.get_by_role("button", name="估算赔付金额").click()
    result = page.get_by_role("region", name="估算结果")
    expect(result).to_be_focused()
    estimated = result.locator("[data-total] [data-amount]")
    expect(estimated).to_have_text("¥11,500.00")
    expect(result.locator("[data-line=compliant] [data-payout]")).to_have_text("¥7,500.00")
    expect(result.locator("[data-line=reasonable] [data-payout]")).to_have_text("¥0.00")
    expect(result.locator("[data-line=special_drug] [data-payout]")).to_have_text("¥4,000.00")
    expect(result).to_contain_text("仅供参考")
    estimate_figure = estimated.inner_text()
    assert_no_axe_violations(page, "on 赔付估算 (result)")
    keep_screenshot(page, "claims-estimate")
    switch_elderly(page, True)
    check_elderly(page, "赔付估算")
    assert_no_axe_violations(page, "on 赔付估算 in 长辈模式")
    keep_screenshot(page, "claims-estimate-elderly")
    switch_elderly(page, False)

    # ---------------------------------------------------------------- the hospital settles
    move_clock(base_url, coverage_day(product, 3))
    client_id, key = hospital_credentials(hospital)
    admitted, discharged = coverage_day(product, 0), coverage_day(product, 2)
    status, settled = post_settlement(base_url, client_id, key, {
        "settlement_no": "JS-E2E-0001", "id_number": ID_NUMBER,
        "admitted_on": str(admitted), "discharged_on": str(discharged), **WORKED_EXAMPLE,
    })
    assert status == 201 and settled["outcome"] == "settled", settled
    claim_no = settled["claim_no"]

    # His claim list: settled, in words, with the payout.
    page.goto("/claims.html")
    card = page.locator(f"[data-claim='{claim_no}']")
    expect(card.locator("[data-status]")).to_have_text(re.compile("已一站式结算"))
    expect(card.locator("[data-status] [aria-hidden=true]")).to_have_text("✓")
    expect(card.get_by_role("heading", name=HOSPITAL)).to_be_visible()
    expect(card.locator("[data-fact=channel] dd")).to_have_text("一站式结算")
    expect(card.locator("[data-fact=claimed] dd")).to_have_text("¥45,000.00")
    expect(card.locator("[data-fact=payout] dd")).to_have_text("¥11,500.00")
    expect(card.locator("[data-fact=insured] dd")).to_have_text("张*")
    expect(page.locator("body")).not_to_contain_text(ID_NUMBER)
    assert_no_axe_violations(page, "on 理赔 (settled)")
    keep_screenshot(page, "claims-list")
    switch_elderly(page, True)
    check_elderly(page, "理赔")
    keep_screenshot(page, "claims-list-elderly")
    switch_elderly(page, False)

    # The claim: the breakdown in plain Chinese, the same figure as the estimate.
    card.get_by_role("link", name=re.compile("^查看详情")).click()
    expect(page).to_have_url(re.compile(rf"/claim\.html\?no={claim_no}$"))
    summary = page.locator("#claim-summary")
    expect(summary.locator("[data-status]")).to_have_text(re.compile("已一站式结算"))
    expect(summary).to_contain_text("无需再申请")
    expect(summary.locator("[data-payout-total]")).to_contain_text("¥11,500.00")
    breakdown = page.get_by_role("region", name="赔付明细")
    total = breakdown.locator("[data-total] [data-amount]")
    expect(total).to_have_text("¥11,500.00")
    assert total.inner_text() == estimate_figure
    compliant = breakdown.locator("[data-line=compliant]")
    expect(compliant.locator("[data-payout]")).to_have_text("¥7,500.00")
    expect(compliant.locator("[data-text]")).to_have_text(
        "医保范围内合规费用 ¥30,000.00，扣除免赔额 ¥20,000.00 后按 75% 赔付 ¥7,500.00")
    reasonable = breakdown.locator("[data-line=reasonable]")
    expect(reasonable.locator("[data-payout]")).to_have_text("¥0.00")
    expect(reasonable.locator("[data-text]")).to_contain_text("¥10,000.00")
    expect(reasonable.locator("[data-text]")).to_contain_text("免赔额")
    expect(reasonable.locator("[data-item=HL001]")).to_contain_text("质子重离子放射治疗")
    special = breakdown.locator("[data-line=special_drug]")
    expect(special.locator("[data-payout]")).to_have_text("¥4,000.00")
    expect(special.locator("[data-text]")).to_contain_text("¥5,000.00，按 80% 赔付 ¥4,000.00")
    expect(special.locator("[data-item=TY001]")).to_contain_text("信迪利单抗注射液")
    timeline = page.locator("[data-timeline] [data-status]")
    expect(timeline).to_have_count(1)
    expect(timeline.first).to_contain_text("已一站式结算")
    expect(timeline.first).to_contain_text("医院（一站式结算）")
    expect(page.locator("#upload-card")).to_be_hidden()
    expect(page.get_by_role("complementary", name="重要提示")).to_contain_text("不是基本医疗保险")
    assert_no_axe_violations(page, "on 理赔详情 (settled)")
    keep_screenshot(page, "claim-settled")
    switch_elderly(page, True)
    check_elderly(page, "理赔详情")
    assert_no_axe_violations(page, "on 理赔详情 in 长辈模式")
    keep_screenshot(page, "claim-settled-elderly")
