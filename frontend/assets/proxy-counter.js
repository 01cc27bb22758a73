// 代办授权窗口确认 (counter staff, desktop): find the live grants of a principal by ID number
// (GET /admin/proxy/grants), check both people's documents in person, tick what was checked and
// confirm (POST /proxy/grants/{id}/confirm {counter: {evidence, note}}); or end a grant in the
// principal's presence (DELETE). Names and ID numbers arrive masked.

import { COUNTER_STAFF, startConsole } from "./admin.js";
import { api, ApiError } from "./api.js";
import { h, replaceChildren } from "./dom.js";
import {
  clearFieldError, clearFormAlert, fillErrorBox, setBusy, showApiError, showStatus,
} from "./forms.js";
import { checkIdNumberInput } from "./idnumber.js";
import { clearState } from "./page.js";
import { confirmFirst, day, dayTime, fact, grantFacts, grantPill } from "./proxy-common.js";

const EVIDENCE = [
  ["principal_id_card", "委托人身份证"],
  ["household_register", "委托人户口簿"],
  ["agent_id_card", "代办人身份证"],
  ["marriage_certificate", "结婚证"],
  ["power_of_attorney", "授权委托书"],
  ["other", "其他材料"],
];

const stateBox = document.getElementById("counter-state");
const content = document.getElementById("counter-content");
const searchForm = document.getElementById("search-form");
const idInput = document.getElementById("principal-id");
const searchButton = document.getElementById("search-submit");
const searchAlert = document.getElementById("search-alert");
const results = document.getElementById("results");
const resultsTitle = document.getElementById("results-title");
const resultsStatus = document.getElementById("results-status");
const resultList = document.getElementById("result-list");

function evidenceForm(grant, onDone) {
  const prefix = `ev-${grant.id}`;
  const boxes = EVIDENCE.map(([code, label]) => h("div", { class: "check check--inline" },
    h("input", { type: "checkbox", class: "check__input", id: `${prefix}-${code}`, name: "evidence", value: code }),
    h("label", { class: "check__label", for: `${prefix}-${code}` }, label)));
  const note = h("textarea", {
    id: `${prefix}-note`, class: "field__input counter-note", name: "note", rows: "2", maxlength: "200",
    "aria-describedby": `${prefix}-note-hint`,
  });
  const alert = h("div", { class: "form-alert-slot", role: "alert" });
  const submit = h("button", { type: "submit", class: "btn btn--primary", "data-confirm-grant": grant.id },
    "核验无误，确认授权");
  const form = h("form", { class: "counter-confirm", novalidate: true },
    h("fieldset", { class: "choices", id: `${prefix}-evidence`, "aria-describedby": `${prefix}-evidence-hint` },
      h("legend", { class: "choices__legend" }, "已核验的证件原件"),
      h("p", { class: "choices__hint", id: `${prefix}-evidence-hint` },
        "须核验委托人的身份证或户口簿，以及代办人的身份证。"),
      h("div", { class: "evidence-grid" }, boxes),
      h("p", { class: "field__error", id: `${prefix}-evidence-error`, hidden: true })),
    h("div", { class: "field" },
      h("label", { class: "field__label", for: `${prefix}-note` }, "备注（选填）"),
      note,
      h("p", { class: "field__hint", id: `${prefix}-note-hint` }, "例如：委托人因行动不便由代办人陪同，最多200字"),
      h("p", { class: "field__error", id: `${prefix}-note-error`, hidden: true })),
    alert,
    submit);
  form.addEventListener("change", (event) => {
    if (event.target.name === "evidence") document.getElementById(`${prefix}-evidence-error`).hidden = true;
  });
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    clearFormAlert(alert);
    clearFieldError(note);
    const evidence = [...form.querySelectorAll("input[name=evidence]:checked")].map((input) => input.value);
    const errorBox = document.getElementById(`${prefix}-evidence-error`);
    errorBox.hidden = true;
    const principalChecked = evidence.includes("principal_id_card") || evidence.includes("household_register");
    const problem = !principalChecked ? "请核验委托人的身份证或户口簿"
      : !evidence.includes("agent_id_card") ? "请核验代办人的身份证" : "";
    if (problem) {
      fillErrorBox(errorBox, problem);
      form.querySelector("input[name=evidence]").focus();
      return;
    }
    setBusy(submit, true, "正在确认…");
    let updated;
    try {
      updated = await api.post(`/proxy/grants/${grant.id}/confirm`, {
        counter: { evidence, note: note.value.trim() || null },
      });
    } catch (error) {
      setBusy(submit, false);
      const evidenceMessage = error instanceof ApiError ? error.fieldMessage("counter.evidence") : "";
      if (evidenceMessage) {
        fillErrorBox(errorBox, evidenceMessage);
        return;
      }
      const field = showApiError(error, { "counter.note": note }, alert);
      (field || submit).focus();
      return;
    }
    onDone(updated, `已确认：${updated.agent_name}可以代${updated.principal_name}办理，有效期至${day(updated.valid_until)}。`);
  });
  return form;
}

function endButton(grant, onDone) {
  const slot = h("div", { class: "counter-end" });
  const pending = grant.status === "pending";
  const button = h("button", { type: "button", class: "btn btn--danger-outline", "data-end-grant": grant.id },
    pending ? "取消申请" : "撤销授权");
  return confirmFirst(slot, button, {
    ask: {
      question: pending ? "确认取消这份代办申请？" : "确认撤销这份代办授权？",
      detail: "请确认是委托人本人当面提出。",
      confirmText: pending ? "确认取消" : "确认撤销",
      cancelText: "返回",
    },
    busyText: "正在处理…",
    act: async () => {
      const ended = await api.delete(`/proxy/grants/${grant.id}`);
      onDone(ended, `${ended.status_label}：${ended.agent_name}不能再代${ended.principal_name}办理。`);
    },
  });
}

function card(grant) {
  const titleId = `counter-grant-${grant.id}`;
  const item = h("li", { class: "card grant-card", "data-grant": grant.id, "data-status": grant.status });
  const done = (updated, message) => {
    replaceChildren(item, ...card(updated).childNodes);
    item.dataset.status = updated.status;
    showStatus(resultsStatus, message);
  };
  const people = h("dl", { class: "facts counter-people" },
    fact("委托人", `${grant.principal_name}（${grant.principal_id_number}）`, { "data-fact": "principal" }),
    fact("代办人", `${grant.agent_name}（${grant.agent_id_number}）`, { "data-fact": "agent" }),
    fact("申请时间", dayTime(grant.created_at), { "data-fact": "created" }),
    fact("确认方式", grant.confirmed_method
      ? `已确认（${grant.confirm_method_label}）` : `申请时选择：${grant.confirm_method_label}`, { "data-fact": "method" }),
    grant.evidence?.length
      ? fact("已核验", grant.evidence.map((e) => e.label).join("、"), { "data-fact": "evidence" }) : null,
    grant.counter_note ? fact("备注", grant.counter_note, { "data-fact": "note" }) : null);
  item.append(h("article", { "aria-labelledby": titleId },
    h("div", { class: "grant-card__head" },
      h("h3", { class: "grant-card__title", id: titleId }, `${grant.agent_name} 代 ${grant.principal_name} 办理`),
      grantPill(grant)),
    h("div", { class: "counter-grid" }, people, grantFacts(grant)),
    grant.status === "pending" ? evidenceForm(grant, done) : null,
    grant.status === "pending" || grant.status === "active" ? endButton(grant, done) : null));
  return item;
}

async function search(event) {
  event?.preventDefault();
  clearFormAlert(searchAlert);
  resultsStatus.replaceChildren();
  const value = checkIdNumberInput(idInput);
  if (value === null) {
    idInput.focus();
    return;
  }
  setBusy(searchButton, true, "正在查找…");
  let data;
  try {
    data = await api.get(`/admin/proxy/grants?principal_id_number=${encodeURIComponent(value)}`);
  } catch (error) {
    setBusy(searchButton, false);
    const field = showApiError(error, { principal_id_number: idInput }, searchAlert);
    (field || searchButton).focus();
    return;
  }
  setBusy(searchButton, false);
  const items = Array.isArray(data?.items) ? data.items : [];
  replaceChildren(resultList, items.length
    ? items.map(card)
    : h("li", { class: "card grant-list__empty", "data-empty": true },
      "没有这位委托人的待确认或生效中的代办授权。请代办人先在手机上提交申请，确认方式选“到窗口现场确认”。"));
  results.hidden = false;
  resultsTitle.textContent = `查找结果（${items.length}份）`;
  resultsTitle.focus();
}

async function start() {
  const me = await startConsole(stateBox, COUNTER_STAFF);
  if (!me) return;
  clearState(stateBox);
  content.hidden = false;
  searchForm.addEventListener("submit", search);
  idInput.addEventListener("input", () => {
    if (idInput.getAttribute("aria-invalid")) clearFieldError(idInput);
  });
  idInput.focus();
}

start();
