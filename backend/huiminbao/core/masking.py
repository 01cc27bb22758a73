"""Masking of personal data for responses, logs and SMS texts (DESIGN.md §5).

ID numbers keep their first and last character (``3****************X``), phones their first three
and last four digits (``138****5678``), names their first and last character (``张*三``; a two-
character name keeps the first: ``张*``). Strings are handled as code points, so a name with a
character outside the BMP such as ``林𫖮`` masks to ``林*`` rather than splitting a surrogate pair.
"""

from __future__ import annotations

import re
import unicodedata

# Also glued to letters (a path segment, a token: ``/x/abc330106198803150130``): only digits
# around it make it part of a longer number. And the first-generation 15-digit numbers (area,
# YYMMDD, sequence), recognised by their date so that other 15-digit numbers stay readable.
_ID_IN_TEXT = re.compile(
    r"(?<!\d)(?:\d{17}[\dXx]|\d{6}\d{2}(?:0[1-9]|1[0-2])(?:0[1-9]|[12]\d|3[01])\d{3})(?!\d)")
# Also right after the country code (+8613812345678), where a digit precedes the number.
_PHONE_IN_TEXT = re.compile(r"(?:(?<=86)|(?<!\d))1[3-9]\d{9}(?!\d)")


def mask_id_number(value: str) -> str:
    if len(value) < 2:
        return "*" * len(value)
    return value[0] + "*" * (len(value) - 2) + value[-1]


def mask_phone(value: str) -> str:
    if len(value) != 11:
        return "*" * len(value)
    return f"{value[:3]}****{value[-4:]}"


def mask_name(value: str) -> str:
    name = unicodedata.normalize("NFC", value.strip())
    if len(name) <= 1:
        return "*" * len(name)
    if len(name) == 2:
        return name[0] + "*"
    return name[0] + "*" * (len(name) - 2) + name[-1]


def scrub_text(text: str) -> str:
    """Mask every ID number and mobile number found in free text (used on every log line)."""
    text = _ID_IN_TEXT.sub(lambda m: mask_id_number(m.group(0)), text)
    return _PHONE_IN_TEXT.sub(lambda m: mask_phone(m.group(0)), text)


def normalize_name(value: str) -> str:
    """Names are stored and compared in NFC with surrounding white space removed."""
    return unicodedata.normalize("NFC", value).strip()
