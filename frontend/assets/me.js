// 我的: the signed-in person's masked identity, consents (撤回 / 重新同意), 长辈模式, 退出登录.

import { api, ApiError, errorMessage } from "./api.js";
import { confirmDialog } from "./dialog.js";
import { fact, h, paragraphs, replaceChildren } from "./dom.js";
import { clearFormAlert, setBusy, showFormAlert, showStatus } from "./forms.js";
import { offerElderlyMode } from "./elderly-offer.js";
import { formatInstantDate } from "./format.js";
import { clearState, initPage, loadMe } from "./page.js";
import { currentMode, MODES, onModeChange, toggleMode } from "./prefs.js";
import { BIND_PATH, fetchMe, LOGIN_PATH, logout, ME_PATH, redirectToLogin } from "./session.js";

const CONSENT_ORDER = ["personal_info", "sensitive_info"];
const SEX_LABELS = { male: "男", female: "女" };

// What withdrawing each consent means, said before the person confirms.
const WITHDRAW_EFFECTS = {
  personal_info: "撤回后，我们将停止处理您的个人信息，您将无法在线参保、为家人投保、办理亲友代办和申请理赔；已生效的保单继续有效，可照常查看。",
  sensitive_info: "撤回后，将无法查询医保个人账户、使用个人账户缴费、自动续保和在线理赔；已生效的保单继续有效，可照常查看。",
};

const stateBox = document.getElementById("me-state");
const content = document.getElementById("me-content");
const profileBody = document.getElementById("profile-body");
const profileBadge = document.getElementById("profile-badge");
const consentsCard = document.getElementById("consents-card");
const consentItems = document.getElementById("consent-items");
const consentStatus = document.getElementById("consent-status");
const elderlySwitch = document.getElementById("elderly-switch");
const alertBox = document.getElementById("me-alert");
const logoutButton = document.getElementById("logout");


function renderProfile(me) {
  const identity = me.identity || {};
  const account = [
    fact("手机号", h("span", { class: "mono" }, me.phone), { "data-fact": "phone" }),
    fact("账户类型", me.role_label || "参保人", { "data-fact": "role" }),
  ];
  if (!identity.bound) {
    profileBadge.replaceChildren();
    replaceChildren(profileBody,
      h("div", { class: "callout", "data-unbound": true },
        h("p", { class: "callout__title" },
          h("span", { class: "callout__icon", "aria-hidden": "true" }, "!"), "尚未实名认证"),
        h("p", { class: "callout__text" }, "完成实名认证后，才能为自己和家人参保、查询保单和申请理赔。"),
        h("a", { class: "btn btn--primary btn--block", href: BIND_PATH }, "去实名认证")),
      h("dl", { class: "facts" }, account));
    return;
  }
  const about = [SEX_LABELS[identity.sex], identity.age != null ? `${identity.age}岁` : null]
    .filter(Boolean).join(" · ");
  replaceChildren(profileBadge,
    h("p", { class: "status-badge status-badge--open" },
      h("span", { class: "status-badge__icon", "aria-hidden": "true" }, "✓"), "已实名认证"));
  replaceChildren(profileBody,
    h("dl", { class: "facts" },
      fact("姓名", identity.name, { "data-fact": "name" }),
      fact("身份证号", h("span", { class: "mono" }, identity.id_number), { "data-fact": "id-number" }),
      about ? fact("性别年龄", about, { "data-fact": "about" }) : null,
      account));
}

/** The newest record of each kind of consent (the API keeps the history). */
function currentConsents(consents) {
  const newest = new Map();
  for (const consent of consents || []) {
    const seen = newest.get(consent.kind);
    if (!seen || String(consent.granted_at) > String(seen.granted_at)) newest.set(consent.kind, consent);
  }
  return [...newest.values()].sort(
    (a, b) => rank(a.kind) - rank(b.kind));
}

function rank(kind) {
  const index = CONSENT_ORDER.indexOf(kind);
  return index < 0 ? CONSENT_ORDER.length : index;
}

function renderConsent(consent) {
  const active = !consent.withdrawn_at;
  const titleId = `consent-item-${consent.kind}`;
  const button = h("button", {
    type: "button",
    class: "btn btn--small",
    "data-consent-action": active ? "withdraw" : "grant",
    "data-kind": consent.kind,
  }, active ? "撤回" : "重新同意", h("span", { class: "visually-hidden" }, `《${consent.title}》`));
  button.addEventListener("click", () => (active ? withdraw(consent, button) : grantAgain(consent, button)));
  return h("li", { class: "consent-item", "data-consent": consent.kind },
    h("div", { class: "consent-item__text" },
      h("p", { class: "consent-item__title", id: titleId }, `《${consent.title}》`),
      h("p", { class: `status-pill ${active ? "status-pill--ok" : "status-pill--off"}` },
        h("span", { "aria-hidden": "true" }, active ? "✓" : "—"),
        active ? "已同意" : "已撤回"),
      h("p", { class: "consent-item__meta" },
        active
          ? [h("span", { class: "nowrap" }, `${formatInstantDate(consent.granted_at)}同意`), " · ",
            h("span", { class: "nowrap" }, `版本 ${consent.text_version}`)]
          : h("span", { class: "nowrap" }, `${formatInstantDate(consent.withdrawn_at)}撤回`))),
    button);
}

function renderConsents(me) {
  const consents = currentConsents(me.consents);
  consentsCard.hidden = consents.length === 0;
  replaceChildren(consentItems, consents.map(renderConsent));
}

function focusConsentButton(kind) {
  consentItems.querySelector(`[data-kind="${kind}"]`)?.focus();
}

async function refresh() {
  const me = await fetchMe();
  if (!me) {
    redirectToLogin(ME_PATH);
    return null;
  }
  render(me);
  return me;
}

async function runConsentChange(consent, button, action, doneText) {
  setBusy(button, true, "处理中…");
  clearFormAlert(alertBox);
  try {
    await action();
    await refresh();
  } catch (error) {
    if (button.isConnected) setBusy(button, false);
    if (error instanceof ApiError && error.status === 401) {
      redirectToLogin(ME_PATH);
      return;
    }
    showFormAlert(alertBox, errorMessage(error));
    return;
  }
  showStatus(consentStatus, doneText);
  focusConsentButton(consent.kind);
}

async function withdraw(consent, button) {
  const ok = await confirmDialog({
    title: `撤回《${consent.title}》？`,
    body: paragraphs(WITHDRAW_EFFECTS[consent.kind] || "撤回后，相关业务将无法继续办理。"),
    confirmText: "确认撤回",
    cancelText: "暂不撤回",
    tone: "danger",
  });
  if (!ok) return;
  await runConsentChange(consent, button,
    () => api.delete(`/me/consents/${encodeURIComponent(consent.kind)}`),
    `已撤回《${consent.title}》`);
}

async function grantAgain(consent, button) {
  let text;
  try {
    const texts = await api.get("/consent-texts");
    text = (texts?.items || []).find((item) => item.kind === consent.kind);
  } catch (error) {
    showFormAlert(alertBox, errorMessage(error));
    return;
  }
  if (!text) {
    showFormAlert(alertBox, "暂时无法获取同意书内容，请稍后再试");
    return;
  }
  const ok = await confirmDialog({
    title: text.title,
    body: [h("p", { class: "consent__version" }, `版本 ${text.version}`), ...paragraphs(text.body)],
    confirmText: "我已阅读并同意",
    cancelText: "取消",
  });
  if (!ok) return;
  await runConsentChange(consent, button,
    () => api.put(`/me/consents/${encodeURIComponent(consent.kind)}`, { version: text.version }),
    `已重新同意《${text.title}》`);
}

function syncElderlySwitch(mode) {
  const on = mode === MODES.ELDERLY;
  elderlySwitch.setAttribute("aria-checked", on ? "true" : "false");
  elderlySwitch.querySelector("[data-switch-state]").textContent = on ? "开" : "关";
}

function render(me) {
  renderProfile(me);
  renderConsents(me);
}

async function onLogout() {
  clearFormAlert(alertBox);
  setBusy(logoutButton, true, "正在退出…");
  try {
    await logout();
  } catch (error) {
    setBusy(logoutButton, false);
    showFormAlert(alertBox, errorMessage(error));
    return;
  }
  window.location.replace(LOGIN_PATH);
}

async function load() {
  content.hidden = true;
  const me = await loadMe(stateBox, load, ME_PATH);
  if (!me) return;
  render(me);
  clearState(stateBox);
  content.hidden = false;
  offerElderlyMode(me); // 60 or older, not yet in 长辈模式, not yet asked: an inline card
}

initPage();
syncElderlySwitch(currentMode());
onModeChange(syncElderlySwitch);
elderlySwitch.addEventListener("click", () => toggleMode());
logoutButton.addEventListener("click", onLogout);
load();
