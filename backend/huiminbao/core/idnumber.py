"""Resident identity card numbers (GB 11643-1999): validation and what they encode.

Layout: 6-digit area code, 8-digit birth date (YYYYMMDD), 3-digit sequence (odd for men, even for
women), and an ISO 7064 MOD 11-2 check character.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from datetime import date
from enum import StrEnum

from huiminbao.core.errors import InvalidInput

WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
CHECK_CHARS = "10X98765432"  # indexed by the weighted sum modulo 11
# ASCII only: \d would also accept full-width and other scripts' digits, which int() reads.
_SHAPE = re.compile(r"[0-9]{17}[0-9X]")


class Sex(StrEnum):
    MALE = "male"
    FEMALE = "female"


class InvalidIdNumber(ValueError):
    """Carries a Chinese message suitable for showing to the person who typed the number."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def check_char(first17: str) -> str:
    total = sum(int(digit) * weight for digit, weight in zip(first17, WEIGHTS, strict=True))
    return CHECK_CHARS[total % 11]


def normalize(raw: str) -> str:
    """Trim surrounding spaces, accept a lower-case x, and turn full-width digits and Ｘ (as
    typed with a Chinese input method) into ASCII."""
    return unicodedata.normalize("NFKC", raw).strip().upper()


def age_on(birth_date: date, day: date) -> int:
    """Full years lived on ``day`` (China counts full years); a 29 February birthday ages on
    1 March in common years. The one age rule: enrollment, family, disclosure and views use it."""
    had_birthday = (day.month, day.day) >= (birth_date.month, birth_date.day)
    return day.year - birth_date.year - (0 if had_birthday else 1)


@dataclass(frozen=True)
class IdNumber:
    value: str
    birth_date: date
    sex: Sex

    @property
    def area_code(self) -> str:
        return self.value[:6]

    def age_on(self, day: date) -> int:
        return age_on(self.birth_date, day)

    def __str__(self) -> str:
        return self.value


def parse(raw: str, *, today: date) -> IdNumber:
    """Validate ``raw`` and return what it encodes, or raise ``InvalidIdNumber``."""
    value = normalize(raw)
    if len(value) != 18:
        raise InvalidIdNumber("身份证号码应为18位")
    if not _SHAPE.fullmatch(value):
        raise InvalidIdNumber("身份证号码格式不正确：前17位应为数字，最后一位为数字或X")
    try:
        birth = date(int(value[6:10]), int(value[10:12]), int(value[12:14]))
    except ValueError as exc:
        raise InvalidIdNumber("身份证号码中的出生日期不是有效日期") from exc
    if birth > today:
        raise InvalidIdNumber("身份证号码中的出生日期晚于今天")
    if birth.year < 1900:
        raise InvalidIdNumber("身份证号码中的出生日期不是有效日期")
    if check_char(value[:17]) != value[17]:
        raise InvalidIdNumber("身份证号码校验位不正确，请核对后重新输入")
    sex = Sex.MALE if int(value[16]) % 2 == 1 else Sex.FEMALE
    return IdNumber(value=value, birth_date=birth, sex=sex)


def parse_input(raw: str, *, today: date, field: str = "id_number") -> IdNumber:
    """``parse`` for a request's field: a bad number is ``InvalidInput`` naming ``field``."""
    try:
        return parse(raw, today=today)
    except InvalidIdNumber as exc:
        raise InvalidInput(exc.message, errors={field: [exc.message]}) from exc


def is_valid(raw: str, *, today: date) -> bool:
    try:
        parse(raw, today=today)
    except InvalidIdNumber:
        return False
    return True


def make(area_code: str, birth_date: date, sequence: int) -> str:
    """Build a valid number; ``sequence`` 0..999, odd for men and even for women."""
    if not (len(area_code) == 6 and area_code.isdigit()):
        raise ValueError("area code must be 6 digits")
    if not 0 <= sequence <= 999:
        raise ValueError("sequence must be 0..999")
    first17 = f"{area_code}{birth_date:%Y%m%d}{sequence:03d}"
    return first17 + check_char(first17)
