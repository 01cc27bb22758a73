"""Settling orders whose payment outcome we have not heard: asking the registry or the gateway
with the order's request number, the gateway's notifications, the buyer's cancel, and a pay page
lost with its request."""

from __future__ import annotations

import logging
from collections.abc import Mapping

from sqlalchemy import select

from huiminbao.core.container import Container
from huiminbao.core.errors import (
    Busy,
    Conflict,
    NotFound,
    RemoteUnavailable,
    RuleViolation,
)
from huiminbao.enrollment import completing, order_reading
from huiminbao.enrollment.completing import DEBIT_FAILED
from huiminbao.enrollment.domain import (
    PAYMENT_ATTEMPT_WINDOW,
    OrderStatus,
    PaymentMethod,
)
from huiminbao.enrollment.models import Order, Refund
from huiminbao.enrollment.order_reading import OrderDetails
from huiminbao.identity.auth import Actor
from huiminbao.payments.gateway.port import (
    GatewayError,
    GatewayRequestConflict,
    GatewayUnavailable,
    RefundNotification,
    TradeNotFound,
    TradeState,
)
from huiminbao.registry.port import (
    RegistryUnavailable,
)

log = logging.getLogger(__name__)


NEVER_SENT = "支付未完成，订单已关闭，未扣除任何费用"


PAYMENT_CLOSED = "支付已关闭，订单已取消，未扣除任何费用"


EXPIRED = "超过30分钟未支付，订单已关闭"


PAYMENT_UNKNOWN = "暂时无法确认该订单的付款结果，请稍后再试"


OFFLINE_INTERRUPTED = "办理中断，订单已关闭，未记录任何缴费，请重新办理"


PAYMENT_IN_PROGRESS = "该订单正在从医保个人账户扣款，请稍后刷新查看结果"


PAID_NOT_CANCELLED = "该订单已付款成功并已出单，不能取消。如需退保，请在“我的保单”中办理"


def resolve_pending(c: Container, order_number: str, *, abandoned: bool = False) -> Order:
    """Settle an order whose payment outcome we have not heard: ask the registry or the gateway
    with the order's request number (never pay again), then complete it, or release it when the
    payment failed, never reached the payment side, or expired.

    ``abandoned``: the request that wrote the order is known to be gone (its Idempotency-Key
    lease ran out), so a payment the other side has not heard of is not still on its way.
    Otherwise that is assumed only after ``PAYMENT_ATTEMPT_WINDOW``. A remote side that does
    not answer leaves the order as it is, for the next read or reconcile."""
    order = order_reading.load_order(c, order_number)
    if OrderStatus(order.status) is not OrderStatus.PENDING_PAYMENT:
        return order
    now = c.clock.now()
    expired = now >= order.expires_at
    unheard = abandoned or expired or now >= order.created_at + PAYMENT_ATTEMPT_WINDOW
    closed_as = OrderStatus.EXPIRED if expired else OrderStatus.CANCELLED
    method = PaymentMethod(order.payment_method)
    try:
        if method is PaymentMethod.PERSONAL_ACCOUNT:
            outcome = c.registry.query(order.payment_request_no)
            if outcome is not None and outcome.succeeded:
                return completing.complete_payment(c, order_number, transaction_id=None)
            if outcome is not None:
                return completing.close_unpaid(c, order_number, OrderStatus.CANCELLED, DEBIT_FAILED)
            if unheard:
                return completing.close_unpaid(c, order_number, closed_as,
                                               EXPIRED if expired else NEVER_SENT)
        elif method is PaymentMethod.ONLINE:
            result = c.gateway.query(order.payment_request_no)
            if result is not None and result.trade_state.was_paid:
                return completing.complete_payment(c, order_number,
                                                   transaction_id=result.transaction_id)
            if result is None and unheard:  # the gateway never got it: nothing can be paid
                return completing.close_unpaid(c, order_number, closed_as,
                                               EXPIRED if expired else NEVER_SENT)
            if result is not None and result.trade_state is TradeState.CLOSED:
                # Closed at the gateway (e.g. a cancel whose answer was lost): never payable.
                return completing.close_unpaid(c, order_number, closed_as,
                                    EXPIRED if expired else PAYMENT_CLOSED)
            if expired:
                try:
                    c.gateway.close(order.payment_request_no)
                except GatewayRequestConflict:  # paid in the meantime: take the payment
                    return resolve_pending(c, order_number)
        elif method is PaymentMethod.SUBSIDY and unheard and not expired:
            # Nothing remote to ask: the crash came between writing and completing it.
            return completing.complete_payment(c, order_number, transaction_id=None)
        elif method.is_offline and unheard and not expired:
            # Staff-recorded money (cash at a counter, an employer's transfer) is booked only at
            # completion: an interrupted one booked nothing, and staff enroll the person again.
            return completing.close_unpaid(c, order_number, OrderStatus.CANCELLED,
                                           OFFLINE_INTERRUPTED)
    except (RegistryUnavailable, GatewayUnavailable):
        log.warning("payment side unavailable while settling order %s; left pending",
                    order_number)
        return order
    if expired:
        return completing.close_unpaid(c, order_number, OrderStatus.EXPIRED, EXPIRED)
    return order


def read_order(c: Container, actor: Actor, order_number: str) -> OrderDetails:
    """One order, for its buyer or whoever may act for the buyer (others get 404, before anything
    else happens). A pending order is first settled with what the payment side already decided
    (``resolve_pending``: asked with the order's own request number, so nothing is paid or
    charged by reading); a settled order is answered as it is."""
    details = order_reading.order_details(c, actor, order_number)
    if OrderStatus(details.order.status) is not OrderStatus.PENDING_PAYMENT:
        return details
    resolve_pending(c, order_number)
    return order_reading.order_details(c, actor, order_number)


def resume_order(c: Container, actor: Actor, order_number: str, notify_url: str,
                 return_url: str) -> OrderDetails:
    """A retried enrollment whose first attempt died after writing its order (its
    Idempotency-Key lease ran out): the gate first, as for a read; an online order gets the pay
    page the first attempt never kept (the payer retried because they want to pay); then the
    order is settled knowing its request is gone, and answered as the enrollment is."""
    order_reading.order_details(c, actor, order_number)
    recover_pay_page(c, order_number, notify_url, return_url)
    resolve_pending(c, order_number, abandoned=True)
    return order_reading.order_details(c, actor, order_number)


def recover_pay_page(c: Container, order_number: str, notify_url: str, return_url: str) -> None:
    """An online order whose pay page was lost with its request (written, then a crash before
    the gateway's answer was kept): ask the gateway again with the same number — creating a
    payment is idempotent per out_trade_no — and keep the page, so the payer can pay. The
    parameters are the order's own (its expiry, the payer's first address), so the repeat is
    the same request as the first."""
    order = order_reading.load_order(c, order_number)
    if (order.pay_url or order.payment_method != PaymentMethod.ONLINE.value
            or OrderStatus(order.status) is not OrderStatus.PENDING_PAYMENT):
        return
    product = c.products.get(order.product_id)
    description = f"{product.name}保费" if product else "保费"
    try:
        payment = c.gateway.create_payment(order.payment_request_no, order.payable_fen,
                                           description, notify_url,
                                           return_url.replace("{order_no}", order_number),
                                           expires_at=order.expires_at, payer_ip=order.payer_ip)
    except GatewayError as exc:
        # Unavailable, a conflict, or a refusal (logged by the adapter): the next retry or read
        # tries again; expiry closes it in the end.
        log.warning("pay page of order %s not recovered: %s", order_number, exc)
        return
    completing.keep_pay_page(c, order, payment.pay_url)


def cancel_unpaid(c: Container, actor: Actor, order_number: str) -> Order:
    """The buyer cancels an unpaid order. The payment side is asked first: an order whose money
    already moved is completed instead (the buyer is told, and may cancel the policy), and one
    whose debit may still be on its way is not closed under it."""
    details = order_reading.order_details(c, actor, order_number)
    order = details.order
    if OrderStatus(order.status) is not OrderStatus.PENDING_PAYMENT:
        raise RuleViolation("只有待支付的订单可以取消", code="not_pending")
    method = PaymentMethod(order.payment_method)
    paid = False
    try:
        if method is PaymentMethod.PERSONAL_ACCOUNT:
            outcome = c.registry.query(order.payment_request_no)
            paid = outcome is not None and outcome.succeeded
            if outcome is None and c.clock.now() < order.created_at + PAYMENT_ATTEMPT_WINDOW:
                raise Conflict(PAYMENT_IN_PROGRESS, code="payment_in_progress")
        elif method is PaymentMethod.ONLINE:
            try:
                c.gateway.close(order.payment_request_no)
            except GatewayRequestConflict:  # paid after all
                paid = True
            except TradeNotFound:
                pass  # the payment never reached the gateway: nothing there to close
    except RemoteUnavailable as exc:
        raise Busy(PAYMENT_UNKNOWN, code="payment_unknown") from exc
    if paid:
        # Never closed with the money kept: completed instead, and the buyer told so. If the
        # payment side cannot confirm it just now, the order stays as it is for now.
        settled = resolve_pending(c, order_number)
        if OrderStatus(settled.status) is OrderStatus.ISSUED:
            raise Conflict(PAID_NOT_CANCELLED, code="order_paid")
        raise Busy(PAYMENT_UNKNOWN, code="payment_unknown")
    return completing.close_unpaid(c, order_number, OrderStatus.CANCELLED, "已由您取消")


def handle_gateway_notification(c: Container, body: bytes,
                                headers: Mapping[str, str] | None = None) -> Order:
    """The gateway's signed notification (its body, and its HTTP headers, which carry WeChat Pay
    v3's signature): verify signature, order and amount, then complete (idempotent: duplicates
    and concurrent deliveries complete the order once). A refund notification settles the
    refund by asking the gateway again with its own refund number."""
    notification = c.gateway.verify_notification(body, headers or {})
    if isinstance(notification, RefundNotification):
        return _handle_refund_notification(c, notification)
    with c.db.read() as session:
        order = session.scalars(select(Order).where(
            Order.payment_request_no == notification.out_trade_no)).one_or_none()
    if order is None:
        raise NotFound("未找到该订单")
    if order.payment_method != PaymentMethod.ONLINE.value:
        raise RuleViolation("订单支付方式不符", code="method_mismatch")
    if notification.amount_fen != order.payable_fen:
        log.error("gateway notification amount %s differs from order %s payable %s",
                  notification.amount_fen, order.order_no, order.payable_fen)
        raise RuleViolation("支付金额与订单金额不符", code="amount_mismatch")
    if notification.trade_state != TradeState.SUCCESS:
        return order
    # Trust, but verify: the gateway's own record must agree before we issue anything.
    confirmed = c.gateway.query(notification.out_trade_no)
    if confirmed is None or not confirmed.trade_state.was_paid \
            or confirmed.amount_fen != order.payable_fen:
        raise RuleViolation("支付结果尚未确认", code="payment_unconfirmed")
    return completing.complete_payment(c, order.order_no,
                                       transaction_id=notification.transaction_id)


def _handle_refund_notification(c: Container, notification: RefundNotification) -> Order:
    """The notification only tells that the refund moved on: ``settle_refund`` asks the gateway
    with the same refund number (idempotent) and books what the gateway's own record says."""
    from huiminbao.enrollment.policies import settle_refund

    with c.db.read() as session:
        refund = session.scalars(select(Refund).where(
            Refund.refund_no == notification.out_refund_no)).one_or_none()
    if refund is None:
        raise NotFound("未找到该退款")
    if refund.amount_fen != notification.amount_fen:
        log.error("gateway refund notification %s amount %s differs from refund %s",
                  notification.out_refund_no, notification.amount_fen, refund.amount_fen)
        raise RuleViolation("退款金额与退款记录不符", code="amount_mismatch")
    settle_refund(c, notification.out_refund_no)
    with c.db.read() as session:
        order = session.get(Order, refund.order_id)
    assert order is not None
    return order
