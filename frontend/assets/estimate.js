// 赔付估算 ("花了这些钱，大概能赔多少？"): POST /claims/estimate with the figures typed in. It
// runs the same calculation as a settlement on the person's live policy, counting what this
// year's earlier claims already used; without a policy, on the tier chosen here.

import { api, ApiError, errorMessage } from "./api.js";
import { choice, h, replaceChildren } from "./dom.js";
import { formatFen } from "./format.js";
import { clearFieldError, clearFormAlert, setBusy, setFieldError, showFormAlert } from "./forms.js";
import { ItemPicker, NEW_CLAIM_PATH, parseYuan, renderBreakdown } from "./claim-common.js";
import { actingFor } from "./acting.js";
import { longNumber } from "./insurance.js";
import { clearState, initPage, loadMe, showBlocked as showBlockedIn, showError } from "./page.js";
import { BIND_PATH, redirectToLogin } from "./session.js";

const ESTIMATE_PATH = "/estimate.html";
const CATEGORY_NAMES = { compliant: "医保范围内合规费用", reasonable: "医保范围外合理费用", special_drug: "特定药品费用" };

const stateBox = document.getElementById("estimate-state");
const blockedBox = document.getElementById("estimate-blocked");
const content = document.getElementById("estimate-content");
const form = document.getElementById("estimate-form");
const basisPolicy = document.getElementById("basis-policy");
const tierField = document.getElementById("tier-field");
const tierOptions = document.getElementById("tier-options");
const inPolicyInput = document.getElementById("in-policy");
const itemList = document.getElementById("item-list");
const addItemButton = document.getElementById("add-item");
const alertBox = document.getElementById("estimate-alert");
const submitButton = document.getElementById("estimate-submit");
const resultCard = document.getElementById("estimate-result");
const resultBody = document.getElementById("result-body");
const noticeText = document.getElementById("estimate-notice");
const treatedOnInput = document.getElementById("treated-on");
const conditionField = document.getElementById("condition-field");
const conditionSelect = document.getElementById("condition");

const picker = new ItemPicker(itemList, addItemButton);
const state = { product: null, tier: "standard", hasPolicy: false, policyNo: null, busy: false };

/** The product's listed pre-existing conditions (既往症), to say what the treatment was for. */
function showConditions() {
  const listed = state.product?.pre_existing || [];
  replaceChildren(conditionSelect,
    h("option", { value: "" }, "不是以下疾病 / 不确定"),
    listed.map((item) => h("option", { value: item.code_prefix }, `${item.name}（${item.code_prefix}）`)));
  conditionField.hidden = !listed.length;
}

function tierChoice(tier, checked) {
  return choice({ name: "tier", value: tier.code, title: tier.name, checked,
    meta: `保费 ${formatFen(tier.premium_fen)}/人/年` });
}

function showTiers() {
  const tiers = state.product?.tiers || [];
  if (!tiers.some((t) => t.code === state.tier)) state.tier = tiers[0]?.code || null;
  replaceChildren(tierOptions, tiers.map((t) => tierChoice(t, t.code === state.tier)));
  tierField.hidden = !tiers.length;
}

function showBasis(policy) {
  replaceChildren(basisPolicy,
    `${policy.product_name} · ${policy.tier_name}（被保险人 ${policy.insured_name}）`,
    h("span", { class: "basis__meta" }, "保单号 ", longNumber(policy.policy_no)));
  basisPolicy.hidden = false;
}

function usedBeforeNote(usedBefore) {
  const parts = Object.entries(usedBefore || {})
    .filter(([, use]) => use.deductible_used_fen > 0 || use.paid_fen > 0)
    .map(([category, use]) => `${CATEGORY_NAMES[category] || category}已用免赔额 ${formatFen(use.deductible_used_fen)}、已赔付 ${formatFen(use.paid_fen)}`);
  if (!parts.length) return "本年度还没有已赔付的理赔，免赔额按全额计算。";
  return `已计入本年度之前的理赔：${parts.join("；")}。`;
}

function renderResult(result) {
  const basis = result.policy_no
    ? [`按您的保单（${result.product_name} · ${result.tier_name}）估算`]
    : [`按${result.product_name} · ${result.tier_name}估算（您还没有有效保单）`];
  replaceChildren(resultBody,
    h("p", { class: "estimate-result__basis" }, basis),
    renderBreakdown(result.breakdown, { totalLabel: "大概能赔" }),
    h("p", { class: "payout-note", "data-used-before": true }, usedBeforeNote(result.used_before)),
    h("p", { class: "estimate-result__notice" },
      h("span", { class: "notice__icon", "aria-hidden": "true" }, "!"), result.notice),
    h("a", { class: "btn btn--primary btn--block", href: NEW_CLAIM_PATH }, "出院后申请理赔"));
  if (result.notice) noticeText.textContent = result.notice;
  resultCard.hidden = false;
  resultCard.focus();
  resultCard.scrollIntoView({ block: "start" });
}

async function estimate(event) {
  event.preventDefault();
  if (state.busy) return;
  clearFormAlert(alertBox);
  clearFieldError(inPolicyInput);
  picker.clearErrors();
  let first = null;
  const inPolicy = parseYuan(inPolicyInput.value, { required: false });
  if (inPolicy.error) {
    setFieldError(inPolicyInput, inPolicy.error);
    first = inPolicyInput;
  }
  const { items, invalid } = picker.collect();
  first ??= invalid;
  if (!first && !inPolicy.fen && !items.length) {
    setFieldError(inPolicyInput, "请填写医保范围内个人负担的费用，或添加医保范围外的费用项目");
    first = inPolicyInput;
  }
  if (first) {
    first.focus();
    return;
  }
  const body = { in_policy_self_pay_fen: inPolicy.fen || 0, items };
  if (conditionSelect.value) body.diagnosis_codes = [conditionSelect.value];
  if (treatedOnInput.value) body.treated_on = treatedOnInput.value;
  if (state.hasPolicy && state.policyNo) body.policy_no = state.policyNo;
  if (!state.hasPolicy && state.product) {
    body.product_id = state.product.id;
    body.tier = state.tier;
  }
  state.busy = true;
  setBusy(submitButton, true, "正在估算…");
  let result;
  try {
    result = await api.post("/claims/estimate", body);
  } catch (error) {
    state.busy = false;
    setBusy(submitButton, false);
    if (error instanceof ApiError && error.status === 401) {
      redirectToLogin(ESTIMATE_PATH);
      return;
    }
    if (error instanceof ApiError && error.code === "no_policy" && state.product) {
      // No live policy after all (e.g. just cancelled): estimate on a tier instead.
      state.hasPolicy = false;
      basisPolicy.hidden = true;
      showTiers();
    }
    const fieldMessage = error instanceof ApiError ? error.fieldMessage("in_policy_self_pay_fen") : "";
    if (fieldMessage) {
      setFieldError(inPolicyInput, fieldMessage);
      inPolicyInput.focus();
    } else {
      showFormAlert(alertBox, errorMessage(error));
      submitButton.focus();
    }
    return;
  }
  state.busy = false;
  setBusy(submitButton, false);
  renderResult(result);
}

function showBlocked(title, reason, link) {
  clearState(stateBox);
  showBlockedIn(blockedBox, title, reason, link);
}

async function load() {
  content.hidden = true;
  const me = await loadMe(stateBox, load, ESTIMATE_PATH);
  if (!me) return;
  if (!me.identity?.bound) {
    showBlocked("请先完成实名认证", "估算会按您本人的保单和本年度已赔付情况计算，请先核实身份。",
      h("a", { class: "btn btn--primary btn--block", href: `${BIND_PATH}?next=${encodeURIComponent(ESTIMATE_PATH)}` }, "去实名认证"));
    return;
  }
  let policies;
  let products;
  try {
    [policies, products] = await Promise.all([api.get("/policies"), api.get("/products")]);
  } catch (error) {
    showError(stateBox, error, load)?.focus();
    return;
  }
  // Acting for a relative (acting.js): /policies and /claims/estimate are theirs.
  const personId = actingFor()?.person_id ?? me.identity.person_id;
  const today = new Date().toISOString().slice(0, 10);
  const live = (policies?.items || []).filter((p) => p.status === "active" && p.insured_person_id === personId)
    // The policy running today first, else the next one to start (as the server picks).
    .sort((a, b) => Number(b.coverage_starts_on <= today) - Number(a.coverage_starts_on <= today));
  const items = products?.items || [];
  state.hasPolicy = live.length > 0;
  state.policyNo = live[0]?.policy_no || null;
  state.product = null;
  if (state.hasPolicy) {
    // The policy's own product, whether or not its window is still open.
    try {
      state.product = await api.get(`/products/${encodeURIComponent(live[0].product_id)}`);
    } catch {
      state.product = null;
    }
  } else {
    state.product = items.find((p) => p.enrollment?.is_open) || items[0] || null;
  }
  if (state.hasPolicy) showBasis(live[0]);
  else showTiers();
  showConditions();
  if (state.product) {
    try {
      picker.setCatalog(await api.get(`/products/${encodeURIComponent(state.product.id)}/claim-items`));
    } catch {
      /* the picker still offers 其他 */
    }
  }
  if (!picker.rows.length) picker.add();
  clearState(stateBox);
  content.hidden = false;
}

initPage();
tierOptions.addEventListener("change", (event) => {
  if (event.target instanceof HTMLInputElement && event.target.name === "tier") state.tier = event.target.value;
});
inPolicyInput.addEventListener("input", () => clearFieldError(inPolicyInput));
form.addEventListener("submit", estimate);
load();
