"""Consent that binds, as a person meets it: 张伟 withdraws his personal-
information consent, finds 参保 stopped with the reason and the way back, gives the consent again
and can enroll; 李娜 reads and downloads what the platform holds about her — including someone's
refused attempt to act for her — and closes her account.

One code per phone per minute: each journey uses its own phone."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from playwright.sync_api import BrowserContext, Page, expect

from e2e.claims_support import api_post
from e2e.support import assert_no_axe_violations, log_in, sign_up

pytestmark = pytest.mark.e2e

PERSONAL = "个人信息处理告知同意书"
CHINA = ZoneInfo("Asia/Shanghai")


def test_a_withdrawn_consent_stops_enrolling_until_it_is_given_again(
    page: Page, base_url: str
) -> None:
    sign_up(page, base_url, "13800000001", "张伟", "330106198803150130")
    expect(page).to_have_url(re.compile(r"/me\.html$"))
    personal = page.locator("[data-consent=personal_info]")
    personal.get_by_role("button", name=re.compile("^撤回")).click()
    dialog = page.get_by_role("dialog", name=f"撤回《{PERSONAL}》？")
    expect(dialog).to_contain_text("已生效的保单继续有效")
    dialog.get_by_role("button", name="确认撤回").click()
    expect(personal).to_contain_text("已撤回")

    # 参保 is stopped, saying what stopped, why, and where to resume.
    page.goto("/enroll.html")
    main = page.locator("main")
    expect(main).to_contain_text("需要您的授权")
    expect(main).to_contain_text(f"您已撤回《{PERSONAL}》")
    expect(main).to_contain_text("在线参保投保")
    expect(main).to_contain_text("已暂停")
    expect(main).to_contain_text("我的-授权与同意")
    expect(page.get_by_role("region", name="确认信息")).to_have_count(0)
    assert_no_axe_violations(page, "on 参保 stopped by a withdrawn consent")

    # The way back: 我的 → 重新同意 → 参保 works again.
    page.get_by_role("link", name=re.compile("去“我的”")).click()
    expect(page).to_have_url(re.compile(r"/me\.html$"))
    personal.get_by_role("button", name=re.compile("^重新同意")).click()
    page.get_by_role("dialog").get_by_role("button", name="我已阅读并同意").click()
    expect(personal).to_contain_text("已同意")
    page.goto("/enroll.html")
    sheet = page.get_by_role("region", name="确认信息")
    expect(sheet).to_be_visible()
    expect(sheet.locator("[data-row=insured] dd")).to_have_text("张*（本人）")


def test_li_na_reads_and_downloads_her_data_then_closes_her_account(
    page: Page, base_url: str, new_context: Callable[..., BrowserContext], tmp_path: Path
) -> None:
    sign_up(page, base_url, "13800000002", "李娜", "330106199007220243")
    li_na = page.request.get("/api/v1/me").json()["identity"]["person_id"]

    # Someone else tries to act for her and is refused.
    other = new_context().new_page()
    log_in(other, base_url, "13800000006")
    tried = other.request.get("/api/v1/policies", headers={"X-Acting-For": str(li_na)})
    assert tried.status == 403

    # She authorized the platform to read a month of her 医保 settlement records.
    today = datetime.now(CHINA).date()
    api_post(page, "/api/v1/claims/records/consents", {
        "period_from": (today - timedelta(days=30)).isoformat(), "period_to": today.isoformat()})

    page.goto("/me.html")
    page.get_by_role("link", name=re.compile("^我的个人信息")).click()
    expect(page).to_have_url(re.compile(r"/my-data\.html$"))
    account = page.locator("[data-section=account]")
    expect(account.locator("[data-fact=phone] dd")).to_have_text("138****0002")
    expect(account.locator("[data-fact=name] dd")).to_have_text("李*")
    consents = page.locator("[data-section=consents]")
    expect(consents).to_contain_text(PERSONAL)
    expect(consents).to_contain_text("2026.1")
    agreements = page.locator("[data-section=agreements]")
    expect(agreements).to_contain_text("《用户协议》")
    expect(agreements).to_contain_text("《隐私政策》")
    audit = page.locator("[data-section=audit]")
    refused = audit.locator("[data-outcome=denied]")
    expect(refused).to_have_count(1)
    expect(refused).to_contain_text("已拒绝")
    expect(refused).to_contain_text("其他用户")
    expect(audit.locator("[data-activity='identity.bind']")).to_have_count(1)
    expect(audit.locator("[data-activity='claim_records.authorize']")).to_contain_text(
        "授权查询医保结算记录")
    records = page.locator("[data-section=records]")
    expect(records).to_contain_text("医保结算记录查询授权（1）")
    expect(records).to_contain_text("已授权")
    expect(records).to_contain_text("授权人本人")
    expect(page.locator("body")).not_to_contain_text("330106199007220243")
    assert_no_axe_violations(page, "on 我的个人信息")

    # The download is the same data, as a JSON file.
    with page.expect_download() as downloading:
        page.get_by_role("link", name="下载全部信息（JSON）").click()
    saved = tmp_path / "my-data.json"
    downloading.value.save_as(saved)
    data = json.loads(saved.read_text(encoding="utf-8"))
    assert data["identity"]["name"] == "李*"
    assert any(event["outcome"] == "denied" for event in data["audit_trail"])

    # 注销账号: what goes, what the law keeps, then closed and signed out.
    deletion = page.get_by_role("region", name="注销账号")
    expect(deletion).to_contain_text("保险法")
    expect(deletion).to_contain_text("会计档案管理办法")
    deletion.get_by_role("button", name="申请注销账号").click()
    dialog = page.get_by_role("dialog", name="确认注销账号？")
    expect(dialog).to_be_visible()
    assert_no_axe_violations(page, "with the deletion dialog open")
    dialog.get_by_role("button", name="确认注销").click()
    expect(deletion).to_contain_text("账号已注销")
    assert page.request.get("/api/v1/me").status == 401
