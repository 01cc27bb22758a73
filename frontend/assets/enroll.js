// 确认参保: tier, payment method, the confirm sheet (POST /enrollments/preview), the terms and one
// agreement, then 确认支付 (POST /enrollments with an Idempotency-Key).
//
// Three taps from the home page: 立即参保 → 勾选同意 → 确认支付. Everything else has a default:
// 标准版, and the payment method the first preview allows (医保个人账户 for employees, 在线支付
// for residents, 政府资助 when the subsidy pays it all). The terms are shown open above the
// agreement box, which can be ticked once the end of the terms has been on screen.
//
// What follows the choice of tier (methods, sheet, terms, SMS code, paying) is checkout.js, shared
// with 为家人投保; this file keeps whom the order is for (oneself, or the person this tab acts
// for), the tiers, and the refusals only this page has.

import { actingAllows, actingFor, PROXY_PATH, stopActing } from "./acting.js";
import { api, ApiError, errorMessage } from "./api.js";
import { balancesText, choice, createCheckout, row } from "./checkout.js";
import { h, replaceChildren } from "./dom.js";
import { formatFen } from "./format.js";
import { showFormAlert } from "./forms.js";
import { ENROLL_PATH, pendingOrder, POLICIES_PATH, resultPath, safePayUrl } from "./insurance.js";
import { initPage, showError, showLoading } from "./page.js";
import { rememberModeOnAccount } from "./session.js";

const DEFAULT_TIER = "standard";

// Refusals that no other tier or payment method can change: shown instead of the form.
const BLOCKING = new Set([
  "insurance_suspended", "other_city", "already_insured", "pending_order", "window_closed",
  "identity_required", "not_registered", "consent_required", "consent_withdrawn", "subsidy_used",
  "other_relief_insurance",
  "not_found", "forbidden", "not_authorized",
]);

const tierOptions = document.getElementById("tier-options");

// Acting for a family member (acting.js): the order is theirs, paid from their account only if
// the grant allows it (else online); a separate intent, so no key is shared with one's own order.
const acting = actingFor();
const PAYS_FROM_PRINCIPAL = "pay_from_principal_account";

const checkout = createCheckout({
  prefix: "enroll",
  path: ENROLL_PATH,
  intent: acting ? `enroll:for:${acting.person_id}` : "enroll",
  blocking: BLOCKING,
  blockedTitle: "暂时不能参保",
  blockedView,
  requestBody,
  sheetParts,
  methodNotes,
  fallback,
  previewFailed,
  resultPath,
  payOnlineAtOnce: true,
});
const { els, state } = checkout;
state.tier = DEFAULT_TIER;

// ---------------------------------------------------------------- tiers

function tierSummary(tier) {
  const main = (tier.benefits || []).find((b) => b.category === "compliant") || tier.benefits?.[0];
  if (!main) return null;
  return [h("span", { class: "nowrap" }, `免赔额${formatFen(main.deductible_fen, { compact: true })}`), " · ",
    h("span", { class: "nowrap" }, `最高赔付${formatFen(main.cap_fen, { compact: true })}`)];
}

function renderTiers(product) {
  const tiers = product.tiers || [];
  if (!tiers.some((tier) => tier.code === state.tier)) state.tier = tiers[0]?.code;
  replaceChildren(tierOptions, tiers.map((tier) => choice({
    name: "tier",
    value: tier.code,
    title: tier.name,
    meta: tierSummary(tier),
    aside: [h("span", { class: "choice__price" }, formatFen(tier.premium_fen)),
      h("span", { class: "price__unit" }, "/人/年")],
    checked: tier.code === state.tier,
  })));
}

function methodNotes(quote) {
  if (!(quote?.payable_fen > 0 && quote.subsidy_fen > 0)) return [];
  const tierName = state.product?.subsidy?.tier_name || "标准版";
  return [`政府已资助${formatFen(quote.subsidy_fen)}，超出部分需本人支付；选择${tierName}可全额资助。`];
}

// ---------------------------------------------------------------- the confirm sheet

function insuredName(line) {
  if (acting) return `${line.name}（您代办）`;
  return line.relation === "self" ? `${line.name}（本人）` : line.name;
}

function renderLine(line) {
  return h("div", { class: "sheet-line", "data-line": line.person_id },
    h("dl", { class: "sheet-rows" },
      row("被保险人", insuredName(line), { "data-row": "insured" }),
      row("保障方案", line.tier_name, { "data-row": "tier" }),
      row("保费", formatFen(line.premium_fen), { "data-row": "premium" }),
      line.subsidy_fen > 0
        ? row("政府资助", `-${formatFen(line.subsidy_fen)}`, { "data-row": "subsidy" }) : null));
}

function methodHint(quote) {
  if (quote.payment_method === "subsidy") return "由政府资助全额缴纳，您无需支付任何费用。";
  if (quote.payment_method === "online") return "点击确认支付后，将打开微信支付页面完成付款。";
  if (acting) {
    return `点击确认支付，即按${quote.account?.holder || acting.name}的授权，从其医保个人账户扣除上述金额。`;
  }
  return "点击确认支付即表示您本人同意从医保个人账户扣除上述金额。";
}

function sheetParts(quote) {
  const account = quote.account;
  return {
    lines: quote.lines.map(renderLine),
    totalLabel: quote.payment_method === "subsidy" ? "本人需支付" : "应付金额",
    shortfallNotes: account ? [
      `个人账户可用余额${formatFen(account.balance_before_fen)}，本次需支付${formatFen(quote.payable_fen)}。您可以改用在线支付。`,
    ] : [],
    hint: methodHint(quote),
  };
}

// ---------------------------------------------------------------- previews

function requestBody(method, confirmations) {
  return {
    product_id: state.product.id,
    tier: state.tier,
    payment_method: method,
    confirmations,
  };
}

/** After the codes checkout.js knows: the proxy's limits, and 政府资助 refused for any reason. */
function fallback(error, method) {
  switch (error.code) {
    case "proxy_pay_limit": // acting: over the grant's yearly limit, or not granted at all
    case "pay_not_authorized":
      state.accountProblem = error.message;
      return "online";
    default:
      return method === "subsidy" ? "personal_account" : null;
  }
}

/** Put the radios back to what the sheet on screen says (after a preview that failed). */
function showQuoteChoices(quote) {
  state.tier = quote.lines[0]?.tier || state.tier;
  for (const input of tierOptions.querySelectorAll("input")) input.checked = input.value === state.tier;
  state.method = quote.payment_method;
  checkout.syncMethods();
}

function previewFailed(failure, { first }) {
  if (first) {
    showError(els.state, failure, load)?.focus();
    return;
  }
  showFormAlert(els.alert, errorMessage(failure));
  if (state.quote) showQuoteChoices(state.quote);
  checkout.syncPayBar();
}

// ---------------------------------------------------------------- refusals

/** This page's own refusals (checkout.js has 实名认证, 授权 and 投保时间). */
function blockedView(error) {
  const code = error.code;
  if (code === "already_insured") {
    return {
      title: "已参保",
      ok: true,
      links: [h("a", { class: "btn btn--primary btn--block", href: POLICIES_PATH }, "查看我的保单")],
    };
  }
  if (code === "pending_order") {
    const pending = pendingOrder();
    const payUrl = safePayUrl(pending?.pay_url);
    if (!pending || !payUrl) {
      return {
        title: "有一笔订单等待支付",
        links: [h("p", { class: "blocked__text" }, "请回到支付页面完成支付；未支付的订单30分钟后自动关闭，关闭后即可重新参保。")],
      };
    }
    const cancel = h("button", { type: "button", class: "btn btn--block btn--quiet" }, "取消该订单，重新选择");
    cancel.addEventListener("click", () => checkout.cancelOrder(pending.order_no, cancel));
    return {
      title: "有一笔订单等待支付",
      links: [
        h("a", { class: "btn btn--primary btn--block", href: payUrl, "data-continue-pay": true },
          `继续支付${pending.payable_fen != null ? ` ${formatFen(pending.payable_fen)}` : ""}`),
        cancel,
      ],
    };
  }
  if (code === "not_authorized") {
    const links = [h("a", { class: "btn btn--primary btn--block", href: PROXY_PATH }, "查看代办授权")];
    if (acting) {
      const end = h("button", { type: "button", class: "btn btn--block" }, "结束代办，为自己办理");
      end.addEventListener("click", () => {
        stopActing();
        window.location.replace(ENROLL_PATH);
      });
      links.push(end);
    }
    return { title: acting ? `不能为${acting.name}代办参保` : "不能代办", links };
  }
  return null;
}

// ---------------------------------------------------------------- start

function onTierChange(event) {
  const input = event.target;
  if (!(input instanceof HTMLInputElement) || input.name !== "tier") return;
  checkout.clearMessages();
  state.tier = input.value;
  if (acting && state.accountProblem && actingAllows(PAYS_FROM_PRINCIPAL)) {
    state.accountProblem = null; // another premium may fit in what is left of the limit
    checkout.refresh("personal_account");
    return;
  }
  checkout.refresh(state.method || "personal_account");
}

async function load() {
  els.form.hidden = true;
  els.blocked.hidden = true;
  showLoading(els.state);
  let data;
  try {
    data = await api.get("/products");
  } catch (error) {
    showError(els.state, error, load)?.focus();
    return;
  }
  const items = Array.isArray(data?.items) ? data.items : [];
  const wanted = Number(new URLSearchParams(window.location.search).get("product"));
  // The list also holds products whose coverage year runs after their window closed.
  const open = items.filter((item) => item.enrollment?.is_open);
  const product = open.find((item) => item.id === wanted) || open[0];
  if (!product) {
    checkout.showBlocked(new ApiError({ status: 404, code: "window_closed", message: "当前没有开放投保的产品。每年投保时间开始后，可在首页参保。" }));
    return;
  }
  state.product = product;
  renderTiers(product);
  checkout.renderMethods(`使用${balancesText(product.payable_balances)}余额，本人确认后扣款`);
  checkout.renderTerms(product);
  if (acting) els.lead.textContent = `您正在为${acting.name}参保：核对下方信息，勾选同意后点击确认即可。`;
  // Acting without leave to pay from the principal's account: online from the start.
  const firstMethod = acting && !actingAllows(PAYS_FROM_PRINCIPAL) ? "online" : "personal_account";
  if (firstMethod === "online" && acting) state.accountProblem = `${acting.name}未授权您使用其医保个人账户缴费`;
  const quote = await checkout.refresh(firstMethod, { first: true });
  if (quote) checkout.open();
}

initPage();
rememberModeOnAccount();
tierOptions.addEventListener("change", onTierChange);
load();
