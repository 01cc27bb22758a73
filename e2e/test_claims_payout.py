"""李娜's outpatient special-disease claim (门特), paid to her own bank card by the payout run.

She enrolls, then during the coverage year files a 门特/门慢 claim: the form offers the product's
claim kinds with their documents and the insurer's promise, and asks for her bank card (checked
against her name by the bank-card verification simulator). The reviewer approves it; an
administrator runs the payout from the console; she sees "已支付" on the claim's page. The claim
closed, she rates its handling with one tap (5, with a comment), once; 信息披露 shows the product's
claim rating average."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Browser, Page, expect

from e2e.claims_support import (
    approve_then_run_payout,
    check_elderly,
    coverage_day,
    enrolled_online_on_last_day,
    finish_cli,
    image_bytes,
    move_clock,
    start_cli,
    start_staff,
    switch_elderly,
)
from e2e.support import LiveServer, assert_no_axe_violations, keep_screenshot

pytestmark = pytest.mark.e2e

PHONE, NAME, ID_NUMBER = "13800000002", "李娜", "330106199007220243"
REVIEWER_PHONE, ADMIN_PHONE = "13600000011", "13600000012"
CARD = "6222021234567890128"  # Luhn-valid, 中国工商银行


def test_li_na_files_an_outpatient_special_claim_and_is_paid_to_her_card(
    page: Page, base_url: str, live_server: LiveServer, browser: Browser
) -> None:
    reviewer = start_staff(live_server, REVIEWER_PHONE)
    admin = start_cli(live_server, "staff", "create", "--phone", ADMIN_PHONE, "--role", "admin",
                      "--name", "运营管理员")
    product = enrolled_online_on_last_day(page, base_url, PHONE, NAME, ID_NUMBER)

    # ---------------------------------------------------------------- she claims 门特
    move_clock(base_url, coverage_day(product, 3))
    page.goto("/claim-new.html")
    kind = page.get_by_role("radio", name=re.compile("门诊特殊病"))
    kind.check()
    expect(page.locator("[data-documents]")).to_contain_text("门特/门慢病种认定证明")
    expect(page.get_by_label("首次就诊日期")).to_be_visible()
    page.get_by_label("医院名称").fill("浙江大学医学院附属第一医院")
    page.get_by_label("诊断编码（ICD-10）").fill("N18.5")
    page.get_by_label("首次就诊日期").fill(str(coverage_day(product, 0)))
    page.get_by_label("末次就诊日期").fill(str(coverage_day(product, 2)))
    page.get_by_label("医保范围内个人负担费用（元）").fill("35000")
    page.get_by_label("银行卡号").fill(CARD)
    page.get_by_label("从相册或文件中选择").set_input_files(
        {"name": "invoice.png", "mimeType": "image/png", "buffer": image_bytes("PNG")})
    assert_no_axe_violations(page, "on 申请理赔 (门特)")
    keep_screenshot(page, "claim-new-outpatient")
    with page.expect_request(lambda r: r.method == "POST" and r.url.endswith("/api/v1/claims")) \
            as sent:
        page.get_by_role("button", name="提交理赔申请").click()
    body = sent.value.post_data_json
    assert body["kind"] == "outpatient_special" and body["diagnosis_code"] == "N18.5"
    assert body["payee"] == {"kind": "self", "card_no": CARD, "name": None, "id_number": None}
    expect(page).to_have_url(re.compile(r"/claim\.html\?no=LP\d+"))
    claim_no = re.search(r"no=(LP\d+)", page.url).group(1)  # type: ignore[union-attr]
    expect(page.locator("[data-fact=kind] dd")).to_contain_text("门诊特殊病")
    expect(page.locator("[data-fact=payee] dd")).to_contain_text("0128")
    expect(page.locator("[data-clock=decision]")).to_contain_text("前作出核定")

    # ---------------------------------------------------------------- approved, then paid
    finish_cli(reviewer)
    finish_cli(admin)

    def approved() -> None:
        with page.expect_response(lambda r: r.url.endswith(f"/claims/{claim_no}/rating")):
            page.reload()
        expect(page.locator("#rating-box")).to_be_hidden()  # not closed yet: nothing to rate
        expect(page.locator("#claim-summary [data-status]")).to_have_text(
            re.compile("审核通过，待支付"))
        expect(page.locator("[data-clock=payment]")).to_contain_text("前支付赔款")

    approve_then_run_payout(browser, base_url, claim_no, REVIEWER_PHONE, ADMIN_PHONE, approved)

    page.reload()
    expect(page.locator("[data-payout-status=paid]")).to_have_text("赔款支付：已支付")
    expect(page.locator("#claim-summary [data-status]")).to_have_text(re.compile("已赔付"))
    expect(page.locator("#claim-summary")).to_contain_text("已支付")
    assert_no_axe_violations(page, "on 理赔详情 (已支付)")
    keep_screenshot(page, "claim-paid-to-card")

    # ---------------------------------------------------------------- closed: she rates it
    rating = page.locator("#rating-box")
    expect(rating).to_contain_text("您对这次处理满意吗？")
    choices = rating.get_by_role("group", name="您对这次处理满意吗？")
    for score, words in ((5, "非常满意"), (1, "很不满意")):  # stars and words, not colour alone
        expect(choices.locator(f"button[data-score='{score}']")).to_have_text(
            re.compile(f"{'★' * score}\\s*{words}"))
    switch_elderly(page, True)
    check_elderly(page, "理赔详情 (评价)")
    switch_elderly(page, False)
    assert_no_axe_violations(page, "on 理赔详情 (评价)")
    other_tab = page.context.new_page()  # the same claim, still asking, in another tab
    other_tab.goto(page.url)
    expect(other_tab.locator("#rating-box button[data-score='1']")).to_be_visible()
    rating.get_by_label("想说的话（选填）").fill("赔款到账很快，谢谢")
    with page.expect_response(lambda r: r.request.method == "POST"
                              and r.url.endswith(f"/claims/{claim_no}/rating")) as rated:
        choices.get_by_role("button", name="非常满意").click()  # one tap
    assert rated.value.status == 201
    done = rating.locator(".rating-done")
    expect(done).to_contain_text("您的评价：非常满意")
    expect(done).to_contain_text("赔款到账很快，谢谢")
    expect(done).to_be_focused()
    expect(choices).to_have_count(0)
    assert_no_axe_violations(page, "on 理赔详情 (已评价)")
    page.reload()
    expect(rating.locator(".rating-done")).to_contain_text("您的评价：非常满意")

    # Rated once: the other tab's tap is refused with the server's message.
    other_tab.locator("#rating-box button[data-score='1']").click()
    expect(other_tab.locator("#rating-box [role=alert]")).to_contain_text(
        "您已评价过，感谢您的反馈")
    other_tab.close()

    page.goto("/disclosure.html")
    claims = page.locator("[data-figure=satisfaction-claims]")
    expect(claims).to_contain_text("5.0分")
    expect(claims).to_contain_text("1人评价")
