"""A product's terms as a resident meets them (issue 17 items 5 and 6).

Before enrolling, 林𫖮 reads on the home page what the product says of pre-existing conditions
(never a blanket "既往症可保可赔" for a product that limits them) and searches the 特药 list for
her illness, with each drug's indications and designated pharmacies. She enrolls; once the window
has closed and her coverage runs, the home page still shows the product's benefits and terms, and
the estimator works on her own policy's product: its special-drug list, and her chronic kidney
disease (on the registry's records since 2024) paid at the product's pre-existing ratio."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect

from e2e.claims_support import (
    api_post,
    coverage_day,
    demo_product,
    enrollment_body,
    last_enrollment_day,
    move_clock,
)
from e2e.support import assert_no_axe_violations, keep_screenshot, sign_up

pytestmark = pytest.mark.e2e

PHONE, NAME, ID_NUMBER = "13800000007", "林𫖮", "330108199701130742"


def test_lin_yan_reads_the_terms_searches_a_drug_and_estimates_on_her_policy(
    page: Page, base_url: str
) -> None:
    product = demo_product(base_url)

    # ------------------------------------------------------------ the home page, window open
    page.goto("/")
    hero = page.locator(".highlights")
    expect(hero).to_contain_text("既往症可保；肝癌、肺癌、慢性肾病既往症按约定比例赔付或部分费用不赔")
    expect(hero).not_to_contain_text("既往症可保可赔")
    rules = page.get_by_role("region", name="理赔规则")
    expect(rules.locator("[data-condition='N18']")).to_have_text(
        "慢性肾病（N18）：医保范围内合规费用按70%赔付；医保范围外合理费用不予赔付；特定药品费用按70%赔付")
    rules.get_by_role("link", name="查询特药清单、适应症和定点药店").click()

    # ------------------------------------------------------------ the special-drug search
    expect(page).to_have_url(re.compile(r"/drugs\.html\?product=\d+$"))
    expect(page.locator("[data-count]")).to_have_text("共 5 种特药")
    page.get_by_label("药品名称、适应症或药店").fill("淋巴瘤")
    page.get_by_role("button", name="查询").click()
    expect(page.locator("[data-count]")).to_have_text("“淋巴瘤”共找到 2 种特药")
    drug = page.locator("[data-drug='TY005']")
    expect(drug.get_by_role("heading")).to_have_text("伊布替尼胶囊（TY005）")
    expect(drug.locator("[data-fact='indications'] dd")).to_have_text(
        "慢性淋巴细胞白血病；套细胞淋巴瘤")
    expect(drug.locator("[data-fact='pharmacies'] li")).to_have_text(
        ["老百姓大药房（特药服务中心·延安路店）", "华东医药特药药房（庆春路店）"])
    assert_no_axe_violations(page, "特药清单查询")

    # ------------------------------------------------------------ she enrolls, coverage runs
    move_clock(base_url, last_enrollment_day(product))
    sign_up(page, base_url, PHONE, NAME, ID_NUMBER)
    order = api_post(page, "/api/v1/enrollments", enrollment_body(product, "online"))
    page.goto(order["pay_url"])
    page.get_by_role("button", name="确认支付").click()
    expect(page.get_by_role("region", name="参保成功")).to_be_visible(timeout=20_000)
    move_clock(base_url, coverage_day(product, 3))  # the session (7 days) still lives

    page.goto("/")
    expect(page.locator(".status-badge")).to_have_text(re.compile("当前不在投保时间内"))
    compliant = page.locator("[data-tier='standard'] [data-category='compliant']")
    expect(compliant).to_contain_text("75%")
    expect(page.get_by_role("region", name="理赔规则")).to_be_visible()

    # ------------------------------------------------------------ the estimator, on her policy
    page.goto("/estimate.html")
    expect(page.locator("#basis-policy")).to_contain_text("标准版")
    page.get_by_label("本次治疗的疾病").select_option("N18")
    page.get_by_label("入院或就诊日期（选填）").fill(str(coverage_day(product, 1)))
    page.get_by_label("医保范围内个人负担费用（元）").fill("150000")
    # The policy's own product's list, though its window has closed (not only 其他).
    page.get_by_label("费用项目 1").select_option("TY001")
    page.get_by_label("金额（元）").fill("10000")
    page.get_by_role("button", name="估算赔付金额").click()
    result = page.get_by_role("region", name="估算结果")
    # (150,000 − 20,000) × 70 % + 10,000 × 70 % = 98,000: the pre-existing ratio, not 75 %/80 %.
    expect(result.locator("[data-total] [data-amount]")).to_have_text("¥98,000.00")
    expect(result.locator("[data-line='compliant'] [data-text]")).to_have_text(
        "医保范围内合规费用 ¥150,000.00（既往症：慢性肾病），扣除免赔额 ¥20,000.00 后按 70% "
        "赔付 ¥91,000.00")
    keep_screenshot(page, "terms-estimate")
    assert_no_axe_violations(page, "赔付估算（既往症）")

    # ------------------------------------------------------------ her e-policy, its own cover
    policies = page.request.get("/api/v1/policies").json()["items"]
    page.goto(f"/policy.html?no={policies[0]['policy_no']}")
    cover = page.locator("[data-cover]")
    expect(cover.locator("[data-benefit='compliant'] dd")).to_have_text(
        "免赔额¥20,000.00，赔付比例75%，封顶线¥1,000,000.00")
    expect(cover.locator(f"[data-policy-terms='{product['terms']['version']}']")).to_be_visible()
    expect(cover.locator("[data-fact='pre-existing']")).to_contain_text("慢性肾病（N18）")
