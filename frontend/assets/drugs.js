// 特药清单查询 ?product=: GET /products/{id}/special-drugs?q= — each listed drug with its
// indications (适应症) and designated pharmacies (定点药店). Public: no sign-in needed.

import { api } from "./api.js";
import { h, replaceChildren } from "./dom.js";
import { clearState, initPage, showEmpty, showError, showLoading } from "./page.js";

const form = document.getElementById("drug-search");
const input = document.getElementById("drug-query");
const stateBox = document.getElementById("drugs-state");
const resultBox = document.getElementById("drugs-result");
const lead = document.getElementById("drugs-lead");

const params = new URLSearchParams(window.location.search);
let productId = Number(params.get("product")) || null;

function drugCard(drug) {
  return h("article", { class: "card drug", "data-drug": drug.code },
    h("h2", { class: "card__title" }, `${drug.name}（${drug.code}）`),
    h("dl", { class: "facts" },
      h("div", { class: "fact", "data-fact": "indications" },
        h("dt", {}, "适应症"),
        h("dd", {}, drug.indications.length ? drug.indications.join("；") : "以条款为准")),
      h("div", { class: "fact", "data-fact": "pharmacies" },
        h("dt", {}, "定点药店"),
        h("dd", {}, drug.pharmacies.length
          ? h("ul", { class: "plain-list", role: "list" }, drug.pharmacies.map((name) => h("li", {}, name)))
          : "以条款为准"))));
}

async function firstProduct() {
  const data = await api.get("/products");
  const items = Array.isArray(data?.items) ? data.items : [];
  return items[0]?.id ?? null;
}

async function search(query) {
  resultBox.hidden = true;
  showLoading(stateBox);
  let data;
  try {
    productId ??= await firstProduct();
    if (!productId) {
      showEmpty(stateBox, "当前没有可查询的产品", "产品发布后可在此查询特药清单。");
      return;
    }
    data = await api.get(`/products/${encodeURIComponent(productId)}/special-drugs?q=${encodeURIComponent(query)}`);
  } catch (error) {
    showError(stateBox, error, () => search(query))?.focus();
    return;
  }
  lead.textContent = `${data.product_name}的特药清单：药品须符合所列适应症，并在定点药店购买。`;
  const items = data.items || [];
  replaceChildren(resultBox,
    h("p", { class: "drugs__count", "data-count": items.length },
      query ? `“${query}”共找到 ${items.length} 种特药` : `共 ${items.length} 种特药`),
    items.map(drugCard),
    h("p", { class: "payout-note" }, data.notice));
  clearState(stateBox);
  resultBox.hidden = false;
  if (!items.length) {
    showEmpty(stateBox, "没有找到相关特药", "可换一个药品名称或疾病名称再查。");
  }
}

initPage();
input.value = params.get("q") || "";
form.addEventListener("submit", (event) => {
  event.preventDefault();
  search(input.value.trim());
});
search(input.value.trim());
