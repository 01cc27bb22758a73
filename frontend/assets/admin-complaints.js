// 投诉处理: the staff queue (GET /api/v1/admin/complaints?status=&overdue=), a page at a time
// ("加载更多"), overdue ones flagged in words, and replying (POST /api/v1/admin/complaints/{no}/replies).

import { api } from "./api.js";
import { h, paragraphs, replaceChildren } from "./dom.js";
import { clearFieldError, clearFormAlert, setBusy, showApiError, showStatus } from "./forms.js";
import { clearState, showEmpty, showError, showLoading } from "./page.js";
import { COMPLAINT_STAFF, dataTable, startConsole } from "./admin.js";
import { moreBoxAfter, pager, showMore } from "./paging.js";
import {
  chinaDateTime, complaintFacts, complaintStatus, lastDay, overduePill, replyItems,
} from "./complaint-view.js";

const STATUS_LABELS = { received: "已受理", in_progress: "处理中", resolved: "已办结" };

const stateBox = document.getElementById("page-state");
const content = document.getElementById("page-content");
const filterForm = document.getElementById("filter-form");
const statusFilter = document.getElementById("status");
const overdueFilter = document.getElementById("overdue");
const queueState = document.getElementById("queue-state");
const queueBox = document.getElementById("queue");
const detail = document.getElementById("detail");
const replyForm = document.getElementById("reply-form");
const replyStatus = document.getElementById("reply-status");
const replyMessage = document.getElementById("reply-message");
const replyAlert = document.getElementById("reply-alert");
const replyDone = document.getElementById("reply-status-box");
const replySubmit = document.getElementById("reply-submit");
let current = null;

function showDetail(complaint, { focus = true } = {}) {
  current = complaint;
  document.getElementById("detail-title").textContent = `投诉详情：${complaint.complaint_no}`;
  replaceChildren(document.getElementById("detail-facts"),
    h("div", { class: "fact" }, h("dt", {}, "状态"),
      h("dd", { class: "pill-row" }, complaintStatus(complaint), overduePill(complaint))),
    complaintFacts(complaint, { staff: true }));
  replaceChildren(document.getElementById("detail-text"), paragraphs(complaint.content));
  replaceChildren(document.getElementById("detail-replies"), replyItems(complaint, "尚未回复。"));
  const choices = complaint.next_statuses || [];
  replaceChildren(replyStatus, choices.map((status) => h("option", { value: status },
    status === complaint.status ? `${STATUS_LABELS[status]}（状态不变）` : STATUS_LABELS[status])));
  replyForm.hidden = !choices.length;
  detail.hidden = false;
  if (focus) document.getElementById("detail-title").focus();
}

const PAGE_SIZE = 50;

function renderQueue(items, total) {
  replaceChildren(queueBox, dataTable({
    caption: `共${total}件投诉（未办结的在前，按答复时限排序）`,
    columns: [
      { label: "投诉编号", cell: (c) => h("span", { class: "mono" }, c.complaint_no) },
      { label: "类别", cell: (c) => c.category_label },
      { label: "投诉人", cell: (c) => c.complainant_name },
      { label: "状态", cell: (c) => h("span", { class: "pill-row" }, complaintStatus(c), overduePill(c)) },
      { label: "提交时间", cell: (c) => chinaDateTime(c.created_at) },
      { label: "答复时限", cell: (c) => `${lastDay(c.due_at)}前` },
      { label: "操作", cell: (c) => {
        const button = h("button", { type: "button", class: "btn btn--small btn--quiet" },
          "查看并回复", h("span", { class: "visually-hidden" }, `（${c.complaint_no}）`));
        button.addEventListener("click", () => showDetail(c));
        return button;
      } },
    ],
    rows: items,
    rowAttrs: (c) => ({ "data-complaint": c.complaint_no, "data-overdue": c.overdue ? "true" : "false" }),
  }));
}

async function loadQueue() {
  showLoading(queueState);
  queueBox.replaceChildren();
  const query = new URLSearchParams();
  if (statusFilter.value) query.set("status", statusFilter.value);
  if (overdueFilter.checked) query.set("overdue", "true");
  const moreBox = moreBoxAfter(queueBox);
  moreBox.replaceChildren();
  const pages = pager(`/admin/complaints${query.size ? `?${query}` : ""}`, PAGE_SIZE);
  let data;
  try {
    data = await pages.next();
  } catch (error) {
    showError(queueState, error, loadQueue);
    return [];
  }
  const items = data.items;
  if (!items.length) {
    showEmpty(queueState, "没有符合条件的投诉");
    return items;
  }
  clearState(queueState);
  const show = (page) => {
    renderQueue(page.items, page.total);
    showMore(moreBox, { shown: page.items.length, total: page.total, more: page.more,
      onMore: async () => show(await pages.next()) });
  };
  show(data);
  return items;
}

filterForm.addEventListener("submit", (event) => {
  event.preventDefault();
  loadQueue();
});

replyForm.addEventListener("submit", async (event) => {
  event.preventDefault();
  if (!current) return;
  clearFormAlert(replyAlert);
  replyDone.replaceChildren();
  clearFieldError(replyMessage);
  clearFieldError(replyStatus);
  setBusy(replySubmit, true, "正在发送…");
  try {
    const updated = await api.post(`/admin/complaints/${encodeURIComponent(current.complaint_no)}/replies`,
      { message: replyMessage.value, status: replyStatus.value });
    replyMessage.value = "";
    showDetail(updated, { focus: false });
    showStatus(replyDone, `已回复，投诉状态：${updated.status_label}。已短信提醒投诉人。`);
    await loadQueue();
  } catch (error) {
    showApiError(error, { message: replyMessage, status: replyStatus }, replyAlert)?.focus();
  } finally {
    setBusy(replySubmit, false);
  }
});

if (await startConsole(stateBox, COMPLAINT_STAFF)) {
  clearState(stateBox);
  content.hidden = false;
  await loadQueue();
}
