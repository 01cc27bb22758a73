"""Catalog administration: first-year flag, subsidy settings, eligibility, no health questions.

Revision ID: 0005_catalog_admin
Revises: 0004_gateway
Create Date: 2026-11-22
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005_catalog_admin"
down_revision = "0004_gateway"
branch_labels = None
depends_on = None

ALL_ASSISTANCE_CATEGORIES = "tekun,dibao,dibian,disabled"

# Existing products: the subsidy pays for the cheapest tier (the first listed on a tie).
_BACKFILL_SUBSIDIZED_TIER = """
UPDATE products SET subsidized_tier_code = (
    SELECT t.code FROM product_tiers AS t WHERE t.product_id = products.id
    ORDER BY t.premium_fen, t.position, t.id LIMIT 1
)
"""


def upgrade() -> None:
    op.add_column("products", sa.Column("first_year", sa.Boolean(), nullable=False,
                                        server_default=sa.false()))
    op.add_column("products", sa.Column("subsidized_tier_code", sa.String(32), nullable=True))
    op.add_column("products", sa.Column("subsidized_categories", sa.String(64), nullable=False,
                                        server_default=ALL_ASSISTANCE_CATEGORIES))
    op.add_column("products", sa.Column("eligibility_conditions", sa.Text(), nullable=False,
                                        server_default=""))
    if op.get_bind().dialect.name == "sqlite":
        # SQLite cannot add a constraint to an existing table, but a new column may carry one;
        # batch mode (copy and drop the table) would cascade-delete the tiers on the drop.
        op.execute(
            "ALTER TABLE products ADD COLUMN health_questions TEXT DEFAULT '' NOT NULL "
            "CONSTRAINT ck_products_no_health_questions CHECK (health_questions = '')"
        )
    else:
        op.add_column("products", sa.Column("health_questions", sa.Text(), nullable=False,
                                            server_default=""))
        op.create_check_constraint(op.f("ck_products_no_health_questions"), "products",
                                   "health_questions = ''")
    op.execute(_BACKFILL_SUBSIDIZED_TIER)


def downgrade() -> None:
    if op.get_bind().dialect.name != "sqlite":
        op.drop_constraint(op.f("ck_products_no_health_questions"), "products", type_="check")
    # Plain ALTER TABLE … DROP COLUMN (SQLite ≥ 3.35), not batch mode: see upgrade().
    for column in ("health_questions", "eligibility_conditions", "subsidized_categories",
                   "subsidized_tier_code", "first_year"):
        op.drop_column("products", column)
