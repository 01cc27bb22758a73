// An accessible confirmation dialog on the native <dialog> element: modal (the page behind is
// inert), titled and described for screen readers, Esc or 取消 closes it, focus starts on the
// safe choice and returns to the button that opened it.

import { h } from "./dom.js";

let counter = 0;

/**
 * confirmDialog({title, body, confirmText, cancelText, tone}) -> Promise<boolean>
 * `body` is a string or nodes; tone "danger" draws the confirm button as a warning.
 */
export function confirmDialog({ title, body, confirmText = "确定", cancelText = "取消", tone = "" }) {
  if (typeof HTMLDialogElement !== "function" || !("showModal" in HTMLDialogElement.prototype)) {
    // Older webviews (iOS before 15.4) have no <dialog>: the browser's own confirm box instead.
    const text = h("div", {}, body).textContent;
    return Promise.resolve(window.confirm(`${title}\n\n${text}`));
  }
  counter += 1;
  const titleId = `dialog-title-${counter}`;
  const bodyId = `dialog-body-${counter}`;
  const opener = document.activeElement;
  const cancel = h("button", { type: "button", class: "btn", "data-dialog-cancel": true, autofocus: true },
    cancelText);
  const confirm = h("button", {
    type: "button",
    class: `btn ${tone === "danger" ? "btn--danger" : "btn--primary"}`,
    "data-dialog-confirm": true,
  }, confirmText);
  const dialog = h("dialog", {
    class: "dialog", "aria-labelledby": titleId, "aria-describedby": bodyId,
  },
  h("h2", { class: "dialog__title", id: titleId }, title),
  h("div", { class: "dialog__body", id: bodyId }, body),
  h("div", { class: "dialog__actions" }, cancel, confirm));

  return new Promise((resolve) => {
    let answer = false;
    cancel.addEventListener("click", () => dialog.close());
    confirm.addEventListener("click", () => {
      answer = true;
      dialog.close();
    });
    dialog.addEventListener("close", () => {
      dialog.remove();
      if (opener instanceof HTMLElement && opener.isConnected) opener.focus();
      resolve(answer);
    });
    document.body.append(dialog);
    dialog.showModal();
    cancel.focus();
  });
}
