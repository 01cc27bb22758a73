"""Proxy grants (授权办理、亲友代办), and an index on the orders made under a grant.

Revision ID: 0010_proxy
Revises: 0009_claims
Create Date: 2026-11-22
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from huiminbao.core.db import BigIntPk, UtcDateTime

revision = "0010_proxy"
down_revision = "0009_claims"
branch_labels = None
depends_on = None

LIVE = sa.text("status IN ('pending', 'active')")
UNDER_A_GRANT = sa.text("acted_for_grant_id IS NOT NULL")


def upgrade() -> None:
    op.create_table(
        "proxy_grants",
        sa.Column("id", BigIntPk, nullable=False),
        sa.Column("agent_person_id", BigIntPk, nullable=False),
        sa.Column("agent_account_id", BigIntPk, nullable=False),
        sa.Column("principal_person_id", BigIntPk, nullable=False),
        sa.Column("scopes", sa.String(length=128), nullable=False),
        sa.Column("pay_limit_fen", sa.BigInteger(), nullable=True),
        sa.Column("valid_days", sa.Integer(), nullable=False),
        sa.Column("confirm_method", sa.String(length=8), nullable=False),
        sa.Column("status", sa.String(length=12), nullable=False),
        sa.Column("created_at", UtcDateTime(), nullable=False),
        sa.Column("pending_expires_at", UtcDateTime(), nullable=False),
        sa.Column("confirmed_at", UtcDateTime(), nullable=True),
        sa.Column("confirmed_method", sa.String(length=8), nullable=True),
        sa.Column("confirmed_by_account_id", BigIntPk, nullable=True),
        sa.Column("valid_until", UtcDateTime(), nullable=True),
        sa.Column("evidence", sa.JSON(), nullable=True),
        sa.Column("counter_note", sa.String(length=200), nullable=True),
        sa.Column("ended_at", UtcDateTime(), nullable=True),
        sa.Column("ended_by_account_id", sa.BigInteger(), nullable=True),
        sa.CheckConstraint(
            "status IN ('pending', 'active', 'revoked', 'cancelled', 'expired')",
            name=op.f("ck_proxy_grants_status_values"),
        ),
        sa.CheckConstraint(
            "confirm_method IN ('qr', 'sms', 'counter')",
            name=op.f("ck_proxy_grants_confirm_method_values"),
        ),
        sa.CheckConstraint(
            "confirmed_method IS NULL OR confirmed_method IN ('qr', 'sms', 'counter')",
            name=op.f("ck_proxy_grants_confirmed_method_values"),
        ),
        sa.CheckConstraint(
            "agent_person_id <> principal_person_id", name=op.f("ck_proxy_grants_not_self")
        ),
        sa.CheckConstraint(
            "valid_days BETWEEN 1 AND 366", name=op.f("ck_proxy_grants_valid_days_range")
        ),
        sa.CheckConstraint(
            "pay_limit_fen IS NULL OR pay_limit_fen > 0",
            name=op.f("ck_proxy_grants_pay_limit_positive"),
        ),
        sa.CheckConstraint(
            "status NOT IN ('active', 'revoked') OR "
            "(confirmed_at IS NOT NULL AND valid_until IS NOT NULL)",
            name=op.f("ck_proxy_grants_confirmed_when_active"),
        ),
        sa.ForeignKeyConstraint(
            ["agent_person_id"], ["people.id"],
            name=op.f("fk_proxy_grants_agent_person_id_people"),
        ),
        sa.ForeignKeyConstraint(
            ["agent_account_id"], ["user_accounts.id"],
            name=op.f("fk_proxy_grants_agent_account_id_user_accounts"),
        ),
        sa.ForeignKeyConstraint(
            ["principal_person_id"], ["people.id"],
            name=op.f("fk_proxy_grants_principal_person_id_people"),
        ),
        sa.ForeignKeyConstraint(
            ["confirmed_by_account_id"], ["user_accounts.id"],
            name=op.f("fk_proxy_grants_confirmed_by_account_id_user_accounts"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_proxy_grants")),
    )
    with op.batch_alter_table("proxy_grants", schema=None) as batch_op:
        batch_op.create_index(
            "uq_proxy_grants_one_live_per_pair",
            ["agent_person_id", "principal_person_id"],
            unique=True,
            postgresql_where=LIVE,
            sqlite_where=LIVE,
        )
        batch_op.create_index(
            "ix_proxy_grants_principal_person_id",
            ["principal_person_id", "status"],
            unique=False,
        )
    with op.batch_alter_table("orders", schema=None) as batch_op:
        batch_op.create_index(
            "ix_orders_acted_for_grant_id",
            ["acted_for_grant_id"],
            unique=False,
            postgresql_where=UNDER_A_GRANT,
            sqlite_where=UNDER_A_GRANT,
        )


def downgrade() -> None:
    with op.batch_alter_table("orders", schema=None) as batch_op:
        batch_op.drop_index(
            "ix_orders_acted_for_grant_id",
            postgresql_where=UNDER_A_GRANT,
            sqlite_where=UNDER_A_GRANT,
        )
    with op.batch_alter_table("proxy_grants", schema=None) as batch_op:
        batch_op.drop_index("ix_proxy_grants_principal_person_id")
        batch_op.drop_index(
            "uq_proxy_grants_one_live_per_pair",
            postgresql_where=LIVE,
            sqlite_where=LIVE,
        )
    op.drop_table("proxy_grants")
