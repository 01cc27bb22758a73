// 理赔: GET /claims, one card per claim with its status in words (a chip with a shape), the
// hospital, the stay, the amounts, and a link to the detail; 申请理赔 and 赔付估算 up top.
//
// ?acting_for=<person id> lists a principal's claims (X-Acting-For, needs claims_view): the way in
// for the proxy (代办) pages. The detail page itself never sends X-Acting-For.

import { api } from "./api.js";
import { h, replaceChildren } from "./dom.js";
import { formatFen } from "./format.js";
import { channelText, claimChip, claimNumber, claimPath, claimsSubject, fact, stay } from "./claim-common.js";
import { actingAllows, actingFor } from "./acting.js";
import { initPage, loadList, showEmpty } from "./page.js";
import { rememberModeOnAccount } from "./session.js";

const stateBox = document.getElementById("claims-state");
const list = document.getElementById("claim-list");
const actions = document.getElementById("claim-actions");
const lead = document.getElementById("claims-lead");

// Acting for a relative (?acting_for= from the proxy pages, or this tab's 代办): their claims.
const subject = claimsSubject(actingFor());
const principal = subject ? String(subject.personId) : null;

function payoutText(claim) {
  if (claim.payout_fen === null || claim.payout_fen === undefined) {
    return claim.status === "rejected" ? "未予赔付" : "审核通过后确定";
  }
  return h("span", { class: "amount" }, formatFen(claim.payout_fen));
}

function renderClaim(claim) {
  const titleId = `claim-${claim.claim_no}`;
  return h("li", { class: "card claim-card", "data-claim": claim.claim_no },
    h("article", { "aria-labelledby": titleId },
      h("div", { class: "claim-card__head" },
        h("h3", { class: "claim-card__title", id: titleId }, claim.hospital_name),
        claimChip(claim.status, claim.status_label, { tag: "p" })),
      h("dl", { class: "facts" },
        fact(claim.kind && claim.kind !== "inpatient" ? "就诊日期" : "住院日期", stay(claim.admitted_on, claim.discharged_on), { "data-fact": "stay" }),
        fact("被保险人", claim.insured_name, { "data-fact": "insured" }),
        fact("办理方式", channelText(claim), { "data-fact": "channel" }),
        fact("费用合计", formatFen(claim.claimed_fen), { "data-fact": "claimed" }),
        fact("赔付金额", payoutText(claim), { "data-fact": "payout", class: "fact fact--key" }),
        fact("理赔编号", claimNumber(claim.claim_no), { "data-fact": "claim-no", class: "fact fact--stack" })),
      h("a", { class: "btn btn--block claim-card__link", href: claimPath(claim.claim_no) },
        "查看详情", h("span", { class: "visually-hidden" }, `（${claim.hospital_name}，${claim.claim_no}）`))));
}

function showNone() {
  showEmpty(stateBox, "还没有理赔记录", principal
    ? "家人的理赔申请和一站式结算会显示在这里。"
    : "在医院一站式结算或在线申请理赔后，进度会显示在这里。");
}

function load() {
  return loadList({
    box: stateBox, content: list,
    fetch: () => api.get("/claims", principal ? { actingFor: principal } : undefined),
    empty: showNone,
    fill: (items) => replaceChildren(list, items.map(renderClaim)),
  });
}

initPage();
rememberModeOnAccount();
if (subject) {
  // Acting for a relative: their records. Applying and estimating act for whom this tab acts for
  // (acting.js), so they are offered only then, and applying only with 代为申请理赔.
  lead.textContent = subject.name
    ? `您正在为 ${subject.name} 代办：以下是${subject.name}的理赔记录。`
    : "您正在代家人查看理赔记录。";
  const [apply, estimate] = actions.querySelectorAll("a");
  apply.hidden = !(subject.stored && actingAllows("claims_submit"));
  estimate.hidden = !subject.stored;
  actions.hidden = apply.hidden && estimate.hidden;
}
load();
