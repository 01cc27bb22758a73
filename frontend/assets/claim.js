// 理赔详情 ?no=: GET /claims/{claim_no}: the status in words, the payout and its breakdown in
// plain Chinese, the bill, the documents, the timeline (oldest first) and, while the claim is
// open (can_upload), 上传材料 / 补充材料 (POST /claims/{claim_no}/documents); once it is closed
// (paid, refused, settled), 满意度评价 (rating.js; GET / POST /claims/{claim_no}/rating).
//
// Never sends X-Acting-For: an agent holding claims_view reads the claim without it.

import { api, ApiError, errorMessage } from "./api.js";
import { h, replaceChildren } from "./dom.js";
import { formatFen, formatInstant } from "./format.js";
import { clearFieldError, clearFormAlert, setBusy, setFieldError, showApiError, showStatus } from "./forms.js";
import {
  billLines, claimChip, claimNumber, ESTIMATE_PATH, fact, fileProblem, latestMessage,
  renderBreakdown, renderDocuments, renderTimeline, channelText, paidAtPharmacy, statusExplained, stay, uploadDocument,
} from "./claim-common.js";
import { initPage, loadInto, showMissing } from "./page.js";
import { renderRating } from "./rating.js";
import { isLoggedOut, redirectToLogin, rememberModeOnAccount } from "./session.js";

const params = new URLSearchParams(window.location.search);
const claimNo = params.get("no") || "";

const stateBox = document.getElementById("claim-state");
const content = document.getElementById("claim-content");
const statusSlot = document.getElementById("claim-status-slot");
const summary = document.getElementById("claim-summary");
const uploadCard = document.getElementById("upload-card");
const uploadTitle = document.getElementById("upload-title");
const uploadRequest = document.getElementById("upload-request");
const uploadStatus = document.getElementById("upload-status");
const cameraInput = document.getElementById("upload-camera");
const fileInput = document.getElementById("upload-file");
const uploadHint = document.getElementById("upload-hint");
const payoutBody = document.getElementById("payout-body");
const billBody = document.getElementById("bill-body");
const documentsCard = document.getElementById("documents-card");
const documentsTitle = document.getElementById("documents-title");
const documentsBody = document.getElementById("documents-body");
const timelineBody = document.getElementById("timeline-body");
const noticeText = document.getElementById("claim-notice");
const alertBox = document.getElementById("claim-alert");
const appealCard = document.getElementById("appeal-card");
const appealBody = document.getElementById("appeal-body");
const appealForm = document.getElementById("appeal-form");
const appealReason = document.getElementById("appeal-reason");
const appealAlert = document.getElementById("appeal-alert");
const appealSubmit = document.getElementById("appeal-submit");
const appealStatus = document.getElementById("appeal-status");
const ratingBox = document.getElementById("rating-box");

// An appeal's state with a shape and words (never colour alone).
const APPEAL_ICONS = { pending: "…", upheld: "✕", overturned: "✓" };
const APPEAL_TONES = { pending: "wait", upheld: "off", overturned: "ok" };

let claim = null;
let uploading = false;

function renderSummary(c) {
  const explained = c.status === "rejected" && c.reject_reason
    ? `本次理赔未予赔付。原因：${c.reject_reason}`
    : statusExplained(c);
  const paid = c.payout_fen !== null && c.payout_fen !== undefined;
  replaceChildren(summary,
    h("h2", { class: "visually-hidden", id: "summary-title" }, "理赔状态"),
    h("div", { class: "claim-summary__head" },
      claimChip(c.status, c.status_label, { large: true, tag: "p" }),
      h("p", { class: "claim-summary__channel" }, channelText(c))),
    h("p", { class: "claim-summary__text", "data-status-text": true }, explained),
    paid ? h("div", { class: "claim-summary__payout", "data-payout-total": true },
      h("p", { class: "claim-summary__payout-label" },
        paidAtPharmacy(c) ? "惠民保已赔付（购药时已在柜台抵扣）"
          : c.status === "settled" ? "惠民保已赔付（已抵扣住院费用）" : "赔付金额"),
      h("p", { class: "claim-summary__payout-amount" }, formatFen(c.payout_fen))) : null,
    c.payout ? h("p", { class: `claim-summary__text payout-status payout-status--${c.payout.status}`, "data-payout-status": c.payout.status },
      `赔款支付：${c.payout.status_label}`) : null,
    c.clock ? h("p", { class: `claim-summary__text${c.clock.overdue ? " is-overdue" : ""}`, "data-clock": c.clock.stage },
      c.clock.text) : null,
    h("dl", { class: "facts" },
      fact("理赔编号", claimNumber(c.claim_no), { "data-fact": "claim-no", class: "fact fact--stack" })));
}

function renderPayout(c) {
  if (c.breakdown) {
    replaceChildren(payoutBody,
      renderBreakdown(c.breakdown, { totalLabel: c.status === "settled" || c.status === "paid" ? "合计赔付" : "赔付金额" }),
      h("p", { class: "payout-note" },
        `按${c.product_name}${c.tier_name}计算：先扣除本年度尚未用完的免赔额，再按比例赔付，不超过本年度封顶线。`));
    return;
  }
  const text = c.status === "rejected"
    ? "本次理赔未予赔付，没有赔付明细。"
    : "保险公司审核通过后，这里会列出每一项费用怎么算、扣了多少免赔额、赔付多少。";
  replaceChildren(payoutBody,
    h("p", { class: "card__lead", "data-no-breakdown": true }, text),
    c.status === "rejected" ? null : h("p", {},
      h("a", { class: "text-link", href: ESTIMATE_PATH }, "先估算大概能赔多少")));
}

function renderBill(c) {
  const items = c.items || [];
  replaceChildren(billBody,
    h("dl", { class: "facts facts--wide" },
      fact("被保险人", c.insured_name, { "data-fact": "insured" }),
      c.kind_label ? fact("理赔类型", c.kind_label, { "data-fact": "kind" }) : null,
      fact(c.kind === "special_drug" ? "药店" : "医院", c.hospital_name, { "data-fact": "hospital" }),
      fact(c.kind && c.kind !== "inpatient" ? "就诊日期" : "住院日期", stay(c.admitted_on, c.discharged_on), { "data-fact": "stay" }),
      c.payee ? fact("收款账户", `${c.payee.kind_label} ${c.payee.holder_name} · ${c.payee.bank_name} ${c.payee.card}`, { "data-fact": "payee" }) : null,
      c.documents_needed?.length ? fact("所需材料", c.documents_needed.join("、"), { "data-fact": "documents-needed" }) : null,
      fact("保障方案", `${c.product_name} · ${c.tier_name}`, { "data-fact": "product" }),
      fact("医保范围内个人负担", formatFen(c.in_policy_self_pay_fen), { "data-fact": "in-policy" }),
      items.length ? fact("医保范围外项目", billLines(items), { "data-fact": "items" }) : null,
      fact("费用合计", formatFen(c.claimed_fen), { "data-fact": "claimed", class: "fact fact--key" }),
      fact("保单号", claimNumber(c.policy_no), { "data-fact": "policy-no", class: "fact fact--stack" })));
}

function renderUpload(c) {
  uploadCard.hidden = !c.can_upload;
  if (!c.can_upload) return;
  const supplement = c.status === "supplement_requested";
  uploadTitle.textContent = supplement ? "补充材料" : "上传材料";
  uploadCard.classList.toggle("card--attention", supplement);
  const message = supplement ? latestMessage(c.timeline, "supplement_requested") : "";
  replaceChildren(uploadRequest, supplement
    ? h("div", { class: "callout callout--tight", "data-supplement": true },
      h("p", { class: "callout__title" },
        h("span", { class: "callout__icon", "aria-hidden": "true" }, "!"), "保险公司请您补充材料"),
      message ? h("p", { class: "callout__text", "data-supplement-message": true }, message) : null,
      h("p", { class: "callout__text" }, "上传后，理赔会重新进入审核。"))
    : h("p", { class: "card__lead" }, "审核完成前，可以继续上传材料。"));
  uploadHint.textContent = "支持 JPG、PNG 照片和 PDF 文件，单个不超过10MB。选好后立即上传。";
}

function renderAppeal(c) {
  appealCard.hidden = !c.can_appeal && !c.appeal;
  appealForm.hidden = !c.can_appeal;
  const a = c.appeal;
  replaceChildren(appealBody, a
    ? h("dl", { class: "facts", "data-appeal": a.state },
      fact("申诉结果", h("span", { class: `claim-chip claim-chip--${APPEAL_TONES[a.state]}`, "data-appeal-state": a.state },
        h("span", { class: "claim-chip__icon", "aria-hidden": "true" }, APPEAL_ICONS[a.state]),
        h("span", { class: "claim-chip__text" }, a.state_label))),
      fact("申诉理由", a.reason),
      fact("提出时间", formatInstant(a.filed_at)),
      a.decided_at ? fact("复核时间", formatInstant(a.decided_at)) : null)
    : h("p", { class: "card__lead" }, "如对拒赔结果有异议，可以提出申诉。"));
}

appealForm.addEventListener("submit", async (event) => {
  event.preventDefault();
  clearFieldError(appealReason);
  clearFormAlert(appealAlert);
  const reason = appealReason.value.trim();
  if (reason.length < 5) {
    setFieldError(appealReason, "请填写申诉理由（至少5个字）");
    appealReason.focus();
    return;
  }
  setBusy(appealSubmit, true, "正在提交…");
  try {
    const updated = await api.post(`/claims/${encodeURIComponent(claim.claim_no)}/appeal`, { reason });
    render(updated);
    showStatus(appealStatus, "申诉已提交，将交由其他复核人员重新审核，结果会短信通知您。");
  } catch (error) {
    if (isLoggedOut(error)) {
      redirectToLogin();
      return;
    }
    showApiError(error, { reason: appealReason }, appealAlert)?.focus();
    if (error instanceof ApiError && error.status === 409) await reload();
  } finally {
    setBusy(appealSubmit, false);
  }
});

function render(c) {
  claim = c;
  document.title = `理赔详情 ${c.claim_no} - 惠民保参保服务`;
  renderSummary(c);
  renderAppeal(c);
  renderUpload(c);
  renderPayout(c);
  renderBill(c);
  const count = c.documents?.length || 0;
  documentsTitle.textContent = count ? `已上传材料（${count}份）` : "已上传材料";
  // A hospital settlement comes without documents: nothing to show, nothing to ask for.
  documentsCard.hidden = c.channel === "settlement" && !count;
  replaceChildren(documentsBody, renderDocuments(c.documents, { thumbnails: true }));
  replaceChildren(timelineBody, renderTimeline(c.timeline));
  if (c.notice) noticeText.textContent = c.notice;
  loadRating(c);
}

// ---------------------------------------------------------------- rating

function rateClaim(body) {
  return api.post(`/claims/${encodeURIComponent(claim.claim_no)}/rating`, body);
}

function ratingError(error) {
  if (!isLoggedOut(error)) return false;
  redirectToLogin();
  return true;
}

/** The rating box after each render: asked of the server (it knows what closed means). */
async function loadRating(c) {
  let answer;
  try {
    answer = await api.get(`/claims/${encodeURIComponent(c.claim_no)}/rating`);
  } catch {
    ratingBox.hidden = true; // the claim itself still shows; rating is optional
    return;
  }
  if (claim !== c) return; // a newer render asks again
  renderRating(ratingBox, answer, { submit: rateClaim, onError: ratingError });
}

// ---------------------------------------------------------------- uploads

async function uploadFiles(input) {
  const files = [...(input.files || [])];
  input.value = "";
  if (!files.length || uploading) return;
  clearFieldError(fileInput);
  clearFormAlert(alertBox);
  uploadStatus.replaceChildren();
  const problem = files.map(fileProblem).find(Boolean);
  if (problem) {
    setFieldError(fileInput, problem);
    input.focus();
    return;
  }
  uploading = true;
  const wasSupplement = claim.status === "supplement_requested";
  let done = 0;
  let latest = null;
  for (const file of files) {
    showStatus(uploadStatus, `正在上传第 ${done + 1} 份，共 ${files.length} 份…`);
    try {
      latest = await uploadDocument(claim.claim_no, file);
      done += 1;
    } catch (error) {
      uploading = false;
      uploadStatus.replaceChildren();
      if (isLoggedOut(error)) {
        redirectToLogin();
        return;
      }
      setFieldError(fileInput, errorMessage(error));
      if (latest) render(latest.claim);
      if (error instanceof ApiError && error.code === "claim_closed") await reload();
      input.focus();
      return;
    }
  }
  uploading = false;
  render(latest.claim);
  const back = wasSupplement && latest.claim.status !== "supplement_requested";
  showStatus(statusSlot, `已上传 ${done} 份材料。${back ? "理赔已重新进入审核。" : ""}`);
  summary.scrollIntoView({ block: "start" });
}

// ---------------------------------------------------------------- load

async function reload() {
  try {
    render(await api.get(`/claims/${encodeURIComponent(claimNo)}`));
  } catch {
    /* the page keeps what it showed */
  }
}

function load() {
  if (!claimNo) {
    content.hidden = true;
    showMissing(stateBox, { title: "请选择要查看的理赔", text: "这个链接没有带理赔编号，请在理赔记录中选择。",
      href: "/claims.html", action: "查看理赔记录" });
    return Promise.resolve();
  }
  return loadInto({
    box: stateBox, content, fetch: () => api.get(`/claims/${encodeURIComponent(claimNo)}`), render,
  }).then((c) => {
    if (c) saySubmitted();
  });
}

/** After 申请理赔: what was sent and what failed, said once (not again on a reload). */
function saySubmitted() {
  const submitted = Number(params.get("submitted") || 0);
  const failed = Number(params.get("failed") || 0);
  if (params.has("submitted")) {
    showStatus(statusSlot, `理赔申请已提交${submitted ? `，已上传 ${submitted} 份材料` : ""}。保险公司审核后会短信通知您。`);
  }
  if (failed > 0) {
    setFieldError(fileInput, `有 ${failed} 份材料没有上传成功，请重新选择上传。`);
  }
  if (params.has("submitted") || params.has("failed")) {
    // Said once: a reload or a bookmark shows the claim, not "已提交" again.
    window.history.replaceState(null, "", `${window.location.pathname}?no=${encodeURIComponent(claimNo)}`);
  }
}

initPage();
rememberModeOnAccount();
cameraInput.addEventListener("change", () => uploadFiles(cameraInput));
fileInput.addEventListener("change", () => uploadFiles(fileInput));
load();
