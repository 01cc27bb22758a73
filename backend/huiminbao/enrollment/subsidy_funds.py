"""Subsidy funds by payer (003 三(三)3: each level of government pays for its own subsidized
residents; 002 三(三): charities and donors).

Each subsidy use records the ledger account it is paid from (``SubsidyUse.fund_account``): the
city's ``subsidy_fund:<city>``, or a district's or a donor's ``subsidy_fund:<city>:<payer code>``.
Online, the payer follows ``domain.online_subsidy_payer`` (the person's district when it pays for
the person's group, else the city); a roster row or a donor's list names its payer. The payment
books each subsidy on its payer's account, a refund gives it back to the same account, and
``huiminbao reconcile`` checks that every fund account equals the subsidies booked to it.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from huiminbao.catalog.models import Product
from huiminbao.enrollment.domain import FundPayer, PayerKind, online_subsidy_payer
from huiminbao.enrollment.models import Order, OrderItem, Policy, Refund, SubsidyPayer, SubsidyUse
from huiminbao.payments import ledger
from huiminbao.registry.port import RegistryPerson


def as_fund_payer(row: SubsidyPayer) -> FundPayer:
    return FundPayer(code=row.code, name=row.name, kind=PayerKind(row.kind),
                     district_code=row.district_code,
                     categories=frozenset(filter(None, row.categories.split(","))),
                     active=row.active)


def city_payers(session: Session, city_code: str) -> list[FundPayer]:
    rows = session.scalars(select(SubsidyPayer).where(SubsidyPayer.city_code == city_code)
                           .order_by(SubsidyPayer.id)).all()
    return [as_fund_payer(row) for row in rows]


def fund_account(city_code: str, payer: FundPayer | None) -> str:
    """The ledger account a payer's subsidies move on; the city government's is the city's
    ``subsidy_fund:<city>`` (as before payers were recorded)."""
    if payer is None or payer.kind is PayerKind.CITY:
        return ledger.subsidy_fund(city_code)
    return ledger.subsidy_fund(city_code, payer.code)


def online_fund_account(session: Session, city_code: str, person: RegistryPerson) -> str:
    """The fund a subsidy of an online (or staff-recorded) enrollment is booked to."""
    return fund_account(city_code, online_subsidy_payer(person, city_payers(session, city_code)))


def assign_fund(session: Session, order_no: str, account: str) -> None:
    """A roster row or a donor's list names the payer: its subsidy uses move to that fund
    (before the payment is booked; the order is still pending)."""
    items = select(OrderItem.id).join(Order, Order.id == OrderItem.order_id).where(
        Order.order_no == order_no)
    session.execute(update(SubsidyUse).where(SubsidyUse.order_item_id.in_(items))
                    .values(fund_account=account))


def payment_moves(session: Session, order: Order, city_code: str) -> list[tuple[str, int]]:
    """The order's subsidy out of each payer's fund (negative amounts), for its payment."""
    uses = session.execute(
        select(SubsidyUse.fund_account, SubsidyUse.amount_fen)
        .join(OrderItem, OrderItem.id == SubsidyUse.order_item_id)
        .where(OrderItem.order_id == order.id)).all()
    by_fund: dict[str, int] = defaultdict(int)
    for account, amount in uses:
        by_fund[account or ledger.subsidy_fund(city_code)] += int(amount)
    rest = order.subsidy_fen - sum(by_fund.values())  # none recorded: the city's fund
    if rest:
        by_fund[ledger.subsidy_fund(city_code)] += rest
    return [(account, -amount) for account, amount in sorted(by_fund.items())]


def refund_account(session: Session, refund: Refund, city_code: str) -> str:
    """The fund a refunded policy's subsidy goes back to: the one that paid it."""
    account = None
    if refund.policy_id is not None:
        account = session.scalar(
            select(SubsidyUse.fund_account)
            .join(Policy, Policy.order_item_id == SubsidyUse.order_item_id)
            .where(Policy.id == refund.policy_id))
    return account or ledger.subsidy_fund(city_code)


def fund_violations(session: Session) -> list[str]:
    """Each subsidy fund account equals the subsidies booked to it: minus those of paid orders,
    plus those refunded (for ``huiminbao reconcile``)."""
    expected: dict[str, int] = defaultdict(int)
    paid = session.execute(
        select(SubsidyUse.fund_account, Product.city_code, SubsidyUse.amount_fen)
        .join(OrderItem, OrderItem.id == SubsidyUse.order_item_id)
        .join(Order, Order.id == OrderItem.order_id)
        .join(Product, Product.id == Order.product_id)
        .join(ledger.LedgerTransaction,
              ledger.LedgerTransaction.reference == "pay:" + Order.order_no)).all()
    for account, city_code, amount in paid:
        expected[account or ledger.subsidy_fund(city_code)] -= int(amount)
    refunded = session.execute(
        select(SubsidyUse.fund_account, Product.city_code, Refund.subsidy_fen)
        .join(Policy, Policy.id == Refund.policy_id)
        .join(SubsidyUse, SubsidyUse.order_item_id == Policy.order_item_id)
        .join(Product, Product.id == Policy.product_id)
        .where(Refund.status == "succeeded", Refund.subsidy_fen > 0)).all()
    for account, city_code, amount in refunded:
        expected[account or ledger.subsidy_fund(city_code)] += int(amount)
    held = _fund_balances(session)
    return [f"资助资金账户 {account} 账面 {held.get(account, 0)} 分，"
            f"与记入该出资方的资助 {expected.get(account, 0)} 分不符"
            for account in sorted(set(held) | set(expected))
            if held.get(account, 0) != expected.get(account, 0)]


def _fund_balances(session: Session) -> dict[str, int]:
    rows = session.execute(
        select(ledger.LedgerEntry.account, func.sum(ledger.LedgerEntry.amount_fen))
        .where(ledger.LedgerEntry.account.like("subsidy_fund:%"))
        .group_by(ledger.LedgerEntry.account)).all()
    return {account: int(amount) for account, amount in rows}


def subsidies_by_fund(session: Session, accounts: Sequence[str]) -> dict[str, int]:
    """Ledger balances of the given fund accounts (a payer's view in the console)."""
    balances = _fund_balances(session)
    return {account: balances.get(account, 0) for account in accounts}
