// 参保结果: GET /enrollments/{order_no} until the order is issued (or closed). The server settles
// a pending online order by asking the gateway, so polling is all the page has to do. The gateway
// sends people back here, with &cancelled=1 when they pressed 取消 on its page.

import { api, ApiError } from "./api.js";
import { h, replaceChildren } from "./dom.js";
import { formatFen } from "./format.js";
import { setBusy } from "./forms.js";
import {
  ACCOUNT_PATH, dateRange, ENROLL_PATH, fact, forgetPendingOrder, longNumber, policyPath,
  POLICIES_PATH, safePayUrl,
} from "./insurance.js";
import { clearState, initPage, showError, showLoading } from "./page.js";
import { isLoggedOut, redirectToLogin, rememberModeOnAccount } from "./session.js";

const params = new URLSearchParams(window.location.search);
const orderNo = params.get("order_no") || "";
const cancelledByPerson = params.get("cancelled") === "1";

// Polling: quickly at first (the gateway usually answers within a second or two), then calmer.
const POLL_DELAYS_MS = [700, 1000, 1000, 1500, 1500, 2000, 2000, 2000, 3000];
const POLL_LIMIT_MS = 60000;

const stateBox = document.getElementById("result-state");
const progressBox = document.getElementById("result-progress");
const progressTitle = document.getElementById("progress-title");
const progressText = document.getElementById("progress-text");
const content = document.getElementById("result-content");

let pollStarted = 0;
let pollCount = 0;
let pollTimer = null;

function setProgress(title, text) {
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

function title(icon, text, tone) {
  return h("h2", { class: `result__title result__title--${tone}`, tabindex: "-1", "data-result-title": true },
    h("span", { class: `result__icon result__icon--${tone}`, "aria-hidden": "true" }, icon), text);
}

const PAID_BY = { personal_account: "医保个人账户", online: "微信支付", subsidy: "政府资助" };

function paidBy(order) {
  if (order.payable_fen === 0) return "政府资助（本人无需支付）";
  return PAID_BY[order.payment_method] || order.payment_method;
}

async function coverageFacts(policyNo) {
  try {
    const policy = await api.get(`/policies/${encodeURIComponent(policyNo)}`);
    return [
      fact("保障期间", dateRange(policy.coverage_starts_on, policy.coverage_ends_on),
        { "data-fact": "coverage" }),
      policy.validity ? fact("保单状态", policy.validity, { "data-fact": "validity" }) : null,
    ];
  } catch {
    return null;
  }
}

async function showIssued(order) {
  forgetPendingOrder(order.order_no);
  const policies = order.policies || [];
  const first = policies[0];
  const coverage = first ? await coverageFacts(first.policy_no) : null;
  show(
    h("section", { class: "card result result--ok", "aria-labelledby": "result-heading", "data-result": "issued" },
      h("div", { id: "result-heading" }, title("✓", "参保成功", "ok")),
      h("p", { class: "result__lead" }, `您已成功参保${order.product_name}，电子保单已生成。`),
      h("dl", { class: "facts result__facts" },
        policies.map((policy) => fact("保单号", longNumber(policy.policy_no),
          { "data-fact": "policy-no", class: "fact fact--stack" })),
        fact("被保险人", policies.map((p) => p.insured_name).join("、") || "—", { "data-fact": "insured" }),
        fact("保障方案", (order.lines || []).map((line) => line.tier_name).join("、"), { "data-fact": "tier" }),
        fact("实付金额", formatFen(order.payable_fen), { "data-fact": "paid" }),
        fact("支付方式", paidBy(order), { "data-fact": "method" }),
        coverage)),
    h("div", { class: "result__actions" },
      first ? h("a", { class: "btn btn--primary btn--block", href: policyPath(first.policy_no) }, "查看电子保单") : null,
      h("a", { class: "btn btn--block", href: POLICIES_PATH }, "我的保单"),
      order.payment_method === "personal_account"
        ? h("a", { class: "btn btn--block btn--quiet", href: ACCOUNT_PATH }, "查看个人账户扣款记录") : null),
    h("p", { class: "result__note" }, "保障期开始前可在电子保单页面申请退保，保费原路退回。"));
}

function showClosed(order) {
  forgetPendingOrder(order.order_no);
  const refunded = order.status === "refunded";
  show(
    h("section", { class: "card result", "aria-labelledby": "result-heading", "data-result": order.status },
      h("div", { id: "result-heading" }, title(refunded ? "—" : "!", refunded ? "已退保" : "订单已关闭", "off")),
      h("p", { class: "result__lead", "data-reason": true },
        refunded ? "该订单的保单已退保，保费已原路退回。" : (order.failure_reason || order.status_label || "订单已关闭")),
      h("p", { class: "result__note" }, refunded ? "" : "未扣除任何费用。如需参保，请重新提交。")),
    h("div", { class: "result__actions" },
      refunded
        ? h("a", { class: "btn btn--primary btn--block", href: POLICIES_PATH }, "我的保单")
        : h("a", { class: "btn btn--primary btn--block", href: ENROLL_PATH }, "重新参保"),
      h("a", { class: "btn btn--block btn--quiet", href: "/" }, "返回首页")));
}

async function cancelOrder(button) {
  setBusy(button, true, "正在取消…");
  try {
    const order = await api.post(`/enrollments/${encodeURIComponent(orderNo)}/cancel`);
    render(order);
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

function expiresText(order) {
  const when = new Date(order.expires_at);
  if (Number.isNaN(when.getTime())) return "";
  const time = new Intl.DateTimeFormat("zh-CN", {
    timeZone: "Asia/Shanghai", hour: "2-digit", minute: "2-digit", hour12: false,
  }).format(when);
  return `请在${time}前完成支付，超时订单将自动关闭。`;
}

function showUnpaid(order, { cancelled }) {
  const payUrl = safePayUrl(order.pay_url);
  const refresh = h("button", { type: "button", class: "btn btn--block" }, "刷新支付结果");
  refresh.addEventListener("click", () => {
    pollStarted = Date.now();
    pollCount = 0;
    check();
  });
  const cancel = h("button", { type: "button", class: "btn btn--block btn--quiet" }, "取消订单");
  cancel.addEventListener("click", () => cancelOrder(cancel));
  show(
    h("section", { class: "card result", "aria-labelledby": "result-heading", "data-result": "pending" },
      h("div", { id: "result-heading" },
        title("!", cancelled ? "您已取消支付" : "暂未收到支付结果", "warn")),
      h("p", { class: "result__lead" }, cancelled
        ? "订单尚未支付，您还没有参保。"
        : "如果您已经付款，请稍后点击“刷新支付结果”；请不要重复付款。"),
      h("dl", { class: "facts result__facts" },
        fact("订单号", longNumber(order.order_no), { class: "fact fact--stack" }),
        fact("应付金额", formatFen(order.payable_fen))),
      h("p", { class: "result__note" }, expiresText(order))),
    h("div", { class: "result__actions" },
      payUrl ? h("a", { class: "btn btn--primary btn--block", href: payUrl, "data-continue-pay": true },
        `继续支付 ${formatFen(order.payable_fen)}`) : null,
      cancelled ? null : refresh,
      cancel));
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
    if (order.status === "paid") setProgress("支付成功，正在出单", "正在生成电子保单，请稍候…");
    else if (waited > 8000) setProgress("正在确认支付结果", "支付结果确认时间较长，请稍候，不要重复付款…");
    else setProgress("正在确认支付结果", "请稍候，不要关闭页面…");
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
      pollStarted = Date.now();
      pollCount = 0;
      check();
    })?.focus();
    return;
  }
  render(order);
}

initPage();
rememberModeOnAccount();
if (!orderNo) {
  showError(stateBox, new ApiError({ status: 404, code: "not_found", message: "缺少订单号。请从“我的保单”查看参保结果。" }));
  content.hidden = true;
} else {
  pollStarted = Date.now();
  check();
}
