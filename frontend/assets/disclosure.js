// 信息披露 (public, no login): a product's figures from GET /api/v1/disclosure/{id}, live or as of
// a stated time, with bar charts drawn in HTML (labels at the body size, no CDN), the service
// satisfaction averages and the CSV download.

import { api } from "./api.js";
import { h, replaceChildren } from "./dom.js";
import { clearFormAlert, setFieldError, clearFieldError, showFormAlert } from "./forms.js";
import { formatFen, formatInstant } from "./format.js";
import { clearState, initPage, showEmpty, showError, showLoading } from "./page.js";

const stateBox = document.getElementById("disclosure-state");
const content = document.getElementById("disclosure-content");
const form = document.getElementById("disclosure-form");
const productSelect = document.getElementById("product");
const productField = document.getElementById("product-field");
const asOfInput = document.getElementById("as-of");
const alertBox = document.getElementById("disclosure-alert");
const figuresBox = document.getElementById("figures");
const chartsBox = document.getElementById("charts");
const asOfText = document.getElementById("as-of-text");
const csvLink = document.getElementById("csv-link");
const liveButton = document.getElementById("live");

function stat(key, term, value, note = "") {
  return h("div", { class: "stat", "data-figure": key },
    h("dt", { class: "stat__term" }, term),
    h("dd", { class: "stat__value" }, value),
    note ? h("dd", { class: "stat__note" }, note) : null);
}

/**
 * One horizontal bar per bucket, in HTML: the labels are body text (as large as the page's text,
 * also in 长辈模式) and wrap on a narrow screen; the numbers are written next to the bars.
 */
function barChart(id, title, buckets, unit = "人") {
  const max = Math.max(1, ...buckets.map((b) => b.count));
  const rows = buckets.map((bucket) => {
    const bar = h("span", { class: bucket.count ? "hbar__bar" : "hbar__bar hbar__bar--zero" });
    bar.style.width = `${Math.max(1, Math.round((bucket.count / max) * 100))}%`;
    return h("li", { class: "hbar__row" },
      h("span", { class: "hbar__label" }, bucket.label),
      h("span", { class: "hbar__track", "aria-hidden": "true" }, bar),
      h("span", { class: "hbar__value", "data-bucket": `${id}:${bucket.key}` }, `${bucket.count}${unit}`));
  });
  return h("figure", { class: "chart", "data-chart": id, "aria-labelledby": `${id}-title` },
    h("figcaption", { class: "chart__title", id: `${id}-title` }, title),
    h("ul", { class: "hbar", role: "list" }, rows));
}

function render(data) {
  const claims = data.claims || {};
  const enrolled = data.enrolled || {};
  asOfText.textContent = `${data.product.name}（${data.product.year}年度）· 统计时点：${formatInstant(data.as_of)}${data.live ? "（最新统计，每5分钟更新）" : ""}`;
  const items = [
    stat("enrolled-total", "参保人数", `${enrolled.total}人`),
    stat("premium-income", "保费收入", formatFen(data.premium_income_fen)),
  ];
  if (claims.available) {
    items.push(
      stat("claims-accepted", "理赔受理件数", `${claims.accepted}件`),
      stat("claims-paid", "理赔赔付件数", `${claims.paid}件`),
      stat("payout", "赔付金额", formatFen(claims.payout_fen)),
      stat("payout-ratio", "赔付率", data.payout_ratio ?? "—", data.payout_ratio ? "" : "暂无保费收入"),
      stat("largest-payout", "单笔最高赔付", formatFen(claims.largest_payout_fen)),
      stat("median-decision", "理赔核定用时（中位数）",
        claims.median_days_to_decision == null ? "—" : `${claims.median_days_to_decision}天`),
      stat("median-payment", "申请至赔款到账（中位数）",
        claims.median_days_to_payment == null ? "—" : `${claims.median_days_to_payment}天`),
      stat("claims-overdue", "超过承诺时限未处理", `${claims.overdue ?? 0}件`));
  } else {
    items.push(stat("claims", "理赔数据", "暂未接入"));
  }
  const yearEnd = data.year_end;
  if (yearEnd) {  // 002 三(五): after the coverage year, against the target payout ratio
    items.push(
      stat("target-ratio", "目标赔付率", yearEnd.target_payout_ratio, `年度赔付率（账面）${yearEnd.payout_ratio ?? "—"}`),
      stat("surplus", yearEnd.surplus_fen >= 0 ? "年度结余" : "超出目标的赔付",
        formatFen(Math.abs(yearEnd.surplus_fen)), "按目标赔付率×保费收入−赔付金额计算，结余滚存用于参保人"));
  }
  if (data.surplus_use) {
    items.push(stat("surplus-use", "使用上年度结余", formatFen(data.surplus_use.amount_fen), data.surplus_use.note));
  }
  replaceChildren(figuresBox, items);
  csvLink.href = data.csv_url;
  csvLink.setAttribute("download", `disclosure-${data.product.id}.csv`);
  loadSatisfaction(data.product.id);
  replaceChildren(chartsBox,
    barChart("scheme", "按医保类型", enrolled.by_scheme || []),
    barChart("age", "按年龄段", enrolled.by_age_band || []),
    barChart("channel", "按缴费渠道", enrolled.by_channel || []));
}

/** 满意度 (GET /disclosure/{id}/satisfaction): how residents rated complaints and claims. */
async function loadSatisfaction(productId) {
  const box = document.getElementById("satisfaction");
  let data;
  try {
    data = await api.get(`/disclosure/${encodeURIComponent(productId)}/satisfaction`);
  } catch {
    replaceChildren(box, stat("satisfaction", "满意度", "暂时无法获取"));
    return;
  }
  const one = (key, term, figures) => stat(key, term,
    figures.average ? `${figures.average}分` : "暂无评价",
    figures.count ? `满分5分，${figures.count}人评价` : "办结后由当事人评价");
  replaceChildren(box,
    one("satisfaction-complaints", "投诉处理满意度", data.complaints),
    one("satisfaction-claims", "理赔服务满意度", data.claims));
}

/** "2026-11-22T18:30" typed in Beijing time -> an ISO instant with its offset. */
function asOfParam() {
  const value = asOfInput.value.trim();
  return value ? `${value.length === 16 ? `${value}:00` : value}+08:00` : "";
}

async function loadFigures() {
  clearFormAlert(alertBox);
  clearFieldError(asOfInput);
  const productId = productSelect.value;
  const asOf = asOfParam();
  const query = asOf ? `?as_of=${encodeURIComponent(asOf)}` : "";
  try {
    const data = await api.get(`/disclosure/${encodeURIComponent(productId)}${query}`);
    render(data);
    const url = new URL(window.location.href);
    url.searchParams.set("product", productId);
    if (asOf) url.searchParams.set("as_of", asOfInput.value); else url.searchParams.delete("as_of");
    window.history.replaceState(null, "", url);
  } catch (error) {
    const fieldMessage = error?.fieldMessage?.("as_of");
    if (fieldMessage) {
      setFieldError(asOfInput, fieldMessage);
      asOfInput.focus();
    } else {
      showFormAlert(alertBox, error.message || "加载失败，请稍后重试");
    }
  }
}

async function start() {
  initPage();
  content.hidden = true;
  showLoading(stateBox);
  let products;
  try {
    products = (await api.get("/disclosure")).items || [];
  } catch (error) {
    showError(stateBox, error, start)?.focus();
    return;
  }
  if (!products.length) {
    showEmpty(stateBox, "暂无可披露的产品", "产品发布后，这里将公开其参保和理赔数据。");
    return;
  }
  const params = new URLSearchParams(window.location.search);
  replaceChildren(productSelect, products.map((p) => h("option", { value: p.id },
    `${p.name}（${p.year}年度）`)));
  const wanted = params.get("product");
  if (wanted && products.some((p) => String(p.id) === wanted)) productSelect.value = wanted;
  productField.hidden = products.length < 2 && !wanted;
  if (params.get("as_of")) asOfInput.value = params.get("as_of");
  clearState(stateBox);
  content.hidden = false;
  await loadFigures();
}

form.addEventListener("submit", (event) => {
  event.preventDefault();
  loadFigures();
});
liveButton.addEventListener("click", () => {
  asOfInput.value = "";
  loadFigures();
});
productSelect.addEventListener("change", () => loadFigures());

start();
