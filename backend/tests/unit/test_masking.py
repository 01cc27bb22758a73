"""Masking of ID numbers, phones and names (DESIGN.md §5), and scrubbing of free text."""

from __future__ import annotations

import re
from datetime import date

import pytest
from hypothesis import given
from hypothesis import strategies as st

from huiminbao.core import idnumber
from huiminbao.core.masking import (
    mask_id_number,
    mask_name,
    mask_phone,
    normalize_name,
    scrub_text,
)


def test_id_number_keeps_first_and_last_character() -> None:
    assert mask_id_number("33010219430618052X") == "3****************X"
    assert mask_id_number("330106198803150130") == "3****************0"


def test_phone_keeps_first_three_and_last_four_digits() -> None:
    assert mask_phone("13812345678") == "138****5678"


def test_a_phone_of_unexpected_length_is_masked_entirely() -> None:
    assert mask_phone("12345") == "*****"


@pytest.mark.parametrize(
    ("name", "masked"),
    [
        ("张小三", "张*三"),
        ("张三", "张*"),
        ("林𫖮", "林*"),  # 𫖮 is outside the BMP: one character, never split
        ("刘䶮", "刘*"),
        ("𫖮林", "𫖮*"),
        ("林𫖮𫖮", "林*𫖮"),
        ("欧阳丽娜", "欧**娜"),
        ("张", "*"),
        ("", ""),
        (" 张小三 ", "张*三"),
    ],
)
def test_name_keeps_first_and_last_character(name: str, masked: str) -> None:
    assert mask_name(name) == masked


def test_name_masking_and_normalizing_use_nfc() -> None:
    decomposed = "e\u0301mile"  # é as e + combining acute accent
    assert normalize_name(f" {decomposed} ") == "\u00e9mile"
    assert mask_name(decomposed) == "\u00e9***e"


def test_scrub_text_masks_ids_and_phones_inside_text() -> None:
    text = "用户张伟（身份证330106198803150130，手机13800000001）为33010219430618052x投保"
    assert scrub_text(text) == (
        "用户张伟（身份证3****************0，手机138****0001）为3****************x投保"
    )


def test_scrub_text_masks_ids_glued_to_letters_and_old_15_digit_ids() -> None:
    assert scrub_text("/api/v1/x/abc330106198803150130def") == (
        "/api/v1/x/abc3****************0def")
    assert scrub_text("id=330106880315013;") == "id=3*************3;"  # 1st generation
    assert scrub_text("amount 123456789012345") == "amount 123456789012345"  # not a date inside


def test_scrub_text_masks_phones_with_country_code() -> None:
    assert scrub_text("+8613812345678") == "+86138****5678"
    assert scrub_text("tel:008613812345678") == "tel:0086138****5678"


def test_scrub_text_leaves_other_numbers_alone() -> None:
    text = "订单 12345678901234567890 金额 15000 分，时间 2026-11-22"
    assert scrub_text(text) == text


@given(
    area=st.text(alphabet="0123456789", min_size=6, max_size=6),
    birth=st.dates(min_value=date(1900, 1, 1), max_value=date(2026, 11, 22)),
    sequence=st.integers(min_value=0, max_value=999),
    phone_tail=st.integers(min_value=0, max_value=10**9 - 1),
    second_digit=st.sampled_from("3456789"),
    prefix=st.text(alphabet="日志用户：, =()[]", min_size=1, max_size=5),
)
def test_scrubbed_text_never_contains_a_full_id_or_phone(
    area: str, birth: date, sequence: int, phone_tail: int, second_digit: str, prefix: str
) -> None:
    id_number = idnumber.make(area, birth, sequence)
    phone = f"1{second_digit}{phone_tail:09d}"
    scrubbed = scrub_text(f"{prefix}{id_number}{prefix}{phone}{prefix}")
    assert id_number not in scrubbed
    assert phone not in scrubbed
    assert not re.search(r"\d{11}", scrubbed)
