"""What enrollment tells the features built on it, which subscribe at wiring time
(``app.build_container``) so that enrollment never imports them.

``order_issued``: an order was paid and its policies issued, and that transaction committed. The
subscribers (the insured relatives' notice, ``family/notices.py``; the principal's notice of an
agent's order, ``proxy/notices.py``) run in subscription order, in the caller's thread, each in
transactions of its own; an exception reaches the caller as from a direct call.
"""

from __future__ import annotations

from collections.abc import Callable

from huiminbao.core.container import Container
from huiminbao.enrollment.models import Order

OrderIssued = Callable[[Container, Order], None]

_order_issued: list[OrderIssued] = []


def subscribe_order_issued(handler: OrderIssued) -> None:
    """Add a subscriber (once: wiring the same handler again changes nothing)."""
    if handler not in _order_issued:
        _order_issued.append(handler)


def order_issued(c: Container, order: Order) -> None:
    """Tell every subscriber that ``order`` (with its items and their policies) was issued."""
    for handler in tuple(_order_issued):
        handler(c, order)
