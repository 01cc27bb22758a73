// Pieces shared by the 理赔 pages (residents' claims, claim, claim-new, estimate; the staff
// console's queue and claim): status chips, amounts typed in yuan, the picker for items outside
// basic insurance, the payout breakdown and the timeline in plain Chinese, document uploads.

import { api, ApiError } from "./api.js";
import { h, replaceChildren } from "./dom.js";
import { formatFen, formatInstant, parseYuan } from "./format.js";
import { clearFieldError, setFieldError } from "./forms.js";
import { longNumber } from "./insurance.js";
import { showError } from "./page.js";

export const CLAIMS_PATH = "/claims.html";
export const NEW_CLAIM_PATH = "/claim-new.html";
export const ESTIMATE_PATH = "/estimate.html";
export const STAFF_QUEUE_PATH = "/staff/claims.html";

export function claimPath(claimNo, extra = "") {
  return `/claim.html?no=${encodeURIComponent(claimNo)}${extra}`;
}

export function staffClaimPath(claimNo) {
  return `/staff/claim.html?no=${encodeURIComponent(claimNo)}`;
}

// ---------------------------------------------------------------- status chips

// Never colour alone: each tone has a shape, and the status is always said in words.
const STATUS_TONES = {
  submitted: "wait",
  under_review: "wait",
  supplement_requested: "warn",
  approved: "ok",
  paid: "ok",
  settled: "ok",
  rejected: "off",
  appealed: "wait",
};
const TONE_ICONS = { ok: "✓", wait: "…", warn: "!", off: "✕" };

export function statusTone(status) {
  return STATUS_TONES[status] || "wait";
}

/** A status chip: icon (a shape) + the status in words. */
export function claimChip(status, label, { large = false, tag = "span" } = {}) {
  const tone = statusTone(status);
  return h(tag, {
    class: `claim-chip claim-chip--${tone}${large ? " claim-chip--large" : ""}`,
    "data-status": status,
  },
  h("span", { class: "claim-chip__icon", "aria-hidden": "true" }, TONE_ICONS[tone]),
  h("span", { class: "claim-chip__text" }, label));
}

/** What a status means for the person who claimed, in one sentence. */
export const STATUS_EXPLAINED = {
  submitted: "已收到您的理赔申请，保险公司会尽快审核。",
  under_review: "保险公司正在审核您的理赔申请。",
  supplement_requested: "保险公司需要您补充材料，请查看下方说明并上传。",
  approved: "审核已通过，赔付款将支付给您。",
  paid: "赔付款已支付。",
  rejected: "本次理赔未予赔付，原因见下方。",
  settled: "医院已为您一站式结算，惠民保赔付款已直接抵扣住院费用，无需再申请。",
  appealed: "您已提出申诉，其他复核人员正在重新审核，复核结果会短信通知您。",
};

/** A special drug settled by a designated pharmacy: the payout was deducted at its counter. */
export function paidAtPharmacy(c) {
  return c.status === "settled" && c.kind === "special_drug";
}

/** How the claim came about, in words (a pharmacy's direct settlement says so). */
export function channelText(c) {
  return paidAtPharmacy(c) ? "定点药店直接结算（已在柜台抵扣）" : c.channel_label;
}

/** What the claim's status means for the claimant (a pharmacy's settlement in its own words). */
export function statusExplained(c) {
  return paidAtPharmacy(c)
    ? "定点药店已在您购药时直接结算，惠民保赔付款已在柜台抵扣药费，无需再申请。"
    : STATUS_EXPLAINED[c.status] || "";
}

/** The claim review pages' answer to a 403: this account is not insurer staff (true when handled). */
export function staffRefusal(box, error) {
  if (!(error instanceof ApiError && error.status === 403)) return false;
  showError(box, new ApiError({ status: 403, code: "forbidden", message: "您的账号没有理赔审核权限。请使用保险公司工作人员账号登录。" }));
  return true;
}

// Money typed in yuan: the one rule (format.js), re-exported for the claim pages.
export { parseYuan };

// ---------------------------------------------------------------- dates and times

// formatInstant is shared (format.js); the claim pages import it from here.
export { formatInstant };

/** A hospital stay: "2027年1月8日 至 2027年1月10日", each date kept on one line. */
export { dateRange as stay } from "./format.js";

export function fileSize(bytes) {
  const value = Number(bytes) || 0;
  if (value >= 1024 * 1024) return `${(value / (1024 * 1024)).toFixed(1)} MB`;
  if (value >= 1024) return `${Math.max(1, Math.round(value / 1024))} KB`;
  return `${value} 字节`;
}

// ---------------------------------------------------------------- facts

export { fact } from "./dom.js";

export function claimNumber(claimNo) {
  return longNumber(claimNo);
}

/** The items of a bill: name and code, then amount and what they count as (or why not). */
export function billLines(items) {
  return h("ul", { class: "bill-lines", role: "list" },
    items.map((item) => h("li", { class: "bill-lines__item", "data-item": item.code },
      h("span", { class: "bill-lines__name" }, `${item.name}（${item.code}）`),
      h("span", { class: "bill-lines__meta" },
        h("span", { class: "nowrap" }, formatFen(item.amount_fen)),
        ` · ${item.category_label || "不属于保障范围"}`))));
}

// ---------------------------------------------------------------- the payout breakdown

function money(fen) {
  return formatFen(fen ?? 0);
}

function lineFigures(line) {
  return h("dl", { class: "payout-figures" },
    h("div", {}, h("dt", {}, "费用"), h("dd", {}, money(line.eligible_fen))),
    h("div", {}, h("dt", {}, "本次扣免赔额"), h("dd", {}, money(line.deductible_used_fen))),
    h("div", {}, h("dt", {}, "赔付比例"), h("dd", {}, line.ratio)),
    h("div", {}, h("dt", {}, "年度剩余额度"), h("dd", {}, money(line.cap_remaining_fen))));
}

function lineItems(line) {
  if (!line.items?.length) return null;
  return h("ul", { class: "payout-line__items", role: "list" },
    line.items.map((item) => h("li", { "data-item": item.code },
      `${item.name}（${item.code}）`, h("span", { class: "nowrap" }, ` ${money(item.amount_fen)}`))));
}

/**
 * The breakdown: the total, then one block per category (what counted, the deductible, the ratio,
 * the payout) with the server's own plain-Chinese sentence, then the items not covered and why.
 * `figures` adds the numbers of each line as a small table (the staff console).
 */
export function renderBreakdown(breakdown, { headingLevel = 3, totalLabel = "合计赔付", figures = false } = {}) {
  const heading = `h${headingLevel}`;
  // A category the bill has nothing in (特药 ¥0.00) says nothing: left out.
  const lines = (breakdown.lines || []).filter((line) => line.eligible_fen > 0 || line.payout_fen > 0);
  const uncovered = breakdown.uncovered || [];
  return h("div", { class: "payout", "data-breakdown": true },
    h("div", { class: "payout-total", "data-total": true },
      h("p", { class: "payout-total__label" }, totalLabel),
      h("p", { class: "payout-total__amount", "data-amount": true }, money(breakdown.total_fen))),
    lines.length ? h("ul", { class: "payout-lines", role: "list" },
      lines.map((line) => h("li", { class: "payout-line", "data-line": line.category },
        h("div", { class: "payout-line__head" },
          h(heading, { class: "payout-line__label" }, line.label),
          h("p", { class: "payout-line__amount" },
            h("span", { class: "payout-line__amount-label" }, "赔付"),
            h("span", { "data-payout": true }, money(line.payout_fen)))),
        h("p", { class: "payout-line__text", "data-text": true }, line.text),
        lineItems(line),
        line.capped ? h("p", { class: "payout-line__note" },
          h("span", { "aria-hidden": "true" }, "! "), "已达到本年度封顶线，超出部分不再赔付。") : null,
        figures ? lineFigures(line) : null))) : null,
    uncovered.length ? h("div", { class: "payout-uncovered", "data-uncovered": true },
      h(heading, { class: "payout-uncovered__title" },
        h("span", { "aria-hidden": "true" }, "— "), "不属于保障范围的费用"),
      h("ul", { class: "payout-uncovered__list", role: "list" },
        uncovered.map((item) => h("li", { "data-item": item.code },
          h("p", { class: "payout-uncovered__name" },
            `${item.name}（${item.code}）`, h("span", { class: "nowrap" }, ` ${money(item.amount_fen)}`)),
          h("p", { class: "payout-uncovered__reason" }, item.reason))))) : null);
}

// ---------------------------------------------------------------- the timeline

/** Oldest first, as things happened; the newest step is marked 最新 in words. */
export function renderTimeline(timeline) {
  const entries = timeline || [];
  return h("ol", { class: "timeline", "data-timeline": true },
    entries.map((entry, index) => {
      const latest = index === entries.length - 1;
      return h("li", {
        class: `timeline__item timeline__item--${statusTone(entry.status)}${latest ? " timeline__item--latest" : ""}`,
        "data-status": entry.status,
      },
      h("p", { class: "timeline__status" },
        h("span", { class: "timeline__label" }, entry.status_label),
        latest ? h("span", { class: "timeline__latest" }, "最新") : null),
      h("p", { class: "timeline__meta" },
        h("span", { class: "nowrap" }, formatInstant(entry.at)), ` · ${entry.by}`),
      entry.message ? h("p", { class: "timeline__message" }, entry.message) : null);
    }));
}

/** The message that came with the newest step of one status (e.g. what to supplement). */
export function latestMessage(timeline, status) {
  const found = [...(timeline || [])].reverse().find((entry) => entry.status === status);
  return found?.message || "";
}

// ---------------------------------------------------------------- documents

export function renderDocuments(documents, { thumbnails = false } = {}) {
  if (!documents?.length) return h("p", { class: "card__lead", "data-no-documents": true }, "还没有上传材料。");
  return h("ul", { class: "documents", role: "list", "data-documents": true },
    documents.map((doc, index) => {
      const kind = doc.content_type === "application/pdf" ? "PDF 文件" : "照片";
      const isImage = doc.content_type?.startsWith("image/");
      return h("li", { class: "document", "data-document": doc.id },
        thumbnails && isImage
          ? h("img", { class: "document__thumb", src: doc.url, alt: `材料 ${index + 1}：${doc.filename}` })
          : h("span", { class: "document__icon", "aria-hidden": "true" }, isImage ? "图" : "PDF"),
        h("span", { class: "document__text" },
          h("a", { class: "document__link", href: doc.url, "data-document-link": true },
            `材料 ${index + 1}：${doc.filename}`),
          h("span", { class: "document__meta" },
            `${kind} · ${fileSize(doc.size_bytes)}${doc.uploaded_at ? ` · ${formatInstant(doc.uploaded_at)}上传` : ""}`)));
    }));
}

// ---------------------------------------------------------------- uploads

export const MAX_DOCUMENT_BYTES = 10 * 1024 * 1024;
const DOCUMENT_TYPES = new Set(["image/jpeg", "image/png", "application/pdf"]);

/** Why this file cannot be sent (checked again by the server, by content), or "". */
export function fileProblem(file) {
  if (!file.size) return `“${file.name}”是空文件，请重新选择`;
  if (file.size > MAX_DOCUMENT_BYTES) return `“${file.name}”超过10MB，请压缩后重新选择`;
  if (file.type && !DOCUMENT_TYPES.has(file.type)) {
    return `“${file.name}”不是 JPG、PNG 照片或 PDF 文件，请重新选择`;
  }
  return "";
}

const UPLOAD_WORDS = {
  timeout: "上传超时，请检查网络后重试",
  server: "上传失败，请稍后再试",
  413: "文件太大，单个文件不能超过10MB",
};

/** POST /claims/{claim_no}/documents (multipart field "file") -> {document, claim}. */
export async function uploadDocument(claimNo, file, { timeoutMs = 60000 } = {}) {
  const body = new FormData();
  body.append("file", file, file.name || "photo.jpg");
  try {
    return await api.post(`/claims/${encodeURIComponent(claimNo)}/documents`, body,
      { timeoutMs, messages: UPLOAD_WORDS });
  } catch (error) {
    // What is wrong with the file itself (its type, its size) says it best.
    if (error instanceof ApiError && error.fieldMessage("file")) error.message = error.fieldMessage("file");
    throw error;
  }
}

// ---------------------------------------------------------------- the item picker

const OTHER = "__other";
let pickerCount = 0;

/**
 * Out-of-policy items on the bill: one row per item, each with the product's 特药 and 合理费用
 * lists to choose from (or 其他, typed in) and its amount in yuan.
 */
export class ItemPicker {
  constructor(list, addButton, { catalog = { special_drugs: [], reasonable_items: [] } } = {}) {
    this.list = list;
    this.addButton = addButton;
    this.catalog = catalog;
    this.rows = [];
    pickerCount += 1;
    this.prefix = `item${pickerCount}`;
    this.serial = 0;
    addButton.addEventListener("click", () => {
      const row = this.add();
      row.select.focus();
    });
  }

  setCatalog(catalog) {
    this.catalog = catalog || { special_drugs: [], reasonable_items: [] };
    for (const row of this.rows) this.fillOptions(row.select);
  }

  fillOptions(select) {
    const chosen = select.value;
    const groups = [
      ["特定药品（特药清单内）", this.catalog.special_drugs || []],
      ["医保范围外合理费用（清单内）", this.catalog.reasonable_items || []],
    ];
    replaceChildren(select,
      h("option", { value: "" }, "请选择项目"),
      groups.filter(([, items]) => items.length).map(([label, items]) => h("optgroup", { label },
        items.map((item) => h("option", { value: item.code, "data-name": item.name }, item.name)))),
      h("optgroup", { label: "其他" }, h("option", { value: OTHER }, "其他项目（不在以上清单内）")));
    select.value = chosen;
  }

  add() {
    this.serial += 1;
    const id = `${this.prefix}-${this.serial}`;
    const select = h("select", { id: `${id}-code`, class: "field__input", "data-item-code": true });
    const name = h("input", {
      id: `${id}-name`, class: "field__input", type: "text", autocomplete: "off",
      "aria-describedby": `${id}-name-hint`, "data-item-name": true,
    });
    const amount = h("input", {
      id: `${id}-amount`, class: "field__input field__input--mono", type: "text", inputmode: "decimal",
      autocomplete: "off", placeholder: "例如 5000", "data-item-amount": true,
    });
    const codeLabel = h("label", { class: "field__label", for: select.id });
    const nameField = h("div", { class: "field", hidden: true },
      h("label", { class: "field__label", for: name.id }, "项目名称"),
      name,
      h("p", { class: "field__hint", id: `${id}-name-hint` }, "不在清单内的费用一般不属于保障范围，明细中会说明原因。"),
      h("p", { class: "field__error", id: `${id}-name-error`, hidden: true }));
    const remove = h("button", { type: "button", class: "btn btn--quiet btn--small bill-item__remove" });
    const element = h("li", { class: "bill-item", "data-item-row": true },
      h("div", { class: "field" }, codeLabel, select,
        h("p", { class: "field__error", id: `${select.id}-error`, hidden: true })),
      nameField,
      h("div", { class: "field" },
        h("label", { class: "field__label", for: amount.id }, "金额（元）"),
        amount,
        h("p", { class: "field__error", id: `${amount.id}-error`, hidden: true })),
      remove);
    const row = { element, select, name, nameField, amount, codeLabel, remove };
    this.fillOptions(select);
    select.addEventListener("change", () => {
      nameField.hidden = select.value !== OTHER;
      clearFieldError(select);
    });
    amount.addEventListener("input", () => clearFieldError(amount));
    remove.addEventListener("click", () => this.remove(row));
    this.rows.push(row);
    this.list.append(element);
    this.renumber();
    return row;
  }

  remove(row) {
    const index = this.rows.indexOf(row);
    if (index < 0) return;
    this.rows.splice(index, 1);
    row.element.remove();
    this.renumber();
    const neighbour = this.rows[index] || this.rows[index - 1];
    if (neighbour) neighbour.select.focus();
    else this.addButton.focus();
  }

  renumber() {
    this.rows.forEach((row, index) => {
      row.codeLabel.textContent = `费用项目 ${index + 1}`;
      row.remove.replaceChildren("删除此项", h("span", { class: "visually-hidden" }, `（费用项目 ${index + 1}）`));
    });
    this.addButton.textContent = this.rows.length ? "＋ 再添加一项" : "＋ 添加医保范围外的费用项目";
  }

  clearErrors() {
    for (const row of this.rows) {
      clearFieldError(row.select);
      clearFieldError(row.name);
      clearFieldError(row.amount);
    }
  }

  /** {items, invalid}: the items to send, and the first field marked wrong (or null). */
  collect() {
    const items = [];
    let invalid = null;
    let others = 0;
    for (const row of this.rows) {
      const code = row.select.value;
      const parsed = parseYuan(row.amount.value, { required: true, positive: true });
      const empty = !code && !row.amount.value.trim();
      if (empty) continue; // an untouched row is ignored
      if (!code) {
        setFieldError(row.select, "请选择费用项目");
        invalid ??= row.select;
      }
      let itemName = "";
      let itemCode = code;
      if (code === OTHER) {
        itemName = row.name.value.trim();
        others += 1;
        itemCode = `QT${String(others).padStart(2, "0")}`;
        if (!itemName) {
          setFieldError(row.name, "请填写项目名称");
          invalid ??= row.name;
        }
      } else if (code) {
        itemName = row.select.selectedOptions[0]?.dataset.name || code;
      }
      if (parsed.error) {
        setFieldError(row.amount, parsed.error);
        invalid ??= row.amount;
      }
      if (code && itemName && !parsed.error) items.push({ code: itemCode, name: itemName, amount_fen: parsed.fen });
    }
    return { items, invalid };
  }
}

/**
 * Whose claims a resident page shows: the person named by ?acting_for=<person id> (the proxy
 * pages link so), else the person this tab acts for (acting.js), else null (one's own).
 * Returns {personId, name, stored}: `stored` when acting.js acts for that same person, so the
 * endpoints that act for someone carry X-Acting-For on their own.
 */
export function claimsSubject(stored) {
  const raw = new URLSearchParams(window.location.search).get("acting_for");
  const fromUrl = raw && /^\d+$/.test(raw) ? Number(raw) : null;
  if (fromUrl !== null) {
    const same = stored?.person_id === fromUrl;
    return { personId: fromUrl, name: same ? stored.name : "", stored: same };
  }
  if (stored) return { personId: stored.person_id, name: stored.name, stored: true };
  return null;
}
