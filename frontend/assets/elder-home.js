// The home page's 长辈模式 card: a large switch (role="switch", 开/关 in words) that saves the
// mode on the account when signed in (home.js's fetchSession registers the saver). The four large
// service tiles above it are plain links, shown by the stylesheet in 长辈模式 only.

import { currentMode, MODES, onModeChange, toggleMode } from "./prefs.js";

function sync(button, mode) {
  const on = mode === MODES.ELDERLY;
  button.setAttribute("aria-checked", on ? "true" : "false");
  const state = button.querySelector("[data-switch-state]");
  if (state) state.textContent = on ? "开" : "关";
}

const switches = document.querySelectorAll("[data-mode-switch]");
for (const button of switches) {
  sync(button, currentMode());
  button.addEventListener("click", () => toggleMode());
}
onModeChange((mode) => switches.forEach((button) => sync(button, mode)));
