// 医保个人账户: GET /me/account: both balances (which one pays 惠民保) and every debit and refund
// with its purpose. Residents have no personal account; a withdrawn sensitive-data consent stops
// the look-up: both are said in words with the way forward.

import { api, ApiError } from "./api.js";
import { actingFor } from "./acting.js";
import { h, replaceChildren } from "./dom.js";
import { formatFen, formatInstant } from "./format.js";
import { BALANCE_NAMES, fact } from "./insurance.js";
import { initPage, loadInto } from "./page.js";
import { BIND_PATH, ME_PATH, rememberModeOnAccount } from "./session.js";

const stateBox = document.getElementById("account-state");
const content = document.getElementById("account-content");
const balanceBody = document.getElementById("balance-body");
const historyBody = document.getElementById("history-body");

function signed(fen) {
  return fen > 0 ? `+${formatFen(fen)}` : formatFen(fen);
}

function renderBalances(account) {
  replaceChildren(balanceBody,
    h("div", { class: "balances" },
      h("div", { class: "balance balance--main", "data-balance": "prior_years" },
        h("p", { class: "balance__label" }, "历年账户"),
        h("p", { class: "balance__amount" }, formatFen(account.prior_years_fen)),
        h("p", { class: "balance__hint" }, "可用于缴纳惠民保保费")),
      h("div", { class: "balance", "data-balance": "current_year" },
        h("p", { class: "balance__label" }, "当年账户"),
        h("p", { class: "balance__amount" }, formatFen(account.current_year_fen)),
        h("p", { class: "balance__hint" }, "不可用于缴纳惠民保保费"))),
    h("dl", { class: "facts balances__facts" },
      fact("账户持有人", account.holder, { "data-fact": "holder" }),
      fact("账户", h("span", { class: "mono" }, account.account), { "data-fact": "account" })));
}

function renderEntry(entry) {
  const refund = entry.kind === "refund" || entry.amount_fen > 0;
  return h("li", { class: "entry", "data-entry": entry.kind },
    h("div", { class: "entry__main" },
      h("p", { class: "entry__purpose" }, entry.purpose),
      h("p", { class: "entry__meta" },
        h("span", { class: `entry__kind entry__kind--${refund ? "in" : "out"}` },
          h("span", { "aria-hidden": "true" }, refund ? "↩" : "−"), refund ? "退回" : "支出"),
        " · ", BALANCE_NAMES[entry.balance] || "", " · ", h("span", { class: "nowrap" }, formatInstant(entry.occurred_at)))),
    h("div", { class: "entry__figures" },
      h("p", { class: "entry__amount", "data-amount": true }, signed(entry.amount_fen)),
      h("p", { class: "entry__after" }, `余额 ${formatFen(entry.balance_after_fen)}`)));
}

function renderHistory(account) {
  const entries = account.entries || [];
  if (!entries.length) {
    replaceChildren(historyBody, h("p", { class: "card__lead" }, "暂无扣款或退款记录。"));
    return;
  }
  replaceChildren(historyBody, h("ul", { class: "entries", role: "list" }, entries.map(renderEntry)));
}

function showNoAccount(error) {
  const links = [];
  let title = "暂时无法查询";
  if (error.code === "no_personal_account") {
    title = "您没有医保个人账户";
    links.push(h("p", { class: "state__text" }, "参加惠民保可选择在线支付。"),
      h("a", { class: "btn btn--primary state__action", href: "/" }, "返回首页"));
  } else if (error.code === "consent_withdrawn" || error.code === "consent_required") {
    title = "需要您的授权";
    links.push(h("a", { class: "btn btn--primary state__action", href: ME_PATH }, "去“我的”重新授权"));
  } else if (error.code === "identity_unverified") {
    // Name + ID number alone prove nothing: balance and history wait for a verified binding.
    title = "需先完成身份核验";
    links.push(h("p", { class: "state__text" },
      "为保护您的医保个人账户，只有核验过身份的账号才能查看余额和明细、使用个人账户缴费。在线支付不受影响。"),
    h("a", { class: "btn btn--primary state__action", href: `${BIND_PATH}?next=/account.html` }, "去核验身份"));
  } else if (error.code === "identity_required") {
    title = "请先完成实名认证";
    links.push(h("a", { class: "btn btn--primary state__action", href: BIND_PATH }, "去实名认证"));
  }
  stateBox.hidden = false;
  stateBox.removeAttribute("aria-busy");
  replaceChildren(stateBox,
    h("div", { class: "state state--empty", "data-refusal": error.code },
      h("p", { class: "state__title" },
        h("span", { class: "state__icon", "aria-hidden": "true" }, "!"), title),
      h("p", { class: "state__text", "data-reason": true }, error.message),
      links));
}

/**
 * Whose account this is, in words: GET /me/account is always the signed-in person's own, also
 * while this tab acts for a family member — then it says so, naming both.
 */
function renderOwner(account) {
  const owner = document.getElementById("account-owner");
  const acting = actingFor();
  owner.textContent = acting
    ? `这是您本人（${account.holder}）的医保个人账户，不是${acting.name}的。`
    : `您本人（${account.holder}）的医保个人账户`;
  owner.classList.toggle("account-owner--acting", Boolean(acting));
  owner.hidden = false;
}

function load() {
  return loadInto({
    box: stateBox, content, fetch: () => api.get("/me/account"),
    onError: (error) => {
      if (!(error instanceof ApiError && (error.status === 422 || error.code === "identity_unverified"))) return false;
      showNoAccount(error);
      return true;
    },
    render: (account) => {
      renderOwner(account);
      renderBalances(account);
      renderHistory(account);
    },
  });
}

initPage();
rememberModeOnAccount();
load();
