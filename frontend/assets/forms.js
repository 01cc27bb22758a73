// Form helpers shared by the login and 实名认证 pages.
//
// A field in the HTML:
//   <div class="field">
//     <label class="field__label" for="phone">手机号码</label>
//     <input id="phone" class="field__input" aria-describedby="phone-hint">
//     <p class="field__hint" id="phone-hint">…</p>
//     <p class="field__error" id="phone-error" hidden></p>
//   </div>
// setFieldError() fills the error, marks the input aria-invalid and adds the error to its
// aria-describedby, so a screen reader reads it with the field. Messages that belong to no one
// field go into a form alert: an always-present role="alert" box, announced when filled.

import { ApiError, errorMessage } from "./api.js";
import { h, replaceChildren } from "./dom.js";

function errorBox(input) {
  return document.getElementById(`${input.id}-error`);
}

function describedBy(input) {
  return (input.getAttribute("aria-describedby") || "").split(/\s+/).filter(Boolean);
}

/** An error box (a field's, a group's) filled with its "!" and the message, and shown. */
export function fillErrorBox(box, message) {
  replaceChildren(box,
    h("span", { class: "field__error-icon", "aria-hidden": "true" }, "!"),
    h("span", {}, message));
  box.hidden = false;
}

export function setFieldError(input, message) {
  const box = errorBox(input);
  if (!message) {
    clearFieldError(input);
    return;
  }
  fillErrorBox(box, message);
  input.setAttribute("aria-invalid", "true");
  const ids = describedBy(input);
  if (!ids.includes(box.id)) input.setAttribute("aria-describedby", [box.id, ...ids].join(" "));
  input.closest(".field, .consent")?.classList.add("is-invalid");
}

export function clearFieldError(input) {
  const box = errorBox(input);
  if (box) {
    box.hidden = true;
    box.replaceChildren();
    const ids = describedBy(input).filter((id) => id !== box.id);
    if (ids.length) input.setAttribute("aria-describedby", ids.join(" "));
    else input.removeAttribute("aria-describedby");
  }
  input.removeAttribute("aria-invalid");
  input.closest(".field, .consent")?.classList.remove("is-invalid");
}

/** Show a message for the whole form in its role="alert" box (announced at once). */
export function showFormAlert(box, message, { kind = "error" } = {}) {
  replaceChildren(box,
    h("div", { class: `form-alert form-alert--${kind}` },
      h("span", { class: "form-alert__icon", "aria-hidden": "true" }, kind === "error" ? "!" : "i"),
      h("p", { class: "form-alert__text" }, message)));
}

export function clearFormAlert(box) {
  box.replaceChildren();
}

/** A polite status message ("验证码已发送…"), in a role="status" box. */
export function showStatus(box, ...children) {
  replaceChildren(box,
    h("div", { class: "form-status" },
      h("span", { class: "form-status__icon", "aria-hidden": "true" }, "✓"),
      h("p", { class: "form-status__text" }, ...children)));
}

/**
 * Put an API error where it belongs: each known field's message under that field, anything else
 * in the form alert. Returns the first input marked invalid (to move focus there), or null.
 */
export function showApiError(error, fields, alertBox) {
  let first = null;
  if (error instanceof ApiError) {
    for (const [name, input] of Object.entries(fields)) {
      const message = error.fieldMessage(name);
      if (message) {
        setFieldError(input, message);
        first ??= input;
      }
    }
  }
  if (first) clearFormAlert(alertBox);
  else showFormAlert(alertBox, errorMessage(error));
  return first;
}

// halfWidth lives with the other text rules in format.js; forms keep exporting it.
export { halfWidth } from "./format.js";

/** The longest name a form takes, in code points (林𫖮's second character is one, not two). */
export const NAME_MAX_CHARS = 50;

/**
 * A person's name from its input (NFC, trimmed), or null with the reason under the field: empty
 * (`emptyMessage`) or longer than NAME_MAX_CHARS.
 */
export function checkNameInput(input, emptyMessage = "请输入姓名") {
  const name = String(input.value ?? "").normalize("NFC").trim();
  if (!name) setFieldError(input, emptyMessage);
  else if ([...name].length > NAME_MAX_CHARS) setFieldError(input, `姓名不能超过${NAME_MAX_CHARS}个字`);
  else {
    clearFieldError(input);
    return name;
  }
  return null;
}

/** Busy state for a submit button: disabled, with its text swapped while the request runs. */
export function setBusy(button, busy, busyText) {
  if (busy) {
    button.dataset.idleText = button.textContent;
    button.textContent = busyText;
    button.disabled = true;
    button.setAttribute("aria-busy", "true");
  } else {
    if (button.dataset.idleText) button.textContent = button.dataset.idleText;
    button.disabled = false;
    button.removeAttribute("aria-busy");
  }
}
