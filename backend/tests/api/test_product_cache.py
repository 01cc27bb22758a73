"""Published products kept in memory (``catalog.cache.PublishedProducts``): read once, kept
for the time-to-live, read again after it; drafts and withdrawn products are never kept."""

from __future__ import annotations

from sqlalchemy import select, update

from huiminbao.catalog.cache import PublishedProducts
from huiminbao.catalog.models import Product
from huiminbao.core.container import Container

from .helpers import statements_sent


class FakeMonotonic:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def _product_reads(sent: list[str]) -> int:
    return sum("FROM products" in statement for statement in sent)


def _demo_product_id(wired: Container) -> int:
    with wired.db.read() as session:
        return int(session.scalars(select(Product.id)).one())


def test_a_published_product_is_read_once_per_time_to_live(wired: Container) -> None:
    monotonic = FakeMonotonic()
    cache = PublishedProducts(wired.db, ttl_seconds=30, monotonic=monotonic)
    product_id = _demo_product_id(wired)
    with statements_sent(wired.db.engine) as sent:
        assert cache.peek(product_id) is None  # peeking never reads
        assert sent == []
        first = cache.get(product_id)
        assert first is not None and first.tiers and first.current_terms is not None
        assert cache.peek(product_id) is first
        assert first.tiers[0].benefits  # loaded with everything an enrollment reads
        monotonic.now += 29
        assert cache.get(product_id) is first
        assert _product_reads(sent) == 1

        monotonic.now += 2  # past the time-to-live: read again
        assert cache.peek(product_id) is None
        again = cache.get(product_id)
        assert again is not None and again is not first
        assert _product_reads(sent) == 2

        cache.forget(product_id)
        cache.get(product_id)
        assert _product_reads(sent) == 3


def test_drafts_withdrawn_and_unknown_products_are_not_kept(wired: Container) -> None:
    monotonic = FakeMonotonic()
    cache = PublishedProducts(wired.db, ttl_seconds=30, monotonic=monotonic)
    product_id = _demo_product_id(wired)
    assert cache.get(product_id) is not None
    assert cache.get(987_654) is None

    with wired.db.transaction() as session:
        session.execute(update(Product).where(Product.id == product_id)
                        .values(status="withdrawn"))
    assert cache.get(product_id) is not None  # still within its time-to-live
    monotonic.now += 31
    assert cache.get(product_id) is None  # withdrawn: seen at the next read, and not kept
    with statements_sent(wired.db.engine) as sent:
        assert cache.get(product_id) is None
    assert _product_reads(sent) == 1
