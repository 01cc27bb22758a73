"""Reading uploaded CSV files: encodings, header, line numbers, blank lines, broken rows."""

from __future__ import annotations

import pytest

from huiminbao.console.csvfiles import read_csv
from huiminbao.core.errors import InvalidInput

HEADER = ("id_number", "name", "tier")


def test_utf8_with_bom_and_line_numbers_from_the_header() -> None:
    data = "\ufeffid_number,name,tier\r\n330106198803150130,张伟,standard\r\n\r\n" \
           "330106199007220243,李娜,升级版\r\n".encode()
    file = read_csv("名单.csv", data, HEADER, max_rows=10)
    assert [row.line for row in file.rows] == [2, 4]  # the blank line 3 is not a row
    assert file.rows[1].values == {"id_number": "330106199007220243", "name": "李娜",
                                   "tier": "升级版"}
    assert len(file.sha256) == 64 and file.filename == "名单.csv"


def test_excel_gb18030_files_are_read_too() -> None:
    data = "id_number,name,tier\n330106198803150130,张伟,标准版\n".encode("gb18030")
    assert read_csv("a.csv", data, HEADER, max_rows=10).rows[0].values["tier"] == "标准版"


def test_a_quoted_line_break_keeps_the_next_rows_line_numbers_right() -> None:
    data = 'id_number,name,tier\n"3301",\"张\n伟\",standard\n330106199007220243,李娜,x\n'.encode()
    file = read_csv("a.csv", data, HEADER, max_rows=10)
    assert [row.line for row in file.rows] == [2, 4]


def test_the_wrong_number_of_columns_is_a_row_problem() -> None:
    data = b"id_number,name,tier\n330106198803150130,\xe5\xbc\xa0\xe4\xbc\x9f\n"
    row = read_csv("a.csv", data, HEADER, max_rows=10).rows[0]
    assert row.problem == "应有3列（id_number,name,tier），实际为2列"


@pytest.mark.parametrize(("data", "message"), [
    (b"", "上传的文件是空的"),
    (b"id,name,tier\n1,2,3\n", "第1行表头应为：id_number,name,tier"),
    (b"id_number,name,tier\n\n\n", "文件中没有数据行"),
    (b"id_number,name,tier\n" + b"1,2,3\n" * 4, "一次最多上传3行数据，请分批上传"),
    (b"\xff\xfe\x00\x01\x80\x81", "无法识别文件编码，请将文件另存为 UTF-8 编码的 CSV 后重新上传"),
])
def test_file_level_problems_are_refused_in_chinese(data: bytes, message: str) -> None:
    with pytest.raises(InvalidInput) as refused:
        read_csv("a.csv", data, HEADER, max_rows=3)
    assert refused.value.message == message
    assert refused.value.errors == {"file": [message]}
