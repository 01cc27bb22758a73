"""GB 11643 resident ID numbers: what is accepted, what is refused (with which message), and
what a valid number tells about its holder."""

from __future__ import annotations

from datetime import date

import pytest
from hypothesis import given
from hypothesis import strategies as st

from huiminbao.core import idnumber
from huiminbao.core.idnumber import InvalidIdNumber, Sex

TODAY = date(2026, 11, 22)
ALLOWED_CHARS = "0123456789X"

MSG_LENGTH = "身份证号码应为18位"
MSG_SHAPE = "身份证号码格式不正确：前17位应为数字，最后一位为数字或X"
MSG_DATE = "身份证号码中的出生日期不是有效日期"
MSG_FUTURE = "身份证号码中的出生日期晚于今天"
MSG_CHECK = "身份证号码校验位不正确，请核对后重新输入"

area_codes = st.text(alphabet="0123456789", min_size=6, max_size=6)
birth_dates = st.dates(min_value=date(1900, 1, 1), max_value=TODAY)
sequences = st.integers(min_value=0, max_value=999)


@st.composite
def valid_numbers(draw: st.DrawFn) -> str:
    return idnumber.make(draw(area_codes), draw(birth_dates), draw(sequences))


def _with_check(first17: str) -> str:
    return first17 + idnumber.check_char(first17)


def _message(raw: str) -> str:
    with pytest.raises(InvalidIdNumber) as caught:
        idnumber.parse(raw, today=TODAY)
    return caught.value.message


@given(area_codes, birth_dates, sequences)
def test_every_generated_number_is_valid_and_encodes_its_parts(
    area: str, birth: date, sequence: int
) -> None:
    value = idnumber.make(area, birth, sequence)
    parsed = idnumber.parse(value, today=TODAY)
    assert parsed.value == value
    assert parsed.area_code == area
    assert parsed.birth_date == birth
    assert parsed.sex is (Sex.MALE if sequence % 2 else Sex.FEMALE)
    assert idnumber.is_valid(value, today=TODAY)


@given(valid_numbers())
def test_every_single_character_change_is_refused(value: str) -> None:
    for position in range(18):
        for replacement in ALLOWED_CHARS:
            if replacement == value[position]:
                continue
            changed = value[:position] + replacement + value[position + 1 :]
            assert not idnumber.is_valid(changed, today=TODAY), (position, changed)


@given(valid_numbers())
def test_every_swap_of_two_adjacent_different_characters_is_refused(value: str) -> None:
    for position in range(17):
        first, second = value[position], value[position + 1]
        if first == second:
            continue
        swapped = value[:position] + second + first + value[position + 2 :]
        assert not idnumber.is_valid(swapped, today=TODAY), (position, swapped)


def test_lower_case_x_is_accepted_and_normalized() -> None:
    assert idnumber.parse("33010219430618052x", today=TODAY).value == "33010219430618052X"


def test_surrounding_spaces_and_full_width_digits_are_accepted() -> None:
    full_width = "".join(chr(ord(char) + 0xFEE0) for char in "33010219430618052X")
    assert idnumber.parse(f" {full_width} ", today=TODAY).value == "33010219430618052X"


def test_digits_of_other_scripts_are_refused() -> None:
    # Arabic-Indic digits: int() reads them, the ID number format does not allow them.
    arabic_indic = "".join(chr(0x0660 + int(char)) for char in "33010219430618052")
    assert _message(arabic_indic + "X") == MSG_SHAPE


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ("33010219430618052", MSG_LENGTH),
        ("33010219430618052X1", MSG_LENGTH),
        ("", MSG_LENGTH),
        ("33010A19430618052X", MSG_SHAPE),
        ("3301021943061805X2", MSG_SHAPE),
        ("33010219430618052Y", MSG_SHAPE),
        (_with_check("33010220230230001"), MSG_DATE),  # 30 February
        (_with_check("33010220231301001"), MSG_DATE),  # month 13
        (_with_check("33010218991231001"), MSG_DATE),  # before 1900
        (_with_check("33010220261123001"), MSG_FUTURE),  # tomorrow
        ("330102194306180520", MSG_CHECK),
    ],
)
def test_refusals_carry_their_chinese_message(raw: str, message: str) -> None:
    assert _message(raw) == message


def test_born_today_is_accepted() -> None:
    assert idnumber.is_valid(idnumber.make("330102", TODAY, 1), today=TODAY)


def test_age_counts_full_years() -> None:
    person = idnumber.parse(idnumber.make("330102", date(2000, 3, 15), 1), today=TODAY)
    assert person.age_on(date(2010, 3, 14)) == 9
    assert person.age_on(date(2010, 3, 15)) == 10
    assert person.age_on(date(2010, 3, 16)) == 10


def test_a_29_february_birthday_ages_on_1_march_in_common_years() -> None:
    person = idnumber.parse(idnumber.make("330102", date(2000, 2, 29), 2), today=TODAY)
    assert person.age_on(date(2001, 2, 28)) == 0
    assert person.age_on(date(2001, 3, 1)) == 1
    assert person.age_on(date(2004, 2, 28)) == 3
    assert person.age_on(date(2004, 2, 29)) == 4


@pytest.mark.parametrize(
    ("sequence", "sex"),
    [(1, Sex.MALE), (13, Sex.MALE), (2, Sex.FEMALE), (0, Sex.FEMALE), (998, Sex.FEMALE)],
)
def test_sex_follows_the_parity_of_the_sequence(sequence: int, sex: Sex) -> None:
    value = idnumber.make("330106", date(1988, 3, 15), sequence)
    assert idnumber.parse(value, today=TODAY).sex is sex


def test_make_refuses_bad_parts() -> None:
    with pytest.raises(ValueError, match="area code"):
        idnumber.make("33010", date(1988, 3, 15), 1)
    with pytest.raises(ValueError, match="sequence"):
        idnumber.make("330106", date(1988, 3, 15), 1000)
