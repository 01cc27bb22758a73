"""Money as people read it. Amounts are integer fen everywhere; this is the one place that
turns them into yuan text (screens, SMS, CSV cells, the simulated pay pages), and ratios of
money (reimbursement ratios, co-insurers' shares, payout ratios) into percent text."""

from __future__ import annotations

from typing import overload


def format_yuan(amount_fen: int, *, grouping: bool = False) -> str:
    """Yuan with two decimals and no symbol: 15000 -> "150.00", -1 -> "-0.01";
    ``grouping`` adds thousands separators ("1,234.56"), for pages rather than CSV cells."""
    sign = "-" if amount_fen < 0 else ""
    yuan, fen = divmod(abs(amount_fen), 100)
    whole = f"{yuan:,}" if grouping else str(yuan)
    return f"{sign}{whole}.{fen:02d}"


def format_fen(amount_fen: int) -> str:
    """Yuan with the symbol, for messages and notices: 123456 -> "¥1,234.56", -100 -> "-¥1.00"."""
    sign = "-" if amount_fen < 0 else ""
    return f"{sign}¥{format_yuan(abs(amount_fen), grouping=True)}"


@overload
def format_percent(hundredths: int, *, fixed: bool = False) -> str: ...
@overload
def format_percent(hundredths: None, *, fixed: bool = False) -> None: ...
@overload
def format_percent(hundredths: int | None, *, fixed: bool = False) -> str | None: ...


def format_percent(hundredths: int | None, *, fixed: bool = False) -> str | None:
    """A ratio in hundredths of a percent (basis points: 7500 = 75 %) as text, in integers
    only: 7500 -> "75%", 7550 -> "75.5%", 3333 -> "33.33%", -5 -> "-0.05%"; ``fixed`` keeps
    two decimals ("75.00%"), for published figures. None (no ratio) stays None."""
    if hundredths is None:
        return None
    sign = "-" if hundredths < 0 else ""
    whole, part = divmod(abs(hundredths), 100)
    if fixed or part:
        decimals = f"{part:02d}" if fixed else f"{part:02d}".rstrip("0")
        return f"{sign}{whole}.{decimals}%"
    return f"{sign}{whole}%"
