"""Yuan text from fen and percent text from hundredths: one rule for screens, SMS, CSV cells
and the simulated pay pages."""

from __future__ import annotations

import pytest

from huiminbao.core.money import format_fen, format_percent, format_yuan


@pytest.mark.parametrize(("fen", "plain", "grouped", "symbol"), [
    (-100, "-1.00", "-1.00", "-¥1.00"),
    (-1, "-0.01", "-0.01", "-¥0.01"),
    (0, "0.00", "0.00", "¥0.00"),
    (1, "0.01", "0.01", "¥0.01"),
    (12345, "123.45", "123.45", "¥123.45"),
    (-123456789, "-1234567.89", "-1,234,567.89", "-¥1,234,567.89"),
    (100000000, "1000000.00", "1,000,000.00", "¥1,000,000.00"),
])
def test_yuan_text(fen: int, plain: str, grouped: str, symbol: str) -> None:
    assert format_yuan(fen) == plain
    assert format_yuan(fen, grouping=True) == grouped
    assert format_fen(fen) == symbol


def test_the_gateway_page_shows_a_negative_amount_as_negative() -> None:
    """The simulated gateway's page once floored -1 fen to "-1.99"."""
    from huiminbao.payments.gateway import routes as gateway_routes

    assert gateway_routes.format_yuan(-1, grouping=True) == "-0.01"
    assert gateway_routes.format_yuan(-100, grouping=True) == "-1.00"


@pytest.mark.parametrize(("hundredths", "short", "fixed"), [
    (5000, "50%", "50.00%"), (3333, "33.33%", "33.33%"), (10000, "100%", "100.00%"),
    (1250, "12.5%", "12.50%"), (7550, "75.5%", "75.50%"), (5, "0.05%", "0.05%"),
    (0, "0%", "0.00%"), (-5, "-0.05%", "-0.05%"), (-1250, "-12.5%", "-12.50%"),
    (20000, "200%", "200.00%"), (7525, "75.25%", "75.25%"), (8005, "80.05%", "80.05%"),
])
def test_percent_text_from_hundredths(hundredths: int, short: str, fixed: str) -> None:
    assert format_percent(hundredths) == short
    assert format_percent(hundredths, fixed=True) == fixed


def test_no_ratio_stays_none() -> None:
    assert format_percent(None) is None
    assert format_percent(None, fixed=True) is None
