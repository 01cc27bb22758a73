// 客服与投诉 (every page's footer links here; no login): GET /api/v1/help — the hotline (a tel:
// link), its hours, the service points with their map link, the FAQ; and 在线投诉.

import { api } from "./api.js";
import { h, paragraphs, replaceChildren } from "./dom.js";
import { initPage, loadInto } from "./page.js";

const MAP_SEARCH = "https://uri.amap.com/search?keyword=";

function telHref(hotline) {
  return `tel:${hotline.replace(/[^0-9]/g, "")}`;
}

function renderPoint(point) {
  return h("li", { class: "help-point" },
    h("h3", { class: "help-point__name" }, point.name),
    h("p", { class: "help-point__line" }, h("span", { class: "help-point__label" }, "地址："), point.address),
    h("p", { class: "help-point__line" }, h("span", { class: "help-point__label" }, "办公时间："), point.hours),
    point.map_text
      ? h("a", { class: "link-row help-point__map", href: MAP_SEARCH + encodeURIComponent(point.address),
        rel: "noopener noreferrer", target: "_blank" }, point.map_text)
      : null);
}

function renderFaq(item) {
  return h("details", { class: "help-faq__item" },
    h("summary", { class: "help-faq__question" }, item.question),
    h("div", { class: "help-faq__answer" }, paragraphs(item.answer)));
}

function render(help) {
  const hotline = document.getElementById("hotline");
  if (help.configured) {
    hotline.href = telHref(help.hotline);
    hotline.textContent = `拨打 ${help.hotline}`;
    document.getElementById("service-hours").textContent = `服务时间：${help.service_hours}`;
  } else {
    hotline.replaceWith(h("span", { class: "help-call__none" }, "客服电话暂未公布，请在线投诉或到医保经办窗口咨询"));
  }
  document.getElementById("points-card").hidden = !help.service_points.length;
  replaceChildren(document.getElementById("service-points"), help.service_points.map(renderPoint));
  document.getElementById("faq-card").hidden = !help.faq.length;
  replaceChildren(document.getElementById("faq"), help.faq.map(renderFaq));
}

initPage();
loadInto({
  box: document.getElementById("help-state"),
  content: document.getElementById("help-content"),
  fetch: () => api.get("/help"),
  render,
});
