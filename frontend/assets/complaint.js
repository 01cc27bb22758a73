// 投诉详情: one complaint with the staff's replies (GET /api/v1/complaints/{no}).

import { api } from "./api.js";
import { paragraphs, replaceChildren } from "./dom.js";
import { initPage, loadInto } from "./page.js";
import { rememberModeOnAccount } from "./session.js";
import { complaintFacts, complaintStatus, overduePill, replyItems } from "./complaint-view.js";

const stateBox = document.getElementById("complaint-state");
const content = document.getElementById("complaint-content");

function load() {
  const number = new URLSearchParams(window.location.search).get("no") || "";
  return loadInto({
    box: stateBox, content, fetch: () => api.get(`/complaints/${encodeURIComponent(number)}`),
    render: (complaint) => {
      replaceChildren(document.getElementById("complaint-badge"), complaintStatus(complaint),
        overduePill(complaint));
      replaceChildren(document.getElementById("complaint-facts"), complaintFacts(complaint));
      replaceChildren(document.getElementById("complaint-text"), paragraphs(complaint.content));
      replaceChildren(document.getElementById("reply-list"), replyItems(complaint));
    },
  });
}

initPage();
rememberModeOnAccount();
load();
