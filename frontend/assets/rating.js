// 满意度评价, shared by 投诉详情 and 理赔详情: once the complaint is resolved or the claim closed,
// 您对这次处理满意吗？ — one tap on a score (1-5) rates it, with the optional comment typed
// above; then 您的评价：…. Each is rated once: a second try shows the server's message (409).
// Scores are large buttons with stars and words (never colour alone).

import { h, replaceChildren } from "./dom.js";
import { clearFormAlert, setBusy, showApiError } from "./forms.js";

const SCORES = [[5, "非常满意"], [4, "满意"], [3, "一般"], [2, "不满意"], [1, "很不满意"]];

function renderRated(rating) {
  return h("div", { class: "rating-done", "data-rating": rating.score },
    h("p", { class: "rating-done__score" },
      h("span", { class: "state__icon", "aria-hidden": "true" }, "✓"), `您的评价：${rating.score_label}`),
    rating.comment ? h("p", { class: "rating-done__comment" }, rating.comment) : null,
    h("p", { class: "field__hint" }, "感谢您的反馈，满意度会汇总公布在信息披露中。"));
}

/**
 * Fills `box` from `subject` ({ rating, can_rate }): the rating given, the one-tap prompt, or
 * nothing (hidden). `submit({ score, comment })` posts the rating and resolves to the subject
 * as it is now; `onError(error)` may take an error first (return true when it handled it).
 */
export function renderRating(box, subject, { submit, onError = () => false }) {
  box.hidden = !(subject.can_rate || subject.rating);
  if (subject.rating) {
    replaceChildren(box, h("h2", { class: "card__title" }, "满意度评价"), renderRated(subject.rating));
    return;
  }
  if (!subject.can_rate) return;
  const comment = h("textarea", { id: "rating-comment", class: "field__input field__textarea", rows: "3",
    maxlength: "200", "aria-describedby": "rating-comment-hint" });
  const alertBox = h("div", { class: "form-alert-slot", role: "alert" });
  const choose = async (score, button) => {
    clearFormAlert(alertBox);
    setBusy(button, true, "正在提交…");
    try {
      renderRating(box, await submit({ score, comment: comment.value }), { submit, onError });
      const done = box.querySelector(".rating-done");
      done?.setAttribute("tabindex", "-1");
      done?.focus();
    } catch (error) {
      setBusy(button, false);
      if (!onError(error)) showApiError(error, {}, alertBox);
    }
  };
  const buttons = SCORES.map(([score, label]) => {
    const button = h("button", { type: "button", class: "btn rating__choice", "data-score": String(score) },
      h("span", { class: "rating__stars", "aria-hidden": "true" }, "★".repeat(score)), label);
    button.addEventListener("click", () => choose(score, button));
    return button;
  });
  replaceChildren(box,
    h("h2", { class: "card__title", id: "rating-title" }, "您对这次处理满意吗？"),
    h("div", { class: "field" },
      h("label", { class: "field__label", for: "rating-comment" }, "想说的话（选填）"),
      comment,
      h("p", { class: "field__hint", id: "rating-comment-hint" }, "先写下意见再点选满意度；不写也可以，点一下即提交。")),
    h("div", { class: "rating__choices", role: "group", "aria-labelledby": "rating-title" }, buttons),
    alertBox);
}
