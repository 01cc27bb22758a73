// 登录: phone number + SMS code (POST /auth/otp, POST /auth/login), optional 微信登录.

import { api, ApiError } from "./api.js";
import { h } from "./dom.js";
import {
  clearFieldError, clearFormAlert, halfWidth, setBusy, setFieldError, showApiError, showFormAlert, showStatus,
} from "./forms.js";
import { initPage } from "./page.js";
import { resendCountdown } from "./resend.js";
import { adoptAccountMode, fetchMe, pathAfterLogin } from "./session.js";

const PHONE_PATTERN = /^1[3-9]\d{9}$/;
const CODE_PATTERN = /^\d{6}$/;
const DEFAULT_RESEND_SECONDS = 60;

const params = new URLSearchParams(window.location.search);
const next = params.get("next");

const form = document.getElementById("login-form");
const phoneInput = document.getElementById("phone");
const codeInput = document.getElementById("code");
const sendButton = document.getElementById("send-code");
const submitButton = document.getElementById("login-submit");
const alertBox = document.getElementById("login-alert");
const statusBox = document.getElementById("code-status");
const wechatNote = document.getElementById("wechat-note");
const wechatLogin = document.getElementById("wechat-login");
const agreeBox = document.getElementById("agree");
const agreementTexts = document.getElementById("agreement-texts");

// 用户协议 and 隐私政策 (GET /agreements): shown here, each readable in full; ticking the box
// sends their versions with the login. An account that already agreed to these versions may
// log in without ticking again; the server refuses a first login without them.
let agreementVersions = {};

async function loadAgreements() {
  try {
    const { items } = await api.get("/agreements");
    agreementVersions = Object.fromEntries(items.map((text) => [text.document, text.version]));
    agreementTexts.replaceChildren(...items.map((text) => h("details", { class: "agreement-text" },
      h("summary", { class: "agreement-text__title" }, `阅读《${text.title}》（版本 ${text.version}）`),
      h("p", { class: "agreement-text__body" }, text.body))));
  } catch {
    agreementTexts.replaceChildren(h("p", { class: "field__hint" }, "协议文本加载失败，请刷新页面后重试"));
  }
}

agreeBox.addEventListener("change", () => {
  if (agreeBox.checked) clearFieldError(agreeBox);
});
loadAgreements();

/** Digits only: people type "138 0000 0001" or "138-0000-0001"; a leading +86 is dropped. */
function normalizePhone(raw) {
  return halfWidth(raw)
    .replace(/[\s\-()]/g, "")
    .replace(/^\+?86(?=1\d{10}$)/, "");
}

function normalizeCode(raw) {
  return halfWidth(raw).replace(/\s/g, "");
}

function checkPhone() {
  const phone = normalizePhone(phoneInput.value);
  if (!phone) {
    setFieldError(phoneInput, "请输入手机号码");
    return null;
  }
  if (!PHONE_PATTERN.test(phone)) {
    setFieldError(phoneInput, "请输入11位手机号码");
    return null;
  }
  clearFieldError(phoneInput);
  return phone;
}

function checkCode() {
  const code = normalizeCode(codeInput.value);
  if (!CODE_PATTERN.test(code)) {
    setFieldError(codeInput, code ? "请输入6位数字验证码" : "请输入短信验证码");
    return null;
  }
  clearFieldError(codeInput);
  return code;
}

// ---------------------------------------------------------------------------- resend countdown

let endCountdown = null;

/** "重新获取(59s)" (长辈模式: "请稍后再获取") until the server lets this phone have another code. */
function startCountdown(seconds) {
  endCountdown?.();
  endCountdown = resendCountdown(sendButton, seconds,
    sendButton.dataset.sent ? "重新获取" : "获取验证码");
}

// ---------------------------------------------------------------------------- demo outbox

let demoMode = null; // known after GET /health; the outbox only exists in demo mode

async function detectDemo() {
  try {
    const health = await api.get("/health", { timeoutMs: 5000 });
    demoMode = health?.mode === "demo";
  } catch {
    demoMode = false;
  }
}

function demoOutboxButton(phone) {
  const button = h("button", { type: "button", class: "btn btn--small demo-sms__button" },
    "查看演示短信");
  const output = h("p", { class: "demo-sms__text", "aria-live": "polite" });
  button.addEventListener("click", async () => {
    try {
      const outbox = await api.get(`/dev/sms?phone=${encodeURIComponent(phone)}`);
      const latest = outbox?.items?.[0];
      output.textContent = latest ? latest.text : "暂无短信，请稍后再试";
    } catch (error) {
      output.textContent = error instanceof ApiError ? error.message : "暂无短信，请稍后再试";
    }
  });
  return h("div", { class: "demo-sms" },
    h("p", { class: "demo-sms__note" }, "演示环境不会真实发送短信，可在此查看验证码。"),
    button, output);
}

// ---------------------------------------------------------------------------- actions

async function sendCode() {
  clearFormAlert(alertBox);
  const phone = checkPhone();
  if (!phone) {
    phoneInput.focus();
    return;
  }
  setBusy(sendButton, true, "发送中…");
  let sent;
  try {
    sent = await api.post("/auth/otp", { phone });
  } catch (error) {
    setBusy(sendButton, false);
    const field = showApiError(error, { phone: phoneInput }, alertBox);
    if (field) field.focus();
    if (error instanceof ApiError && error.status === 429 && error.retryAfter) {
      startCountdown(error.retryAfter);
    }
    return;
  }
  setBusy(sendButton, false);
  sendButton.dataset.sent = "true";
  showStatus(statusBox,
    `验证码已发送至 ${sent.phone}，5分钟内有效。`,
    demoMode ? demoOutboxButton(phone) : null);
  startCountdown(Number(sent.resend_after_seconds) || DEFAULT_RESEND_SECONDS);
  codeInput.focus();
}

async function login(event) {
  event.preventDefault();
  clearFormAlert(alertBox);
  const phone = checkPhone();
  const code = checkCode();
  if (!phone || !code) {
    (phone ? codeInput : phoneInput).focus();
    return;
  }
  setBusy(submitButton, true, "正在登录…");
  let result;
  try {
    const agreements = agreeBox.checked ? agreementVersions : {};
    result = await api.post("/auth/login", { phone, code, agreements });
  } catch (error) {
    setBusy(submitButton, false);
    const field = showApiError(error, { phone: phoneInput, code: codeInput, agreements: agreeBox },
      alertBox);
    if (field) {
      field.focus();
      field.select?.();
    }
    return;
  }
  await adoptAccountMode(result.me);
  submitButton.textContent = "登录成功，正在跳转…";
  window.location.replace(pathAfterLogin(result.me, next));
}

// ---------------------------------------------------------------------------- WeChat

function showWechatNotes() {
  if (params.get("wechat") === "link") {
    wechatNote.append(h("div", { class: "form-alert form-alert--info" },
      h("span", { class: "form-alert__icon", "aria-hidden": "true" }, "i"),
      h("p", { class: "form-alert__text" }, "首次使用微信登录，请验证手机号完成绑定")));
  } else if (params.get("wechat_error") === "agreement_required") {
    // A linked WeChat account that has not accepted the current texts: tick, then try again.
    showFormAlert(alertBox, "使用微信登录需同意最新的《用户协议》和《隐私政策》，请阅读并勾选后再点击“微信登录”");
    setFieldError(agreeBox, "请阅读并勾选同意《用户协议》和《隐私政策》");
  } else if (params.has("wechat_error")) {
    showFormAlert(alertBox, "微信登录未成功，请使用手机验证码登录");
  }
}

/** 微信登录 carries the agreement versions ticked here (kept with the OAuth state). */
function wechatLoginHref() {
  const base = "/api/v1/auth/wechat/login";
  if (!agreeBox.checked) return base;
  const query = new URLSearchParams(agreementVersions).toString();
  return query ? `${base}?${query}` : base;
}

/** The 微信登录 button only when the server has it switched on (GET /auth/methods). */
async function detectWechat() {
  if (params.get("wechat") === "link") return; // already on the way back from WeChat
  try {
    const methods = await api.get("/auth/methods", { timeoutMs: 5000 });
    wechatLogin.hidden = methods?.wechat !== true;
  } catch {
    wechatLogin.hidden = true;
  }
}

// ---------------------------------------------------------------------------- start

async function start() {
  initPage();
  showWechatNotes();
  sendButton.addEventListener("click", sendCode);
  form.addEventListener("submit", login);
  // Clear a field's error as soon as the person corrects it.
  phoneInput.addEventListener("input", () => {
    if (phoneInput.getAttribute("aria-invalid") && PHONE_PATTERN.test(normalizePhone(phoneInput.value))) {
      clearFieldError(phoneInput);
    }
  });
  codeInput.addEventListener("input", () => {
    if (codeInput.getAttribute("aria-invalid") && CODE_PATTERN.test(normalizeCode(codeInput.value))) {
      clearFieldError(codeInput);
    }
  });
  detectDemo();
  detectWechat();
  wechatLogin.querySelector("a").addEventListener("click", (event) => {
    event.currentTarget.href = wechatLoginHref();
  });

  // Already signed in (e.g. the back button): go straight on.
  try {
    const me = await fetchMe();
    if (me && params.get("wechat") !== "link") window.location.replace(pathAfterLogin(me, next));
  } catch {
    /* the form still works */
  }
}

start();
