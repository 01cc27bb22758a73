// 投诉详情: one complaint with the staff's replies (GET /api/v1/complaints/{no}, or for one filed
// on this phone without an account GET /api/v1/public-complaints/{no} with its token). Once it
// is resolved: 您对这次处理满意吗？ — one tap on a score (1-5) rates it, with the optional comment
// typed above (POST …/rating). Without a number: the way to one's complaints, not an error.

import { api } from "./api.js";
import { h, paragraphs, replaceChildren } from "./dom.js";
import { clearFormAlert, setBusy, showApiError } from "./forms.js";
import { initPage, loadInto, showMissing } from "./page.js";
import { rememberModeOnAccount } from "./session.js";
import { complaintFacts, complaintStatus, overduePill, replyItems } from "./complaint-view.js";
import { getPublicComplaint, ratePublicComplaint, tokenFor } from "./complaint-tokens.js";

const SCORES = [[5, "非常满意"], [4, "满意"], [3, "一般"], [2, "不满意"], [1, "很不满意"]];

const stateBox = document.getElementById("complaint-state");
const content = document.getElementById("complaint-content");
const ratingBox = document.getElementById("rating-box");
const number = new URLSearchParams(window.location.search).get("no") || "";
const token = number ? tokenFor(number) : null;

function renderRated(rating) {
  return h("div", { class: "rating-done", "data-rating": rating.score },
    h("p", { class: "rating-done__score" },
      h("span", { class: "state__icon", "aria-hidden": "true" }, "✓"), `您的评价：${rating.score_label}`),
    rating.comment ? h("p", { class: "rating-done__comment" }, rating.comment) : null,
    h("p", { class: "field__hint" }, "感谢您的反馈，满意度会汇总公布在信息披露中。"));
}

function renderRating(complaint) {
  ratingBox.hidden = !(complaint.can_rate || complaint.rating);
  if (complaint.rating) {
    replaceChildren(ratingBox, h("h2", { class: "card__title" }, "满意度评价"), renderRated(complaint.rating));
    return;
  }
  if (!complaint.can_rate) return;
  const comment = h("textarea", { id: "rating-comment", class: "field__input field__textarea", rows: "3",
    maxlength: "200", "aria-describedby": "rating-comment-hint" });
  const alertBox = h("div", { class: "form-alert-slot", role: "alert" });
  const buttons = SCORES.map(([score, label]) => {
    const button = h("button", { type: "button", class: "btn rating__choice", "data-score": String(score) },
      h("span", { class: "rating__stars", "aria-hidden": "true" }, "★".repeat(score)), label);
    button.addEventListener("click", () => submitRating(score, comment.value, button, alertBox));
    return button;
  });
  replaceChildren(ratingBox,
    h("h2", { class: "card__title", id: "rating-title" }, "您对这次处理满意吗？"),
    h("div", { class: "field" },
      h("label", { class: "field__label", for: "rating-comment" }, "想说的话（选填）"),
      comment,
      h("p", { class: "field__hint", id: "rating-comment-hint" }, "先写下意见再点选满意度；不写也可以，点一下即提交。")),
    h("div", { class: "rating__choices", role: "group", "aria-labelledby": "rating-title" }, buttons),
    alertBox);
}

async function submitRating(score, comment, button, alertBox) {
  clearFormAlert(alertBox);
  setBusy(button, true, "正在提交…");
  try {
    const body = { score, comment };
    const complaint = token ? await ratePublicComplaint(number, token, body)
      : await api.post(`/complaints/${encodeURIComponent(number)}/rating`, body);
    renderRating(complaint);
    ratingBox.querySelector(".rating-done")?.setAttribute("tabindex", "-1");
    ratingBox.querySelector(".rating-done")?.focus();
  } catch (error) {
    setBusy(button, false);
    showApiError(error, {}, alertBox);
  }
}

function render(complaint) {
  replaceChildren(document.getElementById("complaint-badge"), complaintStatus(complaint),
    overduePill(complaint));
  replaceChildren(document.getElementById("complaint-facts"), complaintFacts(complaint));
  replaceChildren(document.getElementById("complaint-text"), paragraphs(complaint.content));
  replaceChildren(document.getElementById("reply-list"), replyItems(complaint));
  renderRating(complaint);
}

function load() {
  if (!number) {
    showMissing(stateBox, { title: "请选择要查看的投诉", text: "这个链接没有带投诉编号，请在投诉与建议中选择。",
      href: "/complaints.html", action: "查看我的投诉" });
    return undefined;
  }
  return loadInto({
    box: stateBox, content,
    fetch: () => (token ? getPublicComplaint(number, token) : api.get(`/complaints/${encodeURIComponent(number)}`)),
    render,
  });
}

initPage();
if (!token) rememberModeOnAccount();
load();
