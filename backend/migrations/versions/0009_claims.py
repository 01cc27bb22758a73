"""Claims: online claims and one-stop settlements, payout lines, timeline, documents; each
product's 特药 and 合理 item lists; and the ledger's new transaction kind ``claim``.

Revision ID: 0009_claims
Revises: 0008_family
Create Date: 2026-11-22
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from huiminbao.core.db import BigIntPk, UtcDateTime

revision = "0009_claims"
down_revision = "0008_family"
branch_labels = None
depends_on = None

LEDGER_KINDS_BEFORE = "kind IN ('payment', 'refund')"
LEDGER_KINDS_AFTER = "kind IN ('payment', 'refund', 'claim')"


def _ledger_kinds(condition: str) -> None:
    # Batch mode: SQLite rebuilds the table (CHECK constraints cannot be altered in place);
    # PostgreSQL drops and adds the constraint.
    with op.batch_alter_table("ledger_transactions", schema=None) as batch_op:
        batch_op.drop_constraint(op.f("ck_ledger_transactions_kind_values"), type_="check")
        batch_op.create_check_constraint(op.f("ck_ledger_transactions_kind_values"), condition)


def upgrade() -> None:
    op.create_table(
        "product_item_lists",
        sa.Column("id", BigIntPk, nullable=False),
        sa.Column("product_id", BigIntPk, nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("code", sa.String(length=32), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.CheckConstraint(
            "kind IN ('special_drug', 'reasonable')", name=op.f("ck_product_item_lists_kind_values")
        ),
        sa.ForeignKeyConstraint(
            ["product_id"],
            ["products.id"],
            name=op.f("fk_product_item_lists_product_id_products"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_product_item_lists")),
        sa.UniqueConstraint("product_id", "code", name="uq_product_item_lists_product_id_code"),
    )
    op.create_table(
        "claims",
        sa.Column("id", BigIntPk, nullable=False),
        sa.Column("claim_no", sa.String(length=32), nullable=False),
        sa.Column("policy_id", BigIntPk, nullable=False),
        sa.Column("product_id", BigIntPk, nullable=False),
        sa.Column("insured_person_id", BigIntPk, nullable=False),
        sa.Column("tier_code", sa.String(length=32), nullable=False),
        sa.Column("channel", sa.String(length=16), nullable=False),
        sa.Column("status", sa.String(length=24), nullable=False),
        sa.Column("hospital_name", sa.String(length=100), nullable=False),
        sa.Column("admitted_on", sa.Date(), nullable=False),
        sa.Column("discharged_on", sa.Date(), nullable=False),
        sa.Column("in_policy_self_pay_fen", sa.BigInteger(), nullable=False),
        sa.Column("claimed_fen", sa.BigInteger(), nullable=False),
        sa.Column("payout_fen", sa.BigInteger(), nullable=True),
        sa.Column("reject_reason", sa.String(length=500), nullable=True),
        sa.Column("submitted_by_account_id", BigIntPk, nullable=True),
        sa.Column("acted_for_grant_id", sa.BigInteger(), nullable=True),
        sa.Column("created_at", UtcDateTime(), nullable=False),
        sa.Column("decided_at", UtcDateTime(), nullable=True),
        sa.Column("paid_at", UtcDateTime(), nullable=True),
        sa.CheckConstraint(
            "channel IN ('online', 'settlement')", name=op.f("ck_claims_channel_values")
        ),
        sa.CheckConstraint(
            "status IN ('submitted', 'under_review', 'supplement_requested', 'approved', 'paid',"
            " 'rejected', 'settled')",
            name=op.f("ck_claims_status_values"),
        ),
        sa.CheckConstraint("discharged_on >= admitted_on", name=op.f("ck_claims_stay_order")),
        sa.CheckConstraint(
            "in_policy_self_pay_fen >= 0", name=op.f("ck_claims_self_pay_non_negative")
        ),
        sa.CheckConstraint(
            "payout_fen IS NULL OR payout_fen >= 0", name=op.f("ck_claims_payout_non_negative")
        ),
        sa.ForeignKeyConstraint(
            ["insured_person_id"], ["people.id"], name=op.f("fk_claims_insured_person_id_people")
        ),
        sa.ForeignKeyConstraint(
            ["policy_id"], ["policies.id"], name=op.f("fk_claims_policy_id_policies")
        ),
        sa.ForeignKeyConstraint(
            ["product_id"], ["products.id"], name=op.f("fk_claims_product_id_products")
        ),
        sa.ForeignKeyConstraint(
            ["submitted_by_account_id"],
            ["user_accounts.id"],
            name=op.f("fk_claims_submitted_by_account_id_user_accounts"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_claims")),
        sa.UniqueConstraint("claim_no", name=op.f("uq_claims_claim_no")),
    )
    with op.batch_alter_table("claims", schema=None) as batch_op:
        batch_op.create_index(
            "ix_claims_insured_person_id", ["insured_person_id", "created_at"], unique=False
        )
        batch_op.create_index("ix_claims_policy_id_status", ["policy_id", "status"], unique=False)
        batch_op.create_index("ix_claims_status_created_at", ["status", "created_at"], unique=False)

    op.create_table(
        "claim_documents",
        sa.Column("id", BigIntPk, nullable=False),
        sa.Column("claim_id", BigIntPk, nullable=False),
        sa.Column("storage_key", sa.String(length=200), nullable=False),
        sa.Column("filename", sa.String(length=100), nullable=False),
        sa.Column("content_type", sa.String(length=32), nullable=False),
        sa.Column("size_bytes", sa.Integer(), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("uploaded_by_account_id", sa.BigInteger(), nullable=True),
        sa.Column("uploaded_at", UtcDateTime(), nullable=False),
        sa.CheckConstraint(
            "content_type IN ('application/pdf', 'image/jpeg', 'image/png')",
            name=op.f("ck_claim_documents_content_type_values"),
        ),
        sa.CheckConstraint("size_bytes > 0", name=op.f("ck_claim_documents_size_positive")),
        sa.ForeignKeyConstraint(
            ["claim_id"],
            ["claims.id"],
            name=op.f("fk_claim_documents_claim_id_claims"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_claim_documents")),
        sa.UniqueConstraint("storage_key", name=op.f("uq_claim_documents_storage_key")),
    )
    with op.batch_alter_table("claim_documents", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_claim_documents_claim_id"), ["claim_id"], unique=False)

    op.create_table(
        "claim_events",
        sa.Column("id", BigIntPk, nullable=False),
        sa.Column("claim_id", BigIntPk, nullable=False),
        sa.Column("from_status", sa.String(length=24), nullable=True),
        sa.Column("to_status", sa.String(length=24), nullable=False),
        sa.Column("actor_account_id", sa.BigInteger(), nullable=True),
        sa.Column("actor_role", sa.String(length=16), nullable=True),
        sa.Column("actor_client", sa.String(length=64), nullable=True),
        sa.Column("grant_id", sa.BigInteger(), nullable=True),
        sa.Column("message", sa.Text(), nullable=False),
        sa.Column("occurred_at", UtcDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["claim_id"],
            ["claims.id"],
            name=op.f("fk_claim_events_claim_id_claims"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_claim_events")),
    )
    with op.batch_alter_table("claim_events", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_claim_events_claim_id"), ["claim_id"], unique=False)

    op.create_table(
        "claim_items",
        sa.Column("id", BigIntPk, nullable=False),
        sa.Column("claim_id", BigIntPk, nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("code", sa.String(length=32), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("amount_fen", sa.BigInteger(), nullable=False),
        sa.Column("category", sa.String(length=16), nullable=True),
        sa.Column("reason", sa.String(length=200), nullable=True),
        sa.CheckConstraint(
            "category IS NULL OR category IN ('special_drug', 'reasonable')",
            name=op.f("ck_claim_items_category_values"),
        ),
        sa.CheckConstraint("amount_fen > 0", name=op.f("ck_claim_items_amount_positive")),
        sa.ForeignKeyConstraint(
            ["claim_id"],
            ["claims.id"],
            name=op.f("fk_claim_items_claim_id_claims"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_claim_items")),
    )
    with op.batch_alter_table("claim_items", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_claim_items_claim_id"), ["claim_id"], unique=False)

    op.create_table(
        "claim_payout_lines",
        sa.Column("id", BigIntPk, nullable=False),
        sa.Column("claim_id", BigIntPk, nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("category", sa.String(length=16), nullable=False),
        sa.Column("eligible_fen", sa.BigInteger(), nullable=False),
        sa.Column("deductible_fen", sa.BigInteger(), nullable=False),
        sa.Column("deductible_remaining_fen", sa.BigInteger(), nullable=False),
        sa.Column("deductible_used_fen", sa.BigInteger(), nullable=False),
        sa.Column("ratio_bp", sa.Integer(), nullable=False),
        sa.Column("cap_fen", sa.BigInteger(), nullable=False),
        sa.Column("cap_remaining_fen", sa.BigInteger(), nullable=False),
        sa.Column("computed_fen", sa.BigInteger(), nullable=False),
        sa.Column("payout_fen", sa.BigInteger(), nullable=False),
        sa.CheckConstraint(
            "category IN ('compliant', 'reasonable', 'special_drug')",
            name=op.f("ck_claim_payout_lines_category_values"),
        ),
        sa.CheckConstraint(
            "deductible_used_fen <= eligible_fen",
            name=op.f("ck_claim_payout_lines_deductible_within_eligible"),
        ),
        sa.CheckConstraint(
            "eligible_fen >= 0 AND deductible_used_fen >= 0 AND payout_fen >= 0",
            name=op.f("ck_claim_payout_lines_amounts_non_negative"),
        ),
        sa.CheckConstraint(
            "payout_fen <= cap_remaining_fen", name=op.f("ck_claim_payout_lines_payout_within_cap")
        ),
        sa.CheckConstraint(
            "payout_fen <= eligible_fen", name=op.f("ck_claim_payout_lines_payout_within_eligible")
        ),
        sa.ForeignKeyConstraint(
            ["claim_id"],
            ["claims.id"],
            name=op.f("fk_claim_payout_lines_claim_id_claims"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_claim_payout_lines")),
        sa.UniqueConstraint("claim_id", "category", name="uq_claim_payout_lines_claim_id_category"),
    )
    with op.batch_alter_table("claim_payout_lines", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_claim_payout_lines_claim_id"), ["claim_id"], unique=False
        )

    op.create_table(
        "settlements",
        sa.Column("id", BigIntPk, nullable=False),
        sa.Column("client_id", BigIntPk, nullable=False),
        sa.Column("settlement_no", sa.String(length=64), nullable=False),
        sa.Column("request_hash", sa.String(length=64), nullable=False),
        sa.Column("person_id", BigIntPk, nullable=True),
        sa.Column("id_number_masked", sa.String(length=18), nullable=False),
        sa.Column("id_number_hash", sa.String(length=64), nullable=False),
        sa.Column("admitted_on", sa.Date(), nullable=False),
        sa.Column("discharged_on", sa.Date(), nullable=False),
        sa.Column("claimed_fen", sa.BigInteger(), nullable=False),
        sa.Column("outcome", sa.String(length=20), nullable=False),
        sa.Column("reason", sa.String(length=200), nullable=True),
        sa.Column("claim_id", BigIntPk, nullable=True),
        sa.Column("response_status", sa.Integer(), nullable=False),
        sa.Column("response_body", sa.JSON(), nullable=False),
        sa.Column("received_at", UtcDateTime(), nullable=False),
        sa.CheckConstraint(
            "outcome IN ('settled', 'no_policy', 'outside_coverage')",
            name=op.f("ck_settlements_outcome_values"),
        ),
        sa.ForeignKeyConstraint(
            ["claim_id"], ["claims.id"], name=op.f("fk_settlements_claim_id_claims")
        ),
        sa.ForeignKeyConstraint(
            ["client_id"],
            ["service_clients.id"],
            name=op.f("fk_settlements_client_id_service_clients"),
        ),
        sa.ForeignKeyConstraint(
            ["person_id"], ["people.id"], name=op.f("fk_settlements_person_id_people")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_settlements")),
        sa.UniqueConstraint("claim_id", name=op.f("uq_settlements_claim_id")),
        sa.UniqueConstraint(
            "client_id", "settlement_no", name="uq_settlements_client_id_settlement_no"
        ),
    )
    with op.batch_alter_table("settlements", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_settlements_person_id"), ["person_id"], unique=False)

    _ledger_kinds(LEDGER_KINDS_AFTER)


def downgrade() -> None:
    # Claim payouts cannot be expressed without the 'claim' kind: the downgrade refuses to run
    # while any exist rather than deleting money movements.
    claim_transactions = (
        op.get_bind()
        .execute(sa.text("SELECT COUNT(*) FROM ledger_transactions WHERE kind = 'claim'"))
        .scalar()
    )
    if claim_transactions:
        raise RuntimeError(
            "ledger_transactions holds claim payouts; they cannot be downgraded away"
        )
    _ledger_kinds(LEDGER_KINDS_BEFORE)

    with op.batch_alter_table("settlements", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_settlements_person_id"))

    op.drop_table("settlements")
    with op.batch_alter_table("claim_payout_lines", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_claim_payout_lines_claim_id"))

    op.drop_table("claim_payout_lines")
    with op.batch_alter_table("claim_items", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_claim_items_claim_id"))

    op.drop_table("claim_items")
    with op.batch_alter_table("claim_events", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_claim_events_claim_id"))

    op.drop_table("claim_events")
    with op.batch_alter_table("claim_documents", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_claim_documents_claim_id"))

    op.drop_table("claim_documents")
    with op.batch_alter_table("claims", schema=None) as batch_op:
        batch_op.drop_index("ix_claims_status_created_at")
        batch_op.drop_index("ix_claims_policy_id_status")
        batch_op.drop_index("ix_claims_insured_person_id")

    op.drop_table("claims")
    op.drop_table("product_item_lists")
