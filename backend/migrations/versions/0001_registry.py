"""Registry simulator: persons, personal accounts, ledger entries, relations, operations.

Revision ID: 0001_registry
Revises:
Create Date: 2026-11-22

Constraint names are written out and follow ``core.db.NAMING_CONVENTION`` exactly, so that the
models and this migration compare equal.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from huiminbao.core.db import BigIntPk, UtcDateTime

revision = "0001_registry"
down_revision = None
branch_labels = None
depends_on = None

# Enum values as of this revision (later changes to the enums need their own migration).
SCHEMES = "'employee', 'resident'"
PERSON_STATUSES = "'active', 'suspended'"
ASSISTANCE = "'none', 'tekun', 'dibao', 'dibian', 'disabled'"
ENTRY_KINDS = "'debit', 'refund', 'deposit'"
BALANCE_KINDS = "'prior_years', 'current_year'"
RELATIONS = "'spouse', 'child', 'parent'"
OPERATION_KINDS = "'debit', 'refund'"
OPERATION_STATUSES = "'succeeded', 'failed'"
FAILURE_REASONS = (
    "'insufficient_balance', 'no_account', 'account_suspended', 'nothing_to_refund',"
    " 'unknown_original'"
)


def upgrade() -> None:
    op.create_table(
        "registry_persons",
        sa.Column("id", BigIntPk, primary_key=True),
        sa.Column("id_number", sa.String(18), nullable=False),
        sa.Column("name", sa.String(64), nullable=False),
        sa.Column("phone", sa.String(11), nullable=True),
        sa.Column("city_code", sa.String(6), nullable=False),
        sa.Column("scheme", sa.String(16), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("assistance", sa.String(16), nullable=False),
        sa.Column("created_at", UtcDateTime(), nullable=False),
        sa.Column("updated_at", UtcDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_registry_persons"),
        sa.UniqueConstraint("id_number", name="uq_registry_persons_id_number"),
        sa.CheckConstraint(f"scheme IN ({SCHEMES})", name="ck_registry_persons_scheme_allowed"),
        sa.CheckConstraint(
            f"status IN ({PERSON_STATUSES})", name="ck_registry_persons_status_allowed"
        ),
        sa.CheckConstraint(
            f"assistance IN ({ASSISTANCE})", name="ck_registry_persons_assistance_allowed"
        ),
    )

    op.create_table(
        "registry_accounts",
        sa.Column("id", BigIntPk, primary_key=True),
        sa.Column("person_id", BigIntPk, nullable=False),
        sa.Column("prior_years_fen", sa.BigInteger(), nullable=False),
        sa.Column("current_year_fen", sa.BigInteger(), nullable=False),
        sa.Column("created_at", UtcDateTime(), nullable=False),
        sa.Column("updated_at", UtcDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_registry_accounts"),
        sa.ForeignKeyConstraint(
            ["person_id"],
            ["registry_persons.id"],
            name="fk_registry_accounts_person_id_registry_persons",
        ),
        sa.UniqueConstraint("person_id", name="uq_registry_accounts_person_id"),
        sa.CheckConstraint(
            "prior_years_fen >= 0", name="ck_registry_accounts_prior_years_fen_non_negative"
        ),
        sa.CheckConstraint(
            "current_year_fen >= 0", name="ck_registry_accounts_current_year_fen_non_negative"
        ),
    )

    op.create_table(
        "registry_account_entries",
        sa.Column("id", BigIntPk, primary_key=True),
        sa.Column("account_id", BigIntPk, nullable=False),
        sa.Column("request_no", sa.String(64), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("balance_kind", sa.String(16), nullable=False),
        sa.Column("amount_fen", sa.BigInteger(), nullable=False),
        sa.Column("balance_after_fen", sa.BigInteger(), nullable=False),
        sa.Column("purpose", sa.String(200), nullable=False),
        sa.Column("occurred_at", UtcDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_registry_account_entries"),
        sa.ForeignKeyConstraint(
            ["account_id"],
            ["registry_accounts.id"],
            name="fk_registry_account_entries_account_id_registry_accounts",
        ),
        sa.CheckConstraint(
            f"kind IN ({ENTRY_KINDS})", name="ck_registry_account_entries_kind_allowed"
        ),
        sa.CheckConstraint(
            f"balance_kind IN ({BALANCE_KINDS})",
            name="ck_registry_account_entries_balance_kind_allowed",
        ),
        sa.CheckConstraint(
            "amount_fen <> 0", name="ck_registry_account_entries_amount_fen_non_zero"
        ),
        sa.CheckConstraint(
            "balance_after_fen >= 0",
            name="ck_registry_account_entries_balance_after_fen_non_negative",
        ),
        sa.CheckConstraint(
            "(kind = 'debit' AND amount_fen < 0) OR (kind <> 'debit' AND amount_fen > 0)",
            name="ck_registry_account_entries_amount_fen_sign",
        ),
    )
    op.create_index(
        "ix_registry_account_entries_account_id_id",
        "registry_account_entries",
        ["account_id", "id"],
    )
    op.create_index(
        "ix_registry_account_entries_request_no", "registry_account_entries", ["request_no"]
    )

    op.create_table(
        "registry_relations",
        sa.Column("id", BigIntPk, primary_key=True),
        sa.Column("person_id", BigIntPk, nullable=False),
        sa.Column("relative_id", BigIntPk, nullable=False),
        sa.Column("relation", sa.String(16), nullable=False),
        sa.Column("created_at", UtcDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_registry_relations"),
        sa.ForeignKeyConstraint(
            ["person_id"],
            ["registry_persons.id"],
            name="fk_registry_relations_person_id_registry_persons",
        ),
        sa.ForeignKeyConstraint(
            ["relative_id"],
            ["registry_persons.id"],
            name="fk_registry_relations_relative_id_registry_persons",
        ),
        sa.UniqueConstraint(
            "person_id", "relative_id", name="uq_registry_relations_person_id_relative_id"
        ),
        sa.CheckConstraint(
            f"relation IN ({RELATIONS})", name="ck_registry_relations_relation_allowed"
        ),
        sa.CheckConstraint("person_id <> relative_id", name="ck_registry_relations_not_self"),
    )
    op.create_index("ix_registry_relations_relative_id", "registry_relations", ["relative_id"])

    op.create_table(
        "registry_operations",
        sa.Column("id", BigIntPk, primary_key=True),
        sa.Column("request_no", sa.String(64), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("id_number", sa.String(18), nullable=True),
        sa.Column("account_id", BigIntPk, nullable=True),
        sa.Column("amount_fen", sa.BigInteger(), nullable=False),
        sa.Column("sources", sa.String(64), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("failure_reason", sa.String(32), nullable=True),
        sa.Column("original_request_no", sa.String(64), nullable=True),
        sa.Column("prior_years_fen", sa.BigInteger(), nullable=False),
        sa.Column("current_year_fen", sa.BigInteger(), nullable=False),
        sa.Column("purpose", sa.String(200), nullable=False),
        sa.Column("occurred_at", UtcDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_registry_operations"),
        sa.ForeignKeyConstraint(
            ["account_id"],
            ["registry_accounts.id"],
            name="fk_registry_operations_account_id_registry_accounts",
        ),
        sa.UniqueConstraint("request_no", name="uq_registry_operations_request_no"),
        sa.CheckConstraint(
            f"kind IN ({OPERATION_KINDS})", name="ck_registry_operations_kind_allowed"
        ),
        sa.CheckConstraint(
            f"status IN ({OPERATION_STATUSES})", name="ck_registry_operations_status_allowed"
        ),
        sa.CheckConstraint(
            f"failure_reason IS NULL OR failure_reason IN ({FAILURE_REASONS})",
            name="ck_registry_operations_failure_reason_allowed",
        ),
        sa.CheckConstraint("amount_fen > 0", name="ck_registry_operations_amount_fen_positive"),
        sa.CheckConstraint(
            "prior_years_fen >= 0", name="ck_registry_operations_prior_years_fen_non_negative"
        ),
        sa.CheckConstraint(
            "current_year_fen >= 0", name="ck_registry_operations_current_year_fen_non_negative"
        ),
        sa.CheckConstraint(
            "(status = 'succeeded' AND failure_reason IS NULL"
            " AND prior_years_fen + current_year_fen = amount_fen)"
            " OR (status = 'failed' AND failure_reason IS NOT NULL"
            " AND prior_years_fen = 0 AND current_year_fen = 0)",
            name="ck_registry_operations_outcome_consistent",
        ),
        sa.CheckConstraint(
            "(kind = 'refund') = (original_request_no IS NOT NULL)",
            name="ck_registry_operations_original_for_refund",
        ),
    )
    op.create_index("ix_registry_operations_account_id", "registry_operations", ["account_id"])
    op.create_index("ix_registry_operations_id_number", "registry_operations", ["id_number"])
    op.create_index(
        "ix_registry_operations_original_request_no", "registry_operations", ["original_request_no"]
    )


def downgrade() -> None:
    op.drop_index("ix_registry_operations_original_request_no", table_name="registry_operations")
    op.drop_index("ix_registry_operations_id_number", table_name="registry_operations")
    op.drop_index("ix_registry_operations_account_id", table_name="registry_operations")
    op.drop_table("registry_operations")
    op.drop_index("ix_registry_relations_relative_id", table_name="registry_relations")
    op.drop_table("registry_relations")
    op.drop_index("ix_registry_account_entries_request_no", table_name="registry_account_entries")
    op.drop_index(
        "ix_registry_account_entries_account_id_id", table_name="registry_account_entries"
    )
    op.drop_table("registry_account_entries")
    op.drop_table("registry_accounts")
    op.drop_table("registry_persons")
