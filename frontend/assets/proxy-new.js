// 申请为家人代办: the agent picks the family member from the registry's list (family-picks.js: no
// name or ID number typed) or names them (name + ID number), ticks what to do for them,
// the pay limit, the period and how the family member confirms (POST /proxy/grants); then the
// confirm step on this same page (?grant=<id>):
//   - 扫码: the QR code (GET /proxy/grants/{id}/qr.png, a token valid 10 minutes, fetched again
//     before it lapses — no countdown on screen) for the family member's own logged-in phone;
//   - 短信: a code to the family member's registered phone (POST …/sms), which they read out and the
//     agent types (POST …/confirm {code});
//   - 窗口: what to bring to a counter.
// Meanwhile GET /proxy/grants/{id} is polled until the grant is active (or ended).

import { startActing } from "./acting.js";
import { api, ApiError, errorMessage } from "./api.js";
import { choice, h, replaceChildren } from "./dom.js";
import { offerElderlyMode } from "./elderly-offer.js";
import { parseYuan } from "./format.js";
import {
  clearFieldError, clearFormAlert, fillErrorBox, halfWidth, setBusy, setFieldError, showApiError, showFormAlert, showStatus,
} from "./forms.js";
import {
  inTimeForFirstPaint, loadRegistryRelatives, registryNote, renderPrincipalChoices,
} from "./family-picks.js";
import { checkIdNumberInput } from "./idnumber.js";
import { clearState, initPage, loadMe, showBindFirst, showError } from "./page.js";
import {
  confirmFirst, day, grantFacts, grantPill, PERIODS, PROXY_NEW_PATH, PROXY_PATH, SCOPES, taskLinks,
} from "./proxy-common.js";
import { resendCountdown } from "./resend.js";
import { isLoggedOut, redirectToLogin } from "./session.js";

const PAY_SCOPE = "pay_from_principal_account";
const DEFAULT_PERIOD = 365;
const POLL_MS = 3000;
const QR_REFRESH_MS = 8 * 60 * 1000; // the token lives 10 minutes: a fresh code well before that
const MAX_LIMIT_YUAN = 10000;

const METHODS = [
  { code: "qr", title: "扫码确认", meta: "家人用自己的手机登录后，扫描您手机上的二维码并点“同意授权”" },
  { code: "sms", title: "短信验证码", meta: "验证码发到家人登记的手机号，家人把验证码告诉您" },
  { code: "counter", title: "到窗口现场确认", meta: "家人没有手机时：双方带身份证到医保经办窗口，工作人员核验后生效" },
];

const stateBox = document.getElementById("new-state");
const form = document.getElementById("grant-form");
const title = document.getElementById("new-title");
const lead = document.getElementById("new-lead");
const nameInput = document.getElementById("principal-name");
const idInput = document.getElementById("principal-id");
const scopesBox = document.getElementById("scopes");
const scopeOptions = document.getElementById("scope-options");
const limitField = document.getElementById("pay-limit-field");
const limitInput = document.getElementById("pay-limit");
const periodBox = document.getElementById("period");
const periodOptions = document.getElementById("period-options");
const methodBox = document.getElementById("method");
const methodOptions = document.getElementById("method-options");
const alertBox = document.getElementById("grant-alert");
const submitButton = document.getElementById("grant-submit");
const step = document.getElementById("confirm-step");
const principalField = document.getElementById("principal-field");
const typedBox = document.getElementById("principal-typed");

// The relative picked from the registry's list, or null: the typed name and ID number.
let chosenPrincipal = () => null;

let pollTimer = null;
let qrTimer = null;
let endResend = null; // ends the SMS code resend wait (resend.js)

// ---------------------------------------------------------------- the form

function checkbox({ name, value, titleText, hint }) {
  const id = `${name}-${value}`;
  return h("div", { class: "check check--card", "data-scope": value },
    h("input", { type: "checkbox", id, class: "check__input", name, value, "aria-describedby": `${id}-hint` }),
    h("label", { class: "check__label", for: id },
      h("span", { class: "check__title" }, titleText),
      h("span", { class: "check__hint", id: `${id}-hint` }, hint)));
}

function radio({ name, value, titleText, meta, checked }) {
  return choice({ name, value, title: titleText, meta: meta || null, checked });
}

function renderForm() {
  replaceChildren(scopeOptions, SCOPES.map((scope) => checkbox({
    name: "scope", value: scope.code, titleText: scope.title, hint: scope.hint,
  })));
  replaceChildren(periodOptions, PERIODS.map((period) => radio({
    name: "period", value: String(period.days), titleText: period.label,
    checked: period.days === DEFAULT_PERIOD,
  })));
  replaceChildren(methodOptions, METHODS.map((method, index) => radio({
    name: "method", value: method.code, titleText: method.title, meta: method.meta, checked: index === 0,
  })));
  scopeOptions.addEventListener("change", (event) => {
    if (event.target.value === PAY_SCOPE) {
      limitField.hidden = !event.target.checked;
      if (!event.target.checked) clearFieldError(limitInput);
    }
    if (checkedScopes().length) setGroupError(scopesBox, "");
  });
}

/** An error for a whole group of boxes (a fieldset): under it, named by the fieldset. */
function setGroupError(fieldset, message) {
  const box = document.getElementById(`${fieldset.id}-error`);
  if (!message) {
    box.hidden = true;
    box.replaceChildren();
    fieldset.classList.remove("is-invalid");
    fieldset.setAttribute("aria-describedby",
      (fieldset.getAttribute("aria-describedby") || "").replace(box.id, "").trim() || "");
    if (!fieldset.getAttribute("aria-describedby")) fieldset.removeAttribute("aria-describedby");
    return;
  }
  fillErrorBox(box, message);
  fieldset.classList.add("is-invalid");
  const ids = (fieldset.getAttribute("aria-describedby") || "").split(/\s+/).filter(Boolean);
  if (!ids.includes(box.id)) fieldset.setAttribute("aria-describedby", [box.id, ...ids].join(" "));
}

function checkedScopes() {
  return [...scopeOptions.querySelectorAll("input:checked")].map((input) => input.value);
}

function checkedValue(container) {
  return container.querySelector("input:checked")?.value || null;
}


/**
 * Offer the registry's relatives (when it answers and links any): picking one puts the typed
 * fields away, 其他人 brings them back. In time for the first paint (`inTime`), they show only if
 * there are any; later, they load into the place held for them from the first paint
 * (family-picks.js), where an outage's words or "none" also go, so the name field never moves.
 */
async function offerRelatives(pending, inTime) {
  const box = document.getElementById("principal-box");
  const reserve = box.querySelector(".registry-box__reserve");
  const options = document.getElementById("principal-options");
  reserve.hidden = inTime;
  principalField.hidden = inTime;
  const result = await pending;
  box.removeAttribute("aria-busy");
  if (result.error) {
    const note = registryNote(result.error);
    replaceChildren(inTime ? document.getElementById("principal-note") : options, note);
    return;
  }
  if (!result.items.length) {
    if (!inTime) {
      replaceChildren(options, h("p", { class: "registry-note", "data-registry-empty": true },
        "医保没有登记与您共济的家人，请在下方填写家人的姓名和身份证号码。"));
    }
    return;
  }
  chosenPrincipal = renderPrincipalChoices(options, result.items,
    (relative) => {
      typedBox.hidden = relative !== null;
      setGroupError(principalField, "");
      offerPayScope(relative);
    }, { reserve: inTime ? null : reserve });
  principalField.hidden = false;
}

/** Paying from the family member's 医保个人账户 is offered only when they have one (城乡居民 have
 * none): otherwise the box is off and its hint says why, in words. Typed family members are not
 * known until the server answers (its message then shows on the group). */
function offerPayScope(relative) {
  const input = scopeOptions.querySelector(`input[value=${PAY_SCOPE}]`);
  const card = input?.closest("[data-scope]");
  const hint = card?.querySelector(".check__hint");
  if (!input || !hint) return;
  hint.dataset.usual ??= hint.textContent;
  const without = relative !== null && relative.has_personal_account === false;
  input.disabled = without;
  card.toggleAttribute("data-unavailable", without);
  if (without) {
    input.checked = false;
    limitField.hidden = true;
    clearFieldError(limitInput);
    hint.textContent = `不可选：${relative.name}没有医保个人账户（城乡居民医保不设个人账户），不能从其个人账户缴费`;
  } else {
    hint.textContent = hint.dataset.usual;
  }
  setGroupError(scopesBox, "");
}

function readForm() {
  const picked = chosenPrincipal();
  const who = picked ? { principal_pick: picked.pick } : readTypedPrincipal();
  return readTerms(who, who.first ?? null);
}

function readTypedPrincipal() {
  let first = null;
  const name = nameInput.value.normalize("NFC").trim();
  if (!name) {
    setFieldError(nameInput, "请输入家人的姓名");
    first ??= nameInput;
  } else clearFieldError(nameInput);
  const idNumber = checkIdNumberInput(idInput);
  if (idNumber === null) first ??= idInput;
  return first ? { first } : { principal_name: name, principal_id_number: idNumber };
}

function readTerms(who, firstProblem) {
  let first = firstProblem;
  const scopes = checkedScopes();
  if (!scopes.length) {
    setGroupError(scopesBox, "请至少选择一项要代办的事");
    first ??= scopeOptions.querySelector("input");
  } else setGroupError(scopesBox, "");
  let payLimit = null;
  if (scopes.includes(PAY_SCOPE)) {
    const { fen, error } = parseYuan(limitInput.value, { positive: true });
    payLimit = error ? null : fen;
    if (payLimit === null || payLimit > MAX_LIMIT_YUAN * 100) {
      setFieldError(limitInput, limitInput.value.trim()
        ? `请输入大于0、不超过${MAX_LIMIT_YUAN}的金额（元）` : "请填写每年最多可缴费的金额");
      first ??= limitInput;
      payLimit = null;
    } else clearFieldError(limitInput);
  }
  if (first) return { first };
  return {
    body: {
      ...who,
      scopes,
      pay_limit_fen: payLimit,
      valid_days: Number(checkedValue(periodOptions) || DEFAULT_PERIOD),
      confirm_method: checkedValue(methodOptions) || "qr",
    },
  };
}

async function submit(event) {
  event.preventDefault();
  clearFormAlert(alertBox);
  setGroupError(methodBox, "");
  setGroupError(periodBox, "");
  const { first, body } = readForm();
  if (first) {
    first.focus();
    return;
  }
  setBusy(submitButton, true, "正在提交…");
  let grant;
  try {
    grant = await api.post("/proxy/grants", body);
  } catch (error) {
    setBusy(submitButton, false);
    handleSubmitError(error);
    return;
  }
  setBusy(submitButton, false);
  window.history.replaceState(null, "", `${PROXY_NEW_PATH}?grant=${encodeURIComponent(grant.id)}`);
  showStep(grant);
}

function handleSubmitError(error) {
  if (isLoggedOut(error)) {
    redirectToLogin();
    return;
  }
  const code = error instanceof ApiError ? error.code : "";
  if (code === "identity_mismatch" || code === "self_grant") {
    showFormAlert(alertBox, error.message); // neutral: names neither field
    submitButton.focus();
    return;
  }
  if (code === "no_phone") {
    // The family member has no phone on record: 短信 is no longer offered, only what can work.
    const sms = methodOptions.querySelector("input[value=sms]");
    sms?.closest("label, .choice, li")?.setAttribute("hidden", "");
    if (sms) sms.disabled = true;
    setGroupError(methodBox, error.message);
    const qr = methodOptions.querySelector("input[value=qr]");
    if (qr) qr.checked = true;
    qr?.focus();
    return;
  }
  if (code === "grant_exists") {
    replaceChildren(alertBox,
      h("div", { class: "form-alert" },
        h("span", { class: "form-alert__icon", "aria-hidden": "true" }, "!"),
        h("p", { class: "form-alert__text" }, error.message, " ",
          h("a", { href: PROXY_PATH, class: "form-alert__link" }, "查看已有的授权"))));
    return;
  }
  const groups = {
    principal_pick: principalField, scopes: scopesBox, valid_days: periodBox, confirm_method: methodBox,
  };
  let focus = null;
  if (error instanceof ApiError) {
    for (const [field, box] of Object.entries(groups)) {
      const message = error.fieldMessage(field);
      if (message) {
        setGroupError(box, message);
        focus ??= box.querySelector("input");
      }
    }
  }
  const field = showApiError(error, {
    principal_name: nameInput, principal_id_number: idInput, pay_limit_fen: limitInput,
  }, alertBox);
  if (focus && !field) clearFormAlert(alertBox);
  (field || focus || submitButton).focus();
}

// ---------------------------------------------------------------- the confirm step

function stopTimers() {
  clearInterval(pollTimer);
  clearInterval(qrTimer);
  endResend?.();
  pollTimer = qrTimer = endResend = null;
}

function stepHead(grant, heading, text) {
  return h("div", { class: "card proxy-step__head" },
    h("div", { class: "card__head" },
      h("h2", { class: "card__title", id: "step-title", tabindex: "-1" }, heading),
      grantPill(grant)),
    text ? h("p", { class: "card__lead" }, text) : null,
    grantFacts(grant));
}

function qrView(grant) {
  let version = 0;
  const img = h("img", {
    class: "proxy-qr", width: "240", height: "240", "data-qr": true,
    alt: `授权确认二维码：请${grant.principal_name}用自己的手机扫描`,
    src: `/api/v1/proxy/grants/${grant.id}/qr.png?v=${version}`,
  });
  const problem = h("p", { class: "field__error", hidden: true, role: "alert" });
  img.addEventListener("error", () => {
    problem.hidden = false;
    problem.textContent = "二维码加载失败，请检查网络后点“换一张二维码”。";
  });
  img.addEventListener("load", () => {
    problem.hidden = true;
  });
  const refresh = () => {
    version += 1;
    img.src = `/api/v1/proxy/grants/${grant.id}/qr.png?v=${version}`;
  };
  const again = h("button", { type: "button", class: "btn btn--block", "data-qr-refresh": true }, "换一张二维码");
  again.addEventListener("click", refresh);
  clearInterval(qrTimer);
  qrTimer = setInterval(refresh, QR_REFRESH_MS); // quietly, before the token lapses
  return h("section", { class: "card proxy-qr-card", "aria-labelledby": "qr-title" },
    h("h3", { class: "proxy-step__title", id: "qr-title" }, `请${grant.principal_name}扫码确认`),
    h("ol", { class: "proxy-steps" },
      h("li", {}, `${grant.principal_name}在自己的手机上打开惠民保参保服务并登录`),
      h("li", {}, "用手机扫描下面的二维码"),
      h("li", {}, `在${grant.principal_name}的手机上看清代办内容，点“同意授权”`)),
    h("div", { class: "proxy-qr-frame" }, img),
    problem,
    h("p", { class: "proxy-step__note" }, "二维码会自动更新，不用着急。确认后这里会自动显示结果。"),
    again);
}

function smsView(grant) {
  const codeInput = h("input", {
    id: "grant-code", name: "code", class: "field__input code-row__input", type: "text",
    inputmode: "numeric", autocomplete: "off", maxlength: "6", pattern: "[0-9]*", placeholder: "6位数字",
    "aria-describedby": "grant-code-hint",
  });
  const send = h("button", { type: "button", class: "btn code-row__button", "data-send-code": true }, "发送验证码");
  const confirm = h("button", { type: "submit", class: "btn btn--primary btn--block" }, "确认授权");
  const status = h("div", { class: "form-status-slot", role: "status" });
  const alert = h("div", { class: "form-alert-slot", role: "alert" });
  const sent = { any: false };

  const startWait = (seconds) => {
    endResend?.();
    endResend = resendCountdown(send, seconds, "重新发送");
  };

  send.addEventListener("click", async () => {
    clearFormAlert(alert);
    setBusy(send, true, "发送中…");
    let answer;
    try {
      answer = await api.post(`/proxy/grants/${grant.id}/sms`);
    } catch (error) {
      setBusy(send, false);
      if (isLoggedOut(error)) {
        redirectToLogin();
        return;
      }
      if (error instanceof ApiError && error.code === "no_phone") {
        markNoPhone(grant);
        const region = document.getElementById("confirm-method");
        renderMethod(grant, "qr", region);
        region.prepend(h("p", { class: "form-alert form-alert--info", role: "status" }, error.message));
        return;
      }
      showFormAlert(alert, errorMessage(error));
      if (error instanceof ApiError && error.status === 429 && error.retryAfter) startWait(error.retryAfter);
      return;
    }
    setBusy(send, false);
    sent.any = true;
    showStatus(status, `验证码已发送至 ${answer.sent_to}。请${grant.principal_name}把短信里的6位验证码告诉您。`);
    startWait(Number(answer.resend_after_seconds) || 60);
    codeInput.focus();
  });

  const formEl = h("form", { class: "card form proxy-sms", novalidate: true, "aria-labelledby": "sms-title" },
    h("h3", { class: "proxy-step__title", id: "sms-title" }, "短信验证码确认"),
    h("p", { class: "proxy-step__note" },
      `验证码会发到${grant.principal_name}在医保登记的手机号。请当面向${grant.principal_name}说明代办的内容，再请TA把验证码告诉您。`),
    h("div", { class: "field" },
      h("label", { class: "field__label", for: "grant-code" }, `${grant.principal_name}收到的验证码`),
      h("div", { class: "code-row" }, codeInput, send),
      h("p", { class: "field__hint", id: "grant-code-hint" }, "验证码5分钟内有效"),
      h("p", { class: "field__error", id: "grant-code-error", hidden: true })),
    status, alert, confirm);

  formEl.addEventListener("submit", async (event) => {
    event.preventDefault();
    clearFormAlert(alert);
    const code = halfWidth(codeInput.value).replace(/\s/g, "");
    if (!/^\d{6}$/.test(code)) {
      setFieldError(codeInput, code ? "请输入6位数字验证码" : `请输入${grant.principal_name}收到的验证码`);
      codeInput.focus();
      return;
    }
    clearFieldError(codeInput);
    setBusy(confirm, true, "正在确认…");
    let updated;
    try {
      updated = await api.post(`/proxy/grants/${grant.id}/confirm`, { code });
    } catch (error) {
      setBusy(confirm, false);
      if (isLoggedOut(error)) {
        redirectToLogin();
        return;
      }
      const field = showApiError(error, { code: codeInput }, alert);
      (field || confirm).focus();
      if (error instanceof ApiError && error.code === "already_confirmed") reload(grant.id);
      return;
    }
    setBusy(confirm, false);
    showStep(updated);
  });
  codeInput.addEventListener("input", () => {
    if (codeInput.getAttribute("aria-invalid")) clearFieldError(codeInput);
  });
  return formEl;
}

function counterView(grant) {
  return h("section", { class: "card proxy-counter", "aria-labelledby": "counter-title" },
    h("h3", { class: "proxy-step__title", id: "counter-title" }, "到医保经办窗口确认"),
    h("ol", { class: "proxy-steps" },
      h("li", {}, `您和${grant.principal_name}一起到医保经办窗口（或社区服务中心）`),
      h("li", {}, `带上${grant.principal_name}的身份证或户口簿，以及您的身份证`),
      h("li", {}, "工作人员核验证件后确认，授权立即生效")),
    h("p", { class: "proxy-step__note" },
      `这份申请在${day(grant.pending_expires_at)}前去窗口确认都有效。确认后，这个页面和“代办授权”里都会显示“生效中”。`));
}

const VIEWS = { qr: qrView, sms: smsView, counter: counterView };
const VIEW_NAMES = { qr: "扫码确认", sms: "短信验证码", counter: "到窗口确认" };

// Grants whose principal has no phone on record (the server said no_phone): 短信 is not offered.
const NO_PHONE_KEY = "hmb_grants_without_phone";

function hasNoPhone(grant) {
  try {
    return JSON.parse(sessionStorage.getItem(NO_PHONE_KEY) || "[]").includes(grant.id);
  } catch {
    return false;
  }
}

function markNoPhone(grant) {
  if (hasNoPhone(grant)) return;
  let ids = [];
  try {
    ids = JSON.parse(sessionStorage.getItem(NO_PHONE_KEY) || "[]");
  } catch {
    ids = [];
  }
  sessionStorage.setItem(NO_PHONE_KEY, JSON.stringify([...ids, grant.id]));
}

function otherWays(grant, current, region) {
  const buttons = Object.keys(VIEWS).filter((code) => code !== current)
    .filter((code) => code !== "sms" || !hasNoPhone(grant)).map((code) => {
    const button = h("button", { type: "button", class: "btn btn--block", "data-switch-method": code },
      `改用${VIEW_NAMES[code]}`);
    button.addEventListener("click", () => {
      clearInterval(qrTimer);
      endResend?.();
      renderMethod(grant, code, region);
      region.querySelector("h3")?.setAttribute("tabindex", "-1");
      region.querySelector("h3")?.focus();
    });
    return button;
  });
  return h("div", { class: "proxy-other-ways" },
    h("p", { class: "proxy-other-ways__title" }, "换一种确认方式"),
    buttons);
}

function renderMethod(grant, method, region) {
  replaceChildren(region, VIEWS[method](grant), otherWays(grant, method, region));
}

function cancelButton(grant) {
  const slot = h("div", { class: "proxy-cancel" });
  const button = h("button", { type: "button", class: "btn btn--block btn--quiet", "data-cancel-grant": true },
    "取消这次申请");
  return confirmFirst(slot, button, {
    ask: { question: "确定取消这次代办申请吗？", confirmText: "确定取消", cancelText: "不取消" },
    busyText: "正在取消…",
    act: async () => showStep(await api.delete(`/proxy/grants/${grant.id}`)),
  });
}

function pendingView(grant) {
  const region = h("div", { class: "form-stack", id: "confirm-method" });
  const usable = grant.confirm_method in VIEWS && !(grant.confirm_method === "sms" && hasNoPhone(grant));
  renderMethod(grant, usable ? grant.confirm_method : "qr", region);
  const waiting = h("p", { class: "proxy-waiting", role: "status", "data-waiting": true },
    h("span", { class: "spinner spinner--small", "aria-hidden": "true" }),
    `正在等待${grant.principal_name}确认…`);
  // What the family member needs first (the QR code, the code field), then what was asked for.
  return [waiting, region, stepHead(grant, `申请的内容`, "家人确认后，授权才会生效。"), cancelButton(grant)];
}

function activeView(grant) {
  const start = h("button", { type: "button", class: "btn btn--primary btn--block", "data-start-acting": true },
    `开始为${grant.principal_name}代办`);
  const after = h("div", { class: "form-stack", hidden: true });
  start.addEventListener("click", () => {
    if (!startActing(grant)) return;
    start.hidden = true;
    replaceChildren(after,
      h("p", { class: "form-status", role: "status" },
        h("span", { class: "form-status__icon", "aria-hidden": "true" }, "✓"),
        h("span", {}, `现在为${grant.principal_name}办理。请选择要办的事：`)),
      taskLinks(grant));
    after.hidden = false;
    after.querySelector("a")?.focus();
  });
  return [
    h("div", { class: "callout callout--ok proxy-done", "data-result": "active" },
      h("p", { class: "callout__title" },
        h("span", { class: "callout__icon", "aria-hidden": "true" }, "✓"), "授权已生效"),
      h("p", { class: "callout__text" },
        `${grant.principal_name}已确认。到${day(grant.valid_until)}前，您可以代办下面这些事。`)),
    stepHead(grant, `代${grant.principal_name}办理`, ""),
    start, after,
    h("a", { class: "btn btn--block btn--quiet", href: PROXY_PATH }, "返回代办授权"),
  ];
}

function endedView(grant) {
  const words = {
    cancelled: "这次申请已取消（或家人没有同意）。", expired: "这次申请已过期。", revoked: "这份授权已撤销。",
  };
  return [
    h("div", { class: "callout proxy-done", "data-result": grant.status },
      h("p", { class: "callout__title" },
        h("span", { class: "callout__icon", "aria-hidden": "true" }, "!"), grant.status_label),
      h("p", { class: "callout__text" }, words[grant.status] || "这份授权已结束。", "如仍需代办，请重新申请。")),
    h("a", { class: "btn btn--primary btn--block", href: PROXY_NEW_PATH }, "重新申请"),
    h("a", { class: "btn btn--block btn--quiet", href: PROXY_PATH }, "返回代办授权"),
  ];
}

function showStep(grant) {
  stopTimers();
  clearState(stateBox);
  form.hidden = true;
  lead.hidden = true;
  title.textContent = grant.status === "pending" ? "请家人确认" : "代办授权";
  document.title = `${title.textContent} - 惠民保参保服务`;
  const views = grant.status === "pending" ? pendingView(grant)
    : grant.status === "active" ? activeView(grant) : endedView(grant);
  replaceChildren(step, views);
  step.hidden = false;
  // Focus where the eye should go: the QR code's (or the code's) heading, else the result.
  const target = grant.status === "pending"
    ? step.querySelector("#confirm-method h3") : step.querySelector(".callout__title, #step-title");
  target?.setAttribute("tabindex", "-1");
  target?.focus();
  if (grant.status === "pending") poll(grant.id);
}

function poll(grantId) {
  clearInterval(pollTimer);
  pollTimer = setInterval(async () => {
    let grant;
    try {
      grant = await api.get(`/proxy/grants/${grantId}`, { timeoutMs: 10000 });
    } catch {
      return; // a dropped poll: the next one will tell
    }
    if (grant.status !== "pending") showStep(grant);
  }, POLL_MS);
}

async function reload(grantId) {
  try {
    showStep(await api.get(`/proxy/grants/${grantId}`));
  } catch {
    /* stays as it is */
  }
}

// ---------------------------------------------------------------- start

async function load() {
  form.hidden = true;
  const me = await loadMe(stateBox, load);
  if (!me) return;
  if (!me.identity?.bound) {
    showBindFirst(stateBox, "为家人代办前，需要先确认您本人的身份。", PROXY_NEW_PATH);
    return;
  }
  offerElderlyMode(me);
  const grantId = new URLSearchParams(window.location.search).get("grant");
  if (grantId && /^\d+$/.test(grantId)) {
    try {
      showStep(await api.get(`/proxy/grants/${grantId}`));
      return;
    } catch (error) {
      if (!(error instanceof ApiError && error.status === 404)) {
        showError(stateBox, error, load)?.focus();
        return;
      }
      window.history.replaceState(null, "", PROXY_NEW_PATH); // not theirs, or gone: a new request
    }
  }
  // Asked before the form shows: often here in time to be part of its first paint.
  const relatives = loadRegistryRelatives();
  const inTime = await inTimeForFirstPaint(relatives);
  clearState(stateBox);
  form.hidden = false;
  offerRelatives(relatives, inTime);
}

initPage();
renderForm();
form.addEventListener("submit", submit);
for (const input of [nameInput, idInput, limitInput]) {
  input.addEventListener("input", () => {
    if (input.getAttribute("aria-invalid")) clearFieldError(input);
  });
}
window.addEventListener("pagehide", stopTimers);
window.addEventListener("pageshow", (event) => {
  if (event.persisted) window.location.reload(); // back from the cache: poll and show afresh
});
load();
