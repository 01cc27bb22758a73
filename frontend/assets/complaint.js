// 投诉详情: one complaint with the staff's replies (GET /api/v1/complaints/{no}, or for one filed
// on this phone without an account GET /api/v1/public-complaints/{no} with its token). Once it
// is resolved: 满意度评价 (rating.js, POST …/rating). Without a number: the way to one's
// complaints, not an error.

import { api } from "./api.js";
import { paragraphs, replaceChildren } from "./dom.js";
import { initPage, loadInto, showMissing } from "./page.js";
import { rememberModeOnAccount } from "./session.js";
import { complaintFacts, complaintStatus, overduePill, replyItems } from "./complaint-view.js";
import { getPublicComplaint, ratePublicComplaint, tokenFor } from "./complaint-tokens.js";
import { renderRating } from "./rating.js";

const stateBox = document.getElementById("complaint-state");
const content = document.getElementById("complaint-content");
const ratingBox = document.getElementById("rating-box");
const number = new URLSearchParams(window.location.search).get("no") || "";
const token = number ? tokenFor(number) : null;

function rate(body) {
  return token ? ratePublicComplaint(number, token, body)
    : api.post(`/complaints/${encodeURIComponent(number)}/rating`, body);
}

function render(complaint) {
  replaceChildren(document.getElementById("complaint-badge"), complaintStatus(complaint),
    overduePill(complaint));
  replaceChildren(document.getElementById("complaint-facts"), complaintFacts(complaint));
  replaceChildren(document.getElementById("complaint-text"), paragraphs(complaint.content));
  replaceChildren(document.getElementById("reply-list"), replyItems(complaint));
  renderRating(ratingBox, complaint, { submit: rate });
}

function load() {
  if (!number) {
    showMissing(stateBox, { title: "请选择要查看的投诉", text: "这个链接没有带投诉编号，请在投诉与建议中选择。",
      href: "/complaints.html", action: "查看我的投诉" });
    return undefined;
  }
  return loadInto({
    box: stateBox, content,
    fetch: () => (token ? getPublicComplaint(number, token) : api.get(`/complaints/${encodeURIComponent(number)}`)),
    render,
  });
}

initPage();
if (!token) rememberModeOnAccount();
load();
