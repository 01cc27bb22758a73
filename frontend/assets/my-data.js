// 我的个人信息: GET /me/data-export — what the platform holds about the signed-in person and the
// audit trail about them (including refused attempts by others), masked; a JSON download; and
// 注销账号 (GET/POST /me/deletion) with what is removed, what the law keeps and why.

import { api, errorMessage } from "./api.js";
import { confirmDialog } from "./dialog.js";
import { fact, h, paragraphs, replaceChildren } from "./dom.js";
import { formatFen } from "./format.js";
import { clearFormAlert, setBusy, showFormAlert } from "./forms.js";
import { initPage, loadInto } from "./page.js";
import { dayTime } from "./proxy-common.js";
import { rememberModeOnAccount } from "./session.js";

const stateBox = document.getElementById("data-state");
const content = document.getElementById("data-content");
const sections = document.getElementById("data-sections");
const deletionBody = document.getElementById("deletion-body");
const deletionAlert = document.getElementById("deletion-alert");

function when(iso) {
  return iso ? h("time", { datetime: iso }, dayTime(iso)) : "—";
}


function section(key, title, items, render, empty) {
  const id = `data-${key}-title`;
  return h("section", { class: "card", "aria-labelledby": id, "data-section": key },
    h("h2", { class: "card__title", id }, `${title}（${items.length}）`),
    items.length
      ? h("ul", { class: "link-list", role: "list" }, items.map((item) => h("li", { class: "data-item" }, render(item))))
      : h("p", { class: "card__lead" }, empty));
}

function facts(...rows) {
  return h("dl", { class: "facts" }, rows.filter(Boolean));
}

function renderAccount(data) {
  const account = data.account || {};
  const identity = data.identity || {};
  const id = "data-account-title";
  return h("section", { class: "card", "aria-labelledby": id, "data-section": "account" },
    h("h2", { class: "card__title", id }, "账号与实名认证"),
    facts(
      fact("手机号", h("span", { class: "mono" }, account.phone), "phone"),
      fact("注册时间", when(account.created_at)),
      fact("最近登录", when(account.last_login_at)),
      fact("微信绑定", account.wechat_linked ? "已绑定" : "未绑定"),
      identity.bound ? fact("姓名", identity.name, "name") : fact("实名认证", "未认证"),
      identity.bound ? fact("身份证号", h("span", { class: "mono" }, identity.id_number), "id-number") : null,
      identity.bound ? fact("认证时间", when(identity.bound_at)) : null));
}

function renderConsent(item) {
  return facts(
    fact("同意书", `《${item.title}》`),
    fact("版本", item.text_version),
    fact("同意时间", when(item.granted_at)),
    fact("撤回时间", item.withdrawn_at ? when(item.withdrawn_at) : "未撤回", "withdrawn"),
    fact("用于", (item.needed_for || []).join("、")));
}

function renderAgreement(item) {
  return facts(
    fact("协议", `《${item.title}》`),
    fact("版本", item.version),
    fact("同意时间", when(item.accepted_at)));
}

function renderPolicy(item) {
  return facts(
    fact("保单号", h("span", { class: "mono" }, item.policy_no), "policy-no"),
    fact("产品", `${item.product || ""} · ${item.tier || ""}`),
    fact("被保险人", item.insured),
    fact("状态", item.status_label),
    fact("保障期间", `${item.coverage_starts_on} 至 ${item.coverage_ends_on}`),
    fact("保费", formatFen(item.premium_fen)));
}

function renderOrder(item) {
  return facts(
    fact("订单号", h("span", { class: "mono" }, item.order_no), "order-no"),
    fact("状态", item.status_label),
    fact("缴费方式", item.payment_method),
    fact("被保险人", (item.insured || []).join("、")),
    fact("应付", formatFen(item.payable_fen)),
    fact("提交时间", when(item.created_at)));
}

function renderClaim(item) {
  return facts(
    fact("理赔号", h("span", { class: "mono" }, item.claim_no)),
    fact("状态", item.status_label),
    fact("医院", item.hospital),
    fact("申请金额", formatFen(item.claimed_fen)),
    item.payout_fen != null ? fact("赔付金额", formatFen(item.payout_fen)) : null,
    fact("提交时间", when(item.created_at)));
}

function renderGrant(item) {
  const other = item.agent ? fact("代办人", item.agent) : fact("委托人", item.principal);
  return facts(
    other,
    fact("代办事项", (item.scopes || []).join("、")),
    fact("状态", item.status_label),
    fact("申请时间", when(item.created_at)),
    item.valid_until ? fact("有效期至", when(item.valid_until)) : null);
}

function renderRecordsAuthorization(item) {
  return facts(
    item.for !== "本人" ? fact("代办对象", item.for) : null,
    fact("结算记录期间", `${item.period_from} 至 ${item.period_to}`),
    fact("状态", item.status_label),
    fact("授权人", item.granted_by),
    fact("授权时间", when(item.granted_at)),
    item.revoked_at ? fact("撤回时间", when(item.revoked_at)) : null,
    item.revoked_by ? fact("撤回人", item.revoked_by) : null);
}

function renderFamily(item) {
  return facts(
    fact("关系", item.relation),
    fact("姓名", item.name),
    fact("身份证号", h("span", { class: "mono" }, item.id_number)),
    fact("添加时间", when(item.added_at)),
    item.removed_at ? fact("移除时间", when(item.removed_at)) : null);
}

function renderComplaint(item) {
  return facts(
    fact("投诉编号", h("span", { class: "mono" }, item.complaint_no)),
    fact("类别", item.category),
    fact("状态", item.status_label),
    fact("提交时间", when(item.created_at)));
}

function renderEvent(item) {
  const ok = item.outcome === "ok";
  return h("div", { class: "activity", "data-activity": item.action, "data-outcome": item.outcome },
    h("p", { class: "activity__when" }, when(item.occurred_at)),
    h("p", { class: "activity__what" }, item.label),
    facts(
      fact("办理人", item.by, "who"),
      item.object_id ? fact("业务", h("span", { class: "mono" }, item.object_id)) : null,
      fact("结果", h("span", { class: `status-pill status-pill--${ok ? "ok" : "warn"}` },
        h("span", { "aria-hidden": "true" }, ok ? "✓" : "!"), item.outcome_label), "outcome")));
}

function render(data) {
  const grants = data.proxy_grants || { given: [], received: [] };
  replaceChildren(sections,
    renderAccount(data),
    section("agreements", "用户协议与隐私政策", data.agreements || [], renderAgreement, "暂无记录。"),
    section("consents", "授权与同意记录", data.consents || [], renderConsent, "暂无记录。"),
    section("policies", "保单", data.policies || [], renderPolicy, "暂无保单。"),
    section("orders", "投保订单", data.orders || [], renderOrder, "暂无订单。"),
    section("claims", "理赔", data.claims || [], renderClaim, "暂无理赔。"),
    section("records", "医保结算记录查询授权", data.records_authorizations || [],
      renderRecordsAuthorization, "暂无授权。"),
    section("family", "家庭成员", data.family_members || [], renderFamily, "暂无家庭成员。"),
    section("grants-given", "我给家人的代办授权", grants.given || [], renderGrant, "暂无。"),
    section("grants-received", "家人给我的代办授权", grants.received || [], renderGrant, "暂无。"),
    section("complaints", "投诉与建议", data.complaints || [], renderComplaint, "暂无投诉。"),
    section("audit", "使用记录（含被拒绝的代办尝试）", data.audit_trail || [], renderEvent, "暂无记录。"),
    h("p", { class: "card__lead" }, data.retention || ""));
}

function renderDeletion(plan) {
  const list = (items) => h("ul", { class: "plain-list" }, items.map((text) => h("li", {}, text)));
  const button = h("button", { type: "button", class: "btn btn--danger btn--block", id: "delete-account" },
    "申请注销账号");
  button.disabled = !plan.allowed;
  button.addEventListener("click", () => requestDeletion(plan, button));
  replaceChildren(deletionBody,
    h("p", { class: "card__lead" }, "注销后将："),
    list(plan.removed || []),
    h("p", { class: "card__lead" }, "依照法律规定，以下信息需要继续保存："),
    list(plan.kept || []),
    ...paragraphs(plan.kept_how || "", { class: "card__lead" }),
    plan.blockers?.length
      ? h("div", { class: "callout", "data-blockers": true },
        h("p", { class: "callout__title" }, h("span", { class: "callout__icon", "aria-hidden": "true" }, "!"), "暂时不能注销"),
        list(plan.blockers))
      : null,
    button);
}

async function requestDeletion(plan, button) {
  const ok = await confirmDialog({
    title: "确认注销账号？",
    body: paragraphs("注销后您将退出登录，本账号不能再登录，授权和代办关系全部结束。已生效的保单继续有效。此操作不能撤销。"),
    confirmText: "确认注销",
    cancelText: "暂不注销",
    tone: "danger",
  });
  if (!ok) return;
  clearFormAlert(deletionAlert);
  setBusy(button, true, "正在注销…");
  try {
    await api.post("/me/deletion", { confirm: true });
  } catch (error) {
    setBusy(button, false);
    showFormAlert(deletionAlert, errorMessage(error));
    return;
  }
  replaceChildren(deletionBody,
    h("p", { class: "callout__title", "data-deleted": true }, "账号已注销"),
    h("p", { class: "card__lead" }, plan.kept_how || ""),
    h("a", { class: "btn btn--block", href: "/" }, "返回首页"));
  deletionBody.querySelector("[data-deleted]")?.setAttribute("tabindex", "-1");
  deletionBody.querySelector("[data-deleted]")?.focus();
}

function load() {
  return loadInto({
    box: stateBox, content,
    fetch: () => Promise.all([api.get("/me/data-export"), api.get("/me/deletion")]),
    render: ([data, plan]) => {
      render(data);
      renderDeletion(plan);
    },
  });
}

initPage();
rememberModeOnAccount();
load();
