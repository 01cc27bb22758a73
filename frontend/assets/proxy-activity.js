// 谁替我办了什么: GET /me/proxy-activity, newest first — when, who (masked), what in words, on
// which order or policy, how much, and whether it went through (a shape and words). Twenty at a
// time, "加载更多" for older ones.

import { h, replaceChildren } from "./dom.js";
import { formatFen } from "./format.js";
import { initPage, itemsOf, loadList, showEmpty } from "./page.js";
import { moreBoxAfter, pager, showMore } from "./paging.js";
import { dayTime } from "./proxy-common.js";
import { rememberModeOnAccount } from "./session.js";

const stateBox = document.getElementById("activity-state");
const list = document.getElementById("activity-list");

function who(item) {
  if (item.by === "agent") return `${item.agent_name}（代办人）`;
  return item.by_label;
}

function renderItem(item) {
  const ok = item.outcome === "ok";
  return h("li", { class: "card activity", "data-activity": item.action, "data-outcome": item.outcome },
    h("p", { class: "activity__when" }, h("time", { datetime: item.occurred_at }, dayTime(item.occurred_at))),
    h("p", { class: "activity__what" }, item.action_label),
    h("dl", { class: "facts activity__facts" },
      h("div", { class: "fact", "data-fact": "who" }, h("dt", {}, "办理人"), h("dd", {}, who(item))),
      item.object
        ? h("div", { class: "fact", "data-fact": "object" }, h("dt", {}, "业务"), h("dd", { class: "mono" }, item.object))
        : null,
      item.amount_fen != null
        ? h("div", { class: "fact", "data-fact": "amount" }, h("dt", {}, "金额"),
          h("dd", { class: "amount" }, formatFen(item.amount_fen)))
        : null,
      h("div", { class: "fact", "data-fact": "outcome" }, h("dt", {}, "结果"),
        h("dd", {}, h("span", { class: `status-pill status-pill--${ok ? "ok" : "warn"}` },
          h("span", { "aria-hidden": "true" }, ok ? "✓" : "!"), ok ? "已办理" : "未成功")))));
}

const PAGE_SIZE = 20;

function renderPage(data, pages) {
  const items = itemsOf(data);
  replaceChildren(list, items.map(renderItem));
  showMore(moreBoxAfter(list), {
    shown: items.length, total: data.total, more: data.more,
    onMore: async () => renderPage(await pages.next(), pages),
  });
}

function load() {
  const pages = pager("/me/proxy-activity", PAGE_SIZE);
  return loadList({
    box: stateBox, content: list, fetch: () => pages.next(),
    empty: () => showEmpty(stateBox, "还没有家人替您办理过业务", "家人申请代办、您确认授权以及家人代您办理的每一件事，都会记录在这里。"),
    fill: (items, data) => renderPage(data, pages),
  });
}

initPage();
rememberModeOnAccount();
load();
