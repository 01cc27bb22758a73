// 单位团体参保: POST /api/v1/admin/enrollments/bulk (multipart: employer, product, CSV).

import { setupUpload } from "./admin-upload.js";

setupUpload({
  path: "/admin/enrollments/bulk",
  fields: {
    employer_name: document.getElementById("employer-name"),
    employer_code: document.getElementById("employer-code"),
  },
  submitText: "上传并参保",
  busyText: "正在核验并参保…",
  extraColumns: [{ label: "档次", cell: (row) => row.tier || "—" }],
  rowTitle: (answer) => `${answer.employer_name}（批次号 ${answer.batch_no}）逐行结果`,
});
