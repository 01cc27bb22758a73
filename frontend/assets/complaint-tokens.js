// Complaints filed without an account: each one's token (answered once by POST
// /public-complaints) kept on this phone, so the person can come back to read the replies and
// rate the handling (GET /public-complaints/{no}, POST …/rating with X-Complaint-Token).

import { api } from "./api.js";

const KEY = "hmb_complaint_tokens";

function all() {
  try {
    const stored = JSON.parse(window.localStorage.getItem(KEY) || "{}");
    return stored && typeof stored === "object" ? stored : {};
  } catch {
    return {};
  }
}

export function rememberToken(number, token) {
  window.localStorage.setItem(KEY, JSON.stringify({ ...all(), [number]: token }));
}

export function tokenFor(number) {
  const token = all()[number];
  return typeof token === "string" ? token : null;
}

export function localNumbers() {
  return Object.keys(all()).sort().reverse();
}

export function getPublicComplaint(number, token) {
  return api.get(`/public-complaints/${encodeURIComponent(number)}`,
    { headers: { "X-Complaint-Token": token } });
}

export function ratePublicComplaint(number, token, body) {
  return api.post(`/public-complaints/${encodeURIComponent(number)}/rating`, body,
    { headers: { "X-Complaint-Token": token } });
}
