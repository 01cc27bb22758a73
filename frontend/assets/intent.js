// Idempotency keys for POSTs that move money (enroll and pay, cancel a policy).
//
// One key per intent: what the person asked for, with this exact body. A retry of the same
// submission (the network dropped, the server was busy, the page was reloaded before the answer
// came) sends the same key, so the server answers with the first result and moves no money twice.
// Any definite answer from the server, success or refusal, ends the intent: the server keeps that
// answer for the key, so the next submission (another tier, a new SMS code) gets a new key.
//
// While an outcome is unknown the key is kept in sessionStorage, so a reload of the page retries
// the same intent instead of starting a second one.

import { ApiError } from "./api.js";

const STORE_PREFIX = "huiminbao.intent.";

/** A random UUID v4; crypto.randomUUID() where the page is a secure context, else built by hand. */
export function newKey() {
  if (typeof crypto.randomUUID === "function") return crypto.randomUUID();
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  bytes[6] = (bytes[6] & 0x0f) | 0x40;
  bytes[8] = (bytes[8] & 0x3f) | 0x80;
  const hex = [...bytes].map((b) => b.toString(16).padStart(2, "0")).join("");
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

/** Did the request perhaps not reach the server, or not finish there? Then retry with the same key. */
export function outcomeUnknown(error) {
  if (!(error instanceof ApiError)) return true;
  if (error.status === 0 || error.status >= 500) return true;
  return error.code === "idempotency_in_progress" || error.code === "idempotency_retry";
}

function read(name) {
  try {
    const saved = JSON.parse(sessionStorage.getItem(STORE_PREFIX + name) || "null");
    return saved && typeof saved.key === "string" ? saved : null;
  } catch {
    return null;
  }
}

function write(name, value) {
  try {
    if (value) sessionStorage.setItem(STORE_PREFIX + name, JSON.stringify(value));
    else sessionStorage.removeItem(STORE_PREFIX + name);
  } catch {
    /* storage unavailable: the key still lives in memory for this page */
  }
}

export class Intent {
  /** `name` tells intents apart in storage: "enroll", "cancel:<policy_no>". */
  constructor(name) {
    this.name = name;
    const saved = read(name);
    this.key = saved?.key || null;
    this.fingerprint = saved?.fingerprint || null;
  }

  /** The key for this body: the pending one if the body is the same, else a new one. */
  keyFor(body) {
    const fingerprint = JSON.stringify(body ?? null);
    if (!this.key || fingerprint !== this.fingerprint) {
      this.key = newKey();
      this.fingerprint = fingerprint;
    }
    write(this.name, { key: this.key, fingerprint: this.fingerprint });
    return this.key;
  }

  /** After the request: keep the key only if its outcome is unknown. */
  settle(error = null) {
    if (error && outcomeUnknown(error)) return;
    this.key = null;
    this.fingerprint = null;
    write(this.name, null);
  }
}
