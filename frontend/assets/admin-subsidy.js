// 资助参保名单: POST /api/v1/admin/subsidy-roster (multipart: product, CSV with an optional payer
// column), and the batch's funding record as CSV.

import { API_BASE } from "./api.js";
import { setupUpload } from "./admin-upload.js";

setupUpload({
  path: "/admin/subsidy-roster",
  fields: {},
  submitText: "导入并资助参保",
  busyText: "正在核验并参保…",
  extraColumns: [
    { label: "资助类别", cell: (row) => row.category_label || "—" },
    { label: "出资方", cell: (row) => row.payer || "—" },
  ],
  rowTitle: (answer) => {
    document.getElementById("receipt-csv").href =
      `${API_BASE}/admin/subsidy-roster/${encodeURIComponent(answer.import_no)}/receipt?format=csv`;
    return `${answer.year}年度资助名单（导入批次 ${answer.import_no}）逐行结果`;
  },
});
