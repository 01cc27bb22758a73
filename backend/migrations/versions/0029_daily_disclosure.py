"""Day-end disclosure snapshots: each published product's public figures as at the end of each
China-time day (00:00 Asia/Shanghai of the next day), stored once and never replaced, so that
"as of a day end" answers without counting every policy (``disclosure.snapshots``).

Revision ID: 0029_daily_disclosure
Revises: 0028_settlement_statements
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from huiminbao.core.db import BigIntPk, UtcDateTime

revision = "0029_daily_disclosure"
down_revision = "0028_settlement_statements"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "disclosure_day_ends",
        sa.Column("product_id", BigIntPk, nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("as_of", UtcDateTime(), nullable=False),
        sa.Column("figures", sa.JSON(), nullable=False),
        sa.Column("counted_in_ms", sa.Integer(), nullable=False),
        sa.Column("stored_at", UtcDateTime(), nullable=False),
        sa.ForeignKeyConstraint(["product_id"], ["products.id"],
                                name=op.f("fk_disclosure_day_ends_product_id_products"),
                                ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("product_id", "day", name=op.f("pk_disclosure_day_ends")),
    )


def downgrade() -> None:
    op.drop_table("disclosure_day_ends")
