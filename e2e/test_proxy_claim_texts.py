"""张伟 files an inpatient claim for his mother 王秀英, who has no phone, and is texted at each
status change.

The grant (参保, 查看保单, 申请理赔, 查看理赔进度) is confirmed at the counter and her policy paid
online (both journeys have their own tests: here they are set up through the API). Three days
into coverage, after her stay, 张伟 switches to acting for her and files the claim on 申请理赔 with
a photo of the receipt; the insurer's reviewer starts the review, approves it and marks it paid.
Each status reaches 张伟 by text (the SMS outbox shows them to his phone, none with her ID
number or the hospital); she has no phone, so nobody else is texted; his claim page for her
shows every step."""

from __future__ import annotations

import re
from typing import Any

import pytest
from playwright.sync_api import Browser, Page, Request, expect

from e2e.claims_support import (
    HOSPITAL,
    api_post,
    coverage_day,
    demo_product,
    enrollment_body,
    image_bytes,
    last_enrollment_day,
    move_clock,
)
from e2e.proxy_support import create_staff, desktop_context, wired
from e2e.support import (
    LiveServer,
    api_json,
    assert_no_axe_violations,
    keep_screenshot,
    log_in,
    sign_up,
)

pytestmark = pytest.mark.e2e

AGENT = ("13800000001", "张伟", "330106198803150130")
MOTHER_NAME, MOTHER_ID = "王秀英", "33010219430618052X"
COUNTER_PHONE, REVIEWER_PHONE = "13600000001", "13600000002"
TIMELINE = ["已提交", "审核中", "审核通过，待支付", "已赔付"]


def texts_to(base_url: str, phone: str, claim_no: str) -> list[str]:
    """The texts to ``phone`` about the claim, oldest first."""
    items: list[dict[str, Any]] = api_json(base_url, f"/api/v1/dev/sms?phone={phone}")["items"]
    return [item["text"] for item in reversed(items) if claim_no in item["text"]]


def texted_others(server: LiveServer, claim_no: str, phone: str) -> list[str]:
    """Texts about the claim to any phone but ``phone`` (the whole outbox, in this process)."""
    from sqlalchemy import select

    from huiminbao.identity.models import SmsMessage

    with wired(server) as container, container.db.read() as session:
        return [message.text for message in session.scalars(select(SmsMessage))
                if claim_no in message.text and message.phone != phone]


def test_zhang_wei_files_for_wang_xiuying_and_is_texted_each_status(
    page: Page, base_url: str, live_server: LiveServer, browser: Browser
) -> None:
    product = demo_product(base_url)
    move_clock(base_url, last_enrollment_day(product))
    create_staff(live_server, COUNTER_PHONE, "counter_staff", "窗口甲")
    create_staff(live_server, REVIEWER_PHONE, "insurer_staff", "审核员")
    sign_up(page, base_url, *AGENT)

    # ---------------------------------------------------------------- the grant and her policy
    grant = api_post(page, "/api/v1/proxy/grants", {
        "principal_name": MOTHER_NAME, "principal_id_number": MOTHER_ID,
        "scopes": ["enroll", "view_policies", "claims_submit", "claims_view"],
        "valid_days": 90, "confirm_method": "counter"})
    desk = desktop_context(browser, base_url)
    try:
        counter = desk.new_page()
        log_in(counter, base_url, COUNTER_PHONE)
        confirmed = api_post(counter, f"/api/v1/proxy/grants/{grant['id']}/confirm", {
            "counter": {"evidence": ["household_register", "agent_id_card"],
                        "note": "委托人无手机，与代办人一同到窗口"}})
        assert confirmed["status"] == "active", confirmed
        counter.close()
    finally:
        desk.close()
    mother = grant["principal_person_id"]
    order = api_post(page, "/api/v1/enrollments", enrollment_body(product, "online"),
                     acting_for=mother)
    page.goto(order["pay_url"])
    page.get_by_role("button", name="确认支付").click()
    expect(page.get_by_role("region", name="参保成功")).to_be_visible(timeout=20_000)

    # ---------------------------------------------------------------- he files for her
    move_clock(base_url, coverage_day(product, 3))
    page.goto("/proxy.html")
    page.get_by_role("radio", name=re.compile("^王\\*英")).check()
    expect(page.get_by_role("status")).to_contain_text("现在为王*英代办")
    page.goto("/claims.html")
    expect(page.get_by_role("region", name="代办提示")).to_contain_text("正在为 王*英 代办")
    page.get_by_role("link", name="申请理赔", exact=True).click()
    expect(page).to_have_url(re.compile(r"/claim-new\.html$"))
    page.get_by_label("医院名称").fill(HOSPITAL)
    page.get_by_label("入院日期").fill(str(coverage_day(product, 0)))
    page.get_by_label("出院日期").fill(str(coverage_day(product, 2)))
    page.get_by_label("医保范围内个人负担费用（元）").fill("30000")
    page.get_by_label("费用项目 1").select_option("HL001")
    page.get_by_label("金额（元）").fill("10000")
    page.get_by_label("从相册或文件中选择").set_input_files(
        {"name": "receipt.png", "mimeType": "image/png", "buffer": image_bytes("PNG")})
    assert_no_axe_violations(page, "on 申请理赔 (acting for 王*英)")

    def is_claim_post(request: Request) -> bool:
        return bool(request.method == "POST" and request.url.endswith("/api/v1/claims"))

    with page.expect_request(is_claim_post) as sent:
        page.get_by_role("button", name="提交理赔申请").click()
    assert sent.value.headers["x-acting-for"] == str(mother)
    expect(page.get_by_role("status").filter(has_text="理赔申请已提交")).to_be_visible()
    expect(page).to_have_url(re.compile(r"/claim\.html\?no=LP\d+$"))
    claim_no = re.search(r"no=(LP\d+)", page.url).group(1)  # type: ignore[union-attr]
    submitted = texts_to(base_url, AGENT[0], claim_no)
    assert len(submitted) == 1 and "已提交" in submitted[0], submitted

    # ---------------------------------------------------------------- the insurer decides
    desk = desktop_context(browser, base_url)
    try:
        reviewer = desk.new_page()
        log_in(reviewer, base_url, REVIEWER_PHONE, path="/login.html?next=%2Fstaff%2Fclaims.html")
        expect(reviewer).to_have_url(re.compile(r"/staff/claims\.html$"))
        for decision, status in (("start_review", "under_review"), ("approve", "approved"),
                                 ("mark_paid", "paid")):
            answer = api_post(reviewer, f"/api/v1/admin/claims/{claim_no}/decision",
                              {"decision": decision, "message": None})
            assert answer["status"] == status, answer
    finally:
        desk.close()

    # ---------------------------------------------------------------- every status, by text
    texts = texts_to(base_url, AGENT[0], claim_no)
    assert len(texts) == 4, texts
    for text, words in zip(texts, ("已提交", "审核", "审核通过", "已支付"), strict=True):
        assert words in text, (words, text)
    assert all(MOTHER_ID not in text and HOSPITAL not in text for text in texts), texts
    assert "¥7,500.00" in texts[2] and "¥7,500.00" in texts[3], texts
    assert not texted_others(live_server, claim_no, AGENT[0])  # she has no phone

    page.reload()
    summary = page.locator("#claim-summary")
    expect(summary.locator("[data-status]")).to_have_text(re.compile("已赔付"))
    expect(page.locator("[data-timeline] > li .timeline__label")).to_have_text(TIMELINE)
    expect(page.locator("[data-fact=insured] dd")).to_contain_text("王*英")
    expect(page.locator("body")).not_to_contain_text(MOTHER_ID)
    assert_no_axe_violations(page, "on 理赔详情 for 王*英 (paid)")
    keep_screenshot(page, "claim-acting-paid")
