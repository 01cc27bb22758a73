"""``huiminbao reconcile``: settle what is unsettled, heal what can be healed, check the money
in both directions, and keep a record of the run for the console.

1. Orders still waiting for a payment outcome are settled by asking the registry or gateway
   with their request number (completed, or released) — never paid again.
2. Money that moved for an order already closed (the payment landed after a cancellation or an
   expiry, and the process that saw it died) is booked and refunded, once. Healing is reported as
   a violation of the run that healed it: something went wrong before it; the next run is clean.
3. Refunds not yet confirmed are sent again with their own refund number.
4. Checks, each reported as a violation when it fails:
   - our side: every ledger transaction sums to zero; each product's premium income equals the
     premiums of its issued, unrefunded policies; each issued order was paid exactly once at its
     source, for exactly its amount; at most one live policy per insured person and product;
     every registry account equals its entries; every claim payout booked once;
   - their side: every successful registry debit and gateway payment on the statements belongs
     to exactly one issued order of the same amount, or to a closed order whose money went back;
     every refund on the statements is one of ours, settled, for the same amount;
   - the ledger's sources: every payment transaction has its order, every refund transaction its
     settled refund, every refund a cancelled policy or a closed order, and money held for
     return (``stray_payments``) equals the refunds of closed orders still on their way.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import func, select

from huiminbao.core.container import Container
from huiminbao.enrollment import completing, policies, resolving, subsidy_funds
from huiminbao.enrollment.domain import OrderStatus, PaymentMethod
from huiminbao.enrollment.models import Order, Policy, ReconcileRun, Refund
from huiminbao.payments import ledger
from huiminbao.payments.gateway.port import GatewayUnavailable
from huiminbao.registry.port import OperationKind, OperationStatus, RegistryUnavailable

log = logging.getLogger(__name__)

CHUNK = 1000
KEEP_RUNS = 200  # the console shows the latest runs; older ones are of no use to anyone


@dataclass
class ReconcileReport:
    settled_orders: dict[str, str] = field(default_factory=dict)  # order_no -> new status
    settled_refunds: dict[str, str] = field(default_factory=dict)
    healed: dict[str, str] = field(default_factory=dict)  # order_no -> refund_no of stray money
    violations: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.violations

    def format(self) -> str:
        lines = [f"已处理待定订单 {len(self.settled_orders)} 笔，"
                 f"退款 {len(self.settled_refunds)} 笔，"
                 f"退回关闭订单的到账款项 {len(self.healed)} 笔"]
        lines += [f"  订单 {no} → {status}" for no, status in self.settled_orders.items()]
        lines += [f"  退款 {no} → {status}" for no, status in self.settled_refunds.items()]
        lines += [f"  订单 {no} 的到账款项 → 退款 {refund}" for no, refund in self.healed.items()]
        if self.violations:
            lines.append(f"发现 {len(self.violations)} 处不一致：")
            lines += [f"  {violation}" for violation in self.violations]
        else:
            lines.append("账实一致：未发现任何不一致")
        return "\n".join(lines)


@dataclass(frozen=True)
class _Arrival:
    """Money the payment side says arrived under one of our request numbers."""

    request_no: str
    amount_fen: int
    source: str  # 个人账户 or 在线支付, for the report


def reconcile(c: Container, *, record: bool = True) -> ReconcileReport:
    """One run. A failure on one order or refund is reported and the run goes on; a failure of
    a whole step is reported too; either way the run is recorded, so the console never shows an
    old "all clear" after a run that broke."""
    started = c.clock.now()
    report = ReconcileReport()
    try:
        _settle_and_check(c, report)
    except Exception as exc:
        log.exception("reconcile stopped early")
        report.violations.append(f"对账中断：{type(exc).__name__}，请检查日志后重新运行")
        raise
    finally:
        if record:
            _record(c, started, report)
    return report


def _settle_and_check(c: Container, report: ReconcileReport) -> None:
    with c.db.read() as session:
        pending = session.scalars(select(Order.order_no).where(
            Order.status == OrderStatus.PENDING_PAYMENT.value)).all()
    for order_no in pending:
        with _each(report, f"订单 {order_no}"):
            order = resolving.resolve_pending(c, order_no)
            if order.status != OrderStatus.PENDING_PAYMENT.value:
                report.settled_orders[order_no] = order.status

    arrivals, their_refunds, unreachable = _statements(c)
    report.violations += unreachable
    _heal_stray_payments(c, arrivals, report)

    with c.db.read() as session:
        unsettled = session.scalars(select(Refund.refund_no).where(
            Refund.status == "pending")).all()
    for refund_no in unsettled:
        with _each(report, f"退款 {refund_no}"):
            refund = policies.settle_refund(c, refund_no)
            if refund.status != "pending":
                report.settled_refunds[refund_no] = refund.status

    report.violations += _check(c)
    report.violations += _check_arrivals(c, arrivals)
    report.violations += _check_their_refunds(c, their_refunds)
    report.violations += _check_ledger_sources(c)


@contextmanager
def _each(report: ReconcileReport, what: str) -> Iterator[None]:
    """One item's settling: its failure is a violation of this run, not the end of it."""
    try:
        yield
    except Exception as exc:
        log.exception("reconcile could not settle %s", what)
        report.violations.append(f"{what} 本次未能处理（{type(exc).__name__}），下次对账将重试")


# ---------------------------------------------------------------- their side


def _statements(c: Container) -> tuple[list[_Arrival], dict[str, int], list[str]]:
    """Successful debits and payments, and refunds (refund number → amount), as the registry
    and the gateway report them."""
    arrivals: list[_Arrival] = []
    refunds: dict[str, int] = {}
    unreachable: list[str] = []
    try:
        for operation in c.registry.statement():
            if operation.status is not OperationStatus.SUCCEEDED:
                continue
            if operation.kind is OperationKind.DEBIT:
                arrivals.append(_Arrival(operation.request_no, operation.amount_fen, "个人账户"))
            else:
                refunds[operation.request_no] = operation.amount_fen
    except RegistryUnavailable:
        unreachable.append("医保平台对账单暂时无法获取，本次未核对个人账户扣款")
    try:
        statement = c.gateway.statement()
        for payment in statement.payments:
            arrivals.append(_Arrival(payment.out_trade_no, payment.amount_fen, "在线支付"))
        for refund in statement.refunds:
            refunds[refund.out_refund_no] = refund.amount_fen
    except GatewayUnavailable:
        unreachable.append("支付平台对账单暂时无法获取，本次未核对在线支付")
    return arrivals, refunds, unreachable


def _orders_by_request_no(c: Container, request_numbers: Iterable[str]) -> dict[str, Order]:
    numbers = sorted(set(request_numbers))
    found: dict[str, Order] = {}
    with c.db.read() as session:
        for start in range(0, len(numbers), CHUNK):
            chunk = numbers[start:start + CHUNK]
            for order in session.scalars(select(Order).where(
                    Order.payment_request_no.in_(chunk))):
                found[order.payment_request_no] = order
    return found


def _stray_refunds(c: Container, order_ids: Sequence[int]) -> dict[int, Refund]:
    found: dict[int, Refund] = {}
    with c.db.read() as session:
        for start in range(0, len(order_ids), CHUNK):
            for refund in session.scalars(select(Refund).where(
                    Refund.order_id.in_(order_ids[start:start + CHUNK]),
                    Refund.policy_id.is_(None))):
                found[refund.order_id] = refund
    return found


def _heal_stray_payments(c: Container, arrivals: Sequence[_Arrival],
                         report: ReconcileReport) -> None:
    """Money that arrived for a closed order and was never booked to go back: book it and send
    it back now (the completion path does exactly this; it is idempotent per order)."""
    orders = _orders_by_request_no(c, (arrival.request_no for arrival in arrivals))
    closed = [order for order in orders.values() if OrderStatus(order.status).is_closed]
    held = _stray_refunds(c, [order.id for order in closed])
    for order in closed:
        if order.id in held:
            continue
        with _each(report, f"订单 {order.order_no} 的到账款项"):
            completing.complete_payment(c, order.order_no, transaction_id=None)
        refund = _stray_refunds(c, [order.id]).get(order.id)
        report.healed[order.order_no] = refund.refund_no if refund else "—"
        report.violations.append(
            f"订单 {order.order_no} 已{OrderStatus(order.status).label}，但款项 "
            f"{order.payable_fen} 分已到账且未退回：已发起退款"
            f"{f' {refund.refund_no}（{refund.status}）' if refund else ''}")


def _check_arrivals(c: Container, arrivals: Sequence[_Arrival]) -> list[str]:
    violations: list[str] = []
    orders = _orders_by_request_no(c, (arrival.request_no for arrival in arrivals))
    held = _stray_refunds(c, [order.id for order in orders.values()
                              if OrderStatus(order.status).is_closed])
    for arrival in arrivals:
        order = orders.get(arrival.request_no)
        if order is None:
            violations.append(f"{arrival.source}到账 {arrival.request_no} "
                              f"（{arrival.amount_fen} 分）没有对应的订单")
            continue
        status = OrderStatus(order.status)
        if status is OrderStatus.PENDING_PAYMENT:
            violations.append(f"订单 {order.order_no} 的款项已到账，但订单仍待支付")
        elif status.is_closed:
            refund = held.get(order.id)
            if refund is None or refund.status != "succeeded":
                state = "未发起" if refund is None else refund.status
                violations.append(f"订单 {order.order_no} 已关闭，到账的 {arrival.amount_fen} 分"
                                  f"尚未退回（退款{state}）")
            elif refund.amount_fen != arrival.amount_fen:
                violations.append(f"订单 {order.order_no} 退回 {refund.amount_fen} 分，"
                                  f"与到账的 {arrival.amount_fen} 分不符")
        elif arrival.amount_fen != order.payable_fen:
            violations.append(f"订单 {order.order_no} 到账 {arrival.amount_fen} 分与应付 "
                              f"{order.payable_fen} 分不符")
    return violations


def _check_their_refunds(c: Container, their_refunds: dict[str, int]) -> list[str]:
    numbers = sorted(their_refunds)
    ours: dict[str, Refund] = {}
    with c.db.read() as session:
        for start in range(0, len(numbers), CHUNK):
            for refund in session.scalars(select(Refund).where(
                    Refund.refund_no.in_(numbers[start:start + CHUNK]))):
                ours[refund.refund_no] = refund
    violations: list[str] = []
    for number, amount in their_refunds.items():
        ours_of = ours.get(number)
        if ours_of is None:
            violations.append(f"退款 {number}（{amount} 分）没有对应的退款记录")
        elif ours_of.amount_fen != amount:
            violations.append(f"退款 {number} 退回 {amount} 分，记录为 {ours_of.amount_fen} 分")
        elif ours_of.status != "succeeded":
            # The money went back; our record has not heard yet (settled on the next run).
            violations.append(f"退款 {number} 已退回，但退款记录仍为 {ours_of.status}")
    return violations


# ---------------------------------------------------------------- our side


def _check_ledger_sources(c: Container) -> list[str]:
    violations: list[str] = []
    with c.db.read() as session:
        orders = {order_no: (status, order_id) for order_no, status, order_id in session.execute(
            select(Order.order_no, Order.status, Order.id).where(Order.order_no.in_(
                select(ledger.LedgerTransaction.order_no).where(
                    ledger.LedgerTransaction.kind == "payment"))))}
        payments = session.scalars(select(ledger.LedgerTransaction.reference).where(
            ledger.LedgerTransaction.kind == "payment")).all()
        refund_refs = session.scalars(select(ledger.LedgerTransaction.reference).where(
            ledger.LedgerTransaction.kind == "refund")).all()
        refunds = {no: (status, policy_id) for no, status, policy_id in session.execute(
            select(Refund.refund_no, Refund.status, Refund.policy_id))}
        stray_orders = {order_id for (order_id,) in session.execute(
            select(Refund.order_id).where(Refund.policy_id.is_(None)))}
        misplaced = session.execute(
            select(Refund.refund_no).outerjoin(Policy, Policy.id == Refund.policy_id)
            .join(Order, Order.id == Refund.order_id)
            .where(((Refund.policy_id.is_not(None)) & (Policy.status != "cancelled"))
                   | ((Refund.policy_id.is_(None)) & Order.status.not_in(
                       [OrderStatus.CANCELLED.value, OrderStatus.EXPIRED.value])))).all()
        violations += [f"退款 {no} 既不属于已退保的保单，也不属于已关闭的订单"
                       for (no,) in misplaced]
        held = ledger.balance(session, ledger.STRAY_PAYMENTS)
        due = int(session.scalar(select(func.coalesce(func.sum(Refund.amount_fen), 0)).where(
            Refund.policy_id.is_(None), Refund.status != "succeeded")) or 0)
    for reference in payments:
        order_no = reference.removeprefix("pay:")
        found = orders.get(order_no)
        if found is None:
            violations.append(f"缴费记账 {reference} 没有对应的订单")
            continue
        status = OrderStatus(found[0])
        if status.is_closed and found[1] not in stray_orders:
            violations.append(f"缴费记账 {reference} 的订单已关闭，却没有退款")
        elif status is OrderStatus.PENDING_PAYMENT:
            violations.append(f"缴费记账 {reference} 的订单仍待支付")
    for reference in refund_refs:
        refund = refunds.get(reference.removeprefix("refund:"))
        if refund is None or refund[0] != "succeeded":
            violations.append(f"退款记账 {reference} 没有对应的已完成退款")
    if held != due:
        violations.append(f"待退回的到账款项账面 {held} 分，与未完成的关闭订单退款 {due} 分不符")
    return violations


def _check(c: Container) -> list[str]:
    violations: list[str] = []
    with c.db.read() as session:
        unbalanced = ledger.unbalanced_transactions(session)
        violations += [f"账务交易借贷不平：{reference}" for reference in unbalanced]
        violations += ledger.coinsurance_violations(session)
        violations += subsidy_funds.fund_violations(session)

        income = dict(session.execute(
            select(ledger.LedgerEntry.account, func.sum(ledger.LedgerEntry.amount_fen))
            .where(ledger.LedgerEntry.account.like("premium_income:%"))
            .group_by(ledger.LedgerEntry.account)).all())
        expected: dict[str, int] = {}
        for product_id, premium in session.execute(
                select(Policy.product_id, func.sum(Policy.premium_fen))
                .where(Policy.status == "active").group_by(Policy.product_id)):
            expected[ledger.premium_income(product_id)] = int(premium)
        for product_id, amount in session.execute(  # cancelled, money not yet back
                select(Policy.product_id, func.sum(Refund.amount_fen + Refund.subsidy_fen))
                .join(Refund, Refund.policy_id == Policy.id)
                .where(Refund.status != "succeeded").group_by(Policy.product_id)):
            account = ledger.premium_income(product_id)
            expected[account] = expected.get(account, 0) + int(amount)
        for account in sorted(set(income) | set(expected)):
            if int(income.get(account, 0)) != expected.get(account, 0):
                violations.append(f"保费收入与有效保单不符：{account} 账面 "
                                  f"{int(income.get(account, 0))} 分，应为 "
                                  f"{expected.get(account, 0)} 分")

        doubles = session.execute(
            select(Policy.product_id, Policy.insured_person_id, func.count())
            .where(Policy.status == "active")
            .group_by(Policy.product_id, Policy.insured_person_id)
            .having(func.count() > 1)).all()
        violations += [f"同一被保险人存在多张有效保单：产品 {p} 人员 {i}" for p, i, _n in doubles]

        failed = session.execute(select(Refund.refund_no, Refund.failure_reason).where(
            Refund.status == "failed")).all()
        violations += [f"退款 {no} 未能退回（{reason}），需人工处理" for no, reason in failed]

        paid_orders = session.scalars(select(Order).where(Order.status.in_(
            [OrderStatus.ISSUED.value, OrderStatus.REFUNDED.value]))).all()
    for order in paid_orders:
        violations += _check_source(c, order)
    from huiminbao.claims.services import check_books

    violations += check_books(c)
    violations += [f"个人账户余额与流水不符：{who}" for who in c.registry.accounts_out_of_balance()]
    return violations


def _check_source(c: Container, order: Order) -> list[str]:
    method = PaymentMethod(order.payment_method)
    try:
        if method is PaymentMethod.PERSONAL_ACCOUNT:
            outcome = c.registry.query(order.payment_request_no)
            if outcome is None or outcome.status is not OperationStatus.SUCCEEDED:
                return [f"订单 {order.order_no} 已出单，但个人账户没有对应的扣款"]
            if outcome.amount_fen != order.payable_fen:
                return [f"订单 {order.order_no} 扣款金额 {outcome.amount_fen} 分与应付 "
                        f"{order.payable_fen} 分不符"]
        elif method is PaymentMethod.ONLINE:
            result = c.gateway.query(order.payment_request_no)
            if result is None or not result.trade_state.was_paid:
                return [f"订单 {order.order_no} 已出单，但支付平台没有对应的成功支付"]
            if result.amount_fen != order.payable_fen:
                return [f"订单 {order.order_no} 支付金额与应付不符"]
    except (RegistryUnavailable, GatewayUnavailable):
        return [f"订单 {order.order_no} 的付款来源暂时无法核对"]
    return []


# ---------------------------------------------------------------- the record


def _record(c: Container, started: datetime, report: ReconcileReport) -> None:
    with c.db.transaction() as session:
        session.add(ReconcileRun(
            started_at=started, finished_at=c.clock.now(), ok=report.ok,
            settled_orders=len(report.settled_orders),
            settled_refunds=len(report.settled_refunds), healed=len(report.healed),
            violations=report.violations[:500]))
        session.flush()
        stale = select(ReconcileRun.id).order_by(ReconcileRun.id.desc()).offset(KEEP_RUNS)
        for run in session.scalars(select(ReconcileRun).where(ReconcileRun.id.in_(stale))):
            session.delete(run)


def latest_runs(c: Container, limit: int = 20) -> list[ReconcileRun]:
    with c.db.read() as session:
        return list(session.scalars(
            select(ReconcileRun).order_by(ReconcileRun.id.desc()).limit(limit)))
