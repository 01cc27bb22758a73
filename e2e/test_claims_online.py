"""刘䶮's online claim, reviewed by the insurer.

He (a resident, paid online) submits a claim with a photo of his receipt; the insurer's reviewer
asks for a supplement; he uploads it from the claim's page; the reviewer approves it and marks it
paid. He sees each status, in order, in the claim's timeline; the reviewer works at a desktop.

One login per phone: he signs in and enrolls on the window's last day, so the claim three days
into coverage is made in the same session."""

from __future__ import annotations

import re
import uuid

import pytest
from playwright.sync_api import Browser, BrowserContext, Page, Request, expect

from e2e.claims_support import (
    HOSPITAL,
    check_elderly,
    coverage_day,
    enrolled_online_on_last_day,
    finish_cli,
    image_bytes,
    move_clock,
    start_staff,
    switch_elderly,
)
from e2e.support import LiveServer, assert_no_axe_violations, keep_screenshot, log_in

pytestmark = pytest.mark.e2e

PHONE, NAME, ID_NUMBER = "13800000006", "刘䶮", "330105198109040613"
STAFF_PHONE = "13600000001"
SUPPLEMENT = "出院小结（含医生签字页）的照片"
TIMELINE = ["已提交", "审核中", "待补充材料", "审核中", "审核通过，待支付", "已赔付"]


def decide(staff: Page, button: str, confirm: str) -> None:
    """Press a decision, check the dialog starts on the safe choice, confirm it."""
    with staff.expect_request(lambda r: r.method == "POST" and r.url.endswith("/decision")) as sent:
        staff.get_by_role("button", name=re.compile(f"^{button}")).click()
        dialog = staff.get_by_role("dialog")
        expect(dialog.get_by_role("button", name="返回")).to_be_focused()
        dialog.get_by_role("button", name=confirm).click()
    uuid.UUID(sent.value.headers["idempotency-key"])


def test_liu_yan_claims_online_and_the_insurer_reviews_it(
    page: Page, base_url: str, live_server: LiveServer, browser: Browser
) -> None:
    reviewer = start_staff(live_server, STAFF_PHONE)  # ready by the time the claim is in
    # Enrolled online: the order, then the payment gateway's own page.
    product = enrolled_online_on_last_day(page, base_url, PHONE, NAME, ID_NUMBER)

    # ---------------------------------------------------------------- he claims online
    move_clock(base_url, coverage_day(product, 3))
    page.goto("/claims.html")
    page.get_by_role("link", name="申请理赔", exact=True).click()
    expect(page).to_have_url(re.compile(r"/claim-new\.html$"))
    expect(page.get_by_role("radio", name=re.compile("标准版"))).to_be_checked()
    page.get_by_label("医院名称").fill(HOSPITAL)
    page.get_by_label("入院日期").fill(str(coverage_day(product, -1)))  # the day before coverage
    page.get_by_label("出院日期").fill(str(coverage_day(product, 2)))
    page.get_by_label("医保范围内个人负担费用（元）").fill("30000")
    page.get_by_label("费用项目 1").select_option("HL001")
    page.get_by_label("金额（元）").fill("10000")

    # Without a photo the form says so, under the picker, and keeps the figures.
    page.get_by_role("button", name="提交理赔申请").click()
    expect(page.locator("#files-error")).to_contain_text("请至少上传一张")
    page.get_by_label("从相册或文件中选择").set_input_files(
        {"name": "receipt.png", "mimeType": "image/png", "buffer": image_bytes("PNG")})
    expect(page.locator("[data-file]")).to_contain_text("receipt.png")
    expect(page.locator("#files-error")).to_be_hidden()

    # A stay that began before coverage: the server's reason, under 出院日期, in Chinese.
    page.get_by_role("button", name="提交理赔申请").click()
    discharged = page.get_by_label("出院日期")
    expect(discharged).to_have_attribute("aria-invalid", "true")
    expect(page.locator("#discharged-on-error")).to_contain_text("不在保单保障期内")
    expect(discharged).to_be_focused()
    page.get_by_label("入院日期").fill(str(coverage_day(product, 0)))
    assert_no_axe_violations(page, "on 申请理赔")
    keep_screenshot(page, "claim-new")
    switch_elderly(page, True)
    check_elderly(page, "申请理赔")
    assert_no_axe_violations(page, "on 申请理赔 in 长辈模式")
    keep_screenshot(page, "claim-new-elderly")
    switch_elderly(page, False)

    def is_claim_post(request: Request) -> bool:
        return bool(request.method == "POST" and request.url.endswith("/api/v1/claims"))

    with page.expect_request(is_claim_post) as sent:
        page.get_by_role("button", name="提交理赔申请").click()
    uuid.UUID(sent.value.headers["idempotency-key"])
    assert sent.value.post_data_json["in_policy_self_pay_fen"] == 3_000_000
    assert sent.value.post_data_json["items"] == [
        {"code": "HL001", "name": "质子重离子放射治疗", "amount_fen": 1_000_000}]
    submitted = page.get_by_role("status").filter(has_text="理赔申请已提交，已上传 1 份材料")
    expect(submitted).to_be_visible()
    expect(page).to_have_url(re.compile(r"/claim\.html\?no=LP\d+$"))  # said once, not on reload
    claim_no = re.search(r"no=(LP\d+)", page.url).group(1)  # type: ignore[union-attr]
    summary = page.locator("#claim-summary")
    expect(summary.locator("[data-status]")).to_have_text(re.compile("已提交"))
    expect(page.locator("[data-document-link]")).to_have_text("材料 1：receipt.png")
    expect(page.locator("[data-no-breakdown]")).to_contain_text("审核通过后")
    assert_no_axe_violations(page, "on 理赔详情 (submitted)")

    # ---------------------------------------------------------------- the reviewer, at a desk
    finish_cli(reviewer)
    desk = browser.new_context(base_url=base_url, locale="zh-CN", timezone_id="Asia/Shanghai",
                               viewport={"width": 1280, "height": 900})
    try:
        review(page, desk, base_url, claim_no)
    finally:
        desk.close()


def review(page: Page, desk: BrowserContext, base_url: str, claim_no: str) -> None:
    """The reviewer's part, and what 刘䶮 sees of it."""
    summary = page.locator("#claim-summary")
    staff = desk.new_page()
    staff.goto("/staff/claims.html")
    expect(staff).to_have_url(re.compile(r"/login\.html\?next=%2Fstaff%2Fclaims\.html"))
    log_in(staff, base_url, STAFF_PHONE, path=staff.url)
    expect(staff).to_have_url(re.compile(r"/staff/claims\.html$"))
    row = staff.locator(f"tr[data-claim='{claim_no}']")
    expect(row).to_contain_text("刘*")
    expect(row).to_contain_text(HOSPITAL)
    expect(row.locator("[data-status]")).to_have_text(re.compile("已提交"))
    expect(staff.locator("[data-view=pending]")).to_have_attribute("aria-current", "page")
    assert_no_axe_violations(staff, "on 理赔审核 (queue)")
    keep_screenshot(staff, "staff-claims")
    row.get_by_role("link", name=claim_no).click()

    expect(staff.get_by_role("heading", level=1)).to_have_text(f"理赔审核：{claim_no}")
    expect(staff.locator("[data-document-link]")).to_have_text("材料 1：receipt.png")
    document_url = staff.locator("[data-document-link]").get_attribute("href") or ""
    photo = staff.request.get(document_url)
    assert photo.ok and photo.body() == image_bytes("PNG")
    expect(staff.locator("[data-estimate]")).to_contain_text("预估")
    expect(staff.locator("[data-breakdown] [data-total] [data-amount]")).to_have_text("¥7,500.00")
    expect(staff.locator("[data-fact=insured] dd")).to_contain_text("刘*")

    # A supplement needs a message: said under the box, nothing sent.
    staff.get_by_role("button", name="要求补充材料").click()
    expect(staff.locator("#decision-message-error")).to_contain_text("请说明需要补充的材料")
    staff.get_by_label("给申请人的说明").fill(SUPPLEMENT)
    assert_no_axe_violations(staff, "on 理赔审核详情")
    decide(staff, "要求补充材料", "确认发送")
    expect(staff.get_by_role("status").filter(has_text="已要求补充材料")).to_be_visible()
    expect(staff.locator(".decision__current [data-status]")).to_have_text(re.compile("待补充材料"))

    # ---------------------------------------------------------------- he supplements
    page.goto(f"/claim.html?no={claim_no}")
    expect(summary.locator("[data-status]")).to_have_text(re.compile("待补充材料"))
    expect(summary.locator("[data-status] [aria-hidden=true]")).to_have_text("!")
    expect(page.locator("[data-supplement-message]")).to_contain_text(SUPPLEMENT)
    expect(page.get_by_role("heading", name="补充材料")).to_be_visible()
    assert_no_axe_violations(page, "on 理赔详情 (supplement requested)")
    keep_screenshot(page, "claim-supplement")
    page.get_by_label("从相册或文件中选择").set_input_files(
        {"name": "discharge.jpg", "mimeType": "image/jpeg", "buffer": image_bytes("JPEG")})
    expect(page.get_by_role("status").filter(has_text="已上传 1 份材料")).to_contain_text(
        "理赔已重新进入审核")
    expect(summary.locator("[data-status]")).to_have_text(re.compile("审核中"))
    expect(page.locator("[data-document-link]")).to_have_count(2)

    # ---------------------------------------------------------------- approved, then paid
    staff.reload()
    expect(staff.locator(".decision__current [data-status]")).to_have_text(re.compile("审核中"))
    expect(staff.locator("[data-document-link]")).to_have_count(2)
    decide(staff, "审核通过", "确认通过")
    expect(staff.locator(".decision__current [data-status]")).to_have_text(
        re.compile("审核通过，待支付"))
    decide(staff, "确认已支付", "确认已支付")
    expect(staff.locator(".decision__current [data-status]")).to_have_text(re.compile("已赔付"))
    expect(staff.locator("[data-decision]")).to_have_count(0)
    assert_no_axe_violations(staff, "on 理赔审核详情 (paid)")
    keep_screenshot(staff, "staff-claim-paid")

    # He sees every step, in order, and the payout with its breakdown.
    page.reload()
    expect(summary.locator("[data-status]")).to_have_text(re.compile("已赔付"))
    expect(summary.locator("[data-payout-total]")).to_contain_text("¥7,500.00")
    steps = page.locator("[data-timeline] > li .timeline__label")
    expect(steps).to_have_text(TIMELINE)
    expect(page.locator("[data-timeline] > li").nth(2)).to_contain_text(SUPPLEMENT)
    breakdown = page.get_by_role("region", name="赔付明细")
    expect(breakdown.locator("[data-line=compliant] [data-payout]")).to_have_text("¥7,500.00")
    expect(breakdown.locator("[data-line=reasonable] [data-payout]")).to_have_text("¥0.00")
    expect(page.locator("#upload-card")).to_be_hidden()
    assert_no_axe_violations(page, "on 理赔详情 (paid)")
    keep_screenshot(page, "claim-paid")
    switch_elderly(page, True)
    check_elderly(page, "理赔详情 (已赔付)")
    assert_no_axe_violations(page, "on 理赔详情 (paid) in 长辈模式")
    keep_screenshot(page, "claim-paid-elderly")

    page.goto("/claims.html")
    card = page.locator(f"[data-claim='{claim_no}']")
    expect(card.locator("[data-status]")).to_have_text(re.compile("已赔付"))
    expect(card.locator("[data-fact=channel] dd")).to_have_text("线上理赔")
    expect(card.locator("[data-fact=payout] dd")).to_have_text("¥7,500.00")
