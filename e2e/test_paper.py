"""Paper and look-ups (issue 18): 张建国's first visit — his son 张伟 bought his policy; in 长辈模式
on his iPhone he logs in, 实名认证 (typing his ID number once), sees the policy and downloads its
PDF in at most 8 taps, with no error on the way. The PDF opens, shows the masked names and the
product, and its QR code is a verify link the verify page accepts.

And 保单查询 without an account: from the home page's 客服与投诉, an ID number and the code texted
to the phone the registry holds show the masked policy; for 王秀英, whom the registry has no phone
for, the page says so and points to the hotline and the counters."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import pytest
from playwright.sync_api import BrowserContext, Page, expect

from e2e.claims_support import api_post, demo_product
from e2e.support import (
    AGREEMENT_BOX,
    DEMO_CONSENT_TITLES,
    TAP_COUNTER,
    api_json,
    assert_no_axe_violations,
    keep_screenshot,
    reset_taps,
    sign_up,
    sms_code,
    taps,
)
from tests.pdfs import pdf_qr_texts, pdf_text, read_pdf

pytestmark = pytest.mark.e2e

SON = ("13800000001", "张伟", "330106198803150130")
FATHER = ("13800000004", "张建国", "330102195802100458")
LI_NA = ("13800000002", "李娜", "330106199007220243")
MOTHER_ID = "33010219430618052X"  # 王秀英: no phone in the registry
MAX_TAPS = 8

# Anything on screen that reads as an error: a failed load, a refused form, a field marked wrong.
ERRORS = """() => [...document.querySelectorAll(
    '.state--error, .form-alert--error, .form-alert:not(.form-alert--info), [aria-invalid=true]')]
  .filter((el) => el.getClientRects().length)
  .map((el) => (el.textContent || el.id || el.tagName).trim().slice(0, 120))"""


def no_error_on_screen(page: Page, where: str) -> None:
    page.wait_for_load_state("networkidle")
    errors = page.evaluate(ERRORS)
    assert not errors, f"error state {where}: {errors}"


def son_buys_for_father(son: Page, base_url: str) -> str:
    """张伟 adds his father (the registry confirms the relation) and pays from his own account."""
    sign_up(son, base_url, *SON)
    member = api_post(son, "/api/v1/me/family",
                      {"name": FATHER[1], "id_number": FATHER[2], "relation": "parent"})
    product = demo_product(base_url)
    standard = next(t for t in product["tiers"] if t["code"] == "standard")
    order = api_post(son, "/api/v1/enrollments", {
        "product_id": product["id"], "payment_method": "personal_account",
        "insured": [{"person_id": member["person_id"], "tier": "standard"}],
        "confirmations": {"terms_version": product["terms"]["version"],
                          "not_basic_insurance": True,
                          "debit_amount_fen": standard["premium_fen"]}})
    [policy] = order["policies"]
    return str(policy["policy_no"])


def test_zhang_jianguo_logs_in_binds_and_downloads_the_policy_his_son_bought(
    page: Page, base_url: str, new_context: Callable[..., BrowserContext],
) -> None:
    son = new_context().new_page()
    policy_no = son_buys_for_father(son, base_url)
    son.context.close()
    product = demo_product(base_url)

    # His phone, in 长辈模式 (his son switched it on for him); every real tap is counted.
    page.context.add_init_script("localStorage.setItem('huiminbao.mode', 'elderly')")
    page.context.add_init_script(TAP_COUNTER)
    page.goto("/")
    expect(page.locator("html")).to_have_attribute("data-mode", "elderly")
    tiles = page.get_by_role("navigation", name="常用服务")
    expect(tiles.get_by_role("link", name="我的保单")).to_have_attribute(
        "href", "/login.html?next=%2Fpolicies.html")
    reset_taps(page)

    tiles.get_by_role("link", name="我的保单").click()  # 1
    expect(page).to_have_url(re.compile(r"/login\.html\?next="))
    no_error_on_screen(page, "on 登录")
    page.get_by_label("手机号码").fill(FATHER[0])
    page.get_by_role("button", name="获取验证码").click()  # 2
    expect(page.get_by_text("验证码已发送至")).to_be_visible()
    page.get_by_label("短信验证码").fill(sms_code(base_url, FATHER[0]))
    page.get_by_label(AGREEMENT_BOX).check()  # 3
    page.get_by_role("button", name="登录", exact=True).click()  # 4

    expect(page).to_have_url(re.compile(r"/bind\.html\?next="))
    no_error_on_screen(page, "on 实名认证")
    page.get_by_label("姓名").fill(FATHER[1])
    page.get_by_label("身份证号码").fill(FATHER[2])  # his ID, typed once
    for title in DEMO_CONSENT_TITLES:
        page.get_by_label(f"我已阅读并同意《{title}》").check()  # 5, 6
    page.get_by_role("button", name="提交认证").click()  # 7

    expect(page).to_have_url(re.compile(r"/policies\.html$"))
    card = page.locator(f"[data-policy='{policy_no}']")
    expect(card).to_contain_text("张*国")
    expect(card).to_contain_text(product["name"])
    no_error_on_screen(page, "on 我的保单")
    assert_no_axe_violations(page, "on 我的保单 in 长辈模式")
    keep_screenshot(page, "paper-policies-elderly")

    with page.expect_download() as downloading:
        card.get_by_role("link", name=re.compile("^下载电子保单")).click()  # 8
    download = downloading.value
    assert download.suggested_filename == f"电子保单-{policy_no}.pdf"
    assert taps(page) <= MAX_TAPS, f"{taps(page)} taps"
    no_error_on_screen(page, "after the download")

    content = Path(download.path()).read_bytes()
    reader = read_pdf(content)
    text = pdf_text(reader)
    assert "被保险人张*国" in text and "投保人张*" in text
    assert product["name"] in text and policy_no in text
    assert FATHER[1] not in text and FATHER[2] not in text
    [url] = pdf_qr_texts(reader)
    assert url.startswith(f"{base_url}/verify/"), url
    verified = api_json(base_url, "/api/v1/verify/" + url.rsplit("/verify/", 1)[1])
    assert verified["policy_no"] == policy_no and verified["insured_name"] == "张*国"
    # The e-policy page offers both PDFs; the receipt names the payer's account, masked.
    page.goto(f"/policy.html?no={policy_no}")
    receipt_link = page.get_by_role("link", name="下载缴费凭证（PDF）")
    expect(receipt_link).to_have_attribute("href", f"/api/v1/policies/{policy_no}/receipt.pdf")
    expect(page.get_by_role("link", name="下载电子保单（PDF）")).to_have_attribute(
        "href", f"/api/v1/policies/{policy_no}/epolicy.pdf")
    receipt = page.request.get(f"/api/v1/policies/{policy_no}/receipt.pdf")
    assert receipt.ok and receipt.headers["content-type"] == "application/pdf"
    receipt_text = pdf_text(read_pdf(receipt.body()))
    premium = next(t["premium_fen"] for t in product["tiers"] if t["code"] == "standard")
    assert "医保个人账户（张*）" in receipt_text
    assert f"实缴金额¥{premium // 100:,}.{premium % 100:02d}" in receipt_text

    page.goto(url)  # the page the QR opens says the same
    expect(page.locator("[data-verdict]")).to_have_text(re.compile("保单真实有效"))


def test_a_policy_is_looked_up_without_an_account(
    page: Page, base_url: str, new_context: Callable[..., BrowserContext],
) -> None:
    """李娜 enrolled herself; her husband, with her phone at hand, looks the policy up."""
    insured = new_context().new_page()
    sign_up(insured, base_url, *LI_NA)
    product = demo_product(base_url)
    standard = next(t for t in product["tiers"] if t["code"] == "standard")
    api_post(insured, "/api/v1/enrollments", {
        "product_id": product["id"], "tier": "standard", "payment_method": "personal_account",
        "confirmations": {"terms_version": product["terms"]["version"],
                          "not_basic_insurance": True,
                          "debit_amount_fen": standard["premium_fen"]}})
    insured.context.close()

    page.goto("/")
    page.get_by_role("link", name="客服与投诉").first.click()
    expect(page).to_have_url(re.compile(r"/help\.html$"))
    page.get_by_role("link", name="保单查询").click()
    expect(page).to_have_url(re.compile(r"/policy-lookup\.html$"))
    assert_no_axe_violations(page, "on 保单查询")

    # 王秀英: the registry has no phone for her. The page says so and where to ask instead.
    page.get_by_label("身份证号码").fill(MOTHER_ID)
    page.get_by_role("button", name="获取验证码").click()
    notice = page.locator("[data-no-phone]")
    expect(notice).to_contain_text("没有该身份证号码可接收验证码的手机号")
    expect(notice).to_contain_text("客服热线")
    expect(notice.get_by_role("link", name="查看客服电话和服务网点")).to_have_attribute(
        "href", "/help.html")
    assert_no_axe_violations(page, "on 保单查询 without a registry phone")
    keep_screenshot(page, "paper-lookup-no-phone")

    page.get_by_label("身份证号码").fill(LI_NA[2])
    page.get_by_role("button", name="获取验证码").click()
    expect(page.get_by_role("status")).to_contain_text("138****0002")
    expect(page.locator("[data-no-phone]")).to_have_count(0)
    page.get_by_label("短信验证码").fill(lookup_code(base_url, LI_NA[0]))
    page.get_by_role("button", name="查询", exact=True).click()
    found = page.locator("[data-found-policy]")
    expect(found).to_have_count(1)
    expect(found).to_contain_text(product["name"])
    expect(found.locator("[data-fact=insured] dd")).to_have_text("李*")
    expect(found.locator("[data-fact=holder] dd")).to_have_text("李*")
    expect(found.locator("[data-fact=policy-no] dd")).to_contain_text("*")
    expect(page.locator("body")).not_to_contain_text(LI_NA[1])
    expect(page.locator("body")).not_to_contain_text(LI_NA[2])
    assert_no_axe_violations(page, "on 保单查询 with a result")
    keep_screenshot(page, "paper-lookup-found")


def lookup_code(base_url: str, phone: str) -> str:
    for item in api_json(base_url, f"/api/v1/dev/sms?phone={phone}")["items"]:
        if match := re.search(r"查询惠民保参保信息，验证码(\d{6})", item["text"]):
            return match.group(1)
    raise AssertionError(f"no lookup code for {phone}")
