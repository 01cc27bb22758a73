// The operator console's shared pieces: its navigation, who may use which page, multipart
// uploads with an Idempotency-Key, and report tables. Console pages are for staff on desktops (a wide layout),
// with the same accessibility rules as every other page.

import { api, ApiError } from "./api.js";
import { h, replaceChildren } from "./dom.js";
import { showApiError, showFormAlert } from "./forms.js";
import { initPage, loadMe } from "./page.js";

// The console's pages, as its navigation lists them on every console page (one list: a page
// added here appears everywhere).
const CONSOLE_PAGES = [
  ["/admin/products.html", "产品配置"],
  ["/admin/bulk.html", "单位团体参保"],
  ["/admin/subsidy.html", "资助参保名单"],
  ["/admin/payers.html", "资助出资方"],
  ["/admin/counter.html", "窗口办理"],
  ["/counter/proxy.html", "代办授权确认"],
  ["/admin/complaints.html", "投诉处理"],
  ["/admin/reconcile.html", "资金对账"],
  ["/admin/sms.html", "短信发送状态"],
  ["/admin/reports.html", "监管报表"],
  ["/disclosure.html", "信息披露"],
];

/** Fill the page's <nav data-console-nav>, marking the current page. */
function renderConsoleNav() {
  const nav = document.querySelector("[data-console-nav]");
  if (!nav) return;
  const here = window.location.pathname;
  replaceChildren(nav, h("ul", { role: "list" }, CONSOLE_PAGES.map(([href, label]) =>
    h("li", {}, h("a", { href, "aria-current": href === here ? "page" : null }, label)))));
}

export const ADMIN = ["admin"];
export const COMPLAINT_STAFF = ["insurer_staff", "admin"];
export const COUNTER_STAFF = ["counter_staff", "admin"];
export const RECONCILE_STAFF = ["insurer_staff", "admin"];

/**
 * Start a console page: the signed-in staff member (or a redirect to the login page), refused
 * in words when the role does not fit. Resolves to the profile, or null when the page must stop.
 */
export async function startConsole(stateBox, roles) {
  initPage();
  renderConsoleNav();
  const me = await loadMe(stateBox, () => window.location.reload());
  if (!me) return null;
  const who = document.querySelector("[data-staff-name]");
  if (who) who.textContent = `${me.role_label}（${me.phone}）`;
  if (!roles.includes(me.role)) {
    stateBox.removeAttribute("aria-busy");
    replaceChildren(stateBox,
      h("div", { class: "state state--error", role: "alert", "data-forbidden": true },
        h("p", { class: "state__title" },
          h("span", { class: "state__icon", "aria-hidden": "true" }, "!"), "无权使用此功能"),
        h("p", { class: "state__text" }, "您的账号没有此项运营后台权限。如需开通，请联系系统管理员。"),
        h("a", { class: "btn state__action", href: "/" }, "返回首页")));
    return null;
  }
  return me;
}

/** POST a multipart form (a CSV file and fields), as long as it takes; errors are api.js's. */
export function postForm(path, formData, idempotencyKey) {
  return api.post(path, formData, { idempotencyKey, timeoutMs: 0 });
}

/** A status with a shape and words: ✓ good, ! attention, — neutral. */
export function pill(text, tone, attrs = {}) {
  const icon = tone === "ok" ? "✓" : tone === "warn" ? "!" : "—";
  return h("span", { class: `status-pill status-pill--${tone}`, ...attrs },
    h("span", { "aria-hidden": "true" }, icon), text);
}

/**
 * A data table in a focusable, labelled scroll region (wide tables scroll on small screens).
 * columns: [{label, cell(row) -> node|string}], rows: [...], rowAttrs(row) -> attributes.
 */
export function dataTable({ caption, columns, rows, rowAttrs = () => ({}) }) {
  return h("div", { class: "table-scroll", role: "region", tabindex: "0", "aria-label": caption },
    h("table", { class: "data-table" },
      h("caption", { class: "data-table__caption" }, caption),
      h("thead", {}, h("tr", {}, columns.map((c) => h("th", { scope: "col" }, c.label)))),
      h("tbody", {}, rows.map((row) => h("tr", rowAttrs(row),
        columns.map((c, index) => index === 0
          ? h("th", { scope: "row" }, c.cell(row))
          : h("td", {}, c.cell(row))))))));
}

/** Field errors of an answer that match no input, as "field：message" lines. */
export function otherErrors(error, known) {
  if (!(error instanceof ApiError)) return [];
  return Object.entries(error.errors || {})
    .filter(([field]) => !known.includes(field))
    .flatMap(([, messages]) => messages);
}

/**
 * A refused console form: each field's message under its input, the others in the form alert
 * (after the answer's message), and focus on the first input marked, else on `fallback`.
 */
export function showFormErrors(error, fields, alertBox, fallback) {
  const first = showApiError(error, fields, alertBox);
  const rest = otherErrors(error, Object.keys(fields));
  if (rest.length) showFormAlert(alertBox, `${error.message}：${rest.join("；")}`);
  (first || fallback).focus();
}

export async function publishedOpenProducts(api) {
  const products = (await api.get("/admin/products")).items || [];
  return products.filter((p) => p.status === "published" && p.enrollment?.is_open);
}
