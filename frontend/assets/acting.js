// 代办 (acting for a family member under a proxy grant): whom this tab acts for, the header the
// API needs, and the banner shown on every page while acting.
//
// The choice lives in sessionStorage (this tab only, gone when the tab closes, cleared at login
// and logout). api.js asks actingHeaderFor() on every request and sends X-Acting-For only on the
// endpoints that act for a subject (ACTING_ENDPOINTS); object endpoints (one policy, one claim)
// admit the agent by the grant's scope without it.
//
// Every page imports api.js, which imports this module: the banner appears on every page without
// any page doing anything. A page that must never show it (the principal's confirm page, the
// counter) sets <body data-acting-banner="off">.
//
// The banner never stops acting on its own: if the grant has ended, it says so and waits for the
// person to press 结束代办. Requests keep carrying the header and the server refuses them with
// its Chinese message, so nothing is ever done silently for the wrong person.

import { h } from "./dom.js";

const STORE_KEY = "huiminbao.actingFor";
export const PROXY_PATH = "/proxy.html";

/**
 * [method, path under /api/v1] that act for the person named in X-Acting-For: exactly the views
 * the backend marks with @acts_for (e2e/test_frontend_shared.py compares the two lists).
 */
export const ACTING_ENDPOINTS = Object.freeze([
  ["GET", /^\/policies$/],
  ["POST", /^\/enrollments\/preview$/],
  ["POST", /^\/enrollments$/],
  ["POST", /^\/me\/payment-code$/], // the code that confirms a debit from the principal's account
  ["GET", /^\/claims$/],
  ["POST", /^\/claims$/],
  ["POST", /^\/claims\/estimate$/],
  ["GET", /^\/claims\/records$/], // the 医保 settlement records, read under an authorization
  ["GET", /^\/claims\/records\/consents$/],
  ["POST", /^\/claims\/records\/consents$/],
  ["POST", /^\/claims\/records\/consents\/revoke$/],
  ["GET", /^\/claims\/records\/prefill$/],
  ["POST", /^\/claims\/records\/claims$/],
  ["GET", /^\/complaints$/],
  ["POST", /^\/complaints$/],
]);

/** The person this tab acts for: {person_id, name, grant_id, scopes}, or null (acting for oneself). */
export function actingFor() {
  try {
    const saved = JSON.parse(sessionStorage.getItem(STORE_KEY) || "null");
    if (saved && Number.isInteger(saved.person_id) && Number.isInteger(saved.grant_id)) {
      return { ...saved, scopes: Array.isArray(saved.scopes) ? saved.scopes : [] };
    }
  } catch {
    /* unreadable: acting for oneself */
  }
  return null;
}

/** Does the grant this tab acts under include `scope` (as last seen)? */
export function actingAllows(scope) {
  return Boolean(actingFor()?.scopes.includes(scope));
}

/** Act for the principal of this grant (a GrantView with status active) from now on, in this tab. */
export function startActing(grant) {
  const value = {
    person_id: grant.principal_person_id,
    name: grant.principal_name,
    grant_id: grant.id,
    scopes: grant.scopes || [],
  };
  try {
    sessionStorage.setItem(STORE_KEY, JSON.stringify(value));
  } catch {
    /* storage unavailable: cannot act (the header would be lost on the next page) */
    return false;
  }
  renderBanner();
  return true;
}

export function stopActing() {
  try {
    sessionStorage.removeItem(STORE_KEY);
  } catch {
    /* nothing stored */
  }
  renderBanner();
}

/** The X-Acting-For value for this request, or null. `url` may be "/policies" or "/api/v1/…?…". */
export function actingHeaderFor(method, url) {
  const acting = actingFor();
  if (!acting) return null;
  const path = String(url).replace(/^\/api\/v1(?=\/)/, "").replace(/[?#].*$/, "");
  const verb = String(method).toUpperCase();
  const matches = ACTING_ENDPOINTS.some(([m, pattern]) => m === verb && pattern.test(path));
  return matches ? acting.person_id : null;
}

// ---------------------------------------------------------------- the banner

const ENDED_WORDS = { revoked: "已撤销", expired: "已过期", cancelled: "已取消" };

function bannerOff() {
  return document.body?.dataset.actingBanner === "off";
}

function renderBanner() {
  if (!document.body) return;
  document.getElementById("acting-banner")?.remove();
  const acting = actingFor();
  if (!acting || bannerOff()) return;
  const end = h("button", { type: "button", class: "btn btn--small acting-banner__end", "data-acting-end": true },
    "结束代办");
  end.addEventListener("click", () => {
    stopActing();
    window.location.reload(); // what the page shows was the principal's: show one's own
  });
  const banner = h("section", { class: "acting-banner", id: "acting-banner", "aria-label": "代办提示" },
    h("div", { class: "acting-banner__inner" },
      h("p", { class: "acting-banner__text", "data-acting-text": true },
        h("span", { class: "acting-banner__icon", "aria-hidden": "true" }, "代"),
        h("span", {}, "正在为 ", h("strong", { class: "acting-banner__name" }, acting.name), " 代办")),
      h("p", { class: "acting-banner__ended", "data-acting-ended": true, hidden: true }),
      h("div", { class: "acting-banner__actions" },
        window.location.pathname === PROXY_PATH
          ? null
          : h("a", { class: "btn btn--small acting-banner__switch", href: PROXY_PATH }, "切换"),
        end)));
  const header = document.querySelector(".site-header");
  // Inside the sticky header: the banner stays on screen while the page scrolls (long forms).
  if (header) header.append(banner);
  else document.body.prepend(banner);
  checkGrant(acting, banner);
}

/** Is the grant still active? If not, say so in the banner (acting stops only when asked). */
async function checkGrant(acting, banner) {
  let status = null;
  try {
    const response = await fetch(`/api/v1/proxy/grants/${encodeURIComponent(acting.grant_id)}`, {
      headers: { Accept: "application/json" }, credentials: "same-origin",
    });
    if (response.status === 404 || response.status === 401) status = "gone";
    else if (response.ok) status = (await response.json())?.status || null;
  } catch {
    return; // offline: the next request will tell
  }
  if (!status || status === "active" || !banner.isConnected) return;
  const note = banner.querySelector("[data-acting-ended]");
  note.textContent = ENDED_WORDS[status]
    ? `这份代办授权${ENDED_WORDS[status]}，不能继续代办。请点“结束代办”。`
    : "这份代办授权已失效，不能继续代办。请点“结束代办”。";
  note.prepend(h("span", { class: "acting-banner__warn", "aria-hidden": "true" }, "!"));
  note.hidden = false;
  banner.classList.add("acting-banner--ended");
}

renderBanner();
