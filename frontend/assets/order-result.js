// What 参保结果 (enrollment-result.js) and 为家人投保结果 (family-result.js) share: GET
// /enrollments/{order_no} until the order is issued (or closed). The server settles a pending
// online order by asking the gateway, so polling is all a page has to do; after a minute it offers
// 刷新支付结果, 继续支付 and 取消订单. The gateway sends people back with &cancelled=1 when they
// pressed 取消 on its page.
//
// A page calls startResultPage(page) with how an issued and a closed order read (see the typedef);
// the headings, the polling, the unpaid order and the errors are the same for both.

import { api, ApiError } from "./api.js";
import { h, replaceChildren } from "./dom.js";
import { formatFen } from "./format.js";
import { setBusy } from "./forms.js";
import { ACCOUNT_PATH, fact, forgetPendingOrder, longNumber, POLICIES_PATH, safePayUrl } from "./insurance.js";
import { clearState, initPage, showError, showLoading, showMissing } from "./page.js";
import { isLoggedOut, redirectToLogin, rememberModeOnAccount } from "./session.js";

// Polling: quickly at first (the gateway usually answers within a second or two), then calmer.
const POLL_DELAYS_MS = [700, 1000, 1000, 1500, 1500, 2000, 2000, 2000, 3000];
const POLL_LIMIT_MS = 60000;

const PAID_BY = { personal_account: "医保个人账户", online: "微信支付", subsidy: "政府资助" };

/** How the order was paid, in words; `free` when nothing was to pay. */
export function paidBy(order, free) {
  if (order.payable_fen === 0) return free;
  return PAID_BY[order.payment_method] || order.payment_method;
}

export function resultTitle(icon, text, tone) {
  return h("h2", { class: `result__title result__title--${tone}`, tabindex: "-1", "data-result-title": true },
    h("span", { class: `result__icon result__icon--${tone}`, "aria-hidden": "true" }, icon), text);
}

/** The 参保成功 card: its heading, one lead sentence and the facts. */
export function issuedCard(lead, facts) {
  return h("section", { class: "card result result--ok", "aria-labelledby": "result-heading", "data-result": "issued" },
    h("div", { id: "result-heading" }, resultTitle("✓", "参保成功", "ok")),
    h("p", { class: "result__lead" }, lead),
    h("dl", { class: "facts result__facts" }, facts));
}

/** 查看个人账户扣款记录, for an order paid from the personal account. */
export function accountLink(order) {
  return order.payment_method === "personal_account"
    ? h("a", { class: "btn btn--block btn--quiet", href: ACCOUNT_PATH }, "查看个人账户扣款记录") : null;
}

function expiresText(order) {
  const when = new Date(order.expires_at);
  if (Number.isNaN(when.getTime())) return "";
  const time = new Intl.DateTimeFormat("zh-CN", {
    timeZone: "Asia/Shanghai", hour: "2-digit", minute: "2-digit", hour12: false,
  }).format(when);
  return `请在${time}前完成支付，超时订单将自动关闭。`;
}

function defaultProgress(order, waited) {
  if (order.status === "paid") return ["支付成功，正在出单", "正在生成电子保单，请稍候…"];
  if (waited > 8000) return ["正在确认支付结果", "支付结果确认时间较长，请稍候，不要重复付款…"];
  return ["正在确认支付结果", "请稍候，不要关闭页面…"];
}

/**
 * @typedef {object} ResultPage
 * @property {(order: object) => (Node[] | Promise<Node[]>)} issued  what an issued order shows
 * @property {(order: object, refunded: boolean) => {note?: Node, after?: Node, again: [string, string]}} closed
 *   under the reason (note), after the card (after), and the primary action ([href, label]) unless refunded
 * @property {string} amountLabel  the unpaid amount's term ("应付金额")
 * @property {(order: object) => boolean} [cancellable]  offer 取消订单 for this unpaid order (default: yes)
 * @property {(order: object, waited: number) => [string, string]} [progress]  title and text while waiting
 */

/** @param {ResultPage} page */
export function startResultPage(page) {
  const params = new URLSearchParams(window.location.search);
  const orderNo = params.get("order_no") || "";
  const cancelledByPerson = params.get("cancelled") === "1";

  const stateBox = document.getElementById("result-state");
  const progressBox = document.getElementById("result-progress");
  const progressTitle = document.getElementById("progress-title");
  const progressText = document.getElementById("progress-text");
  const content = document.getElementById("result-content");

  let pollStarted = 0;
  let pollCount = 0;
  let pollTimer = null;

  function setProgress([title, text]) {
    if (progressTitle.textContent !== title) progressTitle.textContent = title;
    if (progressText.textContent !== text) progressText.textContent = text;
  }

  function show(...children) {
    clearState(stateBox);
    progressBox.hidden = true;
    replaceChildren(content, ...children);
    content.hidden = false;
    content.querySelector("[data-result-title]")?.focus();
  }

  function pollAgain() {
    pollStarted = Date.now();
    pollCount = 0;
    check();
  }

  async function showIssued(order) {
    forgetPendingOrder(order.order_no);
    show(...await page.issued(order));
  }

  function showClosed(order) {
    forgetPendingOrder(order.order_no);
    const refunded = order.status === "refunded";
    const { note = null, after = null, again } = page.closed(order, refunded);
    show(
      h("section", { class: "card result", "aria-labelledby": "result-heading", "data-result": order.status },
        h("div", { id: "result-heading" }, resultTitle(refunded ? "—" : "!", refunded ? "已退保" : "订单已关闭", "off")),
        h("p", { class: "result__lead", "data-reason": true },
          refunded ? "该订单的保单已退保，保费已原路退回。" : (order.failure_reason || order.status_label || "订单已关闭")),
        note),
      after,
      h("div", { class: "result__actions" },
        refunded
          ? h("a", { class: "btn btn--primary btn--block", href: POLICIES_PATH }, "我的保单")
          : h("a", { class: "btn btn--primary btn--block", href: again[0] }, again[1]),
        h("a", { class: "btn btn--block btn--quiet", href: "/" }, "返回首页")));
  }

  async function cancelOrder(button) {
    setBusy(button, true, "正在取消…");
    try {
      render(await api.post(`/enrollments/${encodeURIComponent(orderNo)}/cancel`));
    } catch (error) {
      setBusy(button, false);
      if (isLoggedOut(error)) {
        redirectToLogin();
        return;
      }
      // e.g. paid in the meantime: read the order again and show what is true now.
      check();
    }
  }

  function showUnpaid(order, { cancelled }) {
    const payUrl = safePayUrl(order.pay_url);
    const refresh = h("button", { type: "button", class: "btn btn--block" }, "刷新支付结果");
    refresh.addEventListener("click", pollAgain);
    const cancel = h("button", { type: "button", class: "btn btn--block btn--quiet" }, "取消订单");
    cancel.addEventListener("click", () => cancelOrder(cancel));
    show(
      h("section", { class: "card result", "aria-labelledby": "result-heading", "data-result": "pending" },
        h("div", { id: "result-heading" },
          resultTitle("!", cancelled ? "您已取消支付" : "暂未收到支付结果", "warn")),
        h("p", { class: "result__lead" }, cancelled
          ? "订单尚未支付，您还没有参保。"
          : "如果您已经付款，请稍后点击“刷新支付结果”；请不要重复付款。"),
        h("dl", { class: "facts result__facts" },
          fact("订单号", longNumber(order.order_no), { class: "fact fact--stack" }),
          fact(page.amountLabel, formatFen(order.payable_fen))),
        h("p", { class: "result__note" }, expiresText(order))),
      h("div", { class: "result__actions" },
        payUrl ? h("a", { class: "btn btn--primary btn--block", href: payUrl, "data-continue-pay": true },
          `继续支付 ${formatFen(order.payable_fen)}`) : null,
        cancelled ? null : refresh,
        !page.cancellable || page.cancellable(order) ? cancel : null));
  }

  function render(order) {
    if (order.status === "issued" || (order.status === "paid" && order.policies?.length)) {
      showIssued(order);
      return;
    }
    if (order.status === "pending_payment" || order.status === "paid") {
      if (cancelledByPerson && order.status === "pending_payment") {
        showUnpaid(order, { cancelled: true });
        return;
      }
      const waited = Date.now() - pollStarted;
      if (waited > POLL_LIMIT_MS) {
        showUnpaid(order, { cancelled: false });
        return;
      }
      clearState(stateBox);
      content.hidden = true;
      progressBox.hidden = false;
      setProgress((page.progress || defaultProgress)(order, waited));
      const delay = POLL_DELAYS_MS[Math.min(pollCount, POLL_DELAYS_MS.length - 1)];
      pollCount += 1;
      clearTimeout(pollTimer);
      pollTimer = setTimeout(check, delay);
      return;
    }
    showClosed(order);
  }

  async function check() {
    let order;
    try {
      order = await api.get(`/enrollments/${encodeURIComponent(orderNo)}`);
    } catch (error) {
      if (isLoggedOut(error)) {
        redirectToLogin();
        return;
      }
      // A dropped connection while waiting: keep trying quietly, within the same time limit.
      const transient = !(error instanceof ApiError) || error.status === 0 || error.status >= 500;
      if (transient && pollCount > 0 && Date.now() - pollStarted < POLL_LIMIT_MS) {
        clearTimeout(pollTimer);
        pollTimer = setTimeout(check, 2000);
        return;
      }
      progressBox.hidden = true;
      content.hidden = true;
      if (error instanceof ApiError && error.status === 404) {
        showError(stateBox, error); // a wrong or someone else's order number: trying again won't help
        stateBox.querySelector(".state")?.append(
          h("a", { class: "btn btn--primary state__action", href: POLICIES_PATH }, "查看我的保单"));
        return;
      }
      showError(stateBox, error, () => {
        showLoading(stateBox, "正在查询参保结果，请稍候…");
        pollAgain();
      })?.focus();
      return;
    }
    render(order);
  }

  initPage();
  rememberModeOnAccount();
  if (!orderNo) {
    showMissing(stateBox, { title: "请选择要查看的参保结果", text: "这个链接没有带订单号，参保结果可以在“我的保单”中查看。",
      href: "/policies.html", action: "查看我的保单" });
    content.hidden = true;
  } else {
    pollStarted = Date.now();
    check();
  }
}
