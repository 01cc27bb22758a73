// 我的保单: GET /policies, one card per policy with its state in words, linking to the e-policy.

import { actingFor } from "./acting.js";
import { api } from "./api.js";
import { h, replaceChildren } from "./dom.js";
import { formatFen } from "./format.js";
import { dateRange, ENROLL_PATH, fact, longNumber, policyPath, statusPill, validityTone } from "./insurance.js";
import { initPage, loadList, showEmpty } from "./page.js";
import { rememberModeOnAccount } from "./session.js";

const stateBox = document.getElementById("policies-state");
const list = document.getElementById("policy-list");

function renderPolicy(policy) {
  const titleId = `policy-${policy.policy_no}`;
  return h("li", { class: "card policy-card", "data-policy": policy.policy_no },
    h("article", { "aria-labelledby": titleId },
      h("div", { class: "policy-card__head" },
        h("h2", { class: "policy-card__title", id: titleId }, policy.product_name),
        statusPill(policy.validity || policy.status_label, validityTone(policy))),
      h("dl", { class: "facts" },
        fact("被保险人", policy.insured_name, { "data-fact": "insured" }),
        fact("保障方案", policy.tier_name, { "data-fact": "tier" }),
        fact("保障期间", dateRange(policy.coverage_starts_on, policy.coverage_ends_on),
          { "data-fact": "coverage" }),
        fact("保单号", longNumber(policy.policy_no), { "data-fact": "policy-no", class: "fact fact--stack" }),
        fact("实付保费", formatFen(policy.paid_fen), { "data-fact": "paid" })),
      h("a", { class: "btn btn--block policy-card__link", href: policyPath(policy.policy_no) },
        "查看电子保单", h("span", { class: "visually-hidden" }, `（${policy.insured_name}，${policy.policy_no}）`))));
}

function showNone() {
  showEmpty(stateBox, acting ? `${acting.name}还没有保单` : "您还没有保单",
    "投保期内可一键参保，参保成功后保单会显示在这里。", { action: "立即参保", href: ENROLL_PATH });
}

function load() {
  return loadList({
    box: stateBox, content: list, fetch: () => api.get("/policies"),
    empty: showNone,
    fill: (items) => replaceChildren(list, items.map(renderPolicy)),
  });
}

// Acting for a family member (acting.js): GET /policies answers with theirs.
const acting = actingFor();
if (acting) {
  document.querySelector(".page-lead").textContent = `${acting.name}的保单（您正在为其代办）。`;
}

initPage();
rememberModeOnAccount();
load();
