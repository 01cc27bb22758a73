// 确认并支付, shared by 确认参保 (enroll.js: oneself, or the person this tab acts for) and 为家人投保
// (family-enroll.js: oneself and family members in one order). Everything after "who is insured":
// the payment method, the confirm sheet (POST /enrollments/preview, falling back to the method
// that fits), the terms and the one agreement, the SMS code for a personal-account debit, 确认支付
// (POST /enrollments with an Idempotency-Key) and what each refusal or failure shows, the refusal
// that replaces the form, and 取消 for an unpaid order.
//
// A page calls createCheckout(page) once, with what differs (see the typedef below), and gets the
// pieces it drives: refresh() after its own choices change, renderMethods(), renderTerms(), open().
//
// Element ids: the page's own are `${prefix}-state | -blocked | -form | -lead | -status | -alert |
// -submit`; the rest (method-options, sheet-body, terms-*, sms-*, agree, pay-total, switch-online)
// are the same on both pages.

import { api, ApiError, errorMessage } from "./api.js";
import { choice, h, paragraphs, replaceChildren } from "./dom.js";
import { formatFen } from "./format.js";
import {
  clearFieldError, clearFormAlert, halfWidth, setBusy, setFieldError, showFormAlert, showStatus,
} from "./forms.js";
import {
  balanceNames, forgetPendingOrder, METHOD_LABELS, rememberPendingOrder, safePayUrl,
} from "./insurance.js";
import { Intent, outcomeUnknown } from "./intent.js";
import { clearState } from "./page.js";
import { resendCountdown } from "./resend.js";
import { BIND_PATH, isLoggedOut, ME_PATH, redirectToLogin } from "./session.js";

const SMS_PATTERN = /^\d{6}$/;
export const NO_ACCOUNT_NOTE = "城乡居民医保参保人员没有医保个人账户，请在线支付。";

/** The balances a personal account pays from, in words ("历年账户" when the API names none). */
export function balancesText(codes) {
  return balanceNames(codes) || "历年账户";
}

// The radio choice card lives in dom.js; enroll.js takes it from here.
export { choice };

/** One term and value of the confirm sheet. */
export function row(term, value, attrs = {}) {
  return h("div", { class: "sheet-row", ...attrs },
    h("dt", { class: "sheet-row__term" }, term),
    h("dd", { class: "sheet-row__value" }, value));
}

function methodText(quote) {
  if (quote.payment_method === "personal_account") {
    return `医保个人账户（${balancesText(quote.account?.balances)}）`;
  }
  return METHOD_LABELS[quote.payment_method] || quote.payment_method;
}

/**
 * @typedef {object} CheckoutPage
 * @property {string} prefix  the page's own element ids start with it ("enroll", "fe")
 * @property {string} path  this page, for 登录 / 实名认证 and back
 * @property {string} intent  the Intent's name (one Idempotency-Key per intent)
 * @property {object} [apiOptions]  added to the preview and enroll requests ({actingFor: null})
 * @property {Set<string>} blocking  refusal codes that replace the form
 * @property {string} blockedTitle  the heading of a refusal the page has no words of its own for
 * @property {(error: ApiError) => ({title, links?, ok?} | null)} [blockedView]  the page's refusals
 * @property {(method: string, confirmations: object) => object} requestBody
 * @property {(quote: object) => {lines, totalLabel: string, shortfallNotes: string[], hint: string}} sheetParts
 * @property {(quote: object | null) => string[]} [methodNotes]  notes under the methods, after ours
 * @property {(error: ApiError, method: string) => (string | null)} [fallback]  other codes' next method
 * @property {(failure: unknown, options: {first: boolean}) => void} previewFailed
 * @property {() => boolean} [hasChoice]  false: nobody chosen yet, no preview (with renderEmpty)
 * @property {() => void} [renderEmpty]
 * @property {(error: unknown) => Promise<boolean>} [onPayError]  true: handled (before the generic text)
 * @property {(orderNo: string) => string} resultPath
 * @property {boolean} [payOnlineAtOnce]  改用在线支付 pays at once when the terms are already agreed
 */

/** @param {CheckoutPage} page */
export function createCheckout(page) {
  const byId = (id) => document.getElementById(id);
  const els = {
    state: byId(`${page.prefix}-state`),
    blocked: byId(`${page.prefix}-blocked`),
    form: byId(`${page.prefix}-form`),
    lead: byId(`${page.prefix}-lead`),
    status: byId(`${page.prefix}-status`),
    alert: byId(`${page.prefix}-alert`),
    submit: byId(`${page.prefix}-submit`),
    methodOptions: byId("method-options"),
    methodNote: byId("method-note"),
    sheetBody: byId("sheet-body"),
    noticeText: byId("notice-text"),
    termsIntro: byId("terms-intro"),
    termsBody: byId("terms-body"),
    termsEnd: byId("terms-end"),
    smsField: byId("sms-field"),
    smsInput: byId("sms-code"),
    smsSend: byId("sms-send"),
    smsStatus: byId("sms-status"),
    agree: byId("agree"),
    agreeHint: byId("agree-hint"),
    payTotal: byId("pay-total"),
    switchButton: byId("switch-online"),
  };
  const { sheetBody, methodOptions, smsField, smsInput, smsSend, agree, submit, switchButton } = els;
  const apiOptions = page.apiOptions || {};
  const intent = new Intent(page.intent);

  const state = {
    product: null,
    method: null, // the method asked for, then the method of the quote on screen
    quote: null,
    refusal: null, // a preview's refusal shown in place of the sheet (no quote)
    hasAccount: null, // learnt from previews: null = not yet known
    accountProblem: null, // why the personal account cannot pay (acting: over the limit, …)
    loading: false,
    submitting: false,
    termsSeen: false,
  };

  let previewSeq = 0;
  let endCountdown = null;

  function clearMessages() {
    clearFormAlert(els.alert);
    els.status.replaceChildren();
  }

  // -------------------------------------------------------------- payment methods

  function renderMethods(accountMeta) {
    replaceChildren(methodOptions,
      choice({ name: "method", value: "personal_account", title: METHOD_LABELS.personal_account,
        meta: accountMeta }),
      choice({ name: "method", value: "online", title: "在线支付",
        meta: "微信支付，点击确认后进入支付页面" }),
      choice({ name: "method", value: "subsidy", title: METHOD_LABELS.subsidy,
        meta: "困难群众由政府资助参保，无需本人支付" }));
  }

  /** Show only the methods that can pay the quote on screen, and tick the chosen one. */
  function syncMethods() {
    const quote = state.quote;
    const payable = quote ? quote.payable_fen : null;
    const shown = {
      personal_account: payable !== 0 && state.hasAccount !== false && !state.accountProblem,
      online: payable !== 0,
      subsidy: payable === 0,
    };
    for (const box of methodOptions.querySelectorAll("[data-choice]")) {
      const value = box.dataset.choice;
      box.hidden = !shown[value];
      box.querySelector("input").checked = value === state.method;
    }
    const account = quote?.account;
    if (account) {
      methodOptions.querySelector("[data-choice=personal_account] [data-choice-meta]").textContent =
        `${balancesText(account.balances)}余额 ${formatFen(account.balance_before_fen)}`
        + (account.shortfall_fen > 0 ? "（不足）" : "");
    }
    const notes = [];
    if (payable !== 0 && state.accountProblem) {
      notes.push(`${state.accountProblem.replace(/[。，]$/, "")}，请在线支付。`);
    }
    if (payable !== 0 && state.hasAccount === false) notes.push(NO_ACCOUNT_NOTE);
    notes.push(...(page.methodNotes?.(quote) || []));
    els.methodNote.textContent = notes.join("");
    els.methodNote.hidden = notes.length === 0;
  }

  // -------------------------------------------------------------- the confirm sheet

  function renderAccount(quote, shortfallNotes) {
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
          shortfallNotes.map((text) => h("p", { class: "callout__text" }, text)))
        : null);
  }

  function renderSheet(quote) {
    const parts = page.sheetParts(quote);
    const short = quote.account?.shortfall_fen > 0;
    replaceChildren(sheetBody,
      h("p", { class: "sheet__product" }, quote.product_name),
      parts.lines,
      h("div", { class: "sheet-total", "data-total": true },
        h("p", { class: "sheet-total__label" }, parts.totalLabel),
        h("p", { class: "sheet-total__amount" }, formatFen(quote.payable_fen))),
      h("dl", { class: "sheet-rows" }, row("支付方式", methodText(quote), { "data-row": "method" })),
      renderAccount(quote, parts.shortfallNotes),
      short ? null : h("p", { class: "sheet__hint" }, parts.hint));
  }

  function syncPayBar() {
    const quote = state.refusal ? null : state.quote;
    const short = Boolean(quote?.account && quote.account.shortfall_fen > 0);
    submit.hidden = short;
    switchButton.hidden = !short;
    if (!state.submitting) {
      if (!quote) submit.textContent = "确认支付";
      else if (quote.payable_fen === 0) submit.textContent = "确认参保（无需支付）";
      else submit.textContent = `确认支付 ${formatFen(quote.payable_fen)}`;
    }
    if (quote) switchButton.textContent = `改用在线支付 ${formatFen(quote.payable_fen)}`;
    els.payTotal.textContent = short ? `个人账户余额不足，还差${formatFen(quote.account.shortfall_fen)}` : "";
    els.payTotal.hidden = !short;
    submit.disabled = !quote || state.loading || state.submitting;
    switchButton.disabled = state.loading || state.submitting;
  }

  /** The code field, only for a personal-account debit the account can pay. */
  function syncSms(quote) {
    const needed = Boolean(quote?.needs_sms_code && quote.payment_method === "personal_account"
      && !(quote.account?.shortfall_fen > 0));
    smsField.hidden = !needed;
    if (!needed) clearFieldError(smsInput);
  }

  // -------------------------------------------------------------- terms

  function renderTerms(product) {
    const terms = product.terms || {};
    els.noticeText.textContent = terms.notice || "本产品为商业保险，不是基本医疗保险。";
    els.termsIntro.textContent = `支付前请阅读以下内容（条款版本 ${terms.version || "—"}）。`;
    const parts = [
      ["coverage", "保障责任", terms.coverage],
      ["claim_scope", "理赔范围", terms.claim_scope],
      ["exclusions", "责任免除", terms.exclusions],
    ].filter(([, , text]) => text);
    // Open from the start (each part can be folded away once read).
    replaceChildren(els.termsBody, parts.map(([key, title, text]) => h("details",
      { class: "disclosure", "data-terms": key, open: true },
      h("summary", { class: "disclosure__summary" }, title),
      h("div", { class: "disclosure__body" }, paragraphs(text)))));
  }

  function markTermsSeen() {
    if (state.termsSeen) return;
    state.termsSeen = true;
    agree.disabled = false;
    els.agreeHint.textContent = "勾选即表示您已阅读上方条款，并知晓本产品不是基本医疗保险。";
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
    observer.observe(els.termsEnd);
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

  /** The page has loaded: show the form, and let the agreement box wait for the end of the terms. */
  function open() {
    clearState(els.state);
    els.form.hidden = false;
    watchTermsEnd();
  }

  // -------------------------------------------------------------- previews

  /** The next method to try after a preview refused this one, or null. Learns what it can. */
  function fallbackMethod(error, method) {
    if (!(error instanceof ApiError) || page.blocking.has(error.code)) return null;
    switch (error.code) {
      case "fully_subsidized":
        return "subsidy";
      case "no_personal_account":
        state.hasAccount = false;
        return "online";
      case "identity_unverified": // a binding not yet verified pays online only
        state.hasAccount = false;
        return "online";
      case "subsidy_difference": // only ever the answer to 政府资助
      case "not_subsidized":
        return state.hasAccount === false ? "online" : "personal_account";
      default:
        return page.fallback ? page.fallback(error, method) : null;
    }
  }

  function showQuote(quote) {
    if (quote.payment_method === "personal_account") state.hasAccount = true;
    state.quote = quote;
    state.refusal = null;
    state.method = quote.payment_method;
    syncMethods();
    renderSheet(quote);
    syncSms(quote);
    syncPayBar();
  }

  /** Preview `method` (or the next one that fits), then show the sheet. Returns the quote or null. */
  async function refresh(method = state.method, { first = false } = {}) {
    const seq = ++previewSeq; // an answer to an older choice is dropped
    if (page.hasChoice && !page.hasChoice()) {
      Object.assign(state, { quote: null, refusal: null, loading: false, method });
      sheetBody.removeAttribute("aria-busy");
      page.renderEmpty();
      syncMethods();
      syncSms(null);
      syncPayBar();
      return null;
    }
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
        quote = await api.post("/enrollments/preview", page.requestBody(current, {}), apiOptions);
      } catch (error) {
        if (seq !== previewSeq) return null;
        if (isLoggedOut(error)) {
          redirectToLogin(page.path);
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
      if (failure instanceof ApiError && page.blocking.has(failure.code)) showBlocked(failure);
      else page.previewFailed(failure, { first });
      return null;
    }
    showQuote(quote);
    return quote;
  }

  /** The person picked a payment method (a radio, or a button offering one). */
  function chooseMethod(method) {
    clearMessages();
    state.method = method;
    return refresh(method);
  }

  // -------------------------------------------------------------- refusals

  /** Title and way forward for the refusals both pages share; null for the others. */
  function sharedBlockedView(code) {
    if (code === "identity_required") {
      return {
        title: "请先完成实名认证",
        links: [h("a", {
          class: "btn btn--primary btn--block",
          href: `${BIND_PATH}?next=${encodeURIComponent(page.path)}`,
        }, "去实名认证")],
      };
    }
    if (code === "consent_required" || code === "consent_withdrawn") {
      return {
        title: "需要您的授权",
        links: [h("a", { class: "btn btn--primary btn--block", href: ME_PATH }, "去“我的”查看授权")],
      };
    }
    if (code === "window_closed") return { title: "当前不在投保时间内" };
    return null;
  }

  /** Replace the form with the refusal, its reason in the server's words, and the way forward. */
  function showBlocked(error) {
    const code = error.code;
    const view = page.blockedView?.(error) || sharedBlockedView(code) || { title: page.blockedTitle };
    const links = [...(view.links || []),
      h("a", { class: "btn btn--block btn--quiet", href: "/" }, "返回首页")];
    clearState(els.state);
    els.form.hidden = true;
    els.lead.hidden = true;
    replaceChildren(els.blocked,
      h("div", { class: `callout callout--blocked${view.ok ? " callout--ok" : ""}`, "data-refusal": code },
        h("h2", { class: "callout__title blocked__title", id: "blocked-title" },
          h("span", { class: "callout__icon", "aria-hidden": "true" }, view.ok ? "✓" : "!"),
          view.title),
        h("p", { class: "blocked__reason", "data-reason": true }, error.message),
        h("div", { class: "blocked__actions" }, links)));
    els.blocked.hidden = false;
    els.blocked.focus();
  }

  /** 取消 an unpaid order, then load the page again (it then shows what is true now). */
  async function cancelOrder(orderNo, button) {
    setBusy(button, true, "正在取消…");
    try {
      await api.post(`/enrollments/${encodeURIComponent(orderNo)}/cancel`);
    } catch (error) {
      setBusy(button, false);
      if (isLoggedOut(error)) {
        redirectToLogin(page.path);
        return;
      }
      // 409: paid after all (已出单) or its debit still on its way; 503: the payment side cannot
      // say yet. The answer says so in words. Otherwise (gone) the page below says what is true.
      if (!(error instanceof ApiError) || [0, 409, 503].includes(error.status)) {
        button.after(h("p", { class: "field__error", role: "alert" }, errorMessage(error)));
        return;
      }
    }
    forgetPendingOrder(orderNo);
    window.location.replace(page.path);
  }

  // -------------------------------------------------------------- SMS code for a debit

  function startCountdown(seconds) {
    endCountdown?.();
    endCountdown = resendCountdown(smsSend, seconds);
  }

  async function sendPaymentCode() {
    clearFieldError(smsInput);
    setBusy(smsSend, true, "发送中…");
    let sent;
    try {
      // The code confirms this very debit: it goes to the phone the registry holds for the
      // account's owner and names the amount and the insured.
      sent = await api.post("/me/payment-code",
        page.requestBody("personal_account", { debit_amount_fen: state.quote?.payable_fen }), apiOptions);
    } catch (error) {
      setBusy(smsSend, false);
      if (isLoggedOut(error)) {
        redirectToLogin(page.path);
        return;
      }
      setFieldError(smsInput, errorMessage(error));
      if (error instanceof ApiError && error.status === 429 && error.retryAfter) {
        startCountdown(error.retryAfter);
      }
      return;
    }
    setBusy(smsSend, false);
    showStatus(els.smsStatus, `验证码已发送至 ${sent.phone}（账户本人在医保登记的手机），5分钟内有效。`);
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

  // -------------------------------------------------------------- paying

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

  function showSubmitError(message, { focus = null } = {}) {
    showFormAlert(els.alert, message);
    (focus || submit).focus?.();
  }

  function showSmsProblem(message) {
    smsField.hidden = false;
    setFieldError(smsInput, message);
    smsInput.focus();
  }

  async function handlePayError(error) {
    if (isLoggedOut(error)) {
      redirectToLogin(page.path);
      return;
    }
    const code = error instanceof ApiError ? error.code : "";
    if (page.blocking.has(code)) {
      showBlocked(error);
      return;
    }
    switch (code) {
      case "insufficient_balance":
      case "debit_failed":
        // The balance on the sheet is out of date: read it again, then offer online payment.
        await refresh(state.method);
        switchButton.hidden = false;
        switchButton.disabled = false;
        if (state.quote) switchButton.textContent = `改用在线支付 ${formatFen(state.quote.payable_fen)}`;
        showFormAlert(els.alert, error.message);
        switchButton.focus();
        return;
      case "amount_not_confirmed":
      case "fully_subsidized":
      case "subsidy_difference":
      case "not_subsidized":
      case "no_personal_account":
      case "identity_unverified":
      case "proxy_pay_limit":
      case "pay_not_authorized":
        // The amount or the method no longer fits: a new sheet, with the method that does.
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
        showSmsProblem(error.message);
        return;
      case "wrong_code":
        showSmsProblem(error.message);
        smsInput.select?.();
        return;
      default: {
        const smsProblem = error instanceof ApiError ? error.fieldMessage("confirmations.sms_code") : "";
        if (smsProblem) {
          showSmsProblem(smsProblem);
          return;
        }
        if (page.onPayError && (await page.onPayError(error))) return;
        const parts = [errorMessage(error).replace(/。$/, "")];
        if (outcomeUnknown(error)) parts.push("请再次点击确认，同一笔订单不会重复扣款");
        if (error instanceof ApiError && error.requestId) parts.push(`请求编号：${error.requestId}`);
        showSubmitError(`${parts.join("。")}。`);
      }
    }
  }

  function busyText(method) {
    if (method === "online") return "正在创建订单…";
    return method === "subsidy" ? "正在提交…" : "正在支付…";
  }

  async function pay(method) {
    const quote = state.quote;
    if (!quote || state.refusal || state.loading || state.submitting) return;
    clearFormAlert(els.alert);
    if (!checkAgreement()) {
      if (agree.disabled) {
        els.termsEnd.scrollIntoView({ block: "center" }); // the end of the terms, now in front of them
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
    const body = page.requestBody(method, confirmations);
    const key = intent.keyFor(body);
    const button = method === quote.payment_method ? submit : switchButton;
    state.submitting = true;
    syncPayBar();
    setBusy(button, true, busyText(method));
    let order;
    try {
      order = await api.post("/enrollments", body, { ...apiOptions, idempotencyKey: key, timeoutMs: 30000 });
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
    window.location.assign(page.resultPath(order.order_no));
  }

  async function switchToOnline() {
    if (state.submitting) return;
    clearFormAlert(els.alert);
    if (page.payOnlineAtOnce && agree.checked) {
      // Already agreed: pay online now; the gateway's own page asks once more before any money moves.
      await pay("online");
      return;
    }
    const quote = await chooseMethod("online");
    if (quote) {
      showStatus(els.status, "已改为在线支付。请阅读条款并勾选同意后，点击确认支付。");
      if (agree.checked) submit.focus();
      else if (!agree.disabled) agree.focus();
    }
  }

  // -------------------------------------------------------------- wiring

  methodOptions.addEventListener("change", (event) => {
    const input = event.target;
    if (input instanceof HTMLInputElement && input.name === "method") chooseMethod(input.value);
  });
  els.form.addEventListener("submit", (event) => {
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

  return {
    els, state, renderMethods, syncMethods, syncSms, syncPayBar, renderTerms, open, refresh,
    chooseMethod, clearMessages, showBlocked, cancelOrder,
  };
}
