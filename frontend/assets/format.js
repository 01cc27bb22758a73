// Display formatting for money (integer fen), ratios (basis points) and ISO dates.
//
// Money is never turned into a float: fen are split into yuan and fen with integer (BigInt)
// arithmetic, so 0.1 + 0.2 style rounding errors cannot appear on a price.

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
