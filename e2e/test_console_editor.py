"""The product editor between two administrators: the editor holds the draft's version (ETag)
and saves with If-Match, so a save made elsewhere in between is never overwritten unseen; the
editor says so and reloads the draft. (Its own live server: it leaves a draft behind.)"""

from __future__ import annotations

import os
import re

import pytest
from playwright.sync_api import Page, expect

from e2e.support import LiveServer, assert_no_axe_violations
from e2e.test_console import open_products_as_admin

pytestmark = pytest.mark.e2e


def test_an_edit_another_administrator_saved_first_is_not_overwritten(
    page: Page, base_url: str, live_server: LiveServer
) -> None:
    _, row = open_products_as_admin(page, base_url, live_server, "13700000014", "管理员丁")
    row.get_by_role("button", name=re.compile("复制为下一年度")).click()
    page.get_by_label("产品代码（选填）").fill(f"E2E-ETAG-{os.getpid()}")
    page.get_by_role("button", name="复制为草稿").click()
    expect(page.get_by_role("heading", name=re.compile("编辑草稿"))).to_be_focused()

    # Meanwhile the draft is saved elsewhere (another administrator's tab): a new name.
    saved_elsewhere = page.evaluate("""async () => {
      const csrf = document.cookie.split("; ").find((c) => c.startsWith("hmb_csrf="))?.slice(9);
      const list = await (await fetch("/api/v1/admin/products")).json();
      const draft = list.items.find((p) => p.status === "draft");
      const read = await fetch(`/api/v1/admin/products/${draft.id}`);
      const body = await read.json();
      const put = {
        code: body.code, name: "西湖益联保（他人先保存）", city_code: body.city_code,
        city_name: body.city_name, insurer: body.insurer, status: "draft",
        first_year: body.first_year, payable_balances: body.payable_balances,
        enrollment: { opens_on: body.enrollment.opens_on, closes_on: body.enrollment.closes_on },
        coverage: { starts_on: body.coverage.starts_on, ends_on: body.coverage.ends_on },
        tiers: body.tiers.map((t) => ({ code: t.code, name: t.name, premium_fen: t.premium_fen,
          benefits: Object.fromEntries(t.benefits.map((b) => [b.category, {
            deductible_fen: b.deductible_fen, ratio_bp: b.ratio_bp, cap_fen: b.cap_fen }])) })),
        subsidy: { tier: body.subsidy.tier, categories: body.subsidy.categories },
        eligibility_conditions: body.eligibility_conditions,
        terms: { version: body.terms.version, notice: body.terms.notice,
                 coverage: body.terms.coverage, claim_scope: body.terms.claim_scope,
                 exclusions: body.terms.exclusions },
      };
      const answer = await fetch(`/api/v1/admin/products/${draft.id}`, { method: "PUT",
        headers: { "Content-Type": "application/json", "X-CSRF-Token": decodeURIComponent(csrf),
                   "If-Match": read.headers.get("ETag") }, body: JSON.stringify(put) });
      return { status: answer.status, body: await answer.json() };
    }""")
    assert saved_elsewhere["status"] == 200, saved_elsewhere["body"]

    # This editor still holds the old version: its save is refused and nothing is overwritten.
    page.get_by_label("产品名称", exact=True).fill("西湖益联保（我的修改）")
    page.get_by_role("button", name="保存并校验").click()
    stale = page.locator("[data-stale]")
    expect(stale).to_contain_text("该产品已被其他管理员修改，请重新加载后再编辑")
    assert_no_axe_violations(page, "on the stale-edit message")
    expect(page.locator("tr[data-status=draft]")).to_contain_text("西湖益联保（他人先保存）")
    stale.get_by_role("button", name="重新加载最新内容").click()
    expect(page.get_by_label("产品名称", exact=True)).to_have_value("西湖益联保（他人先保存）")
    page.get_by_label("产品名称", exact=True).fill("西湖益联保（我的修改）")
    page.get_by_role("button", name="保存并校验").click()
    expect(page.locator("#list-status")).to_contain_text("校验通过")
    expect(page.locator("tr[data-status=draft]")).to_contain_text("西湖益联保（我的修改）")
