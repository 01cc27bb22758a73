// 监管报表: the bureau's report for a published product and a month or a chosen period
// (GET /api/v1/admin/products/{id}/report): one table per group of figures, and for the
// breakdowns a bar chart. The chart is inline SVG bars beside real text (label and value in
// words and digits), so it reads without colour, scales with 长辈模式's larger text, and a
// screen reader reads the same figures as the table.

import { api } from "./api.js";
import { fact, h, replaceChildren } from "./dom.js";
import { formatInstant } from "./format.js";
import { clearFieldError, clearFormAlert, setBusy, showApiError } from "./forms.js";
import { clearState, showEmpty, showError } from "./page.js";
import { ADMIN, dataTable, startConsole } from "./admin.js";

const stateBox = document.getElementById("page-state");
const content = document.getElementById("page-content");
const form = document.getElementById("report-form");
const productSelect = document.getElementById("product");
const monthInput = document.getElementById("month");
const fromInput = document.getElementById("from");
const toInput = document.getElementById("to");
const monthField = document.getElementById("month-field");
const rangeFields = document.getElementById("range-fields");
const alertBox = document.getElementById("form-alert");
const submit = document.getElementById("submit");
const reportBox = document.getElementById("report");
const reportTitle = document.getElementById("report-title");
const reportFacts = document.getElementById("report-facts");
const download = document.getElementById("download");
const sectionsBox = document.getElementById("sections");

const FIELDS = { product: productSelect, month: monthInput, from: fromInput, to: toInput };

function kind() {
  return form.querySelector("input[name=kind]:checked").value;
}

function showKind() {
  const byMonth = kind() === "month";
  monthField.hidden = !byMonth;
  rangeFields.hidden = byMonth;
}

function withUnit(row, text) {
  return text === "—" ? text : `${text} ${row.unit_label}`;
}

/** Bars for one column of a section's rows: label, bar and value on one line each. */
function barChart(section) {
  const column = section.chart;
  const rows = section.rows.filter((row) => row[column] !== null);
  const largest = Math.max(1, ...rows.map((row) => Math.abs(row[column])));
  const what = column === "total" ? "期末累计" : "本期";
  const caption = `${section.title}：${what}`;
  return h("figure", { class: "bar-chart", "data-chart": section.key },
    h("figcaption", { class: "bar-chart__caption" }, `图：${caption}`),
    h("ul", { class: "bar-chart__rows", role: "list", "aria-label": caption }, rows.map((row) => {
      const share = Math.abs(row[column]) / largest;
      const text = column === "total" ? row.total_text : row.period_text;
      return h("li", { class: "bar-chart__row", "data-key": row.key },
        h("span", { class: "bar-chart__label" }, row.label),
        svgBar(share),
        h("span", { class: "bar-chart__value" }, withUnit(row, text)));
    })));
}

const SVG = "http://www.w3.org/2000/svg";

function svgElement(tag, attrs) {
  const element = document.createElementNS(SVG, tag);
  Object.entries(attrs).forEach(([name, value]) => element.setAttribute(name, String(value)));
  return element;
}

function svgBar(share) {
  const svg = svgElement("svg", { class: "bar-chart__bar", viewBox: "0 0 100 10",
    preserveAspectRatio: "none", "aria-hidden": "true", focusable: "false" });
  // A non-zero value always shows a sliver, so "small" and "none" differ.
  svg.append(
    svgElement("rect", { class: "bar-chart__track", x: 0, y: 0, width: 100, height: 10 }),
    svgElement("rect", { class: "bar-chart__fill", x: 0, y: 0, height: 10,
      width: share > 0 ? Math.max(1, share * 100) : 0 }));
  return svg;
}

function sectionCard(section) {
  return h("section", { class: "card", "data-section": section.key,
    "aria-labelledby": `section-${section.key}` },
  h("h3", { class: "card__title", id: `section-${section.key}` }, section.title),
  section.chart ? barChart(section) : null,
  dataTable({
    caption: `${section.title}（本期为统计期间内的数，期末累计为统计时点的数）`,
    columns: [
      { label: "指标", cell: (row) => row.label },
      { label: "本期", cell: (row) => withUnit(row, row.period_text) },
      { label: "期末累计", cell: (row) => withUnit(row, row.total_text) },
    ],
    rows: section.rows,
    rowAttrs: (row) => ({ "data-row": row.key }),
  }));
}

function render(report) {
  reportTitle.textContent = `${report.product_name}（${report.year}年度）${report.period.label}监管报表`;
  replaceChildren(reportFacts,
    fact("统计期间", `${report.period.from} 至 ${report.period.to}`),
    fact("统计时点", formatInstant(report.as_of)));
  download.href = report.csv_url;
  replaceChildren(sectionsBox, report.sections.map(sectionCard));
  reportBox.hidden = false;
  reportBox.focus();
}

function query() {
  if (kind() === "month") return { month: monthInput.value };
  return { from: fromInput.value, to: toInput.value };
}

form.querySelectorAll("input[name=kind]").forEach((radio) => radio.addEventListener("change", showKind));

form.addEventListener("submit", async (event) => {
  event.preventDefault();
  clearFormAlert(alertBox);
  Object.values(FIELDS).forEach(clearFieldError);
  const params = new URLSearchParams(Object.entries(query()).filter(([, value]) => value));
  setBusy(submit, true, "正在统计…");
  try {
    render(await api.get(`/admin/products/${productSelect.value}/report?${params}`));
  } catch (error) {
    reportBox.hidden = true;
    showApiError(error, FIELDS, alertBox)?.focus();
  } finally {
    setBusy(submit, false);
  }
});

async function start() {
  let products;
  try {
    products = ((await api.get("/admin/products")).items || [])
      .filter((product) => product.status === "published");
  } catch (error) {
    showError(stateBox, error, start);
    return;
  }
  if (!products.length) {
    showEmpty(stateBox, "尚无已发布的产品", "产品发布后，这里可以生成它的监管报表。");
    return;
  }
  replaceChildren(productSelect, products.map((product) =>
    h("option", { value: String(product.id) }, `${product.name}（${product.year}年度）`)));
  const today = new Date();
  monthInput.value = `${today.getFullYear()}-${String(today.getMonth() + 1).padStart(2, "0")}`;
  clearState(stateBox);
  content.hidden = false;
}

if (await startConsole(stateBox, ADMIN)) {
  await start();
}
