// Shared by the 家人代办 pages (proxy*.js, counter proxy page): the scopes in plain words, a
// grant's status as a pill (shape + words, never colour alone), the things an agent can do for the
// principal, and an inline confirmation (no pop-ups: the question replaces the buttons in place).

import { errorMessage } from "./api.js";
import { fact, h, replaceChildren } from "./dom.js";
import { formatFen, formatInstantDate } from "./format.js";
import { setBusy } from "./forms.js";
import { ENROLL_PATH, POLICIES_PATH, statusPill } from "./insurance.js";

export const PROXY_PATH = "/proxy.html";
export const PROXY_NEW_PATH = "/proxy-new.html";
export const PROXY_ACTIVITY_PATH = "/proxy-activity.html";
export const CLAIMS_PATH = "/claims.html";

/** The scopes an agent may ask for, in the order shown, with plain words. */
export const SCOPES = Object.freeze([
  { code: "enroll", title: "代为参保", hint: "为家人办理惠民保参保" },
  { code: "view_policies", title: "查看保单", hint: "查看家人的保单和保障期间" },
  { code: "claims_submit", title: "代为申请理赔", hint: "为家人提交理赔申请和材料" },
  { code: "claims_view", title: "查看理赔进度", hint: "查看家人的理赔进度和赔付结果" },
  {
    code: "pay_from_principal_account",
    title: "用家人的医保个人账户缴费",
    hint: "从家人的医保个人账户（历年账户）缴纳保费，每年不超过下面填写的金额",
  },
]);

// Shortest first: a grant for one errand can end in days (the principal may also end it any time).
export const PERIODS = Object.freeze([
  { days: 3, label: "3天" },
  { days: 30, label: "1个月" },
  { days: 90, label: "3个月" },
  { days: 180, label: "半年" },
  { days: 365, label: "1年" },
]);

const STATUS_TONES = { active: "ok", pending: "warn" };

export function grantPill(grant) {
  return statusPill(grant.status_label, STATUS_TONES[grant.status] || "off");
}

/** "2027年11月22日" (China date) or "". */
export function day(iso) {
  return iso ? formatInstantDate(iso) : "";
}

/** "2026年11月22日 14:05" in China time. */
export function dayTime(iso) {
  const when = new Date(String(iso ?? ""));
  if (Number.isNaN(when.getTime())) return "";
  const time = new Intl.DateTimeFormat("zh-CN", {
    timeZone: "Asia/Shanghai", hour: "2-digit", minute: "2-digit", hour12: false,
  }).format(when);
  return `${formatInstantDate(iso)} ${time}`;
}

export { fact };

/** The scope labels as a list with a tick each (the server's words, for agent or principal). */
export function scopeList(labels) {
  return h("ul", { class: "scope-list", role: "list" },
    (labels || []).map((label) => h("li", { class: "scope-list__item" },
      h("span", { class: "scope-list__icon", "aria-hidden": "true" }, "✓"), label)));
}

/** Facts about one grant: what, until when, how much is left to pay. */
export function grantFacts(grant) {
  const facts = [fact("可以办理", scopeList(grant.scope_labels), { "data-fact": "scopes", class: "fact fact--stack" })];
  if (grant.status === "active" && grant.valid_until) {
    facts.push(fact("有效期至", day(grant.valid_until), { "data-fact": "valid-until" }));
  } else if (grant.status === "pending") {
    facts.push(fact("授权期限", `确认后${grant.valid_days}天内有效`, { "data-fact": "valid-days" }));
    facts.push(fact("等待确认", `${day(grant.pending_expires_at)}前确认有效`, { "data-fact": "pending-until" }));
  } else if (grant.ended_at) {
    facts.push(fact("结束时间", day(grant.ended_at), { "data-fact": "ended" }));
  }
  if (grant.pay_limit_fen != null) {
    const remaining = grant.pay_remaining_fen != null
      ? `，今年还可缴${formatFen(grant.pay_remaining_fen)}` : "";
    facts.push(fact("缴费额度", `每年${formatFen(grant.pay_limit_fen)}${remaining}`, { "data-fact": "pay-limit" }));
  }
  return h("dl", { class: "facts" }, facts);
}

/** What an agent can do for the principal now, as large links (by the grant's scopes). */
export function taskLinks(grant) {
  const scopes = new Set(grant.scopes || []);
  const links = [];
  if (scopes.has("enroll")) links.push([ENROLL_PATH, `为${grant.principal_name}参保`]);
  if (scopes.has("view_policies")) links.push([POLICIES_PATH, `查看${grant.principal_name}的保单`]);
  if (scopes.has("claims_view")) {
    // claims.html lists the principal's claims with ?acting_for= (and says so).
    links.push([`${CLAIMS_PATH}?acting_for=${encodeURIComponent(grant.principal_person_id)}`,
      `查看${grant.principal_name}的理赔`]);
  }
  return h("div", { class: "proxy-tasks" },
    links.map(([href, text]) => h("a", { class: "btn btn--block", href, "data-task": href }, text)));
}

/**
 * Ask before a step that cannot be undone, in place: `slot`'s content is replaced by the question
 * and two buttons (the safe one first, and focused). Resolves to the confirm button (to show it
 * busy while the caller works) or null when the person said no (the old content is put back).
 */
export function inlineConfirm(slot, { question, detail = "", confirmText, cancelText = "暂不", tone = "danger" }) {
  const before = [...slot.childNodes];
  const cancel = h("button", { type: "button", class: "btn btn--block", "data-inline-cancel": true }, cancelText);
  const confirm = h("button", {
    type: "button", class: `btn btn--block ${tone === "danger" ? "btn--danger" : "btn--primary"}`,
    "data-inline-confirm": true,
  }, confirmText);
  const box = h("div", { class: "inline-confirm", role: "group", "aria-label": question },
    h("p", { class: "inline-confirm__question" },
      h("span", { class: "callout__icon", "aria-hidden": "true" }, "!"), question),
    detail ? h("p", { class: "inline-confirm__detail" }, detail) : null,
    h("div", { class: "inline-confirm__actions" }, cancel, confirm));
  replaceChildren(slot, box);
  cancel.focus();
  return new Promise((resolve) => {
    cancel.addEventListener("click", () => {
      slot.replaceChildren(...before);
      before.find((node) => node instanceof HTMLElement && node.matches?.("button, a"))?.focus();
      resolve(null);
    });
    confirm.addEventListener("click", () => resolve(confirm));
  });
}

/**
 * `button` placed in `slot`: a click asks first (inlineConfirm with `ask`), then runs `act()` with
 * the confirm button busy (`busyText`); a failure is said under it unless `onError(error)` took it.
 * Returns the slot.
 */
export function confirmFirst(slot, button, { ask, busyText, act, onError = () => false }) {
  button.addEventListener("click", async () => {
    const confirmButton = await inlineConfirm(slot, ask);
    if (!confirmButton) return;
    setBusy(confirmButton, true, busyText);
    try {
      await act();
    } catch (error) {
      setBusy(confirmButton, false);
      if (!onError(error)) slot.append(h("p", { class: "field__error", role: "alert" }, errorMessage(error)));
    }
  });
  slot.append(button);
  return slot;
}
