"""Order, policy and refund numbers: readable, unique, not guessable."""

from __future__ import annotations

import secrets
from datetime import datetime

from huiminbao.core.clock import to_china_time


def order_no(now: datetime) -> str:
    return f"HM{to_china_time(now):%Y%m%d%H%M%S}{secrets.randbelow(10**8):08d}"


def policy_no(year: int) -> str:
    return f"XHYL{year}{secrets.randbelow(10**12):012d}"


def refund_no(order_number: str, policy_id: int) -> str:
    return f"{order_number}R{policy_id}"


def stray_refund_no(order_number: str) -> str:
    """The refund of a payment that arrived for an order already closed (one per order)."""
    return f"{order_number}RC"
