// 长辈模式 offered once to people aged 60 or more (the age comes from the bound ID number, in
// GET /me): an inline card at the top of the page — never a pop-up — with 开启 / 暂不需要.
// Either answer is remembered on this phone for this account, so the question is not repeated;
// the mode itself is saved on the account (PUT /me/preferences, through prefs.js's saver that
// fetchMe() registers).

import { h } from "./dom.js";
import { applyMode, currentMode, MODES, onModeChange } from "./prefs.js";

const OFFER_AGE = 60;
const ASKED_PREFIX = "huiminbao.elderlyOffer.";

function askedKey(me) {
  return `${ASKED_PREFIX}${me.account_id}`;
}

function alreadyAsked(me) {
  try {
    return localStorage.getItem(askedKey(me)) === "asked";
  } catch {
    return false;
  }
}

function rememberAsked(me) {
  try {
    localStorage.setItem(askedKey(me), "asked");
  } catch {
    /* asked again next time: harmless */
  }
}

/** Should this person be offered 长辈模式 now? */
export function shouldOffer(me) {
  const age = me?.identity?.age;
  return Boolean(me && me.identity?.bound && typeof age === "number" && age >= OFFER_AGE
    && !me.elderly_mode && currentMode() !== MODES.ELDERLY && !alreadyAsked(me));
}

/**
 * Show the offer at the top of <main> (after the page heading) if it applies. Returns the card
 * or null. `where` overrides the place (the card goes before it).
 */
export function offerElderlyMode(me, { where = null } = {}) {
  if (!shouldOffer(me) || document.getElementById("elderly-offer")) return null;
  const yes = h("button", { type: "button", class: "btn btn--primary btn--block", "data-offer-accept": true },
    "好的，开启");
  const no = h("button", { type: "button", class: "btn btn--block btn--quiet", "data-offer-decline": true },
    "暂不需要");
  const card = h("section", {
    class: "card elderly-offer", id: "elderly-offer", "aria-labelledby": "elderly-offer-title",
  },
  h("h2", { class: "elderly-offer__title", id: "elderly-offer-title" }, "要开启长辈模式吗？"),
  h("p", { class: "elderly-offer__text" },
    "长辈模式下字更大、按钮更大，首页最上方放着最常用的四项服务。以后也可以随时在页面上方或“我的”里开关。"),
  h("div", { class: "elderly-offer__actions" }, yes, no));
  let answered = false;
  const finish = (text) => {
    answered = true;
    rememberAsked(me);
    card.replaceChildren(h("p", { class: "elderly-offer__done", role: "status", tabindex: "-1" },
      h("span", { class: "form-status__icon", "aria-hidden": "true" }, "✓"), text));
    card.querySelector("[role=status]").focus();
  };
  yes.addEventListener("click", () => {
    answered = true;
    applyMode(MODES.ELDERLY); // saved on the account too
    finish("已开启长辈模式。");
  });
  no.addEventListener("click", () => finish("好的，保持标准模式。需要时可点页面上方的“长辈模式”开启。"));
  // Switched on some other way (the header switch): the question has its answer.
  const stop = onModeChange((mode) => {
    if (mode === MODES.ELDERLY && !answered && card.isConnected) {
      rememberAsked(me);
      card.remove();
      stop();
    }
  });
  const main = document.querySelector("main");
  const anchor = where || main?.querySelector(".page-head")?.nextElementSibling || main?.firstElementChild;
  if (anchor) anchor.before(card);
  else main?.prepend(card);
  return card;
}
