// 理赔审核详情 (insurer staff) ?no=: GET /admin/claims/{claim_no}: the bill, the documents (links
// and thumbnails), the computed breakdown (for an open claim: what approving now would pay), the
// record; decisions (POST …/decision with an Idempotency-Key) after a confirmation dialog.

import { api, ApiError, errorMessage } from "./api.js";
import { confirmDialog } from "./dialog.js";
import { h, replaceChildren } from "./dom.js";
import { formatFen } from "./format.js";
import { clearFieldError, clearFormAlert, setBusy, setFieldError, showFormAlert, showStatus } from "./forms.js";
import {
  billLines, claimChip, claimNumber, fact, formatInstant, renderBreakdown, renderDocuments,
  renderTimeline, staffRefusal, stay,
} from "./claim-common.js";
import { Intent } from "./intent.js";
import { initPage, loadInto, showError } from "./page.js";
import { redirectToLogin, rememberModeOnAccount } from "./session.js";

const claimNo = new URLSearchParams(window.location.search).get("no") || "";

const stateBox = document.getElementById("claim-state");
const content = document.getElementById("claim-content");
const titleEl = document.getElementById("claim-title");
const factsBody = document.getElementById("facts-body");
const documentsTitle = document.getElementById("documents-title");
const documentsBody = document.getElementById("documents-body");
const timelineBody = document.getElementById("timeline-body");
const payoutBody = document.getElementById("payout-body");
const decisionState = document.getElementById("decision-state");
const decisionForm = document.getElementById("decision-form");
const messageInput = document.getElementById("decision-message");
const actionsBox = document.getElementById("decision-actions");
const decisionStatus = document.getElementById("decision-status");
const alertBox = document.getElementById("decision-alert");

let claim = null;
let busy = false;

// What each decision is called, whether it needs a message, and what is said afterwards.
const DECISIONS = {
  start_review: { label: "开始审核", title: "开始审核？", confirm: "开始审核", tone: "", done: "已开始审核。" },
  approve: {
    label: "审核通过", title: "确认审核通过？", confirm: "确认通过", tone: "primary",
    done: "已审核通过，申请人会收到短信通知。",
  },
  request_supplement: {
    label: "要求补充材料", title: "确认要求补充材料？", confirm: "确认发送", tone: "",
    needsMessage: "请说明需要补充的材料", done: "已要求补充材料，申请人会收到短信通知。",
  },
  reject: {
    label: "拒赔", title: "确认拒赔？", confirm: "确认拒赔", tone: "danger",
    needsMessage: "请填写拒赔原因", done: "已拒赔，申请人会收到短信通知。",
  },
  mark_paid: {
    label: "确认已支付", title: "确认赔付款已支付？", confirm: "确认已支付", tone: "primary",
    done: "已确认支付，申请人会收到短信通知。",
  },
};

const ALLOWED = {
  submitted: ["approve", "request_supplement", "reject", "start_review"],
  under_review: ["approve", "request_supplement", "reject"],
  supplement_requested: ["approve", "request_supplement", "reject"],
  approved: ["mark_paid"],
  // An appeal is approved or the rejection upheld, by staff of another insurer.
  appealed: ["approve", "reject"],
};

function payoutPreview(c) {
  return c.breakdown ? formatFen(c.breakdown.total_fen) : null;
}

function renderFacts(c) {
  const items = c.items || [];
  replaceChildren(factsBody,
    h("dl", { class: "facts facts--wide" },
      fact("状态", claimChip(c.status, c.status_label), { "data-fact": "status" }),
      fact("理赔编号", claimNumber(c.claim_no), { "data-fact": "claim-no" }),
      fact("办理方式", c.channel_label, { "data-fact": "channel" }),
      fact("被保险人", `${c.insured_name}（${c.insured_id_number}）`, { "data-fact": "insured" }),
      fact("保单", [claimNumber(c.policy_no), h("span", { class: "fact__note" }, ` ${c.product_name} · ${c.tier_name}`)],
        { "data-fact": "policy" }),
      fact("医院", c.hospital_name, { "data-fact": "hospital" }),
      fact("住院日期", stay(c.admitted_on, c.discharged_on), { "data-fact": "stay" }),
      fact("医保范围内个人负担", formatFen(c.in_policy_self_pay_fen), { "data-fact": "in-policy" }),
      fact("医保范围外项目", items.length ? billLines(items) : "无", { "data-fact": "items" }),
      fact("费用合计", formatFen(c.claimed_fen), { "data-fact": "claimed", class: "fact fact--key" }),
      fact("提交时间", formatInstant(c.created_at), { "data-fact": "created" }),
      c.reject_reason ? fact("拒赔原因", c.reject_reason, { "data-fact": "reject-reason" }) : null));
}

function renderPayout(c) {
  if (!c.breakdown) {
    replaceChildren(payoutBody, h("p", { class: "card__lead" },
      c.status === "rejected" ? "已拒赔，没有赔付。" : "暂无计算结果。"));
    return;
  }
  replaceChildren(payoutBody,
    c.breakdown_is_estimate
      ? h("p", { class: "staff-estimate", "data-estimate": true },
        h("span", { "aria-hidden": "true" }, "! "),
        "预估：现在审核通过将按此赔付。免赔额和封顶线按审核通过的先后扣减，以通过时的计算为准。")
      : null,
    renderBreakdown(c.breakdown, { figures: true, totalLabel: c.breakdown_is_estimate ? "预计赔付" : "赔付金额" }));
}

function decisionButton(decision) {
  const spec = DECISIONS[decision];
  const tone = spec.tone === "primary" ? " btn--primary" : spec.tone === "danger" ? " btn--danger" : "";
  const label = decision === "mark_paid" && claim.payout_fen !== null ? `${spec.label} ${formatFen(claim.payout_fen)}` : spec.label;
  const button = h("button", { type: "button", class: `btn btn--block${tone}`, "data-decision": decision }, label);
  button.addEventListener("click", () => decide(decision, button));
  return button;
}

function appealNote(c) {
  const by = c.appeal_rejected_by_insurer;
  const who = c.second_decider === "supervisor"
    ? `${by ? `原拒赔由${by}作出。` : ""}本产品仅有一家承保机构，须由该机构的复核主管（原审核人以外）复核`
    : by ? `原拒赔由${by}作出，须由另一家共保机构的工作人员复核` : "须由共保机构的工作人员复核";
  return h("div", { class: "callout callout--tight", "data-appeal-note": true },
    h("p", { class: "callout__title" },
      h("span", { class: "callout__icon", "aria-hidden": "true" }, "!"), "申请人对拒赔提出申诉"),
    h("p", { class: "callout__text" }, `申诉理由：${c.appeal?.reason || ""}`),
    h("p", { class: "callout__text" }, `${who}：审核通过，或维持拒赔（须填写原因）。`));
}

function renderDecision(c) {
  const allowed = ALLOWED[c.status] || [];
  decisionForm.hidden = !allowed.length;
  if (!allowed.length) {
    actionsBox.replaceChildren();
    const text = c.status === "settled"
      ? "医院一站式结算的理赔已直接赔付，无需审核。"
      : "该理赔已办结，无需处理。";
    replaceChildren(decisionState,
      h("p", { class: "decision__current" }, "当前状态：", claimChip(c.status, c.status_label)),
      h("p", { class: "card__lead" }, text));
    return;
  }
  const waiting = c.status === "supplement_requested"
    ? h("p", { class: "card__lead" }, "正在等待申请人补充材料；申请人上传后，理赔会自动回到审核中。")
    : c.status === "appealed" ? appealNote(c) : null;
  replaceChildren(decisionState,
    h("p", { class: "decision__current" }, "当前状态：", claimChip(c.status, c.status_label)),
    waiting);
  messageInput.closest(".field").hidden = c.status === "approved";
  replaceChildren(actionsBox, allowed.map(decisionButton));
}

function render(c) {
  claim = c;
  titleEl.textContent = `理赔审核：${c.claim_no}`;
  document.title = `理赔审核 ${c.claim_no} - 惠民保`;
  renderFacts(c);
  const count = c.documents?.length || 0;
  documentsTitle.textContent = `材料（${count}份）`;
  replaceChildren(documentsBody, renderDocuments(c.documents, { thumbnails: true }));
  replaceChildren(timelineBody, renderTimeline(c.timeline));
  renderPayout(c);
  renderDecision(c);
}

function confirmBody(decision, message) {
  const parts = [];
  if (decision === "approve") {
    parts.push(h("p", {}, `按当前计算赔付 ${payoutPreview(claim) || "（以通过时的计算为准）"}。免赔额和封顶线以通过时的计算为准。`));
  } else if (decision === "mark_paid") {
    parts.push(h("p", {}, `确认赔付款 ${formatFen(claim.payout_fen ?? 0)} 已支付给申请人？确认后理赔办结。`));
  } else if (decision === "reject") {
    parts.push(h("p", {}, "拒赔后理赔办结，申请人不能再补充材料。"));
  } else if (decision === "request_supplement") {
    parts.push(h("p", {}, "申请人补充材料后，理赔会回到审核中。"));
  } else {
    parts.push(h("p", {}, "理赔将进入“审核中”。"));
  }
  if (message) parts.push(h("p", { class: "dialog__quote" }, `给申请人的说明：${message}`));
  parts.push(h("p", {}, "申请人会收到短信通知。"));
  return parts;
}

async function decide(decision, button) {
  if (busy) return;
  const spec = DECISIONS[decision];
  clearFormAlert(alertBox);
  decisionStatus.replaceChildren();
  clearFieldError(messageInput);
  const message = messageInput.closest(".field").hidden ? "" : messageInput.value.trim();
  if (spec.needsMessage && !message) {
    setFieldError(messageInput, spec.needsMessage);
    messageInput.focus();
    return;
  }
  const ok = await confirmDialog({
    title: spec.title,
    body: confirmBody(decision, message),
    confirmText: spec.confirm,
    cancelText: "返回",
    tone: spec.tone === "danger" ? "danger" : "",
  });
  if (!ok) return;
  const body = { decision, message: message || null };
  const intent = new Intent(`claim-decision:${claim.claim_no}:${decision}`);
  const key = intent.keyFor(body);
  busy = true;
  setBusy(button, true, "正在提交…");
  let updated;
  try {
    updated = await api.post(`/admin/claims/${encodeURIComponent(claim.claim_no)}/decision`, body,
      { idempotencyKey: key, timeoutMs: 30000 });
  } catch (error) {
    intent.settle(error);
    busy = false;
    setBusy(button, false);
    if (error instanceof ApiError && error.status === 401) {
      redirectToLogin();
      return;
    }
    const fieldMessage = error instanceof ApiError ? error.fieldMessage("message") : "";
    if (fieldMessage) {
      setFieldError(messageInput, fieldMessage);
      messageInput.focus();
      return;
    }
    showFormAlert(alertBox, errorMessage(error));
    if (error instanceof ApiError && error.status === 409) await reload();
    return;
  }
  intent.settle();
  busy = false;
  messageInput.value = "";
  render(updated);
  showStatus(decisionStatus, spec.done);
  const heading = document.getElementById("decision-title");
  heading.setAttribute("tabindex", "-1");
  heading.focus();
}

async function reload() {
  try {
    render(await api.get(`/admin/claims/${encodeURIComponent(claimNo)}`));
  } catch {
    /* keep what is shown */
  }
}

function load() {
  if (!claimNo) {
    content.hidden = true;
    showError(stateBox, new ApiError({ status: 404, code: "not_found", message: "缺少理赔编号，请从审核队列进入。" }));
    return Promise.resolve();
  }
  return loadInto({
    box: stateBox, content, fetch: () => api.get(`/admin/claims/${encodeURIComponent(claimNo)}`),
    onError: (error) => staffRefusal(stateBox, error),
    render,
  });
}

initPage();
rememberModeOnAccount();
load();
