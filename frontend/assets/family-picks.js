// 从医保登记的家人中选择: the spouse, children and parents the basic-insurance registry links to
// the signed-in person (GET /me/family/from-registry), with masked names, relation and age, each
// with a pick token that stands for the person (the page never sees an ID number). Picking adds
// them to 家人 (POST /me/family/from-registry {pick}), already verified by the registry, or
// names them on the proxy form (principal_pick). Used by 家人, 为家人投保 and 申请代办.
//
// When the list cannot be had (the registry does not answer, the person is not verified yet),
// the pages say so in words and typing a name and an ID number still works.

import { api, errorMessage } from "./api.js";
import { choice, h, replaceChildren } from "./dom.js";
import { RELATION_LABELS } from "./insurance.js";
import { guardFor } from "./page.js";
import { bindUrl } from "./session.js";

const PATH = "/me/family/from-registry";
// Never X-Acting-For: these are the signed-in person's own relatives.
const OWN = { actingFor: null };

export const PICK_TITLE = "从医保登记的家人中选择";
// How long a page waits, once the rest of it is in, for the registry's relatives to be drawn in
// the same first paint; a slower registry answers into the place held for it.
const REGISTRY_GRACE_MS = 400;

/** `{ items }` or `{ error }`: a failed list never stops the page. */
export async function loadRegistryRelatives() {
  try {
    const data = await api.get(PATH, OWN);
    return { items: Array.isArray(data?.items) ? data.items : [] };
  } catch (error) {
    return { error };
  }
}

/**
 * Whether `pending` (from loadRegistryRelatives) is in within the grace: then the list is part of
 * the first paint and needs no place held (no blank rows under a short list). Otherwise the page
 * shows its `.registry-box__reserve` (_layouts/registry-reserve.html) until the list arrives.
 */
export function inTimeForFirstPaint(pending) {
  return Promise.race([
    pending.then(() => true),
    new Promise((resolve) => { setTimeout(() => resolve(false), REGISTRY_GRACE_MS); }),
  ]);
}

/** Add a picked relative to 家人; resolves to the new member (as in GET /me/family). */
export function addPicked(relative) {
  return api.post(PATH, { pick: relative.pick }, OWN);
}

/** "王*英（父母）". */
export function relativeName(relative) {
  return `${relative.name}（${relative.relation_label || RELATION_LABELS[relative.relation] || ""}）`;
}

/**
 * Why there is no list, in words, with the way on: verify oneself first (the shared guard's
 * words and link), or the server's message (the registry does not answer) and typing instead.
 */
export function registryNote(error, { typing = "也可以在下方输入家人的姓名和身份证号码。" } = {}) {
  const guard = guardFor(error);
  if (guard === "identity_required" || guard === "identity_unverified") {
    return h("p", { class: "registry-note", "data-registry-note": guard },
      "核验本人身份后，可以直接从医保登记的家人中选择，无需输入身份证号码。",
      h("a", { class: "registry-note__link", href: bindUrl(window.location.pathname) }, "去核验身份"));
  }
  return h("p", { class: "registry-note", "data-registry-note": "error", role: "alert" },
    errorMessage(error), guard ? null : ` ${typing}`);
}

/**
 * 家人: the relatives not yet on the list, each with 添加 (one tap). `onAdded(member, relative)`
 * runs after each addition; the list itself is drawn again by the caller. With `reserve` (the
 * element holding the list's place from the first paint) the list stays within its height.
 */
export function renderRelativesToAdd(box, result, { onAdded, onError, reserve = null }) {
  if (result.error) {
    replaceChildren(box, registryNote(result.error));
    return;
  }
  const waiting = result.items.filter((relative) => relative.member_id == null);
  if (!result.items.length) {
    replaceChildren(box, h("p", { class: "registry-note", "data-registry-empty": true },
      "医保没有登记与您共济的家人，可以在下方输入家人的姓名和身份证号码添加。"));
    return;
  }
  if (!waiting.length) {
    replaceChildren(box, h("p", { class: "registry-note", "data-registry-empty": true },
      "医保登记的家人都已添加。"));
    return;
  }
  const rows = waiting.map((relative) => {
    const button = h("button", { type: "button", class: "btn btn--small btn--primary", "data-pick": relative.pick },
      "添加", h("span", { class: "visually-hidden" }, relativeName(relative)));
    button.addEventListener("click", async () => {
      button.disabled = true;
      try {
        onAdded(await addPicked(relative), relative);
      } catch (error) {
        button.disabled = false;
        onError(error, button);
      }
    });
    return h("li", { class: "registry-pick", "data-relative": relative.pick },
      h("div", { class: "registry-pick__who" },
        h("p", { class: "member__name" },
          relative.name, " ", h("span", { class: "member__relation" }, relative.relation_label)),
        h("p", { class: "member__age" }, `${relative.age}岁`)),
      button);
  });
  replaceChildren(box, h("ul", { class: "registry-picks", role: "list" }, rows));
  if (reserve) fitWithin(box, rows, reserve);
}

/**
 * Rows that would make the list taller than the place held for it wait behind 显示其余N位家人:
 * the list arriving never pushes the form below it down; the person's own tap may. `rows` are
 * the relatives' rows in `box` (anything else there, as 其他人, always shows). Used by 家人,
 * 为家人投保 and 申请代办.
 */
export function fitWithin(box, rows, reserve) {
  if (box.dataset.expanded === "true") return; // the person asked to see them all
  const room = reserve.getBoundingClientRect().height;
  if (box.getBoundingClientRect().height <= room) return;
  const more = h("button", { type: "button", class: "btn btn--small btn--quiet" });
  box.append(h("p", { class: "registry-more" }, more));
  let shown = rows.length;
  do {
    shown -= 1;
    rows[shown].hidden = true;
    more.textContent = `显示其余${rows.length - shown}位家人`;
  } while (shown > 0 && box.getBoundingClientRect().height > room);
  more.addEventListener("click", () => {
    box.dataset.expanded = "true";
    for (const row of rows) row.hidden = false;
    more.parentElement.remove();
    rows[shown].querySelector("button, input")?.focus();
  });
}

/**
 * 申请代办: the relatives as one radio each, then 其他人 (typing a name and an ID number).
 * `onChange(relative | null)` runs on every choice (null: 其他人). Returns `chosen()`: the
 * picked relative, or null (其他人, or nothing chosen: the typed fields count). With `reserve`,
 * as renderRelativesToAdd.
 */
export function renderPrincipalChoices(box, items, onChange, { reserve = null } = {}) {
  const byPick = new Map(items.map((relative) => [relative.pick, relative]));
  const rows = items.map((relative) => choice({
    name: "principal", value: relative.pick, title: relativeName(relative), meta: `${relative.age}岁`,
  }));
  replaceChildren(box, rows,
    choice({ name: "principal", value: "other", title: "其他人", meta: "填写家人的姓名和身份证号码" }));
  if (reserve) fitWithin(box, rows, reserve);
  box.addEventListener("change", (event) => onChange(byPick.get(event.target.value) ?? null));
  return () => byPick.get(box.querySelector("input[name=principal]:checked")?.value) ?? null;
}
