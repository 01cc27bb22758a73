// 确认参保: tier, payment method, the confirm sheet (POST /enrollments/preview), the terms and one
// agreement, then 确认支付 (POST /enrollments with an Idempotency-Key).
//
// Three taps from the home page: 立即参保 → 勾选同意 → 确认支付. Everything else has a default:
// 标准版, and the payment method the first preview allows (医保个人账户 for employees, 在线支付
// for residents, 政府资助 when the subsidy pays it all). The terms are shown open above the
// agreement box, which can be ticked once the end of the terms has been on screen.

import { actingAllows, actingFor, PROXY_PATH, stopActing } from "./acting.js";
import { api, ApiError, errorMessage } from "./api.js";
import { h, paragraphs, replaceChildren } from "./dom.js";
import { formatFen } from "./format.js";
import {
  clearFieldError, clearFormAlert, halfWidth, setBusy, setFieldError, showFormAlert, showStatus,
} from "./forms.js";
import {
  balanceNames, ENROLL_PATH, forgetPendingOrder, METHOD_LABELS, pendingOrder, POLICIES_PATH,
  rememberPendingOrder, resultPath, safePayUrl,
} from "./insurance.js";
import { Intent, outcomeUnknown } from "./intent.js";
import { clearState, initPage, showError, showLoading } from "./page.js";
import { waitLabel } from "./prefs.js";
import { BIND_PATH, isLoggedOut, ME_PATH, redirectToLogin, rememberModeOnAccount } from "./session.js";

const METHODS = ["personal_account", "online", "subsidy"];
const DEFAULT_TIER = "standard";
const SMS_PATTERN = /^\d{6}$/;

// Refusals that no other tier or payment method can change: shown instead of the form.
const BLOCKING = new Set([
  "insurance_suspended", "other_city", "already_insured", "pending_order", "window_closed",
  "identity_required", "not_registered", "consent_required", "consent_withdrawn", "subsidy_used",
  "not_found", "forbidden", "not_authorized",
]);

const stateBox = document.getElementById("enroll-state");
const blockedBox = document.getElementById("enroll-blocked");
const form = document.getElementById("enroll-form");
const lead = document.getElementById("enroll-lead");
const tierOptions = document.getElementById("tier-options");
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
const statusBox = document.getElementById("enroll-status");
const alertBox = document.getElementById("enroll-alert");
const payTotal = document.getElementById("pay-total");
const submitButton = document.getElementById("enroll-submit");
const switchButton = document.getElementById("switch-online");

// Acting for a family member (acting.js): the order is theirs, paid from their account only if
// the grant allows it (else online); a separate intent, so no key is shared with one's own order.
const acting = actingFor();
const PAYS_FROM_PRINCIPAL = "pay_from_principal_account";

const intent = new Intent(acting ? `enroll:for:${acting.person_id}` : "enroll");

const state = {
  product: null,
  tier: DEFAULT_TIER,
  method: null, // the method of the quote on screen
  quote: null,
  hasAccount: null, // learnt from previews: null = not yet known
  loading: false,
  submitting: false,
  termsSeen: false,
  proxyPayProblem: null, // acting: why the principal's account cannot pay (limit, not granted)
};

let previewSeq = 0;

// ---------------------------------------------------------------- choices

function tierSummary(tier) {
  const main = (tier.benefits || []).find((b) => b.category === "compliant") || tier.benefits?.[0];
  if (!main) return null;
  return [h("span", { class: "nowrap" }, `免赔额${formatFen(main.deductible_fen, { compact: true })}`), " · ",
    h("span", { class: "nowrap" }, `最高赔付${formatFen(main.cap_fen, { compact: true })}`)];
}

function choice({ name, value, title, meta, aside, checked }) {
  const id = `${name}-${value}`;
  const input = h("input", {
    type: "radio", class: "choice__input", name, id, value, checked: Boolean(checked),
  });
  return h("div", { class: "choice", "data-choice": value },
    input,
    h("label", { class: "choice__label", for: id },
      h("span", { class: "choice__text" },
        h("span", { class: "choice__title" }, title),
        h("span", { class: "choice__meta", "data-choice-meta": true }, meta)),
      aside ? h("span", { class: "choice__aside" }, aside) : null));
}

function renderTiers(product) {
  const tiers = product.tiers || [];
  if (!tiers.some((tier) => tier.code === state.tier)) state.tier = tiers[0]?.code;
  replaceChildren(tierOptions, tiers.map((tier) => choice({
    name: "tier",
    value: tier.code,
    title: tier.name,
    meta: tierSummary(tier),
    aside: [h("span", { class: "choice__price" }, formatFen(tier.premium_fen)),
      h("span", { class: "price__unit" }, "/人/年")],
    checked: tier.code === state.tier,
  })));
}

function renderMethods() {
  const balances = balanceNames(state.product?.payable_balances) || "历年账户";
  replaceChildren(methodOptions,
    choice({ name: "method", value: "personal_account", title: METHOD_LABELS.personal_account,
      meta: `使用${balances}余额，本人确认后扣款` }),
    choice({ name: "method", value: "online", title: "在线支付",
      meta: "微信支付，点击确认后进入支付页面" }),
    choice({ name: "method", value: "subsidy", title: METHOD_LABELS.subsidy,
      meta: "困难群众由政府资助参保，无需本人支付" }));
}

function methodChoice(method) {
  return methodOptions.querySelector(`[data-choice="${method}"]`);
}

/** Show only the methods that can pay this quote, and tick the one it uses. */
function syncMethods(quote) {
  const payable = quote.payable_fen;
  const shown = {
    personal_account: payable > 0 && state.hasAccount !== false && !state.proxyPayProblem,
    online: payable > 0,
    subsidy: payable === 0,
  };
  for (const method of METHODS) {
    const box = methodChoice(method);
    box.hidden = !shown[method];
    box.querySelector("input").checked = method === quote.payment_method;
  }
  const account = quote.account;
  if (account) {
    methodChoice("personal_account").querySelector("[data-choice-meta]").textContent =
      `${balanceNames(account.balances) || "历年账户"}余额 ${formatFen(account.balance_before_fen)}`
      + (account.shortfall_fen > 0 ? "（不足）" : "");
  }
  const notes = [];
  if (payable > 0 && state.proxyPayProblem) {
    notes.push(`${state.proxyPayProblem.replace(/[。，]$/, "")}，请在线支付。`);
  }
  if (payable > 0 && state.hasAccount === false) {
    notes.push("城乡居民医保参保人员没有医保个人账户，请在线支付。");
  }
  if (payable > 0 && quote.subsidy_fen > 0) {
    notes.push(`政府已资助${formatFen(quote.subsidy_fen)}，超出部分需本人支付；选择${subsidizedTierName()}可全额资助。`);
  }
  methodNote.textContent = notes.join("");
  methodNote.hidden = notes.length === 0;
}

function subsidizedTierName() {
  return state.product?.subsidy?.tier_name || "标准版";
}

// ---------------------------------------------------------------- the confirm sheet

function row(term, value, attrs = {}) {
  return h("div", { class: "sheet-row", ...attrs },
    h("dt", { class: "sheet-row__term" }, term),
    h("dd", { class: "sheet-row__value" }, value));
}

function renderLine(line) {
  return h("div", { class: "sheet-line", "data-line": line.person_id },
    h("dl", { class: "sheet-rows" },
      row("被保险人", insuredName(line),
        { "data-row": "insured" }),
      row("保障方案", line.tier_name, { "data-row": "tier" }),
      row("保费", formatFen(line.premium_fen), { "data-row": "premium" }),
      line.subsidy_fen > 0
        ? row("政府资助", `-${formatFen(line.subsidy_fen)}`, { "data-row": "subsidy" }) : null));
}

function insuredName(line) {
  if (acting) return `${line.name}（您代办）`;
  return line.relation === "self" ? `${line.name}（本人）` : line.name;
}

function renderAccount(quote) {
  const account = quote.account;
  if (!account) return null;
  const short = account.shortfall_fen > 0;
  return h("div", { class: "sheet-account", "data-account": true },
    h("dl", { class: "sheet-rows" },
      row("账户持有人", account.holder, { "data-row": "holder" }),
      row("扣款前余额", formatFen(account.balance_before_fen), { "data-row": "balance-before" }),
      short
        ? null
        : row("扣款后余额", formatFen(account.balance_after_fen), { "data-row": "balance-after" })),
    short
      ? h("div", { class: "callout callout--tight", "data-shortfall": true },
        h("p", { class: "callout__title" },
          h("span", { class: "callout__icon", "aria-hidden": "true" }, "!"),
          `余额不足，还差${formatFen(account.shortfall_fen)}`),
        h("p", { class: "callout__text" },
          `个人账户可用余额${formatFen(account.balance_before_fen)}，本次需支付${formatFen(quote.payable_fen)}。您可以改用在线支付。`))
      : null);
}

function methodText(quote) {
  if (quote.payment_method === "personal_account") {
    return `医保个人账户（${balanceNames(quote.account?.balances) || "历年账户"}）`;
  }
  return METHOD_LABELS[quote.payment_method] || quote.payment_method;
}

function methodHint(quote) {
  if (quote.payment_method === "subsidy") return "由政府资助全额缴纳，您无需支付任何费用。";
  if (quote.payment_method === "online") return "点击确认支付后，将打开微信支付页面完成付款。";
  if (acting) {
    return `点击确认支付，即按${quote.account?.holder || acting.name}的授权，从其医保个人账户扣除上述金额。`;
  }
  return "点击确认支付即表示您本人同意从医保个人账户扣除上述金额。";
}

function renderSheet(quote) {
  replaceChildren(sheetBody,
    h("p", { class: "sheet__product" }, quote.product_name),
    quote.lines.map(renderLine),
    h("div", { class: "sheet-total", "data-total": true },
      h("p", { class: "sheet-total__label" }, quote.payment_method === "subsidy" ? "本人需支付" : "应付金额"),
      h("p", { class: "sheet-total__amount" }, formatFen(quote.payable_fen))),
    h("dl", { class: "sheet-rows" },
      row("支付方式", methodText(quote), { "data-row": "method" })),
    renderAccount(quote),
    quote.account?.shortfall_fen > 0 ? null : h("p", { class: "sheet__hint" }, methodHint(quote)));
}

function syncPayBar() {
  const quote = state.quote;
  const short = Boolean(quote?.account && quote.account.shortfall_fen > 0);
  submitButton.hidden = short;
  switchButton.hidden = !short;
  if (!quote) {
    payTotal.textContent = "";
    return;
  }
  if (!state.submitting) {
    submitButton.textContent = quote.payable_fen === 0
      ? "确认参保（无需支付）"
      : `确认支付 ${formatFen(quote.payable_fen)}`;
  }
  switchButton.textContent = `改用在线支付 ${formatFen(quote.payable_fen)}`;
  payTotal.textContent = short ? `个人账户余额不足，还差${formatFen(quote.account.shortfall_fen)}` : "";
  payTotal.hidden = !short;
  submitButton.disabled = state.loading || state.submitting;
  switchButton.disabled = state.loading || state.submitting;
}

function syncSms(quote) {
  const needed = Boolean(quote?.needs_sms_code) && quote.payment_method === "personal_account";
  smsField.hidden = !needed;
  if (!needed) clearFieldError(smsInput);
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
  // Open from the start (each part can be folded away once read).
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

// ---------------------------------------------------------------- previews

function requestBody(method, extra = {}) {
  return {
    product_id: state.product.id,
    tier: state.tier,
    payment_method: method,
    confirmations: extra,
  };
}

/** The next method to try after a preview refused this one, or null. Learns what it can. */
function fallbackMethod(error, method) {
  if (!(error instanceof ApiError) || BLOCKING.has(error.code)) return null;
  switch (error.code) {
    case "fully_subsidized":
      return "subsidy";
    case "no_personal_account":
      state.hasAccount = false;
      return "online";
    case "proxy_pay_limit": // acting: over the grant's yearly limit, or not granted at all
    case "pay_not_authorized":
      state.proxyPayProblem = error.message;
      return "online";
    case "subsidy_difference":
    case "not_subsidized":
      return state.hasAccount === false ? "online" : "personal_account";
    default:
      return method === "subsidy" ? "personal_account" : null;
  }
}

/** Put the radios back to what the sheet on screen says (after a preview that failed). */
function showQuoteChoices(quote) {
  state.tier = quote.lines[0]?.tier || state.tier;
  for (const input of tierOptions.querySelectorAll("input")) input.checked = input.value === state.tier;
  syncMethods(quote);
}

function learnFrom(quote) {
  if (quote.payment_method === "personal_account") state.hasAccount = true;
}

/** Preview `method` (or the next one that fits), then show the sheet. Returns the quote or null. */
async function refresh(method, { first = false } = {}) {
  const seq = ++previewSeq;
  state.loading = true;
  syncPayBar();
  if (!first) sheetBody.setAttribute("aria-busy", "true");
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
        redirectToLogin(ENROLL_PATH);
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
    } else if (first) {
      showError(stateBox, failure, load)?.focus();
    } else {
      showFormAlert(alertBox, errorMessage(failure));
      if (state.quote) showQuoteChoices(state.quote);
      syncPayBar();
    }
    return null;
  }
  learnFrom(quote);
  state.quote = quote;
  state.method = quote.payment_method;
  syncMethods(quote);
  renderSheet(quote);
  syncSms(quote);
  syncPayBar();
  return quote;
}

// ---------------------------------------------------------------- refusals

function blockedView(error) {
  const code = error.code;
  const pending = code === "pending_order" ? pendingOrder() : null;
  const links = [];
  let title = "暂时不能参保";
  if (code === "already_insured") {
    title = "已参保";
    links.push(h("a", { class: "btn btn--primary btn--block", href: POLICIES_PATH }, "查看我的保单"));
  } else if (code === "pending_order") {
    title = "有一笔订单等待支付";
    const payUrl = safePayUrl(pending?.pay_url);
    if (pending && payUrl) {
      links.push(h("a", { class: "btn btn--primary btn--block", href: payUrl, "data-continue-pay": true },
        `继续支付${pending.payable_fen != null ? ` ${formatFen(pending.payable_fen)}` : ""}`));
      const cancel = h("button", { type: "button", class: "btn btn--block btn--quiet" }, "取消该订单，重新选择");
      cancel.addEventListener("click", () => cancelPending(pending.order_no, cancel));
      links.push(cancel);
    } else {
      links.push(h("p", { class: "blocked__text" }, "请回到支付页面完成支付；未支付的订单30分钟后自动关闭，关闭后即可重新参保。"));
    }
  } else if (code === "identity_required") {
    title = "请先完成实名认证";
    links.push(h("a", {
      class: "btn btn--primary btn--block",
      href: `${BIND_PATH}?next=${encodeURIComponent(ENROLL_PATH)}`,
    }, "去实名认证"));
  } else if (code === "consent_required" || code === "consent_withdrawn") {
    title = "需要您的授权";
    links.push(h("a", { class: "btn btn--primary btn--block", href: ME_PATH }, "去“我的”查看授权"));
  } else if (code === "window_closed") {
    title = "当前不在投保时间内";
  } else if (code === "not_authorized") {
    title = acting ? `不能为${acting.name}代办参保` : "不能代办";
    links.push(h("a", { class: "btn btn--primary btn--block", href: PROXY_PATH }, "查看代办授权"));
    if (acting) {
      const end = h("button", { type: "button", class: "btn btn--block" }, "结束代办，为自己办理");
      end.addEventListener("click", () => {
        stopActing();
        window.location.replace(ENROLL_PATH);
      });
      links.push(end);
    }
  }
  links.push(h("a", { class: "btn btn--block btn--quiet", href: "/" }, "返回首页"));
  const tone = code === "already_insured" ? " callout--ok" : "";
  return h("div", { class: `callout callout--blocked${tone}`, "data-refusal": code },
    h("h2", { class: "callout__title blocked__title", id: "blocked-title" },
      h("span", { class: "callout__icon", "aria-hidden": "true" }, code === "already_insured" ? "✓" : "!"),
      title),
    h("p", { class: "blocked__reason", "data-reason": true }, error.message),
    h("div", { class: "blocked__actions" }, links));
}

function showBlocked(error) {
  clearState(stateBox);
  form.hidden = true;
  lead.hidden = true;
  replaceChildren(blockedBox, blockedView(error));
  blockedBox.hidden = false;
  blockedBox.focus();
}

async function cancelPending(orderNo, button) {
  setBusy(button, true, "正在取消…");
  try {
    await api.post(`/enrollments/${encodeURIComponent(orderNo)}/cancel`);
  } catch (error) {
    setBusy(button, false);
    if (isLoggedOut(error)) {
      redirectToLogin(ENROLL_PATH);
      return;
    }
    // Paid after all, or gone: either way the page below says what is true now.
    if (!(error instanceof ApiError) || error.status === 0) {
      button.after(h("p", { class: "field__error", role: "alert" }, errorMessage(error)));
      return;
    }
  }
  forgetPendingOrder(orderNo);
  window.location.replace(ENROLL_PATH);
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
    smsSend.textContent = waitLabel(left);
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
      redirectToLogin(ENROLL_PATH);
      return;
    }
    setFieldError(smsInput, errorMessage(error));
    if (error instanceof ApiError && error.status === 429 && error.retryAfter) {
      startCountdown(error.retryAfter);
    }
    return;
  }
  setBusy(smsSend, false);
  showStatus(smsStatus, `验证码已发送至 ${sent.phone}，5分钟内有效。`);
  startCountdown(Number(sent.resend_after_seconds) || 60);
  smsInput.focus();
}

// ---------------------------------------------------------------- paying

function showSubmitError(message, { focus = null } = {}) {
  showFormAlert(alertBox, message);
  (focus || submitButton).focus?.();
}

async function handleEnrollError(error) {
  if (isLoggedOut(error)) {
    redirectToLogin(ENROLL_PATH);
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
      // The balance on the sheet is out of date: read it again, then offer online payment.
      await refresh(state.method);
      switchButton.hidden = false;
      switchButton.textContent = `改用在线支付 ${formatFen(state.quote?.payable_fen ?? 0)}`;
      showFormAlert(alertBox, error.message);
      switchButton.focus();
      return;
    case "amount_not_confirmed":
    case "fully_subsidized":
    case "subsidy_difference":
    case "not_subsidized":
    case "no_personal_account":
    case "proxy_pay_limit":
    case "pay_not_authorized":
      await refresh(fallbackMethod(error, state.method) || state.method);
      showSubmitError(error.message);
      return;
    case "terms_not_agreed":
      await reloadTerms();
      agree.checked = false;
      setFieldError(agree, "保险条款已更新，请重新阅读并勾选同意");
      showSubmitError(error.message, { focus: agree.disabled ? null : agree });
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
      const smsProblem = error instanceof ApiError ? error.fieldMessage("confirmations.sms_code") : "";
      if (smsProblem) {
        smsField.hidden = false;
        setFieldError(smsInput, smsProblem);
        smsInput.focus();
        return;
      }
      const parts = [errorMessage(error).replace(/。$/, "")];
      if (outcomeUnknown(error)) parts.push("请再次点击确认，同一笔订单不会重复扣款");
      if (error instanceof ApiError && error.requestId) parts.push(`请求编号：${error.requestId}`);
      showSubmitError(`${parts.join("。")}。`);
    }
  }
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

async function pay(method) {
  const quote = state.quote;
  if (!quote || state.loading || state.submitting) return;
  clearFormAlert(alertBox);
  if (!checkAgreement()) {
    if (agree.disabled) {
      termsEnd.scrollIntoView({ block: "center" }); // the end of the terms, now in front of them
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
  setBusy(button, true, method === "online" ? "正在创建订单…" : method === "subsidy" ? "正在提交…" : "正在支付…");
  let order;
  try {
    order = await api.post("/enrollments", body, { idempotencyKey: key, timeoutMs: 30000 });
  } catch (error) {
    intent.settle(error);
    state.submitting = false;
    setBusy(button, false);
    syncPayBar();
    await handleEnrollError(error);
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
  if (agree.checked) {
    // Already agreed: pay online now; the gateway's own page asks once more before any money moves.
    await pay("online");
    return;
  }
  const quote = await refresh("online");
  if (quote) {
    showStatus(statusBox, "已改为在线支付。请阅读条款并勾选同意后，点击确认支付。");
    if (!agree.disabled) agree.focus();
  }
}

// ---------------------------------------------------------------- start

function onChoice(event) {
  const input = event.target;
  if (!(input instanceof HTMLInputElement) || input.type !== "radio") return;
  clearFormAlert(alertBox);
  statusBox.replaceChildren();
  if (input.name === "tier") {
    state.tier = input.value;
    if (acting && state.proxyPayProblem && actingAllows(PAYS_FROM_PRINCIPAL)) {
      state.proxyPayProblem = null; // another premium may fit in what is left of the limit
      refresh("personal_account");
      return;
    }
    refresh(state.method || "personal_account");
  } else if (input.name === "method") {
    refresh(input.value);
  }
}

async function load() {
  form.hidden = true;
  blockedBox.hidden = true;
  showLoading(stateBox);
  let data;
  try {
    data = await api.get("/products");
  } catch (error) {
    showError(stateBox, error, load)?.focus();
    return;
  }
  const items = Array.isArray(data?.items) ? data.items : [];
  const wanted = Number(new URLSearchParams(window.location.search).get("product"));
  const product = items.find((item) => item.id === wanted) || items.find((item) => item.enrollment?.is_open) || items[0];
  if (!product) {
    showBlocked(new ApiError({ status: 404, code: "window_closed", message: "当前没有开放投保的产品。每年投保时间开始后，可在首页参保。" }));
    return;
  }
  state.product = product;
  renderTiers(product);
  renderMethods();
  renderTerms(product);
  if (acting) lead.textContent = `您正在为${acting.name}参保：核对下方信息，勾选同意后点击确认即可。`;
  // Acting without leave to pay from the principal's account: online from the start.
  const firstMethod = acting && !actingAllows(PAYS_FROM_PRINCIPAL) ? "online" : "personal_account";
  if (firstMethod === "online" && acting) state.proxyPayProblem = `${acting.name}未授权您使用其医保个人账户缴费`;
  const quote = await refresh(firstMethod, { first: true });
  if (!quote) return;
  clearState(stateBox);
  form.hidden = false;
  watchTermsEnd();
}

initPage();
rememberModeOnAccount();
tierOptions.addEventListener("change", onChoice);
methodOptions.addEventListener("change", onChoice);
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
