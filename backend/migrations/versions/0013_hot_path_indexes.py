"""An index on the orders a personal account paid, by payer and product: the six-persons-per-
account rule reads it on every personal-account enrollment (the hot-path EXPLAIN test found it
reading the whole table).

Revision ID: 0013_hot_path_indexes
Revises: 0012_disclosure_snapshots
Create Date: 2026-11-22
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0013_hot_path_indexes"
down_revision = "0012_disclosure_snapshots"
branch_labels = None
depends_on = None

HAS_PAYER = sa.text("payer_person_id IS NOT NULL")


def upgrade() -> None:
    with op.batch_alter_table("orders", schema=None) as batch_op:
        batch_op.create_index(
            "ix_orders_payer_person_id",
            ["payer_person_id", "product_id"],
            unique=False,
            postgresql_where=HAS_PAYER,
            sqlite_where=HAS_PAYER,
            # Built CONCURRENTLY by hand ahead of a deploy on a large table (README): kept.
            if_not_exists=True,
        )


def downgrade() -> None:
    with op.batch_alter_table("orders", schema=None) as batch_op:
        batch_op.drop_index(
            "ix_orders_payer_person_id",
            postgresql_where=HAS_PAYER,
            sqlite_where=HAS_PAYER,
        )
