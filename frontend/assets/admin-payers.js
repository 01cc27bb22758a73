// 资助出资方: the city's paying bodies (GET/POST/PUT /api/v1/admin/subsidy-payers), and a
// donor's list (POST …/{id}/fundings, multipart with an Idempotency-Key) with its per-person
// receipt (GET /admin/subsidy-roster/{import_no}/receipt, JSON and CSV).

import { API_BASE, api } from "./api.js";
import { h, replaceChildren } from "./dom.js";
import {
  clearFieldError, clearFormAlert, setBusy, setFieldError, showApiError, showFormAlert, showStatus,
} from "./forms.js";
import { formatDateRange, formatFen } from "./format.js";
import { clearState } from "./page.js";
import { newKey } from "./intent.js";
import {
  ADMIN, dataTable, otherErrors, pill, postForm, publishedOpenProducts, showFormErrors, startConsole,
} from "./admin.js";

const CITY = "330100";
const GROUP_LABELS = { tekun: "特困", dibao: "低保", dibian: "低边", disabled: "残疾" };
const OUTCOME_TONES = { enrolled: "ok", skipped: "off", failed: "warn", pending: "off" };

const stateBox = document.getElementById("page-state");
const content = document.getElementById("page-content");
const payersBox = document.getElementById("payers");
const payersAlert = document.getElementById("payers-alert");
const payersStatus = document.getElementById("payers-status");
const payerForm = document.getElementById("payer-form");
const kind = document.getElementById("payer-kind");
const payerFields = {
  kind, name: document.getElementById("payer-name"), code: document.getElementById("payer-code"),
  district_code: document.getElementById("payer-district"),
};
const categoriesField = document.getElementById("categories-field");
const uploadForm = document.getElementById("upload-form");
const donor = document.getElementById("donor");
const product = document.getElementById("product");
const file = document.getElementById("file");
const uploadAlert = document.getElementById("upload-alert");
const uploadSubmit = document.getElementById("upload-submit");

function showKindFields() {
  const district = kind.value === "district";
  document.getElementById("district-field").hidden = !district;
  categoriesField.hidden = !district;
}

function renderPayers(payers) {
  replaceChildren(payersBox, dataTable({
    caption: "出资方及其资助资金账户", rows: payers,
    rowAttrs: (p) => ({ "data-payer": p.code }),
    columns: [
      { label: "名称", cell: (p) => p.name },
      { label: "类型", cell: (p) => p.kind_label },
      { label: "代码", cell: (p) => h("span", { class: "mono" }, p.code) },
      { label: "区县及资助类别", cell: (p) => p.district_code
        ? `${p.district_code}：${p.categories.map((g) => GROUP_LABELS[g] || g).join("、")}` : "—" },
      { label: "资金账户", cell: (p) => h("span", { class: "mono" }, p.fund_account) },
      { label: "已资助（净额）", cell: (p) => formatFen(p.paid_fen) },
      { label: "状态", cell: (p) => h("span", {},
        pill(p.active ? "启用" : "已停用", p.active ? "ok" : "off"), " ",
        h("button", { type: "button", class: "btn btn--quiet", "data-toggle": p.id },
          p.active ? `停用${p.name}` : `启用${p.name}`)) },
    ],
  }));
  payersBox.querySelectorAll("[data-toggle]").forEach((button) => {
    const payer = payers.find((p) => String(p.id) === button.dataset.toggle);
    button.addEventListener("click", async () => {
      clearFormAlert(payersAlert);
      try {
        await api.put(`/admin/subsidy-payers/${payer.id}`, { active: !payer.active });
        await loadPayers();
        showStatus(payersStatus, `已${payer.active ? "停用" : "启用"}${payer.name}`);
      } catch (error) {
        showFormAlert(payersAlert, error.message);
      }
    });
  });
  const donors = payers.filter((p) => p.kind === "charity" && p.active);
  replaceChildren(donor, donors.map((p) => h("option", { value: p.id }, p.name)));
  uploadSubmit.disabled = !donors.length;
}

async function loadPayers() {
  const answer = await api.get(`/admin/subsidy-payers?city_code=${CITY}`);
  renderPayers(answer.payers || []);
}

function renderReceipt(receipt) {
  const report = document.getElementById("report");
  document.getElementById("report-summary").textContent =
    `${receipt.donor_name || "出资方"}共为${receipt.lines.filter((l) => l.outcome === "enrolled").length}人出资参保，合计${formatFen(receipt.total_fen)}`;
  document.getElementById("receipt-csv").href =
    `${API_BASE}/admin/subsidy-roster/${encodeURIComponent(receipt.import_no)}/receipt?format=csv`;
  replaceChildren(document.getElementById("report-table"), dataTable({
    caption: `${receipt.year}年度捐赠回执（批次 ${receipt.import_no}）逐人明细`,
    rows: receipt.lines,
    rowAttrs: (line) => ({ "data-line": line.line, "data-outcome": line.outcome }),
    columns: [
      { label: "行号", cell: (line) => String(line.line) },
      { label: "姓名", cell: (line) => line.name || "—" },
      { label: "身份证号码", cell: (line) => h("span", { class: "mono" }, line.id_number || "—") },
      { label: "结果", cell: (line) => pill(line.outcome === "enrolled" ? "已出资参保" : "未出资",
        OUTCOME_TONES[line.outcome] || "off") },
      { label: "资助金额", cell: (line) => formatFen(line.subsidy_fen) },
      { label: "原因或保单号", cell: (line) => line.reason
        || (line.policy_no ? h("span", { class: "mono" }, line.policy_no) : "—") },
    ],
  }));
  report.hidden = false;
  document.getElementById("report-title").focus();
}

payerForm.addEventListener("submit", async (event) => {
  event.preventDefault();
  const alertBox = document.getElementById("payer-alert");
  const submit = document.getElementById("payer-submit");
  clearFormAlert(alertBox);
  Object.values(payerFields).forEach(clearFieldError);
  const categories = [...categoriesField.querySelectorAll("input:checked")].map((i) => i.value);
  const body = {
    city_code: CITY, kind: kind.value, name: payerFields.name.value.trim(),
    code: payerFields.code.value.trim(),
    district_code: kind.value === "district" ? payerFields.district_code.value.trim() || null : null,
    categories: kind.value === "district" ? categories : [],
  };
  setBusy(submit, true, "正在登记…");
  try {
    const created = await api.post("/admin/subsidy-payers", body);
    await loadPayers();
    payerForm.reset();
    showKindFields();
    showStatus(payersStatus, `已登记${created.name}，资金账户 ${created.fund_account}`);
  } catch (error) {
    showFormErrors(error, payerFields, alertBox, submit);
  } finally {
    setBusy(submit, false);
    submit.textContent = "登记出资方";
  }
});

uploadForm.addEventListener("submit", async (event) => {
  event.preventDefault();
  clearFormAlert(uploadAlert);
  [product, file, donor].forEach(clearFieldError);
  if (!file.files?.length) {
    setFieldError(file, "请选择要上传的CSV文件");
    file.focus();
    return;
  }
  const data = new FormData();
  data.append("product_id", product.value);
  data.append("file", file.files[0]);
  setBusy(uploadSubmit, true, "正在核验并参保…");
  try {
    const answer = await postForm(`/admin/subsidy-payers/${donor.value}/fundings`, data, newKey());
    renderReceipt(await api.get(`/admin/subsidy-roster/${encodeURIComponent(answer.import_no)}/receipt`));
    await loadPayers();
  } catch (error) {
    const first = showApiError(error, { product_id: product, file }, uploadAlert);
    const rest = otherErrors(error, ["product_id", "file"]);
    if (rest.length || !first) showFormAlert(uploadAlert, rest.length ? `${error.message}：${rest.join("；")}` : error.message);
    (first || uploadSubmit).focus();
  } finally {
    setBusy(uploadSubmit, false);
    uploadSubmit.textContent = "出资并参保";
  }
});

kind.addEventListener("change", showKindFields);

if (await startConsole(stateBox, ADMIN)) {
  try {
    const [products] = await Promise.all([publishedOpenProducts(api), loadPayers()]);
    replaceChildren(product, products.map((p) => h("option", { value: p.id },
      `${p.name}（${p.year}年度，投保期${formatDateRange(p.enrollment.opens_on, p.enrollment.closes_on)}）`)));
    showKindFields();
    clearState(stateBox);
    content.hidden = false;
  } catch (error) {
    showFormAlert(uploadAlert, error.message);
    clearState(stateBox);
    content.hidden = false;
  }
}
