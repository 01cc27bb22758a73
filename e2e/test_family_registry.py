"""Family from the registry, in 长辈模式 on an iPhone-sized screen: nobody types what the registry
already knows.

- 张伟 buys for his wife, son, father and mother from the home page's 为家人投保, ticking them in
  the list the registry's family links fill (masked names, relation, age): ticking adds each to
  家人, verified, and the four are paid for from his account in one confirmation. No name or ID
  number is typed or sent; the taps from the home page to the result are counted: 7 (为家人投保,
  four ticks, the agreement, 确认支付).
- 李娜 adds her husband on 家人 with one tap on 添加; her son, already insured by 张伟, is listed
  as such.
- 张建国 asks to act for his wife 王秀英 (no phone) by picking her on 申请代办 (paying from her
  医保个人账户 is not offered: as a resident she has none): the request names
  her by the pick, not by name and ID number (4 taps: her, 代为参保, 到窗口现场确认, 提交申请).

One module, one server; each person logs in once (one login code per phone per minute)."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import pytest
from playwright.sync_api import BrowserContext, Page, Request, expect

from e2e.proxy_support import elderly_problems
from e2e.support import (
    TAP_COUNTER,
    assert_no_axe_violations,
    keep_screenshot,
    reset_taps,
    sign_up,
    taps,
)

pytestmark = pytest.mark.e2e

ELDERLY = "localStorage.setItem('huiminbao.mode', 'elderly')"
ZHANG_WEI = ("13800000001", "张伟", "330106198803150130")
LI_NA = ("13800000002", "李娜", "330106199007220243")
ZHANG_JIANGUO = ("13800000004", "张建国", "330102195802100458")
# 张伟's relatives as the list shows them: (checkbox name, age); the registry knows their IDs.
RELATIVES = (("李*（配偶）", 36), ("张*宇（子女）", 8), ("王*英（父母）", 83),
             ("张*国（父母）", 68))
RELATIVE_IDS = ("330106199007220243", "330106201805090316", "33010219430618052X",
                "330102195802100458")
RELATIVE_NAMES = ("李娜", "张小宇", "王秀英", "张建国")
AGREE = "我已阅读并同意《保险条款》"
TAPS_TO_INSURE_FOUR = 7
TAPS_TO_ASK_FOR_A_GRANT = 4


def sent_bodies(page: Page) -> list[str]:
    """Every request body the page sends from now on (to show no ID number is among them)."""
    bodies: list[str] = []

    def note(request: Request) -> None:
        if request.post_data:
            bodies.append(request.post_data)

    page.on("request", note)
    return bodies


def assert_elderly_and_clean(page: Page, label: str) -> None:
    expect(page.locator("html")).to_have_attribute("data-mode", "elderly")
    problems = elderly_problems(page)
    assert not problems, f"长辈模式 {label}: {problems}"
    assert_no_axe_violations(page, label)


def is_enroll_post(request: Any) -> bool:
    return bool(request.method == "POST" and request.url.endswith("/api/v1/enrollments"))


def test_zhang_wei_insures_four_relatives_picked_from_the_registry_in_seven_taps(
    page: Page, base_url: str, new_context: Callable[..., BrowserContext]
) -> None:
    page.context.add_init_script(ELDERLY)
    page.context.add_init_script(TAP_COUNTER)
    sign_up(page, base_url, *ZHANG_WEI)
    bodies = sent_bodies(page)

    page.goto("/")
    family_link = page.get_by_role("link", name="为家人投保")
    expect(family_link).to_be_visible()
    reset_taps(page)
    family_link.click()  # tap 1
    expect(page).to_have_url(re.compile(r"/family-enroll\.html$"))
    people = page.get_by_role("group", name="选择被保险人")
    expect(people.locator("[data-registry]")).to_have_count(4)
    for name, age in RELATIVES:
        row = people.locator("[data-registry]").filter(has=page.get_by_role("checkbox", name=name))
        expect(row).to_contain_text(f"{age}岁")
        expect(row).to_contain_text("无需输入身份证号码")
    assert_elderly_and_clean(page, "on 为家人投保 with the registry's relatives")
    keep_screenshot(page, "family-registry-picks")

    sheet = page.get_by_role("region", name="确认信息")
    for count, (name, _) in enumerate(RELATIVES, start=1):
        people.get_by_role("checkbox", name=name).click()  # taps 2 to 5
        expect(people.get_by_role("checkbox", name=name)).to_be_checked()
        expect(page.get_by_role("status").filter(has_text="添加到家人")).to_contain_text(
            "亲属关系已通过医保登记信息核验")
        expect(people.locator("[data-registry]")).to_have_count(4 - count)
        expect(sheet.locator("[data-line]")).to_have_count(count)
    expect(sheet.locator("[data-total]")).to_contain_text("应付合计（4人）")
    expect(sheet.locator("[data-total]")).to_contain_text("¥600.00")
    expect(sheet.locator("[data-row=method] dd")).to_contain_text("医保个人账户")
    assert_elderly_and_clean(page, "on 为家人投保 with four relatives ticked")

    agree = page.get_by_label(AGREE)
    agree.scroll_into_view_if_needed()
    expect(agree).to_be_enabled()
    agree.check()  # tap 6
    with page.expect_request(is_enroll_post):
        page.get_by_role("button", name="确认支付 ¥600.00").click()  # tap 7
    expect(page).to_have_url(re.compile(r"/family-result\.html\?order_no="))
    expect(page.get_by_role("heading", name="参保成功")).to_be_visible()
    expect(page.locator("[data-outcome] [data-status=issued]")).to_have_count(4)
    assert taps(page) == TAPS_TO_INSURE_FOUR, f"{taps(page)} taps from the home page"
    keep_screenshot(page, "family-registry-result")

    # Nothing the person typed or sent named anyone by name or ID number.
    for secret in (*RELATIVE_IDS, *RELATIVE_NAMES):
        assert not any(secret in body for body in bodies), secret

    # On 家人 all four are members, verified by the registry; nobody is left to add.
    page.goto("/family.html")
    expect(page.locator("li.member[data-member]")).to_have_count(4)
    expect(page.locator("[data-verification=registry]")).to_have_count(4)
    expect(page.locator("[data-registry-empty]")).to_have_text("医保登记的家人都已添加。")
    assert_elderly_and_clean(page, "on 家人 with everyone added")

    # ---------------------------------------------------------------- 李娜 adds her husband
    wife = new_context().new_page()
    wife.context.add_init_script(ELDERLY)
    sign_up(wife, base_url, *LI_NA)
    wife.goto("/family.html")
    registry = wife.get_by_role("region", name="从医保登记的家人中选择")
    expect(registry.locator("[data-relative]")).to_have_count(2)
    expect(registry).to_contain_text("张*")
    assert_elderly_and_clean(wife, "on 家人 with the registry's relatives")
    keep_screenshot(wife, "family-registry-add")
    registry.get_by_role("button", name=re.compile(r"^添加\s*张\*（配偶）$")).click()
    expect(wife.get_by_role("status")).to_contain_text(
        "已添加张*（配偶），亲属关系已通过医保登记信息核验")
    husband = wife.locator("li.member[data-member]")
    expect(husband).to_have_count(1)
    expect(husband.locator("[data-verification=registry]")).to_be_visible()
    expect(registry.locator("[data-relative]")).to_have_count(1)
    # Their son is covered already (by 张伟): added with one tap, he shows as such.
    registry.get_by_role("button", name=re.compile(r"^添加\s*张\*宇（子女）$")).click()
    son = wife.locator("li.member[data-member]").filter(has_text="张*宇")
    expect(son.locator("[data-coverage]")).to_have_text("✓已由他人投保")
    expect(registry.locator("[data-registry-empty]")).to_be_visible()
    assert_elderly_and_clean(wife, "on 家人 after adding from the registry")
    wife.context.close()


def test_zhang_jianguo_asks_to_act_for_his_wife_picked_from_the_registry(
    page: Page, base_url: str
) -> None:
    page.context.add_init_script(ELDERLY)
    page.context.add_init_script(TAP_COUNTER)
    sign_up(page, base_url, *ZHANG_JIANGUO)
    page.goto("/proxy-new.html")
    relatives = page.get_by_role("group", name="从医保登记的家人中选择")
    wife = relatives.get_by_role("radio", name=re.compile(r"^王\*英（配偶）"))
    expect(wife).to_be_visible()
    expect(relatives.get_by_role("radio", name=re.compile(r"^张\*（子女）"))).to_be_visible()
    assert_elderly_and_clean(page, "on 申请代办 with the registry's relatives")
    keep_screenshot(page, "proxy-registry-picks")

    # Paying from the family member's 医保个人账户 is offered only to one who has it: his son
    # (an employee) has one, his wife (城乡居民) none, and the form says so in words.
    pay = page.get_by_role("checkbox", name=re.compile("^用家人的医保个人账户缴费"))
    relatives.get_by_role("radio", name=re.compile(r"^张\*（子女）")).check()
    expect(pay).to_be_enabled()
    reset_taps(page)
    wife.check()  # tap 1
    expect(page.get_by_label("家人身份证号码")).to_be_hidden()
    expect(pay).to_be_disabled()
    expect(pay).not_to_be_checked()
    expect(page.locator("[data-scope=pay_from_principal_account]")).to_contain_text(
        "不可选：王*英没有医保个人账户（城乡居民医保不设个人账户）")
    expect(pay).to_have_accessible_description(re.compile("王\\*英没有医保个人账户"))
    assert_elderly_and_clean(page, "on 申请代办 with paying from her account not offered")
    page.get_by_label("代为参保").check()  # tap 2
    page.get_by_role("radio", name=re.compile("^到窗口现场确认")).check()  # tap 3
    with page.expect_request(lambda r: r.method == "POST"
                             and r.url.endswith("/api/v1/proxy/grants")) as sent:
        page.get_by_role("button", name="提交申请").click()  # tap 4
    body = sent.value.post_data_json
    assert set(body) >= {"principal_pick", "scopes", "confirm_method"}
    assert "principal_id_number" not in body and "principal_name" not in body
    expect(page.get_by_role("heading", name="到医保经办窗口确认")).to_be_visible()
    expect(page.locator("main")).to_contain_text("带上王*英的身份证或户口簿")
    assert taps(page) == TAPS_TO_ASK_FOR_A_GRANT, f"{taps(page)} taps to ask for the grant"
    assert_elderly_and_clean(page, "on the counter step after picking")

    # The request is the real 王秀英's: on 代办授权 it waits for her, named as the registry has her.
    page.goto("/proxy.html")
    expect(page.locator("main")).to_contain_text("王*英")
    expect(page.locator("main")).to_contain_text("待确认")
