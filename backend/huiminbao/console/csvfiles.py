"""Reading the CSV files operators upload: UTF-8 (with or without BOM) or GB18030 (what Excel
saves on a Chinese Windows), a fixed header, and each data row with its line number (the header
is line 1). Problems with the file as a whole are refused with a Chinese message; problems with
one row are left to the caller, which reports them by line."""

from __future__ import annotations

import csv
import hashlib
import io
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from huiminbao.core.csvrows import CsvSyntaxError, csv_records
from huiminbao.core.errors import InvalidInput

FILE_FIELD = "file"


@dataclass(frozen=True)
class CsvRow:
    line: int
    values: dict[str, str]
    problem: str | None = None  # e.g. the wrong number of columns


@dataclass(frozen=True)
class CsvFile:
    filename: str
    sha256: str
    rows: list[CsvRow]


def _refuse(message: str) -> InvalidInput:
    return InvalidInput(message, code="invalid_file", errors={FILE_FIELD: [message]})


def _decode(data: bytes) -> str:
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        pass
    try:
        return data.decode("gb18030")
    except UnicodeDecodeError as exc:
        raise _refuse("无法识别文件编码，请将文件另存为 UTF-8 编码的 CSV 后重新上传") from exc


def read_csv(filename: str, data: bytes, header: tuple[str, ...], *, max_rows: int,
             optional: tuple[str, ...] = ()) -> CsvFile:
    """``optional``: trailing columns the file may leave out (then read as empty)."""
    if not data.strip():
        raise _refuse("上传的文件是空的")
    try:
        records = csv_records(_decode(data))
    except CsvSyntaxError as exc:
        if exc.line == 1:
            raise _refuse("无法读取文件内容，请上传 CSV 文件") from exc
        raise _refuse(f"第{exc.line}行格式有误，无法读取：请检查引号是否成对") from exc
    if not records:
        raise _refuse("无法读取文件内容，请上传 CSV 文件")
    first, data_records = records[0], records[1:]
    typed = tuple(cell.strip().lower() for cell in first.cells)
    if first.line != 1 or typed not in (header, header + optional):
        raise _refuse(f"第1行表头应为：{','.join(header + optional)}" + (
            f"（{'、'.join(optional)}列可省略）" if optional else ""))
    header = typed
    if len(data_records) > max_rows:
        raise _refuse(f"一次最多上传{max_rows}行数据，请分批上传")
    rows: list[CsvRow] = []
    for record in data_records:
        cells, problem = record.cells, None
        if len(cells) != len(header):
            problem = f"应有{len(header)}列（{','.join(header)}），实际为{len(cells)}列"
            cells = (cells + [""] * len(header))[:len(header)]
        values = dict(zip(header, cells, strict=True))
        rows.append(CsvRow(record.line, values | {name: "" for name in optional
                                                  if name not in values}, problem))
    if not rows:
        raise _refuse("文件中没有数据行")
    return CsvFile(filename=filename[:200] or "upload.csv",
                   sha256=hashlib.sha256(data).hexdigest(), rows=rows)


def excel_csv(rows: Iterable[Sequence[str]]) -> bytes:
    """A CSV download: UTF-8 with a byte-order mark (Excel reads the Chinese), CRLF lines."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerows(rows)
    return ("\ufeff" + buffer.getvalue()).encode("utf-8")
