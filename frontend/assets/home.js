// Home page: the city's product(s) from GET /api/v1/products — open for enrollment, or in their
// coverage year after the window closed (benefits and terms stay visible all year).

import { api } from "./api.js";
import { h, paragraphs, replaceChildren } from "./dom.js";
import { dateRange, formatFen, formatRatio } from "./format.js";
import { clearState, initPage, showEmpty, showError, showLoading } from "./page.js";
import { fetchMe, fetchSession, LOGIN_PATH, loginUrl, ME_PATH } from "./session.js";

const BALANCE_NAMES = { prior_years: "历年账户", current_year: "当年账户" };

// The product's highlights come from its terms (GET /products: ``highlights``), so a product that
// limits pre-existing conditions never says 既往症可保可赔; these are only the rules of every
// 惠民保 product, for a server that sends none.
const BASE_HIGHLIGHTS = ["无健康告知", "不限年龄"];
const CATEGORY_LABELS = { compliant: "医保范围内合规费用", reasonable: "医保范围外合理费用", special_drug: "特定药品费用" };

const stateBox = document.getElementById("home-state");
const productsBox = document.getElementById("products");
const accountLink = document.querySelector("[data-account-link]");

function figure(term, value, extraClass = "") {
  return h("div", { class: `figure ${extraClass}`.trim() },
    h("dt", { class: "figure__term" }, term),
    h("dd", { class: "figure__value" }, value));
}

/** 75%, or with bands "70%，超过¥100,000部分80%". */
function ratioText(benefit) {
  const bands = benefit.bands || [];
  if (!bands.length) return formatRatio(benefit.ratio_bp);
  return [formatRatio(benefit.ratio_bp),
    ...bands.map((band) => `超过${formatFen(band.above_fen, { compact: true })}部分${formatRatio(band.ratio_bp)}`)].join("，");
}

function renderBenefit(benefit) {
  return h("li", { class: "benefit", "data-category": benefit.category },
    h("p", { class: "benefit__label" }, benefit.label),
    h("dl", { class: "benefit__figures" },
      figure("免赔额", formatFen(benefit.deductible_fen, { compact: true })),
      figure("赔付比例", ratioText(benefit)),
      figure("封顶线", formatFen(benefit.cap_fen, { compact: true }))),
    benefit.waiting_days
      ? h("p", { class: "benefit__note", "data-waiting": benefit.waiting_days },
        `首次参保等待期 ${benefit.waiting_days} 天（连续续保无等待期）`)
      : null);
}

function conditionRatios(condition) {
  return Object.entries(condition.ratios || {})
    .map(([category, ratio]) => `${CATEGORY_LABELS[category] || category}${ratio === null ? "不予赔付" : `按${formatRatio(ratio)}赔付`}`)
    .join("；");
}

/** 理赔规则: the deductible mode, the pre-existing conditions and the special-drug list search. */
function renderClaimTerms(product) {
  const conditions = product.pre_existing || [];
  const shared = product.deductible_mode === "shared";
  return h("section", { class: "card claim-terms", "aria-labelledby": `claim-terms-${product.id}`, "data-claim-terms": true },
    h("h3", { class: "card__title", id: `claim-terms-${product.id}` }, "理赔规则"),
    h("dl", { class: "facts" },
      h("div", { class: "fact", "data-fact": "deductible-mode" },
        h("dt", {}, "免赔额"),
        h("dd", {}, shared ? "各类费用共用一个年度免赔额" : "各类费用分别计算年度免赔额")),
      h("div", { class: "fact", "data-fact": "pre-existing" },
        h("dt", {}, "既往症"),
        h("dd", {}, conditions.length
          ? h("ul", { class: "plain-list", role: "list" }, conditions.map((condition) =>
            h("li", { "data-condition": condition.code_prefix },
              `${condition.name}（${condition.code_prefix}）：${conditionRatios(condition)}`)))
          : "既往症与其他疾病按相同规则赔付")),
      h("div", { class: "fact", "data-fact": "special-drugs" },
        h("dt", {}, "特药"),
        h("dd", {}, h("a", { href: `/drugs.html?product=${encodeURIComponent(product.id)}`, "data-drug-search": true },
          "查询特药清单、适应症和定点药店")))),
    conditions.length
      ? h("p", { class: "terms__intro" }, "既往症指投保前医保记录中已确诊的上述疾病，以医保记录为准。")
      : null);
}

function renderTier(tier, productId) {
  const headingId = `tier-${productId}-${tier.code}`;
  return h("section", { class: "tier card", "aria-labelledby": headingId, "data-tier": tier.code },
    h("div", { class: "tier__head" },
      h("h4", { class: "tier__name", id: headingId }, tier.name),
      h("p", { class: "tier__price" },
        h("span", { class: "visually-hidden" }, "保费"),
        h("span", { class: "nowrap" },
          h("span", { class: "price" }, formatFen(tier.premium_fen)),
          h("span", { class: "price__unit" }, " /人/年")))),
    h("ul", { class: "benefits", role: "list" }, (tier.benefits || []).map(renderBenefit)));
}


function paymentText(product) {
  const balances = (product.payable_balances || []).map((code) => BALANCE_NAMES[code]).filter(Boolean);
  if (!balances.length) return "在线支付。";
  return `职工医保参保人经本人确认同意，可使用医保个人账户（${balances.join("、")}）余额为本人及配偶、子女、父母投保；也可在线支付。`;
}

function lowestPremium(product) {
  const premiums = (product.tiers || []).map((tier) => tier.premium_fen);
  return premiums.length ? Math.min(...premiums) : null;
}

function renderHero(product, headingId) {
  const open = Boolean(product.enrollment?.is_open);
  const lowest = lowestPremium(product);
  return h("div", { class: "hero" },
    h("p", { class: `status-badge ${open ? "status-badge--open" : "status-badge--closed"}` },
      h("span", { class: "status-badge__icon", "aria-hidden": "true" }, open ? "✓" : "—"),
      open ? "投保进行中" : "当前不在投保时间内"),
    h("h2", { class: "hero__title", id: headingId }, product.name),
    h("p", { class: "hero__meta" }, `${product.city_name} · ${product.year}年度城市定制型商业医疗保险`),
    h("p", { class: "hero__meta" }, `承保公司：${product.insurer}`),
    h("ul", { class: "highlights", role: "list" },
      (product.highlights?.length ? product.highlights : BASE_HIGHLIGHTS).map((text) => h("li", { class: "highlight" },
        h("span", { class: "highlight__icon", "aria-hidden": "true" }, "✓"), text))),
    lowest === null ? null : h("p", { class: "hero__price" },
      h("span", { class: "hero__price-label" }, "保费低至"),
      h("span", { class: "nowrap" },
        h("span", { class: "price price--hero" }, formatFen(lowest)),
        h("span", { class: "price__unit" }, " /人/年"))));
}

function renderNotice(product) {
  const text = product.terms?.notice;
  if (!text) return null;
  return h("aside", { class: "notice", "aria-label": "重要提示", "data-notice": true },
    h("p", { class: "notice__title" },
      h("span", { class: "notice__icon", "aria-hidden": "true" }, "!"), "重要提示"),
    h("p", { class: "notice__text" }, text));
}

function renderDates(product) {
  return h("section", { class: "card", "aria-labelledby": `dates-${product.id}` },
    h("h3", { class: "card__title", id: `dates-${product.id}` }, "投保须知"),
    h("dl", { class: "facts" },
      h("div", { class: "fact fact--key", "data-fact": "enrollment" },
        h("dt", {}, "投保时间"),
        h("dd", {}, dateRange(product.enrollment.opens_on, product.enrollment.closes_on))),
      h("div", { class: "fact fact--key", "data-fact": "coverage" },
        h("dt", {}, "保障期间"),
        h("dd", {}, dateRange(product.coverage.starts_on, product.coverage.ends_on))),
      h("div", { class: "fact", "data-fact": "who" },
        h("dt", {}, "参保对象"),
        h("dd", {}, `${product.city_name}基本医疗保险参保人员（职工医保、城乡居民医保均可）`)),
      h("div", { class: "fact", "data-fact": "payment" },
        h("dt", {}, "缴费方式"),
        h("dd", {}, paymentText(product)))));
}

function renderTiers(product) {
  const tiers = product.tiers || [];
  return h("section", { class: "tiers", "aria-labelledby": `tiers-${product.id}` },
    h("h3", { class: "section-title", id: `tiers-${product.id}` },
      `保障方案（${tiers.length}档可选）`),
    tiers.map((tier) => renderTier(tier, product.id)));
}

// 为家人投保: several family members in one confirmation, paid from one's own account.
function familyEnrollLink(href) {
  return h("a", { class: "btn btn--block family-enroll-link", href, "data-family-enroll": true },
    "为家人投保");
}

/**
 * The bar that keeps the way in on screen while the page scrolls (fixed to the bottom): 立即参保
 * until the person is insured under this product, then 已参保 · 查看保单.
 */
function enrollBar(link) {
  return h("div", { class: "enroll-bar", "data-enroll-bar": true }, link);
}

function enrolledBar(product) {
  return h("section", { class: "card enroll", id: "enroll", "aria-label": "参保" },
    enrollBar(h("a", { class: "btn btn--primary btn--block", href: "/policies.html", "data-enrolled": true },
      "已参保 · 查看保单")),
    h("p", { class: "enroll__note" }, `您已参保${product.name}，可在“我的保单”中查看电子保单。`),
    familyEnrollLink("/family-enroll.html"));
}

// 立即参保 leads to 确认参保, where the tier and payment method already have their defaults (one tap
// here, then agree and pay); logged out, through the login page first (and on to 确认参保).
function renderEnroll(product, signedIn, enrolled) {
  const open = Boolean(product.enrollment?.is_open);
  const noteId = `enroll-note-${product.id}`;
  const enrollPath = `/enroll.html?product=${encodeURIComponent(product.id)}`;
  if (enrolled.has(product.id)) return enrolledBar(product);
  if (!signedIn) {
    const link = h("a", {
      class: "btn btn--primary btn--block",
      href: loginUrl(open ? enrollPath : "/"),
      "aria-describedby": noteId,
      "data-enroll": true,
    }, "立即参保");
    return h("section", { class: "card enroll", id: "enroll", "aria-label": "参保" },
      open ? enrollBar(link) : link,
      h("p", { class: "enroll__note", id: noteId },
        open ? "参保前请先登录，使用手机号和短信验证码即可。" : "当前不在投保时间内，可先登录查看账户信息。"),
      open ? familyEnrollLink(loginUrl("/family-enroll.html")) : null);
  }
  if (!open) {
    const link = h("a", {
      class: "btn btn--primary btn--block",
      href: "#enroll",
      "aria-disabled": "true",
      "aria-describedby": noteId,
      "data-enroll": true,
    }, "立即参保");
    link.addEventListener("click", (event) => event.preventDefault());
    return h("section", { class: "card enroll", id: "enroll", "aria-label": "参保" },
      link,
      h("p", { class: "enroll__note", id: noteId }, "当前不在投保时间内，投保开始后可在此一键参保。"),
      h("p", { class: "enroll__more" }, h("a", { href: "/policies.html" }, "查看我的保单")));
  }
  return h("section", { class: "card enroll", id: "enroll", "aria-label": "参保" },
    enrollBar(h("a", {
      class: "btn btn--primary btn--block",
      href: enrollPath,
      "aria-describedby": noteId,
      "data-enroll": true,
    }, "立即参保")),
    h("p", { class: "enroll__note", id: noteId }, "一键参保：核对信息、勾选同意后即可支付。"),
    familyEnrollLink("/family-enroll.html"),
    h("p", { class: "enroll__more" }, h("a", { href: "/policies.html" }, "查看我的保单")));
}

function renderTerms(product) {
  const terms = product.terms;
  if (!terms) return null;
  const parts = [
    ["coverage", "保障责任", terms.coverage],
    ["claim_scope", "理赔范围", terms.claim_scope],
    ["exclusions", "责任免除", terms.exclusions],
  ].filter(([, , text]) => text);
  return h("section", { class: "card terms", "aria-labelledby": `terms-${product.id}` },
    h("h3", { class: "card__title", id: `terms-${product.id}` }, "保险条款"),
    h("p", { class: "terms__intro" }, `请在投保前仔细阅读以下内容（条款版本 ${terms.version}）。`),
    parts.map(([key, title, text]) => h("details", { class: "disclosure", "data-terms": key },
      h("summary", { class: "disclosure__summary" }, title),
      h("div", { class: "disclosure__body" }, paragraphs(text)))));
}

// In-page shortcuts: the page is long, and scrolling precisely is hard for many older people.
function renderShortcuts(product) {
  const links = [
    [`dates-${product.id}`, "投保须知"],
    [`tiers-${product.id}`, "保障方案"],
    [`terms-${product.id}`, "保险条款"],
  ];
  if (!product.terms) links.pop();
  return h("nav", { class: "shortcuts", "aria-label": `${product.name}页面导航` },
    h("ul", { class: "shortcuts__list", role: "list" },
      links.map(([target, text]) => h("li", {}, h("a", { class: "shortcut", href: `#${target}` }, text)))));
}

function renderProduct(product, signedIn, enrolled) {
  const headingId = `product-${product.id}`;
  return h("article", { class: "product", "aria-labelledby": headingId, "data-product": product.code },
    renderHero(product, headingId),
    renderShortcuts(product),
    renderNotice(product),
    renderDates(product),
    renderTiers(product),
    renderClaimTerms(product),
    renderEnroll(product, signedIn, enrolled),
    renderTerms(product));
}

/** 登录 or 我的 in the header (GET /auth/session: only whether someone is signed in). */
async function loadAccount() {
  let signedIn = false;
  try {
    signedIn = await fetchSession();
  } catch {
    signedIn = false;
  }
  if (accountLink) {
    accountLink.textContent = signedIn ? "我的" : "登录";
    accountLink.href = signedIn ? ME_PATH : LOGIN_PATH;
    accountLink.hidden = false;
  }
  if (!signedIn) {
    // 长辈模式's tiles that need an account go straight to 登录 (and on to the tile's page),
    // saving the tap on the page's own 请先登录.
    for (const tile of document.querySelectorAll("[data-elder-action]:not([data-elder-action=enroll])")) {
      tile.href = loginUrl(tile.getAttribute("href"));
    }
  }
  return signedIn;
}

const account = loadAccount();

/**
 * The products the signed-in person is insured under (their own live policies), for the bar.
 * Not signed in, not yet 实名认证, or any failure: none (the bar then says 立即参保).
 */
async function enrolledProducts(signedIn) {
  if (!signedIn) return new Set();
  try {
    const me = await fetchMe();
    const self = me?.identity?.person_id;
    if (!self) return new Set();
    const { items = [] } = await api.get("/policies", { actingFor: null });
    return new Set(items.filter((p) => p.insured_person_id === self && p.status !== "cancelled")
      .map((p) => p.product_id));
  } catch {
    return new Set();
  }
}

async function load() {
  productsBox.hidden = true;
  showLoading(stateBox);
  let data;
  let signedIn;
  try {
    [data, signedIn] = await Promise.all([api.get("/products"), account]);
  } catch (error) {
    const retry = showError(stateBox, error, load);
    retry?.focus();
    return;
  }
  const items = Array.isArray(data?.items) ? data.items : [];
  if (!items.length) {
    showEmpty(stateBox, "当前没有开放投保的产品", "每年投保时间开始后，产品将在这里展示。");
    return;
  }
  const enrolled = await enrolledProducts(signedIn);
  replaceChildren(productsBox, items.map((product) => renderProduct(product, signedIn, enrolled)));
  clearState(stateBox);
  productsBox.hidden = false;
}

initPage();
load();
