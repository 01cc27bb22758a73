"""The double-entry ledger: every movement of money is a transaction whose entries sum to zero.

Accounts are named by what they are, e.g. ``personal_account:42`` (a person's 个人账户 as a
source of premium), ``gateway:online`` (money received through the payment gateway),
``subsidy_fund:330100`` (the city's assistance fund; ``subsidy_fund:330100:<payer>`` a
district's or a donor's, see ``enrollment.subsidy_funds``) and ``premium_income:7`` (a product's
premium income). A payment moves money from its source into premium income; a refund moves it
back. Money that arrives for an order already closed goes to ``stray_payments`` and back out
with its refund, never into premium income. A claim payout (kind ``claim``) moves money from
``claims_payable:7`` (the product's payouts) to ``claim_payout:42`` (the insured person); a
one-stop settlement's payout, which the hospital or pharmacy already deducted at its counter, to
``settlement_payable:3`` (owed to settlement-feed client 3), which that client's periodic
statement clears into ``settlement_paid:3`` (both kind ``claim``, see ``claims.statements``).
Entries are never changed or deleted; a balance is always the sum of its entries.

Co-insurance (共保体): whenever a transaction moves money on a product's ``premium_income`` or
``claims_payable`` account, ``post`` books in the same transaction each insurer's part of that
amount (``catalog.coinsurance.split_by_shares``: integer fen, the rounding remainder to the lead)
on ``insurer_premium:<product>:<insurer>`` / ``insurer_payout:<product>:<insurer>`` (the insurer
being the product's ``product_insurers`` row), balanced by ``coinsurance_split:<product>``. The
product's accounts are untouched, so for each product the insurers' premium accounts always sum
to ``premium_income`` and their payout accounts to ``claims_payable``; ``coinsurance_split`` is
their negative (a memo pair, moving no real money). Callers do nothing: every payment, refund
and claim payout is split here, once.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any
from weakref import WeakKeyDictionary

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    Engine,
    ForeignKey,
    Index,
    String,
    bindparam,
    event,
    func,
    insert,
    select,
)
from sqlalchemy.orm import Mapped, Session, mapped_column, relationship

from huiminbao.catalog.coinsurance import Share, split_by_shares
from huiminbao.catalog.models import Product, ProductInsurer
from huiminbao.core.db import Base, BigIntPk, UtcDateTime, table_of


class LedgerTransaction(Base):
    __tablename__ = "ledger_transactions"
    __table_args__ = (
        # 'claim': a claim payout (revision 0009_claims).
        CheckConstraint("kind IN ('payment', 'refund', 'claim')", name="kind_values"),
    )

    id: Mapped[int] = mapped_column(BigIntPk, primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))
    # One payment per order and one refund per refund request: the database refuses a second.
    reference: Mapped[str] = mapped_column(String(48), unique=True)
    order_no: Mapped[str] = mapped_column(String(32), index=True)
    purpose: Mapped[str] = mapped_column(String(200))
    occurred_at: Mapped[datetime] = mapped_column(UtcDateTime)

    entries: Mapped[list[LedgerEntry]] = relationship(back_populates="transaction")


class LedgerEntry(Base):
    __tablename__ = "ledger_entries"
    __table_args__ = (
        CheckConstraint("amount_fen <> 0", name="amount_not_zero"),
        Index("ix_ledger_entries_account", "account"),
    )

    id: Mapped[int] = mapped_column(BigIntPk, primary_key=True)
    transaction_id: Mapped[int] = mapped_column(ForeignKey("ledger_transactions.id"), index=True)
    account: Mapped[str] = mapped_column(String(64))
    amount_fen: Mapped[int] = mapped_column(BigInteger)  # positive: money in; negative: out

    transaction: Mapped[LedgerTransaction] = relationship(back_populates="entries")


def insurer_premium(product_id: int, insurer_id: int) -> str:
    """An insurer's share of a product's premium income (payments in, refunds out)."""
    return f"insurer_premium:{product_id}:{insurer_id}"


def insurer_payout(product_id: int, insurer_id: int) -> str:
    """An insurer's share of a product's claim payouts (negative: money out, as
    ``claims_payable``)."""
    return f"insurer_payout:{product_id}:{insurer_id}"


def coinsurance_split(product_id: int) -> str:
    """The counterpart of a product's insurer accounts (see the module's docstring)."""
    return f"coinsurance_split:{product_id}"


def personal_account(person_id: int) -> str:
    return f"personal_account:{person_id}"


def premium_income(product_id: int) -> str:
    return f"premium_income:{product_id}"


def subsidy_fund(city_code: str, payer_code: str | None = None) -> str:
    """The city government's subsidy fund (``subsidy_fund:330100``), or another paying body's
    (a district, a charity): ``subsidy_fund:330100:xihu``."""
    return f"subsidy_fund:{city_code}:{payer_code}" if payer_code else f"subsidy_fund:{city_code}"


def claims_payable(product_id: int) -> str:
    """A product's claim payouts (money out of the product's funds)."""
    return f"claims_payable:{product_id}"


def claim_payout(person_id: int) -> str:
    """Claim money received by an insured person."""
    return f"claim_payout:{person_id}"


def settlement_payable(client_id: int) -> str:
    """What the platform owes a settlement-feed client (hospital, pharmacy) for the payouts it
    deducted at its counter; a statement clears it."""
    return f"settlement_payable:{client_id}"


def settlement_paid(client_id: int) -> str:
    """What a settlement-feed client has been paid by its cleared statements."""
    return f"settlement_paid:{client_id}"


GATEWAY = "gateway:online"
# Money that arrived for an order already closed (cancelled or expired before the payment
# landed): held here, never as premium, until its refund goes back to the source.
STRAY_PAYMENTS = "stray_payments"


class UnbalancedTransaction(ValueError):
    pass


def post(
    session: Session,
    *,
    kind: str,
    reference: str,
    order_no: str,
    purpose: str,
    moves: Sequence[tuple[str, int]],
    now: datetime,
) -> int:
    """Record one transaction; ``moves`` are (account, signed amount) and must sum to zero.
    Returns the transaction's id."""
    moves = [(account, amount) for account, amount in moves if amount != 0]
    if not moves or sum(amount for _account, amount in moves) != 0:
        raise UnbalancedTransaction(f"{reference}: entries must be non-empty and sum to zero")
    moves += [(account, amount) for account, amount in _insurer_shares(session, moves)
              if amount != 0]
    # Two INSERTs (the transaction, then its entries in one statement), not unit-of-work objects.
    transaction_id = int(session.execute(_INSERT_TRANSACTION, dict(
        kind=kind, reference=reference, order_no=order_no, purpose=purpose,
        occurred_at=now)).scalar_one())
    session.execute(_INSERT_ENTRY, [
        {"transaction_id": transaction_id, "account": account, "amount_fen": amount}
        for account, amount in moves])
    return transaction_id


# Built once and given their values as parameters: every payment and payout runs them.
_INSERT_TRANSACTION = insert(table_of(LedgerTransaction)).returning(
    table_of(LedgerTransaction).c.id)
_INSERT_ENTRY = insert(table_of(LedgerEntry))


_SPLIT_ACCOUNTS = {"premium_income": insurer_premium, "claims_payable": insurer_payout}


def _insurer_shares(session: Session, moves: Sequence[tuple[str, int]]
                    ) -> list[tuple[str, int]]:
    """Each insurer's part of the moves on product accounts, and their counterpart."""
    split: list[tuple[str, int]] = []
    for account, amount in moves:
        prefix, _sep, product_part = account.partition(":")
        insurer_account = _SPLIT_ACCOUNTS.get(prefix)
        if insurer_account is None:
            continue
        product_id = int(product_part)
        shares = _shares_of(session, product_id)
        if not shares:  # a product stored without its insurers (older test fixtures)
            continue
        split += [(insurer_account(product_id, int(key)), fen)
                  for key, fen in split_by_shares(amount, shares)]
        split.append((coinsurance_split(product_id), -amount))
    return split


def _shares_of(session: Session, product_id: int) -> list[Share]:
    engine = session.get_bind().engine
    final = _FINAL_SHARES.get(engine, {}).get(product_id)
    if final is not None:
        return final
    # Read under a share lock on the product: the console changes shares under its update
    # lock and then checks that no money is booked, so a change and a first booking cannot
    # interleave (the change waits for this booking and then refuses, or this read waits for
    # the change and sees the new shares).
    session.execute(_PRODUCT_SHARED_LOCK, {"product_id": product_id})
    rows = session.execute(_SHARES_OF_PRODUCT, {"product_id": product_id}).all()
    shares = [Share(str(row_id), share_bp, lead) for row_id, share_bp, lead in rows]
    if shares:
        session.info.setdefault(_SHARES_BOOKED, {})[product_id] = shares
    return shares


# A product's co-insurer shares are final once money is booked with them (the console refuses
# to change them from then on: SHARES_FIXED), so once a transaction that split money by them
# has committed, they are kept per database engine and no payment reads them again.
_FINAL_SHARES: WeakKeyDictionary[Engine, dict[int, list[Share]]] = WeakKeyDictionary()
_SHARES_BOOKED = "ledger.shares_booked"  # Session.info: shares this transaction split by


@event.listens_for(Session, "after_commit")
def _keep_final_shares(session: Session) -> None:
    booked = session.info.pop(_SHARES_BOOKED, None)
    if booked:
        _FINAL_SHARES.setdefault(session.get_bind().engine, {}).update(booked)


@event.listens_for(Session, "after_soft_rollback")
def _forget_unbooked_shares(session: Session, _previous: Any) -> None:
    session.info.pop(_SHARES_BOOKED, None)


_PRODUCT_SHARED_LOCK = (select(Product.id).where(Product.id == bindparam("product_id"))
                        .with_for_update(read=True))


_SHARES_OF_PRODUCT = (
    select(ProductInsurer.id, ProductInsurer.share_bp, ProductInsurer.is_lead)
    .where(ProductInsurer.product_id == bindparam("product_id"))
    .order_by(ProductInsurer.position, ProductInsurer.id))


def balance(session: Session, account: str) -> int:
    return int(session.scalar(
        select(func.coalesce(func.sum(LedgerEntry.amount_fen), 0))
        .where(LedgerEntry.account == account)
    ) or 0)


def unbalanced_transactions(session: Session) -> list[str]:
    rows = session.execute(
        select(LedgerTransaction.reference)
        .join(LedgerEntry, LedgerEntry.transaction_id == LedgerTransaction.id)
        .group_by(LedgerTransaction.id, LedgerTransaction.reference)
        .having(func.sum(LedgerEntry.amount_fen) != 0)
    )
    return [reference for (reference,) in rows]


def coinsurance_violations(session: Session) -> list[str]:
    """Each product's insurer accounts sum to its product account (premium income, claim
    payouts), and ``coinsurance_split`` is their negative (for ``huiminbao reconcile``)."""
    totals: dict[tuple[str, int], int] = {}
    for account, amount in session.execute(
            select(LedgerEntry.account, func.sum(LedgerEntry.amount_fen))
            .where(LedgerEntry.account.like("insurer_%") |
                   LedgerEntry.account.like("coinsurance_split:%"))
            .group_by(LedgerEntry.account)):
        prefix, _sep, rest = account.partition(":")
        key = (prefix, int(rest.split(":")[0]))
        totals[key] = totals.get(key, 0) + int(amount)
    violations = []
    for product_id in sorted({product_id for _prefix, product_id in totals}):
        premium = totals.get(("insurer_premium", product_id), 0)
        payout = totals.get(("insurer_payout", product_id), 0)
        expected = {"insurer_premium": balance(session, premium_income(product_id)),
                    "insurer_payout": balance(session, claims_payable(product_id))}
        for prefix, held in (("insurer_premium", premium), ("insurer_payout", payout)):
            if held != expected[prefix]:
                violations.append(f"共保分摊与产品账户不符：产品 {product_id} 的 {prefix} 合计 "
                                  f"{held} 分，应为 {expected[prefix]} 分")
        split = totals.get(("coinsurance_split", product_id), 0)
        if split != -(premium + payout):
            violations.append(f"共保分摊对冲账户不平：产品 {product_id}")
    return violations
