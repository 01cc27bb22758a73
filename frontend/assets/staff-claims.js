// 理赔审核 (insurer staff): the queue, GET /admin/claims?status=…, oldest first, one tab per
// status, a page at a time ("加载更多"). Each claim links to staff/claim.html, where the decisions
// are made.

import { api, errorMessage } from "./api.js";
import { newKey } from "./intent.js";
import { h, replaceChildren } from "./dom.js";
import { formatFen } from "./format.js";
import { claimChip, formatInstant, STAFF_QUEUE_PATH, staffClaimPath, staffRefusal, stay } from "./claim-common.js";
import { initPage, itemsOf, loadList, showEmpty } from "./page.js";
import { moreBoxAfter, pager, showMore } from "./paging.js";
import { logout, rememberModeOnAccount } from "./session.js";

export const VIEWS = [
  { key: "pending", label: "待审核", statuses: ["submitted", "under_review"] },
  { key: "appealed", label: "申诉复核", statuses: ["appealed"] },
  { key: "supplement", label: "待补充材料", statuses: ["supplement_requested"] },
  { key: "approved", label: "审核通过待支付", statuses: ["approved"] },
  { key: "paid", label: "已赔付", statuses: ["paid"] },
  { key: "rejected", label: "未予赔付", statuses: ["rejected"] },
  { key: "settled", label: "一站式结算", statuses: ["settled"] },
];

const stateBox = document.getElementById("queue-state");
const table = document.getElementById("queue-table");
const tabs = document.getElementById("status-tabs");
const title = document.getElementById("queue-title");
const logoutButton = document.getElementById("logout");
const payoutCard = document.getElementById("payout-run");
const payoutButton = document.getElementById("payout-run-button");
const payoutResult = document.getElementById("payout-run-result");

const requested = new URLSearchParams(window.location.search).get("view");
const view = VIEWS.find((v) => v.key === requested) || VIEWS[0];

function renderTabs() {
  replaceChildren(tabs, VIEWS.map((v) => h("li", {},
    h("a", {
      class: "status-tab", href: `${STAFF_QUEUE_PATH}?view=${v.key}`,
      "aria-current": v.key === view.key ? "page" : false, "data-view": v.key,
    }, v.label))));
}

const PAGE_SIZE = 50;

function renderTable(items, total) {
  replaceChildren(table,
    h("table", { class: "data-table" },
      h("caption", { class: "visually-hidden" }, `${view.label}：共 ${total} 件，最早提交的在前`),
      h("thead", {}, h("tr", {},
        ["理赔编号", "被保险人", "医院", "住院日期", "费用合计", "赔付金额", "状态", "提交时间"]
          .map((text) => h("th", { scope: "col" }, text)))),
      h("tbody", {}, items.map((claim) => h("tr", { "data-claim": claim.claim_no },
        h("th", { scope: "row" },
          h("a", { class: "table-link", href: staffClaimPath(claim.claim_no) }, claim.claim_no),
          h("span", { class: "data-table__sub" }, claim.channel_label)),
        h("td", {}, claim.insured_name),
        h("td", {}, claim.hospital_name),
        h("td", {}, stay(claim.admitted_on, claim.discharged_on)),
        h("td", { class: "num" }, formatFen(claim.claimed_fen)),
        h("td", { class: "num" }, claim.payout_fen === null || claim.payout_fen === undefined ? "—" : formatFen(claim.payout_fen)),
        h("td", {}, claimChip(claim.status, claim.status_label),
          claim.overdue ? h("span", { class: "data-table__sub is-overdue", "data-overdue": true }, "已超过承诺时限") : null),
        h("td", {}, formatInstant(claim.created_at)))))));
}

function renderPage(data, pages) {
  const items = itemsOf(data);
  renderTable(items, data.total);
  showMore(moreBoxAfter(table), {
    shown: items.length, total: data.total, more: data.more,
    onMore: async () => renderPage(await pages.next(), pages),
  });
}

function load() {
  const query = view.statuses.map((s) => `status=${encodeURIComponent(s)}`).join("&");
  const pages = pager(`/admin/claims?${query}`, PAGE_SIZE);
  return loadList({
    box: stateBox, content: table, fetch: () => pages.next(),
    onError: (error) => staffRefusal(stateBox, error),
    empty: () => showEmpty(stateBox, `没有“${view.label}”的理赔`, "新的理赔会按提交时间排在这里。"),
    fill: (items, data) => renderPage(data, pages),
  });
}

// The payout run: one key per click; a retry after an unknown outcome is safe (nothing is paid
// twice: the server queries a payment whose outcome it does not know before sending again).
async function runPayouts() {
  payoutButton.disabled = true;
  payoutResult.textContent = "正在支付…";
  try {
    const report = await api.post("/admin/claim-payout-runs", {}, { idempotencyKey: newKey(), timeoutMs: 60000 });
    payoutResult.textContent = report.message;
    load();
  } catch (error) {
    payoutResult.textContent = errorMessage(error);
  } finally {
    payoutButton.disabled = false;
  }
}

initPage();
rememberModeOnAccount();
payoutCard.hidden = view.key !== "approved";
payoutButton.addEventListener("click", runPayouts);
title.textContent = view.label;
document.title = `理赔审核：${view.label} - 惠民保`;
renderTabs();
logoutButton.addEventListener("click", async () => {
  try {
    await logout();
  } catch {
    /* signed out or not: the login page comes next either way */
  }
  window.location.replace(`/login.html?next=${encodeURIComponent(STAFF_QUEUE_PATH)}`);
});
load();
