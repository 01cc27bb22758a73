"""Co-insurer shares (共保体): validation and the split of money in integer fen."""

from __future__ import annotations

from fractions import Fraction

import pytest
from hypothesis import given
from hypothesis import strategies as st

from huiminbao.catalog.coinsurance import (
    DUPLICATE,
    ONE_LEAD,
    SHARES_SUM,
    Share,
    split_by_shares,
    validate_shares,
)

THREE = [Share("甲保险", 5000, lead=True), Share("乙保险", 3000), Share("丙保险", 2000)]
THIRDS = [Share("乙保险", 3333), Share("甲保险", 3334, lead=True), Share("丙保险", 3333)]


@pytest.mark.parametrize(("amount", "shares", "expected"), [
    (10000, THREE, [("甲保险", 5000), ("乙保险", 3000), ("丙保险", 2000)]),
    (1, THREE, [("甲保险", 1), ("乙保险", 0), ("丙保险", 0)]),
    (-1, THREE, [("甲保险", -1), ("乙保险", 0), ("丙保险", 0)]),
    (0, THREE, [("甲保险", 0), ("乙保险", 0), ("丙保险", 0)]),
    (12345, THREE, [("甲保险", 6173), ("乙保险", 3703), ("丙保险", 2469)]),
    (-12345, THREE, [("甲保险", -6173), ("乙保险", -3703), ("丙保险", -2469)]),
    (9, THREE, [("甲保险", 6), ("乙保险", 2), ("丙保险", 1)]),
    (100, THIRDS, [("乙保险", 33), ("甲保险", 34), ("丙保险", 33)]),
    (2, THIRDS, [("乙保险", 0), ("甲保险", 2), ("丙保险", 0)]),
    (-2, THIRDS, [("乙保险", 0), ("甲保险", -2), ("丙保险", 0)]),
    (5999, [Share("独家", 10000, lead=True)], [("独家", 5999)]),
])
def test_split_table(amount: int, shares: list[Share], expected: list[tuple[str, int]]) -> None:
    assert split_by_shares(amount, shares) == expected
    assert sum(fen for _name, fen in expected) == amount


@pytest.mark.parametrize(("shares", "messages"), [
    ([Share("甲", 5000, lead=True), Share("乙", 4000)], [SHARES_SUM]),
    ([Share("甲", 5000), Share("乙", 5000)], [ONE_LEAD]),
    ([Share("甲", 5000, lead=True), Share("乙", 5000, lead=True)], [ONE_LEAD]),
    ([Share("甲", 5000, lead=True), Share("甲", 5000)], [DUPLICATE]),
    ([Share("甲", 6000, lead=True), Share("甲", 3000)], [DUPLICATE, SHARES_SUM]),
])
def test_invalid_shares_name_every_problem(shares: list[Share], messages: list[str]) -> None:
    assert [problem.message for problem in validate_shares(shares)] == messages
    with pytest.raises(ValueError, match="invalid co-insurer shares"):
        split_by_shares(100, shares)


def test_valid_shares_have_no_problems() -> None:
    assert validate_shares(THREE) == []
    assert [p.rule for p in validate_shares([])] == ["insurers_required"]
    assert [p.rule for p in validate_shares([Share("甲", 0), Share("乙", 10000, True)])] == [
        "share_range"]


@st.composite
def share_lists(draw: st.DrawFn) -> list[Share]:
    count = draw(st.integers(min_value=1, max_value=6))
    cuts = sorted(draw(st.lists(st.integers(min_value=1, max_value=9999), min_size=count - 1,
                                max_size=count - 1, unique=True)))
    bounds = [0, *cuts, 10000]
    lead = draw(st.integers(min_value=0, max_value=count - 1))
    return [Share(f"保险{i}", bounds[i + 1] - bounds[i], lead=i == lead) for i in range(count)]


@given(amount=st.integers(min_value=-10**12, max_value=10**12), shares=share_lists())
def test_parts_sum_to_the_total_and_stay_within_a_fen(amount: int, shares: list[Share]) -> None:
    parts = split_by_shares(amount, shares)
    assert [name for name, _fen in parts] == [share.insurer for share in shares]
    assert sum(fen for _name, fen in parts) == amount
    for (_name, fen), share in zip(parts, shares, strict=True):
        exact = Fraction(amount * share.share_bp, 10000)
        if share.lead:
            assert abs(fen - exact) < len(shares)
        else:
            assert abs(fen - exact) < 1
            assert abs(fen) <= abs(exact)  # never more than its share


@given(amount=st.integers(min_value=-10**9, max_value=10**9), shares=share_lists())
def test_a_refund_splits_as_the_negative_of_the_payment(amount: int,
                                                         shares: list[Share]) -> None:
    assert split_by_shares(-amount, shares) == [
        (name, -fen) for name, fen in split_by_shares(amount, shares)]
