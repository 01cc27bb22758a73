"""Money as people read it. Amounts are integer fen everywhere; this is the one place that
turns them into yuan text (screens, SMS, CSV cells, the simulated pay pages)."""

from __future__ import annotations


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
