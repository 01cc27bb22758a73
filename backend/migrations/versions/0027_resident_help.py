"""A resident's help and way in (issue 18): the user agreement and privacy policy accepted at
login, each product's help settings (hotline, hours, service points, FAQ), complaints filed
without an account after an SMS check of the phone, and satisfaction ratings of closed
complaints and claims.

``complaints`` changes in a batch (SQLite rebuilds the table): the complainant's person and
account become optional, with the phone, name and token of a complaint filed without an account.

Revision ID: 0027_resident_help
Revises: 0026_claim_appeals
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from huiminbao.core.db import BigIntPk, UtcDateTime

revision = "0027_resident_help"
down_revision = "0026_claim_appeals"
branch_labels = None
depends_on = None

_ENVELOPE = 255


def upgrade() -> None:
    op.create_table(
        "agreement_acceptances",
        sa.Column("id", BigIntPk, autoincrement=True, nullable=False),
        sa.Column("account_id", BigIntPk, nullable=False),
        sa.Column("document", sa.String(length=24), nullable=False),
        sa.Column("version", sa.String(length=20), nullable=False),
        sa.Column("accepted_at", UtcDateTime(), nullable=False),
        sa.ForeignKeyConstraint(["account_id"], ["user_accounts.id"],
                                name=op.f("fk_agreement_acceptances_account_id_user_accounts"),
                                ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_agreement_acceptances")),
        sa.UniqueConstraint("account_id", "document", "version",
                            name="uq_agreement_acceptances"),
    )
    op.create_table(
        "product_help",
        sa.Column("product_id", BigIntPk, nullable=False),
        sa.Column("hotline", sa.String(length=32), nullable=False),
        sa.Column("service_hours", sa.String(length=100), nullable=False),
        sa.Column("service_points", sa.JSON(), nullable=False),
        sa.Column("faq", sa.JSON(), nullable=False),
        sa.Column("updated_at", UtcDateTime(), nullable=False),
        sa.ForeignKeyConstraint(["product_id"], ["products.id"],
                                name=op.f("fk_product_help_product_id_products"),
                                ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("product_id", name=op.f("pk_product_help")),
    )
    op.create_table(
        "satisfaction_ratings",
        sa.Column("id", BigIntPk, autoincrement=True, nullable=False),
        sa.Column("subject_type", sa.String(length=16), nullable=False),
        sa.Column("subject_no", sa.String(length=32), nullable=False),
        sa.Column("product_id", BigIntPk, nullable=True),
        sa.Column("score", sa.Integer(), nullable=False),
        sa.Column("comment", sa.Text(), nullable=True),
        sa.Column("rated_by_account_id", sa.BigInteger(), nullable=True),
        sa.Column("rated_at", UtcDateTime(), nullable=False),
        sa.CheckConstraint("subject_type IN ('complaint', 'claim')",
                           name=op.f("ck_satisfaction_ratings_subject_type_values")),
        sa.CheckConstraint("score BETWEEN 1 AND 5",
                           name=op.f("ck_satisfaction_ratings_score_range")),
        sa.ForeignKeyConstraint(["product_id"], ["products.id"],
                                name=op.f("fk_satisfaction_ratings_product_id_products"),
                                ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_satisfaction_ratings")),
        sa.UniqueConstraint("subject_type", "subject_no",
                            name="uq_satisfaction_ratings_subject"),
    )
    op.create_index("ix_satisfaction_ratings_product", "satisfaction_ratings",
                    ["product_id", "subject_type"])
    with op.batch_alter_table("complaints") as batch:
        batch.alter_column("complainant_person_id", existing_type=BigIntPk, nullable=True)
        batch.alter_column("filed_by_account_id", existing_type=BigIntPk, nullable=True)
        batch.add_column(sa.Column("complainant_phone", sa.String(length=_ENVELOPE),
                                   nullable=True))
        batch.add_column(sa.Column("complainant_name", sa.String(length=_ENVELOPE),
                                   nullable=True))
        batch.add_column(sa.Column("access_token_hash", sa.String(length=64), nullable=True))
        batch.create_unique_constraint(op.f("uq_complaints_access_token_hash"),
                                       ["access_token_hash"])
        batch.create_check_constraint(
            "complainant_known",
            "complainant_person_id IS NOT NULL OR complainant_phone IS NOT NULL")


def downgrade() -> None:
    op.execute("DELETE FROM complaint_replies WHERE complaint_id IN "
               "(SELECT id FROM complaints WHERE complainant_person_id IS NULL)")
    op.execute("DELETE FROM complaints WHERE complainant_person_id IS NULL")
    with op.batch_alter_table("complaints") as batch:
        batch.drop_constraint(op.f("ck_complaints_complainant_known"), type_="check")
        batch.drop_constraint(op.f("uq_complaints_access_token_hash"), type_="unique")
        batch.drop_column("access_token_hash")
        batch.drop_column("complainant_name")
        batch.drop_column("complainant_phone")
        batch.alter_column("filed_by_account_id", existing_type=BigIntPk, nullable=False)
        batch.alter_column("complainant_person_id", existing_type=BigIntPk, nullable=False)
    op.drop_index("ix_satisfaction_ratings_product", table_name="satisfaction_ratings")
    op.drop_table("satisfaction_ratings")
    op.drop_table("product_help")
    op.drop_table("agreement_acceptances")
