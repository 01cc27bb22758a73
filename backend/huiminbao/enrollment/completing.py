"""An order's outcome, written once under its lock: the pay page kept, paid and issued (with the
ledger entries and policies), money that arrived for a closed order held for return, or closed."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from contextlib import suppress
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import bindparam, insert, select, update
from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import set_committed_value

from huiminbao.audit import services as audit
from huiminbao.audit.services import AuditActor, AuditEntry
from huiminbao.catalog.models import Product
from huiminbao.core.container import Container
from huiminbao.core.db import table_of
from huiminbao.core.errors import (
    Conflict,
    NotFound,
    RemoteUnavailable,
    RuleViolation,
)
from huiminbao.core.idempotency import answer_with_resource
from huiminbao.enrollment import events, numbers, order_reading, subsidy_funds
from huiminbao.enrollment.domain import (
    OrderStatus,
    PaymentMethod,
    PolicyStatus,
    transition,
)
from huiminbao.enrollment.models import Order, OrderItem, Policy, Refund, SubsidyUse
from huiminbao.identity.sms_domain import SmsText
from huiminbao.payments import ledger
from huiminbao.payments.gateway.port import (
    GatewayRequestConflict,
)

log = logging.getLogger(__name__)


DEBIT_FAILED = "个人账户扣款未成功"


def keep_pay_page(c: Container, order: Order, pay_url: str) -> None:
    """Keep the gateway's pay page on the order, if it is still pending. An order closed while
    the payment was being opened (cancelled in another tab) gets its payment closed too, so
    nobody pays for it; should someone pay all the same, the money goes back."""
    with c.db.transaction() as session:
        kept = session.execute(
            update(Order).where(Order.id == order.id,
                                Order.status == OrderStatus.PENDING_PAYMENT.value)
            .values(pay_url=pay_url).returning(Order.id)).first() is not None
    if kept:
        return
    # Paid already (its notification then refunds it), or unknown (expiry closes it).
    with suppress(GatewayRequestConflict, RemoteUnavailable):
        c.gateway.close(order.payment_request_no)
    raise Conflict("订单已取消，未发起付款", code="order_closed")


def complete_payment(c: Container, order_number: str, *, transaction_id: str | None,
                     offline_source: str | None = None,
                     texts: Sequence[tuple[str, SmsText]] = (),
                     items: Sequence[OrderItem] | None = None) -> Order:
    """Mark the order paid and issue its policies, once. Safe to call again and concurrently:
    the order row is locked and a paid order is left as it is. Offline methods name the ledger
    account the money came from (``employer:<code>``, ``counter_cash:<city>``). ``texts``
    (phone, template and parameters) are queued in the transaction that issues the order, or
    after it when another call (settling the order on a read) issued it first. ``items``: the
    order's items as the caller that just wrote the order holds them (items never change once
    written), so they are not read again."""
    done = _complete_payment(c, order_number, transaction_id, offline_source, texts, items)
    if done.refund_no is not None:  # the order was closed: the money goes back
        from huiminbao.enrollment.policies import settle_refund

        settle_refund(c, done.refund_no)
        return order_reading.load_order(c, order_number)
    order = done.issued
    if order is None:
        if texts:  # another call (a read of the order) issued it first; the texts still go
            with c.db.transaction() as session:
                for phone, text in texts:
                    c.sms.send(session, phone, text.template, text.params)
        return order_reading.load_order(c, order_number)
    events.order_issued(c, order)  # notices to insured relatives and to a grant's principal
    return order


@dataclass(frozen=True)
class Completion:
    """What one completion did: issued the order (``issued``, with its items and their new
    policies), found it issued already (neither), or found it closed and booked the money that
    arrived to go back (``refund_no``)."""

    issued: Order | None = None
    refund_no: str | None = None


def _complete_payment(c: Container, order_number: str, transaction_id: str | None,
                      offline_source: str | None = None,
                      texts: Sequence[tuple[str, SmsText]] = (),
                      known_items: Sequence[OrderItem] | None = None) -> Completion:
    """The transition itself, in one transaction: a pending order is issued by one conditional
    UPDATE (which takes its row lock, so a concurrent completion, cancel or expiry waits and then
    finds it issued); one that was not pending is examined under its lock."""
    now = c.clock.now()
    with c.db.transaction() as session:
        issued = session.execute(_ISSUE_PENDING, {
            "number": order_number, "at": now, "gateway_transaction": transaction_id,
        }).one_or_none()
        if issued is None:
            order = _locked_order(session, order_number)
            status = OrderStatus(order.status)
            if status.is_closed:
                return Completion(refund_no=hold_stray_payment(c, session, order, now))
            return Completion()  # paid, issued or refunded already
        # Plain objects, never added to the session: written by Core statements below (the
        # unit of work cost more than it gave on the enrollment hot path), read by the answer.
        order = Order(**issued._mapping)
        items = list(known_items) if known_items is not None else [
            OrderItem(**row._mapping)
            for row in session.execute(_ITEMS_OF_ORDER, {"order_id": order.id})]
        set_committed_value(order, "items", items)
        product = c.products.get(order.product_id) or session.get(Product, order.product_id)
        assert product is not None
        _post_payment(session, order, product, now, offline_source)
        policies = [dict(
            policy_no=numbers.policy_no(product.year), order_item_id=item.id,
            product_id=product.id, insured_person_id=item.insured_person_id,
            holder_person_id=order.buyer_person_id, payer_person_id=order.payer_person_id,
            tier_code=item.tier_code, premium_fen=item.premium_fen, subsidy_fen=item.subsidy_fen,
            coverage_starts_on=product.coverage_starts_on,
            coverage_ends_on=product.coverage_ends_on, status=PolicyStatus.ACTIVE.value,
            issued_at=now, auto_renew=False) for item in items]
        policy_ids = session.execute(_INSERT_POLICIES, policies).scalars().all()
        for item, values, policy_id in zip(items, policies, policy_ids, strict=True):
            set_committed_value(item, "policy", Policy(id=policy_id, **values))  # the answer
        audit.record(session, c.clock, AuditEntry(
            action="order.paid", actor=AuditActor(order.buyer_account_id),
            subject_person_id=order.buyer_person_id, grant_id=order.acted_for_grant_id,
            object_type="order", object_id=order.order_no,
            details={"payable_fen": order.payable_fen, "method": order.payment_method},
        ))
        for phone, text in texts:
            c.sms.send(session, phone, text.template, text.params)
        answer_with_resource(session, f"order:{order.order_no}")  # the enrollment's answer
    return Completion(issued=order)


# Paid, then issued at once: both transitions are checked (here, once), one UPDATE is written.
_ISSUED = transition(transition(OrderStatus.PENDING_PAYMENT, OrderStatus.PAID),
                     OrderStatus.ISSUED)
_ORDERS, _ITEMS = table_of(Order), table_of(OrderItem)
_ISSUE_PENDING = (
    update(_ORDERS)
    .where(_ORDERS.c.order_no == bindparam("number"),
           _ORDERS.c.status == OrderStatus.PENDING_PAYMENT.value)
    .values(status=_ISSUED.value, paid_at=bindparam("at"), issued_at=bindparam("at"),
            gateway_transaction_id=bindparam("gateway_transaction"))
    .returning(*_ORDERS.c))
_ITEMS_OF_ORDER = select(*_ITEMS.c).where(_ITEMS.c.order_id == bindparam("order_id")).order_by(
    _ITEMS.c.id)
_INSERT_POLICIES = insert(table_of(Policy)).returning(table_of(Policy).c.id,
                                                      sort_by_parameter_order=True)


def hold_stray_payment(c: Container, session: Session, order: Order, now: datetime) -> str:
    """Money arrived for an order already closed (cancelled or expired while the payment was
    on its way): book it as received for return, never as premium, and queue its refund, in the
    caller's transaction (which holds the order's lock). Once per order: a second arrival (a
    duplicate notification, a reconcile run) finds the refund and returns its number."""
    existing = session.scalars(select(Refund.refund_no).where(
        Refund.order_id == order.id, Refund.policy_id.is_(None))).first()
    if existing is not None:
        return existing
    method = PaymentMethod(order.payment_method)
    if method is PaymentMethod.PERSONAL_ACCOUNT:
        assert order.payer_person_id is not None
        source = ledger.personal_account(order.payer_person_id)
    elif method is PaymentMethod.ONLINE:
        source = ledger.GATEWAY
    else:  # subsidy and off-line money is recorded by us, never "arrives": nothing to hold
        raise RuleViolation("订单已关闭，不能再记录缴费", code="order_closed")
    log.warning("payment arrived for closed order %s (%s): refunding it",
                order.order_no, order.status)
    ledger.post(session, kind="payment", reference=f"pay:{order.order_no}",
                order_no=order.order_no, purpose="订单关闭后到账的款项（待退回）",
                moves=[(ledger.STRAY_PAYMENTS, order.payable_fen), (source, -order.payable_fen)],
                now=now)
    refund_no = numbers.stray_refund_no(order.order_no)
    session.add(Refund(refund_no=refund_no, order_id=order.id, policy_id=None,
                       payment_method=order.payment_method, amount_fen=order.payable_fen,
                       subsidy_fen=0, status="pending", created_at=now))
    order.refunded_fen = order.payable_fen
    audit.record(session, c.clock, AuditEntry(
        action="order.stray_payment", actor=AuditActor(order.buyer_account_id),
        subject_person_id=order.buyer_person_id, grant_id=order.acted_for_grant_id,
        object_type="order", object_id=order.order_no,
        details={"refund_fen": order.payable_fen, "status": order.status},
    ))
    return refund_no


def _post_payment(session: Session, order: Order, product: Product, now: datetime,
                  offline_source: str | None = None) -> None:
    method = PaymentMethod(order.payment_method)
    moves: list[tuple[str, int]] = [(ledger.premium_income(product.id), order.premium_fen)]
    if order.subsidy_fen:  # out of each payer's fund (enrollment.subsidy_funds)
        moves += subsidy_funds.payment_moves(session, order, product.city_code)
    if order.payable_fen:
        if method is PaymentMethod.PERSONAL_ACCOUNT:
            assert order.payer_person_id is not None
            moves.append((ledger.personal_account(order.payer_person_id), -order.payable_fen))
        elif method.is_offline:
            # employer:<code> or counter_cash:<city>: the account's prefix is the method itself.
            if offline_source is None or not offline_source.startswith(f"{method.value}:"):
                raise ValueError(f"order {order.order_no}: {method.value} needs its source")
            moves.append((offline_source, -order.payable_fen))
        else:
            moves.append((ledger.GATEWAY, -order.payable_fen))
    ledger.post(session, kind="payment", reference=f"pay:{order.order_no}",
                order_no=order.order_no, purpose=f"{product.name}保费", moves=moves, now=now)


def close_unpaid(c: Container, order_number: str, target: OrderStatus, reason: str) -> Order:
    """Cancel or expire a pending order and release its persons and subsidies."""
    now = c.clock.now()
    with c.db.transaction() as session:
        order = _locked_order(session, order_number)
        if OrderStatus(order.status) is not OrderStatus.PENDING_PAYMENT:
            return order
        order.status = transition(OrderStatus.PENDING_PAYMENT, target).value
        order.closed_at, order.failure_reason = now, reason
        _release(session, order.items)
        audit.record(session, c.clock, AuditEntry(
            action=f"order.{target.value}", actor=AuditActor(order.buyer_account_id),
            subject_person_id=order.buyer_person_id, object_type="order",
            object_id=order.order_no, details={"reason": reason},
        ))
    return order_reading.load_order(c, order_number)


def _release(session: Session, items: Sequence[OrderItem]) -> None:
    item_ids = [item.id for item in items]
    session.execute(update(OrderItem).where(OrderItem.id.in_(item_ids)).values(holds_place=False))
    session.execute(update(SubsidyUse).where(SubsidyUse.order_item_id.in_(item_ids))
                    .values(active=False))


def _locked_order(session: Session, order_number: str) -> Order:
    order = session.scalars(
        select(Order).where(Order.order_no == order_number)
        .with_for_update(of=Order).execution_options(populate_existing=True)).one_or_none()
    if order is None:
        raise NotFound("未找到该订单")
    return order
