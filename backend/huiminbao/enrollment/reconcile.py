"""``huiminbao reconcile``: settle what is unsettled, then check the money invariants.

1. Orders still waiting for a payment outcome are settled by asking the registry or gateway
   with their request number (completed, or closed when expired) — never paid again.
2. Refunds not yet confirmed are sent again with their own refund number.
3. Checks, each reported as a violation when it fails: every ledger transaction sums to zero;
   each product's premium income equals the premiums of its issued, unrefunded policies; each
   issued order was paid exactly once at its source, for exactly its amount; at most one live
   policy per insured person and product; every registry account equals its entries.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy import func, select

from huiminbao.core.container import Container
from huiminbao.enrollment import policies, services
from huiminbao.enrollment.domain import OrderStatus, PaymentMethod
from huiminbao.enrollment.models import Order, Policy, Refund
from huiminbao.payments import ledger
from huiminbao.registry.port import OperationStatus


@dataclass
class ReconcileReport:
    settled_orders: dict[str, str] = field(default_factory=dict)  # order_no -> new status
    settled_refunds: dict[str, str] = field(default_factory=dict)
    violations: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.violations

    def format(self) -> str:
        lines = [f"已处理待定订单 {len(self.settled_orders)} 笔，"
                 f"退款 {len(self.settled_refunds)} 笔"]
        lines += [f"  订单 {no} → {status}" for no, status in self.settled_orders.items()]
        lines += [f"  退款 {no} → {status}" for no, status in self.settled_refunds.items()]
        if self.violations:
            lines.append(f"发现 {len(self.violations)} 处不一致：")
            lines += [f"  {violation}" for violation in self.violations]
        else:
            lines.append("账实一致：未发现任何不一致")
        return "\n".join(lines)


def reconcile(c: Container) -> ReconcileReport:
    report = ReconcileReport()
    with c.db.read() as session:
        pending = session.scalars(select(Order.order_no).where(
            Order.status == OrderStatus.PENDING_PAYMENT.value)).all()
        unsettled = session.scalars(select(Refund.refund_no).where(
            Refund.status == "pending")).all()
    for order_no in pending:
        order = services.resolve_pending(c, order_no)
        if order.status != OrderStatus.PENDING_PAYMENT.value:
            report.settled_orders[order_no] = order.status
    for refund_no in unsettled:
        refund = policies.settle_refund(c, refund_no)
        if refund.status != "pending":
            report.settled_refunds[refund_no] = refund.status
    report.violations += _check(c)
    return report


def _check(c: Container) -> list[str]:
    violations: list[str] = []
    with c.db.read() as session:
        unbalanced = ledger.unbalanced_transactions(session)
        violations += [f"账务交易借贷不平：{reference}" for reference in unbalanced]

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

        paid_orders = session.scalars(select(Order).where(Order.status.in_(
            [OrderStatus.ISSUED.value, OrderStatus.REFUNDED.value]))).all()
    for order in paid_orders:
        violations += _check_source(c, order)
    from huiminbao.claims.services import check_books

    violations += check_books(c)
    audit_balances = getattr(c.registry, "accounts_out_of_balance", None)
    if audit_balances is not None:
        violations += [f"个人账户余额与流水不符：{who}" for who in audit_balances()]
    return violations


def _check_source(c: Container, order: Order) -> list[str]:
    method = PaymentMethod(order.payment_method)
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
    return []
