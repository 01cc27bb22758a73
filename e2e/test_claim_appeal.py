"""周强 appeals a rejected claim. The demo product is underwritten by two insurers; staff of the
first rejects his claim; he appeals from the claim's page with a reason; staff of the same
insurer may not decide the appeal, staff of the second approves it at a desk; he sees the appeal
and its outcome on the claim's page."""

from __future__ import annotations

import re
import uuid

import pytest
import requests
from playwright.sync_api import Browser, Page, expect

from e2e.claims_support import (
    HOSPITAL,
    api_post,
    check_elderly,
    coverage_day,
    demo_product,
    enrollment_body,
    last_enrollment_day,
    move_clock,
    switch_elderly,
)
from e2e.support import LiveServer, assert_no_axe_violations, keep_screenshot, log_in, sign_up
from e2e.test_claims_online import decide
from e2e.test_console import api_session, cli, create_staff

pytestmark = pytest.mark.e2e

PHONE, NAME, ID_NUMBER = "13800000010", "周强", "330106199308121011"
ADMIN, FIRST, SAME, SECOND = "13700000071", "13600000071", "13600000072", "13600000073"
INSURERS = ("甲财产保险杭州分公司", "乙人寿保险杭州分公司")
REASON = "出院小结写明为住院手术治疗，请重新审核"


def clerk(server: LiveServer, base_url: str, admin: requests.Session, phone: str,
          insurer: str) -> None:
    """An insurer-staff account (``huiminbao staff create`` says its number) working for
    ``insurer``."""
    printed = cli(server, "staff", "create", "--phone", phone, "--role", "insurer_staff",
                  "--name", "理赔复核员")
    account_id = re.search(r"#(\d+)", printed).group(1)  # type: ignore[union-attr]
    answer = admin.put(f"{base_url}/api/v1/admin/insurer-staff/{account_id}", timeout=10,
                       json={"insurer": insurer})
    assert answer.status_code == 200, answer.text


def decision(base_url: str, clerk: requests.Session, claim_no: str, body: dict[str, str]
             ) -> requests.Response:
    return clerk.post(f"{base_url}/api/v1/admin/claims/{claim_no}/decision", json=body,
                      headers={"Idempotency-Key": uuid.uuid4().hex}, timeout=30)


def test_zhou_qiang_appeals_and_a_second_insurer_approves(
    page: Page, base_url: str, live_server: LiveServer, browser: Browser
) -> None:
    product = demo_product(base_url)
    create_staff(live_server, ADMIN, "admin", "管理员")
    admin = api_session(base_url, ADMIN)
    for phone, insurer in ((FIRST, INSURERS[0]), (SAME, INSURERS[0]), (SECOND, INSURERS[1])):
        clerk(live_server, base_url, admin, phone, insurer)
    group = admin.put(f"{base_url}/api/v1/admin/products/{product['id']}/insurers", timeout=10,
                      json={"insurers": [
                          {"insurer": INSURERS[0], "share_bp": 6000, "lead": True},
                          {"insurer": INSURERS[1], "share_bp": 4000, "lead": False}]})
    assert group.status_code == 200, group.text

    move_clock(base_url, last_enrollment_day(product))
    sign_up(page, base_url, PHONE, NAME, ID_NUMBER)
    order = api_post(page, "/api/v1/enrollments", enrollment_body(product, "online"))
    page.goto(order["pay_url"])
    page.get_by_role("button", name="确认支付").click()
    expect(page.get_by_role("region", name="参保成功")).to_be_visible(timeout=20_000)

    move_clock(base_url, coverage_day(product, 3))
    claim = api_post(page, "/api/v1/claims", {
        "hospital_name": HOSPITAL, "admitted_on": str(coverage_day(product, 0)),
        "discharged_on": str(coverage_day(product, 2)), "in_policy_self_pay_fen": 3_000_000,
        "items": []})
    claim_no = claim["claim_no"]
    first = api_session(base_url, FIRST)  # signed in after the clock moved: tokens are fresh
    same = api_session(base_url, SAME)
    rejected = decision(base_url, first, claim_no, {"decision": "reject", "message": "非住院治疗"})
    assert rejected.status_code == 200, rejected.text

    # ---------------------------------------------------------------- he appeals
    page.goto(f"/claim.html?no={claim_no}")
    summary = page.locator("#claim-summary")
    expect(summary.locator("[data-status]")).to_have_text(re.compile("未予赔付"))
    expect(summary.locator("[data-status-text]")).to_contain_text("非住院治疗")
    appeal_card = page.get_by_role("region", name="申诉")
    appeal_card.get_by_role("button", name="提交申诉").click()
    expect(page.locator("#appeal-reason-error")).to_contain_text("请填写申诉理由")
    appeal_card.get_by_label("申诉理由").fill(REASON)
    assert_no_axe_violations(page, "on 理赔详情 (rejected, appeal form)")
    switch_elderly(page, True)  # the appeal is for older people too: large text, big targets
    check_elderly(page, "理赔详情 (appeal form)")
    keep_screenshot(page, "claim-appeal-elderly")
    switch_elderly(page, False)
    with page.expect_request(lambda r: r.method == "POST" and r.url.endswith("/appeal")) as sent:
        appeal_card.get_by_role("button", name="提交申诉").click()
    assert sent.value.post_data_json == {"reason": REASON}
    expect(appeal_card.get_by_role("status")).to_contain_text("申诉已提交")
    expect(summary.locator("[data-status]")).to_have_text(re.compile("申诉复核中"))
    expect(page.locator("[data-appeal-state]")).to_have_text(re.compile("复核中"))
    expect(appeal_card.get_by_role("button", name="提交申诉")).to_be_hidden()
    expect(page.locator("#timeline-body")).to_contain_text(f"申诉理由：{REASON}")
    keep_screenshot(page, "claim-appealed")

    # The insurer that rejected it may not decide the appeal.
    refused = decision(base_url, same, claim_no, {"decision": "approve"})
    assert refused.status_code == 409, refused.text
    assert "另一家共保机构" in refused.json()["message"]

    # ---------------------------------------------------------------- the second insurer
    desk = browser.new_context(base_url=base_url, locale="zh-CN", timezone_id="Asia/Shanghai",
                               viewport={"width": 1280, "height": 900})
    try:
        staff = desk.new_page()
        staff.goto("/staff/claims.html")
        # The page sends a visitor without a session to the login page: wait for that redirect,
        # or the login's own navigation would race it.
        expect(staff).to_have_url(re.compile(r"/login\.html\?next="))
        log_in(staff, base_url, SECOND, path=staff.url)
        expect(staff).to_have_url(re.compile(r"/staff/claims\.html$"))
        staff.get_by_role("link", name=re.compile("^申诉复核")).click()
        expect(staff.locator("[data-view=appealed]")).to_have_attribute("aria-current", "page")
        row = staff.locator(f"tr[data-claim='{claim_no}']")
        expect(row.locator("[data-status]")).to_have_text(re.compile("申诉复核中"))
        row.get_by_role("link", name=claim_no).click()
        note = staff.locator("[data-appeal-note]")
        expect(note).to_contain_text(f"申诉理由：{REASON}")
        expect(note).to_contain_text(f"原拒赔由{INSURERS[0]}作出")
        expect(staff.locator("[data-decision]")).to_have_count(2)
        assert_no_axe_violations(staff, "on 理赔审核详情 (appealed)")
        decide(staff, "审核通过", "确认通过")
        expect(staff.locator(".decision__current [data-status]")).to_have_text(
            re.compile("审核通过"))
    finally:
        desk.close()

    # ---------------------------------------------------------------- he sees the outcome
    page.goto(f"/claim.html?no={claim_no}")
    expect(summary.locator("[data-status]")).to_have_text(re.compile("审核通过"))
    expect(page.locator("[data-appeal-state]")).to_have_text(re.compile("申诉成立，予以赔付"))
    expect(page.locator("[data-appeal-state] [aria-hidden=true]")).to_have_text("✓")
    expect(summary.locator("[data-payout-total]")).to_be_visible()
    expect(page.locator("#timeline-body")).to_contain_text("经另一家共保机构复核，申诉成立")
    assert_no_axe_violations(page, "on 理赔详情 (appeal overturned)")
    keep_screenshot(page, "claim-appeal-overturned")
