// A small fetch wrapper for the JSON API under /api/v1.
//
// Every error the server sends has one shape:
//   {"code": "...", "message": "中文说明", "errors": {"field": ["中文说明"]}, "request_id": "..."}
// which becomes an ApiError whose .message is that Chinese text, ready to show to a person.
// Network failures, time-outs and non-JSON answers become ApiErrors with a Chinese message too.
//
// Signed-in pages use the session cookie (HttpOnly) set by POST /auth/login. Every unsafe request
// (POST/PUT/PATCH/DELETE) echoes the readable hmb_csrf cookie in X-CSRF-Token (double submit).

import { actingHeaderFor } from "./acting.js";

export const API_BASE = "/api/v1";
const DEFAULT_TIMEOUT_MS = 15000;
export const CSRF_COOKIE = "hmb_csrf";
const SAFE_METHODS = new Set(["GET", "HEAD", "OPTIONS"]);

const FALLBACK_MESSAGES = {
  network: "网络连接失败，请检查网络后重试",
  timeout: "请求超时，请检查网络后重试",
  server: "系统繁忙，请稍后再试",
};

export class ApiError extends Error {
  constructor({ status = 0, code = "error", message, errors = {}, requestId = null,
    retryAfter = null }) {
    super(message || FALLBACK_MESSAGES.server);
    this.name = "ApiError";
    this.status = status;
    this.code = code;
    this.errors = errors || {};
    this.requestId = requestId;
    /** Seconds to wait before trying again (the Retry-After header of a 429), or null. */
    this.retryAfter = retryAfter;
  }

  /** The first Chinese message for one field, or "" (for showing next to a form input). */
  fieldMessage(field) {
    const messages = this.errors[field];
    return Array.isArray(messages) && messages.length ? messages[0] : "";
  }
}

function hasChinese(text) {
  return typeof text === "string" && /[\u3400-\u9fff]/.test(text);
}

/** The value of one cookie readable by the page ("" if absent). */
export function readCookie(name) {
  for (const part of document.cookie.split(";")) {
    const index = part.indexOf("=");
    if (index < 0) continue;
    if (part.slice(0, index).trim() === name) {
      try {
        return decodeURIComponent(part.slice(index + 1).trim());
      } catch {
        return part.slice(index + 1).trim();
      }
    }
  }
  return "";
}

function retryAfterSeconds(response) {
  const value = Number.parseInt(response.headers.get("Retry-After") || "", 10);
  return Number.isFinite(value) && value > 0 ? value : null;
}

async function readJson(response) {
  const type = response.headers.get("Content-Type") || "";
  if (response.status === 204 || !type.includes("json")) return null;
  try {
    return await response.json();
  } catch {
    return null;
  }
}

/**
 * Send one request. `path` is relative to /api/v1 ("/products") unless it starts with "/api/".
 * Options: body (sent as JSON; a FormData is sent as multipart), headers, idempotencyKey, ifMatch
 * (the ETag of the version a change replaces), actingFor (default: acting.js's choice on the
 * endpoints that act for someone), signal, timeoutMs (0: no limit), messages (this request's own
 * words for "timeout", "network", "server" or an HTTP status, where the server sends none in Chinese).
 */
export async function request(method, path, options = {}) {
  return (await send(method, path, options)).data;
}

/** Like `request`, answering `{ data, headers }`: for the ETag a later change sends back as
 * `ifMatch`, and the X-Pagination header of a list read a page at a time (paging.js). */
export async function requestWithHeaders(method, path, options = {}) {
  const { data, response } = await send(method, path, options);
  return { data, headers: response.headers };
}

async function send(method, path, options) {
  const { body, headers = {}, idempotencyKey, ifMatch, actingFor, signal,
    timeoutMs = DEFAULT_TIMEOUT_MS, messages = {} } =
    options;
  const words = { ...FALLBACK_MESSAGES, ...messages };
  const url = path.startsWith("/api/") ? path : API_BASE + path;
  const finalHeaders = { Accept: "application/json", ...headers };
  const multipart = body instanceof FormData; // the browser writes its Content-Type (the boundary)
  if (body !== undefined && !multipart) finalHeaders["Content-Type"] = "application/json";
  if (idempotencyKey) finalHeaders["Idempotency-Key"] = idempotencyKey;
  if (ifMatch) finalHeaders["If-Match"] = ifMatch;
  // While this tab acts for a family member (acting.js), the endpoints that act for a subject say
  // whom; `actingFor` overrides that (null: never).
  const actingPerson = actingFor === undefined ? actingHeaderFor(method, url) : actingFor;
  if (actingPerson) finalHeaders["X-Acting-For"] = String(actingPerson);
  if (!SAFE_METHODS.has(method.toUpperCase())) {
    const csrf = readCookie(CSRF_COOKIE);
    if (csrf && !finalHeaders["X-CSRF-Token"]) finalHeaders["X-CSRF-Token"] = csrf;
  }

  const controller = new AbortController();
  const timer = timeoutMs ? setTimeout(() => controller.abort("timeout"), timeoutMs) : null;
  if (signal) signal.addEventListener("abort", () => controller.abort(signal.reason), { once: true });

  let response;
  try {
    response = await fetch(url, {
      method,
      headers: finalHeaders,
      body: body === undefined || multipart ? body : JSON.stringify(body),
      credentials: "same-origin",
      signal: controller.signal,
    });
  } catch (error) {
    const timedOut = controller.signal.aborted && controller.signal.reason === "timeout";
    if (signal?.aborted) throw error; // the caller cancelled: not an error to show
    throw new ApiError({
      code: timedOut ? "timeout" : "network",
      message: timedOut ? words.timeout : words.network,
    });
  } finally {
    clearTimeout(timer);
  }

  const data = await readJson(response);
  if (response.ok) return { data, response };

  const payload = data && typeof data === "object" ? data : {};
  throw new ApiError({
    status: response.status,
    code: payload.code || "error",
    message: hasChinese(payload.message) ? payload.message : words[response.status] ?? words.server,
    errors: payload.errors,
    requestId: payload.request_id || response.headers.get("X-Request-ID"),
    retryAfter: retryAfterSeconds(response),
  });
}

export const api = {
  get: (path, options) => request("GET", path, options),
  post: (path, body, options = {}) => request("POST", path, { ...options, body }),
  put: (path, body, options = {}) => request("PUT", path, { ...options, body }),
  delete: (path, options) => request("DELETE", path, options),
};

/** A Chinese message for anything a request may throw. */
export function errorMessage(error) {
  if (error instanceof ApiError) return error.message;
  return FALLBACK_MESSAGES.server;
}
