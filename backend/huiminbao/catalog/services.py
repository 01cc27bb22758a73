"""Catalog use cases."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.orm import selectinload

from huiminbao.catalog.domain import ProductStatus
from huiminbao.catalog.models import Product, Tier
from huiminbao.core.clock import Clock
from huiminbao.core.db import Database
from huiminbao.core.errors import NotFound

_WITH_DETAILS = (
    selectinload(Product.tiers).selectinload(Tier.benefits),
    selectinload(Product.terms),
)


def open_products(db: Database, clock: Clock, city_code: str) -> Sequence[Product]:
    """Published products of the city whose enrollment window includes today."""
    today = clock.today()
    with db.read() as session:
        query = (
            select(Product)
            .where(
                Product.city_code == city_code,
                Product.status == ProductStatus.PUBLISHED.value,
                Product.window_opens_on <= today,
                Product.window_closes_on >= today,
            )
            .options(*_WITH_DETAILS)
            .order_by(Product.window_opens_on, Product.id)
        )
        return session.scalars(query).all()


def get_product(db: Database, product_id: int) -> Product:
    with db.read() as session:
        product = session.scalars(
            select(Product).where(Product.id == product_id).options(*_WITH_DETAILS)
        ).one_or_none()
    if product is None or product.status != ProductStatus.PUBLISHED.value:
        raise NotFound("未找到该产品")
    return product
