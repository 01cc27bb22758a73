// Display preferences: 长辈模式 (elderly mode: larger text and larger touch targets).
//
// The mode lives on <html data-mode="elderly"> and in localStorage (boot.js re-applies it before
// the first paint of every page). Once a person is logged in it is also saved on their account:
// the login feature registers a saver with setRemotePreferenceSaver(), e.g.
//
//   setRemotePreferenceSaver((prefs) => api.put("/me/preferences", prefs));
//
// and, after reading GET /me, calls applyMode(me.preferences.elderly_mode ? "elderly" : "standard",
// { remote: false }) so the account's choice follows the person to any phone.

export const MODE_KEY = "huiminbao.mode"; // keep in sync with boot.js
export const MODES = Object.freeze({ STANDARD: "standard", ELDERLY: "elderly" });

let remoteSaver = null;
const listeners = new Set();

/** Hook for the login feature: fn(prefs) -> Promise, called whenever the person changes mode. */
export function setRemotePreferenceSaver(fn) {
  remoteSaver = typeof fn === "function" ? fn : null;
}

export function currentMode() {
  return document.documentElement.dataset.mode === MODES.ELDERLY ? MODES.ELDERLY : MODES.STANDARD;
}

export function onModeChange(listener) {
  listeners.add(listener);
  return () => listeners.delete(listener);
}

function store(mode) {
  try {
    if (mode === MODES.ELDERLY) localStorage.setItem(MODE_KEY, MODES.ELDERLY);
    else localStorage.removeItem(MODE_KEY);
  } catch {
    /* private mode or a locked-down webview: the mode still applies to this page */
  }
}

/**
 * Apply a mode to this page, remember it on this device, and (with remote: true and a saver
 * registered) save it on the account. A failed remote save never undoes the local change.
 */
export function applyMode(mode, { remote = true } = {}) {
  const next = mode === MODES.ELDERLY ? MODES.ELDERLY : MODES.STANDARD;
  const root = document.documentElement;
  if (next === MODES.ELDERLY) root.dataset.mode = MODES.ELDERLY;
  else delete root.dataset.mode;
  store(next);
  for (const listener of listeners) listener(next);
  if (remote && remoteSaver) {
    Promise.resolve()
      .then(() => remoteSaver({ elderly_mode: next === MODES.ELDERLY }))
      .catch(() => {
        /* kept locally; the account copy is refreshed at the next change */
      });
  }
  return next;
}

/**
 * A resend button's label while it waits: "重新获取(59s)", but no ticking number in 长辈模式
 * (MIIT 适老化: no countdown pressure), where the button just says to try again later.
 */
export function waitLabel(secondsLeft) {
  return currentMode() === MODES.ELDERLY ? "请稍后再获取" : `重新获取(${secondsLeft}s)`;
}

export function toggleMode() {
  return applyMode(currentMode() === MODES.ELDERLY ? MODES.STANDARD : MODES.ELDERLY);
}

// Another tab changed the mode: follow it.
window.addEventListener("storage", (event) => {
  if (event.key === MODE_KEY) {
    applyMode(event.newValue === MODES.ELDERLY ? MODES.ELDERLY : MODES.STANDARD, { remote: false });
  }
});
