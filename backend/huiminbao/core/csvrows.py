"""The one CSV record reader: the non-blank records of a CSV text, each with the line it starts
on (1-based; a quoted cell may span lines), cells stripped. Decoding the bytes, the header and
what a problem is called are the caller's: an operator's upload (console/csvfiles.py) and the
registry's import directory (registry/importer.py) word them differently."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class CsvRecord:
    line: int
    cells: list[str]


class CsvSyntaxError(Exception):
    """The text stops being CSV (an unclosed quote, say) in the record starting on ``line``."""

    def __init__(self, line: int, detail: str) -> None:
        super().__init__(f"line {line}: {detail}")
        self.line = line
        self.detail = detail


def csv_records(text: str, *, strict: bool = False) -> list[CsvRecord]:
    """Every record with at least one non-blank cell, in order. ``strict`` is the csv module's:
    a quote in the middle of an unquoted cell is then an error rather than a character."""
    reader = csv.reader(io.StringIO(text, newline=""), strict=strict)
    records: list[CsvRecord] = []
    next_line = 1
    try:
        for cells in reader:
            line, next_line = next_line, reader.line_num + 1
            if any(cell.strip() for cell in cells):  # blank lines (often at the end) are not rows
                records.append(CsvRecord(line, [cell.strip() for cell in cells]))
    except csv.Error as exc:
        raise CsvSyntaxError(next_line, str(exc)) from exc
    return records


# ---------------------------------------------------------------- writing


def text_cell(text: str) -> str:
    """Free text that a spreadsheet would run as a formula (=, +, -, @) is quoted with '."""
    return f"'{text}" if text[:1] in {"=", "+", "-", "@", "\t", "\r"} else text


def excel_csv(rows: Iterable[Sequence[str]]) -> bytes:
    """UTF-8 with a byte-order mark, so that Excel opens the Chinese text correctly."""
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\r\n").writerows(rows)
    return ("\ufeff" + buffer.getvalue()).encode("utf-8")
