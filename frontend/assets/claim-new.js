// 申请理赔: choose the policy, the claim's kind (住院, 门特/门慢, 特药, 异地就医: the product's
// GET /products/{id}/claim-kinds, with each kind's documents and the designated pharmacies), the
// hospital and the stay, the payee's bank card, the figures of the bill (合规 amount and
// the items outside basic insurance, picked from the product's 特药 / 合理费用 lists), photos;
// POST /claims (Idempotency-Key, kept while the outcome is unknown), then each document with
// POST /claims/{claim_no}/documents, then the claim's page.

import { api, ApiError, errorMessage } from "./api.js";
import { choice, h, replaceChildren } from "./dom.js";
import { formatDate } from "./format.js";
import {
  clearFieldError, clearFormAlert, setBusy, setFieldError, showApiError, showFormAlert, showStatus,
} from "./forms.js";
import {
  CLAIMS_PATH, claimPath, fileProblem, fileSize, ItemPicker, parseYuan, uploadDocument,
} from "./claim-common.js";
import { ENROLL_PATH, POLICIES_PATH } from "./insurance.js";
import { actingAllows, actingFor } from "./acting.js";
import { Intent, outcomeUnknown } from "./intent.js";
import { clearState, initPage, loadMe, showBlocked as showBlockedIn, showError } from "./page.js";
import { BIND_PATH, redirectToLogin } from "./session.js";

const NEW_CLAIM_PATH = "/claim-new.html";

const stateBox = document.getElementById("claim-new-state");
const blockedBox = document.getElementById("claim-new-blocked");
const form = document.getElementById("claim-form");
const policyOptions = document.getElementById("policy-options");
const hospitalInput = document.getElementById("hospital");
const admittedInput = document.getElementById("admitted-on");
const dischargedInput = document.getElementById("discharged-on");
const inPolicyInput = document.getElementById("in-policy");
const itemList = document.getElementById("item-list");
const addItemButton = document.getElementById("add-item");
const cameraInput = document.getElementById("files-camera");
const filesInput = document.getElementById("files");
const fileList = document.getElementById("file-list");
const kindOptions = document.getElementById("kind-options");
const kindDocuments = document.getElementById("kind-documents");
const admittedLabel = document.getElementById("admitted-on-label");
const dischargedLabel = document.getElementById("discharged-on-label");
const diagnosisInput = document.getElementById("diagnosis-code");
const prescriptionInput = document.getElementById("prescription-no");
const pharmacySelect = document.getElementById("pharmacy");
const cityInput = document.getElementById("treatment-city");
const payeeKindSelect = document.getElementById("payee-kind");
const payeeNameInput = document.getElementById("payee-name");
const payeeIdInput = document.getElementById("payee-id");
const payeeCardInput = document.getElementById("payee-card");
const statusBox = document.getElementById("claim-new-status");
const alertBox = document.getElementById("claim-new-alert");
const submitButton = document.getElementById("claim-submit");

const intent = new Intent("claim-new");
const picker = new ItemPicker(itemList, addItemButton);
const catalogs = new Map();
const kindLists = new Map();

const state = { policies: [], policyNo: null, files: [], submitting: false, kinds: [], kind: "inpatient" };

// ---------------------------------------------------------------- policies

function policyChoice(policy, checked) {
  return choice({ name: "policy", value: policy.policy_no, checked,
    title: `${policy.product_name} · ${policy.tier_name}`,
    meta: [`被保险人 ${policy.insured_name} · 保障期 `,
      h("span", { class: "nowrap" }, formatDate(policy.coverage_starts_on)), " 至 ",
      h("span", { class: "nowrap" }, formatDate(policy.coverage_ends_on))] });
}

function currentPolicy() {
  return state.policies.find((p) => p.policy_no === state.policyNo) || null;
}

async function loadCatalog(productId) {
  if (!catalogs.has(productId)) {
    catalogs.set(productId, api.get(`/products/${encodeURIComponent(productId)}/claim-items`)
      .catch(() => ({ special_drugs: [], reasonable_items: [] })));
  }
  picker.setCatalog(await catalogs.get(productId));
}

// ---------------------------------------------------------------- kinds

function kindChoice(kind, checked) {
  return choice({ name: "kind", value: kind.kind, title: kind.label, checked,
    meta: `材料齐全后${kind.decide_within_working_days}个工作日内核定，核定后${kind.pay_within_days}日内支付` });
}

function selectKind(value) {
  const kind = state.kinds.find((k) => k.kind === value) || state.kinds[0];
  if (!kind) return;
  state.kind = kind.kind;
  admittedLabel.textContent = kind.period_labels[0];
  dischargedLabel.textContent = kind.period_labels[1];
  kindDocuments.textContent = `需要的材料：${kind.documents.join("、")}`;
  for (const field of form.querySelectorAll("[data-for-kinds]")) {
    field.hidden = !field.dataset.forKinds.split(" ").includes(kind.kind);
  }
}

async function loadKinds(productId) {
  if (!kindLists.has(productId)) {
    kindLists.set(productId, api.get(`/products/${encodeURIComponent(productId)}/claim-kinds`)
      .catch(() => ({ kinds: [], pharmacies: [] })));
  }
  const found = await kindLists.get(productId);
  state.kinds = found.kinds.length ? found.kinds : [{
    kind: "inpatient", label: "住院医疗费用", documents: ["医疗费用发票", "住院费用明细清单", "出院小结"],
    decide_within_working_days: 10, pay_within_days: 10, period_labels: ["入院日期", "出院日期"],
  }];
  replaceChildren(kindOptions, state.kinds.map((k, index) => kindChoice(k, index === 0)));
  replaceChildren(pharmacySelect, [h("option", { value: "" }, "请选择定点药店"),
    ...found.pharmacies.map((p) => h("option", { value: p.code }, `${p.name}（${p.address}）`))]);
  selectKind(state.kinds[0].kind);
}

function selectPolicy(policyNo) {
  state.policyNo = policyNo;
  const policy = currentPolicy();
  if (policy) {
    loadCatalog(policy.product_id);
    loadKinds(policy.product_id);
  }
}

function showPayeeFields() {
  const other = payeeKindSelect.value !== "self";
  for (const field of form.querySelectorAll("[data-payee-other]")) field.hidden = !other;
}

function showBlocked(title, reason, links) {
  clearState(stateBox);
  form.hidden = true;
  showBlockedIn(blockedBox, title, reason, links);
}

// ---------------------------------------------------------------- documents chosen

function renderFiles() {
  replaceChildren(fileList, state.files.map((file, index) => {
    const remove = h("button", { type: "button", class: "btn btn--quiet btn--small" },
      "移除", h("span", { class: "visually-hidden" }, `（${file.name}）`));
    remove.addEventListener("click", () => {
      state.files.splice(index, 1);
      renderFiles();
      filesInput.focus();
    });
    return h("li", { class: "file-item", "data-file": file.name },
      h("span", { class: "file-item__text" },
        h("span", { class: "file-item__name" }, `${index + 1}. ${file.name}`),
        h("span", { class: "file-item__meta" }, fileSize(file.size))),
      remove);
  }));
}

function addFiles(input) {
  const files = [...(input.files || [])];
  input.value = "";
  clearFieldError(filesInput);
  const problems = [];
  for (const file of files) {
    const problem = fileProblem(file);
    if (problem) problems.push(problem);
    else state.files.push(file);
  }
  if (problems.length) setFieldError(filesInput, problems.join("；"));
  renderFiles();
}

// ---------------------------------------------------------------- checking and sending

const FIELDS = {
  hospital_name: hospitalInput,
  admitted_on: admittedInput,
  discharged_on: dischargedInput,
  in_policy_self_pay_fen: inPolicyInput,
  diagnosis_code: diagnosisInput,
  prescription_no: prescriptionInput,
  pharmacy_code: pharmacySelect,
  treatment_city_code: cityInput,
  items: addItemButton,
  "payee.kind": payeeKindSelect,
  "payee.name": payeeNameInput,
  "payee.id_number": payeeIdInput,
  "payee.card_no": payeeCardInput,
};

function clearErrors() {
  clearFormAlert(alertBox);
  statusBox.replaceChildren();
  for (const input of Object.values(FIELDS)) clearFieldError(input);
  picker.clearErrors();
}

/** The request body, or null after marking what is wrong (focus goes to the first such field). */
function collect() {
  let first = null;
  const mark = (input, message) => {
    setFieldError(input, message);
    first ??= input;
  };
  const hospital = hospitalInput.value.trim();
  if (!hospital) mark(hospitalInput, "请填写医院名称");
  if (!admittedInput.value) mark(admittedInput, "请选择入院日期");
  if (!dischargedInput.value) mark(dischargedInput, "请选择出院日期");
  else if (admittedInput.value && dischargedInput.value < admittedInput.value) {
    mark(dischargedInput, "出院日期不能早于入院日期");
  }
  const inPolicy = parseYuan(inPolicyInput.value, { required: true });
  if (inPolicy.error) mark(inPolicyInput, inPolicy.error === "请填写金额" ? "请填写金额，没有可填 0" : inPolicy.error);
  const { items, invalid } = picker.collect();
  if (invalid) first ??= invalid;
  if (!inPolicy.error && inPolicy.fen === 0 && !items.length && !invalid) {
    mark(inPolicyInput, "请填写医保范围内个人负担的费用，或添加医保范围外的费用项目");
  }
  if (!state.files.length) {
    setFieldError(filesInput, "请至少上传一张发票或费用清单的照片");
    first ??= filesInput;
  }
  if (!currentPolicy()) {
    showFormAlert(alertBox, "请选择理赔保单");
    first ??= policyOptions.querySelector("input");
  }
  const card = payeeCardInput.value.replace(/\s+/g, "");
  const payeeKind = payeeKindSelect.value;
  if (card && !/^\d{12,19}$/.test(card)) mark(payeeCardInput, "银行卡号应为12至19位数字");
  if (!card && payeeKind !== "self") mark(payeeCardInput, "请填写收款人的银行卡号");
  if (payeeKind !== "self" && !payeeNameInput.value.trim()) mark(payeeNameInput, "请填写收款人姓名");
  if (payeeKind !== "self" && !payeeIdInput.value.trim()) mark(payeeIdInput, "请填写收款人身份证号码");
  if (first) {
    first.focus();
    return null;
  }
  const optional = (input) => (input.closest("[data-for-kinds]")?.hidden ? null : input.value.trim() || null);
  return {
    kind: state.kind,
    hospital_name: hospital,
    admitted_on: admittedInput.value,
    discharged_on: dischargedInput.value,
    in_policy_self_pay_fen: inPolicy.fen,
    items,
    policy_no: state.policyNo,
    diagnosis_code: optional(diagnosisInput),
    prescription_no: optional(prescriptionInput),
    pharmacy_code: optional(pharmacySelect),
    treatment_city_code: optional(cityInput),
    payee: card ? {
      kind: payeeKind, card_no: card,
      name: payeeKind === "self" ? null : payeeNameInput.value.trim(),
      id_number: payeeKind === "self" ? null : payeeIdInput.value.trim(),
    } : null,
    // ICD-10 codes as printed ("C22.0, K74"): the server checks each and names a bad one.
    diagnosis_codes: (document.getElementById("diagnosis")?.value || "")
      .split(/[,，、\s]+/).map((code) => code.trim()).filter(Boolean),
  };
}

async function uploadAll(claimNo) {
  let ok = 0;
  let failed = 0;
  for (const [index, file] of state.files.entries()) {
    showStatus(statusBox, `理赔申请已提交，正在上传材料（第 ${index + 1} 份，共 ${state.files.length} 份）…`);
    try {
      await uploadDocument(claimNo, file);
      ok += 1;
    } catch {
      failed += 1;
    }
  }
  return { ok, failed };
}

async function submit(event) {
  event.preventDefault();
  if (state.submitting) return;
  clearErrors();
  const body = collect();
  if (!body) return;
  const key = intent.keyFor(body);
  state.submitting = true;
  setBusy(submitButton, true, "正在提交…");
  let created;
  try {
    created = await api.post("/claims", body, { idempotencyKey: key, timeoutMs: 30000 });
  } catch (error) {
    intent.settle(error);
    state.submitting = false;
    setBusy(submitButton, false);
    if (error instanceof ApiError && error.status === 401) {
      redirectToLogin(NEW_CLAIM_PATH);
      return;
    }
    const first = showApiError(error, FIELDS, alertBox);
    if (first) {
      first.focus();
    } else {
      if (outcomeUnknown(error)) {
        showFormAlert(alertBox, `${errorMessage(error).replace(/。$/, "")}。请再次点击提交，同一份申请不会重复提交。`);
      }
      submitButton.focus();
    }
    return;
  }
  intent.settle();
  submitButton.textContent = "正在上传材料…";
  const { ok, failed } = await uploadAll(created.claim_no);
  window.location.assign(claimPath(created.claim_no, `&submitted=${ok}${failed ? `&failed=${failed}` : ""}`));
}

// ---------------------------------------------------------------- start

async function load() {
  const acting = actingFor(); // this tab acts for a relative: POST /claims carries X-Acting-For
  form.hidden = true;
  blockedBox.hidden = true;
  const me = await loadMe(stateBox, load, NEW_CLAIM_PATH);
  if (!me) return;
  if (!me.identity?.bound) {
    showBlocked("请先完成实名认证", "申请理赔前，需要先核实您的姓名和身份证号码。", [
      h("a", { class: "btn btn--primary btn--block", href: `${BIND_PATH}?next=${encodeURIComponent(NEW_CLAIM_PATH)}` }, "去实名认证"),
    ]);
    return;
  }
  if (acting && !actingAllows("claims_submit")) {
    showBlocked("不能代为申请理赔", `您与${acting.name}的代办授权不包含“代为申请理赔”。请${acting.name}本人申请，或请TA在授权中加上这一项。`, [
      h("a", { class: "btn btn--block btn--quiet", href: CLAIMS_PATH }, "返回理赔"),
    ]);
    return;
  }
  let data;
  try {
    data = await api.get("/policies"); // acting for someone: their policies (X-Acting-For)
  } catch (error) {
    showError(stateBox, error, load)?.focus();
    return;
  }
  const personId = acting ? acting.person_id : me.identity?.person_id;
  state.policies = (data?.items || []).filter((p) => p.status === "active"
    && (personId === undefined || personId === null || p.insured_person_id === personId));
  if (!state.policies.length) {
    showBlocked("没有可以理赔的保单", acting
      ? `${acting.name}没有有效的惠民保保单，不能申请理赔。`
      : "理赔需要您本人作为被保险人的有效惠民保保单。家人的理赔，请由家人本人申请，或由家人授权后代办。", [
      h("a", { class: "btn btn--primary btn--block", href: ENROLL_PATH }, "去参保"),
      h("a", { class: "btn btn--block btn--quiet", href: POLICIES_PATH }, "查看我的保单"),
      h("a", { class: "btn btn--block btn--quiet", href: CLAIMS_PATH }, "返回理赔"),
    ]);
    return;
  }
  replaceChildren(policyOptions, state.policies.map((p, index) => policyChoice(p, index === 0)));
  selectPolicy(state.policies[0].policy_no);
  if (!picker.rows.length) picker.add();
  clearState(stateBox);
  form.hidden = false;
}

initPage();
policyOptions.addEventListener("change", (event) => {
  if (event.target instanceof HTMLInputElement && event.target.name === "policy") {
    selectPolicy(event.target.value);
  }
});
kindOptions.addEventListener("change", (event) => {
  if (event.target instanceof HTMLInputElement && event.target.name === "kind") {
    selectKind(event.target.value);
  }
});
payeeKindSelect.addEventListener("change", showPayeeFields);
cameraInput.addEventListener("change", () => addFiles(cameraInput));
filesInput.addEventListener("change", () => addFiles(filesInput));
inPolicyInput.addEventListener("input", () => clearFieldError(inPolicyInput));
form.addEventListener("submit", submit);
load();
