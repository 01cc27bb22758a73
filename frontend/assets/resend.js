// The wait before another SMS code may be sent: the button stays disabled and says how long
// (waitLabel: "重新获取(59s)", and in 长辈模式 "请稍后再获取" — no ticking seconds), then reads
// readyText again. Shared by login, the personal-account debit and the proxy grant's code.

import { waitLabel } from "./prefs.js";

/** Start the wait on `button`; returns a function that ends it early (the button is ready). */
export function resendCountdown(button, seconds, readyText = "重新获取") {
  const endsAt = Date.now() + seconds * 1000;
  let timer = null;
  const ready = () => {
    clearInterval(timer);
    button.disabled = false;
    button.textContent = readyText;
  };
  const tick = () => {
    const left = Math.ceil((endsAt - Date.now()) / 1000);
    if (left <= 0) {
      ready();
      return;
    }
    button.disabled = true;
    button.textContent = waitLabel(left);
  };
  tick();
  timer = setInterval(tick, 250);
  return ready;
}
