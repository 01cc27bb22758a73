"""The latest snapshot of each product's public disclosure figures: the disclosure endpoint
answers from it instead of counting every policy on every request.

Revision ID: 0012_disclosure_snapshots
Revises: 0011_disclosure
Create Date: 2026-11-23
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from huiminbao.core.db import BigIntPk, UtcDateTime

revision = "0012_disclosure_snapshots"
down_revision = "0011_disclosure"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "disclosure_snapshots",
        sa.Column("product_id", BigIntPk, nullable=False),
        sa.Column("as_of", UtcDateTime(), nullable=False),
        sa.Column("figures", sa.JSON(), nullable=False),
        sa.Column("counted_in_ms", sa.Integer(), nullable=False),
        sa.Column("refresh_claimed_at", UtcDateTime(), nullable=True),
        sa.ForeignKeyConstraint(
            ["product_id"], ["products.id"],
            name=op.f("fk_disclosure_snapshots_product_id_products"), ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("product_id", name=op.f("pk_disclosure_snapshots")),
    )


def downgrade() -> None:
    # Derived data only: the next request or `huiminbao disclosure refresh` counts again.
    op.drop_table("disclosure_snapshots")
