// 投诉与建议: file a complaint (category, text, optionally one's own policy or claim) and see one's
// complaints with their state. POST/GET /api/v1/complaints.
// Not logged in (or not yet 实名认证): 不登录也可以投诉 — the phone's SMS code (POST
// /public-complaints/code), then POST /public-complaints; the complaint's token stays on this
// phone (complaint-tokens.js) and those complaints are listed here.

import { api } from "./api.js";
import { h, replaceChildren } from "./dom.js";
import { clearFieldError, clearFormAlert, setBusy, showApiError, showStatus } from "./forms.js";
import { formatInstantDate } from "./format.js";
import { clearState, initPage, showEmpty, showError, showLoading } from "./page.js";
import { bindUrl, fetchMe } from "./session.js";
import { resendCountdown } from "./resend.js";
import { complaintPath, complaintStatus } from "./complaint-view.js";
import { getPublicComplaint, localNumbers, rememberToken, tokenFor } from "./complaint-tokens.js";

const stateBox = document.getElementById("complaints-state");
const content = document.getElementById("complaints-content");
const form = document.getElementById("complaint-form");
const category = document.getElementById("category");
const policyNo = document.getElementById("policy-no");
const claimNo = document.getElementById("claim-no");
const text = document.getElementById("content");
const counter = document.getElementById("content-count");
const alertBox = document.getElementById("complaint-alert");
const statusBox = document.getElementById("complaint-status");
const submit = document.getElementById("complaint-submit");
const mineState = document.getElementById("mine-state");
const list = document.getElementById("complaint-list");
const fields = { category, policy_no: policyNo, claim_no: claimNo, content: text };

function renderItem(complaint) {
  const titleId = `complaint-${complaint.complaint_no}`;
  return h("li", { class: "complaint-item", "data-complaint": complaint.complaint_no },
    h("div", { class: "complaint-item__head" },
      h("h3", { class: "complaint-item__title", id: titleId }, complaint.category_label),
      complaintStatus(complaint)),
    h("p", { class: "complaint-item__meta" },
      h("span", { class: "mono" }, complaint.complaint_no), ` · ${formatInstantDate(complaint.created_at)}提交`,
      complaint.replies?.length ? ` · ${complaint.replies.length}条回复` : ""),
    h("a", { class: "btn btn--quiet btn--small complaint-item__link", href: complaintPath(complaint.complaint_no),
      "aria-describedby": titleId }, "查看详情"));
}

async function loadMine() {
  showLoading(mineState);
  list.hidden = true;
  let data;
  try {
    data = await api.get("/complaints");
  } catch (error) {
    showError(mineState, error, loadMine);
    return;
  }
  const items = data?.items || [];
  if (!items.length) {
    showEmpty(mineState, "您还没有提交过投诉");
    return;
  }
  clearState(mineState);
  replaceChildren(list, items.map(renderItem));
  list.hidden = false;
}

function updateCount() {
  counter.textContent = `已输入${[...text.value.trim()].length}字`;
}

async function submitComplaint(event) {
  event.preventDefault();
  clearFormAlert(alertBox);
  statusBox.replaceChildren();
  Object.values(fields).forEach(clearFieldError);
  const body = { category: category.value, content: text.value };
  if (policyNo.value) body.policy_no = policyNo.value;
  if (claimNo.value.trim()) body.claim_no = claimNo.value.trim();
  setBusy(submit, true, "正在提交…");
  try {
    const complaint = await api.post("/complaints", body);
    form.reset();
    updateCount();
    showStatus(statusBox, `已提交，投诉编号 ${complaint.complaint_no}。`,
      h("a", { class: "inline-action", href: complaintPath(complaint.complaint_no) }, "查看详情"));
    await loadMine();
  } catch (error) {
    showApiError(error, fields, alertBox)?.focus();
  } finally {
    setBusy(submit, false);
  }
}

// ------------------------------------------------------------------------------ without an account

const guest = {
  content: document.getElementById("guest-content"),
  form: document.getElementById("guest-form"),
  phone: document.getElementById("guest-phone"),
  code: document.getElementById("guest-code"),
  send: document.getElementById("guest-send"),
  name: document.getElementById("guest-name"),
  category: document.getElementById("guest-category"),
  text: document.getElementById("guest-text"),
  alert: document.getElementById("guest-alert"),
  status: document.getElementById("guest-status"),
  submit: document.getElementById("guest-submit"),
};
const guestFields = { phone: guest.phone, code: guest.code, name: guest.name,
  category: guest.category, content: guest.text };

function guestPhone() {
  return guest.phone.value.replace(/[\s\-]/g, "");
}

async function sendGuestCode() {
  clearFormAlert(guest.alert);
  clearFieldError(guest.phone);
  setBusy(guest.send, true, "正在发送…");
  try {
    const sent = await api.post("/public-complaints/code", { phone: guestPhone() });
    setBusy(guest.send, false);
    showStatus(guest.status, `验证码已发送至 ${sent.phone}`);
    resendCountdown(guest.send, sent.resend_after_seconds);
    guest.code.focus();
  } catch (error) {
    setBusy(guest.send, false);
    showApiError(error, { phone: guest.phone }, guest.alert)?.focus();
  }
}

async function submitGuest(event) {
  event.preventDefault();
  clearFormAlert(guest.alert);
  Object.values(guestFields).forEach(clearFieldError);
  setBusy(guest.submit, true, "正在提交…");
  try {
    const { complaint, access_token: token } = await api.post("/public-complaints", {
      phone: guestPhone(), code: guest.code.value.trim(), name: guest.name.value,
      category: guest.category.value, content: guest.text.value });
    rememberToken(complaint.complaint_no, token);
    guest.form.reset();
    showStatus(guest.status, `已提交，投诉编号 ${complaint.complaint_no}。答复后将短信通知您。`,
      h("a", { class: "inline-action", href: complaintPath(complaint.complaint_no) }, "查看详情"));
    await loadLocal();
  } catch (error) {
    showApiError(error, guestFields, guest.alert)?.focus();
  } finally {
    setBusy(guest.submit, false);
  }
}

/** The complaints filed on this phone without an account (their tokens are kept here). */
async function loadLocal() {
  const numbers = localNumbers();
  const found = await Promise.all(numbers.map((number) =>
    getPublicComplaint(number, tokenFor(number)).catch(() => null)));
  const items = found.filter(Boolean);
  document.getElementById("local-card").hidden = !items.length;
  replaceChildren(document.getElementById("local-list"), items.map(renderItem));
}

async function startGuest(categories) {
  replaceChildren(guest.category, h("option", { value: "" }, "请选择"),
    (categories.items || []).map((c) => h("option", { value: c.code }, c.label)));
  clearState(stateBox);
  guest.content.hidden = false;
  await loadLocal();
}

guest.send.addEventListener("click", sendGuestCode);
guest.form.addEventListener("submit", submitGuest);

async function start() {
  initPage();
  showLoading(stateBox);
  let me;
  try {
    me = await fetchMe();
  } catch (error) {
    showError(stateBox, error, start)?.focus();
    return;
  }
  if (!me || !me.identity?.bound) {
    content.remove(); // one complaint form on the page: this one
    if (me) {
      const link = document.getElementById("guest-login");
      link.textContent = "实名认证后投诉";
      link.href = bindUrl("/complaints.html");
    }
    try {
      await startGuest(await api.get("/complaint-categories"));
    } catch (error) {
      showError(stateBox, error, start)?.focus();
    }
    return;
  }
  guest.content.remove(); // bound: complaints are filed and listed on the account
  try {
    const [categories, policies] = await Promise.all([
      api.get("/complaint-categories"), api.get("/policies").catch(() => ({ items: [] }))]);
    replaceChildren(category, h("option", { value: "" }, "请选择"),
      (categories.items || []).map((c) => h("option", { value: c.code }, c.label)));
    policyNo.append(...(policies.items || []).map((p) => h("option", { value: p.policy_no },
      `${p.product_name} · ${p.insured_name} · ${p.policy_no}`)));
  } catch (error) {
    showError(stateBox, error, start)?.focus();
    return;
  }
  clearState(stateBox);
  content.hidden = false;
  await loadMine();
}

text.addEventListener("input", updateCount);
form.addEventListener("submit", submitComplaint);
start();
