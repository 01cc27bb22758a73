"""Renewal notices: auto-renewal announced before any debit.

Revision ID: 0007_renewal
Revises: 0006_enrollment
Create Date: 2026-11-22
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from huiminbao.core.db import BigIntPk, UtcDateTime

revision = "0007_renewal"
down_revision = "0006_enrollment"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "renewal_notices",
        sa.Column("id", BigIntPk, nullable=False),
        sa.Column("policy_id", BigIntPk, nullable=False),
        sa.Column("next_product_id", BigIntPk, nullable=False),
        sa.Column("consent_version", sa.String(length=20), nullable=False),
        sa.Column("notified_at", UtcDateTime(), nullable=False),
        sa.Column("debit_due_at", UtcDateTime(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("order_no", sa.String(length=32), nullable=True),
        sa.Column("reason", sa.String(length=200), nullable=True),
        sa.CheckConstraint(
            "status IN ('notified', 'renewed', 'skipped', 'failed')",
            name=op.f("ck_renewal_notices_status_values"),
        ),
        sa.ForeignKeyConstraint(
            ["next_product_id"],
            ["products.id"],
            name=op.f("fk_renewal_notices_next_product_id_products"),
        ),
        sa.ForeignKeyConstraint(
            ["policy_id"], ["policies.id"], name=op.f("fk_renewal_notices_policy_id_policies")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_renewal_notices")),
        sa.UniqueConstraint(
            "policy_id", "next_product_id", name="uq_renewal_notices_policy_id_next_product_id"
        ),
    )
    with op.batch_alter_table("renewal_notices", schema=None) as batch_op:
        batch_op.create_index(
            "ix_renewal_notices_status_debit_due_at", ["status", "debit_due_at"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("renewal_notices", schema=None) as batch_op:
        batch_op.drop_index("ix_renewal_notices_status_debit_due_at")

    op.drop_table("renewal_notices")
