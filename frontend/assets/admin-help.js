// 客服与帮助 (产品配置): the hotline, its service hours, the service points and the FAQ residents
// see under 客服与投诉 on every page (GET/PUT /admin/products/{id}/help). Service points and
// questions are typed one per line, their parts separated by "|"; the server checks each part and
// answers in Chinese ("第2条服务网点：请填写地址"), shown under the field.

import { api } from "./api.js";
import { h } from "./dom.js";
import { clearFieldError, clearFormAlert, setBusy, showApiError, showStatus } from "./forms.js";
import { otherErrors } from "./admin.js";

const POINT_PARTS = ["name", "address", "hours", "map_text"];
const FAQ_PARTS = ["question", "answer"];

function splitLines(text, parts) {
  return text.split("\n").map((line) => line.trim()).filter(Boolean).map((line) => {
    const pieces = line.split(/[|｜]/).map((piece) => piece.trim());
    return Object.fromEntries(parts.map((part, index) => [part, pieces[index] ?? ""]));
  });
}

function joinLines(rows, parts) {
  return rows.map((row) => parts.map((part) => row[part] ?? "").join(" | ")).join("\n");
}

function control(id, label, input, hint) {
  input.id = id;
  input.classList.add("field__input");
  input.setAttribute("aria-describedby", `${id}-hint`);
  return h("div", { class: "field" },
    h("label", { class: "field__label", for: id }, label), input,
    h("p", { class: "field__hint", id: `${id}-hint` }, hint),
    h("p", { class: "field__error", id: `${id}-error`, hidden: true }));
}

export function helpForm(product) {
  const prefix = `help-${product.id}`;
  const hotline = h("input", { type: "tel", inputmode: "tel", autocomplete: "off" });
  const hours = h("input", { type: "text" });
  const points = h("textarea", { rows: "5", class: "field__textarea" });
  const faq = h("textarea", { rows: "6", class: "field__textarea" });
  const alertBox = h("div", { class: "form-alert-slot", role: "alert" });
  const done = h("div", { class: "form-status-slot", role: "status" });
  const button = h("button", { type: "submit", class: "btn btn--primary" }, "保存客服信息");
  const fields = { hotline, service_hours: hours, service_points: points, faq };
  const form = h("form", { class: "form help-form", novalidate: true, "data-form": "help" },
    control(`${prefix}-hotline`, "客服电话", hotline, "如 0571-12345 或 12345，只含数字、空格和短横线"),
    control(`${prefix}-hours`, "服务时间", hours, "如：工作日 8:30-17:00"),
    control(`${prefix}-points`, "服务网点", points,
      "每行一个：名称 | 地址 | 办公时间 | 地图链接文字（选填）"),
    control(`${prefix}-faq`, "常见问题", faq, "每行一个：问题 | 回答"),
    alertBox, done, button);
  api.get(`/admin/products/${product.id}/help`).then((help) => {
    hotline.value = help.hotline;
    hours.value = help.service_hours;
    points.value = joinLines(help.service_points, POINT_PARTS);
    faq.value = joinLines(help.faq, FAQ_PARTS);
  }).catch(() => {});
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    done.replaceChildren();
    clearFormAlert(alertBox);
    Object.values(fields).forEach(clearFieldError);
    setBusy(button, true, "正在保存…");
    try {
      const saved = await api.put(`/admin/products/${product.id}/help`, {
        hotline: hotline.value, service_hours: hours.value,
        service_points: splitLines(points.value, POINT_PARTS), faq: splitLines(faq.value, FAQ_PARTS),
      });
      showStatus(done, `已保存：居民端“客服与投诉”显示客服电话 ${saved.hotline}、${saved.service_points.length}个服务网点、${saved.faq.length}条常见问题。`);
    } catch (error) {
      const first = showApiError(error, fields, alertBox);
      const rest = otherErrors(error, Object.keys(fields));
      if (rest.length) alertBox.append(h("p", {}, rest.join("；")));
      (first || button).focus();
    } finally {
      setBusy(button, false);
    }
  });
  return form;
}
