// Display formatting for money (integer fen), ratios (basis points) and ISO dates.
//
// Money is never turned into a float: fen are split into yuan and fen with integer (BigInt)
// arithmetic, so 0.1 + 0.2 style rounding errors cannot appear on a price. Money typed by a person
// is read back with parseYuan, the one rule for every form.

import { h } from "./dom.js";

const FEN_PER_YUAN = 100n;

function toBigInt(value, what) {
  if (typeof value === "bigint") return value;
  if (typeof value === "number" && Number.isSafeInteger(value)) return BigInt(value);
  if (typeof value === "string" && /^-?\d+$/.test(value)) return BigInt(value);
  throw new TypeError(`${what} 应为整数，收到 ${String(value)}`);
}

function groupThousands(digits) {
  return digits.replace(/\B(?=(\d{3})+(?!\d))/g, ",");
}

/**
 * Format an amount in fen.
 *   formatFen(15000)                       -> "¥150.00"
 *   formatFen(100000000, {compact: true})  -> "¥1,000,000"   (drops ".00" on whole yuan only)
 *   formatFen(2000050, {compact: true})    -> "¥20,000.50"
 *   formatFen(-150)                        -> "-¥1.50"
 */
export function formatFen(fen, { compact = false, symbol = "¥" } = {}) {
  const amount = toBigInt(fen, "金额");
  const negative = amount < 0n;
  const abs = negative ? -amount : amount;
  const yuan = abs / FEN_PER_YUAN;
  const rest = abs % FEN_PER_YUAN;
  let text = symbol + groupThousands(yuan.toString());
  if (!(compact && rest === 0n)) {
    text += "." + rest.toString().padStart(2, "0");
  }
  return negative ? "-" + text : text;
}

/**
 * Format basis points as a percentage without trailing zeros.
 *   7500 -> "75%"   7550 -> "75.5%"   7525 -> "75.25%"   10000 -> "100%"
 */
export function formatRatio(bp) {
  const value = toBigInt(bp, "比例");
  const negative = value < 0n;
  const abs = negative ? -value : value;
  const whole = abs / 100n;
  const frac = (abs % 100n).toString().padStart(2, "0").replace(/0+$/, "");
  return (negative ? "-" : "") + whole.toString() + (frac ? "." + frac : "") + "%";
}

const ISO_DATE = /^(\d{4})-(\d{2})-(\d{2})/;

/**
 * "2026-11-15" (or an ISO date-time starting with it) -> "2026年11月15日".
 * The date is read as written, never shifted through the browser's time zone.
 */
export function formatDate(iso) {
  const match = ISO_DATE.exec(String(iso ?? ""));
  if (!match) return "";
  const [, year, month, day] = match;
  return `${year}年${Number(month)}月${Number(day)}日`;
}

/** "2027年1月8日 至 2028年1月7日" as nodes: each date kept on one line, the range free to wrap. */
export function dateRange(startIso, endIso) {
  return [h("span", { class: "nowrap" }, formatDate(startIso)), " 至 ",
    h("span", { class: "nowrap" }, formatDate(endIso))];
}

/** "2026年11月15日 至 2027年1月6日" */
export function formatDateRange(startIso, endIso) {
  return `${formatDate(startIso)} 至 ${formatDate(endIso)}`;
}

const CHINA_DAY = new Intl.DateTimeFormat("en-CA", {
  timeZone: "Asia/Shanghai", year: "numeric", month: "2-digit", day: "2-digit",
});

/**
 * An instant ("2026-11-22T17:27:54+00:00") as the date it was in China: "2026年11月23日".
 * Unlike formatDate, this one converts, because an instant's UTC date may be a day early.
 */
export function formatInstantDate(iso) {
  const when = new Date(String(iso ?? ""));
  if (Number.isNaN(when.getTime())) return "";
  return formatDate(CHINA_DAY.format(when));
}

const CHINA_TIME = new Intl.DateTimeFormat("en-CA", {
  timeZone: "Asia/Shanghai", year: "numeric", month: "2-digit", day: "2-digit",
  hour: "2-digit", minute: "2-digit", hourCycle: "h23",
});

/** An instant as it was in China: "2027年1月11日 10:00". */
export function formatInstant(iso) {
  const when = new Date(String(iso ?? ""));
  if (Number.isNaN(when.getTime())) return "";
  const parts = Object.fromEntries(CHINA_TIME.formatToParts(when).map((p) => [p.type, p.value]));
  return `${formatDate(`${parts.year}-${parts.month}-${parts.day}`)} ${parts.hour}:${parts.minute}`;
}

/** Full-width digits and letters (from some Chinese keyboards) as their ASCII forms. */
export function halfWidth(text) {
  return String(text ?? "").replace(/[\uff01-\uff5e]/g,
    (ch) => String.fromCharCode(ch.charCodeAt(0) - 0xfee0)).replace(/\u3000/g, " ");
}

const YUAN_PATTERN = /^(\d{1,9})(?:\.(\d{0,2}))?$/;

/**
 * Yuan as people type it -> fen as an integer (no floats). The one rule for every money field:
 * "30000", "30,000.5", "¥1,234.56", "３００００元", " 150 " are accepted; a negative amount and
 * more than two decimals are not. Returns {fen} or {error} (a Chinese message); empty text gives
 * {fen: null} unless `required`; `positive` refuses 0; `max` (fen) caps the amount.
 */
export function parseYuan(raw, { required = false, positive = false, max = null } = {}) {
  const text = halfWidth(raw).replace(/[\s,，¥￥元]/g, "").replace(/[。．]/g, ".");
  if (!text) return required ? { error: "请填写金额" } : { fen: null };
  if (/^[-－−]/.test(text)) return { error: "金额不能为负数" };
  if (/^\d+\.\d{3,}$/.test(text)) return { error: "金额最多精确到分（小数点后两位）" };
  const match = YUAN_PATTERN.exec(text);
  if (!match) return { error: "请填写金额数字，例如 30000 或 1234.56（单位：元）" };
  const fen = Number(match[1]) * 100 + Number((match[2] || "").padEnd(2, "0"));
  if (positive && fen <= 0) return { error: "金额应大于0" };
  if (max !== null && fen > max) return { error: `金额不能超过${formatFen(max, { compact: true })}` };
  return { fen };
}
