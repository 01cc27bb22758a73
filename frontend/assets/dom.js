// Tiny DOM helpers. Text from the API is only ever set with textContent (never innerHTML).

/**
 * h("p", {class: "note"}, "text", otherNode) -> <p class="note">text…</p>
 * Attribute values of false/null/undefined are left out; true sets an empty attribute.
 */
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs || {})) {
    if (value === false || value === null || value === undefined) continue;
    if (name === "text") el.textContent = value;
    else el.setAttribute(name, value === true ? "" : String(value));
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
}

/** Plain text with line breaks -> one <p> per non-empty line. */
export function paragraphs(text, attrs = {}) {
  return String(text ?? "")
    .split(/\n+/)
    .map((line) => line.trim())
    .filter(Boolean)
    .map((line) => h("p", attrs, line));
}

/** Replace everything inside `el` with `children`. */
export function replaceChildren(el, ...children) {
  el.replaceChildren();
  append(el, children);
}

/**
 * A radio choice card (a tier, a payment method, a policy): its title, a meta line (left out when
 * null) and an optional aside; the input covers the card. id and data-choice come from name/value.
 */
export function choice({ name, value, title, meta = null, aside = null, checked = false }) {
  const id = `${name}-${value}`;
  return h("div", { class: "choice", "data-choice": value },
    h("input", { type: "radio", class: "choice__input", name, id, value, checked: Boolean(checked) }),
    h("label", { class: "choice__label", for: id },
      h("span", { class: "choice__text" },
        h("span", { class: "choice__title" }, title),
        meta === null ? null : h("span", { class: "choice__meta", "data-choice-meta": true }, meta)),
      aside ? h("span", { class: "choice__aside" }, aside) : null));
}

/**
 * One row of a <dl class="facts">: fact("保单号", value, {"data-fact": "policy-no"}).
 * `attrs` may be just the data-fact key as a string; a missing value reads "—".
 */
export function fact(term, value, attrs = {}) {
  const extra = typeof attrs === "string" ? { "data-fact": attrs } : attrs || {};
  return h("div", { class: "fact", ...extra }, h("dt", {}, term), h("dd", {}, value ?? "—"));
}
