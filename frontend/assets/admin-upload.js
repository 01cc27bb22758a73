// The two CSV upload pages (单位团体参保, 资助参保名单): choose the product, send the file with a
// fresh Idempotency-Key, and show every row of the report with its line and reason.

import { api } from "./api.js";
import { h, replaceChildren } from "./dom.js";
import {
  clearFieldError, clearFormAlert, setBusy, setFieldError, showApiError, showFormAlert,
} from "./forms.js";
import { formatDateRange } from "./format.js";
import { clearState, showEmpty } from "./page.js";
import { newKey } from "./intent.js";
import { ADMIN, dataTable, otherErrors, pill, postForm, publishedOpenProducts, startConsole } from "./admin.js";

const OUTCOME_TONES = { enrolled: "ok", already: "ok", skipped: "off", failed: "warn", pending: "off" };

/**
 * path: the endpoint; fields: the page's own {apiField: input} besides product and file;
 * extraColumns: the report's columns between 身份证号码 and 结果.
 */
export async function setupUpload({ path, fields, submitText, busyText, extraColumns, rowTitle }) {
  const stateBox = document.getElementById("page-state");
  const content = document.getElementById("page-content");
  const form = document.getElementById("upload-form");
  const product = document.getElementById("product");
  const file = document.getElementById("file");
  const alertBox = document.getElementById("upload-alert");
  const submit = document.getElementById("upload-submit");
  const report = document.getElementById("report");
  const summary = document.getElementById("report-summary");
  const tableBox = document.getElementById("report-table");
  const allFields = { product_id: product, file, ...fields };

  if (!(await startConsole(stateBox, ADMIN))) return;
  let products;
  try {
    products = await publishedOpenProducts(api);
  } catch (error) {
    showFormAlert(alertBox, error.message);
    products = [];
  }
  if (!products.length) {
    showEmpty(stateBox, "当前没有开放投保的产品", "产品发布且进入投保期后才能办理。");
    return;
  }
  replaceChildren(product, products.map((p) => h("option", { value: p.id },
    `${p.name}（${p.year}年度，投保期${formatDateRange(p.enrollment.opens_on, p.enrollment.closes_on)}）`)));
  clearState(stateBox);
  content.hidden = false;

  function render(answer) {
    summary.textContent = answer.message;
    const columns = [
      { label: "行号", cell: (row) => String(row.line) },
      { label: "姓名", cell: (row) => row.name || "—" },
      { label: "身份证号码", cell: (row) => h("span", { class: "mono" }, row.id_number || "—") },
      ...extraColumns,
      { label: "结果", cell: (row) => pill(row.outcome_label, OUTCOME_TONES[row.outcome] || "off") },
      { label: "原因或保单号", cell: (row) => row.reason
        || (row.policy_no ? h("span", { class: "mono" }, row.policy_no) : "—") },
    ];
    replaceChildren(tableBox, dataTable({
      caption: rowTitle(answer), columns, rows: answer.rows || [],
      rowAttrs: (row) => ({ "data-line": row.line, "data-outcome": row.outcome }),
    }));
    report.hidden = false;
    document.getElementById("report-title").focus();
  }

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    clearFormAlert(alertBox);
    Object.values(allFields).forEach(clearFieldError);
    if (!file.files?.length) {
      setFieldError(file, "请选择要上传的CSV文件");
      file.focus();
      return;
    }
    const data = new FormData(form);
    setBusy(submit, true, busyText);
    try {
      render(await postForm(path, data, newKey()));
    } catch (error) {
      const first = showApiError(error, allFields, alertBox);
      const fileErrors = error.errors?.file || [];
      // Lines that refuse the whole file (e.g. an unregistered payer): every line, and why.
      if (fileErrors.length && error.code !== "invalid_file") {
        setFieldError(file, `${error.message}：${fileErrors.join("；")}`);
      }
      const rest = otherErrors(error, Object.keys(allFields));
      if (rest.length) showFormAlert(alertBox, `${error.message}：${rest.join("；")}`);
      (first || submit).focus();
    } finally {
      setBusy(submit, false);
      submit.textContent = submitText;
    }
  });
}
