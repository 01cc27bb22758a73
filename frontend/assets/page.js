// What every page shares: the 长辈模式 switch in the header and the loading / error / empty states.
//
// A new page: see "Adding a page" in frontend/README.md; its script calls initPage() and loads its
// data with loadInto() (or renders into a [data-state] box with the helpers below).

import { ApiError, errorMessage } from "./api.js";
import { h, replaceChildren } from "./dom.js";
import { currentMode, MODES, onModeChange, toggleMode } from "./prefs.js";
import { bindUrl, fetchMe, isLoggedOut, loginUrl, redirectToLogin } from "./session.js";

function syncToggle(button, mode) {
  const on = mode === MODES.ELDERLY;
  button.setAttribute("aria-pressed", on ? "true" : "false");
  const state = button.querySelector("[data-mode-state]");
  if (state) state.textContent = on ? "开" : "关";
}

export function initPage() {
  const toggles = document.querySelectorAll("[data-mode-toggle]");
  for (const button of toggles) {
    syncToggle(button, currentMode());
    button.addEventListener("click", () => toggleMode());
  }
  onModeChange((mode) => toggles.forEach((button) => syncToggle(button, mode)));
}

/** Loading: a spinner with text; the box is aria-busy so screen readers wait. */
export function showLoading(box, text = "正在加载，请稍候…") {
  box.hidden = false;
  box.setAttribute("aria-busy", "true");
  replaceChildren(
    box,
    h("div", { class: "state state--loading" },
      h("span", { class: "spinner", "aria-hidden": "true" }),
      h("p", { class: "state__text" }, text)),
  );
}

// ------------------------------------------------------------------------------ the guard
// A page that needs a login or a verified real-name binding never dead-ends: it says what is
// missing, offers the one button that fixes it, and that step comes back here afterwards
// (`next`, honoured by 登录 and 实名认证). showError() and loadInto() use it for every such answer.

const here = () => window.location.pathname + window.location.search;

const GUARDS = {
  login: {
    title: "请先登录",
    text: "登录后才能查看和办理。首次登录将自动创建账户，登录后会回到这一页。",
    action: "登录",
    href: () => loginUrl(here()),
  },
  identity_required: {
    title: "请先完成实名认证",
    text: "为保护您的个人信息，查看保单、理赔和医保个人账户前，需要先核对您的姓名和身份证号码。认证后会回到这一页。",
    action: "实名认证",
    href: () => bindUrl(here()),
  },
  identity_unverified: {
    title: "请先核验本人身份",
    text: "您的实名信息还需要核验是本人，核验后即可继续办理，并会回到这一页。",
    action: "去核验身份",
    href: () => bindUrl(here()),
  },
};

/** The guard an error calls for ("login", "identity_required", …), or null. */
export function guardFor(error) {
  if (isLoggedOut(error)) return "login";
  if (error instanceof ApiError && Object.hasOwn(GUARDS, error.code)) return error.code;
  return null;
}

/**
 * What is missing and the button that fixes it, in `box`: 登录 (to the login page, then back),
 * 实名认证 (to 实名认证, then back). Returns the button (a link) to focus.
 */
export function showGuard(box, kind) {
  const guard = GUARDS[kind];
  box.hidden = false;
  box.removeAttribute("aria-busy");
  const action = h("a", { class: "btn btn--primary btn--block state__action", href: guard.href(),
    "data-guard-action": kind }, guard.action);
  replaceChildren(
    box,
    h("div", { class: "state state--guard", "data-guard": kind },
      h("p", { class: "state__title" },
        h("span", { class: "state__icon", "aria-hidden": "true" }, "i"), guard.title),
      h("p", { class: "state__text" }, guard.text),
      action,
      h("p", { class: "state__meta" },
        h("a", { class: "state__link", href: "/" }, "返回首页"), " · ",
        h("a", { class: "state__link", href: "/help.html" }, "客服与投诉"))),
  );
  return action;
}

/**
 * Error: the API's Chinese message, the request number for support, and a 重试 button. An
 * answer that means "log in first" or "verify your identity first" shows the guard instead.
 */
export function showError(box, error, onRetry) {
  const guard = guardFor(error);
  if (guard) return showGuard(box, guard);
  box.hidden = false;
  box.removeAttribute("aria-busy");
  const requestId = error instanceof ApiError ? error.requestId : null;
  const retry = onRetry
    ? h("button", { type: "button", class: "btn btn--primary state__action" }, "重试")
    : null;
  if (retry) retry.addEventListener("click", onRetry);
  replaceChildren(
    box,
    h("div", { class: "state state--error", role: "alert" },
      h("p", { class: "state__title" },
        h("span", { class: "state__icon", "aria-hidden": "true" }, "!"), "加载失败"),
      h("p", { class: "state__text", "data-error-message": true }, errorMessage(error)),
      requestId ? h("p", { class: "state__meta" }, `请求编号：${requestId}`) : null,
      retry),
  );
  return retry;
}

/**
 * A page opened without the number it shows (a link cut short): says what is missing and
 * offers the list to choose from — not an error.
 */
export function showMissing(box, { title, text, href, action }) {
  box.hidden = false;
  box.removeAttribute("aria-busy");
  const link = h("a", { class: "btn btn--primary btn--block state__action", href }, action);
  replaceChildren(
    box,
    h("div", { class: "state state--empty", "data-missing": true },
      h("p", { class: "state__title" }, title),
      h("p", { class: "state__text" }, text),
      link,
      h("p", { class: "state__meta" },
        h("a", { class: "state__link", href: "/" }, "返回首页"), " · ",
        h("a", { class: "state__link", href: "/help.html" }, "客服与投诉"))),
  );
  return link;
}

/**
 * Blocked: the page cannot go on until a step is taken elsewhere. In the page's `box` (a
 * section.blocked, focusable, labelled by #blocked-title): `title`, the `reason` and the `actions`
 * (links); the box is shown and focused.
 */
export function showBlocked(box, title, reason, actions) {
  replaceChildren(box,
    h("div", { class: "callout callout--blocked", "data-blocked": true },
      h("h2", { class: "callout__title blocked__title", id: "blocked-title" },
        h("span", { class: "callout__icon", "aria-hidden": "true" }, "!"), title),
      h("p", { class: "blocked__reason" }, reason),
      h("div", { class: "blocked__actions" }, actions)));
  box.hidden = false;
  box.focus();
}

/** Empty: nothing to show, said in words, with the step that fills it (`action`, at `href`) if any. */
export function showEmpty(box, text, hint = "", { action = "", href = "" } = {}) {
  box.hidden = false;
  box.removeAttribute("aria-busy");
  replaceChildren(
    box,
    h("div", { class: "state state--empty", "data-empty": true },
      h("p", { class: "state__title" }, text),
      hint ? h("p", { class: "state__text" }, hint) : null,
      action ? h("a", { class: "btn btn--primary state__action", href }, action) : null),
  );
}

export function clearState(box) {
  box.removeAttribute("aria-busy");
  box.replaceChildren();
  box.hidden = true;
}

/**
 * The load every page does: hide `content`, show loading in `box`, await `fetch()`; signed out
 * goes to the login page, an error shows its message with 重试 (running the same load again);
 * otherwise `render(data)`, then `content` is shown. `render` returns false when it filled `box`
 * itself (nothing to list, a step to take first): `content` then stays hidden. `onError(error)`
 * may answer an error its own way (a page's refusal in words) by returning true.
 * Resolves to the data, or undefined when there is none to show.
 */
export function loadInto({ box, content, fetch, render, onError = () => false, loadingText }) {
  const run = async () => {
    content.hidden = true;
    showLoading(box, loadingText);
    let data;
    try {
      data = await fetch();
    } catch (error) {
      if (isLoggedOut(error)) redirectToLogin();
      else if (guardFor(error)) showGuard(box, guardFor(error));
      else if (!onError(error)) showError(box, error, run)?.focus();
      return undefined;
    }
    if (render(data) === false) return undefined;
    clearState(box);
    content.hidden = false;
    return data;
  };
  return run();
}

/**
 * The signed-in account, for a page that needs one: loading in `box` meanwhile, an error with
 * 重试 (`retry`), or off to the login page (coming back to `next`, default this page). Resolves to
 * the account, or null when the page stops here.
 */
export async function loadMe(box, retry, next) {
  showLoading(box);
  let me;
  try {
    me = await fetchMe();
  } catch (error) {
    showError(box, error, retry)?.focus();
    return null;
  }
  if (!me) redirectToLogin(next);
  return me || null;
}

/**
 * Signed in but not yet 实名认证: says so in `box`, why this page needs it (`text`), and links to
 * 实名认证, coming back to `next` afterwards.
 */
export function showBindFirst(box, text, next) {
  box.hidden = false;
  box.removeAttribute("aria-busy");
  replaceChildren(box,
    h("div", { class: "callout", "data-unbound": true },
      h("p", { class: "callout__title" },
        h("span", { class: "callout__icon", "aria-hidden": "true" }, "!"), "请先完成实名认证"),
      h("p", { class: "callout__text" }, text),
      h("a", { class: "btn btn--primary btn--block", href: bindUrl(next) }, "去实名认证")));
}

/** The `items` of a list answer, or an empty list. */
export function itemsOf(data) {
  return Array.isArray(data?.items) ? data.items : [];
}

/**
 * loadInto for a list answer: `fill(items, data)` when it lists something, else `empty()` (which
 * says so in `box`; the list stays hidden).
 */
export function loadList({ empty, fill, ...options }) {
  return loadInto({
    ...options,
    render: (data) => {
      const items = itemsOf(data);
      if (!items.length) {
        empty();
        return false;
      }
      fill(items, data);
      return true;
    },
  });
}
