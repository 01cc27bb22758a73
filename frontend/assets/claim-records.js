// 从医保结算记录申请理赔: the authorization to read the insured's 医保 settlement records for a
// period (POST /claims/records/consents), the authorizations with 撤回授权
// (POST /claims/records/consents/revoke), and the records read under the newest live one
// (GET /claims/records), each claimable one linking to 申请理赔 pre-filled from it
// (/claim-new.html?record=<record_no>). Acting for a relative sends X-Acting-For (claims_submit).

import { api, ApiError, errorMessage } from "./api.js";
import { h, replaceChildren } from "./dom.js";
import { dateRange, formatDate, formatFen } from "./format.js";
import { clearFieldError, clearFormAlert, setBusy, showApiError, showStatus } from "./forms.js";
import { fact } from "./claim-common.js";
import { confirmDialog } from "./dialog.js";
import { clearState, initPage, showError, showLoading } from "./page.js";
import { redirectToLogin } from "./session.js";

const PATH = "/claim-records.html";
const stateBox = document.getElementById("records-state");
const pageBox = document.getElementById("records-page");
const form = document.getElementById("consent-form");
const fromInput = document.getElementById("period-from");
const toInput = document.getElementById("period-to");
const consentAlert = document.getElementById("consent-alert");
const consentButton = document.getElementById("consent-submit");
const consentList = document.getElementById("consent-list");
const consentsStatus = document.getElementById("consents-status");
const recordsBox = document.getElementById("records-box");
const recordList = document.getElementById("record-list");

const CLAIMABLE = new Set(["inpatient", "outpatient_special", "pharmacy"]);

function consentItem(consent) {
  const facts = h("dl", { class: "facts" },
    fact("就诊期间", dateRange(consent.period_from, consent.period_to)),
    fact("状态", consent.status_label, { "data-fact": "consent-status" }),
    consent.by_agent ? fact("授权人", "代办人") : null);
  const item = h("li", { class: "card claim-card", "data-consent": consent.id,
    "data-live": String(consent.live) }, facts);
  if (consent.live) {
    const revoke = h("button", { type: "button", class: "btn btn--block" }, "撤回授权");
    revoke.addEventListener("click", () => revokeConsent(consent, revoke));
    item.append(revoke);
  }
  return item;
}

function recordItem(entry) {
  const r = entry.record;
  const titleId = `record-${r.record_no}`;
  let action;
  if (entry.claimed) {
    action = h("p", { class: "field__hint", "data-claimed": true }, "已用这条记录申请过理赔");
  } else if (CLAIMABLE.has(r.visit_type)) {
    action = h("a", { class: "btn btn--primary btn--block",
      href: `/claim-new.html?record=${encodeURIComponent(r.record_no)}` },
    "用这条记录申请理赔", h("span", { class: "visually-hidden" }, `（${r.hospital_name}，${formatDate(r.visit_date)}）`));
  } else {
    action = h("p", { class: "field__hint" }, "普通门诊费用不在惠民保保障范围内");
  }
  const other = r.items.reduce((sum, item) => sum + item.amount_fen, 0);
  return h("li", { class: "card claim-card", "data-record": r.record_no },
    h("article", { "aria-labelledby": titleId },
      h("h3", { class: "claim-card__title", id: titleId }, r.hospital_name),
      h("dl", { class: "facts" },
        fact("就诊类型", r.visit_label, { "data-fact": "visit" }),
        fact("就诊日期", r.visit_date === r.end_date ? formatDate(r.visit_date) : dateRange(r.visit_date, r.end_date)),
        fact("医保范围内个人负担", formatFen(r.in_policy_self_pay_fen), { "data-fact": "self-pay" }),
        other ? fact("医保范围外费用", formatFen(other)) : null,
        r.diagnosis_codes.length ? fact("诊断编码", r.diagnosis_codes.join("、")) : null),
      action));
}

async function loadRecords(consents) {
  replaceChildren(recordList);
  if (!consents.some((c) => c.live)) {
    recordsBox.hidden = false;
    replaceChildren(recordsBox, h("p", { class: "state__text", "data-empty": true },
      "授权后，这里显示所选期间内的结算记录。"));
    return;
  }
  showLoading(recordsBox, "正在从医保信息平台读取结算记录…");
  try {
    const read = await api.get("/claims/records", { timeoutMs: 30000 });
    recordsBox.removeAttribute("aria-busy");
    if (!read.items.length) {
      replaceChildren(recordsBox, h("p", { class: "state__text", "data-empty": true },
        "授权期间内没有结算记录。"));
    } else {
      clearState(recordsBox);
      replaceChildren(recordList, read.items.map(recordItem));
    }
  } catch (error) {
    if (error instanceof ApiError && error.status === 401) return redirectToLogin(PATH);
    showError(recordsBox, error, () => loadRecords(consents));
  }
  return undefined;
}

async function load() {
  showLoading(stateBox);
  pageBox.hidden = true;
  let consents;
  let policies;
  try {
    [consents, policies] = await Promise.all([
      api.get("/claims/records/consents"), api.get("/policies")]);
  } catch (error) {
    showError(stateBox, error, load)?.focus();
    return;
  }
  const active = (policies.items || []).filter((p) => p.status === "active");
  if (active.length && !fromInput.value) {
    fromInput.value = active[active.length - 1].coverage_starts_on;
    toInput.value = active[active.length - 1].coverage_ends_on;
  }
  replaceChildren(consentList, consents.items.map(consentItem));
  clearState(stateBox);
  pageBox.hidden = false;
  await loadRecords(consents.items);
}

async function revokeConsent(consent, button) {
  const ok = await confirmDialog({
    title: "撤回授权？",
    body: `撤回后，平台不再读取${formatDate(consent.period_from)}至${formatDate(consent.period_to)}的医保结算记录。已提交的理赔不受影响。`,
    confirmText: "撤回授权",
  });
  if (!ok) return;
  setBusy(button, true, "正在撤回…");
  try {
    await api.post("/claims/records/consents/revoke", { consent_id: consent.id });
  } catch (error) {
    setBusy(button, false);
    showStatus(consentsStatus, errorMessage(error));
    return;
  }
  showStatus(consentsStatus, "授权已撤回，平台不再读取该期间的记录。");
  await load();
}

async function authorize(event) {
  event.preventDefault();
  clearFormAlert(consentAlert);
  clearFieldError(fromInput);
  clearFieldError(toInput);
  setBusy(consentButton, true, "正在授权…");
  try {
    await api.post("/claims/records/consents", { period_from: fromInput.value || null, period_to: toInput.value || null });
  } catch (error) {
    setBusy(consentButton, false);
    if (error instanceof ApiError && error.status === 401) return redirectToLogin(PATH);
    showApiError(error, { period_from: fromInput, period_to: toInput }, consentAlert)?.focus();
    return undefined;
  }
  setBusy(consentButton, false);
  showStatus(consentsStatus, "已授权。");
  await load();
  return undefined;
}

initPage();
form.addEventListener("submit", authorize);
load();
