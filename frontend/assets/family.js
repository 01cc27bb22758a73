// 家人: the signed-in person's spouse, children and parents (GET /me/family), each with the
// relation, whether it is verified, and the coverage for the open product, in words and a shape
// (never colour alone). Add a member (POST /me/family): verified at once when the registry links
// you; otherwise a code goes to the relative's own phone and the member waits for 输入验证码
// (POST /me/family/{id}/verify). Remove after a confirm dialog (DELETE /me/family/{id}).

import { api, ApiError, errorMessage } from "./api.js";
import { confirmDialog } from "./dialog.js";
import { h, replaceChildren } from "./dom.js";
import {
  checkNameInput, clearFieldError, clearFormAlert, fillErrorBox, halfWidth, setBusy, setFieldError, showApiError, showFormAlert,
  showStatus,
} from "./forms.js";
import { checkIdNumberInput, idNumberProblem, normalizeIdNumber } from "./idnumber.js";
import { policyPath } from "./insurance.js";
import { clearState, initPage, loadMe, showBindFirst, showError } from "./page.js";
import { inTimeForFirstPaint, loadRegistryRelatives, renderRelativesToAdd } from "./family-picks.js";
import { isLoggedOut, redirectToLogin } from "./session.js";

const FAMILY_PATH = "/family.html";
const FAMILY_ENROLL_PATH = "/family-enroll.html";

const CODE_PATTERN = /^\d{6}$/;

const RELATION_LABELS = { spouse: "配偶", child: "子女", parent: "父母" };

// Coverage for the open product: words, a shape and a tone.
const COVERAGE = {
  未参保: { tone: "off", icon: "—" },
  待支付: { tone: "warn", icon: "!" },
  已参保: { tone: "ok", icon: "✓" },
  已由他人投保: { tone: "ok", icon: "✓" },
};

const VERIFICATION = {
  registry: { tone: "ok", icon: "✓", text: "关系已核验" },
  sms: { tone: "ok", icon: "✓", text: "关系已核验（短信）" },
  pending: { tone: "warn", icon: "!", text: "关系待验证" },
};

const stateBox = document.getElementById("family-state");
const content = document.getElementById("family-content");
const memberBox = document.getElementById("member-box");
const statusBox = document.getElementById("family-status");
const listAlert = document.getElementById("family-alert");
const addForm = document.getElementById("add-form");
const relationField = document.getElementById("relation-field");
const relationError = document.getElementById("relation-error");
const nameInput = document.getElementById("member-name");
const idInput = document.getElementById("member-id-number");
const addAlert = document.getElementById("add-alert");
const addSubmit = document.getElementById("add-submit");

// Where each pending member's code was texted (only the add answer says; kept for this page).
const codeSentTo = new Map();

// ---------------------------------------------------------------- the list

function chip(text, tone, icon, attrs = {}) {
  return h("li", { class: `status-pill status-pill--${tone}`, ...attrs },
    h("span", { "aria-hidden": "true" }, icon), text);
}

function coverageChip(member) {
  const look = COVERAGE[member.coverage] || { tone: "off", icon: "—" };
  return chip(member.coverage, look.tone, look.icon, { "data-coverage": member.coverage });
}

function verificationChip(member) {
  const look = VERIFICATION[member.verification] || VERIFICATION.pending;
  return chip(look.text, look.tone, look.icon, { "data-verification": member.verification });
}

function coverageNote(member) {
  if (member.coverage === "已由他人投保") return "其他家人已为TA投保本年度惠民保，无需重复购买。";
  if (member.coverage === "待支付") return "有一笔订单等待支付，完成支付后即参保。";
  return null;
}

function verifyForm(member) {
  const inputId = `code-${member.id}`;
  const phone = codeSentTo.get(member.id);
  const input = h("input", {
    id: inputId, class: "field__input code-row__input", type: "text", inputmode: "numeric",
    autocomplete: "one-time-code", maxlength: "6", pattern: "[0-9]*", placeholder: "6位数字",
    "aria-describedby": `${inputId}-hint`,
  });
  const button = h("button", { type: "submit", class: "btn btn--primary code-row__button" }, "确认验证");
  const form = h("form", { class: "member-verify", novalidate: true, "data-verify": member.id },
    h("p", { class: "member-verify__title" },
      h("span", { class: "callout__icon", "aria-hidden": "true" }, "!"), "输入验证码"),
    h("p", { class: "member-verify__text", id: `${inputId}-hint` },
      phone
        ? ["验证码已发送至", h("strong", {}, "家人本人的手机 "), h("span", { class: "mono nowrap" }, phone),
          "。请联系家人，把收到的6位验证码告诉您，5分钟内有效。"]
        : "验证码已发送至家人在医保登记的手机。请联系家人，把收到的6位验证码告诉您，5分钟内有效。"),
    h("div", { class: "field" },
      h("label", { class: "field__label", for: inputId }, `${member.name}收到的验证码`),
      h("div", { class: "code-row" }, input, button),
      h("p", { class: "field__error", id: `${inputId}-error`, hidden: true })),
    h("p", { class: "field__hint" }, "验证码过期或没有收到的，可以移除后重新添加，系统会重新发送。"));
  input.addEventListener("input", () => {
    if (input.getAttribute("aria-invalid")) clearFieldError(input);
  });
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    verify(member, input, button);
  });
  return form;
}

function renderMember(member) {
  const titleId = `member-${member.id}`;
  const relation = member.relation_label || RELATION_LABELS[member.relation] || "";
  const removeButton = h("button", { type: "button", class: "btn btn--small btn--quiet", "data-remove": member.id },
    "移除", h("span", { class: "visually-hidden" }, `家人${member.name}`));
  removeButton.addEventListener("click", () => remove(member, removeButton));
  const pending = member.verification === "pending";
  const canEnroll = member.coverage === "未参保";
  const note = coverageNote(member);
  return h("li", { class: "member", "data-member": member.id, "data-person": member.person_id },
    h("article", { class: "member__body", "aria-labelledby": titleId },
      h("div", { class: "member__head" },
        h("h3", { class: "member__name", id: titleId, tabindex: "-1" },
          member.name, " ", h("span", { class: "member__relation" }, relation)),
        member.age != null ? h("p", { class: "member__age" }, `${member.age}岁`) : null),
      h("p", { class: "member__id mono" },
        h("span", { class: "visually-hidden" }, "身份证号码"), member.id_number),
      h("ul", { class: "chips", role: "list", "aria-label": `${member.name}的状态` },
        verificationChip(member), coverageChip(member)),
      note ? h("p", { class: "member__note" }, note) : null,
      pending ? verifyForm(member) : null,
      h("div", { class: "member__actions" },
        member.policy_no
          ? h("a", { class: "btn btn--small", href: policyPath(member.policy_no) },
            "查看电子保单", h("span", { class: "visually-hidden" }, `（${member.name}）`))
          : null,
        canEnroll
          ? h("a", {
            class: "btn btn--small",
            href: `${FAMILY_ENROLL_PATH}?person=${encodeURIComponent(member.person_id)}`,
          }, `为${member.name}投保`)
          : null,
        removeButton)));
}

function renderMembers(items) {
  if (!items.length) {
    replaceChildren(memberBox,
      h("p", { class: "card__lead family-list__empty", "data-empty": true },
        "还没有添加家人。可以从下方医保登记的家人中选择，或填写家人的姓名和身份证号码添加。"));
    return;
  }
  replaceChildren(memberBox,
    h("ul", { class: "members", role: "list" }, items.map(renderMember)));
}

async function reloadMembers() {
  const data = await api.get("/me/family");
  renderMembers(Array.isArray(data?.items) ? data.items : []);
  showRelatives();
}

// ---------------------------------------------------------------- from the registry

const registryBox = document.getElementById("registry-box");
const registryList = document.getElementById("registry-list");
const registryReserve = registryBox.querySelector(".registry-box__reserve");
const registryAlert = document.getElementById("registry-alert");

/**
 * The registry's relatives not yet on the list, each added with one tap (family-picks.js), drawn
 * within the place the page holds for them (family.html) so the form below stays where it is.
 */
async function showRelatives(pending = loadRegistryRelatives()) {
  const result = await pending;
  renderRelativesToAdd(registryList, result, {
    reserve: registryReserve.hidden ? null : registryReserve,
    onAdded: async (added) => {
      clearFormAlert(registryAlert);
      try {
        await reloadMembers();
      } catch (error) {
        showFormAlert(listAlert, errorMessage(error));
      }
      showStatus(statusBox, `已添加${added.name}（${added.relation_label}），亲属关系已通过医保登记信息核验。`);
      memberTitle(added.id)?.focus();
    },
    onError: (error, button) => {
      if (isLoggedOut(error)) {
        redirectToLogin(FAMILY_PATH);
        return;
      }
      showFormAlert(registryAlert, errorMessage(error));
      button.focus();
    },
  });
  registryBox.removeAttribute("aria-busy");
}

function memberTitle(id) {
  return document.getElementById(`member-${id}`);
}

// ---------------------------------------------------------------- verify and remove

async function verify(member, input, button) {
  clearFormAlert(listAlert);
  const code = halfWidth(input.value).replace(/\s/g, "");
  if (!CODE_PATTERN.test(code)) {
    setFieldError(input, code ? "请输入6位数字验证码" : "请输入家人收到的验证码");
    input.focus();
    return;
  }
  setBusy(button, true, "验证中…");
  try {
    await api.post(`/me/family/${encodeURIComponent(member.id)}/verify`, { code });
  } catch (error) {
    setBusy(button, false);
    if (isLoggedOut(error)) {
      redirectToLogin(FAMILY_PATH);
      return;
    }
    const message = error instanceof ApiError ? (error.fieldMessage("code") || error.message) : errorMessage(error);
    setFieldError(input, message);
    input.focus();
    input.select?.();
    return;
  }
  await changed(member, `${member.name}的亲属关系已验证，可以用您的医保个人账户为TA缴费。`);
  memberTitle(member.id)?.focus();
}

/** After a member changed: the list again (a failure said above it), then what happened. */
async function changed(member, status) {
  codeSentTo.delete(member.id);
  try {
    await reloadMembers();
  } catch (error) {
    showFormAlert(listAlert, errorMessage(error));
  }
  showStatus(statusBox, status);
}

async function remove(member, button) {
  clearFormAlert(listAlert);
  const ok = await confirmDialog({
    title: `移除家人${member.name}？`,
    body: [
      h("p", {}, "移除后，不能再为TA投保，也不能用您的医保个人账户为TA缴费。"),
      h("p", {}, "已经买好的保单不受影响，仍在保障中，可以在“我的保单”中查看。"),
    ],
    confirmText: "确认移除",
    cancelText: "暂不移除",
    tone: "danger",
  });
  if (!ok) return;
  setBusy(button, true, "正在移除…");
  try {
    await api.delete(`/me/family/${encodeURIComponent(member.id)}`);
  } catch (error) {
    if (isLoggedOut(error)) {
      redirectToLogin(FAMILY_PATH);
      return;
    }
    if (button.isConnected) setBusy(button, false);
    showFormAlert(listAlert, errorMessage(error));
    return;
  }
  await changed(member, `已移除家人${member.name}。`);
  document.getElementById("members-title")?.setAttribute("tabindex", "-1");
  document.getElementById("members-title")?.focus();
}

// ---------------------------------------------------------------- adding

function relationInputs() {
  return [...relationField.querySelectorAll("input[name=relation]")];
}

function setRelationError(message) {
  if (!message) {
    clearRelationError();
    return;
  }
  fillErrorBox(relationError, message);
  relationField.classList.add("is-invalid");
  for (const input of relationInputs()) {
    input.setAttribute("aria-describedby", "relation-error");
    input.setAttribute("aria-invalid", "true");
  }
}

function clearRelationError() {
  relationError.hidden = true;
  relationError.replaceChildren();
  relationField.classList.remove("is-invalid");
  for (const input of relationInputs()) {
    input.removeAttribute("aria-describedby");
    input.removeAttribute("aria-invalid");
  }
}

function focusRelation() {
  (relationInputs().find((input) => input.checked) || relationInputs()[0]).focus();
}

function checkRelation() {
  const chosen = relationInputs().find((input) => input.checked);
  if (!chosen) {
    setRelationError("请选择家人与您的关系");
    return null;
  }
  clearRelationError();
  return chosen.value;
}

function checkName() {
  return checkNameInput(nameInput, "请输入家人的姓名");
}

function checkIdNumber() {
  return checkIdNumberInput(idInput);
}

const RELATION_CODES = new Set(["relation_implausible", "relation_mismatch"]);

async function add(event) {
  event.preventDefault();
  clearFormAlert(addAlert);
  const relation = checkRelation();
  const name = checkName();
  const idNumber = checkIdNumber();
  if (!relation) {
    focusRelation();
    return;
  }
  const firstInvalid = (!name && nameInput) || (!idNumber && idInput);
  if (firstInvalid) {
    firstInvalid.focus();
    return;
  }
  setBusy(addSubmit, true, "正在核验…");
  let member;
  try {
    member = await api.post("/me/family", { name, id_number: idNumber, relation });
  } catch (error) {
    setBusy(addSubmit, false);
    if (isLoggedOut(error)) {
      redirectToLogin(FAMILY_PATH);
      return;
    }
    if (error instanceof ApiError && RELATION_CODES.has(error.code)) {
      setRelationError(error.message);
      focusRelation();
      return;
    }
    if (error instanceof ApiError && error.fieldMessage("relation")) {
      setRelationError(error.fieldMessage("relation"));
      focusRelation();
      return;
    }
    // A failed identity check names neither field: the neutral message beside the button.
    const fields = error?.code === "identity_mismatch" ? {} : { name: nameInput, id_number: idInput };
    const field = showApiError(error, fields, addAlert);
    (field || addSubmit).focus();
    return;
  }
  setBusy(addSubmit, false);
  addForm.reset();
  clearRelationError();
  clearFieldError(nameInput);
  clearFieldError(idInput);
  const pending = member.verification === "pending";
  if (pending && member.code_sent_to) codeSentTo.set(member.id, member.code_sent_to);
  try {
    await reloadMembers();
  } catch (error) {
    showFormAlert(listAlert, errorMessage(error));
  }
  const label = member.relation_label || RELATION_LABELS[member.relation] || "";
  if (pending) {
    showStatus(statusBox,
      `已添加${member.name}（${label}）。医保登记信息中没有你们的亲属关系，请输入家人手机收到的验证码完成验证。`);
    document.getElementById(`code-${member.id}`)?.focus();
  } else {
    showStatus(statusBox, `已添加${member.name}（${label}），亲属关系已通过医保登记信息核验。`);
    memberTitle(member.id)?.focus();
  }
}

// ---------------------------------------------------------------- start

async function load() {
  content.hidden = true;
  const me = await loadMe(stateBox, load, FAMILY_PATH);
  if (!me) return;
  if (!me.identity?.bound) {
    showBindFirst(stateBox, "实名认证后，才能添加家人、为家人投保。", FAMILY_PATH);
    return;
  }
  // Asked at once, beside the list: often here by the time the page shows, and never moving it.
  const relatives = loadRegistryRelatives();
  let data;
  try {
    data = await api.get("/me/family");
  } catch (error) {
    if (isLoggedOut(error)) {
      redirectToLogin(FAMILY_PATH);
      return;
    }
    showError(stateBox, error, load)?.focus();
    return;
  }
  renderMembers(Array.isArray(data?.items) ? data.items : []);
  // Here in time, the list is part of the first paint and needs no place held (no blank rows).
  registryReserve.hidden = await inTimeForFirstPaint(relatives);
  clearState(stateBox);
  content.hidden = false;
  showRelatives(relatives);
}

initPage();
addForm.addEventListener("submit", add);
for (const input of relationInputs()) {
  input.addEventListener("change", () => clearRelationError());
}
nameInput.addEventListener("input", () => {
  if (nameInput.getAttribute("aria-invalid")) clearFieldError(nameInput);
});
// Inline ID check: as soon as 18 characters are in, and when leaving the field.
idInput.addEventListener("input", () => {
  const value = normalizeIdNumber(idInput.value);
  if (value.length >= 18 || idInput.getAttribute("aria-invalid")) {
    const problem = idNumberProblem(value);
    if (problem && value.length >= 18) setFieldError(idInput, problem);
    else if (!problem) clearFieldError(idInput);
  }
});
idInput.addEventListener("blur", () => {
  if (idInput.value.trim()) checkIdNumber();
});
load();

