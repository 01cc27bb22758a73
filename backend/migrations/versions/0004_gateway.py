"""The built-in payment gateway: payments, refunds, payment notifications.

Revision ID: 0004_gateway
Revises: 0003_identity
Create Date: 2026-11-22

Constraint names are written out and follow ``core.db.NAMING_CONVENTION`` exactly, so that the
models (``payments/gateway_models.py``) and this migration compare equal.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from huiminbao.core.db import BigIntPk, UtcDateTime

revision = "0004_gateway"
down_revision = "0003_identity"
branch_labels = None
depends_on = None

# Enum values as of this revision (later changes to the enums need their own migration).
TRADE_STATES = "'NOTPAY', 'SUCCESS', 'CLOSED', 'REFUND', 'PAYERROR'"
REFUND_STATUSES = "'SUCCESS', 'FAILED'"
REFUND_FAILURES = "'ORDER_NOT_EXIST', 'TRADE_NOT_PAID', 'NOT_ENOUGH'"
NOTIFICATION_STATUSES = "'pending', 'delivered', 'failed'"


def upgrade() -> None:
    op.create_table(
        "gateway_payments",
        sa.Column("id", BigIntPk, primary_key=True),
        sa.Column("out_trade_no", sa.String(64), nullable=False),
        sa.Column("prepay_id", sa.String(64), nullable=False),
        sa.Column("amount_fen", sa.BigInteger(), nullable=False),
        sa.Column("refunded_fen", sa.BigInteger(), nullable=False),
        sa.Column("description", sa.String(128), nullable=False),
        sa.Column("notify_url", sa.String(500), nullable=False),
        sa.Column("return_url", sa.String(500), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("transaction_id", sa.String(32), nullable=True),
        sa.Column("created_at", UtcDateTime(), nullable=False),
        sa.Column("expires_at", UtcDateTime(), nullable=False),
        sa.Column("paid_at", UtcDateTime(), nullable=True),
        sa.Column("closed_at", UtcDateTime(), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_gateway_payments"),
        sa.UniqueConstraint("out_trade_no", name="uq_gateway_payments_out_trade_no"),
        sa.UniqueConstraint("prepay_id", name="uq_gateway_payments_prepay_id"),
        sa.UniqueConstraint("transaction_id", name="uq_gateway_payments_transaction_id"),
        sa.CheckConstraint(
            f"status IN ({TRADE_STATES})", name="ck_gateway_payments_status_allowed"
        ),
        sa.CheckConstraint("amount_fen > 0", name="ck_gateway_payments_amount_fen_positive"),
        sa.CheckConstraint(
            "refunded_fen >= 0 AND refunded_fen <= amount_fen",
            name="ck_gateway_payments_refunded_fen_range",
        ),
        sa.CheckConstraint(
            "(status IN ('SUCCESS', 'REFUND'))"
            " = (transaction_id IS NOT NULL AND paid_at IS NOT NULL)",
            name="ck_gateway_payments_paid_consistent",
        ),
        sa.CheckConstraint(
            "(status = 'REFUND') = (refunded_fen > 0)",
            name="ck_gateway_payments_refund_consistent",
        ),
    )

    op.create_table(
        "gateway_refunds",
        sa.Column("id", BigIntPk, primary_key=True),
        sa.Column("out_refund_no", sa.String(64), nullable=False),
        sa.Column("out_trade_no", sa.String(64), nullable=False),
        sa.Column("amount_fen", sa.BigInteger(), nullable=False),
        sa.Column("reason", sa.String(200), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("failure_reason", sa.String(32), nullable=True),
        sa.Column("refund_id", sa.String(32), nullable=True),
        sa.Column("created_at", UtcDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_gateway_refunds"),
        sa.UniqueConstraint("out_refund_no", name="uq_gateway_refunds_out_refund_no"),
        sa.UniqueConstraint("refund_id", name="uq_gateway_refunds_refund_id"),
        sa.CheckConstraint(
            f"status IN ({REFUND_STATUSES})", name="ck_gateway_refunds_status_allowed"
        ),
        sa.CheckConstraint(
            f"failure_reason IS NULL OR failure_reason IN ({REFUND_FAILURES})",
            name="ck_gateway_refunds_failure_reason_allowed",
        ),
        sa.CheckConstraint("amount_fen > 0", name="ck_gateway_refunds_amount_fen_positive"),
        sa.CheckConstraint(
            "(status = 'SUCCESS' AND failure_reason IS NULL AND refund_id IS NOT NULL)"
            " OR (status = 'FAILED' AND failure_reason IS NOT NULL AND refund_id IS NULL)",
            name="ck_gateway_refunds_outcome_consistent",
        ),
    )
    op.create_index("ix_gateway_refunds_out_trade_no", "gateway_refunds", ["out_trade_no"])

    op.create_table(
        "gateway_notifications",
        sa.Column("id", BigIntPk, primary_key=True),
        sa.Column("payment_id", BigIntPk, nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", UtcDateTime(), nullable=True),
        sa.Column("last_attempt_at", UtcDateTime(), nullable=True),
        sa.Column("delivered_at", UtcDateTime(), nullable=True),
        sa.Column("last_error", sa.String(200), nullable=True),
        sa.Column("created_at", UtcDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_gateway_notifications"),
        sa.ForeignKeyConstraint(
            ["payment_id"],
            ["gateway_payments.id"],
            name="fk_gateway_notifications_payment_id_gateway_payments",
        ),
        sa.UniqueConstraint("payment_id", name="uq_gateway_notifications_payment_id"),
        sa.CheckConstraint(
            f"status IN ({NOTIFICATION_STATUSES})",
            name="ck_gateway_notifications_status_allowed",
        ),
        sa.CheckConstraint(
            "attempts >= 0", name="ck_gateway_notifications_attempts_non_negative"
        ),
        sa.CheckConstraint(
            "(status = 'pending' AND next_attempt_at IS NOT NULL AND delivered_at IS NULL)"
            " OR (status = 'delivered' AND next_attempt_at IS NULL AND delivered_at IS NOT NULL)"
            " OR (status = 'failed' AND next_attempt_at IS NULL AND delivered_at IS NULL)",
            name="ck_gateway_notifications_status_consistent",
        ),
    )
    op.create_index(
        "ix_gateway_notifications_status_next_attempt_at",
        "gateway_notifications",
        ["status", "next_attempt_at"],
    )


def downgrade() -> None:
    op.drop_index(
        "ix_gateway_notifications_status_next_attempt_at", table_name="gateway_notifications"
    )
    op.drop_table("gateway_notifications")
    op.drop_index("ix_gateway_refunds_out_trade_no", table_name="gateway_refunds")
    op.drop_table("gateway_refunds")
    op.drop_table("gateway_payments")
