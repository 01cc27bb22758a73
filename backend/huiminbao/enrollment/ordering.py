"""Enrolling: an order written from a quote, then paid (personal-account debit, online pay page,
or subsidy).

Money moves outside our database (the registry's personal accounts, the payment gateway), so a
use case never holds one transaction across a remote call. The order is written first (its
unique index claims the insured persons), then the remote side is asked with the order's request
number, then the outcome is written. If the process dies in between, ``resolving`` asks the
remote side with the same number and finishes the order: money never moves twice.
"""

from __future__ import annotations

import logging

from sqlalchemy import insert, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm.attributes import set_committed_value

from huiminbao.audit import services as audit
from huiminbao.audit.services import AuditActor, AuditEntry
from huiminbao.core.container import Container
from huiminbao.core.db import table_of
from huiminbao.core.errors import (
    Conflict,
    RuleViolation,
)
from huiminbao.core.idempotency import link_resource
from huiminbao.core.masking import mask_name
from huiminbao.core.money import format_fen
from huiminbao.enrollment import completing, numbers, order_reading, quoting, subsidy_funds
from huiminbao.enrollment.completing import DEBIT_FAILED
from huiminbao.enrollment.domain import (
    UNPAID_ORDER_LIFETIME,
    OrderStatus,
    PaymentMethod,
)
from huiminbao.enrollment.models import Order, OrderItem, Refund, SubsidyUse
from huiminbao.enrollment.order_reading import OrderDetails
from huiminbao.enrollment.quoting import Confirmations, EnrollmentRequest, Quote
from huiminbao.identity import services as identity_services
from huiminbao.identity.access import Subject
from huiminbao.identity.auth import Actor
from huiminbao.identity.domain import OtpPurpose
from huiminbao.identity.sms_domain import SmsTemplate, SmsText
from huiminbao.registry.port import (
    FailureReason,
    RegistryUnavailable,
)

log = logging.getLogger(__name__)


def enroll(c: Container, actor: Actor, subject: Subject,
           request: EnrollmentRequest) -> OrderDetails:
    result = quoting.quote(c, actor, subject, request)
    _check_confirmations(c, actor, result, request.confirmations)
    order = create_order(c, actor, subject, result, payer_ip=request.payer_ip or None)
    method = result.payment_method
    if method is PaymentMethod.SUBSIDY:
        order = completing.complete_payment(c, order.order_no, transaction_id=None,
                                            items=order.items)
    elif method is PaymentMethod.PERSONAL_ACCOUNT:
        order = debit_personal_account(c, order, result)
    else:
        payment = c.gateway.create_payment(
            order.payment_request_no, order.payable_fen, f"{result.product.name}保费",
            request.notify_url, request.return_url.replace("{order_no}", order.order_no),
            expires_at=order.expires_at, payer_ip=order.payer_ip)
        completing.keep_pay_page(c, order, payment.pay_url)
        order = order_reading.load_order(c, order.order_no)
    # The quote already holds the product and the insured: the answer needs no further reads.
    return OrderDetails(order, result.product.name,
                        {line.person.id: line.person.name for line in result.lines},
                        {tier.code: tier.name for tier in result.product.tiers})


def _check_confirmations(c: Container, actor: Actor, result: Quote,
                         confirmations: Confirmations) -> None:
    terms = result.product.current_terms
    if terms is None or confirmations.terms_version != terms.version:
        raise RuleViolation("请先阅读并同意最新版保险条款", code="terms_not_agreed",
                            errors={"confirmations.terms_version": ["请阅读并同意保险条款"]})
    if not confirmations.not_basic_insurance:
        raise RuleViolation("请确认已知晓本产品为商业保险，不是基本医疗保险",
                            code="notice_not_confirmed",
                            errors={"confirmations.not_basic_insurance": ["请勾选确认"]})
    if result.payment_method is not PaymentMethod.PERSONAL_ACCOUNT:
        return
    if confirmations.debit_amount_fen != result.payable_fen:
        raise RuleViolation(
            f"扣款金额已变化，请重新确认：本次将从个人账户扣除{format_fen(result.payable_fen)}",
            code="amount_not_confirmed",
            errors={"confirmations.debit_amount_fen": ["请确认扣款金额"]})
    if result.shortfall_fen > 0:
        raise RuleViolation(
            f"个人账户可用余额不足，还差{format_fen(result.shortfall_fen)}。"
            "您可以选择在线支付", code="insufficient_balance")
    if result.needs_sms_code:
        # The owner confirms: a code texted to the phone the registry holds for them.
        phone = quoting.owner_phone(result)
        if not confirmations.sms_code:
            raise RuleViolation("为保障资金安全，请获取发送至账户本人医保登记手机号的短信验证码，"
                                "输入后确认扣款", code="sms_code_required",
                                errors={"confirmations.sms_code": ["请输入短信验证码"]})
        with c.db.transaction() as session:
            check = identity_services.consume_code(
                c, session, phone, OtpPurpose.CONFIRM_PAYMENT, confirmations.sms_code,
                context=quoting.debit_context(result))
        if not check.accepted:
            raise RuleViolation(check.message, code=check.error_code,
                                errors={"confirmations.sms_code": [check.message]})


def create_order(c: Container, actor: Actor, subject: Subject, result: Quote, *,
                 channel: str | None = None, payer_ip: str | None = None) -> Order:
    now = c.clock.now()
    product = result.product
    terms = product.current_terms
    assert terms is not None
    order_number = numbers.order_no(now)
    values = dict(
        order_no=order_number, product_id=product.id, buyer_account_id=actor.account_id,
        buyer_person_id=subject.person_id, payer_person_id=result.payer_person_id,
        acted_for_grant_id=subject.grant_id,
        channel=channel or ("proxy" if subject.acting_for else "self"),
        status=OrderStatus.PENDING_PAYMENT.value, payment_method=result.payment_method.value,
        premium_fen=result.premium_fen, subsidy_fen=result.subsidy_fen,
        payable_fen=result.payable_fen, refunded_fen=0, terms_version=terms.version,
        payment_request_no=order_number, created_at=now, expires_at=now + UNPAID_ORDER_LIFETIME,
        payer_ip=payer_ip[:45] if payer_ip else None,
    )
    item_values = [dict(
        product_id=product.id, insured_person_id=line.person.id, tier_code=line.tier.code,
        premium_fen=line.premium_fen, subsidy_fen=line.subsidy_fen, holds_place=True,
        relation=line.relation) for line in result.lines]
    try:
        with c.db.transaction() as session:
            if subject.acting_for and result.payment_method is PaymentMethod.PERSONAL_ACCOUNT:
                # Proxy: locks the grant row until this order commits, so payments
                # under one grant are checked against its yearly limit one at a time.
                c.grants.check_payment_allowed(c, session, subject.grant_id,
                                               result.payable_fen, lock=True)
            # Core INSERTs (the unit of work cost more than it gave on the hot path); the
            # order and its items are plain objects for the caller, never added to a session.
            order = Order(id=session.execute(_INSERT_ORDER, values).scalar_one(), **values)
            rows = [{**item, "order_id": order.id} for item in item_values]
            item_ids = session.execute(_INSERT_ITEMS, rows).scalars().all()
            set_committed_value(order, "items", [
                OrderItem(id=item_id, **row) for item_id, row in zip(item_ids, rows, strict=True)])
            link_resource(session, f"order:{order.order_no}")  # a retry answers from it
            for item, line in zip(order.items, result.lines, strict=True):
                if line.subsidy_fen:
                    session.add(SubsidyUse(
                        person_id=line.person.id, year=product.year, order_item_id=item.id,
                        amount_fen=line.subsidy_fen, active=True, created_at=now,
                        fund_account=subsidy_funds.online_fund_account(
                            session, product.city_code, line.registry_person)))
            audit.record(session, c.clock, AuditEntry(
                action="order.create", actor=AuditActor(actor.account_id, actor.role.value),
                subject_person_id=subject.person_id,
                acting_for_person_id=subject.person_id if subject.acting_for else None,
                grant_id=subject.grant_id, object_type="order", object_id=order_number,
                details={"payable_fen": result.payable_fen, "method": result.payment_method.value,
                         "insured": [mask_name(line.person.name) for line in result.lines]},
            ))
    except IntegrityError as exc:
        # Someone (this person on another phone, or a relative) got there first.
        with c.db.read() as session:
            persons = [line.person for line in result.lines]
            quoting.refuse_taken(product, persons, quoting.places_taken(
                session, product, [person.id for person in persons]))
            for line in result.lines:
                if line.subsidy_fen and quoting.has_used_subsidy(session, line.person.id,
                                                                 product.year):
                    raise RuleViolation("本年度已享受过一次政府资助参保，不能重复资助",
                                        code="subsidy_used") from exc
        raise RuleViolation("订单提交冲突，请刷新后重试", code="conflict") from exc
    return order


_INSERT_ORDER = insert(table_of(Order)).returning(table_of(Order).c.id)
_INSERT_ITEMS = insert(table_of(OrderItem)).returning(table_of(OrderItem).c.id,
                                                      sort_by_parameter_order=True)


def debit_personal_account(c: Container, written: Order, result: Quote) -> Order:
    """Debit the payer's account for the order ``create_order`` just wrote, then issue it."""
    assert result.payer is not None
    order_number = written.order_no
    insured = "、".join(mask_name(line.person.name) for line in result.lines)
    try:
        outcome = c.registry.debit(
            order_number, result.payer.id_number, result.payable_fen,
            sources=quoting.payable_sources(result.product),
            purpose=f"{result.product.name}保费（被保险人：{insured}）",
        )
    except RegistryUnavailable:
        log.warning("registry debit outcome unknown for order %s; reconcile will ask",
                    order_number)
        return order_reading.load_order(c, order_number)
    if not outcome.succeeded:
        reason = ("个人账户可用余额不足" if outcome.failure_reason is
                  FailureReason.INSUFFICIENT_BALANCE else DEBIT_FAILED)
        completing.close_unpaid(c, order_number, OrderStatus.CANCELLED, reason)
        raise RuleViolation(f"{reason}，未扣除任何费用。您可以选择在线支付",
                            code="debit_failed")
    order = completing.complete_payment(c, order_number, transaction_id=None,
                                        texts=_debit_notice(result), items=written.items)
    if OrderStatus(order.status).is_closed:
        # Cancelled (another tab) or expired while the debit was on its way: refunded.
        raise Conflict(closed_order_message(c, order), code="order_closed")
    return order


def closed_order_message(c: Container, order: Order) -> str:
    """What the payer is told when money arrived for an order that was already closed."""
    with c.db.read() as session:
        refund = session.scalars(select(Refund).where(
            Refund.order_id == order.id, Refund.policy_id.is_(None))).first()
    amount = format_fen(refund.amount_fen if refund else order.payable_fen)
    to = ("您的医保个人账户" if order.payment_method == PaymentMethod.PERSONAL_ACCOUNT.value
          else "您的付款账户")
    if refund is not None and refund.status == "succeeded":
        return f"订单在付款完成前已关闭，未能出单；已付的{amount}已原路退回{to}"
    if refund is not None and refund.status == "failed":
        return (f"订单在付款完成前已关闭，未能出单；已付的{amount}未能自动退回，"
                "工作人员将人工处理，如有疑问请联系承保公司客服")
    return f"订单在付款完成前已关闭，未能出单；已付的{amount}将原路退回{to}，请留意到账通知"


def _debit_notice(result: Quote) -> list[tuple[str, SmsText]]:
    """The account owner hears of every debit, sent with the order's completion."""
    assert result.payer is not None
    if not result.payer.phone:
        return []
    insured = "、".join(mask_name(line.person.name) for line in result.lines)
    return [(result.payer.phone, SmsText(SmsTemplate.DEBIT_NOTICE, {
        "product": result.product.name, "amount": format_fen(result.payable_fen),
        "insured": insured}))]
