// Checks of a mainland resident ID number (GB 11643) before it is sent, with the server's own
// Chinese messages. The server checks again (and also the birth date); this only saves a round
// trip for typing mistakes.

import { clearFieldError, halfWidth, setFieldError } from "./forms.js";

const WEIGHTS = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2];
const CHECK_CHARS = "10X98765432";

/** Spaces removed, full-width digits made ASCII, a lower-case x made upper-case. */
export function normalizeIdNumber(raw) {
  return halfWidth(raw).replace(/\s/g, "").toUpperCase();
}

export function checkDigit(first17) {
  let sum = 0;
  for (let i = 0; i < 17; i += 1) sum += Number(first17[i]) * WEIGHTS[i];
  return CHECK_CHARS[sum % 11];
}

/** "" if the (normalized) number looks right, else a Chinese reason. */
export function idNumberProblem(value) {
  if (!value) return "请输入身份证号码";
  if (value.length !== 18) return "身份证号码应为18位";
  if (!/^\d{17}[\dX]$/.test(value)) return "身份证号码格式不正确：前17位应为数字，最后一位为数字或X";
  if (checkDigit(value) !== value[17]) return "身份证号码校验位不正确，请核对后重新输入";
  return "";
}

/** The ID number from its input (normalized), or null with the reason under the field. */
export function checkIdNumberInput(input) {
  const value = normalizeIdNumber(input.value);
  const problem = idNumberProblem(value);
  if (problem) {
    setFieldError(input, problem);
    return null;
  }
  clearFieldError(input);
  return value;
}
