"""A complaint from filed to resolved: 张伟 files one from 我的 → 投诉与建议; insurer
staff find it in the queue, reply (处理中) and resolve it (已办结); 张伟 sees both replies, and the
texts he got carry the complaint number only."""

from __future__ import annotations

import re
from collections.abc import Callable

import pytest
from playwright.sync_api import BrowserContext, Page, expect

from e2e.support import (
    LiveServer,
    api_json,
    assert_no_axe_violations,
    keep_screenshot,
    sign_up,
    small_touch_targets,
)
from e2e.test_console import create_staff, staff_log_in

pytestmark = pytest.mark.e2e

TEXT = "十一月在线缴费后一直显示待支付，客服电话打不通，请尽快核实处理。"


def test_a_complaint_goes_from_filed_to_resolved(
    page: Page, base_url: str, live_server: LiveServer,
    new_context: Callable[..., BrowserContext]
) -> None:
    sign_up(page, base_url, "13800000001", "张伟", "330106198803150130")
    page.get_by_role("link", name=re.compile("投诉与建议")).click()
    expect(page.get_by_role("heading", level=1, name="投诉与建议")).to_be_visible()
    expect(page.get_by_text("您还没有提交过投诉")).to_be_visible()
    assert_no_axe_violations(page, "on the complaints page")

    # Too short first: the field says so, and nothing is filed.
    page.get_by_label("投诉类别").select_option(label="缴费支付")
    page.get_by_label("投诉内容").fill("太慢了")
    page.get_by_role("button", name="提交投诉").click()
    content_error = page.locator("#content-error")
    expect(content_error).to_have_text(re.compile("投诉内容至少需要10个字"))
    expect(page.get_by_label("投诉内容")).to_be_focused()
    page.get_by_label("投诉内容").fill(TEXT)
    page.get_by_role("button", name="提交投诉").click()
    expect(page.locator("#complaint-status")).to_contain_text("已提交，投诉编号 TS")
    number = re.search(r"TS\d{13}", page.locator("#complaint-status").inner_text())
    assert number is not None
    complaint_no = number.group(0)
    item = page.locator(f"[data-complaint='{complaint_no}']")
    expect(item).to_contain_text("已受理")
    assert not small_touch_targets(page, 44)

    # Insurer staff, on their own computer.
    create_staff(live_server, "13700000011", "insurer_staff", "客服甲")
    staff = new_context().new_page()
    staff_log_in(staff, base_url, "13700000011", "/admin/complaints.html")
    row = staff.locator(f"tr[data-complaint='{complaint_no}']")
    expect(row).to_contain_text("张*")
    expect(row).to_contain_text("已受理")
    expect(row).to_have_attribute("data-overdue", "false")
    assert_no_axe_violations(staff, "on the complaint queue")
    row.get_by_role("button", name=re.compile("查看并回复")).click()
    expect(staff.get_by_role("heading", name=f"投诉详情：{complaint_no}")).to_be_focused()
    expect(staff.locator("#detail-text")).to_contain_text(TEXT)
    staff.get_by_label("处理后状态").select_option("in_progress")
    staff.get_by_label("回复内容").fill("您好，已收到您的投诉，正在核查支付记录。")
    staff.get_by_role("button", name="发送回复").click()
    expect(staff.locator("#reply-status-box")).to_contain_text("投诉状态：处理中")
    assert_no_axe_violations(staff, "on the complaint detail with a reply")
    staff.get_by_label("处理后状态").select_option("resolved")
    staff.get_by_label("回复内容").fill("经核查，款项已原路退回，给您带来不便深表歉意。")
    staff.get_by_role("button", name="发送回复").click()
    expect(staff.locator("#reply-status-box")).to_contain_text("投诉状态：已办结")
    expect(staff.locator("#reply-form")).to_be_hidden()  # resolved is final
    expect(row).to_contain_text("已办结")
    keep_screenshot(staff, "complaints-staff-queue")
    staff.context.close()

    # 张伟 sees the replies and the outcome.
    page.reload()
    item.get_by_role("link", name="查看详情").click()
    expect(page.get_by_role("heading", level=1, name="投诉详情")).to_be_visible()
    expect(page.locator("#complaint-badge")).to_contain_text("已办结")
    replies = page.locator("[data-reply]")
    expect(replies).to_have_count(2)
    expect(replies.nth(0)).to_contain_text("正在核查支付记录")
    expect(replies.nth(1)).to_contain_text("款项已原路退回")
    expect(replies.nth(1)).to_contain_text("保险公司工作人员")
    assert_no_axe_violations(page, "on the complaint detail")
    keep_screenshot(page, "complaint-resolved")

    texts = [item["text"] for item in api_json(base_url, "/api/v1/dev/sms?phone=13800000001")[
        "items"] if complaint_no in item["text"]]
    assert len(texts) == 2 and "已办结" in texts[0]
    for sms in texts:
        assert "张伟" not in sms and "330106198803150130" not in sms
