"""Telling adult family members, by SMS, that a policy was bought for them. Subscribed to
enrollment's ``order_issued`` event at wiring time (``app.build_container``)."""

from __future__ import annotations

from huiminbao.catalog.models import Product
from huiminbao.core.container import Container
from huiminbao.core.idnumber import age_on
from huiminbao.core.masking import mask_name
from huiminbao.enrollment.models import Order
from huiminbao.identity.models import Person
from huiminbao.identity.sms_domain import SmsTemplate


def tell_insured_relatives(c: Container, order: Order) -> None:
    """Adult family members learn that a policy was bought for them, and by whom (masked)."""
    if all(item.insured_person_id == order.buyer_person_id for item in order.items):
        return  # the common case on the hot path: someone enrolling themself
    product = c.products.get(order.product_id)
    with c.db.read() as session:
        buyer = session.get(Person, order.buyer_person_id)
        product = product or session.get(Product, order.product_id)
        insured = [session.get(Person, item.insured_person_id) for item in order.items
                   if item.insured_person_id != order.buyer_person_id]
    if buyer is None or product is None:
        return
    today = c.clock.today()
    for person in insured:
        if person is None or age_on(person.birth_date, today) < 18:
            continue
        registered = c.registry.find_person(person.id_number)
        if registered is None or not registered.phone:
            continue
        with c.db.transaction() as session:
            c.sms.send(session, registered.phone, SmsTemplate.ENROLLED_BY_RELATIVE, {
                "buyer": mask_name(buyer.name), "product": product.name,
                "starts": f"{product.coverage_starts_on:%Y年%m月%d日}",
                "ends": f"{product.coverage_ends_on:%Y年%m月%d日}"})
