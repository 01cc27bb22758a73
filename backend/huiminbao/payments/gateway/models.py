"""Tables of the built-in payment gateway (the gateway's side of the world, prefix ``gateway_``).

Only ``SimulatedGateway`` touches these tables; the product sees the gateway through
``PaymentGateway``. Money is integer fen in BIGINT columns; CHECK constraints keep a payment's
refunds within what was paid even if the code were wrong.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import BigInteger, CheckConstraint, ForeignKey, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from huiminbao.core.db import Base, BigIntPk, UtcDateTime, one_of
from huiminbao.payments.gateway.port import (
    MERCHANT_NO_MAX_LENGTH,
    RefundFailure,
    RefundStatus,
    TradeState,
)

URL_MAX_LENGTH = 500
DESCRIPTION_MAX_LENGTH = 128
REASON_MAX_LENGTH = 200


class NotificationStatus(StrEnum):
    PENDING = "pending"  # to be delivered at next_attempt_at
    DELIVERED = "delivered"  # the merchant answered HTTP 200
    FAILED = "failed"  # every attempt of the retry schedule failed


class GatewayPaymentRow(Base):
    """One payment (统一下单); the row that paying, closing and refunding lock first."""

    __tablename__ = "gateway_payments"
    __table_args__ = (
        CheckConstraint(one_of("status", TradeState), name="status_allowed"),
        CheckConstraint("amount_fen > 0", name="amount_fen_positive"),
        CheckConstraint(
            "refunded_fen >= 0 AND refunded_fen <= amount_fen", name="refunded_fen_range"
        ),
        # Paid (and possibly refunded) exactly when the gateway gave it a transaction number.
        CheckConstraint(
            "(status IN ('SUCCESS', 'REFUND'))"
            " = (transaction_id IS NOT NULL AND paid_at IS NOT NULL)",
            name="paid_consistent",
        ),
        CheckConstraint("(status = 'REFUND') = (refunded_fen > 0)", name="refund_consistent"),
    )

    id: Mapped[int] = mapped_column(BigIntPk, primary_key=True)
    out_trade_no: Mapped[str] = mapped_column(String(MERCHANT_NO_MAX_LENGTH), unique=True)
    prepay_id: Mapped[str] = mapped_column(String(64), unique=True)
    amount_fen: Mapped[int] = mapped_column(BigInteger)
    refunded_fen: Mapped[int] = mapped_column(BigInteger)
    description: Mapped[str] = mapped_column(String(DESCRIPTION_MAX_LENGTH))
    notify_url: Mapped[str] = mapped_column(String(URL_MAX_LENGTH))
    return_url: Mapped[str] = mapped_column(String(URL_MAX_LENGTH))
    status: Mapped[str] = mapped_column(String(16))
    transaction_id: Mapped[str | None] = mapped_column(String(32), unique=True)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())
    expires_at: Mapped[datetime] = mapped_column(UtcDateTime())
    paid_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    closed_at: Mapped[datetime | None] = mapped_column(UtcDateTime())


class GatewayRefundRow(Base):
    """One refund request as it arrived, with its outcome; out_refund_no is the idempotency key."""

    __tablename__ = "gateway_refunds"
    __table_args__ = (
        CheckConstraint(one_of("status", RefundStatus), name="status_allowed"),
        CheckConstraint(
            f"failure_reason IS NULL OR {one_of('failure_reason', RefundFailure)}",
            name="failure_reason_allowed",
        ),
        CheckConstraint("amount_fen > 0", name="amount_fen_positive"),
        CheckConstraint(
            "(status = 'SUCCESS' AND failure_reason IS NULL AND refund_id IS NOT NULL)"
            " OR (status = 'FAILED' AND failure_reason IS NOT NULL AND refund_id IS NULL)",
            name="outcome_consistent",
        ),
    )

    id: Mapped[int] = mapped_column(BigIntPk, primary_key=True)
    out_refund_no: Mapped[str] = mapped_column(String(MERCHANT_NO_MAX_LENGTH), unique=True)
    # Not a foreign key: a refund of an unknown trade is recorded (as failed) too.
    out_trade_no: Mapped[str] = mapped_column(String(MERCHANT_NO_MAX_LENGTH), index=True)
    amount_fen: Mapped[int] = mapped_column(BigInteger)
    reason: Mapped[str] = mapped_column(String(REASON_MAX_LENGTH))  # the merchant's refund_desc
    status: Mapped[str] = mapped_column(String(16))
    failure_reason: Mapped[str | None] = mapped_column(String(32))
    refund_id: Mapped[str | None] = mapped_column(String(32), unique=True)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())


class GatewayNotificationRow(Base):
    """The payment notification of one paid payment and its delivery attempts.

    A deliverer claims a due row by raising ``attempts`` and pushing ``next_attempt_at`` a lease
    into the future, then delivers outside any transaction and records the outcome only if
    ``attempts`` is still the number it claimed.
    """

    __tablename__ = "gateway_notifications"
    __table_args__ = (
        CheckConstraint(one_of("status", NotificationStatus), name="status_allowed"),
        CheckConstraint("attempts >= 0", name="attempts_non_negative"),
        CheckConstraint(
            "(status = 'pending' AND next_attempt_at IS NOT NULL AND delivered_at IS NULL)"
            " OR (status = 'delivered' AND next_attempt_at IS NULL AND delivered_at IS NOT NULL)"
            " OR (status = 'failed' AND next_attempt_at IS NULL AND delivered_at IS NULL)",
            name="status_consistent",
        ),
        Index("ix_gateway_notifications_status_next_attempt_at", "status", "next_attempt_at"),
    )

    id: Mapped[int] = mapped_column(BigIntPk, primary_key=True)
    # One notification per payment: a payment is paid once.
    payment_id: Mapped[int] = mapped_column(ForeignKey("gateway_payments.id"), unique=True)
    status: Mapped[str] = mapped_column(String(16))
    attempts: Mapped[int] = mapped_column(Integer)
    next_attempt_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    last_attempt_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    delivered_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    last_error: Mapped[str | None] = mapped_column(String(REASON_MAX_LENGTH))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())
