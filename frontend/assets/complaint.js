// 投诉详情: one complaint with the staff's replies (GET /api/v1/complaints/{no}).

import { api } from "./api.js";
import { paragraphs, replaceChildren } from "./dom.js";
import { clearState, initPage, showError, showLoading } from "./page.js";
import { isLoggedOut, redirectToLogin, rememberModeOnAccount } from "./session.js";
import { complaintFacts, complaintStatus, overduePill, replyItems } from "./complaint-view.js";

const stateBox = document.getElementById("complaint-state");
const content = document.getElementById("complaint-content");

async function load() {
  content.hidden = true;
  showLoading(stateBox);
  const number = new URLSearchParams(window.location.search).get("no") || "";
  let complaint;
  try {
    complaint = await api.get(`/complaints/${encodeURIComponent(number)}`);
  } catch (error) {
    if (isLoggedOut(error)) {
      redirectToLogin();
      return;
    }
    showError(stateBox, error, load)?.focus();
    return;
  }
  replaceChildren(document.getElementById("complaint-badge"), complaintStatus(complaint),
    overduePill(complaint));
  replaceChildren(document.getElementById("complaint-facts"), complaintFacts(complaint));
  replaceChildren(document.getElementById("complaint-text"), paragraphs(complaint.content));
  replaceChildren(document.getElementById("reply-list"), replyItems(complaint));
  clearState(stateBox);
  content.hidden = false;
}

initPage();
rememberModeOnAccount();
load();
