// 产品配置: every product (GET /admin/products); next year's product from this year's
// (POST /admin/products/{id}/clone); a draft edited (PUT /admin/products/{id}) and published
// (POST /admin/products/{id}/publish); the complaint deadline (PUT …/complaint-settings); the
// co-insurers and their shares (PUT …/insurers) and each insurer's statement (GET …/statement);
// 客服与帮助, what residents see under 客服与投诉 (admin-help.js).
// The server checks every rule and answers all violations at once, each under its field. The
// editor reads the draft's version (ETag) when it opens and saves with If-Match: when another
// administrator saved in between, nothing is written and the editor offers to reload (412).

import { api, requestWithHeaders } from "./api.js";
import { confirmDialog } from "./dialog.js";
import { h, replaceChildren } from "./dom.js";
import { clearFieldError, clearFormAlert, setBusy, showFormAlert, showStatus } from "./forms.js";
import { formatDateRange, formatFen, parseYuan } from "./format.js";
import { clearState } from "./page.js";
import { ADMIN, dataTable, pill, showFormErrors, startConsole } from "./admin.js";
import { helpForm } from "./admin-help.js";

const STATUS = { draft: ["草稿", "off"], published: ["已发布", "ok"], withdrawn: ["已撤回", "off"] };

const stateBox = document.getElementById("page-state");
const content = document.getElementById("page-content");
const tableBox = document.getElementById("product-table");
const listStatus = document.getElementById("list-status");
const panel = document.getElementById("panel");
const panelTitle = document.getElementById("panel-title");
const panelBody = document.getElementById("panel-body");

function addYears(iso, years) {
  const [y, m, d] = iso.split("-").map(Number);
  const day = m === 2 && d === 29 ? 28 : d;
  return `${y + years}-${String(m).padStart(2, "0")}-${String(day).padStart(2, "0")}`;
}

function field(id, label, attrs = {}, hint = "") {
  const input = h("input", { id, class: "field__input", ...attrs,
    "aria-describedby": hint ? `${id}-hint` : null });
  return {
    input,
    node: h("div", { class: "field" },
      h("label", { class: "field__label", for: id }, label), input,
      hint ? h("p", { class: "field__hint", id: `${id}-hint` }, hint) : null,
      h("p", { class: "field__error", id: `${id}-error`, hidden: true })),
  };
}

function openPanel(title, ...children) {
  panelTitle.textContent = title;
  replaceChildren(panelBody, ...children);
  panel.hidden = false;
  panelTitle.focus();
}

/** Submit a panel form: busy button, every field error under its field, the rest in the alert. */
async function submitPanel({ form, button, busyText, fields, alertBox, send, done, onError }) {
  clearFormAlert(alertBox);
  Object.values(fields).forEach(clearFieldError);
  setBusy(button, true, busyText);
  try {
    done(await send());
  } catch (error) {
    if (onError?.(error)) return form;
    showFormErrors(error, fields, alertBox, button);
  } finally {
    setBusy(button, false);
  }
  return form;
}

function dateFields(prefix, product) {
  return {
    "enrollment.opens_on": field(`${prefix}-opens`, "投保开始日期", { type: "date", value: product.enrollment.opens_on }),
    "enrollment.closes_on": field(`${prefix}-closes`, "投保结束日期", { type: "date", value: product.enrollment.closes_on }),
    "coverage.starts_on": field(`${prefix}-starts`, "保障开始日期", { type: "date", value: product.coverage.starts_on }),
    "coverage.ends_on": field(`${prefix}-ends`, "保障结束日期", { type: "date", value: product.coverage.ends_on }),
  };
}

function cloneForm(product) {
  const year = product.year + 1;
  const next = {
    enrollment: { opens_on: addYears(product.enrollment.opens_on, 1), closes_on: addYears(product.enrollment.closes_on, 1) },
    coverage: { starts_on: addYears(product.coverage.starts_on, 1), ends_on: addYears(product.coverage.ends_on, 1) },
  };
  const parts = {
    year: field("clone-year", "新产品年度", { type: "number", inputmode: "numeric", value: year },
      "以保障期开始的年份计"),
    ...dateFields("clone", next),
    code: field("clone-code", "产品代码（选填）", { type: "text", autocomplete: "off", spellcheck: "false" },
      "不填则自动生成"),
    name: field("clone-name", "产品名称（选填）", { type: "text", autocomplete: "off" }, "不填则沿用原名称"),
  };
  const alertBox = h("div", { class: "form-alert-slot", role: "alert" });
  const button = h("button", { type: "submit", class: "btn btn--primary" }, "复制为草稿");
  const form = h("form", { class: "form", novalidate: true, "data-form": "clone" },
    h("p", { class: "card__lead" }, `复制“${product.name}（${product.year}年度）”的保障档次、责任、条款、资助设置和药品目录，生成下一年度草稿。`),
    h("div", { class: "form-grid" }, Object.values(parts).map((p) => p.node)), alertBox, button);
  const fields = Object.fromEntries(Object.entries(parts).map(([key, p]) => [key, p.input]));
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const body = {
      year: Number.parseInt(fields.year.value, 10),
      enrollment: { opens_on: fields["enrollment.opens_on"].value, closes_on: fields["enrollment.closes_on"].value },
      coverage: { starts_on: fields["coverage.starts_on"].value, ends_on: fields["coverage.ends_on"].value },
      code: fields.code.value.trim() || null,
      name: fields.name.value.trim() || null,
    };
    submitPanel({
      form, button, busyText: "正在复制并校验…", fields, alertBox,
      send: () => api.post(`/admin/products/${product.id}/clone`, body),
      done: async (draft) => {
        await loadList(`已生成草稿“${draft.name}”（${draft.code}，${draft.year}年度），请检查后发布。`);
        await openEditor(draft);
      },
    });
  });
  openPanel(`复制为下一年度：${product.name}`, form);
}

function draftBody(product) {
  return {
    code: product.code, name: product.name, city_code: product.city_code, city_name: product.city_name,
    insurer: product.insurer, status: "draft", first_year: product.first_year,
    enrollment: { opens_on: product.enrollment.opens_on, closes_on: product.enrollment.closes_on },
    coverage: { starts_on: product.coverage.starts_on, ends_on: product.coverage.ends_on },
    payable_balances: product.payable_balances,
    tiers: product.tiers.map((t) => ({
      code: t.code, name: t.name, premium_fen: t.premium_fen,
      benefits: Object.fromEntries(t.benefits.map((b) => [b.category, {
        deductible_fen: b.deductible_fen, ratio_bp: b.ratio_bp, cap_fen: b.cap_fen,
        bands: (b.bands || []).map((band) => ({ above_fen: band.above_fen, ratio_bp: band.ratio_bp })),
        waiting_days: b.waiting_days || 0,
      }])),
    })),
    deductible_mode: product.deductible_mode || "per_category",
    pre_existing: (product.pre_existing || []).map((c) => ({ code_prefix: c.code_prefix, name: c.name, ratios: { ...c.ratios } })),
    subsidy: { tier: product.subsidy?.tier ?? null, categories: product.subsidy?.categories ?? [] },
    eligibility_conditions: product.eligibility_conditions,
    terms: {
      version: product.terms.version, notice: product.terms.notice, coverage: product.terms.coverage,
      claim_scope: product.terms.claim_scope, exclusions: product.terms.exclusions,
    },
  };
}

// ---------------------------------------------------------------- claim terms (issue 17)
// One line per pre-existing condition: "C22 肝癌 70 不赔 70" — ICD-10 prefix, name, then the
// ratio (%) of 合规费用, 合理费用 and 特药, or 不赔 (not covered). Bands: "100000:80, 300000:90" —
// above this many yuan after the deductible, this percent.

const CATEGORIES = ["compliant", "reasonable", "special_drug"];

function conditionLine(c) {
  const ratio = (bp) => (bp === null || bp === undefined ? "不赔" : bpToPercent(bp));
  return [c.code_prefix, c.name, ...CATEGORIES.map((cat) => ratio(c.ratios[cat]))].join(" ");
}

function parseConditions(text) {
  return text.split("\n").map((line) => line.trim()).filter(Boolean).map((line) => {
    const [code, name, ...ratios] = line.split(/\s+/);
    const bp = (value) => (value === undefined || /^不赔|不保|null$/.test(value) ? null
      : (Number.isNaN(percentToBp(value)) ? -1 : percentToBp(value)));
    return { code_prefix: code || "", name: name || "", ratios: Object.fromEntries(CATEGORIES.map((cat, i) => [cat, bp(ratios[i])])) };
  });
}

function bandsText(bands) {
  return (bands || []).map((b) => `${formatFen(b.above_fen, { symbol: "" }).replace(/,/g, "").replace(/\.00$/, "")}:${bpToPercent(b.ratio_bp)}`).join(", ");
}

function parseBands(text) {
  return text.split(/[,，]/).map((part) => part.trim()).filter(Boolean).map((part) => {
    const [yuan, percent] = part.split(/[:：]/);
    const bp = percentToBp(percent || "");
    return { above_fen: yuanToFen(yuan || ""), ratio_bp: Number.isNaN(bp) ? -1 : bp };
  });
}

function textArea(id, label, value, hint) {
  const input = h("textarea", { id, class: "field__input", rows: "3", "aria-describedby": `${id}-hint` });
  input.value = value;
  return {
    input,
    node: h("div", { class: "field field--wide" },
      h("label", { class: "field__label", for: id }, label), input,
      h("p", { class: "field__hint", id: `${id}-hint` }, hint),
      h("p", { class: "field__error", id: `${id}-error`, hidden: true })),
  };
}

function selectField(id, label, options, value) {
  const input = h("select", { id, class: "field__input" },
    options.map(([v, text]) => h("option", { value: v, selected: v === value }, text)));
  return {
    input,
    node: h("div", { class: "field" }, h("label", { class: "field__label", for: id }, label), input,
      h("p", { class: "field__error", id: `${id}-error`, hidden: true })),
  };
}

/** Yuan typed by a person -> fen (the one rule, format.js); -1 lets the server name a bad amount. */
function yuanToFen(text) {
  const { fen, error } = parseYuan(text);
  return error || fen === null ? -1 : fen;
}

/** Open the editor on the draft as it is now, with its version for If-Match. */
async function openEditor(product) {
  let answer;
  try {
    answer = await requestWithHeaders("GET", `/admin/products/${product.id}`);
  } catch (error) {
    showFormAlert(listStatus, error.message);
    return;
  }
  editForm(answer.data, answer.headers.get("ETag"));
}

/** Another administrator saved first: say so, keep what was typed on screen, offer a reload. */
function showStale(alertBox, product, error) {
  const reload = h("button", { type: "button", class: "btn btn--small", "data-reload": "" },
    "重新加载最新内容");
  reload.addEventListener("click", () => openEditor(product));
  replaceChildren(alertBox, h("div", { class: "form-alert form-alert--error", "data-stale": "" },
    h("span", { class: "form-alert__icon", "aria-hidden": "true" }, "!"),
    h("p", { class: "form-alert__text" },
      `${error.message}。重新加载会显示对方保存的内容，您的修改需要重新填写。`), reload));
  reload.focus();
}

function editForm(product, etag) {
  const parts = {
    name: field("edit-name", "产品名称", { type: "text", value: product.name, autocomplete: "off" }),
    code: field("edit-code", "产品代码", { type: "text", value: product.code, autocomplete: "off", spellcheck: "false" }),
    ...dateFields("edit", product),
    "terms.version": field("edit-terms-version", "条款版本号", { type: "text", value: product.terms.version }),
  };
  product.tiers.forEach((tier, index) => {
    parts[`tiers.${index}.premium_fen`] = field(`edit-premium-${index}`, `${tier.name}保费（元/人/年）`,
      { type: "text", inputmode: "decimal", value: formatFen(tier.premium_fen, { symbol: "" }).replace(/,/g, "") });
    const compliant = tier.benefits.find((b) => b.category === "compliant") || {};
    parts[`tiers.${index}.benefits.compliant.bands`] = field(`edit-bands-${index}`, `${tier.name}合规费用分段赔付`,
      { type: "text", value: bandsText(compliant.bands), autocomplete: "off" },
      "免赔额后超过的金额（元）:比例（%），多段用逗号分隔，如 100000:80；不分段留空");
    parts[`tiers.${index}.waiting_days`] = field(`edit-waiting-${index}`, `${tier.name}首次参保等待期（天）`,
      { type: "number", inputmode: "numeric", min: "0", max: "180", value: String(compliant.waiting_days || 0) },
      "适用于各类费用；连续续保无等待期");
  });
  parts.deductible_mode = selectField("edit-deductible-mode", "免赔额计算方式",
    [["per_category", "各类费用分别计算"], ["shared", "各类费用共用一个免赔额"]], product.deductible_mode || "per_category");
  parts.pre_existing = textArea("edit-pre-existing", "既往症赔付规则",
    (product.pre_existing || []).map(conditionLine).join("\n"),
    "每行一种：ICD-10编码前缀 名称 合规费用比例 合理费用比例 特药比例（% 或“不赔”），如 C22 肝癌 70 不赔 70；比例不得低于本市下限");
  const alertBox = h("div", { class: "form-alert-slot", role: "alert" });
  const button = h("button", { type: "submit", class: "btn btn--primary" }, "保存并校验");
  const form = h("form", { class: "form", novalidate: true, "data-form": "edit" },
    h("p", { class: "card__lead" }, "保存时按全部规则校验（免赔额、赔付比例、封顶线、投保期和保障期、条款告知等），不符合的逐项列出，草稿不会被修改。"),
    h("div", { class: "form-grid" }, Object.values(parts).map((p) => p.node)), alertBox, button);
  const fields = Object.fromEntries(Object.entries(parts).map(([key, p]) => [key, p.input]));
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const body = draftBody(product);
    body.name = fields.name.value.trim();
    body.code = fields.code.value.trim();
    body.enrollment = { opens_on: fields["enrollment.opens_on"].value, closes_on: fields["enrollment.closes_on"].value };
    body.coverage = { starts_on: fields["coverage.starts_on"].value, ends_on: fields["coverage.ends_on"].value };
    body.terms.version = fields["terms.version"].value.trim();
    body.tiers.forEach((tier, index) => {
      const fen = yuanToFen(fields[`tiers.${index}.premium_fen`].value);
      tier.premium_fen = fen;
      if (tier.benefits.compliant) tier.benefits.compliant.bands = parseBands(fields[`tiers.${index}.benefits.compliant.bands`].value);
      const waiting = Number.parseInt(fields[`tiers.${index}.waiting_days`].value || "0", 10);
      Object.values(tier.benefits).forEach((b) => { b.waiting_days = Number.isNaN(waiting) ? -1 : waiting; });
    });
    body.deductible_mode = fields.deductible_mode.value;
    body.pre_existing = parseConditions(fields.pre_existing.value);
    submitPanel({
      form, button, busyText: "正在保存…", fields, alertBox,
      send: () => requestWithHeaders("PUT", `/admin/products/${product.id}`, { body, ifMatch: etag }),
      done: async ({ data: saved, headers }) => {
        await loadList(`草稿“${saved.name}”已保存，校验通过，可以发布。`);
        editForm(saved, headers.get("ETag"));
      },
      onError: (error) => {
        if (error.status !== 412 && error.status !== 428) return false;
        showStale(alertBox, product, error);
        loadList(); // the list shows what the other administrator saved
        return true;
      },
    });
  });
  openPanel(`编辑草稿：${product.name}（${product.year}年度）`, form, deadlineForm(product));
}

function deadlineForm(product) {
  const days = field(`deadline-${product.id}`, "投诉答复时限（工作日）",
    { type: "number", inputmode: "numeric", min: "1", max: "30" }, "周一至周五计算，默认5个工作日");
  const alertBox = h("div", { class: "form-alert-slot", role: "alert" });
  const done = h("div", { class: "form-status-slot", role: "status" });
  const button = h("button", { type: "submit", class: "btn" }, "保存时限");
  const form = h("form", { class: "form deadline-form", novalidate: true, "data-form": "deadline" },
    h("h3", { class: "sub-title" }, "投诉处理时限"), days.node, alertBox, done, button);
  api.get(`/admin/products/${product.id}/complaint-settings`)
    .then((s) => { days.input.value = s.response_working_days; })
    .catch(() => {});
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    done.replaceChildren();
    submitPanel({
      form, button, busyText: "正在保存…", fields: { response_working_days: days.input }, alertBox,
      send: () => api.put(`/admin/products/${product.id}/complaint-settings`,
        { response_working_days: Number.parseInt(days.input.value, 10) }),
      done: (s) => showStatus(done, `已保存：此后提交的投诉须在${s.response_working_days}个工作日内答复。`),
    });
  });
  return form;
}

async function publish(product) {
  const ok = await confirmDialog({
    title: "发布产品",
    body: `发布后“${product.name}（${product.year}年度）”不能再编辑，将在投保期开始（${product.enrollment.opens_on}）后显示在首页。确定发布吗？`,
    confirmText: "发布",
  });
  if (!ok) return;
  try {
    const published = await api.post(`/admin/products/${product.id}/publish`);
    panel.hidden = true;
    await loadList(`“${published.name}”已发布，投保期开始后显示在首页。`);
  } catch (error) {
    await loadList();
    showFormAlert(listStatus, error.message);
  }
}

/** Percent typed by a person ("50", "33.33") -> basis points; NaN when not a percentage. */
function percentToBp(text) {
  const match = /^\s*(\d{1,3})(?:\.(\d{1,2}))?\s*%?\s*$/.exec(String(text));
  if (!match) return Number.NaN;
  return Number(match[1]) * 100 + Number((match[2] || "").padEnd(2, "0"));
}

function bpToPercent(bp) {
  return (bp / 100).toString();
}

function insurerRow(index, member, rows) {
  const name = field(`co-name-${index}`, `承保机构${index + 1}名称`,
    { type: "text", value: member.insurer, autocomplete: "off", "data-co": "name" });
  const share = field(`co-share-${index}`, "份额（%）",
    { type: "text", inputmode: "decimal", value: member.share_bp ? bpToPercent(member.share_bp) : "", "data-co": "share" });
  const lead = h("input", { type: "radio", class: "check__input", name: "co-lead", id: `co-lead-${index}`,
    value: String(index), checked: member.lead || null, "data-co": "lead" });
  const remove = h("button", { type: "button", class: "btn btn--small btn--quiet" }, "移除",
    h("span", { class: "visually-hidden" }, `（承保机构${index + 1}）`));
  const node = h("fieldset", { class: "coinsurer-row", "data-coinsurer": String(index) },
    h("legend", { class: "field__label" }, `承保机构${index + 1}`),
    h("div", { class: "form-grid" }, name.node, share.node),
    h("div", { class: "check" }, lead, h("label", { class: "check__label", for: `co-lead-${index}` }, "主承保机构")),
    remove);
  remove.addEventListener("click", () => rows.remove(node));
  return { node, name: name.input, share: share.input, lead };
}

function coinsuranceForm(product, setting) {
  const list = h("div", { class: "form-stack" });
  const rows = [];
  const manager = {
    remove(node) {
      const index = rows.findIndex((r) => r.node === node);
      if (index >= 0) rows.splice(index, 1);
      node.remove();
    },
  };
  const add = (member) => {
    const row = insurerRow(rows.length ? Math.max(...rows.map((r) => Number(r.node.dataset.coinsurer))) + 1 : 0, member, manager);
    rows.push(row);
    list.append(row.node);
  };
  setting.insurers.forEach(add);
  const threshold = field("co-threshold", "共保复核金额（元，选填）", {
    type: "text", inputmode: "decimal",
    value: setting.contested_claim_threshold_fen == null ? "" : formatFen(setting.contested_claim_threshold_fen, { symbol: "" }).replace(/,/g, ""),
  }, "赔付金额超过此数的理赔，须由两家不同承保机构的审核人员分别审核通过；不填则不需要");
  const alertBox = h("div", { class: "form-alert-slot", role: "alert" });
  const done = h("div", { class: "form-status-slot", role: "status" });
  const addButton = h("button", { type: "button", class: "btn btn--small", "data-action": "add-insurer" }, "添加承保机构");
  addButton.addEventListener("click", () => add({ insurer: "", share_bp: 0, lead: false }));
  const button = h("button", { type: "submit", class: "btn btn--primary", disabled: setting.editable ? null : true }, "保存共保体");
  const form = h("form", { class: "form", novalidate: true, "data-form": "coinsurers" },
    h("h3", { class: "sub-title" }, "共保体及份额"),
    h("p", { class: "card__lead" }, setting.editable
      ? "各承保机构份额之和须为100%，并指定一家主承保机构。保费和理赔款按份额分摊记账，分摊不尽的尾差（分）记入主承保机构。"
      : "该产品已按现有份额记账，份额不能再修改。"),
    list, addButton, threshold.node, alertBox, done, button);
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    done.replaceChildren();
    const fields = { contested_claim_threshold_fen: threshold.input };
    rows.forEach((row, index) => {
      fields[`insurers.${index}.insurer`] = row.name;
      fields[`insurers.${index}.share_bp`] = row.share;
    });
    const fen = threshold.input.value.trim() ? yuanToFen(threshold.input.value) : null;
    const body = {
      insurers: rows.map((row) => {
        const bp = percentToBp(row.share.value);
        return { insurer: row.name.value.trim(), share_bp: Number.isNaN(bp) ? 0 : bp, lead: row.lead.checked };
      }),
      contested_claim_threshold_fen: fen,
    };
    submitPanel({
      form, button, busyText: "正在保存…", fields, alertBox,
      send: () => api.put(`/admin/products/${product.id}/insurers`, body),
      done: (saved) => {
        showStatus(done, `已保存：${saved.insurers.map((m) => `${m.insurer} ${m.share_label}${m.lead ? "（主承保）" : ""}`).join("，")}。`);
        replaceChildren(statementBox, statementForm(product, saved));
      },
    });
  });
  return form;
}

const statementBox = h("div", { "data-statement": "" });

function statementForm(product, setting) {
  const id = `st-insurer-${product.id}`;
  const select = h("select", { id, class: "field__input" },
    setting.insurers.map((m) => h("option", { value: m.insurer }, `${m.insurer}（${m.share_label}）`)));
  const from = field("st-from", "开始日期", { type: "date", value: product.enrollment.opens_on });
  const to = field("st-to", "结束日期", { type: "date", value: addYears(product.enrollment.opens_on, 1) });
  const alertBox = h("div", { class: "form-alert-slot", role: "alert" });
  const result = h("div", { "data-statement-result": "" });
  const button = h("button", { type: "submit", class: "btn" }, "查看对账单");
  const form = h("form", { class: "form", novalidate: true, "data-form": "statement" },
    h("h3", { class: "sub-title" }, "承保机构对账单"),
    h("div", { class: "form-grid" },
      h("div", { class: "field" }, h("label", { class: "field__label", for: id }, "承保机构"), select),
      from.node, to.node),
    alertBox, button, result);
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const query = new URLSearchParams({ insurer: select.value, from: from.input.value, to: to.input.value });
    submitPanel({
      form, button, busyText: "正在查询…", fields: { from: from.input, to: to.input }, alertBox,
      send: () => api.get(`/admin/products/${product.id}/statement?${query}`),
      done: (s) => {
        query.set("format", "csv");
        replaceChildren(result,
          dataTable({
            caption: `${s.insurer}（份额${bpToPercent(s.share_bp)}%${s.lead ? "，主承保" : ""}）${s.from}至${s.to}：共${s.lines.length}笔`,
            columns: [
              { label: "类型", cell: (l) => l.kind_label },
              { label: "业务编号", cell: (l) => h("span", { class: "mono" }, l.reference) },
              { label: "金额", cell: (l) => formatFen(l.amount_fen) },
            ],
            rows: s.lines,
          }),
          h("dl", { class: "statement-totals", "data-statement-totals": "" },
            h("dt", {}, "保费收入合计"), h("dd", { "data-total": "premiums" }, formatFen(s.premiums_fen)),
            h("dt", {}, "退费合计"), h("dd", { "data-total": "refunds" }, formatFen(s.refunds_fen)),
            h("dt", {}, "理赔赔付合计"), h("dd", { "data-total": "payouts" }, formatFen(s.payouts_fen)),
            h("dt", {}, "净额"), h("dd", { "data-total": "net" }, formatFen(s.net_fen))),
          h("a", { class: "btn btn--small", href: `/api/v1/admin/products/${product.id}/statement?${query}`,
            download: "", "data-action": "download-statement" }, "下载对账单（CSV）"));
      },
    });
  });
  return form;
}

function surplusForm(product, setting) {
  const ratio = field("sp-ratio", "目标赔付率（%，选填）", { type: "text", inputmode: "decimal",
    value: setting.target_payout_ratio_bp == null ? "" : bpToPercent(setting.target_payout_ratio_bp) },
  "保障年度结束后，信息披露页按账面数据显示赔付率和相对目标的结余");
  const previous = setting.previous_year_surplus_fen;
  const used = field("sp-used", "使用上年度结余金额（元，选填）", { type: "text", inputmode: "decimal",
    value: setting.surplus_used_fen == null ? "" : formatFen(setting.surplus_used_fen, { symbol: "" }).replace(/,/g, "") },
  previous == null ? "上年度产品保障期结束并设定目标赔付率后，才有可使用的结余"
    : `上年度结余${formatFen(previous)}，使用金额不能超过此数`);
  const note = field("sp-note", "结余使用说明", { type: "text", value: setting.surplus_use_note || "", autocomplete: "off" },
    "随产品在信息披露页公布，例如：用于提高特药赔付比例");
  const alertBox = h("div", { class: "form-alert-slot", role: "alert" });
  const done = h("div", { class: "form-status-slot", role: "status" });
  const button = h("button", { type: "submit", class: "btn" }, "保存结余设置");
  const form = h("form", { class: "form", novalidate: true, "data-form": "surplus" },
    h("h3", { class: "sub-title" }, "赔付率目标与结余使用"),
    h("div", { class: "form-grid" }, ratio.node, used.node, note.node), alertBox, done, button);
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    done.replaceChildren();
    const bp = ratio.input.value.trim() ? percentToBp(ratio.input.value) : null;
    const fen = used.input.value.trim() ? yuanToFen(used.input.value) : null;
    submitPanel({
      form, button, busyText: "正在保存…", alertBox,
      fields: { target_payout_ratio_bp: ratio.input, surplus_used_fen: used.input, surplus_use_note: note.input },
      send: () => api.put(`/admin/products/${product.id}/surplus`, {
        target_payout_ratio_bp: bp === null ? null : (Number.isNaN(bp) ? -1 : bp),
        surplus_used_fen: fen,
        surplus_use_note: note.input.value.trim() || null,
      }),
      done: () => showStatus(done, "已保存，信息披露页随产品公布。"),
    });
  });
  return form;
}

async function coinsurancePanel(product) {
  let setting;
  let surplus;
  try {
    [setting, surplus] = await Promise.all([api.get(`/admin/products/${product.id}/insurers`),
      api.get(`/admin/products/${product.id}/surplus`)]);
  } catch (error) {
    showFormAlert(listStatus, error.message);
    return;
  }
  replaceChildren(statementBox, statementForm(product, setting));
  openPanel(`共保体与对账单：${product.name}（${product.year}年度）`, coinsuranceForm(product, setting), statementBox,
    surplusForm(product, surplus));
}

function actions(product) {
  const button = (text, handler, extra = "") => {
    const el = h("button", { type: "button", class: `btn btn--small ${extra}`.trim() }, text,
      h("span", { class: "visually-hidden" }, `（${product.name} ${product.year}年度）`));
    el.addEventListener("click", () => handler(product));
    return el;
  };
  return h("span", { class: "row-actions" },
    button("复制为下一年度", cloneForm, "btn--quiet"),
    product.status === "draft" ? button("编辑", openEditor, "btn--quiet") : null,
    product.status === "draft" ? button("发布", publish, "btn--primary") : null,
    button("共保体", coinsurancePanel, "btn--quiet"),
    button("客服与帮助", (p) => openPanel(`客服与帮助：${p.name}`, helpForm(p)), "btn--quiet"),
    product.status !== "draft"
      ? button("投诉时限", (p) => openPanel(`投诉处理时限：${p.name}`, deadlineForm(p)), "btn--quiet") : null);
}

async function loadList(message = "") {
  let products;
  try {
    products = (await api.get("/admin/products")).items || [];
  } catch (error) {
    showFormAlert(listStatus, error.message);
    return;
  }
  replaceChildren(tableBox, dataTable({
    caption: `共${products.length}个产品（新建的在前）`,
    columns: [
      { label: "产品名称", cell: (p) => p.name },
      { label: "代码", cell: (p) => h("span", { class: "mono" }, p.code) },
      { label: "年度", cell: (p) => String(p.year) },
      { label: "状态", cell: (p) => pill(...(STATUS[p.status] || [p.status, "off"])) },
      { label: "投保期", cell: (p) => formatDateRange(p.enrollment.opens_on, p.enrollment.closes_on) },
      { label: "保障期", cell: (p) => formatDateRange(p.coverage.starts_on, p.coverage.ends_on) },
      { label: "操作", cell: actions },
    ],
    rows: products,
    rowAttrs: (p) => ({ "data-product": p.code, "data-status": p.status }),
  }));
  if (message) showStatus(listStatus, message);
  else listStatus.replaceChildren();
}

if (await startConsole(stateBox, ADMIN)) {
  await loadList();
  clearState(stateBox);
  content.hidden = false;
}
