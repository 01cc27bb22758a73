// Words and small pieces shared by the enrollment, policy and account pages.

import { h } from "./dom.js";

export const ENROLL_PATH = "/enroll.html";
export const RESULT_PATH = "/enrollment-result.html";
export const POLICIES_PATH = "/policies.html";
export const ACCOUNT_PATH = "/account.html";

export function policyPath(policyNo) {
  return `/policy.html?no=${encodeURIComponent(policyNo)}`;
}

/** The PDF e-policy and premium receipt (downloads; an agent's grant is checked by the server). */
export function epolicyPdfPath(policyNo) {
  return `/api/v1/policies/${encodeURIComponent(policyNo)}/epolicy.pdf`;
}

export function receiptPdfPath(policyNo) {
  return `/api/v1/policies/${encodeURIComponent(policyNo)}/receipt.pdf`;
}

export function resultPath(orderNo) {
  return `${RESULT_PATH}?order_no=${encodeURIComponent(orderNo)}`;
}

// 家人 and 为家人投保 (one's own family: bought from one's own account, never while acting).
export const FAMILY_PATH = "/family.html";
export const FAMILY_ENROLL_PATH = "/family-enroll.html";
export const FAMILY_RESULT_PATH = "/family-result.html";
export const RELATION_LABELS = { self: "本人", spouse: "配偶", child: "子女", parent: "父母" };

export function familyResultPath(orderNo) {
  return `${FAMILY_RESULT_PATH}?order_no=${encodeURIComponent(orderNo)}`;
}

export const METHOD_LABELS = {
  personal_account: "医保个人账户",
  online: "在线支付（微信支付）",
  subsidy: "政府资助",
};

export const BALANCE_NAMES = { prior_years: "历年账户", current_year: "当年账户" };

export function balanceNames(codes) {
  return (codes || []).map((code) => BALANCE_NAMES[code]).filter(Boolean).join("、");
}

/** Where a refund goes back to, said in words (DESIGN §5: always to the source it came from). */
export function refundDestination(paymentMethod) {
  if (paymentMethod === "personal_account") return "原路退回您的医保个人账户（历年账户）";
  if (paymentMethod === "online") return "原路退回您的微信支付账户";
  return "政府资助资格将恢复，本单无自付费用，无需退款";
}

/** A status with a shape and words, never colour alone: ✓ for good, ! for attention, — for ended. */
export function statusPill(text, tone) {
  const icon = tone === "ok" ? "✓" : tone === "warn" ? "!" : "—";
  return h("p", { class: `status-pill status-pill--${tone}` },
    h("span", { "aria-hidden": "true" }, icon), text);
}

export function validityTone(policy) {
  if (policy.status !== "active") return "off";
  return String(policy.validity || "").startsWith("有效") ? "ok" : "off";
}

export { dateRange } from "./format.js";

/**
 * A long number (policy, order, refund) in groups of four, which may wrap only between groups:
 * easier to read out and to compare. The groups are spaced by CSS, so the text stays one string
 * when copied or read by a screen reader.
 */
export function longNumber(text) {
  const value = String(text ?? "");
  const groups = value.match(/.{1,4}/g) || [];
  const children = [];
  groups.forEach((group, index) => {
    if (index) children.push(h("wbr"));
    children.push(h("span", { class: "long-number__group" }, group));
  });
  return h("span", { class: "mono long-number" }, children);
}

export { fact } from "./dom.js";

// ---------------------------------------------------------------- an unpaid online order
//
// After 确认支付 with online payment the order waits for the gateway. If the person comes back to
// the enrollment page instead (the back button), the server answers pending_order without naming
// the order; this phone remembers it so the page can offer 继续支付 / 取消订单.

const PENDING_KEY = "huiminbao.pendingOrder"; // session.js logout() clears it too

export function rememberPendingOrder(order) {
  try {
    localStorage.setItem(PENDING_KEY, JSON.stringify({
      order_no: order.order_no, pay_url: order.pay_url, payable_fen: order.payable_fen,
    }));
  } catch {
    /* not kept: the page still explains what to do */
  }
}

export function pendingOrder() {
  try {
    const saved = JSON.parse(localStorage.getItem(PENDING_KEY) || "null");
    return saved && typeof saved.order_no === "string" ? saved : null;
  } catch {
    return null;
  }
}

export function forgetPendingOrder(orderNo) {
  try {
    const saved = pendingOrder();
    if (!orderNo || saved?.order_no === orderNo) localStorage.removeItem(PENDING_KEY);
  } catch {
    /* nothing to forget */
  }
}

/** A pay_url from the API as an address to go to: http(s) only, never javascript: and the like. */
export function safePayUrl(url) {
  if (typeof url !== "string") return null;
  try {
    const target = new URL(url, window.location.origin);
    if (target.protocol !== "http:" && target.protocol !== "https:") return null;
    return target.href;
  } catch {
    return null;
  }
}
