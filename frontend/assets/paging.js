// Lists the server answers a page at a time (`page`, `page_size`; totals in the X-Pagination
// header): a pager that accumulates the pages read so far, and the "加载更多" button under a list.

import { requestWithHeaders } from "./api.js";
import { h, replaceChildren } from "./dom.js";

function pagination(headers) {
  try {
    return JSON.parse(headers.get("X-Pagination") || "{}") || {};
  } catch {
    return {};
  }
}

/** `path` (which may carry its own query) read a page at a time. `next()` answers the list
 * answer of the next page with `items` holding every item read so far, `total` and `more`. */
export function pager(path, pageSize = 50) {
  let page = 0;
  let items = [];
  const separator = path.includes("?") ? "&" : "?";
  return {
    async next() {
      const { data, headers } = await requestWithHeaders(
        "GET", `${path}${separator}page=${page + 1}&page_size=${pageSize}`);
      page += 1;
      items = items.concat(Array.isArray(data?.items) ? data.items : []);
      const meta = pagination(headers);
      const total = Number.isInteger(meta.total) ? meta.total : items.length;
      return { ...data, items, total, more: Boolean(meta.next_page) };
    },
  };
}

/** Under a list: "加载更多（已显示 n / 共 m 条）" while there is more, nothing once all are shown.
 * `box` is the element the button goes in; `onMore` reads the next page. */
export function showMore(box, { shown, total, more, onMore }) {
  if (!more) {
    replaceChildren(box);
    return;
  }
  const button = h("button", { type: "button", class: "btn btn--quiet", "data-more": "" },
    `加载更多（已显示 ${shown} / 共 ${total} 条）`);
  button.addEventListener("click", async () => {
    button.disabled = true;
    button.textContent = "正在加载…";
    try {
      await onMore();
    } catch (error) {
      button.disabled = false;
      button.textContent = `加载失败：${error.message}，点此重试`;
    }
  });
  replaceChildren(box, button);
}

/** The box for the "加载更多" button, placed right after `list` (created once). */
export function moreBoxAfter(list) {
  const found = list.nextElementSibling;
  if (found && found.classList.contains("list-more")) return found;
  const box = h("div", { class: "list-more" });
  list.after(box);
  return box;
}
