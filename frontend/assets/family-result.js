// 为家人投保结果: GET /enrollments/{order_no} (polled while the payment is being confirmed), then
// each insured person's outcome: name and relation, tier, amount and their own policy number with
// a link to the e-policy. All or nothing: a closed order says that nobody was charged.
//
// The polling, the unpaid and the closed order are order-result.js (shared with 参保结果); this
// file says how each person's outcome reads.

import { h } from "./dom.js";
import { formatFen } from "./format.js";
import {
  FAMILY_ENROLL_PATH, FAMILY_PATH, fact, longNumber, policyPath, POLICIES_PATH, RELATION_LABELS,
} from "./insurance.js";
import { accountLink, issuedCard, paidBy, startResultPage } from "./order-result.js";

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

function outcomeItem({ line, policy }, isIssued) {
  const relation = RELATION_LABELS[line.relation] || "";
  const headingId = `outcome-${line.person_id}`;
  return h("li", { class: "outcome", "data-outcome": line.person_id },
    h("article", { "aria-labelledby": headingId },
      h("div", { class: "outcome__head" },
        h("h3", { class: "outcome__name", id: headingId },
          line.name, " ", h("span", { class: "member__relation" }, relation)),
        isIssued && policy
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

function outcomesCard(order, isIssued) {
  return h("section", { class: "card", "aria-labelledby": "outcomes-title" },
    h("h2", { class: "card__title", id: "outcomes-title" }, "每人的参保结果"),
    h("ul", { class: "outcomes", role: "list" }, outcomes(order).map((item) => outcomeItem(item, isIssued))));
}

function issued(order) {
  return [
    issuedCard(`已为${(order.lines || []).length}人参保${order.product_name}，每人一份电子保单。`, [
      fact("实付合计", formatFen(order.payable_fen), { "data-fact": "paid" }),
      fact("支付方式", paidBy(order, "政府资助（无需支付）"), { "data-fact": "method" }),
    ]),
    outcomesCard(order, true),
    h("div", { class: "result__actions" },
      h("a", { class: "btn btn--primary btn--block", href: POLICIES_PATH }, "我的保单"),
      h("a", { class: "btn btn--block", href: FAMILY_PATH }, "查看家人参保状态"),
      accountLink(order)),
    h("p", { class: "result__note" },
      "已成年的家人会收到短信通知。保障期开始前可在电子保单页面申请退保，保费原路退回。"),
  ];
}

function closed(order, refunded) {
  return {
    note: refunded ? null : h("p", { class: "result__lead" }, "未扣除任何费用，以下家人都没有参保。"),
    after: refunded ? null : outcomesCard(order, false),
    again: [FAMILY_ENROLL_PATH, "重新选择"],
  };
}

function progress(order) {
  return [order.status === "paid" ? "支付成功，正在出单" : "正在确认支付结果",
    "请稍候，不要关闭页面，也不要重复付款…"];
}

startResultPage({
  issued,
  closed,
  progress,
  amountLabel: "应付合计",
  cancellable: (order) => order.payment_method === "online",
});
