// 投诉与建议: file a complaint (category, text, optionally one's own policy or claim) and see one's
// complaints with their state. POST/GET /api/v1/complaints.

import { api } from "./api.js";
import { h, replaceChildren } from "./dom.js";
import { clearFieldError, clearFormAlert, setBusy, showApiError, showStatus } from "./forms.js";
import { formatInstantDate } from "./format.js";
import { clearState, initPage, showEmpty, showError, showLoading } from "./page.js";
import { BIND_PATH, fetchMe, redirectToLogin } from "./session.js";
import { complaintPath, complaintStatus } from "./complaint-view.js";

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
  if (!me) {
    redirectToLogin();
    return;
  }
  if (!me.identity?.bound) {
    replaceChildren(stateBox, h("div", { class: "callout" },
      h("p", { class: "callout__title" }, h("span", { class: "callout__icon", "aria-hidden": "true" }, "!"),
        "请先完成实名认证"),
      h("p", {}, "实名认证后即可提交投诉并查看处理进度。"),
      h("a", { class: "btn btn--primary btn--block", href: BIND_PATH }, "去实名认证")));
    stateBox.removeAttribute("aria-busy");
    return;
  }
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
