// 为家人投保: choose several persons (oneself and the members from 家人), a tier for each, the
// payment method; the confirm sheet (POST /enrollments/preview with `insured`) lists each person,
// tier and amount, the total, the masked account and the balance before and after; one agreement,
// then 确认支付 (POST /enrollments, Idempotency-Key) → 参保结果 with each person's policy.
//
// All or nothing: a refusal names the person (已参保, 关系尚未核验, …) and nothing is charged; the
// person can untick that member or switch to 在线支付. Members already insured (by oneself or by
// someone else) are shown, disabled, with 已参保 / 已由他人投保, so nobody pays twice.
//
// One's own family, from one's own account: never while this tab acts for someone else (代办).
// The members listed are the account's own (/me/family), so the page says so and offers 结束代办
// instead, and its requests never carry X-Acting-For.
//
// The relatives the registry links to the person and who are not in 家人 yet are listed too
// (family-picks.js): ticking one adds them to 家人 first, verified by the registry, with no name
// or ID number typed; if the registry does not answer, the page says so and works without them.
//
// What follows the choice of people (methods, sheet, terms, SMS code, paying) is checkout.js,
// shared with 确认参保; this file keeps the people, their tiers and the refusals about one person.

import { actingFor, stopActing } from "./acting.js";
import { api, ApiError, errorMessage } from "./api.js";
import { balancesText, createCheckout, row } from "./checkout.js";
import { h, replaceChildren } from "./dom.js";
import { formatFen } from "./format.js";
import {
  addPicked, fitWithin, inTimeForFirstPaint, loadRegistryRelatives, registryNote,
} from "./family-picks.js";
import { showFormAlert, showStatus } from "./forms.js";
import {
  FAMILY_ENROLL_PATH, FAMILY_PATH, familyResultPath, RELATION_LABELS, safePayUrl,
} from "./insurance.js";
import { outcomeUnknown } from "./intent.js";
import { initPage, showError, showLoading } from "./page.js";
import { fetchMe, isLoggedOut, redirectToLogin } from "./session.js";

const DEFAULT_TIER = "standard";
// Never X-Acting-For: the order is the account's own (see above).
const OWN = { actingFor: null };

// Refusals about the whole page (nobody can be bought for): shown instead of the form.
const BLOCKING = new Set([
  "window_closed", "identity_required", "not_registered", "consent_required", "consent_withdrawn",
  "not_found", "forbidden",
]);

const unpaidBox = document.getElementById("fe-unpaid");
const peopleList = document.getElementById("people");
// The registry's relatives (not in 家人 yet) go under the members, into a place held for them from
// the first paint (_layouts/registry-reserve.html) when they come later: nothing below moves.
const registryBox = document.getElementById("fe-registry");
const registryList = document.getElementById("fe-registry-list");
const registryReserve = registryBox.querySelector(".registry-box__reserve");

const checkout = createCheckout({
  prefix: "fe",
  path: FAMILY_ENROLL_PATH,
  intent: "family-enroll",
  apiOptions: OWN,
  blocking: BLOCKING,
  blockedTitle: "暂时不能投保",
  blockedView,
  requestBody,
  sheetParts,
  previewFailed,
  hasChoice: () => state.chosen.size > 0,
  renderEmpty: renderNothingChosen,
  onPayError,
  resultPath: familyResultPath,
});
const { els, state } = checkout;
state.method = "personal_account";
state.people = []; // {person_id, name, relation, age, coverage, verified, pick (not in 家人 yet)}
state.chosen = new Map(); // person_id → tier code, in the order people are listed

// ---------------------------------------------------------------- who

function taken(person) {
  return person.coverage === "已参保" || person.coverage === "已由他人投保" || person.coverage === "待支付";
}

const COVERAGE_LOOK = {
  未参保: { tone: "off", icon: "—" },
  待支付: { tone: "warn", icon: "!" },
  已参保: { tone: "ok", icon: "✓" },
  已由他人投保: { tone: "ok", icon: "✓" },
};

function pill(text, tone, icon, attrs = {}) {
  return h("span", { class: `status-pill status-pill--${tone}`, ...attrs },
    h("span", { "aria-hidden": "true" }, icon), text);
}

function tierOptions(selected) {
  return (state.product.tiers || []).map((tier) => h("option", {
    value: tier.code, selected: tier.code === selected,
  }, `${tier.name}　${formatFen(tier.premium_fen)}`));
}

/** A relative from the registry who is not in 家人 yet: added on ticking, then chosen. */
async function addFromRegistry(person, checkbox) {
  checkbox.disabled = true;
  let member;
  try {
    member = await addPicked(person);
  } catch (error) {
    checkbox.disabled = false;
    checkbox.checked = false;
    if (isLoggedOut(error)) redirectToLogin(FAMILY_ENROLL_PATH);
    else showFormAlert(els.alert, errorMessage(error));
    return;
  }
  Object.assign(person, { person_id: member.person_id, verified: member.verified, pick: null });
  state.chosen.set(person.person_id, DEFAULT_TIER);
  renderPeople();
  document.getElementById(`pick-${person.person_id}`)?.focus();
  onChoiceChanged(); // clears the messages: what happened is said after it
  showStatus(els.status, `已将${member.name}添加到家人，亲属关系已通过医保登记信息核验。`);
}

function renderPerson(person) {
  const key = person.person_id ?? person.pick;
  const id = `pick-${key}`;
  const relation = RELATION_LABELS[person.relation] || "";
  const disabled = taken(person);
  const look = COVERAGE_LOOK[person.coverage] || COVERAGE_LOOK.未参保;
  const checkbox = h("input", {
    type: "checkbox", class: "check__input", id, value: key,
    disabled, checked: !disabled && state.chosen.has(person.person_id),
    "aria-describedby": `${id}-meta`,
  });
  const select = h("select", { id: `tier-${key}`, class: "field__input pick__select" },
    tierOptions(state.chosen.get(person.person_id) || DEFAULT_TIER));
  const tierField = h("div", { class: "pick__tier", hidden: !checkbox.checked },
    h("label", { class: "pick__tier-label", for: select.id },
      "保障方案", h("span", { class: "visually-hidden" }, `（${person.name}）`)),
    select);
  checkbox.addEventListener("change", () => {
    if (person.pick) {
      if (checkbox.checked) addFromRegistry(person, checkbox);
      return;
    }
    if (checkbox.checked) state.chosen.set(person.person_id, select.value);
    else state.chosen.delete(person.person_id);
    tierField.hidden = !checkbox.checked;
    onChoiceChanged();
  });
  select.addEventListener("change", () => {
    if (state.chosen.has(person.person_id)) state.chosen.set(person.person_id, select.value);
    onChoiceChanged();
  });
  const notes = [];
  if (person.age != null) notes.push(h("span", { class: "nowrap" }, `${person.age}岁`));
  notes.push(pill(person.coverage, look.tone, look.icon, { "data-coverage": person.coverage }));
  if (!person.verified) {
    notes.push(pill("关系待验证", "warn", "!", { "data-verification": "pending" }));
  }
  let explain = null;
  if (person.coverage === "已由他人投保") explain = "其他家人已为TA投保，无需重复购买。";
  else if (person.coverage === "已参保") explain = "本年度已参保，无需重复购买。";
  else if (person.coverage === "待支付") explain = "有一笔订单等待支付，请先完成或取消该订单。";
  else if (!person.verified) explain = "亲属关系验证前只能在线支付；可先到“家人”页面输入验证码。";
  else if (person.pick) explain = "医保登记的家人：勾选后自动添加到“家人”，无需输入身份证号码。";
  return h("li", {
    class: `pick${disabled ? " pick--taken" : ""}`, "data-person": key,
    "data-registry": person.pick ? true : null,
    "data-relation": person.relation,
  },
  h("div", { class: "check" },
    checkbox,
    h("label", { class: "check__label pick__label", for: id },
      h("span", { class: "pick__name" }, person.name),
      h("span", { class: "pick__relation" }, `（${relation}）`))),
  h("p", { class: "pick__meta", id: `${id}-meta` }, notes, explain ? h("span", { class: "pick__explain" }, explain) : null),
  tierField);
}

function renderPeople() {
  const members = state.people.filter((person) => !person.pick);
  replaceChildren(peopleList, members.map(renderPerson));
  if (!state.registry) return; // still loading, into its held place
  const rows = state.people.filter((person) => person.pick).map(renderPerson);
  if (members.length <= 1 && !rows.length) {
    rows.push(h("li", { class: "pick pick--hint" },
      h("p", { class: "pick__explain" }, "您还没有添加家人。添加配偶、子女或父母后，可以在这里一起投保。"),
      h("a", { class: "btn btn--small", href: FAMILY_PATH }, "去添加家人")));
  }
  const { error } = state.registry;
  replaceChildren(registryList,
    rows.length ? h("ul", { class: "picks", role: "list" }, rows) : null,
    error ? registryNote(error, { typing: "可以先到“家人”页面输入身份证号码添加家人。" }) : null);
  if (!registryReserve.hidden) fitWithin(registryList, rows, registryReserve);
}

/** The registry's answer (`{ items }` or `{ error }`): its relatives not in 家人 yet are listed. */
function showRelatives(result) {
  state.registry = result;
  state.people.push(...(result.items || []).filter((relative) => relative.member_id == null)
    .map((relative) => ({
      person_id: null,
      pick: relative.pick,
      name: relative.name,
      relation: relative.relation,
      age: relative.age,
      coverage: relative.coverage,
      verified: true,
    })));
  renderPeople();
  registryBox.removeAttribute("aria-busy");
}

function insuredChoice() {
  return state.people
    .filter((person) => state.chosen.has(person.person_id))
    .map((person) => ({ person_id: person.person_id, tier: state.chosen.get(person.person_id) }));
}

function requestBody(method, confirmations) {
  return {
    product_id: state.product.id,
    insured: insuredChoice(),
    payment_method: method,
    confirmations,
  };
}

function onChoiceChanged() {
  checkout.clearMessages();
  // A fresh choice starts from the personal account again (where there is one).
  checkout.refresh(state.hasAccount === false ? "online" : (state.method === "subsidy" ? "personal_account" : state.method));
}

// ---------------------------------------------------------------- the confirm sheet

function renderLine(line) {
  return h("li", { class: "family-line", "data-line": line.person_id },
    h("div", { class: "family-line__who" },
      h("p", { class: "family-line__name" },
        line.name, h("span", { class: "family-line__relation" }, `（${RELATION_LABELS[line.relation] || ""}）`)),
      h("p", { class: "family-line__tier", "data-tier": true }, line.tier_name),
      line.subsidy_fen > 0
        ? h("p", { class: "family-line__subsidy" }, `政府资助 -${formatFen(line.subsidy_fen)}`) : null),
    h("p", { class: "family-line__amount", "data-amount": true }, formatFen(line.payable_fen)));
}

function methodHint(quote) {
  if (quote.payment_method === "subsidy") return "由政府资助全额缴纳，无需支付任何费用。";
  if (quote.payment_method === "online") return "点击确认支付后，将打开微信支付页面，一次付清上述全部金额。";
  return "点击确认支付即表示您本人同意从您的医保个人账户一次扣除上述合计金额。";
}

function sheetParts(quote) {
  const account = quote.account;
  return {
    lines: h("ul", { class: "family-lines", role: "list", "aria-label": "被保险人和保费" },
      quote.lines.map(renderLine)),
    totalLabel: `应付合计（${quote.lines.length}人）`,
    shortfallNotes: account ? [
      `个人账户可用余额${formatFen(account.balance_before_fen)}，本次需支付${formatFen(quote.payable_fen)}，未扣除任何费用。`,
      quote.lines.length > 1
        ? "您可以在上方取消勾选部分家人，用个人账户为其余家人缴费；或改用在线支付。"
        : "您可以改用在线支付。",
    ] : [],
    hint: methodHint(quote),
  };
}

function refusalHelp(error) {
  switch (error.code) {
    case "already_insured":
      return "请在上方取消勾选该家人；已参保的家人不会被重复收费。";
    case "pending_order":
      return "请先完成或取消该订单，或在上方取消勾选该家人。";
    case "relation_unverified":
      return "请先到“家人”页面输入验证码完成验证，或改用在线支付。";
    case "account_person_limit":
      return "您可以在上方减少用个人账户缴费的人数，或改用在线支付。";
    case "minor_needs_guardian":
      return "请在上方取消勾选该家人，由孩子的父母为其投保。";
    default:
      return "请在上方取消勾选该家人，或调整后重试。";
  }
}

/** A refusal about one person, in place of the sheet: the reason, nothing charged, the way on. */
function renderRefusal(error) {
  const canSwitch = state.method === "personal_account"
    && (error.code === "relation_unverified" || error.code === "account_person_limit");
  const actions = [];
  if (canSwitch) {
    const button = h("button", { type: "button", class: "btn btn--block" }, "改用在线支付");
    button.addEventListener("click", () => checkout.chooseMethod("online"));
    actions.push(button);
  }
  if (error.code === "relation_unverified") {
    actions.push(h("a", { class: "btn btn--block btn--quiet", href: FAMILY_PATH }, "去“家人”页面验证"));
  }
  replaceChildren(els.sheetBody,
    h("div", { class: "callout callout--tight", "data-refusal": error.code },
      h("p", { class: "callout__title" },
        h("span", { class: "callout__icon", "aria-hidden": "true" }, "!"), "不能按当前选择投保"),
      h("p", { class: "callout__text blocked__reason", "data-reason": true }, error.message),
      h("p", { class: "callout__text" }, `${refusalHelp(error)}本次未扣除任何费用。`),
      actions.length ? h("div", { class: "blocked__actions" }, actions) : null));
}

function renderNothingChosen() {
  replaceChildren(els.sheetBody,
    h("p", { class: "sheet__empty", "data-empty": true }, "请在上方勾选要投保的人，这里会列出每人的方案和金额。"));
}

function previewFailed(failure) {
  state.quote = null;
  state.refusal = failure instanceof ApiError && failure.status > 0 && failure.status < 500 ? failure : null;
  if (state.refusal) renderRefusal(state.refusal);
  else {
    replaceChildren(els.sheetBody, h("p", { class: "sheet__empty" }, "暂时无法计算金额。"));
    showFormAlert(els.alert, errorMessage(failure));
  }
  checkout.syncMethods();
  checkout.syncSms(null);
  checkout.syncPayBar();
}

/**
 * A rule about one person (已参保 now, 关系未核验, …) or an amount that changed: the sheet is read
 * again so it shows what is true now, and the reason stays in the alert.
 */
async function onPayError(error) {
  if (!(error instanceof ApiError) || error.status !== 422 || outcomeUnknown(error)) return false;
  await checkout.refresh(state.method);
  showFormAlert(els.alert, error.message);
  els.submit.focus();
  return true;
}

// ---------------------------------------------------------------- refusals and unpaid orders

/** Acting for someone else (代办): family purchases are one's own, so the page stops here. */
function blockedView(error) {
  if (error.code !== "acting") return null;
  const end = h("button", { type: "button", class: "btn btn--primary btn--block", "data-acting-stop": true },
    "结束代办，为自己的家人投保");
  end.addEventListener("click", () => {
    stopActing();
    window.location.replace(FAMILY_ENROLL_PATH);
  });
  return { title: "代办时不能为家人投保", links: [end] };
}

function renderUnpaid(orders) {
  if (!orders.length) {
    unpaidBox.hidden = true;
    return;
  }
  replaceChildren(unpaidBox, orders.map((order) => {
    const names = (order.lines || []).map((line) => line.name).join("、");
    const payUrl = safePayUrl(order.pay_url);
    const cancel = h("button", { type: "button", class: "btn btn--block btn--quiet" }, "取消该订单");
    cancel.addEventListener("click", () => checkout.cancelOrder(order.order_no, cancel));
    return h("section", { class: "callout", "aria-label": "待支付的订单", "data-unpaid": order.order_no },
      h("p", { class: "callout__title" },
        h("span", { class: "callout__icon", "aria-hidden": "true" }, "!"), "有一笔订单等待支付"),
      h("p", { class: "callout__text" }, `被保险人：${names}，应付${formatFen(order.payable_fen)}。这些家人暂不能再次选择。`),
      h("div", { class: "blocked__actions" },
        payUrl
          ? h("a", { class: "btn btn--primary btn--block", href: payUrl }, `继续支付 ${formatFen(order.payable_fen)}`)
          : h("a", { class: "btn btn--primary btn--block", href: familyResultPath(order.order_no) }, "查看支付结果"),
        cancel));
  }));
  unpaidBox.hidden = false;
}

// ---------------------------------------------------------------- start

/** Oneself as a row like the family members: coverage from one's policies and unpaid orders. */
function selfRow(me, product, policies, unpaid) {
  const personId = me.identity.person_id;
  const insured = policies.some((p) => p.insured_person_id === personId && p.product_id === product.id
    && p.status === "active");
  const waiting = unpaid.some((order) => (order.lines || []).some((line) => line.person_id === personId));
  return {
    person_id: personId,
    name: me.identity.name,
    relation: "self",
    age: me.identity.age,
    coverage: insured ? "已参保" : waiting ? "待支付" : "未参保",
    verified: true,
  };
}

async function load() {
  els.form.hidden = true;
  els.blocked.hidden = true;
  const acting = actingFor();
  if (acting) {
    checkout.showBlocked(new ApiError({
      status: 403,
      code: "acting",
      message: `您正在为${acting.name}代办。为家人投保是用您本人的账户为您自己的家人购买，代办时不能办理；请先结束代办。`,
    }));
    return;
  }
  showLoading(els.state);
  let me;
  let products;
  let family;
  let policies;
  let unpaid;
  let relatives;
  try {
    me = await fetchMe();
    if (!me) {
      redirectToLogin(FAMILY_ENROLL_PATH);
      return;
    }
    if (!me.identity?.bound) {
      checkout.showBlocked(new ApiError({ status: 403, code: "identity_required", message: "为家人投保前，请先完成本人的实名认证。" }));
      return;
    }
    // Asked beside the rest, never waited for long: a slow registry loads into a held place.
    relatives = loadRegistryRelatives();
    [products, family, policies, unpaid] = await Promise.all([
      api.get("/products"),
      api.get("/me/family", OWN),
      api.get("/policies", OWN),
      api.get("/enrollments?status=pending_payment", OWN),
    ]);
  } catch (error) {
    if (isLoggedOut(error)) {
      redirectToLogin(FAMILY_ENROLL_PATH);
      return;
    }
    if (error instanceof ApiError && BLOCKING.has(error.code)) {
      checkout.showBlocked(error);
      return;
    }
    showError(els.state, error, load)?.focus();
    return;
  }
  const items = Array.isArray(products?.items) ? products.items : [];
  const product = items.find((item) => item.enrollment?.is_open);
  if (!product) {
    checkout.showBlocked(new ApiError({ status: 404, code: "window_closed", message: "当前没有开放投保的产品。每年投保时间开始后，可在这里为家人投保。" }));
    return;
  }
  state.product = product;
  const unpaidOrders = (unpaid?.items || []).filter((order) => order.status === "pending_payment");
  state.people = [
    selfRow(me, product, policies?.items || [], unpaidOrders),
    ...(family?.items || []).map((member) => ({
      person_id: member.person_id,
      name: member.name,
      relation: member.relation,
      age: member.age,
      coverage: member.coverage,
      verified: member.verified,
    })),
  ];
  state.registry = null;
  const inTime = await inTimeForFirstPaint(relatives);
  registryReserve.hidden = inTime;
  if (inTime) showRelatives(await relatives);
  else relatives.then(showRelatives);
  // From 家人 (为李*投保): that person starts ticked.
  const wanted = Number(new URLSearchParams(window.location.search).get("person"));
  const preset = state.people.find((person) => person.person_id === wanted && !taken(person));
  if (preset) state.chosen.set(preset.person_id, DEFAULT_TIER);
  renderUnpaid(unpaidOrders);
  renderPeople();
  checkout.renderMethods(`使用您本人的${balancesText(product.payable_balances)}余额，为本人及配偶、子女、父母缴费`);
  checkout.renderTerms(product);
  await checkout.refresh("personal_account");
  if (!els.blocked.hidden) return;
  checkout.open();
}

initPage();
load();
