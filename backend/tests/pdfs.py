"""Reading the PDFs the product makes (e-policy, premium receipt) in tests: their text, the QR
codes in their images and their fonts. Shared by the API tests and the e2e journeys."""

from __future__ import annotations

import io
import re
from typing import Any

import zxingcpp
from PIL import Image
from pypdf import PdfReader
from pypdf.generic import IndirectObject, NameObject


def read_pdf(content: bytes) -> PdfReader:
    """The parsed PDF. fpdf2 writes a CFF font's encoding as an embedded CMap stream (two-byte
    codes to CIDs), which pypdf's text extraction reads one byte at a time; the ToUnicode map is
    keyed by the same two-byte codes, so extraction reads them as /Identity-H (codes as is)."""
    assert content.startswith(b"%PDF-")
    reader = PdfReader(io.BytesIO(content))
    for page in reader.pages:
        for ref in page["/Resources"]["/Font"].values():
            font = ref.get_object()
            encoding = font.get("/Encoding")
            if font["/Subtype"] == "/Type0" and isinstance(encoding, IndirectObject):
                cmap = encoding.get_object().get_data()
                assert b"<0000> <FFFF>" in cmap  # two-byte codes
                font[NameObject("/Encoding")] = NameObject("/Identity-H")
    return reader


def pdf_text(reader: PdfReader) -> str:
    """The document's text without the spacing pypdf puts between CJK glyphs."""
    return re.sub(r"\s+", "", "".join(page.extract_text() for page in reader.pages))


def pdf_qr_texts(reader: PdfReader) -> list[str]:
    texts = []
    for page in reader.pages:
        for embedded in page.images:
            image = Image.open(io.BytesIO(embedded.data)).convert("RGB")
            texts += [result.text for result in zxingcpp.read_barcodes(
                image, formats=zxingcpp.BarcodeFormat.QRCode)]
    return texts


def pdf_fonts(reader: PdfReader) -> list[dict[str, Any]]:
    fonts = []
    for page in reader.pages:
        resources = page["/Resources"]
        for ref in resources["/Font"].values():
            font = ref.get_object()
            for descendant in font.get("/DescendantFonts", []):
                fonts.append(descendant.get_object())
    return fonts
