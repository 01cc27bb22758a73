// Pieces shared by the complaint pages (the person's and the staff queue): status in words and a
// shape (never colour alone), the deadline, and the replies as a timeline.

import { fact, h, paragraphs } from "./dom.js";
import { formatInstant, formatInstantDate } from "./format.js";

export function complaintPath(number) {
  return `/complaint.html?no=${encodeURIComponent(number)}`;
}

/** An instant as it was in China: "2027年1月11日 10:00" (format.js's formatInstant). */
export const chinaDateTime = formatInstant;

/** The last day a complaint may take: due_at is midnight after it (China time). */
export function lastDay(dueIso) {
  const due = new Date(String(dueIso ?? ""));
  if (Number.isNaN(due.getTime())) return "";
  return formatInstantDate(new Date(due.getTime() - 1000).toISOString());
}

export function complaintStatus(complaint) {
  const tone = complaint.status === "resolved" ? "ok" : complaint.overdue ? "warn" : "off";
  const icon = tone === "ok" ? "✓" : tone === "warn" ? "!" : "…";
  return h("p", { class: `status-pill status-pill--${tone}`, "data-status": complaint.status },
    h("span", { "aria-hidden": "true" }, icon), complaint.status_label);
}

export function overduePill(complaint) {
  if (!complaint.overdue) return null;
  return h("p", { class: "status-pill status-pill--warn", "data-overdue": true },
    h("span", { "aria-hidden": "true" }, "!"), "已超时");
}

export { fact };

export function complaintFacts(complaint, { staff = false } = {}) {
  return [
    fact("投诉编号", h("span", { class: "mono" }, complaint.complaint_no), { "data-fact": "number" }),
    fact("投诉类别", complaint.category_label, { "data-fact": "category" }),
    staff ? fact("投诉人", complaint.complainant_name, { "data-fact": "complainant" }) : null,
    complaint.filed_by_agent ? fact("提交方式", "亲友代为提交", { "data-fact": "agent" }) : null,
    complaint.policy_no ? fact("保单号", h("span", { class: "mono" }, complaint.policy_no)) : null,
    complaint.claim_no ? fact("理赔编号", h("span", { class: "mono" }, complaint.claim_no)) : null,
    fact("提交时间", chinaDateTime(complaint.created_at), { "data-fact": "created" }),
    complaint.resolved_at
      ? fact("办结时间", chinaDateTime(complaint.resolved_at), { "data-fact": "resolved" })
      : fact("答复时限", `${lastDay(complaint.due_at)}前`, { "data-fact": "due" }),
  ];
}

export function replyItems(complaint, emptyText = "工作人员尚未回复。答复后我们会短信提醒您。") {
  const replies = complaint.replies || [];
  if (!replies.length) return [h("li", { class: "reply reply--empty" }, emptyText)];
  return replies.map((reply) => h("li", { class: "reply", "data-reply": true },
    h("p", { class: "reply__meta" },
      h("span", { class: "reply__author" }, reply.author_label),
      h("span", {}, chinaDateTime(reply.created_at)),
      h("span", { class: "reply__status" }, `状态：${reply.to_status_label}`)),
    h("div", { class: "reply__message" }, paragraphs(reply.message))));
}
