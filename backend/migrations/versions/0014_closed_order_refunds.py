"""Money that arrives for a closed order goes back: a refund without a policy (``policy_id``
NULL, one per order), and the runs of ``reconcile`` kept for the console.

Revision ID: 0014_closed_order_refunds
Revises: 0013_hot_path_indexes
Create Date: 2026-12-04
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from huiminbao.core.db import BigIntPk, UtcDateTime

revision = "0014_closed_order_refunds"
down_revision = "0013_hot_path_indexes"
branch_labels = None
depends_on = None

NO_POLICY = sa.text("policy_id IS NULL")


def upgrade() -> None:
    with op.batch_alter_table("refunds", schema=None) as batch_op:
        batch_op.alter_column("policy_id", existing_type=BigIntPk, nullable=True)
        batch_op.create_index("uq_refunds_one_per_closed_order", ["order_id"], unique=True,
                              postgresql_where=NO_POLICY, sqlite_where=NO_POLICY)
    op.create_table(
        "reconcile_runs",
        sa.Column("id", BigIntPk, nullable=False),
        sa.Column("started_at", UtcDateTime(), nullable=False),
        sa.Column("finished_at", UtcDateTime(), nullable=False),
        sa.Column("ok", sa.Boolean(), nullable=False),
        sa.Column("settled_orders", sa.Integer(), nullable=False),
        sa.Column("settled_refunds", sa.Integer(), nullable=False),
        sa.Column("healed", sa.Integer(), nullable=False),
        sa.Column("violations", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_reconcile_runs")),
    )
    op.create_index(op.f("ix_reconcile_runs_started_at"), "reconcile_runs", ["started_at"],
                    unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_reconcile_runs_started_at"), table_name="reconcile_runs")
    op.drop_table("reconcile_runs")
    # Refunds of closed orders have no policy: they cannot survive a NOT NULL policy_id.
    op.execute("DELETE FROM refunds WHERE policy_id IS NULL")
    with op.batch_alter_table("refunds", schema=None) as batch_op:
        batch_op.drop_index("uq_refunds_one_per_closed_order", postgresql_where=NO_POLICY,
                            sqlite_where=NO_POLICY)
        batch_op.alter_column("policy_id", existing_type=BigIntPk, nullable=False)
