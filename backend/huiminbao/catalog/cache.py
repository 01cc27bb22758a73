"""Published products kept in memory for the enrollment rush.

Every enrollment reads its product with tiers, benefits and terms: four queries that return the
same rows for the whole window. A published product is never edited (drafts are edited, then
published once; terms and tiers come with it), so each process keeps what it read for a short
while. The time-to-live only bounds how long a change made outside the application (a product
withdrawn by hand in the database) takes to be seen; ``forget`` drops an entry at once.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from sqlalchemy import select
from sqlalchemy.orm import selectinload

from huiminbao.catalog.domain import ProductStatus
from huiminbao.catalog.models import Product, Tier
from huiminbao.core.db import Database

TTL_SECONDS = 30.0


class PublishedProducts:
    """Published products by id, fully loaded and detached: read them, never add them to a
    session. Drafts and withdrawn products are not kept (``get`` answers None for them)."""

    def __init__(self, db: Database, ttl_seconds: float = TTL_SECONDS,
                 monotonic: Callable[[], float] = time.monotonic) -> None:
        self._db = db
        self._ttl = ttl_seconds
        self._monotonic = monotonic
        self._entries: dict[int, tuple[float, Product]] = {}
        self._lock = threading.Lock()

    def get(self, product_id: int) -> Product | None:
        now = self._monotonic()
        entry = self._entries.get(product_id)
        if entry is not None and now < entry[0]:
            return entry[1]
        product = self._load(product_id)
        with self._lock:
            if product is None:
                self._entries.pop(product_id, None)
            elif self._ttl > 0:
                self._entries[product_id] = (now + self._ttl, product)
        return product

    def peek(self, product_id: int) -> Product | None:
        """The product if it is kept and fresh; never reads (for callers inside a session of
        their own, where a read would take a second connection)."""
        entry = self._entries.get(product_id)
        return entry[1] if entry is not None and self._monotonic() < entry[0] else None

    def forget(self, product_id: int | None = None) -> None:
        with self._lock:
            if product_id is None:
                self._entries.clear()
            else:
                self._entries.pop(product_id, None)

    def _load(self, product_id: int) -> Product | None:
        with self._db.read() as session:
            product = session.scalars(
                select(Product).where(Product.id == product_id)
                .options(selectinload(Product.tiers).selectinload(Tier.benefits),
                         selectinload(Product.terms), selectinload(Product.pre_existing))
            ).one_or_none()
        if product is None or product.status != ProductStatus.PUBLISHED.value:
            return None
        return product
