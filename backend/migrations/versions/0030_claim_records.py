"""Claims from authorized records: the registry simulator's settlement records, the resident's
authorization to read them for a period (revocable), and the settlement each claim came from.

Three new tables; nothing else changes.

Revision ID: 0030_claim_records
Revises: 0029_daily_disclosure
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from huiminbao.core.db import BigIntPk, UtcDateTime

revision = "0030_claim_records"
down_revision = "0029_daily_disclosure"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "registry_settlements",
        sa.Column("id", BigIntPk, autoincrement=True, nullable=False),
        sa.Column("person_id", BigIntPk, nullable=False),
        sa.Column("record_no", sa.String(length=64), nullable=False),
        sa.Column("visit_type", sa.String(length=24), nullable=False),
        sa.Column("visit_date", sa.Date(), nullable=False),
        sa.Column("end_date", sa.Date(), nullable=False),
        sa.Column("hospital_name", sa.String(length=200), nullable=False),
        sa.Column("in_policy_self_pay_fen", sa.BigInteger(), nullable=False),
        sa.Column("treatment", sa.Text(), nullable=False),
        sa.CheckConstraint("in_policy_self_pay_fen >= 0",
                           name=op.f("ck_registry_settlements_self_pay_non_negative")),
        sa.CheckConstraint("end_date >= visit_date",
                           name=op.f("ck_registry_settlements_ends_after_visit")),
        sa.CheckConstraint("visit_type IN ('inpatient', 'outpatient', 'outpatient_special', "
                           "'pharmacy')",
                           name=op.f("ck_registry_settlements_visit_type_allowed")),
        sa.ForeignKeyConstraint(["person_id"], ["registry_persons.id"],
                                name=op.f("fk_registry_settlements_person_id_registry_persons")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_registry_settlements")),
        sa.UniqueConstraint("person_id", "record_no", name="uq_registry_settlements_record_no"),
    )
    op.create_index(op.f("ix_registry_settlements_person_id"), "registry_settlements",
                    ["person_id"])
    op.create_table(
        "claim_record_consents",
        sa.Column("id", BigIntPk, autoincrement=True, nullable=False),
        sa.Column("person_id", BigIntPk, nullable=False),
        sa.Column("period_from", sa.Date(), nullable=False),
        sa.Column("period_to", sa.Date(), nullable=False),
        sa.Column("granted_by_account_id", BigIntPk, nullable=False),
        sa.Column("grant_id", sa.BigInteger(), nullable=True),
        sa.Column("granted_at", UtcDateTime(), nullable=False),
        sa.Column("revoked_at", UtcDateTime(), nullable=True),
        sa.Column("revoked_by_account_id", BigIntPk, nullable=True),
        sa.CheckConstraint("period_to >= period_from",
                           name=op.f("ck_claim_record_consents_period_in_order")),
        sa.ForeignKeyConstraint(["person_id"], ["people.id"],
                                name=op.f("fk_claim_record_consents_person_id_people")),
        sa.ForeignKeyConstraint(
            ["granted_by_account_id"], ["user_accounts.id"],
            name=op.f("fk_claim_record_consents_granted_by_account_id_user_accounts")),
        sa.ForeignKeyConstraint(
            ["revoked_by_account_id"], ["user_accounts.id"],
            name=op.f("fk_claim_record_consents_revoked_by_account_id_user_accounts")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_claim_record_consents")),
    )
    op.create_index("ix_claim_record_consents_person_id", "claim_record_consents",
                    ["person_id", "revoked_at"])
    op.create_table(
        "claim_record_links",
        sa.Column("claim_id", BigIntPk, nullable=False),
        sa.Column("person_id", BigIntPk, nullable=False),
        sa.Column("record_no", sa.String(length=64), nullable=False),
        sa.Column("consent_id", BigIntPk, nullable=False),
        sa.ForeignKeyConstraint(["claim_id"], ["claims.id"],
                                name=op.f("fk_claim_record_links_claim_id_claims"),
                                ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["person_id"], ["people.id"],
                                name=op.f("fk_claim_record_links_person_id_people")),
        sa.ForeignKeyConstraint(
            ["consent_id"], ["claim_record_consents.id"],
            name=op.f("fk_claim_record_links_consent_id_claim_record_consents")),
        sa.PrimaryKeyConstraint("claim_id", name=op.f("pk_claim_record_links")),
        sa.UniqueConstraint("person_id", "record_no", name="uq_claim_record_links_record"),
    )


def downgrade() -> None:
    op.drop_table("claim_record_links")
    op.drop_index("ix_claim_record_consents_person_id", table_name="claim_record_consents")
    op.drop_table("claim_record_consents")
    op.drop_index(op.f("ix_registry_settlements_person_id"), table_name="registry_settlements")
    op.drop_table("registry_settlements")
