// 短信发送状态: each text's delivery state (GET /api/v1/admin/sms) for administrators: template,
// masked phone, state in words with a shape (never colour alone), attempts and the last error.
// Never the text itself (it may hold a one-time code). A page at a time ("加载更多").

import { h, replaceChildren } from "./dom.js";
import { formatInstant } from "./format.js";
import { clearFormAlert, setBusy, showFormAlert, showStatus } from "./forms.js";
import { clearState, showError, showLoading } from "./page.js";
import { ADMIN, dataTable, pill, startConsole } from "./admin.js";
import { moreBoxAfter, pager, showMore } from "./paging.js";

const TEMPLATES = {
  login_code: "登录验证码", payment_code: "支付验证码", debit_confirm_code: "扣款确认验证码",
  binding_displaced: "实名绑定解除通知", binding_verified: "实名核验完成通知", relative_code: "家庭成员验证码",
  proxy_grant_code: "代办授权验证码", debit_notice: "个人账户扣款通知", renewal_notice: "自动续保通知",
  auto_renew_revoked: "自动续保关闭通知",
  refund_closed_order: "订单关闭退款通知", refund_surrender: "退保退费通知",
  enrolled_by_relative: "亲属代为投保通知", enrolled_by_agent: "代办参保通知",
  proxy_grant_active: "代办授权生效通知", claim_submitted: "理赔已提交", claim_under_review: "理赔审核中",
  claim_supplement_requested: "理赔需补充材料", claim_approved: "理赔审核通过", claim_paid: "理赔款已支付",
  claim_rejected: "理赔未通过", claim_settled: "一站式结算赔付", complaint_replied: "投诉有新回复",
  complaint_resolved: "投诉已办结",
};
const TONES = { sent: "ok", queued: "off", sending: "off", failed: "warn", given_up: "warn" };

const stateBox = document.getElementById("page-state");
const content = document.getElementById("page-content");
const filter = document.getElementById("status-filter");
const summary = document.getElementById("summary");
const messages = document.getElementById("messages");
const reload = document.getElementById("reload");
const reloadStatus = document.getElementById("reload-status");
const reloadAlert = document.getElementById("reload-alert");

function url() {
  return filter.value ? `/admin/sms?status=${encodeURIComponent(filter.value)}` : "/admin/sms";
}

const PAGE_SIZE = 50;
let pages = null;
let counts = {};

function addCounts(more) {
  for (const [status, n] of Object.entries(more || {})) counts[status] = (counts[status] || 0) + n;
}

/** The first page again (a new filter, or 刷新). */
async function firstPage() {
  pages = pager(url(), PAGE_SIZE);
  const body = await pages.next();
  counts = {};
  addCounts(body.counts);
  return body;
}

function render(body) {
  const items = body?.items || [];
  clearState(stateBox);
  content.hidden = false;
  summary.textContent = items.length
    ? `共 ${body.total} 条，已显示 ${items.length} 条：已发送 ${counts.sent || 0}，待发送 ${(counts.queued || 0) + (counts.sending || 0)}，等待重试 ${counts.failed || 0}，已放弃 ${counts.given_up || 0}`
    : "没有符合条件的短信";
  replaceChildren(messages, items.length ? dataTable({
    caption: "最近的短信（最新的在前，时间为北京时间）",
    columns: [
      { label: "时间", cell: (m) => h("span", { class: "nowrap" }, formatInstant(m.created_at)) },
      { label: "手机号", cell: (m) => m.phone },
      { label: "短信类型", cell: (m) => TEMPLATES[m.template] || m.template || "（旧消息）" },
      { label: "状态", cell: (m) => pill(m.status_label, TONES[m.status] || "off") },
      { label: "尝试次数", cell: (m) => String(m.attempts) },
      { label: "下次重试", cell: (m) => (m.next_attempt_at && m.status === "failed" ? formatInstant(m.next_attempt_at) : "—") },
      { label: "最近错误", cell: (m) => m.last_error || "—" },
    ],
    rows: items,
    rowAttrs: (m) => ({ "data-status": m.status }),
  }) : null);
  showMore(moreBoxAfter(messages), {
    shown: items.length, total: body.total, more: body.more,
    onMore: async () => {
      const next = await pages.next();
      addCounts(next.counts);
      render(next);
    },
  });
}

async function loadFirst() {
  showLoading(stateBox);
  try {
    render(await firstPage());
  } catch (error) {
    showError(stateBox, error, loadFirst);
  }
}

async function refresh() {
  clearFormAlert(reloadAlert);
  reloadStatus.replaceChildren();
  setBusy(reload, true, "正在刷新…");
  try {
    render(await firstPage());
    showStatus(reloadStatus, `已刷新：${formatInstant(new Date().toISOString())}`);
  } catch (error) {
    showFormAlert(reloadAlert, `刷新失败：${error.message}`);
  } finally {
    setBusy(reload, false);
  }
}

reload.addEventListener("click", refresh);
filter.addEventListener("change", refresh);

if (await startConsole(stateBox, ADMIN)) {
  await loadFirst();
}
