"""Journeys through 实名认证 and 我的: 张伟 slips on his ID number, is refused (neutrally) with
李娜's, binds with his own and manages his consents and 长辈模式; 林𫖮 binds with a character
outside the BMP, in 长辈模式.

One code per phone per minute: each journey here uses its own phone."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect

from e2e.support import (
    DEMO_CONSENT_TITLES,
    assert_no_axe_violations,
    bind_identity,
    body_font_size,
    keep_screenshot,
    log_in,
    small_touch_targets,
)

pytestmark = pytest.mark.e2e

PERSONAL, SENSITIVE = DEMO_CONSENT_TITLES
NEUTRAL = "身份信息核验未通过，请核对姓名和身份证号码后重试"
LI_NA_ID = "330106199007220243"


def test_zhang_wei_is_refused_with_li_nas_id_then_binds_and_manages_consents(
    page: Page, base_url: str
) -> None:
    # From the home page's 登录 link; not yet bound, so the login leads on to 实名认证.
    page.goto("/")
    page.get_by_role("link", name="登录", exact=True).click()
    log_in(page, base_url, "13800000001", path=page.url)
    expect(page).to_have_url(re.compile(r"/bind\.html$"))

    # Both consent texts in full, each with its own box to tick.
    texts = page.request.get("/api/v1/consent-texts").json()["items"]
    for text in texts:
        section = page.get_by_role("region", name=text["title"])
        expect(section).to_contain_text(text["body"])
        expect(section.get_by_label(f"我已阅读并同意《{text['title']}》")).not_to_be_checked()
    name = page.get_by_label("姓名")
    expect(name).to_have_attribute("autocomplete", "name")
    assert name.get_attribute("maxlength") is None
    assert not small_touch_targets(page, 44)
    assert_no_axe_violations(page, "on 实名认证")

    # 提交 without ticking: each missing consent is named under its own box.
    name.fill("张伟")
    id_number = page.get_by_label("身份证号码")
    id_number.fill("330106198803150130")
    page.get_by_role("button", name="提交认证").click()
    personal_box = page.get_by_label(f"我已阅读并同意《{PERSONAL}》")
    expect(personal_box).to_be_focused()
    expect(personal_box).to_have_attribute("aria-invalid", "true")
    expect(page.get_by_text(f"请阅读并勾选同意《{SENSITIVE}》")).to_be_visible()
    assert_no_axe_violations(page, "on 实名认证 with consent errors")

    # A slip in the check digit (typed as a lower-case x) is caught on the page, in Chinese.
    bind_identity(page, "张伟", "33010619880315013x")
    expect(page.locator("#id-number-error")).to_have_text(
        re.compile("身份证号码校验位不正确，请核对后重新输入"))
    expect(id_number).to_have_attribute("aria-invalid", "true")
    expect(id_number).to_have_attribute("aria-describedby", re.compile(r"\bid-number-error\b"))
    expect(id_number).to_be_focused()

    # 李娜's ID number with his own name: refused with one neutral message naming neither field.
    bind_identity(page, "张伟", LI_NA_ID)
    alert = page.get_by_role("alert").filter(has_text="核验")
    # Exactly what a screen reader is told: the neutral sentence, nothing more.
    expect(alert).to_match_aria_snapshot(f"- alert:\n  - paragraph: {NEUTRAL}")
    for field in (name, id_number):
        expect(field).not_to_have_attribute("aria-invalid", "true")
    expect(page.locator("#name-error")).to_be_hidden()
    expect(page.locator("#id-number-error")).to_be_hidden()
    for hint in ("姓名不正确", "姓名有误", "姓名错误", "身份证号码不正确", "身份证号码有误",
                 "身份证号码错误", "不存在", "未找到"):
        expect(page.locator("main")).not_to_contain_text(hint)
    expect(page).to_have_url(re.compile(r"/bind\.html$"))
    assert page.request.get("/api/v1/me").json()["identity"]["bound"] is False
    assert_no_axe_violations(page, "after a refused 实名认证")

    # His own number: bound, and 我的 shows him masked.
    bind_identity(page, "张伟", "330106198803150130")
    expect(page).to_have_url(re.compile(r"/me\.html$"))
    expect(page.get_by_text("已实名认证")).to_be_visible()
    expect(page.locator("[data-fact=name] dd")).to_have_text("张*")
    expect(page.locator("[data-fact=id-number] dd")).to_have_text("3****************0")
    expect(page.locator("[data-fact=phone] dd")).to_have_text("138****0001")
    expect(page.locator("[data-fact=role] dd")).to_have_text("参保人")
    expect(page.locator("body")).not_to_contain_text("330106198803150130")
    assert_no_axe_violations(page, "on 我的")

    # Withdrawing asks first; 暂不撤回 changes nothing.
    personal = page.locator("[data-consent=personal_info]")
    expect(personal).to_contain_text("已同意")
    personal.get_by_role("button", name=re.compile("^撤回")).click()
    dialog = page.get_by_role("dialog", name=f"撤回《{PERSONAL}》？")
    expect(dialog).to_be_visible()
    expect(dialog).to_contain_text("无法在线参保")
    expect(dialog.get_by_role("button", name="暂不撤回")).to_be_focused()
    assert_no_axe_violations(page, "with the withdraw dialog open")
    dialog.get_by_role("button", name="暂不撤回").click()
    expect(dialog).to_have_count(0)
    expect(personal).to_contain_text("已同意")

    personal.get_by_role("button", name=re.compile("^撤回")).click()
    page.get_by_role("dialog").get_by_role("button", name="确认撤回").click()
    expect(page.get_by_role("status")).to_contain_text(f"已撤回《{PERSONAL}》")
    expect(personal).to_contain_text("已撤回")
    again = personal.get_by_role("button", name=re.compile("^重新同意"))
    expect(again).to_be_focused()
    records = [c for c in page.request.get("/api/v1/me").json()["consents"]
               if c["kind"] == "personal_info"]
    assert records
    assert all(record["withdrawn_at"] for record in records)

    # Giving it again shows the text once more.
    again.click()
    dialog = page.get_by_role("dialog", name=PERSONAL)
    expect(dialog).to_contain_text(texts[0]["body"][:20])
    dialog.get_by_role("button", name="我已阅读并同意").click()
    expect(personal).to_contain_text("已同意")
    expect(page.locator("[data-consent=sensitive_info]")).to_contain_text("已同意")

    # 长辈模式 from 我的: saved on the account, and the page still meets the rules.
    switch = page.get_by_role("switch", name="长辈模式")
    expect(switch).to_have_attribute("aria-checked", "false")
    with page.expect_response("**/api/v1/me/preferences") as saved:
        switch.click()
    assert saved.value.ok
    expect(switch).to_have_attribute("aria-checked", "true")
    expect(page.locator("html")).to_have_attribute("data-mode", "elderly")
    assert body_font_size(page) >= 20
    small = small_touch_targets(page, 48)
    assert not small, f"touch targets under 48×48 on 我的 in 长辈模式: {small}"
    assert_no_axe_violations(page, "on 我的 in 长辈模式")
    assert page.request.get("/api/v1/me").json()["elderly_mode"] is True
    keep_screenshot(page, "me-elderly-mode")

    # Home, logged in: 我的 in the header, and 立即参保 leads to 确认参保.
    page.goto("/")
    expect(page.get_by_role("link", name="我的", exact=True)).to_have_attribute("href", "/me.html")
    enroll = page.get_by_role("link", name="立即参保")
    expect(enroll).not_to_have_attribute("aria-disabled", "true")
    expect(enroll).to_have_attribute("href", re.compile(r"^/enroll\.html"))

    # Already bound: 实名认证 sends him on to 我的.
    page.goto("/bind.html")
    expect(page).to_have_url(re.compile(r"/me\.html$"))


def test_lin_yan_binds_with_a_name_outside_the_bmp(page: Page, base_url: str) -> None:
    log_in(page, base_url, "13800000007")
    expect(page).to_have_url(re.compile(r"/bind\.html$"))

    # 长辈模式 on 实名认证.
    page.get_by_role("button", name="长辈模式").click()
    expect(page.locator("html")).to_have_attribute("data-mode", "elderly")
    assert body_font_size(page) >= 20
    small = small_touch_targets(page, 48)
    assert not small, f"touch targets under 48×48 on 实名认证 in 长辈模式: {small}"
    assert_no_axe_violations(page, "on 实名认证 in 长辈模式")

    name = page.get_by_label("姓名")
    name.fill("林𫖮")
    assert name.input_value() == "林𫖮"  # both characters kept: no UTF-16 maxlength cut
    bind_identity(page, "林𫖮", "330108199701130742")
    expect(page).to_have_url(re.compile(r"/me\.html$"))
    expect(page.locator("[data-fact=name] dd")).to_have_text("林*")
    expect(page.locator("[data-fact=id-number] dd")).to_have_text("3****************2")
    assert_no_axe_violations(page, "on 我的 in 长辈模式")


def test_id_numbers_ending_in_x_are_accepted_in_either_case(page: Page) -> None:
    page.goto("/login.html")
    results = page.evaluate(
        """async () => {
            const id = await import("/assets/idnumber.js");
            const lower = id.normalizeIdNumber(" 33010219430618052x ");
            const fullWidth = id.normalizeIdNumber("３３０１０２１９４３０６１８０５２Ｘ");
            return [lower, id.idNumberProblem(lower), fullWidth, id.idNumberProblem(fullWidth),
                    id.idNumberProblem("3301021943061805"), id.idNumberProblem("")];
        }"""
    )
    assert results == ["33010219430618052X", "", "33010219430618052X", "",
                       "身份证号码应为18位", "请输入身份证号码"]
