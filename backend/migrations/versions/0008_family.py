"""Family members: whom an account holder may buy for, and how the relation was verified.

Revision ID: 0008_family
Revises: 0007_renewal
Create Date: 2026-11-22
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from huiminbao.core.db import BigIntPk, UtcDateTime

revision = "0008_family"
down_revision = "0007_renewal"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "family_members",
        sa.Column("id", BigIntPk, nullable=False),
        sa.Column("owner_person_id", BigIntPk, nullable=False),
        sa.Column("member_person_id", BigIntPk, nullable=False),
        sa.Column("relation", sa.String(length=8), nullable=False),
        sa.Column("verification", sa.String(length=8), nullable=False),
        sa.Column("created_at", UtcDateTime(), nullable=False),
        sa.Column("verified_at", UtcDateTime(), nullable=True),
        sa.Column("removed_at", UtcDateTime(), nullable=True),
        sa.CheckConstraint(
            "relation IN ('spouse', 'child', 'parent')",
            name=op.f("ck_family_members_relation_values"),
        ),
        sa.CheckConstraint(
            "verification IN ('registry', 'sms', 'pending')",
            name=op.f("ck_family_members_verification_values"),
        ),
        sa.CheckConstraint(
            "owner_person_id <> member_person_id", name=op.f("ck_family_members_not_self")
        ),
        sa.ForeignKeyConstraint(
            ["member_person_id"],
            ["people.id"],
            name=op.f("fk_family_members_member_person_id_people"),
        ),
        sa.ForeignKeyConstraint(
            ["owner_person_id"],
            ["people.id"],
            name=op.f("fk_family_members_owner_person_id_people"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_family_members")),
    )
    with op.batch_alter_table("family_members", schema=None) as batch_op:
        batch_op.create_index(
            "ix_family_members_member_person_id", ["member_person_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_family_members_owner_person_id"), ["owner_person_id"], unique=False
        )
        batch_op.create_index(
            "uq_family_members_owner_member",
            ["owner_person_id", "member_person_id"],
            unique=True,
            postgresql_where=sa.text("removed_at IS NULL"),
            sqlite_where=sa.text("removed_at IS NULL"),
        )


def downgrade() -> None:
    with op.batch_alter_table("family_members", schema=None) as batch_op:
        batch_op.drop_index(
            "uq_family_members_owner_member",
            postgresql_where=sa.text("removed_at IS NULL"),
            sqlite_where=sa.text("removed_at IS NULL"),
        )
        batch_op.drop_index(batch_op.f("ix_family_members_owner_person_id"))
        batch_op.drop_index("ix_family_members_member_person_id")

    op.drop_table("family_members")
