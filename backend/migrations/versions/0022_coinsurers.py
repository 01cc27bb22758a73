"""Co-insurers (共保体, 002 三(一)): a product's insurers with their shares and one lead; the
insurer each insurer-staff account works for; a contested claim's first approval; the amount
above which a claim is contested; the product's target payout ratio and how it uses the
previous year's surplus (002 三(五)). Each existing product gets its one insurer (the ``insurer``
string) at 10,000 basis points as the lead.

``products`` gains a nullable column with a plain ``ALTER TABLE … ADD COLUMN``, which SQLite does
in place (see 0019).

Revision ID: 0022_coinsurers
Revises: 0021_encrypt_personal_fields
Create Date: 2026-12-05
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from huiminbao.core.db import BigIntPk, UtcDateTime

revision = "0022_coinsurers"
down_revision = "0021_encrypt_personal_fields"
branch_labels = None
depends_on = None


_BACKFILL = (
    "INSERT INTO ledger_entries (transaction_id, account, amount_fen) "
    "SELECT e.transaction_id, 'insurer_premium:' || pi.product_id || ':' || pi.id, "
    "e.amount_fen FROM ledger_entries e JOIN product_insurers pi "
    "ON e.account = 'premium_income:' || pi.product_id",
    "INSERT INTO ledger_entries (transaction_id, account, amount_fen) "
    "SELECT e.transaction_id, 'insurer_payout:' || pi.product_id || ':' || pi.id, "
    "e.amount_fen FROM ledger_entries e JOIN product_insurers pi "
    "ON e.account = 'claims_payable:' || pi.product_id",
    "INSERT INTO ledger_entries (transaction_id, account, amount_fen) "
    "SELECT e.transaction_id, 'coinsurance_split:' || pi.product_id, -e.amount_fen "
    "FROM ledger_entries e JOIN product_insurers pi "
    "ON e.account IN ('premium_income:' || pi.product_id, 'claims_payable:' || pi.product_id)",
)


def upgrade() -> None:
    op.add_column("products", sa.Column("contested_claim_threshold_fen", sa.BigInteger(),
                                        nullable=True))
    op.add_column("products", sa.Column("target_payout_ratio_bp", sa.Integer(), nullable=True))
    op.add_column("products", sa.Column("surplus_used_fen", sa.BigInteger(), nullable=True))
    op.add_column("products", sa.Column("surplus_use_note", sa.Text(), nullable=True))
    op.create_table(
        "product_insurers",
        sa.Column("id", BigIntPk, autoincrement=True, nullable=False),
        sa.Column("product_id", BigIntPk, nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("insurer", sa.String(length=200), nullable=False),
        sa.Column("share_bp", sa.Integer(), nullable=False),
        sa.Column("is_lead", sa.Boolean(), nullable=False),
        sa.CheckConstraint("share_bp > 0 AND share_bp <= 10000",
                           name=op.f("ck_product_insurers_share_range")),
        sa.ForeignKeyConstraint(["product_id"], ["products.id"],
                                name=op.f("fk_product_insurers_product_id_products"),
                                ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_product_insurers")),
        sa.UniqueConstraint("product_id", "insurer",
                            name="uq_product_insurers_product_id_insurer"),
    )
    op.create_index(op.f("ix_product_insurers_product_id"), "product_insurers", ["product_id"])
    op.create_table(
        "insurer_staff",
        sa.Column("account_id", BigIntPk, nullable=False),
        sa.Column("insurer", sa.String(length=200), nullable=False),
        sa.Column("updated_at", UtcDateTime(), nullable=False),
        sa.ForeignKeyConstraint(["account_id"], ["user_accounts.id"],
                                name=op.f("fk_insurer_staff_account_id_user_accounts"),
                                ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("account_id", name=op.f("pk_insurer_staff")),
    )
    op.create_table(
        "claim_co_decisions",
        sa.Column("claim_id", BigIntPk, nullable=False),
        sa.Column("account_id", sa.BigInteger(), nullable=False),
        sa.Column("insurer", sa.String(length=200), nullable=False),
        sa.Column("payout_fen", sa.BigInteger(), nullable=False),
        sa.Column("decided_at", UtcDateTime(), nullable=False),
        sa.ForeignKeyConstraint(["claim_id"], ["claims.id"],
                                name=op.f("fk_claim_co_decisions_claim_id_claims"),
                                ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("claim_id", name=op.f("pk_claim_co_decisions")),
    )
    # Every existing product: its one insurer, the whole share, the lead.
    op.execute(
        "INSERT INTO product_insurers (product_id, position, insurer, share_bp, is_lead) "
        "SELECT id, 0, insurer, 10000, TRUE FROM products")
    # Money booked before: the one insurer's whole part, in the transaction that booked it (as
    # ``ledger.post`` now does), so statements and ``huiminbao reconcile`` cover the history.
    for statement in _BACKFILL:
        op.execute(statement)


def downgrade() -> None:
    op.execute("DELETE FROM ledger_entries WHERE account LIKE 'insurer_premium:%' "
               "OR account LIKE 'insurer_payout:%' OR account LIKE 'coinsurance_split:%'")
    op.drop_table("claim_co_decisions")
    op.drop_table("insurer_staff")
    op.drop_index(op.f("ix_product_insurers_product_id"), table_name="product_insurers")
    op.drop_table("product_insurers")
    op.drop_column("products", "surplus_use_note")
    op.drop_column("products", "surplus_used_fen")
    op.drop_column("products", "target_payout_ratio_bp")
    op.drop_column("products", "contested_claim_threshold_fen")
