"""Catalog: products, tiers, benefits and versioned terms.

Revision ID: 0002_catalog
Revises: 0001_registry
Create Date: 2026-11-22
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from huiminbao.core.db import BigIntPk, UtcDateTime

revision = "0002_catalog"
down_revision = "0001_registry"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "products",
        sa.Column("id", BigIntPk, primary_key=True),
        sa.Column("code", sa.String(40), nullable=False),
        sa.Column("city_code", sa.String(6), nullable=False),
        sa.Column("city_name", sa.String(40), nullable=False),
        sa.Column("year", sa.Integer, nullable=False),
        sa.Column("name", sa.String(100), nullable=False),
        sa.Column("insurer", sa.String(200), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("window_opens_on", sa.Date, nullable=False),
        sa.Column("window_closes_on", sa.Date, nullable=False),
        sa.Column("coverage_starts_on", sa.Date, nullable=False),
        sa.Column("coverage_ends_on", sa.Date, nullable=False),
        sa.Column("payable_balances", sa.String(40), nullable=False),
        sa.Column("created_at", UtcDateTime, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_products"),
        sa.UniqueConstraint("code", name="uq_products_code"),
        sa.CheckConstraint("window_closes_on >= window_opens_on",
                           name="ck_products_window_order"),
        sa.CheckConstraint("coverage_ends_on > coverage_starts_on",
                           name="ck_products_coverage_order"),
        sa.CheckConstraint("status IN ('draft', 'published', 'withdrawn')",
                           name="ck_products_status_values"),
        sa.CheckConstraint("payable_balances IN ('prior_years', 'prior_years,current_year')",
                           name="ck_products_payable_balances_values"),
    )
    op.create_index("ix_products_city_code", "products", ["city_code"])
    op.create_table(
        "product_tiers",
        sa.Column("id", BigIntPk, primary_key=True),
        sa.Column("product_id", BigIntPk, nullable=False),
        sa.Column("code", sa.String(32), nullable=False),
        sa.Column("name", sa.String(40), nullable=False),
        sa.Column("position", sa.Integer, nullable=False),
        sa.Column("premium_fen", sa.BigInteger, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_product_tiers"),
        sa.ForeignKeyConstraint(["product_id"], ["products.id"], ondelete="CASCADE",
                                name="fk_product_tiers_product_id_products"),
        sa.UniqueConstraint("product_id", "code", name="uq_product_tiers_product_id_code"),
        sa.CheckConstraint("premium_fen > 0", name="ck_product_tiers_premium_positive"),
    )
    op.create_table(
        "product_benefits",
        sa.Column("id", BigIntPk, primary_key=True),
        sa.Column("tier_id", BigIntPk, nullable=False),
        sa.Column("category", sa.String(16), nullable=False),
        sa.Column("position", sa.Integer, nullable=False),
        sa.Column("deductible_fen", sa.BigInteger, nullable=False),
        sa.Column("ratio_bp", sa.Integer, nullable=False),
        sa.Column("cap_fen", sa.BigInteger, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_product_benefits"),
        sa.ForeignKeyConstraint(["tier_id"], ["product_tiers.id"], ondelete="CASCADE",
                                name="fk_product_benefits_tier_id_product_tiers"),
        sa.UniqueConstraint("tier_id", "category", name="uq_product_benefits_tier_id_category"),
        sa.CheckConstraint("category IN ('compliant', 'reasonable', 'special_drug')",
                           name="ck_product_benefits_category_values"),
        sa.CheckConstraint("deductible_fen >= 0",
                           name="ck_product_benefits_deductible_non_negative"),
        sa.CheckConstraint("ratio_bp > 0 AND ratio_bp <= 10000",
                           name="ck_product_benefits_ratio_range"),
        sa.CheckConstraint("cap_fen > 0", name="ck_product_benefits_cap_positive"),
    )
    op.create_table(
        "product_terms",
        sa.Column("id", BigIntPk, primary_key=True),
        sa.Column("product_id", BigIntPk, nullable=False),
        sa.Column("version", sa.String(20), nullable=False),
        sa.Column("notice", sa.Text, nullable=False),
        sa.Column("coverage", sa.Text, nullable=False),
        sa.Column("claim_scope", sa.Text, nullable=False),
        sa.Column("exclusions", sa.Text, nullable=False),
        sa.Column("published_at", UtcDateTime, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_product_terms"),
        sa.ForeignKeyConstraint(["product_id"], ["products.id"], ondelete="CASCADE",
                                name="fk_product_terms_product_id_products"),
        sa.UniqueConstraint("product_id", "version", name="uq_product_terms_product_id_version"),
    )


def downgrade() -> None:
    op.drop_table("product_terms")
    op.drop_table("product_benefits")
    op.drop_table("product_tiers")
    op.drop_index("ix_products_city_code", table_name="products")
    op.drop_table("products")
