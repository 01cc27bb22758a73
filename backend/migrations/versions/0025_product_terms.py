"""Terms beyond one ratio (issue 17 item 5): a product's deductible mode (per category or shared),
each benefit's ratio bands and waiting period, the product's pre-existing conditions (ICD-10
prefix, ratio per category or not covered), the 特药 list's indications and designated pharmacies;
a claim's diagnosis codes (encrypted) and, on each payout line, the rule that paid it, its note
and its band segments; the registry simulator's diagnosis records (encrypted codes).

Every new column has a server default or is nullable: existing products read as before (one
deductible per category, no bands, no waiting period, nothing pre-existing).

Revision ID: 0025_product_terms
Revises: 0024_claim_kinds_payouts
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from huiminbao.core.crypto import ENVELOPE_LENGTH
from huiminbao.core.db import BigIntPk

revision = "0025_product_terms"
down_revision = "0024_claim_kinds_payouts"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Plain ADD/DROP COLUMN, which SQLite does in place: a batch copy of ``products`` (or
    # ``claims``) would drop a table other rows refer to, which SQLite refuses. The CHECK is
    # PostgreSQL's only; the product editor's validation keeps SQLite's values in the set.
    op.add_column("products", sa.Column("deductible_mode", sa.String(length=16),
                                        server_default="per_category", nullable=False))
    if op.get_bind().dialect.name == "postgresql":
        op.create_check_constraint("deductible_mode_values", "products",
                                   "deductible_mode IN ('per_category', 'shared')")
    op.add_column("product_benefits", sa.Column("bands", sa.JSON(), server_default="[]",
                                                nullable=False))
    op.add_column("product_benefits", sa.Column("waiting_days", sa.Integer(),
                                                server_default="0", nullable=False))
    op.create_table(
        "product_pre_existing",
        sa.Column("id", BigIntPk, autoincrement=True, nullable=False),
        sa.Column("product_id", BigIntPk, nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("code_prefix", sa.String(length=8), nullable=False),
        sa.Column("name", sa.String(length=40), nullable=False),
        sa.Column("compliant_ratio_bp", sa.Integer(), nullable=True),
        sa.Column("reasonable_ratio_bp", sa.Integer(), nullable=True),
        sa.Column("special_drug_ratio_bp", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(["product_id"], ["products.id"],
                                name=op.f("fk_product_pre_existing_product_id_products"),
                                ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_product_pre_existing")),
        sa.UniqueConstraint("product_id", "code_prefix",
                            name="uq_product_pre_existing_product_id_code_prefix"),
    )
    op.create_index(op.f("ix_product_pre_existing_product_id"), "product_pre_existing",
                    ["product_id"])
    op.add_column("product_item_lists", sa.Column("indications", sa.Text(), server_default="",
                                                  nullable=False))
    op.add_column("product_item_lists", sa.Column("pharmacies", sa.Text(), server_default="",
                                                  nullable=False))
    op.add_column("claims", sa.Column("diagnosis_codes", sa.String(length=ENVELOPE_LENGTH),
                                      nullable=True))
    op.add_column("claim_payout_lines", sa.Column("basis", sa.String(length=16),
                                                  server_default="standard", nullable=False))
    op.add_column("claim_payout_lines", sa.Column("note", sa.String(length=200), nullable=True))
    op.add_column("claim_payout_lines", sa.Column("segments", sa.JSON(), nullable=True))
    op.create_table(
        "registry_diagnoses",
        sa.Column("id", BigIntPk, autoincrement=True, nullable=False),
        sa.Column("person_id", BigIntPk, nullable=False),
        sa.Column("code", sa.String(length=ENVELOPE_LENGTH), nullable=False),
        sa.Column("diagnosed_on", sa.Date(), nullable=False),
        sa.ForeignKeyConstraint(["person_id"], ["registry_persons.id"],
                                name=op.f("fk_registry_diagnoses_person_id_registry_persons")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_registry_diagnoses")),
    )
    op.create_index(op.f("ix_registry_diagnoses_person_id"), "registry_diagnoses",
                    ["person_id"])


def downgrade() -> None:
    op.drop_index(op.f("ix_registry_diagnoses_person_id"), table_name="registry_diagnoses")
    op.drop_table("registry_diagnoses")
    for column in ("segments", "note", "basis"):
        op.drop_column("claim_payout_lines", column)
    op.drop_column("claims", "diagnosis_codes")
    for column in ("pharmacies", "indications"):
        op.drop_column("product_item_lists", column)
    op.drop_index(op.f("ix_product_pre_existing_product_id"), table_name="product_pre_existing")
    op.drop_table("product_pre_existing")
    for column in ("waiting_days", "bands"):
        op.drop_column("product_benefits", column)
    if op.get_bind().dialect.name == "postgresql":
        op.drop_constraint("deductible_mode_values", "products", type_="check")
    op.drop_column("products", "deductible_mode")
