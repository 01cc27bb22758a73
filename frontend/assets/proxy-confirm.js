// 确认代办授权: the page the agent's QR code opens on the principal's own phone
// (/proxy-confirm.html?token=…). Not logged in: through the login page and back; not yet
// identified: through 实名认证 and back. Then, in large plain words, who asks to do what for
// them and until when (GET /proxy/confirmations/{token}), and 同意授权 / 不同意
// (POST {agree}). Refusals in words: another account (not_principal), a code that lapsed
// (token_expired), already confirmed.

import { api, ApiError, errorMessage } from "./api.js";
import { h, replaceChildren } from "./dom.js";
import { offerElderlyMode } from "./elderly-offer.js";
import { formatFen } from "./format.js";
import { setBusy } from "./forms.js";
import { clearState, initPage, showLoading } from "./page.js";
import { day, PROXY_ACTIVITY_PATH, PROXY_PATH, scopeList } from "./proxy-common.js";
import { BIND_PATH, fetchMe, isLoggedOut, logout, redirectToLogin } from "./session.js";

const stateBox = document.getElementById("confirm-state");
const content = document.getElementById("confirm-content");
const token = new URLSearchParams(window.location.search).get("token") || "";
const here = window.location.pathname + window.location.search;

function show(...nodes) {
  clearState(stateBox);
  replaceChildren(content, nodes);
  content.hidden = false;
  const focus = content.querySelector("[data-focus]");
  if (focus) {
    focus.setAttribute("tabindex", "-1");
    focus.focus();
  }
}

function problem(titleText, text, ...actions) {
  show(h("div", { class: "callout callout--blocked proxy-answer", "data-problem": true },
    h("h2", { class: "callout__title blocked__title", "data-focus": true },
      h("span", { class: "callout__icon", "aria-hidden": "true" }, "!"), titleText),
    h("p", { class: "blocked__reason", "data-reason": true }, text),
    actions.length ? h("div", { class: "blocked__actions" }, actions) : null));
}

function switchAccountButton() {
  const button = h("button", { type: "button", class: "btn btn--primary btn--block" }, "退出，用本人账号登录");
  button.addEventListener("click", async () => {
    setBusy(button, true, "正在退出…");
    try {
      await logout();
    } catch {
      /* the login page works either way */
    }
    redirectToLogin(here);
  });
  return button;
}

function showRefusal(error) {
  const code = error instanceof ApiError ? error.code : "";
  if (code === "not_principal") {
    problem("请用本人账号确认", error.message, switchAccountButton());
  } else if (code === "token_expired") {
    problem("二维码已过期", error.message);
  } else if (code === "already_confirmed") {
    problem("已经确认过了", error.message,
      h("a", { class: "btn btn--primary btn--block", href: PROXY_PATH }, "查看代办授权"));
  } else if (error instanceof ApiError && (error.status === 404 || error.status === 422)) {
    problem("无法确认", error.message,
      h("a", { class: "btn btn--block", href: PROXY_PATH }, "查看代办授权"));
  } else {
    const retry = h("button", { type: "button", class: "btn btn--primary btn--block" }, "重试");
    retry.addEventListener("click", load);
    problem("加载失败", errorMessage(error), retry);
  }
}

function renderRequest(view) {
  const agree = h("button", { type: "button", class: "btn btn--primary btn--block btn--huge", "data-agree": true },
    "同意授权");
  const refuse = h("button", { type: "button", class: "btn btn--block btn--huge", "data-refuse": true }, "不同意");
  const alert = h("div", { class: "form-alert-slot", role: "alert" });
  const answer = async (yes, button) => {
    alert.replaceChildren();
    setBusy(button, true, yes ? "正在确认…" : "正在处理…");
    agree.disabled = refuse.disabled = true;
    let grant;
    try {
      grant = await api.post(`/proxy/confirmations/${encodeURIComponent(token)}`, { agree: yes });
    } catch (error) {
      setBusy(button, false);
      agree.disabled = refuse.disabled = false;
      if (isLoggedOut(error)) {
        redirectToLogin(here);
        return;
      }
      showRefusal(error);
      return;
    }
    showAnswer(view, grant, yes);
  };
  agree.addEventListener("click", () => answer(true, agree));
  refuse.addEventListener("click", () => answer(false, refuse));

  const facts = [
    h("div", { class: "fact", "data-fact": "until" }, h("dt", {}, "有效期至"), h("dd", {}, view.valid_until_label)),
  ];
  if (view.pay_limit_fen != null) {
    facts.push(h("div", { class: "fact", "data-fact": "pay-limit" },
      h("dt", {}, "缴费上限"), h("dd", {}, `每年最多${formatFen(view.pay_limit_fen)}`)));
  }
  show(
    h("section", { class: "card proxy-ask", "aria-labelledby": "ask-title" },
      h("h2", { class: "proxy-ask__title", id: "ask-title", "data-focus": true },
        h("strong", {}, view.agent_name), " 请求代您办理惠民保业务"),
      h("p", { class: "proxy-ask__lead" }, `同意后，${view.agent_name}可以：`),
      scopeList(view.scopes.map((scope) => scope.label)),
      h("dl", { class: "facts proxy-ask__facts" }, facts),
      h("p", { class: "proxy-ask__summary", "data-summary": true }, view.summary),
      h("p", { class: "proxy-ask__note" },
        h("span", { class: "callout__icon", "aria-hidden": "true" }, "!"),
        "如果您不认识这个人，或不是您本人要办，请点“不同意”。任何工作人员都不会要求您扫码授权。")),
    alert,
    h("div", { class: "proxy-ask__actions" }, agree, refuse));
}

function showAnswer(view, grant, agreed) {
  if (agreed) {
    show(h("div", { class: "callout callout--ok proxy-answer", "data-answer": "agreed" },
      h("h2", { class: "callout__title blocked__title", "data-focus": true },
        h("span", { class: "callout__icon", "aria-hidden": "true" }, "✓"), "您已同意授权"),
      h("p", { class: "blocked__reason" },
        `${view.agent_name}现在可以代您办理：${view.scopes.map((s) => s.label).join("、")}。`),
      h("p", { class: "proxy-answer__text" },
        `有效期至${day(grant.valid_until) || view.valid_until_label}。您可以随时在“代办授权”里撤销。`)),
    h("a", { class: "btn btn--primary btn--block", href: PROXY_PATH }, "查看或撤销授权"),
    h("a", { class: "btn btn--block", href: PROXY_ACTIVITY_PATH }, "谁替我办了什么"));
  } else {
    show(h("div", { class: "callout proxy-answer", "data-answer": "refused" },
      h("h2", { class: "callout__title blocked__title", "data-focus": true },
        h("span", { class: "callout__icon", "aria-hidden": "true" }, "!"), "您没有同意"),
      h("p", { class: "blocked__reason" }, `${view.agent_name}不能代您办理业务，这次申请已取消。`)),
    h("a", { class: "btn btn--block", href: "/" }, "返回首页"));
  }
}

async function load() {
  content.hidden = true;
  showLoading(stateBox);
  if (!token) {
    problem("二维码无效", "请让家人重新出示二维码，再用手机扫描。");
    return;
  }
  let me;
  try {
    me = await fetchMe();
  } catch (error) {
    showRefusal(error);
    return;
  }
  if (!me) {
    redirectToLogin(here);
    return;
  }
  if (!me.identity?.bound) {
    window.location.replace(`${BIND_PATH}?next=${encodeURIComponent(here)}`);
    return;
  }
  let view;
  try {
    view = await api.get(`/proxy/confirmations/${encodeURIComponent(token)}`);
  } catch (error) {
    if (isLoggedOut(error)) {
      redirectToLogin(here);
      return;
    }
    showRefusal(error);
    return;
  }
  if (view.status === "active") {
    problem("已经确认过了", "这份授权已经生效，无需再次确认。",
      h("a", { class: "btn btn--primary btn--block", href: PROXY_PATH }, "查看代办授权"));
  } else if (view.status !== "pending") {
    problem("这次申请已结束", `这次代办申请${view.status_label}，无需处理。`,
      h("a", { class: "btn btn--block", href: "/" }, "返回首页"));
  } else {
    renderRequest(view);
  }
  offerElderlyMode(me, { where: content });
}

initPage();
load();
