// 实名认证: name + ID number checked against the registry, with both consents
// (GET /consent-texts, POST /me/identity).
//
// The answer says whether the binding is verified: a login with the phone the registry
// holds for the person verifies it at once and the page goes on as before. Otherwise the page
// explains what an unverified binding cannot do and offers 刷脸核验 (POST /me/identity/check, then
// the binding again with its ticket; the demo simulator answers at once) or 到柜台核验.
//
// Names are measured in code points, never UTF-16 units: 林𫖮's second character lies outside the
// BMP (two UTF-16 units), so the name input has no maxlength.

import { api, ApiError } from "./api.js";
import { h, paragraphs, replaceChildren } from "./dom.js";
import {
  checkNameInput, clearFieldError, clearFormAlert, setBusy, setFieldError, showApiError,
} from "./forms.js";
import { checkIdNumberInput } from "./idnumber.js";
import { clearState, initPage, showError, showLoading } from "./page.js";
import { fetchMe, ME_PATH, redirectToLogin, safeNext } from "./session.js";

const CONSENT_ORDER = ["personal_info", "sensitive_info"];

const stateBox = document.getElementById("bind-state");
const form = document.getElementById("bind-form");
const nameInput = document.getElementById("name");
const idInput = document.getElementById("id-number");
const consentList = document.getElementById("consent-list");
const alertBox = document.getElementById("bind-alert");
const submitButton = document.getElementById("bind-submit");
const faceButton = document.getElementById("bind-face");
const verifyPanel = document.getElementById("verify-panel");
const verifyAlert = document.getElementById("verify-alert");
const verifyFace = document.getElementById("verify-face");
const verifyFaceItem = document.getElementById("verify-face-item");
const verifyLater = document.getElementById("verify-later");

let faceCheckOffered = false;
let lastBinding = null; // {name, id_number, consents}: what the face check verifies

let consentTexts = [];


function consentBox(kind) {
  return document.getElementById(`consent-${kind}`);
}

function checkConsents() {
  const agreed = {};
  let firstMissing = null;
  for (const text of consentTexts) {
    const box = consentBox(text.kind);
    if (box.checked) {
      clearFieldError(box);
      agreed[text.kind] = text.version;
    } else {
      setFieldError(box, `请阅读并勾选同意《${text.title}》`);
      firstMissing ??= box;
    }
  }
  return { agreed, firstMissing };
}

function renderConsent(text) {
  const id = `consent-${text.kind}`;
  const checkbox = h("input", { type: "checkbox", id, class: "check__input", name: id, required: true });
  checkbox.addEventListener("change", () => {
    if (checkbox.checked) clearFieldError(checkbox);
  });
  return h("section", { class: "card consent", "aria-labelledby": `${id}-title`, "data-consent": text.kind },
    h("h3", { class: "consent__title", id: `${id}-title` }, text.title),
    h("p", { class: "consent__version" }, `版本 ${text.version}`),
    h("div", { class: "consent__body" }, paragraphs(text.body)),
    h("div", { class: "check" },
      checkbox,
      h("label", { class: "check__label", for: id }, `我已阅读并同意《${text.title}》`)),
    h("p", { class: "field__error", id: `${id}-error`, hidden: true }));
}

async function submit(event) {
  event.preventDefault();
  clearFormAlert(alertBox);
  const name = checkNameInput(nameInput);
  const idNumber = checkIdNumberInput(idInput);
  const { agreed, firstMissing } = checkConsents();
  const firstInvalid = (!name && nameInput) || (!idNumber && idInput) || firstMissing;
  if (firstInvalid) {
    firstInvalid.focus();
    return;
  }
  setBusy(submitButton, true, "正在核验…");
  lastBinding = { name, id_number: idNumber, consents: agreed };
  let me;
  try {
    me = await api.post("/me/identity", lastBinding);
  } catch (error) {
    setBusy(submitButton, false);
    if (error instanceof ApiError && error.status === 401) {
      redirectToLogin();
      return;
    }
    // A mismatch names neither field: the message alone, next to the button just pressed.
    const fields = error?.code === "identity_mismatch" ? {} : { name: nameInput, id_number: idInput };
    const field = showApiError(error, fields, alertBox);
    // Held by another account without verification: the owner takes it back by a face check.
    faceButton.hidden = !(faceCheckOffered && error?.code === "identity_taken");
    if (field) field.focus();
    return;
  }
  finish(me, submitButton);
}

function nextPath() {
  // Sent here from 确认参保 (or another page that needs a bound identity): back there.
  return safeNext(new URLSearchParams(window.location.search).get("next")) || ME_PATH;
}

function finish(me, button) {
  if (me?.identity?.verified) {
    button.textContent = "认证成功，正在跳转…";
    window.location.replace(nextPath());
    return;
  }
  setBusy(button, false);
  form.hidden = true;
  verifyFace.hidden = !faceCheckOffered;
  verifyFaceItem.hidden = !faceCheckOffered;
  verifyLater.href = nextPath();
  verifyPanel.hidden = false;
  verifyPanel.querySelector("h2").focus?.();
}

async function faceCheck(button, alert) {
  if (!lastBinding) return;
  clearFormAlert(alert);
  setBusy(button, true, "正在刷脸核验…");
  let me;
  try {
    const started = await api.post("/me/identity/check",
      { name: lastBinding.name, id_number: lastBinding.id_number });
    if (started.url) {
      // A real verification service: its own page, which sends the person back here.
      window.location.assign(started.url);
      return;
    }
    // Demo mode: the simulator has "seen" the person at once (identity/verification.py).
    me = await api.post("/me/identity", { ...lastBinding, check_ticket: started.ticket });
  } catch (error) {
    setBusy(button, false);
    if (error instanceof ApiError && error.status === 401) {
      redirectToLogin();
      return;
    }
    showApiError(error, {}, alert);
    return;
  }
  finish(me, button);
}

async function load() {
  form.hidden = true;
  showLoading(stateBox);
  let me;
  let texts;
  try {
    [me, texts] = await Promise.all([fetchMe(), api.get("/consent-texts")]);
  } catch (error) {
    showError(stateBox, error, load)?.focus();
    return;
  }
  if (!me) {
    redirectToLogin();
    return;
  }
  faceCheckOffered = Boolean(me.identity?.identity_check_available);
  if (me.identity?.bound && me.identity?.verified) {
    window.location.replace(ME_PATH);
    return;
  }
  if (me.identity?.bound) {
    // Bound but not verified: the same form verifies (a face check needs the name and number).
    submitButton.textContent = "核验身份";
  }
  const items = Array.isArray(texts?.items) ? texts.items : [];
  consentTexts = CONSENT_ORDER.map((kind) => items.find((item) => item.kind === kind))
    .filter(Boolean)
    .concat(items.filter((item) => !CONSENT_ORDER.includes(item.kind)));
  replaceChildren(consentList, consentTexts.map(renderConsent));
  clearState(stateBox);
  form.hidden = false;
}

initPage();
form.addEventListener("submit", submit);
faceButton.addEventListener("click", () => faceCheck(faceButton, alertBox));
verifyFace.addEventListener("click", () => faceCheck(verifyFace, verifyAlert));
for (const input of [nameInput, idInput]) {
  input.addEventListener("input", () => {
    if (input.getAttribute("aria-invalid")) clearFieldError(input);
  });
}
load();
