// 资金对账: the runs of `huiminbao reconcile` (GET /api/v1/admin/reconcile-runs), the latest
// result in words with a shape (✓ or !, never colour alone), every run in a table and each run's
// inconsistencies listed.

import { api } from "./api.js";
import { fact, h, replaceChildren } from "./dom.js";
import { formatInstant } from "./format.js";
import { clearFormAlert, setBusy, showFormAlert, showStatus } from "./forms.js";
import { clearState, showEmpty, showError, showLoading } from "./page.js";
import { RECONCILE_STAFF, dataTable, pill, startConsole } from "./admin.js";

const stateBox = document.getElementById("page-state");
const content = document.getElementById("page-content");
const latestBox = document.getElementById("latest");
const runsBox = document.getElementById("runs");
const findings = document.getElementById("findings");
const findingsList = document.getElementById("findings-list");
const reload = document.getElementById("reload");
const reloadStatus = document.getElementById("reload-status");
const reloadAlert = document.getElementById("reload-alert");

function resultText(run) {
  return run.ok ? "账实一致" : `发现 ${run.violations.length} 处不一致`;
}

function seconds(run) {
  const taken = (new Date(run.finished_at) - new Date(run.started_at)) / 1000;
  return Number.isFinite(taken) ? Math.max(0, Math.round(taken)) : null;
}

function violationList(run) {
  return h("ul", { class: "finding-list" }, run.violations.map((text) => h("li", {}, text)));
}

function figures(run) {
  const taken = seconds(run);
  return h("dl", { class: "facts reconcile-facts" },
    fact("对账时间", `${formatInstant(run.started_at)}${taken === null ? "" : `（用时 ${taken} 秒）`}`),
    fact("处理待定订单", `${run.settled_orders} 笔`),
    fact("完成退款", `${run.settled_refunds} 笔`),
    fact("退回到账款项", `${run.healed} 笔`));
}

function renderLatest(latest) {
  const tone = latest.ok ? "ok" : "warn";
  replaceChildren(latestBox,
    h("p", { class: `verdict verdict--${tone}`, "data-verdict": tone },
      h("span", { class: `verdict__icon verdict__icon--${tone}`, "aria-hidden": "true" },
        latest.ok ? "✓" : "!"),
      resultText(latest)),
    latest.ok
      ? h("p", { class: "reconcile-note" }, "所有扣款、支付和退款都有对应记录，账务收支平衡。")
      : h("p", { class: "reconcile-note" }, "以下各项需人工核查（当次已自动退回的款项也列在其中，下次对账不再出现）："),
    latest.ok ? null : violationList(latest),
    figures(latest));
}

function renderRuns(items) {
  replaceChildren(runsBox, dataTable({
    caption: `最近${items.length}次对账（最新的在前，时间为北京时间）`,
    columns: [
      { label: "对账时间", cell: (run) => h("span", { class: "nowrap" }, formatInstant(run.started_at)) },
      { label: "结果", cell: (run) => pill(resultText(run), run.ok ? "ok" : "warn") },
      { label: "处理待定订单", cell: (run) => String(run.settled_orders) },
      { label: "完成退款", cell: (run) => String(run.settled_refunds) },
      { label: "退回到账款项", cell: (run) => String(run.healed) },
      { label: "不一致", cell: (run) => (run.violations.length ? `${run.violations.length} 处` : "无") },
    ],
    rows: items,
    rowAttrs: (run) => ({ "data-ok": run.ok ? "true" : "false" }),
  }));
  const withFindings = items.filter((run) => run.violations.length);
  replaceChildren(findingsList, withFindings.map((run) =>
    h("section", { class: "finding", "aria-label": `${formatInstant(run.started_at)}的对账` },
      h("h3", { class: "sub-title" },
        `${formatInstant(run.started_at)}：${resultText(run)}`),
      violationList(run))));
  findings.hidden = !withFindings.length;
}

function render(items) {
  if (!items.length) {
    content.hidden = true;
    showEmpty(stateBox, "尚无对账记录", "对账程序每隔几分钟自动运行一次，首次运行后这里会显示结果。");
    return;
  }
  clearState(stateBox);
  renderLatest(items[0]);
  renderRuns(items);
  content.hidden = false;
}

async function loadFirst() {
  showLoading(stateBox);
  try {
    render((await api.get("/admin/reconcile-runs"))?.items || []);
  } catch (error) {
    showError(stateBox, error, loadFirst);
  }
}

// Refreshing keeps the page (and the focus on the button) in place while it asks.
reload.addEventListener("click", async () => {
  clearFormAlert(reloadAlert);
  reloadStatus.replaceChildren();
  setBusy(reload, true, "正在刷新…");
  try {
    render((await api.get("/admin/reconcile-runs"))?.items || []);
    showStatus(reloadStatus, `已刷新：${formatInstant(new Date().toISOString())}`);
  } catch (error) {
    showFormAlert(reloadAlert, `刷新失败：${error.message}`);
  } finally {
    setBusy(reload, false);
  }
});

if (await startConsole(stateBox, RECONCILE_STAFF)) {
  await loadFirst();
}
