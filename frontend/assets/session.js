// The signed-in person: GET /api/v1/me, the account's 长辈模式, safe post-login redirects, logout.
//
// The session itself is the HttpOnly cookie set by POST /auth/login; api.js echoes the readable
// hmb_csrf cookie in X-CSRF-Token on unsafe requests. Nothing about the session is kept in
// localStorage.

import { api, ApiError } from "./api.js";
import { stopActing } from "./acting.js";
import { currentMode, MODES, applyMode, setRemotePreferenceSaver } from "./prefs.js";

export const LOGIN_PATH = "/login.html";
export const BIND_PATH = "/bind.html";
export const ME_PATH = "/me.html";

/**
 * Save 长辈模式 on the account whenever the person switches it on this page. Signed-in pages that
 * never read GET /me call this at start (a logged-out visitor is sent to the login page anyway).
 */
export function rememberModeOnAccount() {
  setRemotePreferenceSaver((prefs) => api.put("/me/preferences", prefs));
}

/**
 * The caller's profile, or null when nobody is signed in (401). Other failures are thrown.
 * When signed in, changes of 长辈模式 on this page are saved on the account from now on.
 */
export async function fetchMe() {
  try {
    const me = await api.get("/me");
    rememberModeOnAccount();
    return me;
  } catch (error) {
    if (error instanceof ApiError && error.status === 401) {
      setRemotePreferenceSaver(null);
      return null;
    }
    throw error;
  }
}

/**
 * Is anybody signed in? GET /auth/session (200 {authenticated}); for pages that only need to know,
 * not who. When signed in, 长辈模式 changes are saved on the account from now on.
 */
export async function fetchSession() {
  const session = await api.get("/auth/session");
  const signedIn = Boolean(session?.authenticated);
  if (signedIn) rememberModeOnAccount();
  else setRemotePreferenceSaver(null);
  return signedIn;
}

/** An API error that means "log in first" (the session ended or never began). */
export function isLoggedOut(error) {
  return error instanceof ApiError && error.status === 401;
}

/**
 * Right after login: the account's 长辈模式 follows the person to this phone. If they already
 * switched it on here before logging in (the account still says off), that choice is kept and
 * saved on the account instead: a larger page is never taken away mid-task.
 */
export async function adoptAccountMode(me) {
  rememberModeOnAccount();
  stopActing(); // a new login acts for nobody (acting.js) until the person chooses again
  if (me?.elderly_mode) {
    applyMode(MODES.ELDERLY, { remote: false });
  } else if (currentMode() === MODES.ELDERLY) {
    try {
      await api.put("/me/preferences", { elderly_mode: true });
    } catch {
      /* kept on this phone; saved on the account at the next change */
    }
  }
}

/**
 * A same-origin path to go to after login, or null. Only "/path…" on this origin qualifies:
 * "//evil.example", "/\\evil.example", "https://…", "javascript:…" and the login page itself don't.
 */
export function safeNext(raw) {
  if (typeof raw !== "string" || !raw.startsWith("/") || raw.startsWith("//")) return null;
  if (/[\\\u0000-\u001f]/.test(raw)) return null;
  let url;
  try {
    url = new URL(raw, window.location.origin);
  } catch {
    return null;
  }
  if (url.origin !== window.location.origin) return null;
  if (url.pathname === LOGIN_PATH || url.pathname === "/login") return null;
  if (url.pathname.startsWith("/api/")) return null;
  return url.pathname + url.search + url.hash;
}

// Pages a person without 实名认证 uses as they are; every other page needs it first.
const OPEN_WITHOUT_BINDING = new Set([ME_PATH, "/", "/index.html", "/help.html", "/disclosure.html",
  "/my-data.html", "/policy-lookup.html"]);
const CONSOLE_PREFIXES = ["/admin/", "/staff/", "/counter/"];

/**
 * Where to go once signed in: `next` if it is safe, else 我的 (bound) or 实名认证 (not yet). A resident
 * not yet bound and going to a page that needs it: through 实名认证 first, which then goes on to
 * `next` (no stop on that page's own 请先完成实名认证). Staff go where they were going.
 */
export function pathAfterLogin(me, next) {
  const safe = safeNext(next);
  if (!safe) return me?.identity?.bound ? ME_PATH : BIND_PATH;
  if (me?.identity?.bound || (me && me.role !== "resident")) return safe;
  const path = new URL(safe, window.location.origin).pathname;
  // The console's pages say themselves that they are not for residents: no 实名认证 on the way.
  const consolePage = CONSOLE_PREFIXES.some((prefix) => path.startsWith(prefix));
  return consolePage || OPEN_WITHOUT_BINDING.has(path) ? safe : bindUrl(safe);
}

export function loginUrl(next) {
  const safe = safeNext(next);
  return safe ? `${LOGIN_PATH}?next=${encodeURIComponent(safe)}` : LOGIN_PATH;
}

/** 实名认证, coming back to `next` (a same-origin path) afterwards. */
export function bindUrl(next) {
  const safe = safeNext(next);
  return safe && !safe.startsWith(BIND_PATH) ? `${BIND_PATH}?next=${encodeURIComponent(safe)}` : BIND_PATH;
}

/** Not signed in: go to the login page, coming back here afterwards. */
export function redirectToLogin(next = window.location.pathname + window.location.search) {
  window.location.replace(loginUrl(next));
}

/** End the session (a session that already ended counts as logged out). */
export async function logout() {
  try {
    await api.post("/auth/logout");
  } catch (error) {
    if (!(error instanceof ApiError && error.status === 401)) throw error;
  }
  setRemotePreferenceSaver(null);
  stopActing();
  try {
    // An unpaid order remembered for 继续支付 belongs to this person, not the next one to log in.
    localStorage.removeItem("huiminbao.pendingOrder");
  } catch {
    /* nothing stored */
  }
}
