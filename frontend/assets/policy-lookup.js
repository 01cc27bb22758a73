// 保单查询 without an account: the ID number, then a code texted to the phone the medical-insurance
// registry holds (POST /policy-lookup/code), then POST /policy-lookup answers with masked facts of
// the policies insuring that person. When the registry has no phone the server says so (code
// no_registry_phone, naming the hotline) and this page offers 客服与投诉 (hotline, service points).

import { api, ApiError, errorMessage } from "./api.js";
import { h, replaceChildren } from "./dom.js";
import { clearFieldError, clearFormAlert, setBusy, setFieldError, showApiError, showStatus } from "./forms.js";
import { idNumberProblem, normalizeIdNumber } from "./idnumber.js";
import { dateRange, fact, statusPill } from "./insurance.js";
import { initPage } from "./page.js";
import { resendCountdown } from "./resend.js";

const form = document.getElementById("lookup-form");
const idInput = document.getElementById("lookup-id-number");
const codeInput = document.getElementById("lookup-code");
const sendButton = document.getElementById("lookup-send");
const submitButton = document.getElementById("lookup-submit");
const alertBox = document.getElementById("lookup-alert");
const statusBox = document.getElementById("lookup-status");
const result = document.getElementById("lookup-result");
const fields = { id_number: idInput, code: codeInput };

function idNumber() {
  return normalizeIdNumber(idInput.value);
}

function checkIdNumber() {
  const problem = idNumberProblem(idNumber());
  if (problem) {
    setFieldError(idInput, problem);
    idInput.focus();
    return false;
  }
  clearFieldError(idInput);
  return true;
}

// No phone in the registry: what the server said, and the way to the hotline and the counters.
function showNoPhone(error) {
  replaceChildren(alertBox,
    h("div", { class: "form-alert form-alert--info", "data-no-phone": true },
      h("span", { class: "form-alert__icon", "aria-hidden": "true" }, "i"),
      h("div", { class: "form-alert__text" },
        h("p", {}, errorMessage(error)),
        h("a", { class: "btn btn--block", href: "/help.html" }, "查看客服电话和服务网点"))));
}

async function sendCode() {
  clearFormAlert(alertBox);
  if (!checkIdNumber()) return;
  setBusy(sendButton, true, "正在发送…");
  try {
    const sent = await api.post("/policy-lookup/code", { id_number: idNumber() });
    setBusy(sendButton, false);
    showStatus(statusBox, `验证码已发送至医保登记的手机号 ${sent.phone}`);
    resendCountdown(sendButton, sent.resend_after_seconds);
    codeInput.focus();
  } catch (error) {
    setBusy(sendButton, false);
    if (error instanceof ApiError && error.code === "no_registry_phone") showNoPhone(error);
    else showApiError(error, fields, alertBox)?.focus();
  }
}

function renderPolicy(policy, index) {
  const titleId = `found-${index}`;
  return h("li", { class: "card policy-card", "data-found-policy": policy.policy_no },
    h("article", { "aria-labelledby": titleId },
      h("div", { class: "policy-card__head" },
        h("h3", { class: "policy-card__title", id: titleId }, policy.product_name),
        statusPill(policy.validity, String(policy.validity).startsWith("有效") ? "ok" : "off")),
      h("dl", { class: "facts" },
        fact("被保险人", policy.insured_name, { "data-fact": "insured" }),
        fact("投保人", policy.holder_name, { "data-fact": "holder" }),
        fact("保障方案", policy.tier_name, { "data-fact": "tier" }),
        fact("保障期间", dateRange(policy.coverage_starts_on, policy.coverage_ends_on),
          { "data-fact": "coverage" }),
        fact("承保公司", policy.insurer, { "data-fact": "insurer" }),
        fact("保单号", policy.policy_no, { "data-fact": "policy-no", class: "fact fact--stack" }))));
}

function showResult(found) {
  const items = found.items || [];
  document.getElementById("result-lead").textContent = items.length
    ? `${found.insured_name}名下共有${items.length}张保单。`
    : `未查到${found.insured_name}作为被保险人的保单。投保期内可登录后参保。`;
  replaceChildren(document.getElementById("result-list"), items.map(renderPolicy));
  result.hidden = false;
  result.scrollIntoView({ block: "start" });
}

async function submit(event) {
  event.preventDefault();
  clearFormAlert(alertBox);
  clearFieldError(codeInput);
  if (!checkIdNumber()) return;
  if (!/^\d{6}$/.test(codeInput.value.trim())) {
    setFieldError(codeInput, "请输入6位数字验证码");
    codeInput.focus();
    return;
  }
  setBusy(submitButton, true, "正在查询…");
  try {
    showResult(await api.post("/policy-lookup", { id_number: idNumber(), code: codeInput.value.trim() }));
    codeInput.value = "";
  } catch (error) {
    if (error instanceof ApiError && error.code === "no_registry_phone") showNoPhone(error);
    else showApiError(error, fields, alertBox)?.focus();
  } finally {
    setBusy(submitButton, false);
  }
}

sendButton.addEventListener("click", sendCode);
form.addEventListener("submit", submit);
initPage();
