// 窗口办理: counter staff enroll a walk-in resident (POST /api/v1/counter/enrollments), checking
// the identity document and taking cash (with a receipt number) or recording a subsidy.

import { api } from "./api.js";
import { fact, h, replaceChildren } from "./dom.js";
import { clearFieldError, clearFormAlert, setBusy, showFormAlert } from "./forms.js";
import { formatDateRange, formatFen } from "./format.js";
import { clearState, showEmpty } from "./page.js";
import { newKey } from "./intent.js";
import { COUNTER_STAFF, showFormErrors, startConsole } from "./admin.js";

const stateBox = document.getElementById("page-state");
const content = document.getElementById("page-content");
const form = document.getElementById("counter-form");
const productLine = document.getElementById("counter-product");
const name = document.getElementById("name");
const idNumber = document.getElementById("id-number");
const tier = document.getElementById("tier");
const payment = document.getElementById("payment");
const receipt = document.getElementById("receipt-no");
const idChecked = document.getElementById("id-checked");
const alertBox = document.getElementById("counter-alert");
const submit = document.getElementById("counter-submit");
const result = document.getElementById("result");
const resultFacts = document.getElementById("result-facts");
const next = document.getElementById("next");
const fields = {
  name, id_number: idNumber, tier, payment,
  "evidence.receipt_no": receipt, "evidence.id_document_checked": idChecked,
};
let product = null;
let intentKey = null; // one key per walk-in: a retry after a lost answer never charges twice


function showResult(answer) {
  replaceChildren(resultFacts,
    fact("被保险人", answer.insured_name, "insured"),
    fact("身份证号码", h("span", { class: "mono" }, answer.id_number), "id-number"),
    fact("保障方案", `${answer.product_name} · ${answer.tier_name}`, "tier"),
    fact("保单号", h("span", { class: "mono" }, answer.policy_no), "policy-no"),
    fact("缴费方式", answer.payment_label, "payment"),
    fact("实收金额", formatFen(answer.paid_fen), "paid"),
    answer.subsidy_fen ? fact("政府资助", formatFen(answer.subsidy_fen), "subsidy") : null,
    answer.receipt_no ? fact("收据编号", h("span", { class: "mono" }, answer.receipt_no), "receipt") : null,
    fact("保障期间", formatDateRange(answer.coverage_starts_on, answer.coverage_ends_on), "coverage"),
    fact("办理渠道", `${answer.channel_label}（经办人：${answer.staff_name}）`, "channel"));
  form.hidden = true;
  result.hidden = false;
  document.getElementById("result-title").focus();
}

form.addEventListener("input", () => { intentKey = null; });
form.addEventListener("submit", async (event) => {
  event.preventDefault();
  clearFormAlert(alertBox);
  Object.values(fields).forEach(clearFieldError);
  const body = {
    name: name.value, id_number: idNumber.value, tier: tier.value, payment: payment.value,
    product_id: product.id,
    evidence: { id_document_checked: idChecked.checked, receipt_no: receipt.value.trim() || null },
  };
  intentKey ??= newKey();
  setBusy(submit, true, "正在办理…");
  try {
    const answer = await api.post("/counter/enrollments", body, { idempotencyKey: intentKey });
    intentKey = null;
    showResult(answer);
  } catch (error) {
    if (error.status && error.status < 500) intentKey = null;
    showFormErrors(error, fields, alertBox, submit);
  } finally {
    setBusy(submit, false);
  }
});

next.addEventListener("click", () => {
  form.reset();
  result.hidden = true;
  form.hidden = false;
  name.focus();
});

if (await startConsole(stateBox, COUNTER_STAFF)) {
  let products = [];
  try {
    products = (await api.get("/products")).items || [];
  } catch (error) {
    showFormAlert(alertBox, error.message);
  }
  product = products[0] || null;
  if (!product) {
    showEmpty(stateBox, "当前没有开放投保的产品", "投保期内才能办理参保。");
  } else {
    productLine.textContent = `${product.name}（投保期${formatDateRange(product.enrollment.opens_on, product.enrollment.closes_on)}）`;
    replaceChildren(tier, product.tiers.map((t) => h("option", { value: t.code },
      `${t.name}（${formatFen(t.premium_fen)}/人/年）`)));
    clearState(stateBox);
    content.hidden = false;
  }
}
