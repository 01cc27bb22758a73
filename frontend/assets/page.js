// What every page shares: the 长辈模式 switch in the header and the loading / error / empty states.
//
// A new page: see "Adding a page" in frontend/README.md; its script calls initPage() and loads its
// data with loadInto() (or renders into a [data-state] box with the helpers below).

import { ApiError, errorMessage } from "./api.js";
import { h, replaceChildren } from "./dom.js";
import { currentMode, MODES, onModeChange, toggleMode } from "./prefs.js";
import { isLoggedOut, redirectToLogin } from "./session.js";

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

/** Error: the API's Chinese message, the request number for support, and a 重试 button. */
export function showError(box, error, onRetry) {
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

/** Empty: nothing to show, said in words. */
export function showEmpty(box, text, hint = "") {
  box.hidden = false;
  box.removeAttribute("aria-busy");
  replaceChildren(
    box,
    h("div", { class: "state state--empty" },
      h("p", { class: "state__title" }, text),
      hint ? h("p", { class: "state__text" }, hint) : null),
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

/** The `items` of a list answer, or an empty list. */
export function itemsOf(data) {
  return Array.isArray(data?.items) ? data.items : [];
}
