// 为家人投保结果: GET /enrollments/{order_no} (polled while the payment is being confirmed), then
// each insured person's outcome: name and relation, tier, amount and their own policy number with
// a link to the e-policy. All or nothing: a closed order says that nobody was charged.

import { api, ApiError } from "./api.js";
import { h, replaceChildren } from "./dom.js";
import { formatFen } from "./format.js";
import { setBusy } from "./forms.js";
import {
  ACCOUNT_PATH, fact, forgetPendingOrder, longNumber, policyPath, POLICIES_PATH, safePayUrl,
} from "./insurance.js";
import { clearState, initPage, showError, showLoading } from "./page.js";
import { isLoggedOut, redirectToLogin, rememberModeOnAccount } from "./session.js";

const FAMILY_PATH = "/family.html";
const FAMILY_ENROLL_PATH = "/family-enroll.html";
const RELATION_LABELS = { self: "本人", spouse: "配偶", child: "子女", parent: "父母" };
const PAID_BY = { personal_account: "医保个人账户", online: "微信支付", subsidy: "政府资助" };

const POLL_DELAYS_MS = [700, 1000, 1000, 1500, 1500, 2000, 2000, 2000, 3000];
const POLL_LIMIT_MS = 60000;

const orderNo = new URLSearchParams(window.location.search).get("order_no") || "";

const stateBox = document.getElementById("result-state");
const progressBox = document.getElementById("result-progress");
const progressTitle = document.getElementById("progress-title");
const progressText = document.getElementById("progress-text");
const content = document.getElementById("result-content");

let pollStarted = 0;
let pollCount = 0;
let pollTimer = null;

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

function paidBy(order) {
  if (order.payable_fen === 0) return "政府资助（无需支付）";
  return PAID_BY[order.payment_method] || order.payment_method;
}

/**
 * Each order line with its policy. The policies come in the order of the lines (one per person);
 * matched by position when every line has one, else by the masked name.
 */
function outcomes(order) {
  const lines = order.lines || [];
  const policies = order.policies || [];
  const byPosition = policies.length === lines.length;
  const unused = [...policies];
  return lines.map((line, index) => {
    let policy = null;
    if (byPosition) policy = policies[index];
    else {
      const at = unused.findIndex((p) => p.insured_name === line.name);
      if (at >= 0) policy = unused.splice(at, 1)[0];
    }
    return { line, policy };
  });
}

function outcomeItem({ line, policy }, issued) {
  const relation = RELATION_LABELS[line.relation] || "";
  const headingId = `outcome-${line.person_id}`;
  return h("li", { class: "outcome", "data-outcome": line.person_id },
    h("article", { "aria-labelledby": headingId },
      h("div", { class: "outcome__head" },
        h("h3", { class: "outcome__name", id: headingId },
          line.name, " ", h("span", { class: "member__relation" }, relation)),
        issued && policy
          ? h("p", { class: "status-pill status-pill--ok", "data-status": "issued" },
            h("span", { "aria-hidden": "true" }, "✓"), "已出单")
          : h("p", { class: "status-pill status-pill--off", "data-status": "none" },
            h("span", { "aria-hidden": "true" }, "—"), "未参保")),
      h("dl", { class: "facts" },
        fact("保障方案", line.tier_name, { "data-fact": "tier" }),
        fact("保费", formatFen(line.payable_fen), { "data-fact": "amount" }),
        policy ? fact("保单号", longNumber(policy.policy_no), { "data-fact": "policy-no", class: "fact fact--stack" }) : null),
      policy
        ? h("a", { class: "btn btn--small outcome__link", href: policyPath(policy.policy_no) },
          "查看电子保单", h("span", { class: "visually-hidden" }, `（${line.name}）`))
        : null));
}

function showIssued(order) {
  forgetPendingOrder(order.order_no);
  const items = outcomes(order);
  show(
    h("section", { class: "card result result--ok", "aria-labelledby": "result-heading", "data-result": "issued" },
      h("div", { id: "result-heading" }, title("✓", "参保成功", "ok")),
      h("p", { class: "result__lead" },
        `已为${items.length}人参保${order.product_name}，每人一份电子保单。`),
      h("dl", { class: "facts result__facts" },
        fact("实付合计", formatFen(order.payable_fen), { "data-fact": "paid" }),
        fact("支付方式", paidBy(order), { "data-fact": "method" }))),
    h("section", { class: "card", "aria-labelledby": "outcomes-title" },
      h("h2", { class: "card__title", id: "outcomes-title" }, "每人的参保结果"),
      h("ul", { class: "outcomes", role: "list" }, items.map((item) => outcomeItem(item, true)))),
    h("div", { class: "result__actions" },
      h("a", { class: "btn btn--primary btn--block", href: POLICIES_PATH }, "我的保单"),
      h("a", { class: "btn btn--block", href: FAMILY_PATH }, "查看家人参保状态"),
      order.payment_method === "personal_account"
        ? h("a", { class: "btn btn--block btn--quiet", href: ACCOUNT_PATH }, "查看个人账户扣款记录") : null),
    h("p", { class: "result__note" },
      "已成年的家人会收到短信通知。保障期开始前可在电子保单页面申请退保，保费原路退回。"));
}

function showClosed(order) {
  forgetPendingOrder(order.order_no);
  const refunded = order.status === "refunded";
  show(
    h("section", { class: "card result", "aria-labelledby": "result-heading", "data-result": order.status },
      h("div", { id: "result-heading" }, title(refunded ? "—" : "!", refunded ? "已退保" : "订单已关闭", "off")),
      h("p", { class: "result__lead", "data-reason": true },
        refunded ? "该订单的保单已退保，保费已原路退回。" : (order.failure_reason || order.status_label || "订单已关闭")),
      refunded ? null : h("p", { class: "result__lead" }, "未扣除任何费用，以下家人都没有参保。")),
    refunded ? null : h("section", { class: "card", "aria-labelledby": "outcomes-title" },
      h("h2", { class: "card__title", id: "outcomes-title" }, "每人的参保结果"),
      h("ul", { class: "outcomes", role: "list" }, outcomes(order).map((item) => outcomeItem(item, false)))),
    h("div", { class: "result__actions" },
      h("a", { class: "btn btn--primary btn--block", href: refunded ? POLICIES_PATH : FAMILY_ENROLL_PATH },
        refunded ? "我的保单" : "重新选择"),
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
    check();
  }
}

function showUnpaid(order) {
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
      h("div", { id: "result-heading" }, title("!", "暂未收到支付结果", "warn")),
      h("p", { class: "result__lead" }, "如果您已经付款，请稍后点击“刷新支付结果”；请不要重复付款。"),
      h("dl", { class: "facts result__facts" },
        fact("订单号", longNumber(order.order_no), { class: "fact fact--stack" }),
        fact("应付合计", formatFen(order.payable_fen)))),
    h("div", { class: "result__actions" },
      payUrl ? h("a", { class: "btn btn--primary btn--block", href: payUrl }, `继续支付 ${formatFen(order.payable_fen)}`) : null,
      refresh,
      order.payment_method === "online" ? cancel : null));
}

function render(order) {
  if (order.status === "issued" || (order.status === "paid" && order.policies?.length)) {
    showIssued(order);
    return;
  }
  if (order.status === "pending_payment" || order.status === "paid") {
    const waited = Date.now() - pollStarted;
    if (waited > POLL_LIMIT_MS) {
      showUnpaid(order);
      return;
    }
    clearState(stateBox);
    content.hidden = true;
    progressBox.hidden = false;
    progressTitle.textContent = order.status === "paid" ? "支付成功，正在出单" : "正在确认支付结果";
    progressText.textContent = "请稍候，不要关闭页面，也不要重复付款…";
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
    const transient = !(error instanceof ApiError) || error.status === 0 || error.status >= 500;
    if (transient && pollCount > 0 && Date.now() - pollStarted < POLL_LIMIT_MS) {
      clearTimeout(pollTimer);
      pollTimer = setTimeout(check, 2000);
      return;
    }
    progressBox.hidden = true;
    content.hidden = true;
    showError(stateBox, error, error instanceof ApiError && error.status === 404 ? null : () => {
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
} else {
  pollStarted = Date.now();
  check();
}
