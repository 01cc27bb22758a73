// 运营后台 home: the tasks this staff member's role allows.

import { h, replaceChildren } from "./dom.js";
import { clearState } from "./page.js";
import { ADMIN, COMPLAINT_STAFF, COUNTER_STAFF, RECONCILE_STAFF, startConsole } from "./admin.js";

const TASKS = [
  { href: "/admin/products.html", title: "产品配置", text: "由本年度产品复制下一年度产品，编辑、校验并发布", roles: ADMIN },
  { href: "/admin/bulk.html", title: "单位团体参保", text: "上传单位职工名单，由单位统一缴费参保", roles: ADMIN },
  { href: "/admin/subsidy.html", title: "资助参保名单", text: "导入特困、低保、低边、残疾人员名单，由政府资助参保", roles: ADMIN },
  { href: "/admin/payers.html", title: "资助出资方", text: "登记市、区县财政和慈善捐赠方，查看各自资助金额；捐赠方为指定人员出资并下载回执", roles: ADMIN },
  { href: "/admin/counter.html", title: "窗口办理", text: "为到窗口办理的居民参保，现金缴费或资助参保", roles: COUNTER_STAFF },
  { href: "/admin/complaints.html", title: "投诉处理", text: "回复投诉、跟踪处理进度，超时投诉醒目提示", roles: COMPLAINT_STAFF },
  { href: "/admin/reconcile.html", title: "资金对账", text: "查看自动对账结果：扣款、支付、退款与账务是否一致", roles: RECONCILE_STAFF },
  { href: "/admin/sms.html", title: "短信发送状态", text: "查看每条短信是否已送达服务商、失败原因与重试情况", roles: ADMIN },
  { href: "/admin/reports.html", title: "监管报表", text: "按月或自定义期间统计参保、保费、理赔、时效与投诉，可下载CSV", roles: ADMIN },
];

const stateBox = document.getElementById("home-state");
const list = document.getElementById("console-tasks");

const me = await startConsole(stateBox, ["admin", "insurer_staff", "counter_staff"]);
if (me) {
  clearState(stateBox);
  replaceChildren(list, TASKS.filter((task) => task.roles.includes(me.role)).map((task) =>
    h("li", { class: "card console-task" },
      h("h2", { class: "card__title" }, h("a", { href: task.href }, task.title)),
      h("p", {}, task.text))));
  list.hidden = false;
}
