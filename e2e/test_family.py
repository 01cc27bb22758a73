"""Buying for family, on 家人, 为家人投保 and 为家人投保结果.

- 张伟 adds his family on 家人 (李娜, 张小宇, 张建国 and 王秀英, all verified by the registry;
  刘䶮 as "parent" is refused with the reason) and buys 标准版 for all four in one confirmation
  from the home page's 为家人投保: his prior-years balance drops by exactly ¥600.00 and four
  policies appear. 李娜 and 张建国 each see their own policy; 李娜 adds 张小宇 and sees him as
  已由他人投保. 张伟 cancels 王秀英's policy before coverage and ¥150.00 returns to his account.
- 周强: adding 林𫖮, whom the registry does not link to him, sends a code to her own phone
  (138****0007) and she waits for 输入验证码; an unverified relative cannot be paid for from the
  account, and the refusal names her; paying for himself from the account (¥149.99) is ¥0.01
  short: the shortfall is shown, online payment offered, and nothing is charged. 长辈模式 sizes on
  家人 and 为家人投保; removing a member asks first.

One module, one server (each person logs in once: one login code per phone per minute)."""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

import pytest
from playwright.sync_api import BrowserContext, Locator, Page, expect

from e2e.support import (
    api_json,
    assert_no_axe_violations,
    body_font_size,
    http_put_json,
    keep_screenshot,
    sign_up,
    small_touch_targets,
)

pytestmark = pytest.mark.e2e

ZHANG_WEI = ("13800000001", "张伟", "330106198803150130")
ZHOU_QIANG = ("13800000010", "周强", "330106199308121011")
RELATIVE_PHONE = "13800000007"  # 林𫖮's own phone, as the registry has it
_CODE_FOR_RELATIVE = re.compile(r"添加为家庭成员，验证码(\d{6})")
AGREE = "我已阅读并同意《保险条款》"

# (name, ID number, relation on the picker, masked name the pages show)
FAMILY = (
    ("李娜", "330106199007220243", "配偶", "李*"),
    ("张小宇", "330106201805090316", "子女", "张*宇"),
    ("张建国", "330102195802100458", "父母", "张*国"),
    ("王秀英", "33010219430618052X", "父母", "王*英"),
)


def add_member(page: Page, name: str, id_number: str, relation: str) -> None:
    """On 家人: pick the relation, type name and ID number, press 添加 (at once: the registry's
    relatives load above the form in a place held for them, test_family_layout.py)."""
    form = page.locator("#add-form")
    form.get_by_role("radio", name=relation, exact=True).check()
    form.get_by_label("家人姓名").fill(name)
    form.get_by_label("家人身份证号码").fill(id_number)
    form.get_by_role("button", name="添加", exact=True).click()


def member(page: Page, masked: str) -> Locator:
    return page.locator("li.member").filter(
        has=page.get_by_role("heading", name=re.compile(f"^{re.escape(masked)} ")))


def prior_years_balance(page: Page) -> Locator:
    return page.locator("[data-balance=prior_years] .balance__amount")


def is_enroll_post(request: Any) -> bool:
    return bool(request.method == "POST" and request.url.endswith("/api/v1/enrollments"))


def test_zhang_wei_buys_for_four_family_members_in_one_confirmation(
    page: Page, base_url: str, new_context: Callable[..., BrowserContext]
) -> None:
    sign_up(page, base_url, *ZHANG_WEI)

    # ---------------------------------------------------------------- 家人, from 我的
    page.get_by_role("link", name=re.compile("^家人")).click()
    expect(page).to_have_url(re.compile(r"/family\.html$"))
    expect(page.get_by_role("heading", level=1, name="家人")).to_be_visible()
    expect(page.locator("[data-empty]")).to_contain_text("还没有添加家人")

    # The ID number is checked as it is typed (a wrong check digit), before anything is sent.
    id_input = page.get_by_label("家人身份证号码")
    id_input.fill("330106199007220244")
    expect(page.locator("#member-id-number-error")).to_contain_text("校验位不正确")
    expect(id_input).to_have_attribute("aria-invalid", "true")
    id_input.fill("")

    # 刘䶮 is younger than 张伟: not his parent. The reason is said under the relation picker.
    add_member(page, "刘䶮", "330105198109040613", "父母")
    relation_error = page.locator("#relation-error")
    expect(relation_error).to_contain_text("父母应比您年长14岁以上")
    expect(page.get_by_role("radio", name="父母", exact=True)).to_be_focused()
    expect(page.get_by_role("radio", name="父母", exact=True)).to_have_attribute(
        "aria-invalid", "true")
    expect(page.locator("li.member")).to_have_count(0)
    assert_no_axe_violations(page, "on 家人 with the relation refused")
    keep_screenshot(page, "family-relation-refused")

    for name, id_number, relation, masked in FAMILY:
        add_member(page, name, id_number, relation)
        expect(page.get_by_role("status")).to_contain_text(
            f"已添加{masked}（{relation}），亲属关系已通过医保登记信息核验")
        row = member(page, masked)
        expect(row.locator("[data-verification=registry]")).to_have_text("✓关系已核验")
        expect(row.locator("[data-coverage]")).to_have_text("—未参保")
    expect(page.locator("li.member")).to_have_count(4)
    expect(page.locator("body")).not_to_contain_text("330106199007220243")
    assert_no_axe_violations(page, "on 家人 with four members")
    keep_screenshot(page, "family-four-members")

    # -------------------------------------------------------- 为家人投保, from the home page
    page.goto("/")
    page.get_by_role("link", name="为家人投保").click()
    expect(page).to_have_url(re.compile(r"/family-enroll\.html$"))
    people = page.get_by_role("group", name="选择被保险人")
    expect(people.get_by_role("checkbox", name="张*（本人）")).not_to_be_checked()
    sheet = page.get_by_role("region", name="确认信息")
    expect(sheet.locator("[data-empty]")).to_be_visible()
    expect(page.get_by_role("button", name="确认支付")).to_be_disabled()

    for _, _, relation, masked in FAMILY:
        people.get_by_role("checkbox", name=f"{masked}（{relation}）").check()
    expect(sheet.locator("[data-line]")).to_have_count(4)
    expect(sheet.locator("[data-total]")).to_contain_text("¥600.00")

    # A tier for each person: 升级版 for one of them changes the total, and back.
    tier = people.get_by_label("保障方案（李*）")
    expect(tier).to_have_value("standard")
    tier.select_option("premium")
    expect(sheet.locator("[data-line] [data-tier]").first).to_have_text("升级版")
    expect(sheet.locator("[data-total]")).to_contain_text("¥749.00")
    tier.select_option("standard")
    expect(sheet.locator("[data-total]")).to_contain_text("¥600.00")

    for _, _, relation, masked in FAMILY:
        line = sheet.locator("[data-line]").filter(has_text=f"{masked}（{relation}）")
        expect(line.locator("[data-tier]")).to_have_text("标准版")
        expect(line.locator("[data-amount]")).to_have_text("¥150.00")
    expect(sheet.locator("[data-total]")).to_contain_text("应付合计（4人）")
    expect(sheet.locator("[data-row=method] dd")).to_contain_text("医保个人账户")
    expect(sheet.locator("[data-row=holder] dd")).to_have_text("张*")
    expect(sheet.locator("[data-row=balance-before] dd")).to_have_text("¥2,000.00")
    expect(sheet.locator("[data-row=balance-after] dd")).to_have_text("¥1,400.00")
    expect(page.get_by_role("complementary", name="重要提示")).to_contain_text("不是基本医疗保险")
    assert not small_touch_targets(page, 44)
    assert_no_axe_violations(page, "on 为家人投保")

    agree = page.get_by_label(AGREE)
    agree.scroll_into_view_if_needed()
    expect(agree).to_be_enabled()
    agree.check()
    keep_screenshot(page, "family-enroll-sheet")
    with page.expect_request(is_enroll_post) as sent:
        page.get_by_role("button", name="确认支付 ¥600.00").click()
    post = sent.value
    uuid.UUID(post.headers["idempotency-key"])
    body = post.post_data_json
    assert body["payment_method"] == "personal_account"
    assert [choice["tier"] for choice in body["insured"]] == ["standard"] * 4
    assert body["confirmations"]["debit_amount_fen"] == 60000
    assert body["confirmations"]["not_basic_insurance"] is True

    # ---------------------------------------------------------------- each person's outcome
    expect(page).to_have_url(re.compile(r"/family-result\.html\?order_no="))
    expect(page.get_by_role("heading", name="参保成功")).to_be_visible()
    expect(page.locator("[data-fact=paid] dd").first).to_have_text("¥600.00")
    outcomes = page.locator("[data-outcome]")
    expect(outcomes).to_have_count(4)
    policy_nos = {}
    for _, _, _, masked in FAMILY:
        outcome = outcomes.filter(has=page.get_by_role("heading", name=re.compile(
            f"^{re.escape(masked)} ")))
        expect(outcome.locator("[data-status=issued]")).to_contain_text("已出单")
        number = outcome.locator("[data-fact=policy-no] dd").inner_text().strip()
        assert re.fullmatch(r"[A-Z0-9]{8,}", number), number
        policy_nos[masked] = number
    assert len(set(policy_nos.values())) == 4
    assert_no_axe_violations(page, "on 为家人投保结果")
    keep_screenshot(page, "family-result")

    # Exactly ¥600.00 from the prior-years balance, in one debit.
    page.get_by_role("link", name="查看个人账户扣款记录").click()
    expect(prior_years_balance(page)).to_have_text("¥1,400.00")
    debit = page.locator("[data-entry=debit]")
    expect(debit).to_have_count(1)
    expect(debit).to_contain_text("-¥600.00")

    # Four policies under 我的保单; on 家人 every member is 已参保 with a link to the e-policy.
    page.goto("/policies.html")
    expect(page.locator("[data-policy]")).to_have_count(4)
    page.goto("/family.html")
    for _, _, _, masked in FAMILY:
        row = member(page, masked)
        expect(row.locator("[data-coverage]")).to_have_text("✓已参保")
        expect(row.get_by_role("link", name=re.compile("^查看电子保单"))).to_have_attribute(
            "href", f"/policy.html?no={policy_nos[masked]}")

    # ---------------------------------------------------------------- 李娜 sees her policy
    li_na = new_context().new_page()
    sign_up(li_na, base_url, "13800000002", "李娜", "330106199007220243")
    li_na.goto("/policies.html")
    card = li_na.locator(f"[data-policy='{policy_nos['李*']}']")
    expect(card).to_contain_text("李*")
    expect(card).to_contain_text("有效（待生效）")
    card.get_by_role("link", name=re.compile("^查看电子保单")).click()
    expect(li_na.locator("[data-fact=holder] dd")).to_have_text("张*")
    # Auto-renewal would debit 张伟's account: she sees its state, not a switch she cannot use.
    expect(li_na.locator("[data-fact=auto-renew] dd")).to_have_text("未开启")
    expect(li_na.locator("[data-renew-payer-note]")).to_contain_text("自动续保由付款人张*管理")
    expect(li_na.get_by_role("switch", name="自动续保")).to_have_count(0)
    assert_no_axe_violations(li_na, "on 李娜's 电子保单")

    # She adds 张小宇 (her son, too): already covered, by someone she is not told of.
    li_na.goto("/family.html")
    add_member(li_na, "张小宇", "330106201805090316", "子女")
    xiaoyu = member(li_na, "张*宇")
    expect(xiaoyu.locator("[data-coverage]")).to_have_text("✓已由他人投保")
    expect(xiaoyu).to_contain_text("无需重复购买")
    expect(xiaoyu.get_by_role("link", name=re.compile("^查看电子保单"))).to_have_count(0)
    assert_no_axe_violations(li_na, "on 家人 (李娜)")
    keep_screenshot(li_na, "family-insured-by-other")

    # On her 为家人投保 nobody can be paid for twice: both are shown, disabled, with the reason.
    li_na.goto("/family-enroll.html")
    expect(li_na.get_by_role("checkbox", name="李*（本人）")).to_be_disabled()
    son = li_na.get_by_role("checkbox", name="张*宇（子女）")
    expect(son).to_be_disabled()
    expect(li_na.locator("[data-person] [data-coverage='已由他人投保']")).to_be_visible()
    assert_no_axe_violations(li_na, "on 为家人投保 with everybody insured")
    li_na.context.close()

    # ---------------------------------------------------------------- 张建国 sees his policy
    father = new_context().new_page()
    sign_up(father, base_url, "13800000004", "张建国", "330102195802100458")
    father.goto("/policies.html")
    expect(father.locator(f"[data-policy='{policy_nos['张*国']}']")).to_contain_text("张*国")
    father.context.close()

    # 张伟 paid for it: on the same policy he has the switch, and no note.
    page.goto(f"/policy.html?no={policy_nos['李*']}")
    expect(page.get_by_role("switch", name="自动续保")).to_be_visible()
    expect(page.locator("[data-renew-payer-note]")).to_be_hidden()

    # ---------------------------------------------------------------- 退保: 王秀英, before coverage
    page.goto(f"/policy.html?no={policy_nos['王*英']}")
    expect(page.locator("#epolicy [data-fact=insured] dd")).to_have_text("王*英")
    page.get_by_role("button", name="申请退保").click()
    dialog = page.get_by_role("dialog", name="确认退保？")
    expect(dialog.locator("[data-refund-amount]")).to_have_text("¥150.00")
    dialog.get_by_role("button", name="确认退保").click()
    expect(page.get_by_role("alert")).to_contain_text("已退保，¥150.00已原路退回您的医保个人账户")

    page.goto("/account.html")
    expect(prior_years_balance(page)).to_have_text("¥1,550.00")
    refund = page.locator("[data-entry=refund]")
    expect(refund).to_contain_text("+¥150.00")
    expect(refund).to_contain_text("退保退费")

    page.goto("/family.html")
    expect(member(page, "王*英").locator("[data-coverage]")).to_have_text("—未参保")
    expect(member(page, "张*国").locator("[data-coverage]")).to_have_text("✓已参保")

    # ---------------------------------------------------------------- 王秀英 again, in 长辈模式
    # Eleven minutes on, a debit needs a code from his phone; in 长辈模式 its resend button says
    # 请稍后再获取 with no ticking seconds (适老化), and counts down again in the standard mode.
    now = datetime.fromisoformat(api_json(base_url, "/api/v1/dev/clock")["now"])
    status, _ = http_put_json(base_url, "/api/v1/dev/clock",
                              {"now": (now + timedelta(minutes=11)).isoformat()})
    assert status == 200
    # The page's timers run on Playwright's clock, so "no ticking for a while" is checked by
    # moving that clock rather than by sleeping.
    page.clock.install()
    page.get_by_role("link", name="为王*英投保").click()
    expect(page).to_have_url(re.compile(r"/family-enroll\.html\?person=\d+$"))
    people = page.get_by_role("group", name="选择被保险人")
    expect(people.get_by_role("checkbox", name="王*英（父母）")).to_be_checked()
    sheet = page.get_by_role("region", name="确认信息")
    expect(sheet.locator("[data-row=balance-before] dd")).to_have_text("¥1,550.00")
    page.get_by_role("button", name="长辈模式").click()
    expect(page.locator("html")).to_have_attribute("data-mode", "elderly")
    code = page.get_by_label("短信验证码")
    expect(code).to_be_visible()
    page.get_by_role("button", name="获取验证码").click()
    expect(page.get_by_text("验证码已发送至 138****0001")).to_be_visible()
    resend = page.locator("#sms-send")
    expect(resend).to_be_disabled()
    expect(resend).to_have_text("请稍后再获取")
    page.clock.run_for(1200)  # a ticking countdown would have changed the text by now
    expect(resend).to_have_text("请稍后再获取")
    expect(page.locator("#sms-field")).not_to_contain_text(re.compile(r"\d+s"))
    assert_no_axe_violations(page, "on 为家人投保 in 长辈模式 after sending the code")
    keep_screenshot(page, "family-enroll-sms-elderly")
    page.get_by_role("button", name="长辈模式").click()
    expect(page.locator("html")).not_to_have_attribute("data-mode", "elderly")
    expect(resend).to_have_text(re.compile(r"^重新获取\(\d+s\)$"))
    expect(resend).to_be_disabled()


def relative_code(base_url: str) -> str:
    outbox = api_json(base_url, f"/api/v1/dev/sms?phone={RELATIVE_PHONE}")
    for item in outbox["items"]:  # newest first
        match = _CODE_FOR_RELATIVE.search(item["text"])
        if match:
            return match.group(1)
    raise AssertionError(f"no family code in the outbox of {RELATIVE_PHONE}: {outbox}")


def test_zhou_qiang_verifies_a_relative_by_code_and_is_told_his_shortfall(
    page: Page, base_url: str
) -> None:
    sign_up(page, base_url, *ZHOU_QIANG)
    page.goto("/family.html")

    # -------------------------------------------------- a relative the registry doesn't link
    add_member(page, "林𫖮", "330108199701130742", "配偶")
    expect(page.get_by_role("status")).to_contain_text("请输入家人手机收到的验证码")
    lin = member(page, "林*")
    expect(lin.locator("[data-verification=pending]")).to_have_text("!关系待验证")
    step = lin.locator("[data-verify]")
    expect(step).to_contain_text("输入验证码")
    expect(step).to_contain_text("家人本人的手机 138****0007")
    code_input = step.get_by_label("林*收到的验证码")
    expect(code_input).to_be_focused()
    assert_no_axe_violations(page, "on 家人 with a member waiting for the code")

    # 长辈模式: larger text and targets on the same page.
    page.get_by_role("button", name="长辈模式").click()
    expect(page.locator("html")).to_have_attribute("data-mode", "elderly")
    assert body_font_size(page) >= 22
    small = small_touch_targets(page, 60)
    assert not small, f"touch targets under 60px in 长辈模式: {small}"
    assert_no_axe_violations(page, "on 家人 in 长辈模式")
    keep_screenshot(page, "family-pending-elderly")
    page.get_by_role("button", name="长辈模式").click()
    expect(page.locator("html")).not_to_have_attribute("data-mode", "elderly")
    keep_screenshot(page, "family-pending")

    # A wrong code is said under the field.
    code_input.fill("000000")
    step.get_by_role("button", name="确认验证").click()
    expect(step.locator(".field__error")).to_contain_text(
        "验证码不正确")

    # -------------------------------------------------- not verified: no account payment
    page.get_by_role("link", name="为家人投保", exact=True).click()
    expect(page).to_have_url(re.compile(r"/family-enroll\.html$"))
    people = page.get_by_role("group", name="选择被保险人")
    sheet = page.get_by_role("region", name="确认信息")
    expect(people.locator("[data-person] [data-verification=pending]")).to_be_visible()
    people.get_by_role("checkbox", name="周*（本人）").check()
    people.get_by_role("checkbox", name="林*（配偶）").check()
    refusal = sheet.locator("[data-refusal=relation_unverified]")
    expect(refusal.locator("[data-reason]")).to_contain_text("林*的亲属关系尚未核验")
    expect(refusal).to_contain_text("未扣除任何费用")
    expect(refusal.get_by_role("button", name="改用在线支付")).to_be_visible()
    expect(page.get_by_role("button", name=re.compile("^确认支付"))).to_be_disabled()
    assert_no_axe_violations(page, "on 为家人投保 with an unverified relative")

    # ---------------------------------------------------------------- himself alone: ¥0.01 short
    people.get_by_role("checkbox", name="林*（配偶）").uncheck()
    shortfall = sheet.locator("[data-shortfall]")
    expect(shortfall).to_contain_text("余额不足，还差¥0.01")
    expect(shortfall).to_contain_text("未扣除任何费用")
    expect(sheet.locator("[data-row=balance-before] dd")).to_have_text("¥149.99")
    expect(page.get_by_role("button", name=re.compile("^确认支付"))).to_be_hidden()
    switch = page.get_by_role("button", name="改用在线支付 ¥150.00")
    expect(switch).to_be_visible()
    expect(page.locator("#pay-total")).to_have_text("个人账户余额不足，还差¥0.01")
    assert_no_axe_violations(page, "on 为家人投保 with a shortfall")
    keep_screenshot(page, "family-enroll-shortfall")
    page.get_by_role("button", name="长辈模式").click()
    expect(page.locator("html")).to_have_attribute("data-mode", "elderly")
    small = small_touch_targets(page, 60)
    assert not small, f"touch targets under 60px in 长辈模式: {small}"
    keep_screenshot(page, "family-enroll-shortfall-elderly")
    page.get_by_role("button", name="长辈模式").click()
    expect(page.locator("html")).not_to_have_attribute("data-mode", "elderly")

    # Online payment for the rest: the sheet changes, nothing has moved.
    switch.click()
    expect(page.get_by_role("radio", name=re.compile("^在线支付"))).to_be_checked()
    expect(page.get_by_role("button", name="确认支付 ¥150.00")).to_be_enabled()
    expect(sheet.locator("[data-row=method] dd")).to_contain_text("在线支付")
    page.goto("/account.html")
    expect(page.locator("[data-balance=prior_years] .balance__amount")).to_have_text("¥149.99")
    expect(page.get_by_text("暂无扣款或退款记录")).to_be_visible()

    # ---------------------------------------------------------------- the right code, then remove
    page.goto("/family.html")
    lin = member(page, "林*")
    # Reloaded: the page no longer knows the masked number, and says where the code went in words.
    expect(lin.locator("[data-verify]")).to_contain_text("家人在医保登记的手机")
    lin.get_by_label("林*收到的验证码").fill(relative_code(base_url))
    lin.get_by_role("button", name="确认验证").click()
    expect(page.get_by_role("status")).to_contain_text("林*的亲属关系已验证")
    expect(lin.locator("[data-verification=sms]")).to_contain_text("关系已核验")
    expect(lin.locator("[data-verify]")).to_have_count(0)

    lin.get_by_role("button", name=re.compile(r"^移除\s*家人林\*$")).click()
    dialog = page.get_by_role("dialog", name="移除家人林*？")
    expect(dialog).to_contain_text("已经买好的保单不受影响")
    expect(dialog.get_by_role("button", name="暂不移除")).to_be_focused()
    assert_no_axe_violations(page, "with the 移除 dialog open")
    dialog.get_by_role("button", name="暂不移除").click()
    expect(lin).to_be_visible()
    lin.get_by_role("button", name=re.compile(r"^移除\s*家人林\*$")).click()
    page.get_by_role("dialog").get_by_role("button", name="确认移除").click()
    expect(page.get_by_role("status")).to_contain_text("已移除家人林*")
    expect(page.locator("li.member")).to_have_count(0)
    expect(page.locator("[data-empty]")).to_be_visible()
