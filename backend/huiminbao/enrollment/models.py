"""Orders, their insured persons, policies and subsidy uses."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    CheckConstraint,
    Date,
    ForeignKey,
    Index,
    Integer,
    String,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from huiminbao.core.db import Base, BigIntPk, UtcDateTime


class Order(Base):
    __tablename__ = "orders"
    __table_args__ = (
        CheckConstraint(
            "status IN ('pending_payment', 'paid', 'issued', 'cancelled', 'expired', 'refunded')",
            name="status_values",
        ),
        CheckConstraint(
            # 'employer' and 'counter_cash': revision 0011_disclosure (staff-recorded payments).
            "payment_method IN ('personal_account', 'online', 'subsidy', 'employer',"
            " 'counter_cash')",
            name="payment_method_values",
        ),
        CheckConstraint("premium_fen > 0", name="premium_positive"),
        CheckConstraint("subsidy_fen >= 0 AND subsidy_fen <= premium_fen", name="subsidy_range"),
        CheckConstraint("payable_fen = premium_fen - subsidy_fen", name="payable_is_difference"),
        CheckConstraint("refunded_fen >= 0 AND refunded_fen <= payable_fen", name="refund_range"),
        Index("ix_orders_status_expires_at", "status", "expires_at"),
        # Revision 0013: whom one personal account has paid for (the six-persons rule), read on
        # every personal-account enrollment.
        Index("ix_orders_payer_person_id", "payer_person_id", "product_id",
              postgresql_where=text("payer_person_id IS NOT NULL"),
              sqlite_where=text("payer_person_id IS NOT NULL")),
    )

    id: Mapped[int] = mapped_column(BigIntPk, primary_key=True)
    order_no: Mapped[str] = mapped_column(String(32), unique=True)
    product_id: Mapped[int] = mapped_column(ForeignKey("products.id"))
    buyer_account_id: Mapped[int] = mapped_column(ForeignKey("user_accounts.id"), index=True)
    buyer_person_id: Mapped[int] = mapped_column(ForeignKey("people.id"))
    # Whose personal account pays (the buyer, or a principal who granted it); NULL otherwise.
    payer_person_id: Mapped[int | None] = mapped_column(ForeignKey("people.id"))
    acted_for_grant_id: Mapped[int | None] = mapped_column(BigInteger)
    channel: Mapped[str] = mapped_column(String(16), default="self")
    status: Mapped[str] = mapped_column(String(16))
    payment_method: Mapped[str] = mapped_column(String(20))
    premium_fen: Mapped[int] = mapped_column(BigInteger)
    subsidy_fen: Mapped[int] = mapped_column(BigInteger, default=0)
    payable_fen: Mapped[int] = mapped_column(BigInteger)
    refunded_fen: Mapped[int] = mapped_column(BigInteger, default=0)
    terms_version: Mapped[str] = mapped_column(String(20))
    # The request number of the registry debit or the gateway payment: one per order, reused
    # when the outcome is unknown so money never moves twice.
    payment_request_no: Mapped[str] = mapped_column(String(40), unique=True)
    gateway_transaction_id: Mapped[str | None] = mapped_column(String(64))
    pay_url: Mapped[str | None] = mapped_column(String(1000))  # online: the gateway's page
    # Online: the payer's address when the order was written (WeChat Pay H5's payer_client_ip),
    # sent again unchanged when the payment is asked for again with the same number.
    payer_ip: Mapped[str | None] = mapped_column(String(45))
    failure_reason: Mapped[str | None] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    expires_at: Mapped[datetime] = mapped_column(UtcDateTime)
    paid_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    issued_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    closed_at: Mapped[datetime | None] = mapped_column(UtcDateTime)

    items: Mapped[list[OrderItem]] = relationship(
        back_populates="order", order_by="OrderItem.id", cascade="all, delete-orphan"
    )


class OrderItem(Base):
    """One insured person in an order. ``holds_place`` is true while the order or its policy
    still claims the person for the product: the partial unique index makes a second live order
    or policy for the same person and product impossible, whoever tries to buy it."""

    __tablename__ = "order_items"
    __table_args__ = (
        CheckConstraint("premium_fen > 0", name="premium_positive"),
        CheckConstraint("subsidy_fen >= 0 AND subsidy_fen <= premium_fen", name="subsidy_range"),
        Index(
            "uq_order_items_one_place_per_product", "product_id", "insured_person_id",
            unique=True, postgresql_where=text("holds_place"), sqlite_where=text("holds_place"),
        ),
        Index("ix_order_items_insured_person_id", "insured_person_id", "product_id"),
    )

    id: Mapped[int] = mapped_column(BigIntPk, primary_key=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("orders.id", ondelete="CASCADE"),
                                          index=True)
    product_id: Mapped[int] = mapped_column(ForeignKey("products.id"))
    insured_person_id: Mapped[int] = mapped_column(ForeignKey("people.id"))
    relation: Mapped[str] = mapped_column(String(16), default="self")
    tier_code: Mapped[str] = mapped_column(String(32))
    premium_fen: Mapped[int] = mapped_column(BigInteger)
    subsidy_fen: Mapped[int] = mapped_column(BigInteger, default=0)
    holds_place: Mapped[bool] = mapped_column(Boolean, default=True)

    order: Mapped[Order] = relationship(back_populates="items")
    policy: Mapped[Policy | None] = relationship(back_populates="item", uselist=False)


class Policy(Base):
    __tablename__ = "policies"
    __table_args__ = (
        CheckConstraint("status IN ('active', 'cancelled')", name="status_values"),
        CheckConstraint("coverage_ends_on > coverage_starts_on", name="coverage_order"),
        Index(
            "uq_policies_one_live_per_product", "product_id", "insured_person_id", unique=True,
            postgresql_where=text("status = 'active'"), sqlite_where=text("status = 'active'"),
        ),
        Index("ix_policies_insured_person_id", "insured_person_id"),
        Index("ix_policies_holder_person_id", "holder_person_id"),
    )

    id: Mapped[int] = mapped_column(BigIntPk, primary_key=True)
    policy_no: Mapped[str] = mapped_column(String(32), unique=True)
    order_item_id: Mapped[int] = mapped_column(ForeignKey("order_items.id"), unique=True)
    product_id: Mapped[int] = mapped_column(ForeignKey("products.id"))
    insured_person_id: Mapped[int] = mapped_column(ForeignKey("people.id"))
    holder_person_id: Mapped[int] = mapped_column(ForeignKey("people.id"))
    payer_person_id: Mapped[int | None] = mapped_column(ForeignKey("people.id"))
    tier_code: Mapped[str] = mapped_column(String(32))
    premium_fen: Mapped[int] = mapped_column(BigInteger)
    subsidy_fen: Mapped[int] = mapped_column(BigInteger, default=0)
    coverage_starts_on: Mapped[date] = mapped_column(Date)
    coverage_ends_on: Mapped[date] = mapped_column(Date)
    status: Mapped[str] = mapped_column(String(16))
    issued_at: Mapped[datetime] = mapped_column(UtcDateTime)
    cancelled_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    auto_renew: Mapped[bool] = mapped_column(Boolean, default=False)
    auto_renew_consent_version: Mapped[str | None] = mapped_column(String(20))
    auto_renew_changed_at: Mapped[datetime | None] = mapped_column(UtcDateTime)

    item: Mapped[OrderItem] = relationship(back_populates="policy")


class SubsidyUse(Base):
    """One subsidized enrollment per person per year, across all products (003 三(三)3)."""

    __tablename__ = "subsidy_uses"
    __table_args__ = (
        Index("uq_subsidy_uses_one_per_year", "person_id", "year", unique=True,
              postgresql_where=text("active"), sqlite_where=text("active")),
    )

    id: Mapped[int] = mapped_column(BigIntPk, primary_key=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("people.id"))
    year: Mapped[int] = mapped_column(Integer)
    order_item_id: Mapped[int] = mapped_column(ForeignKey("order_items.id"), unique=True)
    amount_fen: Mapped[int] = mapped_column(BigInteger)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    # The ledger account the subsidy is paid from and refunded to (``ledger.subsidy_fund``); NULL
    # for subsidies booked before paying bodies were recorded: the city's fund.
    fund_account: Mapped[str | None] = mapped_column(String(64))


class SubsidyPayer(Base):
    """A body that pays subsidized premiums in a city (003 三(三)3, 002 三(三)): the city
    government, a district's, or a charity / donor. Its money moves on
    ``ledger.subsidy_fund(city_code, code)`` (the city's on ``subsidy_fund:<city>``)."""

    __tablename__ = "subsidy_payers"
    __table_args__ = (
        UniqueConstraint("city_code", "code", name="uq_subsidy_payers_city_code_code"),
        CheckConstraint("kind IN ('city', 'district', 'charity')", name="kind_values"),
        CheckConstraint("(kind = 'district') = (district_code IS NOT NULL)",
                        name="district_code_for_districts"),
    )

    id: Mapped[int] = mapped_column(BigIntPk, primary_key=True)
    city_code: Mapped[str] = mapped_column(String(6))
    code: Mapped[str] = mapped_column(String(32))
    name: Mapped[str] = mapped_column(String(100))
    kind: Mapped[str] = mapped_column(String(16))
    district_code: Mapped[str | None] = mapped_column(String(6))
    categories: Mapped[str] = mapped_column(String(64), default="")  # comma-separated groups
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime)


class Refund(Base):
    """Money going back to where it came from: a cancelled policy's premium, or (``policy_id``
    NULL) a payment that arrived for an order already closed — it is never kept. Created
    ``pending`` in the transaction that cancels the policy or finds the order closed; the remote
    refund is then sent with ``refund_no`` and retried with the same number until settled."""

    __tablename__ = "refunds"
    __table_args__ = (
        CheckConstraint("status IN ('pending', 'succeeded', 'failed')", name="status_values"),
        CheckConstraint("amount_fen >= 0 AND subsidy_fen >= 0", name="amounts_non_negative"),
        Index("ix_refunds_status", "status"),
        # Revision 0014: one refund of a closed order's stray payment, whoever finds it first.
        Index("uq_refunds_one_per_closed_order", "order_id", unique=True,
              postgresql_where=text("policy_id IS NULL"), sqlite_where=text("policy_id IS NULL")),
    )

    id: Mapped[int] = mapped_column(BigIntPk, primary_key=True)
    refund_no: Mapped[str] = mapped_column(String(40), unique=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("orders.id"), index=True)
    # NULL: the refund of a payment for a closed order (revision 0014).
    policy_id: Mapped[int | None] = mapped_column(ForeignKey("policies.id"), unique=True)
    payment_method: Mapped[str] = mapped_column(String(20))
    amount_fen: Mapped[int] = mapped_column(BigInteger)  # back to the payer's source
    subsidy_fen: Mapped[int] = mapped_column(BigInteger, default=0)  # back to the fund
    status: Mapped[str] = mapped_column(String(16))
    failure_reason: Mapped[str | None] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    settled_at: Mapped[datetime | None] = mapped_column(UtcDateTime)


class RenewalNotice(Base):
    """A renewal announced to the payer: nothing is debited before ``debit_due_at``, and only
    if auto-renewal is still on then."""

    __tablename__ = "renewal_notices"
    __table_args__ = (
        UniqueConstraint("policy_id", "next_product_id",
                         name="uq_renewal_notices_policy_id_next_product_id"),
        CheckConstraint("status IN ('notified', 'renewed', 'skipped', 'failed')",
                        name="status_values"),
        Index("ix_renewal_notices_status_debit_due_at", "status", "debit_due_at"),
    )

    id: Mapped[int] = mapped_column(BigIntPk, primary_key=True)
    policy_id: Mapped[int] = mapped_column(ForeignKey("policies.id"))
    next_product_id: Mapped[int] = mapped_column(ForeignKey("products.id"))
    consent_version: Mapped[str] = mapped_column(String(20))
    notified_at: Mapped[datetime] = mapped_column(UtcDateTime)
    debit_due_at: Mapped[datetime] = mapped_column(UtcDateTime)
    status: Mapped[str] = mapped_column(String(16))
    order_no: Mapped[str | None] = mapped_column(String(32))
    reason: Mapped[str | None] = mapped_column(String(200))


class ReconcileRun(Base):
    """One run of ``reconcile``: what it settled and healed, and what it found wrong. The
    console shows the latest runs; a scheduled job writes one every few minutes."""

    __tablename__ = "reconcile_runs"

    id: Mapped[int] = mapped_column(BigIntPk, primary_key=True)
    started_at: Mapped[datetime] = mapped_column(UtcDateTime, index=True)
    finished_at: Mapped[datetime] = mapped_column(UtcDateTime)
    ok: Mapped[bool] = mapped_column(Boolean)
    settled_orders: Mapped[int] = mapped_column(Integer)
    settled_refunds: Mapped[int] = mapped_column(Integer)
    healed: Mapped[int] = mapped_column(Integer)  # stray payments refunded by this run
    violations: Mapped[list[str]] = mapped_column(JSON)
