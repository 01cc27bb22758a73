"""Reading orders: one order for its buyer (or whoever may act for the buyer), the buyer's list."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import selectinload

from huiminbao.catalog.models import Product
from huiminbao.core.container import Container
from huiminbao.core.errors import (
    NotFound,
)
from huiminbao.enrollment.domain import (
    OrderStatus,
)
from huiminbao.enrollment.models import Order, OrderItem
from huiminbao.identity.access import require_access
from huiminbao.identity.auth import Actor
from huiminbao.identity.domain import Action
from huiminbao.identity.models import Person


def load_order(c: Container, order_number: str) -> Order:
    with c.db.read() as session:
        order = session.scalars(
            select(Order).where(Order.order_no == order_number)
            .options(selectinload(Order.items).selectinload(OrderItem.policy))
        ).one_or_none()
        if order is None:
            raise NotFound("未找到该订单")
        return order


@dataclass(frozen=True)
class OrderDetails:
    order: Order
    product_name: str
    names: dict[int, str]
    tier_names: dict[str, str]


def order_details(c: Container, actor: Actor, order_number: str) -> OrderDetails:
    """An order, for its buyer or for whoever may act for the buyer; others get 404."""
    order = load_order(c, order_number)
    cached = c.products.get(order.product_id)  # before the session: a miss reads on its own
    with c.db.read() as session:
        if order.buyer_account_id != actor.account_id:
            require_access(c, session, actor, Action.VIEW_POLICIES, order.buyer_person_id,
                           object_type="order", object_id=order.order_no)
        product = cached or session.scalars(
            select(Product).where(Product.id == order.product_id)
            .options(selectinload(Product.tiers))).one()
        people = session.scalars(select(Person).where(
            Person.id.in_([item.insured_person_id for item in order.items]))).all()
    return OrderDetails(order, product.name, {p.id: p.name for p in people},
                        {tier.code: tier.name for tier in product.tiers})


def my_orders(c: Container, actor: Actor, status: OrderStatus | None) -> list[OrderDetails]:
    """The caller's own orders as buyer, newest first (e.g. an unpaid one to continue)."""
    with c.db.read() as session:
        query = select(Order.order_no).where(Order.buyer_account_id == actor.account_id)
        if status is not None:
            query = query.where(Order.status == status.value)
        numbers_ = session.scalars(query.order_by(Order.id.desc()).limit(50)).all()
    return [order_details(c, actor, number) for number in numbers_]
