// 电子保单: GET /policies/{policy_no}: the e-policy (printable), its verification QR code, 退保
// before coverage starts (POST …/cancel with an Idempotency-Key, after a dialog that says how much
// goes back and where), and 自动续保 (PUT …/auto-renew; on only after the consent text is agreed).

import { api, ApiError, errorMessage } from "./api.js";
import { confirmDialog } from "./dialog.js";
import { h, paragraphs, replaceChildren } from "./dom.js";
import { formatDate, formatFen, formatInstantDate, formatRatio } from "./format.js";
import { clearFormAlert, setBusy, showFormAlert, showStatus } from "./forms.js";
import {
  dateRange, epolicyPdfPath, fact, longNumber, METHOD_LABELS, receiptPdfPath, refundDestination, statusPill,
  validityTone,
} from "./insurance.js";
import { Intent } from "./intent.js";
import { initPage, loadInto, showMissing } from "./page.js";
import { isLoggedOut, redirectToLogin, rememberModeOnAccount } from "./session.js";

const policyNo = new URLSearchParams(window.location.search).get("no") || "";

const stateBox = document.getElementById("policy-state");
const content = document.getElementById("policy-content");
const epolicy = document.getElementById("epolicy");
const renewCard = document.getElementById("renew-card");
const renewSwitch = document.getElementById("renew-switch");
const renewStatus = document.getElementById("renew-status");
const renewNote = document.getElementById("renew-note");
const renewPayerNote = document.getElementById("renew-payer-note");
const cancelCard = document.getElementById("cancel-card");
const cancelBody = document.getElementById("cancel-body");
const alertBox = document.getElementById("policy-alert");
const printButton = document.getElementById("print");

const cancelIntent = new Intent(`cancel:${policyNo}`);
let policy = null;

const REFUND_STATES = {
  succeeded: "已退回",
  pending: "退款处理中",
  failed: "退款暂未成功，承保公司客服将与您联系",
};

function money(fen) {
  return h("span", { class: "amount" }, formatFen(fen));
}

function renderRefund(p) {
  const refund = p.refund;
  if (!refund) return null;
  const when = refund.settled_at ? `${formatInstantDate(refund.settled_at)}` : "";
  return h("div", { class: "refund", "data-refund": true },
    h("p", { class: "refund__title" },
      h("span", { "aria-hidden": "true" }, "—"), " 已退保"),
    h("dl", { class: "facts" },
      fact("退款金额", money(refund.amount_fen), { "data-fact": "refund-amount" }),
      fact("退回至", refundDestination(p.payment_method), { "data-fact": "refund-to" }),
      fact("退款状态", `${REFUND_STATES[refund.status] || refund.status}${when ? `（${when}）` : ""}`,
        { "data-fact": "refund-status" }),
      fact("退款单号", longNumber(refund.refund_no), { class: "fact fact--stack" })));
}

function renderPolicy(p) {
  const paidBy = p.payment_method === "subsidy"
    ? "政府资助"
    : METHOD_LABELS[p.payment_method] || p.payment_method;
  const qr = h("img", {
    class: "epolicy__qr", src: p.qr_url, width: "180", height: "180",
    alt: `保单验真二维码：扫码打开验真页面，核对保单 ${p.policy_no}`, "data-qr": true,
  });
  replaceChildren(epolicy,
    h("header", { class: "epolicy__head" },
      h("p", { class: "epolicy__kicker" }, "城市定制型商业医疗保险 · 电子保单"),
      h("h2", { class: "epolicy__title", id: "epolicy-title" }, p.product_name),
      h("p", { class: "epolicy__insurer" }, `承保公司：${p.insurer}`),
      statusPill(p.validity || p.status_label, validityTone(p))),
    h("dl", { class: "facts epolicy__facts" },
      fact("保单号", longNumber(p.policy_no), { "data-fact": "policy-no", class: "fact fact--stack" }),
      fact("被保险人", p.insured_name, { "data-fact": "insured" }),
      fact("证件号码", h("span", { class: "mono" }, p.insured_id_number), { "data-fact": "id-number" }),
      fact("投保人", p.holder_name, { "data-fact": "holder" }),
      fact("保障方案", p.tier_name, { "data-fact": "tier" }),
      fact("保障期间", dateRange(p.coverage_starts_on, p.coverage_ends_on), { "data-fact": "coverage" }),
      fact("保费", money(p.premium_fen), { "data-fact": "premium" }),
      p.subsidy_fen > 0 ? fact("政府资助", money(p.subsidy_fen), { "data-fact": "subsidy" }) : null,
      fact("实付金额", [money(p.paid_fen), h("span", { class: "fact__note" }, `（${paidBy}）`)],
        { "data-fact": "paid" }),
      fact("出单日期", formatInstantDate(p.issued_at), { "data-fact": "issued" }),
      fact("自动续保", p.auto_renew ? "已开启" : "未开启", { "data-fact": "auto-renew" })),
    renderRefund(p),
    h("div", { class: "epolicy__verify" },
      qr,
      h("div", { class: "epolicy__verify-text" },
        h("p", { class: "epolicy__verify-title" }, "扫码验真"),
        h("p", {}, "用手机扫描二维码，可核对本保单是否真实有效。"),
        h("p", { class: "no-print" },
          h("a", { href: p.verify_url, "data-verify-link": true }, "在线验真"),
          h("span", { class: "visually-hidden" }, `（保单 ${p.policy_no}）`)))),
    renderCover(p),
    p.notice ? h("p", { class: "epolicy__notice" },
      h("span", { class: "notice__icon", "aria-hidden": "true" }, "!"), p.notice) : null);
}

const CATEGORY_LABELS = { compliant: "医保范围内合规费用", reasonable: "医保范围外合理费用", special_drug: "特定药品费用" };

function benefitText(b) {
  const bands = (b.bands || []).map((band) => `，超过${formatFen(band.above_fen)}部分${formatRatio(band.ratio_bp)}`).join("");
  const waiting = b.waiting_days ? `；首次参保等待期${b.waiting_days}天` : "";
  return `免赔额${formatFen(b.deductible_fen)}，赔付比例${formatRatio(b.ratio_bp)}${bands}，封顶线${formatFen(b.cap_fen)}${waiting}`;
}

/** The policy's own cover: its tier's benefits, the claim terms and the terms it was bought under. */
function renderCover(p) {
  const benefits = p.benefits || [];
  const conditions = p.pre_existing || [];
  const terms = p.terms;
  if (!benefits.length && !terms) return null;
  return h("section", { class: "epolicy__cover", "aria-label": "保障内容与条款", "data-cover": true },
    h("h3", { class: "epolicy__section-title" }, "保障内容"),
    h("dl", { class: "facts" },
      benefits.map((b) => fact(b.label, benefitText(b), { "data-benefit": b.category, class: "fact fact--stack" })),
      fact("免赔额计算", p.deductible_mode === "shared" ? "各类费用共用一个年度免赔额" : "各类费用分别计算",
        { "data-fact": "deductible-mode" }),
      conditions.length ? fact("既往症", conditions.map((c) => `${c.name}（${c.code_prefix}）：${
        Object.entries(c.ratios).map(([cat, r]) => `${CATEGORY_LABELS[cat] || cat}${r === null ? "不予赔付" : formatRatio(r)}`).join("，")}`).join("；"),
      { "data-fact": "pre-existing", class: "fact fact--stack" }) : null),
    terms ? h("div", { class: "epolicy__terms", "data-policy-terms": terms.version },
      h("h3", { class: "epolicy__section-title" }, `保险条款（版本 ${terms.version}）`),
      [["保障责任", terms.coverage], ["理赔范围", terms.claim_scope], ["责任免除", terms.exclusions]]
        .filter(([, text]) => text)
        .map(([title, text]) => h("details", { class: "disclosure" },
          h("summary", { class: "disclosure__summary" }, title),
          h("div", { class: "disclosure__body" }, paragraphs(text))))) : null);
}

// ---------------------------------------------------------------- 退保

function renderCancel(p) {
  if (p.status === "cancelled") {
    cancelCard.hidden = true;
    return;
  }
  cancelCard.hidden = p.status !== "active";
  if (!p.can_cancel) {
    replaceChildren(cancelBody,
      h("p", { class: "card__lead", "data-cancel-closed": true },
        `保障期已于${formatDate(p.coverage_starts_on)}开始，不能退保。如有疑问请联系承保公司客服。`));
    return;
  }
  const button = h("button", { type: "button", class: "btn btn--block btn--danger-outline", id: "cancel-policy" },
    "申请退保");
  button.addEventListener("click", () => cancelPolicy(button));
  replaceChildren(cancelBody,
    h("p", { class: "card__lead" },
      `保障开始（${formatDate(p.coverage_starts_on)}）前可以退保，已付保费全额原路退回。`),
    button);
}

async function cancelPolicy(button) {
  const p = policy;
  clearFormAlert(alertBox);
  const refund = p.paid_fen;
  const ok = await confirmDialog({
    title: "确认退保？",
    body: [
      h("p", {}, `退保后本保单立即失效，被保险人${p.insured_name}将不再享有${p.product_name}的保障。`),
      h("dl", { class: "dialog-facts" },
        h("div", { class: "dialog-fact" }, h("dt", {}, "退还金额"),
          h("dd", { class: "dialog-fact__amount", "data-refund-amount": true }, formatFen(refund))),
        h("div", { class: "dialog-fact" }, h("dt", {}, "退回至"),
          h("dd", { "data-refund-to": true }, refundDestination(p.payment_method)))),
      h("p", {}, "投保期内，退保后仍可重新参保。"),
    ],
    confirmText: "确认退保",
    cancelText: "暂不退保",
    tone: "danger",
  });
  if (!ok) return;
  const key = cancelIntent.keyFor({ policy_no: p.policy_no });
  setBusy(button, true, "正在退保…");
  let updated;
  try {
    updated = await api.post(`/policies/${encodeURIComponent(p.policy_no)}/cancel`, undefined,
      { idempotencyKey: key, timeoutMs: 30000 });
  } catch (error) {
    cancelIntent.settle(error);
    setBusy(button, false);
    if (isLoggedOut(error)) {
      redirectToLogin();
      return;
    }
    showFormAlert(alertBox, errorMessage(error));
    if (error instanceof ApiError && error.status > 0) await reload();
    return;
  }
  cancelIntent.settle();
  render(updated);
  const amount = updated.refund?.amount_fen ?? refund;
  const settled = updated.refund?.status === "succeeded";
  showFormAlert(alertBox, amount > 0
    ? `已退保，${formatFen(amount)}${settled ? "已" : "将"}${refundDestination(updated.payment_method)}。`
    : "已退保，政府资助资格已恢复。", { kind: "info" });
  epolicy.querySelector("[data-refund]")?.scrollIntoView({ block: "center" });
}

// ---------------------------------------------------------------- 自动续保

// Auto-renewal debits the personal account after a reminder (DESIGN §2.4): offered for policies
// paid that way; others are bought again in next year's window. Only the payer in person may turn
// it on (the server's rule, answered as can_set_auto_renew), so nobody else sees the switch; the
// payer may always turn it off again.
function syncRenew(p) {
  renewCard.hidden = p.status !== "active";
  const offered = p.payment_method === "personal_account" || p.auto_renew;
  const mine = Boolean(p.can_set_auto_renew || (p.viewer_is_payer && p.auto_renew));
  renewSwitch.hidden = !offered || !mine;
  renewNote.hidden = offered;
  let payerNote = "";
  if (offered && !mine) {
    payerNote = p.viewer_is_payer
      ? "代缴的保单暂不支持自动续保，请到期后重新投保。"
      : `自动续保由付款人${p.payer_name || ""}管理：续保保费从付款人的医保个人账户扣除，只能由付款人本人开启。`;
  }
  renewPayerNote.textContent = payerNote;
  renewPayerNote.hidden = !payerNote;
  renewSwitch.setAttribute("aria-checked", p.auto_renew ? "true" : "false");
  renewSwitch.querySelector("[data-switch-state]").textContent = p.auto_renew ? "开" : "关";
}

async function toggleRenew() {
  const p = policy;
  const enable = !p.auto_renew;
  renewStatus.replaceChildren();
  clearFormAlert(alertBox);
  let consentVersion = null;
  if (enable) {
    let consent;
    try {
      consent = await api.get("/auto-renew-consent");
    } catch (error) {
      showFormAlert(alertBox, errorMessage(error));
      return;
    }
    const ok = await confirmDialog({
      title: "开启自动续保",
      body: [h("p", { class: "consent__version" }, `授权说明 版本 ${consent.version}`),
        ...paragraphs(consent.text)],
      confirmText: "同意并开启",
      cancelText: "暂不开启",
    });
    if (!ok) return;
    consentVersion = consent.version;
  }
  renewSwitch.disabled = true;
  let updated;
  try {
    updated = await api.put(`/policies/${encodeURIComponent(p.policy_no)}/auto-renew`,
      { enabled: enable, consent_version: consentVersion });
  } catch (error) {
    renewSwitch.disabled = false;
    if (isLoggedOut(error)) {
      redirectToLogin();
      return;
    }
    showFormAlert(alertBox, errorMessage(error));
    return;
  }
  renewSwitch.disabled = false;
  render(updated);
  showStatus(renewStatus, updated.auto_renew
    ? "已开启自动续保。续保扣款前会先短信提醒您。"
    : "已关闭自动续保。");
  renewSwitch.focus();
}

// ---------------------------------------------------------------- load

function render(p) {
  policy = p;
  document.title = `电子保单 ${p.policy_no} - 惠民保参保服务`;
  document.getElementById("epolicy-pdf").href = epolicyPdfPath(p.policy_no);
  document.getElementById("receipt-pdf").href = receiptPdfPath(p.policy_no);
  renderPolicy(p);
  syncRenew(p);
  renderCancel(p);
}

async function reload() {
  try {
    render(await api.get(`/policies/${encodeURIComponent(policyNo)}`));
  } catch {
    /* the page keeps what it showed */
  }
}

function load() {
  if (!policyNo) {
    content.hidden = true;
    showMissing(stateBox, { title: "请选择要查看的保单", text: "这个链接没有带保单号，请在“我的保单”中选择。",
      href: "/policies.html", action: "查看我的保单" });
    return Promise.resolve();
  }
  return loadInto({
    box: stateBox, content, fetch: () => api.get(`/policies/${encodeURIComponent(policyNo)}`), render,
  });
}

initPage();
rememberModeOnAccount();
renewSwitch.addEventListener("click", toggleRenew);
printButton.addEventListener("click", () => window.print());
load();
