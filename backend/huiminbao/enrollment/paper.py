"""The paper a family prints or forwards: the PDF e-policy (电子保单) and the premium receipt
(保费缴纳凭证). Layout only: the caller hands in what to print, already masked and formatted
(``documents.py`` builds it from a policy); no Flask, no database.

fpdf2 embeds a subset of the configured CJK font (``Settings.pdf_font``: Debian's Noto Sans CJK
by default, whose CFF outlines fpdf2 embeds as CIDFontType0), so a document with a few hundred
distinct characters stays small, and every reader shows it the same without Chinese fonts of
its own."""

from __future__ import annotations

import io
import logging
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from fontTools.ttLib import TTFont, TTLibError
from fpdf import FPDF
from fpdf.enums import XPos, YPos

# fontTools logs every subsetting step at INFO (hundreds of glyph ids per document).
logging.getLogger("fontTools").setLevel(logging.WARNING)

FONT = "cjk"
PAGE_MARGIN_MM = 16
LINE_MM = 7
QR_SIZE_MM = 38


class FontMissing(RuntimeError):
    """The configured PDF font is not there (install fonts-noto-cjk or set HUIMINBAO_PDF_FONT)."""


@dataclass(frozen=True)
class PdfFont:
    path: Path
    index: int = 0  # the face within a collection (.ttc)


@dataclass(frozen=True)
class TermsSummary:
    version: str
    coverage: str
    claim_scope: str
    exclusions: str


@dataclass(frozen=True)
class EPolicyPaper:
    """An e-policy as printed: every name masked, every amount formatted."""

    title: str  # the product's name
    insurer: str
    facts: list[tuple[str, str]]  # (label, value), in reading order
    benefits: list[str]  # one line per benefit category of the tier
    terms: TermsSummary | None
    qr_png: bytes
    verify_url: str
    issued_at: datetime
    notice: str = ""


@dataclass(frozen=True)
class ReceiptPaper:
    title: str  # the product's name
    facts: list[tuple[str, str]]
    amount: str  # what was paid, "¥150.00"
    issued_at: datetime
    notes: list[str] = field(default_factory=list)


def font_problem(font: PdfFont) -> str | None:
    """Why the documents cannot be made with this font (``huiminbao doctor`` asks), or None."""
    if not font.path.is_file():
        return (f"找不到字体文件 {font.path}：请安装 fonts-noto-cjk，"
                "或用 HUIMINBAO_PDF_FONT 指定含中文字形的字体")
    try:
        with font.path.open("rb") as handle:
            cmap = TTFont(handle, fontNumber=font.index, lazy=True).getBestCmap() or {}
    except (TTLibError, OSError, IndexError, AssertionError) as exc:
        return f"无法读取字体 {font.path}（第 {font.index} 个字形集）：{exc}"
    missing = [char for char in "电子保单缴费凭证¥" if ord(char) not in cmap]
    if missing:
        return f"字体 {font.path} 缺少中文字形（如“{missing[0]}”）"
    return None


def _document(font: PdfFont, title: str, issued_at: datetime) -> FPDF:
    if not font.path.is_file():
        raise FontMissing(f"PDF font not found: {font.path} (install Debian's fonts-noto-cjk, or "
                          "set HUIMINBAO_PDF_FONT to a font with Chinese glyphs)")
    pdf = FPDF(format="A4", unit="mm")
    pdf.set_margins(PAGE_MARGIN_MM, PAGE_MARGIN_MM, PAGE_MARGIN_MM)
    pdf.set_auto_page_break(auto=True, margin=PAGE_MARGIN_MM)
    pdf.add_font(FONT, fname=font.path, collection_font_number=font.index)
    pdf.set_title(title)
    pdf.set_creator("惠民保参保服务")
    pdf.set_lang("zh-CN")
    pdf.set_creation_date(issued_at)
    pdf.add_page()
    return pdf


def _heading(pdf: FPDF, text: str, size: float = 18) -> None:
    pdf.set_font(FONT, size=size)
    pdf.multi_cell(0, size * 0.55, text, align="C", new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    pdf.ln(2)


def _section(pdf: FPDF, text: str) -> None:
    pdf.ln(2)
    pdf.set_font(FONT, size=12.5)
    pdf.set_fill_color(236, 242, 250)
    pdf.cell(0, LINE_MM + 1, f" {text}", fill=True, new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    pdf.ln(1)


def _facts(pdf: FPDF, facts: list[tuple[str, str]], width: float | None = None) -> None:
    label_width = 30
    value_width = (width or pdf.epw) - label_width
    for label, value in facts:
        pdf.set_font(FONT, size=10.5)
        pdf.set_text_color(90, 90, 90)
        pdf.cell(label_width, LINE_MM, label)
        pdf.set_text_color(0, 0, 0)
        pdf.set_font(FONT, size=11)
        pdf.multi_cell(value_width, LINE_MM, value, new_x=XPos.LMARGIN, new_y=YPos.NEXT)


def _paragraph(pdf: FPDF, text: str, size: float = 10) -> None:
    pdf.set_font(FONT, size=size)
    pdf.multi_cell(0, size * 0.5, text, new_x=XPos.LMARGIN, new_y=YPos.NEXT)


def _output(pdf: FPDF) -> bytes:
    return bytes(pdf.output())


def _stamp(issued_at: datetime) -> str:
    return issued_at.strftime("%Y-%m-%d %H:%M")


def render_epolicy(paper: EPolicyPaper, font: PdfFont) -> bytes:
    pdf = _document(font, f"{paper.title} 电子保单", paper.issued_at)
    _heading(pdf, paper.title)
    _heading(pdf, "电子保单", 14)
    pdf.set_font(FONT, size=10)
    pdf.cell(0, 5, f"承保公司：{paper.insurer}", align="C", new_x=XPos.LMARGIN,
             new_y=YPos.NEXT)
    pdf.ln(3)

    _section(pdf, "保单信息")
    top = pdf.get_y()
    _facts(pdf, paper.facts, width=pdf.epw - QR_SIZE_MM - 6)
    bottom = pdf.get_y()
    qr_x = pdf.w - PAGE_MARGIN_MM - QR_SIZE_MM
    pdf.image(io.BytesIO(paper.qr_png), x=qr_x, y=top, w=QR_SIZE_MM, h=QR_SIZE_MM)
    pdf.set_xy(qr_x - 4, top + QR_SIZE_MM)
    pdf.set_font(FONT, size=8.5)
    pdf.multi_cell(QR_SIZE_MM + 8, 4, "扫码核验保单真伪\n及当前状态", align="C")
    pdf.set_xy(PAGE_MARGIN_MM, max(bottom, top + QR_SIZE_MM + 10))

    if paper.benefits:
        _section(pdf, "保障责任")
        for line in paper.benefits:
            _paragraph(pdf, f"· {line}", 10.5)
    if paper.terms is not None:
        _section(pdf, f"条款摘要（条款版本 {paper.terms.version}）")
        for label, text in (("保障责任", paper.terms.coverage),
                            ("理赔范围", paper.terms.claim_scope),
                            ("责任免除", paper.terms.exclusions)):
            if text:
                pdf.set_font(FONT, size=10.5)
                pdf.cell(0, 6, label, new_x=XPos.LMARGIN, new_y=YPos.NEXT)
                _paragraph(pdf, text, 9.5)
                pdf.ln(1)
    if paper.notice:
        _section(pdf, "投保须知")
        _paragraph(pdf, paper.notice, 9.5)

    pdf.ln(3)
    pdf.set_text_color(90, 90, 90)
    _paragraph(pdf, "本电子保单中的姓名和证件号码已作部分隐藏。保单的真伪和当前状态（有效、已退保、"
                    "已到期）以扫描二维码核验的结果为准。核验地址：", 8.5)
    _paragraph(pdf, paper.verify_url, 7)
    _paragraph(pdf, f"打印时间：{_stamp(paper.issued_at)}", 8.5)
    return _output(pdf)


def render_receipt(paper: ReceiptPaper, font: PdfFont) -> bytes:
    pdf = _document(font, f"{paper.title} 保费缴纳凭证", paper.issued_at)
    _heading(pdf, paper.title)
    _heading(pdf, "保费缴纳凭证", 14)
    pdf.ln(2)
    pdf.set_font(FONT, size=11)
    pdf.cell(30, 10, "实缴保费")
    pdf.set_font(FONT, size=22)
    pdf.cell(0, 10, paper.amount, new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    _section(pdf, "缴费信息")
    _facts(pdf, paper.facts)
    if paper.notes:
        pdf.ln(2)
        for note in paper.notes:
            _paragraph(pdf, note, 10)
    pdf.ln(4)
    pdf.set_text_color(90, 90, 90)
    _paragraph(pdf, "本凭证仅证明上述保费已缴纳，不作为报销凭据。付款人姓名已作部分隐藏。", 8.5)
    _paragraph(pdf, f"打印时间：{_stamp(paper.issued_at)}", 8.5)
    return _output(pdf)
