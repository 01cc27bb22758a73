// 资助参保名单: POST /api/v1/admin/subsidy-roster (multipart: product, CSV).

import { setupUpload } from "./admin-upload.js";

setupUpload({
  path: "/admin/subsidy-roster",
  fields: {},
  submitText: "导入并资助参保",
  busyText: "正在核验并参保…",
  extraColumns: [{ label: "资助类别", cell: (row) => row.category_label || "—" }],
  rowTitle: (answer) => `${answer.year}年度资助名单（导入批次 ${answer.import_no}）逐行结果`,
});
