"""张建国's special drug, settled at a designated pharmacy's counter (特药直接结算).

He enrolls from his personal account on the window's last day. Two days into coverage his
oncologist prescribes 信迪利单抗 for Hodgkin's lymphoma (C81.9, one of the drug's listed
indications); he buys it at 老百姓大药房, one of the product's designated pharmacies, which
settles through the signed feed the hospitals use: the insurer's part is deducted at the counter.
An ordinary drug the same pharmacy tries to settle is refused, in Chinese, and nothing is
recorded. On his 理赔 page he finds the purchase as settled, paid at the counter, with the
pharmacy named as who settled it."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect

from e2e.claims_support import (
    api_post,
    coverage_day,
    demo_product,
    enrollment_body,
    hospital_credentials,
    last_enrollment_day,
    move_clock,
    post_settlement,
    start_pharmacy,
)
from e2e.support import LiveServer, assert_no_axe_violations, keep_screenshot, sign_up

pytestmark = pytest.mark.e2e

PHONE, NAME, ID_NUMBER = "13800000004", "张建国", "330102195802100458"
PHARMACY_CODE, PHARMACY = "YD3301001", "老百姓大药房（特药服务中心·延安路店）"
DRUG_PATH = "/api/v1/settlements/special-drugs"


def yuan(fen: int) -> str:
    return f"¥{fen / 100:,.2f}"


def test_zhang_jianguo_buys_a_special_drug_settled_at_the_pharmacy_counter(
    page: Page, base_url: str, live_server: LiveServer
) -> None:
    pharmacy = start_pharmacy(live_server, PHARMACY_CODE, PHARMACY)
    product = demo_product(base_url)
    move_clock(base_url, last_enrollment_day(product))
    sign_up(page, base_url, PHONE, NAME, ID_NUMBER)
    order = api_post(page, "/api/v1/enrollments", enrollment_body(product, "personal_account"))
    assert order["status"] == "issued", order

    # ---------------------------------------------------------------- at the pharmacy
    move_clock(base_url, coverage_day(product, 3))
    client_id, key = hospital_credentials(pharmacy)
    assert client_id.startswith("ph_"), client_id
    purchase = {
        "id_number": ID_NUMBER, "prescription_no": "CF-E2E-0001", "diagnosis_code": "C81.9",
        "prescribed_on": str(coverage_day(product, 1)),
        "purchased_on": str(coverage_day(product, 2)),
    }
    # An ordinary drug is not the product's to pay: refused, in Chinese, nothing recorded.
    status, refused = post_settlement(base_url, client_id, key, {
        **purchase, "settlement_no": "YJ-E2E-0000",
        "items": [{"code": "XY001", "name": "阿莫西林胶囊", "amount_fen": 3_000}]}, DRUG_PATH)
    assert status == 422, refused
    assert refused["code"] == "special_drug_refused"
    assert "特药目录" in refused["message"], refused

    status, settled = post_settlement(base_url, client_id, key, {
        **purchase, "settlement_no": "YJ-E2E-0001",
        "items": [{"code": "TY001", "name": "信迪利单抗注射液", "amount_fen": 2_500_000}]},
        DRUG_PATH)
    assert status == 201 and settled["outcome"] == "settled", settled
    assert settled["message"].startswith("特药直接结算完成")
    claim_no, payout = settled["claim_no"], settled["payout_fen"]
    assert payout > 0

    # ---------------------------------------------------------------- his claims
    page.goto("/claims.html")
    card = page.locator(f"[data-claim='{claim_no}']")
    expect(page.locator("[data-claim]")).to_have_count(1)  # the refused one left nothing
    expect(card.get_by_role("heading", name=PHARMACY)).to_be_visible()
    expect(card.locator("[data-status]")).to_have_text(re.compile("已一站式结算"))
    expect(card.locator("[data-fact=channel] dd")).to_have_text("定点药店直接结算（已在柜台抵扣）")
    expect(card.locator("[data-fact=stay] dt")).to_have_text("就诊日期")
    expect(card.locator("[data-fact=claimed] dd")).to_have_text("¥25,000.00")
    expect(card.locator("[data-fact=payout] dd")).to_have_text(yuan(payout))
    expect(page.locator("body")).not_to_contain_text(ID_NUMBER)
    assert_no_axe_violations(page, "on 理赔 (paid at the pharmacy)")
    keep_screenshot(page, "claims-list-pharmacy")

    card.get_by_role("link", name=re.compile("^查看详情")).click()
    expect(page).to_have_url(re.compile(rf"/claim\.html\?no={claim_no}$"))
    summary = page.locator("#claim-summary")
    expect(summary.locator("[data-status]")).to_have_text(re.compile("已一站式结算"))
    expect(summary).to_contain_text("定点药店直接结算（已在柜台抵扣）")
    expect(summary).to_contain_text("已在柜台抵扣药费，无需再申请")
    expect(summary.locator("[data-payout-total]")).to_contain_text("购药时已在柜台抵扣")
    expect(summary.locator("[data-payout-total]")).to_contain_text(yuan(payout))
    expect(page.locator("[data-fact=kind] dd")).to_have_text("特定药品（特药）")
    expect(page.locator("[data-fact=hospital] dt")).to_have_text("药店")
    expect(page.locator("[data-fact=hospital] dd")).to_have_text(PHARMACY)
    timeline = page.locator("[data-timeline] [data-status]")
    expect(timeline).to_have_count(1)
    expect(timeline.first).to_contain_text("定点药店（直接结算）")
    breakdown = page.get_by_role("region", name="赔付明细")
    expect(breakdown.locator("[data-item=TY001]")).to_contain_text("信迪利单抗注射液")
    expect(page.locator("#upload-card")).to_be_hidden()
    assert_no_axe_violations(page, "on 理赔详情 (paid at the pharmacy)")
    keep_screenshot(page, "claim-pharmacy")
