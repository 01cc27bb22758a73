"""Knowing 张伟's ID number is not enough: someone who types his name and ID number
on another phone is bound *unverified*: the binding page says so and what to do, the account
page shows no balance and says why, and the confirm sheet offers no personal account. When 张伟
binds with the phone the registry holds for him, he takes his identity back, and the other
phone is told. (张伟's own three-tap enrollment is test_enroll_account.py.)"""

from __future__ import annotations

import re
from collections.abc import Callable

import pytest
from playwright.sync_api import BrowserContext, Page, expect

from e2e.support import api_json, assert_no_axe_violations, bind_identity, log_in, sign_up

pytestmark = pytest.mark.e2e

ZHANG = ("13800000001", "张伟", "330106198803150130")
OTHER_PHONE = "13912345670"  # not the registry's phone for anyone


def test_someone_with_zhang_weis_id_on_another_phone_can_neither_see_nor_spend(
    page: Page, base_url: str, new_context: Callable[..., BrowserContext]
) -> None:
    log_in(page, base_url, OTHER_PHONE)
    expect(page).to_have_url(re.compile(r"/bind\.html"))
    bind_identity(page, ZHANG[1], ZHANG[2])

    panel = page.get_by_role("region", name="实名信息已核对，尚未核验身份")
    expect(panel).to_be_visible()
    expect(panel).to_contain_text("暂不能查看或使用医保个人账户")
    expect(panel).to_contain_text("到柜台核验")
    expect(panel.get_by_role("button", name="刷脸核验")).to_be_visible()  # the demo simulator
    assert_no_axe_violations(page, "on 实名认证 when not verified")

    # The account page hides the balance, says why, and offers the way to verify (the shared
    # guard: it returns here afterwards).
    page.goto("/account.html")
    expect(page.get_by_text("请先核验本人身份")).to_be_visible()
    expect(page.get_by_text("¥2,000.00")).to_have_count(0)
    verify = page.get_by_role("link", name="去核验身份")
    expect(verify).to_be_visible()
    expect(verify).to_have_attribute("href", "/bind.html?next=%2Faccount.html")
    account = page.request.get("/api/v1/me/account")
    assert account.status == 403 and account.json()["code"] == "identity_unverified"
    assert "prior_years_fen" not in account.text()

    # Enrolling offers online payment only: no personal account on the confirm sheet.
    page.goto("/enroll.html")
    sheet = page.get_by_role("region", name="确认信息")
    expect(sheet.locator("[data-row=method] dd")).to_contain_text("在线支付")
    expect(sheet.locator("[data-row=balance-before]")).to_have_count(0)

    # 张伟 himself, with the phone the registry holds, takes his identity back at once.
    owner = new_context().new_page()
    sign_up(owner, base_url, *ZHANG)
    owner.goto("/account.html")
    expect(owner.locator("[data-balance=prior_years] .balance__amount")).to_have_text(
        "¥2,000.00")
    texts = [item["text"] for item in
             api_json(base_url, f"/api/v1/dev/sms?phone={OTHER_PHONE}")["items"]]
    assert any("已解除绑定" in text for text in texts), texts
    me = page.request.get("/api/v1/me").json()
    assert me["identity"]["bound"] is False
