// 代办授权 (家人代办): GET /proxy/grants.
//   - 现在为谁办理: the switcher (me, or a family member whose grant is active), kept in this tab
//     (acting.js); the banner on every page follows it.
//   - 我为家人代办 (as agent): each grant with its state in words; 为TA代办, 继续确认 for a pending
//     request, 撤销 / 取消 (asked in place: no pop-ups); 申请为家人代办.
//   - 家人代我办理 (as principal): who may act for me, what and until when; 撤销授权;
//     谁替我办了什么.

import { actingFor, startActing, stopActing } from "./acting.js";
import { api } from "./api.js";
import { choice, h, replaceChildren } from "./dom.js";
import { offerElderlyMode } from "./elderly-offer.js";
import { showStatus } from "./forms.js";
import { clearState, initPage, loadMe, showBindFirst, showError } from "./page.js";
import {
  confirmFirst, day, grantFacts, grantPill, PROXY_NEW_PATH, PROXY_PATH, taskLinks,
} from "./proxy-common.js";
import { isLoggedOut, redirectToLogin } from "./session.js";

const stateBox = document.getElementById("proxy-state");
const content = document.getElementById("proxy-content");
const switcherCard = document.getElementById("switcher-card");
const switcherOptions = document.getElementById("switcher-options");
const statusBox = document.getElementById("proxy-status");
const switcherTasks = document.getElementById("switcher-tasks");
const agentList = document.getElementById("agent-list");
const principalList = document.getElementById("principal-list");

let me = null;
let grants = { as_agent: [], as_principal: [] };

const LIVE = new Set(["active", "pending"]);

// ---------------------------------------------------------------- 现在为谁办理

function switchChoice(value, titleText, meta, checked) {
  return choice({ name: "acting", value, title: titleText, meta, checked });
}

function renderSwitcher() {
  const active = grants.as_agent.filter((grant) => grant.status === "active");
  const current = actingFor();
  // Acting under a grant that is no longer active here: still shown, so that it can be ended.
  const currentGrant = current && grants.as_agent.find((grant) => grant.id === current.grant_id);
  switcherCard.hidden = active.length === 0 && !current;
  if (switcherCard.hidden) return;
  const options = [switchChoice("self", "我自己", `${me.identity.name}（本人）`, !current)];
  for (const grant of active) {
    options.push(switchChoice(String(grant.id), grant.principal_name, `代办至${day(grant.valid_until)}`,
      current?.grant_id === grant.id));
  }
  if (current && (!currentGrant || currentGrant.status !== "active")) {
    options.push(switchChoice(String(current.grant_id), current.name, "授权已结束，请改选“我自己”", true));
  }
  replaceChildren(switcherOptions, options);
  renderTasks();
}

function renderTasks() {
  const current = actingFor();
  const grant = current && grants.as_agent.find((item) => item.id === current.grant_id && item.status === "active");
  replaceChildren(switcherTasks, grant ? taskLinks(grant) : null);
}

function onSwitch(event) {
  const input = event.target;
  if (!(input instanceof HTMLInputElement) || input.name !== "acting") return;
  if (input.value === "self") {
    stopActing();
    showStatus(statusBox, "现在为您自己办理。");
  } else {
    const grant = grants.as_agent.find((item) => String(item.id) === input.value && item.status === "active");
    if (!grant) return;
    startActing(grant);
    showStatus(statusBox, `现在为${grant.principal_name}代办。参保、我的保单和理赔都将办理TA的业务。`);
  }
  renderSwitcher(); // an ended grant chosen before leaves the list once another is chosen
  switcherOptions.querySelector("input:checked")?.focus();
  renderAgentList();
}

// ---------------------------------------------------------------- grant cards

function endAction(grant, { principalSide = false } = {}) {
  const pending = grant.status === "pending";
  const label = pending ? "取消申请" : "撤销授权";
  const slot = h("div", { class: "grant-card__end" });
  const button = h("button", {
    type: "button", class: "btn btn--block btn--danger-outline", "data-end-grant": grant.id,
  }, label, h("span", { class: "visually-hidden" },
    `（${principalSide ? grant.agent_name : grant.principal_name}）`));
  const who = principalSide ? grant.agent_name : grant.principal_name;
  return confirmFirst(slot, button, {
    ask: {
      question: pending ? "确定取消这次代办申请吗？" : `确定撤销${principalSide ? `${who}代您办理` : `为${who}代办`}的授权吗？`,
      detail: pending ? "" : principalSide
        ? `撤销后，${who}立刻不能再代您办理任何业务。需要时可以重新授权。`
        : `撤销后，您立刻不能再为${who}办理业务。需要时可以重新申请。`,
      confirmText: pending ? "确定取消" : "确定撤销",
      cancelText: pending ? "不取消" : "不撤销",
    },
    busyText: "正在处理…",
    act: async () => {
      const ended = await api.delete(`/proxy/grants/${grant.id}`);
      if (!principalSide && actingFor()?.grant_id === grant.id) stopActing();
      await refresh();
      showStatus(statusBox, `${ended.status_label}：${principalSide ? `${who}不能再代您办理` : `不能再为${who}代办`}。`);
    },
    onError: (error) => {
      if (!isLoggedOut(error)) return false;
      redirectToLogin();
      return true;
    },
  });
}

function agentCard(grant) {
  const titleId = `grant-${grant.id}-title`;
  const current = actingFor();
  const actingHere = current?.grant_id === grant.id && grant.status === "active";
  const actions = [];
  if (grant.status === "active") {
    if (actingHere) {
      actions.push(h("p", { class: "grant-card__acting", "data-acting-now": true },
        h("span", { "aria-hidden": "true" }, "✓"), `正在为${grant.principal_name}代办`));
    } else {
      const start = h("button", { type: "button", class: "btn btn--primary btn--block", "data-act-for": grant.id },
        `为${grant.principal_name}代办`);
      start.addEventListener("click", () => {
        startActing(grant);
        renderSwitcher();
        renderAgentList();
        showStatus(statusBox, `现在为${grant.principal_name}代办。参保、我的保单和理赔都将办理TA的业务。`);
        switcherTasks.querySelector("a")?.focus();
      });
      actions.push(start);
    }
    actions.push(endAction(grant));
  } else if (grant.status === "pending") {
    actions.push(h("a", {
      class: "btn btn--primary btn--block", href: `${PROXY_NEW_PATH}?grant=${encodeURIComponent(grant.id)}`,
      "data-continue": grant.id,
    }, "继续确认", h("span", { class: "visually-hidden" }, `（${grant.principal_name}）`)));
    actions.push(endAction(grant));
  }
  return h("li", { class: "grant-card", "data-grant": grant.id, "data-status": grant.status },
    h("article", { "aria-labelledby": titleId },
      h("div", { class: "grant-card__head" },
        h("h3", { class: "grant-card__title", id: titleId }, `为${grant.principal_name}代办`),
        grantPill(grant)),
      grantFacts(grant),
      actions.length ? h("div", { class: "grant-card__actions" }, actions) : null));
}

function principalCard(grant) {
  const titleId = `grant-${grant.id}-title`;
  return h("li", { class: "grant-card", "data-grant": grant.id, "data-status": grant.status },
    h("article", { "aria-labelledby": titleId },
      h("div", { class: "grant-card__head" },
        h("h3", { class: "grant-card__title", id: titleId }, `${grant.agent_name}代我办理`),
        grantPill(grant)),
      grantFacts(grant),
      LIVE.has(grant.status)
        ? h("div", { class: "grant-card__actions" }, endAction(grant, { principalSide: true })) : null));
}

function renderList(box, items, card, emptyText) {
  const live = items.filter((grant) => LIVE.has(grant.status));
  const ended = items.filter((grant) => !LIVE.has(grant.status));
  replaceChildren(box,
    live.length
      ? h("ul", { class: "grant-cards", role: "list" }, live.map(card))
      : h("p", { class: "grant-list__empty" }, emptyText),
    ended.length
      ? h("details", { class: "disclosure grant-list__ended" },
        h("summary", { class: "disclosure__summary" }, `已结束的授权（${ended.length}）`),
        h("ul", { class: "grant-cards disclosure__body", role: "list" }, ended.map(card)))
      : null);
}

function renderAgentList() {
  renderList(agentList, grants.as_agent, agentCard, "您还没有为家人代办的授权。");
}

function renderPrincipalList() {
  renderList(principalList, grants.as_principal, principalCard, "目前没有家人可以代您办理业务。");
}

async function refresh() {
  grants = await api.get("/proxy/grants");
  renderSwitcher();
  renderAgentList();
  renderPrincipalList();
}

async function load() {
  content.hidden = true;
  me = await loadMe(stateBox, load);
  if (!me) return;
  if (!me.identity?.bound) {
    showBindFirst(stateBox, "代办和授权都需要先确认您本人的身份。", PROXY_PATH);
    return;
  }
  try {
    await refresh();
  } catch (error) {
    if (isLoggedOut(error)) {
      redirectToLogin();
      return;
    }
    showError(stateBox, error, load)?.focus();
    return;
  }
  clearState(stateBox);
  content.hidden = false;
  offerElderlyMode(me);
}

initPage();
switcherOptions.addEventListener("change", onSwitch);
load();
