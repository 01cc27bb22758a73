"""Claim kinds, payees and payouts, and the claim clock (issue 17): each claim's kind and its
kind-specific facts; the clock (material complete, promised decision and payment days, how many
times documents were asked for); each product's claim kinds with documents and promises, its
designated pharmacies and its special drugs' indications; a claim's payee (encrypted) and its
payout; and the two simulators' books (bank cards, transfers; demo mode and tests only).

``claims`` gains columns with plain ``ALTER TABLE … ADD COLUMN`` (server defaults for the
non-null ones), which SQLite does in place (see 0019). Existing claims are inpatient claims.

Revision ID: 0024_claim_kinds_payouts
Revises: 0023_subsidy_payers
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from huiminbao.core.crypto import ENVELOPE_LENGTH
from huiminbao.core.db import BigIntPk, UtcDateTime

revision = "0024_claim_kinds_payouts"
down_revision = "0023_subsidy_payers"
branch_labels = None
depends_on = None

_CLAIM_COLUMNS = (
    sa.Column("kind", sa.String(length=24), server_default="inpatient", nullable=False),
    sa.Column("diagnosis_code", sa.String(length=16), nullable=True),
    sa.Column("prescription_no", sa.String(length=64), nullable=True),
    sa.Column("pharmacy_code", sa.String(length=32), nullable=True),
    sa.Column("treatment_city_code", sa.String(length=6), nullable=True),
    sa.Column("material_complete_at", UtcDateTime(), nullable=True),
    sa.Column("decide_by", sa.Date(), nullable=True),
    sa.Column("pay_by", sa.Date(), nullable=True),
    sa.Column("supplement_requests", sa.Integer(), server_default="0", nullable=False),
)


def _product_fk(table: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(["product_id"], ["products.id"],
                                   name=op.f(f"fk_{table}_product_id_products"),
                                   ondelete="CASCADE")


def upgrade() -> None:
    for column in _CLAIM_COLUMNS:
        op.add_column("claims", column)
    op.create_table(
        "product_claim_kinds",
        sa.Column("id", BigIntPk, autoincrement=True, nullable=False),
        sa.Column("product_id", BigIntPk, nullable=False),
        sa.Column("kind", sa.String(length=24), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("documents", sa.JSON(), nullable=False),
        sa.Column("decide_within_working_days", sa.Integer(), nullable=False),
        sa.Column("pay_within_days", sa.Integer(), nullable=False),
        sa.CheckConstraint("decide_within_working_days BETWEEN 1 AND 20",
                           name=op.f("ck_product_claim_kinds_decide_within_law")),
        sa.CheckConstraint("pay_within_days BETWEEN 1 AND 10",
                           name=op.f("ck_product_claim_kinds_pay_within_law")),
        _product_fk("product_claim_kinds"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_product_claim_kinds")),
        sa.UniqueConstraint("product_id", "kind", name="uq_product_claim_kinds_product_id_kind"),
    )
    op.create_table(
        "product_pharmacies",
        sa.Column("id", BigIntPk, autoincrement=True, nullable=False),
        sa.Column("product_id", BigIntPk, nullable=False),
        sa.Column("code", sa.String(length=32), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("address", sa.String(length=200), server_default="", nullable=False),
        _product_fk("product_pharmacies"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_product_pharmacies")),
        sa.UniqueConstraint("product_id", "code", name="uq_product_pharmacies_product_id_code"),
    )
    op.create_table(
        "product_drug_indications",
        sa.Column("id", BigIntPk, autoincrement=True, nullable=False),
        sa.Column("product_id", BigIntPk, nullable=False),
        sa.Column("drug_code", sa.String(length=32), nullable=False),
        sa.Column("icd_prefix", sa.String(length=16), nullable=False),
        sa.Column("label", sa.String(length=100), nullable=False),
        _product_fk("product_drug_indications"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_product_drug_indications")),
        sa.UniqueConstraint("product_id", "drug_code", "icd_prefix",
                            name="uq_product_drug_indications_product_id_drug_code_icd_prefix"),
    )
    op.create_table(
        "claim_payees",
        sa.Column("claim_id", BigIntPk, nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("holder_name", sa.String(length=ENVELOPE_LENGTH), nullable=False),
        sa.Column("holder_id_number", sa.String(length=ENVELOPE_LENGTH), nullable=False),
        sa.Column("relation", sa.String(length=16), nullable=True),
        sa.Column("card_no", sa.String(length=ENVELOPE_LENGTH), nullable=False),
        sa.Column("card_last4", sa.String(length=4), nullable=False),
        sa.Column("bank_name", sa.String(length=40), nullable=False),
        sa.Column("check_reference", sa.String(length=64), nullable=False),
        sa.Column("verified_at", UtcDateTime(), nullable=False),
        sa.CheckConstraint("kind IN ('self', 'guardian', 'heir')",
                           name=op.f("ck_claim_payees_kind_values")),
        sa.ForeignKeyConstraint(["claim_id"], ["claims.id"],
                                name=op.f("fk_claim_payees_claim_id_claims"), ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("claim_id", name=op.f("pk_claim_payees")),
    )
    op.create_table(
        "claim_payouts",
        sa.Column("id", BigIntPk, autoincrement=True, nullable=False),
        sa.Column("claim_id", BigIntPk, nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("request_no", sa.String(length=40), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("max_attempts", sa.Integer(), server_default="3", nullable=False),
        sa.Column("amount_fen", sa.BigInteger(), nullable=False),
        sa.Column("reference", sa.String(length=64), nullable=True),
        sa.Column("last_error", sa.String(length=200), nullable=True),
        sa.Column("created_at", UtcDateTime(), nullable=False),
        sa.Column("updated_at", UtcDateTime(), nullable=False),
        sa.Column("paid_at", UtcDateTime(), nullable=True),
        sa.CheckConstraint("status IN ('sending', 'paid', 'failed')",
                           name=op.f("ck_claim_payouts_status_values")),
        sa.CheckConstraint("amount_fen > 0", name=op.f("ck_claim_payouts_amount_positive")),
        sa.ForeignKeyConstraint(["claim_id"], ["claims.id"],
                                name=op.f("fk_claim_payouts_claim_id_claims"), ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_claim_payouts")),
        sa.UniqueConstraint("claim_id", name=op.f("uq_claim_payouts_claim_id")),
        sa.UniqueConstraint("request_no", name=op.f("uq_claim_payouts_request_no")),
    )
    op.create_index("ix_claim_payouts_status_updated_at", "claim_payouts",
                    ["status", "updated_at"])
    op.create_table(
        "sim_bank_cards",
        sa.Column("card_hash", sa.String(length=64), nullable=False),
        sa.Column("holder_hash", sa.String(length=64), nullable=False),
        sa.Column("registered_at", UtcDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("card_hash", name=op.f("pk_sim_bank_cards")),
    )
    op.create_table(
        "sim_payout_transfers",
        sa.Column("request_no", sa.String(length=40), nullable=False),
        sa.Column("card_hash", sa.String(length=64), nullable=False),
        sa.Column("amount_fen", sa.BigInteger(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("reason", sa.String(length=200), nullable=True),
        sa.Column("reference", sa.String(length=64), nullable=False),
        sa.Column("created_at", UtcDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("request_no", name=op.f("pk_sim_payout_transfers")),
    )


def downgrade() -> None:
    op.drop_table("sim_payout_transfers")
    op.drop_table("sim_bank_cards")
    op.drop_index("ix_claim_payouts_status_updated_at", table_name="claim_payouts")
    op.drop_table("claim_payouts")
    op.drop_table("claim_payees")
    op.drop_table("product_drug_indications")
    op.drop_table("product_pharmacies")
    op.drop_table("product_claim_kinds")
    with op.batch_alter_table("claims") as batch:
        for column in reversed(_CLAIM_COLUMNS):
            batch.drop_column(column.name)
