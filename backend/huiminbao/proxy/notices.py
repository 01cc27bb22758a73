"""Telling the principal, by SMS, of every enrollment and payment an agent made for them.
``tell_principal`` is subscribed to enrollment's ``order_issued`` event at wiring time."""

from __future__ import annotations

from sqlalchemy import select

from huiminbao.catalog.models import Product
from huiminbao.core.container import Container
from huiminbao.core.masking import mask_name
from huiminbao.core.money import format_fen
from huiminbao.enrollment.domain import PaymentMethod
from huiminbao.enrollment.models import Order
from huiminbao.identity.models import Person, UserAccount
from huiminbao.identity.sms_domain import SmsTemplate

_PAID_BY = {
    PaymentMethod.PERSONAL_ACCOUNT: "从您的医保个人账户支付",
    PaymentMethod.ONLINE: "由代办人在线支付",
    PaymentMethod.SUBSIDY: "由政府资助",
}


def tell_principal(c: Container, order: Order) -> None:
    """After an order made under a grant is issued: a text to the principal's registered phone
    (if any) naming the agent (masked), the product, the insured and the amount. Never an ID
    number; the SMS sender refuses one anyway."""
    if order.acted_for_grant_id is None:
        return
    with c.db.read() as session:
        principal = session.get(Person, order.buyer_person_id)
        agent = session.scalars(
            select(Person).join(UserAccount, UserAccount.person_id == Person.id)
            .where(UserAccount.id == order.buyer_account_id)).first()
        product = session.get(Product, order.product_id)
        insured = [session.get(Person, item.insured_person_id) for item in order.items]
    if principal is None or agent is None or product is None:
        return
    registered = c.registry.find_person(principal.id_number)
    if registered is None or not registered.phone:
        return  # no phone (e.g. 王秀英): the activity page and the counter still show it
    names = "、".join(mask_name(person.name) for person in insured if person is not None)
    paid_by = _PAID_BY.get(PaymentMethod(order.payment_method), "")
    params = {"agent": mask_name(agent.name), "product": product.name, "insured": names,
              "amount": format_fen(order.payable_fen), "paid_by": paid_by}
    with c.db.transaction() as session:
        c.sms.send(session, registered.phone, SmsTemplate.ENROLLED_BY_AGENT, params)
