// 参保结果: GET /enrollments/{order_no} until the order is issued (or closed). The server settles
// a pending online order by asking the gateway, so polling is all the page has to do. The gateway
// sends people back here, with &cancelled=1 when they pressed 取消 on its page.
//
// The polling, the unpaid and the closed order are order-result.js (shared with 为家人投保结果);
// this file says how one person's issued order reads: the policy, its coverage period and status.

import { api } from "./api.js";
import { h } from "./dom.js";
import { formatFen } from "./format.js";
import { dateRange, ENROLL_PATH, fact, longNumber, policyPath, POLICIES_PATH } from "./insurance.js";
import { accountLink, issuedCard, paidBy, startResultPage } from "./order-result.js";

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

async function issued(order) {
  const policies = order.policies || [];
  const first = policies[0];
  const coverage = first ? await coverageFacts(first.policy_no) : null;
  return [
    issuedCard(`您已成功参保${order.product_name}，电子保单已生成。`, [
      policies.map((policy) => fact("保单号", longNumber(policy.policy_no),
        { "data-fact": "policy-no", class: "fact fact--stack" })),
      fact("被保险人", policies.map((p) => p.insured_name).join("、") || "—", { "data-fact": "insured" }),
      fact("保障方案", (order.lines || []).map((line) => line.tier_name).join("、"), { "data-fact": "tier" }),
      fact("实付金额", formatFen(order.payable_fen), { "data-fact": "paid" }),
      fact("支付方式", paidBy(order, "政府资助（本人无需支付）"), { "data-fact": "method" }),
      coverage,
    ]),
    h("div", { class: "result__actions" },
      first ? h("a", { class: "btn btn--primary btn--block", href: policyPath(first.policy_no) }, "查看电子保单") : null,
      h("a", { class: "btn btn--block", href: POLICIES_PATH }, "我的保单"),
      accountLink(order)),
    h("p", { class: "result__note" }, "保障期开始前可在电子保单页面申请退保，保费原路退回。"),
  ];
}

function closed(order, refunded) {
  return {
    note: h("p", { class: "result__note" }, refunded ? "" : "未扣除任何费用。如需参保，请重新提交。"),
    again: [ENROLL_PATH, "重新参保"],
  };
}

startResultPage({ issued, closed, amountLabel: "应付金额" });
