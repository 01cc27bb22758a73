// 电子保单验真 (public, no login): the e-policy's QR code opens /verify/<token>; this page reads
// the token from its own address and asks GET /api/v1/verify/{token}. The answer carries only the
// masked name, the product and the validity: enough to check a policy, nothing more.

import { api, ApiError, errorMessage } from "./api.js";
import { h, replaceChildren } from "./dom.js";
import { dateRange, fact, longNumber } from "./insurance.js";
import { clearState, initPage, showError, showLoading } from "./page.js";

const stateBox = document.getElementById("verify-state");
const content = document.getElementById("verify-content");

function tokenFromPath() {
  const match = /^\/verify\/([^/?#]+)\/?$/.exec(window.location.pathname);
  if (match) {
    try {
      return decodeURIComponent(match[1]);
    } catch {
      return match[1];
    }
  }
  return new URLSearchParams(window.location.search).get("token") || "";
}

function verdict(icon, text, tone) {
  return h("p", { class: `verdict verdict--${tone}`, "data-verdict": tone },
    h("span", { class: `verdict__icon verdict__icon--${tone}`, "aria-hidden": "true" }, icon), text);
}

function showResult(result) {
  const valid = Boolean(result.valid);
  replaceChildren(content,
    h("section", { class: "card verify", "aria-labelledby": "verify-title" },
      h("h2", { class: "visually-hidden", id: "verify-title" }, "核验结果"),
      valid
        ? verdict("✓", "保单真实有效", "ok")
        : verdict("!", `保单真实，但${result.validity || "当前无效"}`, "warn"),
      h("dl", { class: "facts verify__facts" },
        fact("保单状态", result.validity, { "data-fact": "validity" }),
        fact("被保险人", result.insured_name, { "data-fact": "insured" }),
        fact("保险产品", result.product_name, { "data-fact": "product" }),
        fact("承保公司", result.insurer, { "data-fact": "insurer" }),
        fact("保障期间", dateRange(result.coverage_starts_on, result.coverage_ends_on),
          { "data-fact": "coverage" }),
        fact("保单号", longNumber(result.policy_no), { "data-fact": "policy-no", class: "fact fact--stack" }))),
    h("p", { class: "verify__note" },
      "为保护个人信息，验真结果只显示部分姓名。惠民保为商业保险，不是基本医疗保险。"));
  clearState(stateBox);
  content.hidden = false;
}

/** A code that shows no policy: the verdict, the server's reason and what to do. */
function showRefused(error, [icon, title, tone], note) {
  replaceChildren(content,
    h("section", { class: "card verify", "aria-labelledby": "verify-title" },
      h("h2", { class: "visually-hidden", id: "verify-title" }, "核验结果"),
      verdict(icon, title, tone),
      h("p", { class: "verify__reason", "data-reason": true }, errorMessage(error)),
      h("p", { class: "verify__note" }, note)));
  clearState(stateBox);
  content.hidden = false;
}

// A genuine code past its date (410 verify_expired): the server gives no details of the policy.
function showExpired(error) {
  showRefused(error, ["!", "此验证码已过期", "warn"], "验证码在保障期结束180天后失效。如需核实保单，请联系承保公司客服。");
}

function showInvalid(error) {
  showRefused(error, ["✕", "未通过验真", "bad"], "请勿相信该保单。如有疑问，请联系承保公司客服核实。");
}

async function load() {
  content.hidden = true;
  showLoading(stateBox, "正在核验，请稍候…");
  const token = tokenFromPath();
  if (!token) {
    showInvalid(new ApiError({ status: 404, code: "not_found", message: "缺少校验码：请扫描电子保单上的二维码打开本页面。" }));
    return;
  }
  let result;
  try {
    result = await api.get(`/verify/${encodeURIComponent(token)}`);
  } catch (error) {
    if (error instanceof ApiError && error.status === 410) {
      showExpired(error);
      return;
    }
    if (error instanceof ApiError && (error.status === 404 || error.status === 400)) {
      showInvalid(error);
      return;
    }
    showError(stateBox, error, load)?.focus();
    return;
  }
  showResult(result);
}

initPage();
load();
