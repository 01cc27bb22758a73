// 为家人投保: choose several persons (oneself and the members from 家人), a tier for each, the
// payment method; the confirm sheet (POST /enrollments/preview with `insured`) lists each person,
// tier and amount, the total, the masked account and the balance before and after; one agreement,
// then 确认支付 (POST /enrollments, Idempotency-Key) → 参保结果 with each person's policy.
//
// All or nothing: a refusal names the person (已参保, 关系尚未核验, …) and nothing is charged; the
// person can untick that member or switch to 在线支付. Members already insured (by oneself or by
// someone else) are shown, disabled, with 已参保 / 已由他人投保, so nobody pays twice.

import { api, ApiError, errorMessage } from "./api.js";
import { h, paragraphs, replaceChildren } from "./dom.js";
import { formatFen } from "./format.js";
import {
  clearFieldError, clearFormAlert, halfWidth, setBusy, setFieldError, showFormAlert, showStatus,
} from "./forms.js";
import {
  balanceNames, METHOD_LABELS, rememberPendingOrder, safePayUrl,
} from "./insurance.js";
import { Intent, outcomeUnknown } from "./intent.js";
import { clearState, initPage, showError, showLoading } from "./page.js";
import { BIND_PATH, fetchMe, isLoggedOut, ME_PATH, redirectToLogin } from "./session.js";

const PAGE_PATH = "/family-enroll.html";
const FAMILY_PATH = "/family.html";
const SMS_PATTERN = /^\d{6}$/;
const DEFAULT_TIER = "standard";
const RELATION_LABELS = { self: "本人", spouse: "配偶", child: "子女", parent: "父母" };

// Refusals about the whole page (nobody can be bought for): shown instead of the form.
const BLOCKING = new Set([
  "window_closed", "identity_required", "not_registered", "consent_required", "consent_withdrawn",
  "not_found", "forbidden",
]);

const stateBox = document.getElementById("fe-state");
const blockedBox = document.getElementById("fe-blocked");
const unpaidBox = document.getElementById("fe-unpaid");
const form = document.getElementById("fe-form");
const lead = document.getElementById("fe-lead");
const peopleList = document.getElementById("people");
const methodOptions = document.getElementById("method-options");
const methodNote = document.getElementById("method-note");
const sheetBody = document.getElementById("sheet-body");
const noticeText = document.getElementById("notice-text");
const termsIntro = document.getElementById("terms-intro");
const termsBody = document.getElementById("terms-body");
const termsEnd = document.getElementById("terms-end");
const smsField = document.getElementById("sms-field");
const smsInput = document.getElementById("sms-code");
const smsSend = document.getElementById("sms-send");
const smsStatus = document.getElementById("sms-status");
const agree = document.getElementById("agree");
const agreeHint = document.getElementById("agree-hint");
const statusBox = document.getElementById("fe-status");
const alertBox = document.getElementById("fe-alert");
const payTotal = document.getElementById("pay-total");
const submitButton = document.getElementById("fe-submit");
const switchButton = document.getElementById("switch-online");

const intent = new Intent("family-enroll");

const state = {
  product: null,
  people: [], // {person_id, name, relation, age, coverage, verified}
  chosen: new Map(), // person_id → tier code, in the order people are listed
  method: "personal_account",
  hasAccount: null,
  quote: null,
  refusal: null, // the preview's ApiError for the current choice
  loading: false,
  submitting: false,
  termsSeen: false,
};

let previewSeq = 0;

function resultPath(orderNo) {
  return `/family-result.html?order_no=${encodeURIComponent(orderNo)}`;
}

// ---------------------------------------------------------------- who

function taken(person) {
  return person.coverage === "已参保" || person.coverage === "已由他人投保" || person.coverage === "待支付";
}

const COVERAGE_LOOK = {
  未参保: { tone: "off", icon: "—" },
  待支付: { tone: "warn", icon: "!" },
  已参保: { tone: "ok", icon: "✓" },
  已由他人投保: { tone: "ok", icon: "✓" },
};

function pill(text, tone, icon, attrs = {}) {
  return h("span", { class: `status-pill status-pill--${tone}`, ...attrs },
    h("span", { "aria-hidden": "true" }, icon), text);
}

function tierOptions(selected) {
  return (state.product.tiers || []).map((tier) => h("option", {
    value: tier.code, selected: tier.code === selected,
  }, `${tier.name}　${formatFen(tier.premium_fen)}`));
}

function renderPerson(person) {
  const id = `pick-${person.person_id}`;
  const relation = RELATION_LABELS[person.relation] || "";
  const disabled = taken(person);
  const look = COVERAGE_LOOK[person.coverage] || COVERAGE_LOOK.未参保;
  const checkbox = h("input", {
    type: "checkbox", class: "check__input", id, value: person.person_id,
    disabled, checked: !disabled && state.chosen.has(person.person_id),
    "aria-describedby": `${id}-meta`,
  });
  const select = h("select", { id: `tier-${person.person_id}`, class: "field__input pick__select" },
    tierOptions(state.chosen.get(person.person_id) || DEFAULT_TIER));
  const tierField = h("div", { class: "pick__tier", hidden: !checkbox.checked },
    h("label", { class: "pick__tier-label", for: select.id },
      "保障方案", h("span", { class: "visually-hidden" }, `（${person.name}）`)),
    select);
  checkbox.addEventListener("change", () => {
    if (checkbox.checked) state.chosen.set(person.person_id, select.value);
    else state.chosen.delete(person.person_id);
    tierField.hidden = !checkbox.checked;
    onChoiceChanged();
  });
  select.addEventListener("change", () => {
    if (state.chosen.has(person.person_id)) state.chosen.set(person.person_id, select.value);
    onChoiceChanged();
  });
  const notes = [];
  if (person.age != null) notes.push(h("span", { class: "nowrap" }, `${person.age}岁`));
  notes.push(pill(person.coverage, look.tone, look.icon, { "data-coverage": person.coverage }));
  if (!person.verified) {
    notes.push(pill("关系待验证", "warn", "!", { "data-verification": "pending" }));
  }
  let explain = null;
  if (person.coverage === "已由他人投保") explain = "其他家人已为TA投保，无需重复购买。";
  else if (person.coverage === "已参保") explain = "本年度已参保，无需重复购买。";
  else if (person.coverage === "待支付") explain = "有一笔订单等待支付，请先完成或取消该订单。";
  else if (!person.verified) explain = "亲属关系验证前只能在线支付；可先到“家人”页面输入验证码。";
  return h("li", {
    class: `pick${disabled ? " pick--taken" : ""}`, "data-person": person.person_id,
    "data-relation": person.relation,
  },
  h("div", { class: "check" },
    checkbox,
    h("label", { class: "check__label pick__label", for: id },
      h("span", { class: "pick__name" }, person.name),
      h("span", { class: "pick__relation" }, `（${relation}）`))),
  h("p", { class: "pick__meta", id: `${id}-meta` }, notes, explain ? h("span", { class: "pick__explain" }, explain) : null),
  tierField);
}

function renderPeople() {
  replaceChildren(peopleList, state.people.map(renderPerson));
  if (state.people.length <= 1) {
    peopleList.append(h("li", { class: "pick pick--hint" },
      h("p", { class: "pick__explain" }, "您还没有添加家人。添加配偶、子女或父母后，可以在这里一起投保。"),
      h("a", { class: "btn btn--small", href: FAMILY_PATH }, "去添加家人")));
  }
}

function insuredChoice() {
  return state.people
    .filter((person) => state.chosen.has(person.person_id))
    .map((person) => ({ person_id: person.person_id, tier: state.chosen.get(person.person_id) }));
}

// ---------------------------------------------------------------- how

function methodChoice(value, title, meta) {
  const id = `method-${value}`;
  return h("div", { class: "choice", "data-choice": value },
    h("input", { type: "radio", class: "choice__input", name: "method", id, value,
      checked: value === state.method }),
    h("label", { class: "choice__label", for: id },
      h("span", { class: "choice__text" },
        h("span", { class: "choice__title" }, title),
        h("span", { class: "choice__meta", "data-choice-meta": true }, meta))));
}

function renderMethods() {
  const balances = balanceNames(state.product?.payable_balances) || "历年账户";
  replaceChildren(methodOptions,
    methodChoice("personal_account", METHOD_LABELS.personal_account,
      `使用您本人的${balances}余额，为本人及配偶、子女、父母缴费`),
    methodChoice("online", "在线支付", "微信支付，点击确认后进入支付页面"),
    methodChoice("subsidy", METHOD_LABELS.subsidy, "困难群众由政府资助参保，无需本人支付"));
}

function syncMethods() {
  const quote = state.quote;
  const payable = quote ? quote.payable_fen : null;
  const shown = {
    personal_account: state.hasAccount !== false && payable !== 0,
    online: payable !== 0,
    subsidy: payable === 0,
  };
  for (const box of methodOptions.querySelectorAll("[data-choice]")) {
    const value = box.dataset.choice;
    box.hidden = !shown[value];
    box.querySelector("input").checked = value === state.method;
  }
  if (quote?.account) {
    methodOptions.querySelector("[data-choice=personal_account] [data-choice-meta]").textContent =
      `${balanceNames(quote.account.balances) || "历年账户"}余额 ${formatFen(quote.account.balance_before_fen)}`
      + (quote.account.shortfall_fen > 0 ? "（不足）" : "");
  }
  const notes = [];
  if (state.hasAccount === false) notes.push("城乡居民医保参保人员没有医保个人账户，请在线支付。");
  methodNote.textContent = notes.join("");
  methodNote.hidden = notes.length === 0;
}

// ---------------------------------------------------------------- the confirm sheet

function row(term, value, attrs = {}) {
  return h("div", { class: "sheet-row", ...attrs },
    h("dt", { class: "sheet-row__term" }, term),
    h("dd", { class: "sheet-row__value" }, value));
}

function relationText(relation) {
  return RELATION_LABELS[relation] || "";
}

function renderLine(line) {
  return h("li", { class: "family-line", "data-line": line.person_id },
    h("div", { class: "family-line__who" },
      h("p", { class: "family-line__name" },
        line.name, h("span", { class: "family-line__relation" }, `（${relationText(line.relation)}）`)),
      h("p", { class: "family-line__tier", "data-tier": true }, line.tier_name),
      line.subsidy_fen > 0
        ? h("p", { class: "family-line__subsidy" }, `政府资助 -${formatFen(line.subsidy_fen)}`) : null),
    h("p", { class: "family-line__amount", "data-amount": true }, formatFen(line.payable_fen)));
}

function renderAccount(quote) {
  const account = quote.account;
  if (!account) return null;
  const short = account.shortfall_fen > 0;
  return h("div", { class: "sheet-account", "data-account": true },
    h("dl", { class: "sheet-rows" },
      row("账户持有人", account.holder, { "data-row": "holder" }),
      row("扣款前余额", formatFen(account.balance_before_fen), { "data-row": "balance-before" }),
      short ? null : row("扣款后余额", formatFen(account.balance_after_fen), { "data-row": "balance-after" })),
    short
      ? h("div", { class: "callout callout--tight", "data-shortfall": true },
        h("p", { class: "callout__title" },
          h("span", { class: "callout__icon", "aria-hidden": "true" }, "!"),
          `余额不足，还差${formatFen(account.shortfall_fen)}`),
        h("p", { class: "callout__text" },
          `个人账户可用余额${formatFen(account.balance_before_fen)}，本次需支付${formatFen(quote.payable_fen)}，未扣除任何费用。`),
        h("p", { class: "callout__text" },
          quote.lines.length > 1
            ? "您可以在上方取消勾选部分家人，用个人账户为其余家人缴费；或改用在线支付。"
            : "您可以改用在线支付。"))
      : null);
}

function methodText(quote) {
  if (quote.payment_method === "personal_account") {
    return `医保个人账户（${balanceNames(quote.account?.balances) || "历年账户"}）`;
  }
  return METHOD_LABELS[quote.payment_method] || quote.payment_method;
}

function methodHint(quote) {
  if (quote.payment_method === "subsidy") return "由政府资助全额缴纳，无需支付任何费用。";
  if (quote.payment_method === "online") return "点击确认支付后，将打开微信支付页面，一次付清上述全部金额。";
  return "点击确认支付即表示您本人同意从您的医保个人账户一次扣除上述合计金额。";
}

function renderQuote(quote) {
  const count = quote.lines.length;
  replaceChildren(sheetBody,
    h("p", { class: "sheet__product" }, quote.product_name),
    h("ul", { class: "family-lines", role: "list", "aria-label": "被保险人和保费" }, quote.lines.map(renderLine)),
    h("div", { class: "sheet-total", "data-total": true },
      h("p", { class: "sheet-total__label" }, `应付合计（${count}人）`),
      h("p", { class: "sheet-total__amount" }, formatFen(quote.payable_fen))),
    h("dl", { class: "sheet-rows" }, row("支付方式", methodText(quote), { "data-row": "method" })),
    renderAccount(quote),
    quote.account?.shortfall_fen > 0 ? null : h("p", { class: "sheet__hint" }, methodHint(quote)));
}

function refusalHelp(error) {
  switch (error.code) {
    case "already_insured":
      return "请在上方取消勾选该家人；已参保的家人不会被重复收费。";
    case "pending_order":
      return "请先完成或取消该订单，或在上方取消勾选该家人。";
    case "relation_unverified":
      return "请先到“家人”页面输入验证码完成验证，或改用在线支付。";
    case "account_person_limit":
      return "您可以在上方减少用个人账户缴费的人数，或改用在线支付。";
    case "minor_needs_guardian":
      return "请在上方取消勾选该家人，由孩子的父母为其投保。";
    default:
      return "请在上方取消勾选该家人，或调整后重试。";
  }
}

function renderRefusal(error) {
  const canSwitch = state.method === "personal_account"
    && (error.code === "relation_unverified" || error.code === "account_person_limit");
  const actions = [];
  if (canSwitch) {
    const button = h("button", { type: "button", class: "btn btn--block" }, "改用在线支付");
    button.addEventListener("click", () => changeMethod("online"));
    actions.push(button);
  }
  if (error.code === "relation_unverified") {
    actions.push(h("a", { class: "btn btn--block btn--quiet", href: FAMILY_PATH }, "去“家人”页面验证"));
  }
  replaceChildren(sheetBody,
    h("div", { class: "callout callout--tight", "data-refusal": error.code },
      h("p", { class: "callout__title" },
        h("span", { class: "callout__icon", "aria-hidden": "true" }, "!"), "不能按当前选择投保"),
      h("p", { class: "callout__text blocked__reason", "data-reason": true }, error.message),
      h("p", { class: "callout__text" }, `${refusalHelp(error)}本次未扣除任何费用。`),
      actions.length ? h("div", { class: "blocked__actions" }, actions) : null));
}

function renderNothingChosen() {
  replaceChildren(sheetBody,
    h("p", { class: "sheet__empty", "data-empty": true }, "请在上方勾选要投保的人，这里会列出每人的方案和金额。"));
}

function syncPayBar() {
  const quote = state.refusal ? null : state.quote;
  const short = Boolean(quote?.account && quote.account.shortfall_fen > 0);
  submitButton.hidden = short;
  switchButton.hidden = !short;
  if (!state.submitting) {
    if (!quote) submitButton.textContent = "确认支付";
    else if (quote.payable_fen === 0) submitButton.textContent = "确认参保（无需支付）";
    else submitButton.textContent = `确认支付 ${formatFen(quote.payable_fen)}`;
  }
  if (quote) switchButton.textContent = `改用在线支付 ${formatFen(quote.payable_fen)}`;
  payTotal.textContent = short ? `个人账户余额不足，还差${formatFen(quote.account.shortfall_fen)}` : "";
  payTotal.hidden = !short;
  submitButton.disabled = !quote || state.loading || state.submitting;
  switchButton.disabled = state.loading || state.submitting;
}

function syncSms(quote) {
  const needed = Boolean(quote && quote.payment_method === "personal_account" && quote.needs_sms_code
    && !(quote.account?.shortfall_fen > 0));
  smsField.hidden = !needed;
}

// ---------------------------------------------------------------- previews

function requestBody(method, confirmations = {}) {
  return {
    product_id: state.product.id,
    insured: insuredChoice(),
    payment_method: method,
    confirmations,
  };
}

function fallbackMethod(error, method) {
  if (!(error instanceof ApiError)) return null;
  switch (error.code) {
    case "fully_subsidized":
      return "subsidy";
    case "no_personal_account":
      state.hasAccount = false;
      return "online";
    case "subsidy_difference":
    case "not_subsidized":
      return state.hasAccount === false ? "online" : (method === "subsidy" ? "personal_account" : null);
    default:
      return null;
  }
}

/** Preview the current choice with `method` (or the next method that fits); show the sheet. */
async function refresh(method = state.method) {
  const seq = ++previewSeq;
  if (!state.chosen.size) {
    state.quote = null;
    state.refusal = null;
    state.loading = false;
    state.method = method;
    renderNothingChosen();
    syncMethods();
    syncSms(null);
    syncPayBar();
    return null;
  }
  state.loading = true;
  sheetBody.setAttribute("aria-busy", "true");
  syncPayBar();
  const tried = new Set();
  let current = method;
  let quote = null;
  let failure = null;
  while (!quote && current && !tried.has(current)) {
    tried.add(current);
    try {
      quote = await api.post("/enrollments/preview", requestBody(current));
    } catch (error) {
      if (seq !== previewSeq) return null;
      if (isLoggedOut(error)) {
        redirectToLogin(PAGE_PATH);
        return null;
      }
      failure = error;
      current = fallbackMethod(error, current);
    }
  }
  if (seq !== previewSeq) return null;
  state.loading = false;
  sheetBody.removeAttribute("aria-busy");
  if (!quote) {
    if (failure instanceof ApiError && BLOCKING.has(failure.code)) {
      showBlocked(failure);
      return null;
    }
    state.quote = null;
    state.refusal = failure instanceof ApiError && failure.status > 0 && failure.status < 500 ? failure : null;
    if (state.refusal) renderRefusal(state.refusal);
    else {
      replaceChildren(sheetBody, h("p", { class: "sheet__empty" }, "暂时无法计算金额。"));
      showFormAlert(alertBox, errorMessage(failure));
    }
    syncMethods();
    syncSms(null);
    syncPayBar();
    return null;
  }
  if (quote.payment_method === "personal_account") state.hasAccount = true;
  state.quote = quote;
  state.refusal = null;
  state.method = quote.payment_method;
  renderQuote(quote);
  syncMethods();
  syncSms(quote);
  syncPayBar();
  return quote;
}

function onChoiceChanged() {
  clearFormAlert(alertBox);
  statusBox.replaceChildren();
  // A fresh choice starts from the personal account again (where there is one).
  refresh(state.hasAccount === false ? "online" : (state.method === "subsidy" ? "personal_account" : state.method));
}

function changeMethod(method) {
  clearFormAlert(alertBox);
  statusBox.replaceChildren();
  state.method = method;
  return refresh(method);
}

// ---------------------------------------------------------------- terms

function renderTerms(product) {
  const terms = product.terms || {};
  noticeText.textContent = terms.notice || "本产品为商业保险，不是基本医疗保险。";
  termsIntro.textContent = `支付前请阅读以下内容（条款版本 ${terms.version || "—"}）。`;
  const parts = [
    ["coverage", "保障责任", terms.coverage],
    ["claim_scope", "理赔范围", terms.claim_scope],
    ["exclusions", "责任免除", terms.exclusions],
  ].filter(([, , text]) => text);
  replaceChildren(termsBody, parts.map(([key, title, text]) => h("details",
    { class: "disclosure", "data-terms": key, open: true },
    h("summary", { class: "disclosure__summary" }, title),
    h("div", { class: "disclosure__body" }, paragraphs(text)))));
}

function markTermsSeen() {
  if (state.termsSeen) return;
  state.termsSeen = true;
  agree.disabled = false;
  agreeHint.textContent = "勾选即表示您已阅读上方条款，并知晓本产品不是基本医疗保险。";
}

function watchTermsEnd() {
  if (typeof IntersectionObserver !== "function") {
    markTermsSeen();
    return;
  }
  const observer = new IntersectionObserver((entries) => {
    if (entries.some((entry) => entry.isIntersecting)) {
      markTermsSeen();
      observer.disconnect();
    }
  });
  observer.observe(termsEnd);
}

async function reloadTerms() {
  try {
    const data = await api.get("/products");
    const product = (data?.items || []).find((item) => item.id === state.product.id);
    if (product) {
      state.product = product;
      renderTerms(product);
    }
  } catch {
    /* the old text stays; the server will say again if it is out of date */
  }
}

// ---------------------------------------------------------------- SMS code for a debit

let countdownTimer = null;

function startCountdown(seconds) {
  clearInterval(countdownTimer);
  const endsAt = Date.now() + seconds * 1000;
  const tick = () => {
    const left = Math.ceil((endsAt - Date.now()) / 1000);
    if (left <= 0) {
      clearInterval(countdownTimer);
      smsSend.disabled = false;
      smsSend.textContent = "重新获取";
      return;
    }
    smsSend.disabled = true;
    smsSend.textContent = `重新获取(${left}s)`;
  };
  tick();
  countdownTimer = setInterval(tick, 250);
}

async function sendPaymentCode() {
  clearFieldError(smsInput);
  setBusy(smsSend, true, "发送中…");
  let sent;
  try {
    sent = await api.post("/me/payment-code");
  } catch (error) {
    setBusy(smsSend, false);
    if (isLoggedOut(error)) {
      redirectToLogin(PAGE_PATH);
      return;
    }
    setFieldError(smsInput, errorMessage(error));
    if (error instanceof ApiError && error.status === 429 && error.retryAfter) startCountdown(error.retryAfter);
    return;
  }
  setBusy(smsSend, false);
  showStatus(smsStatus, `验证码已发送至 ${sent.phone}，5分钟内有效。`);
  startCountdown(Number(sent.resend_after_seconds) || 60);
  smsInput.focus();
}

function checkSms() {
  if (smsField.hidden) return { ok: true, code: null };
  const code = halfWidth(smsInput.value).replace(/\s/g, "");
  if (!SMS_PATTERN.test(code)) {
    setFieldError(smsInput, code ? "请输入6位数字验证码" : "请输入短信验证码");
    return { ok: false, code: null };
  }
  clearFieldError(smsInput);
  return { ok: true, code };
}

// ---------------------------------------------------------------- paying

function checkAgreement() {
  if (agree.checked) {
    clearFieldError(agree);
    return true;
  }
  setFieldError(agree, agree.disabled
    ? "请先阅读上方的保险条款，再勾选同意"
    : "请勾选同意《保险条款》，并确认知晓本产品不是基本医疗保险");
  return false;
}

async function handlePayError(error) {
  if (isLoggedOut(error)) {
    redirectToLogin(PAGE_PATH);
    return;
  }
  const code = error instanceof ApiError ? error.code : "";
  if (BLOCKING.has(code)) {
    showBlocked(error);
    return;
  }
  switch (code) {
    case "insufficient_balance":
    case "debit_failed":
      await refresh(state.method);
      switchButton.hidden = false;
      switchButton.disabled = false;
      showFormAlert(alertBox, error.message);
      switchButton.focus();
      return;
    case "terms_not_agreed":
      await reloadTerms();
      agree.checked = false;
      setFieldError(agree, "保险条款已更新，请重新阅读并勾选同意");
      showFormAlert(alertBox, error.message);
      return;
    case "notice_not_confirmed":
      setFieldError(agree, error.message);
      agree.focus();
      return;
    case "sms_code_required":
      smsField.hidden = false;
      setFieldError(smsInput, error.message);
      smsInput.focus();
      return;
    case "wrong_code":
      setFieldError(smsInput, error.message);
      smsInput.focus();
      smsInput.select?.();
      return;
    default: {
      if (error instanceof ApiError && error.status === 422 && !outcomeUnknown(error)) {
        // A rule about one person (已参保 now, 关系未核验, …) or an amount that changed: the sheet
        // is read again so it shows what is true now, and the reason stays in the alert.
        await refresh(state.method);
        showFormAlert(alertBox, error.message);
        submitButton.focus();
        return;
      }
      const parts = [errorMessage(error).replace(/。$/, "")];
      if (outcomeUnknown(error)) parts.push("请再次点击确认，同一笔订单不会重复扣款");
      if (error instanceof ApiError && error.requestId) parts.push(`请求编号：${error.requestId}`);
      showFormAlert(alertBox, `${parts.join("。")}。`);
      submitButton.focus();
    }
  }
}

async function pay(method) {
  const quote = state.quote;
  if (!quote || state.refusal || state.loading || state.submitting) return;
  clearFormAlert(alertBox);
  if (!checkAgreement()) {
    if (agree.disabled) {
      termsEnd.scrollIntoView({ block: "center" });
      markTermsSeen();
    }
    agree.focus();
    return;
  }
  const sms = method === "personal_account" ? checkSms() : { ok: true, code: null };
  if (!sms.ok) {
    smsInput.focus();
    return;
  }
  const confirmations = {
    terms_version: state.product.terms?.version ?? quote.terms_version,
    not_basic_insurance: true,
  };
  if (method === "personal_account") {
    confirmations.debit_amount_fen = quote.payable_fen;
    if (sms.code) confirmations.sms_code = sms.code;
  }
  const body = requestBody(method, confirmations);
  const key = intent.keyFor(body);
  const button = method === quote.payment_method ? submitButton : switchButton;
  state.submitting = true;
  syncPayBar();
  setBusy(button, true, method === "online" ? "正在创建订单…" : "正在支付…");
  let order;
  try {
    order = await api.post("/enrollments", body, { idempotencyKey: key, timeoutMs: 30000 });
  } catch (error) {
    intent.settle(error);
    state.submitting = false;
    setBusy(button, false);
    syncPayBar();
    await handlePayError(error);
    return;
  }
  intent.settle();
  const payUrl = safePayUrl(order.pay_url);
  if (order.status === "pending_payment" && payUrl) {
    rememberPendingOrder(order);
    button.textContent = "正在前往支付页面…";
    window.location.assign(payUrl);
    return;
  }
  button.textContent = "正在打开参保结果…";
  window.location.assign(resultPath(order.order_no));
}

async function switchToOnline() {
  if (state.submitting) return;
  clearFormAlert(alertBox);
  const quote = await changeMethod("online");
  if (quote) {
    showStatus(statusBox, "已改为在线支付。请阅读条款并勾选同意后，点击确认支付。");
    if (agree.checked) submitButton.focus();
    else if (!agree.disabled) agree.focus();
  }
}

// ---------------------------------------------------------------- refusals and unpaid orders

function showBlocked(error) {
  clearState(stateBox);
  form.hidden = true;
  lead.hidden = true;
  const links = [];
  let title = "暂时不能投保";
  if (error.code === "identity_required") {
    title = "请先完成实名认证";
    links.push(h("a", { class: "btn btn--primary btn--block", href: `${BIND_PATH}?next=${encodeURIComponent(PAGE_PATH)}` }, "去实名认证"));
  } else if (error.code === "consent_required" || error.code === "consent_withdrawn") {
    title = "需要您的授权";
    links.push(h("a", { class: "btn btn--primary btn--block", href: ME_PATH }, "去“我的”查看授权"));
  } else if (error.code === "window_closed") {
    title = "当前不在投保时间内";
  }
  links.push(h("a", { class: "btn btn--block btn--quiet", href: "/" }, "返回首页"));
  replaceChildren(blockedBox,
    h("div", { class: "callout callout--blocked", "data-refusal": error.code },
      h("h2", { class: "callout__title blocked__title", id: "blocked-title" },
        h("span", { class: "callout__icon", "aria-hidden": "true" }, "!"), title),
      h("p", { class: "blocked__reason", "data-reason": true }, error.message),
      h("div", { class: "blocked__actions" }, links)));
  blockedBox.hidden = false;
  blockedBox.focus();
}

async function cancelUnpaid(order, button) {
  setBusy(button, true, "正在取消…");
  try {
    await api.post(`/enrollments/${encodeURIComponent(order.order_no)}/cancel`);
  } catch (error) {
    setBusy(button, false);
    if (isLoggedOut(error)) {
      redirectToLogin(PAGE_PATH);
      return;
    }
    if (!(error instanceof ApiError) || error.status === 0) {
      button.after(h("p", { class: "field__error", role: "alert" }, errorMessage(error)));
      return;
    }
  }
  window.location.replace(PAGE_PATH);
}

function renderUnpaid(orders) {
  if (!orders.length) {
    unpaidBox.hidden = true;
    return;
  }
  replaceChildren(unpaidBox, orders.map((order) => {
    const names = (order.lines || []).map((line) => line.name).join("、");
    const payUrl = safePayUrl(order.pay_url);
    const cancel = h("button", { type: "button", class: "btn btn--block btn--quiet" }, "取消该订单");
    cancel.addEventListener("click", () => cancelUnpaid(order, cancel));
    return h("section", { class: "callout", "aria-label": "待支付的订单", "data-unpaid": order.order_no },
      h("p", { class: "callout__title" },
        h("span", { class: "callout__icon", "aria-hidden": "true" }, "!"), "有一笔订单等待支付"),
      h("p", { class: "callout__text" }, `被保险人：${names}，应付${formatFen(order.payable_fen)}。这些家人暂不能再次选择。`),
      h("div", { class: "blocked__actions" },
        payUrl
          ? h("a", { class: "btn btn--primary btn--block", href: payUrl }, `继续支付 ${formatFen(order.payable_fen)}`)
          : h("a", { class: "btn btn--primary btn--block", href: resultPath(order.order_no) }, "查看支付结果"),
        cancel));
  }));
  unpaidBox.hidden = false;
}

// ---------------------------------------------------------------- start

/** Oneself as a row like the family members: coverage from one's policies and unpaid orders. */
function selfRow(me, product, policies, unpaid) {
  const personId = me.identity.person_id;
  const insured = policies.some((p) => p.insured_person_id === personId && p.product_id === product.id
    && p.status === "active");
  const waiting = unpaid.some((order) => (order.lines || []).some((line) => line.person_id === personId));
  return {
    person_id: personId,
    name: me.identity.name,
    relation: "self",
    age: me.identity.age,
    coverage: insured ? "已参保" : waiting ? "待支付" : "未参保",
    verified: true,
  };
}

async function load() {
  form.hidden = true;
  blockedBox.hidden = true;
  showLoading(stateBox);
  let me;
  let products;
  let family;
  let policies;
  let unpaid;
  try {
    me = await fetchMe();
    if (!me) {
      redirectToLogin(PAGE_PATH);
      return;
    }
    if (!me.identity?.bound) {
      showBlocked(new ApiError({ status: 403, code: "identity_required", message: "为家人投保前，请先完成本人的实名认证。" }));
      return;
    }
    [products, family, policies, unpaid] = await Promise.all([
      api.get("/products"),
      api.get("/me/family"),
      api.get("/policies"),
      api.get("/enrollments?status=pending_payment"),
    ]);
  } catch (error) {
    if (isLoggedOut(error)) {
      redirectToLogin(PAGE_PATH);
      return;
    }
    if (error instanceof ApiError && BLOCKING.has(error.code)) {
      showBlocked(error);
      return;
    }
    showError(stateBox, error, load)?.focus();
    return;
  }
  const items = Array.isArray(products?.items) ? products.items : [];
  const product = items.find((item) => item.enrollment?.is_open);
  if (!product) {
    showBlocked(new ApiError({ status: 404, code: "window_closed", message: "当前没有开放投保的产品。每年投保时间开始后，可在这里为家人投保。" }));
    return;
  }
  state.product = product;
  const unpaidOrders = (unpaid?.items || []).filter((order) => order.status === "pending_payment");
  state.people = [
    selfRow(me, product, policies?.items || [], unpaidOrders),
    ...(family?.items || []).map((member) => ({
      person_id: member.person_id,
      name: member.name,
      relation: member.relation,
      age: member.age,
      coverage: member.coverage,
      verified: member.verified,
    })),
  ];
  // From 家人 (为李*投保): that person starts ticked.
  const wanted = Number(new URLSearchParams(window.location.search).get("person"));
  const preset = state.people.find((person) => person.person_id === wanted && !taken(person));
  if (preset) state.chosen.set(preset.person_id, DEFAULT_TIER);
  renderUnpaid(unpaidOrders);
  renderPeople();
  renderMethods();
  renderTerms(product);
  await refresh("personal_account");
  if (!blockedBox.hidden) return;
  clearState(stateBox);
  form.hidden = false;
  watchTermsEnd();
}

initPage();
methodOptions.addEventListener("change", (event) => {
  const input = event.target;
  if (input instanceof HTMLInputElement && input.name === "method") changeMethod(input.value);
});
form.addEventListener("submit", (event) => {
  event.preventDefault();
  pay(state.method);
});
switchButton.addEventListener("click", switchToOnline);
agree.addEventListener("change", () => {
  if (agree.checked) clearFieldError(agree);
});
smsSend.addEventListener("click", sendPaymentCode);
smsInput.addEventListener("input", () => {
  if (smsInput.getAttribute("aria-invalid") && SMS_PATTERN.test(halfWidth(smsInput.value).trim())) {
    clearFieldError(smsInput);
  }
});
load();
