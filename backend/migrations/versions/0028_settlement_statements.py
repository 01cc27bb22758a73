"""Settlement payables and statements (issue 17): a one-stop settlement's payout is owed to the
hospital or pharmacy that deducted it at its counter, and cleared by a periodic statement per
client; a designated pharmacy joins the settlement feed as a client with its pharmacy code.

Plain ADD/DROP COLUMN on ``service_clients`` (SQLite does it in place; a batch copy would drop a
table that settlements refer to) and one new table.

Revision ID: 0028_settlement_statements
Revises: 0027_resident_help
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from huiminbao.core.db import BigIntPk, UtcDateTime

revision = "0028_settlement_statements"
down_revision = "0027_resident_help"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("service_clients", sa.Column("pharmacy_code", sa.String(length=32),
                                               nullable=True))
    op.create_table(
        "settlement_statements",
        sa.Column("id", BigIntPk, autoincrement=True, nullable=False),
        sa.Column("statement_no", sa.String(length=32), nullable=False),
        sa.Column("client_id", BigIntPk, nullable=False),
        sa.Column("period_from", sa.Date(), nullable=False),
        sa.Column("period_to", sa.Date(), nullable=False),
        sa.Column("settlement_count", sa.Integer(), nullable=False),
        sa.Column("total_fen", sa.BigInteger(), nullable=False),
        sa.Column("ledger_reference", sa.String(length=48), nullable=True),
        sa.Column("cleared_at", UtcDateTime(), nullable=False),
        sa.Column("cleared_by_account_id", sa.BigInteger(), nullable=True),
        sa.CheckConstraint("period_to >= period_from",
                           name=op.f("ck_settlement_statements_period_order")),
        sa.CheckConstraint("total_fen >= 0",
                           name=op.f("ck_settlement_statements_total_non_negative")),
        sa.ForeignKeyConstraint(["client_id"], ["service_clients.id"],
                                name=op.f("fk_settlement_statements_client_id_service_clients")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_settlement_statements")),
        sa.UniqueConstraint("statement_no", name=op.f("uq_settlement_statements_statement_no")),
    )
    op.create_index(op.f("ix_settlement_statements_client_id"), "settlement_statements",
                    ["client_id"])


def downgrade() -> None:
    op.drop_index(op.f("ix_settlement_statements_client_id"), table_name="settlement_statements")
    op.drop_table("settlement_statements")
    op.drop_column("service_clients", "pharmacy_code")
