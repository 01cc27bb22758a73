"""Identity and audit: people, accounts, codes, sessions, SMS outbox, clients, audit, consents.

Revision ID: 0003_identity
Revises: 0002_catalog
Create Date: 2026-11-22
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from huiminbao.core.db import BigIntPk, UtcDateTime

revision = "0003_identity"
down_revision = "0002_catalog"
branch_labels = None
depends_on = None


# The audit log is append-only in the database itself, not just by the code's good manners.
_APPEND_ONLY_POSTGRESQL = """
CREATE FUNCTION audit_events_append_only() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION 'audit_events is append-only';
END;
$$ LANGUAGE plpgsql;
CREATE TRIGGER audit_events_append_only BEFORE UPDATE OR DELETE ON audit_events
    FOR EACH ROW EXECUTE FUNCTION audit_events_append_only();
"""
_APPEND_ONLY_SQLITE = (
    "CREATE TRIGGER audit_events_no_update BEFORE UPDATE ON audit_events "
    "BEGIN SELECT RAISE(ABORT, 'audit_events is append-only'); END",
    "CREATE TRIGGER audit_events_no_delete BEFORE DELETE ON audit_events "
    "BEGIN SELECT RAISE(ABORT, 'audit_events is append-only'); END",
)


def _make_audit_append_only() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(_APPEND_ONLY_POSTGRESQL)
    else:
        for statement in _APPEND_ONLY_SQLITE:
            op.execute(statement)


def _drop_audit_append_only() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER IF EXISTS audit_events_append_only ON audit_events")
        op.execute("DROP FUNCTION IF EXISTS audit_events_append_only()")
    else:
        op.execute("DROP TRIGGER IF EXISTS audit_events_no_update")
        op.execute("DROP TRIGGER IF EXISTS audit_events_no_delete")


def upgrade() -> None:
    op.create_table(
        "audit_events",
        sa.Column("id", BigIntPk, nullable=False),
        sa.Column("occurred_at", UtcDateTime(), nullable=False),
        sa.Column("action", sa.String(length=48), nullable=False),
        sa.Column("outcome", sa.String(length=8), nullable=False),
        sa.Column("actor_account_id", sa.BigInteger(), nullable=True),
        sa.Column("actor_role", sa.String(length=16), nullable=True),
        sa.Column("actor_client", sa.String(length=64), nullable=True),
        sa.Column("subject_person_id", sa.BigInteger(), nullable=True),
        sa.Column("acting_for_person_id", sa.BigInteger(), nullable=True),
        sa.Column("grant_id", sa.BigInteger(), nullable=True),
        sa.Column("object_type", sa.String(length=32), nullable=True),
        sa.Column("object_id", sa.String(length=64), nullable=True),
        sa.Column("request_id", sa.String(length=64), nullable=True),
        sa.Column("details", sa.JSON(), nullable=False),
        sa.CheckConstraint(
            "outcome IN ('ok', 'denied', 'failed')", name=op.f("ck_audit_events_outcome_values")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_events")),
    )
    with op.batch_alter_table("audit_events", schema=None) as batch_op:
        batch_op.create_index(
            "ix_audit_events_actor_account_id", ["actor_account_id", "occurred_at"], unique=False
        )
        batch_op.create_index(
            "ix_audit_events_subject_person_id", ["subject_person_id", "occurred_at"], unique=False
        )

    op.create_table(
        "otp_challenges",
        sa.Column("id", BigIntPk, nullable=False),
        sa.Column("phone", sa.String(length=11), nullable=False),
        sa.Column("purpose", sa.String(length=24), nullable=False),
        sa.Column("code_hash", sa.String(length=64), nullable=False),
        sa.Column("created_at", UtcDateTime(), nullable=False),
        sa.Column("expires_at", UtcDateTime(), nullable=False),
        sa.Column("wrong_attempts", sa.Integer(), nullable=False),
        sa.Column("consumed_at", UtcDateTime(), nullable=True),
        sa.Column("voided_at", UtcDateTime(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_otp_challenges")),
    )
    with op.batch_alter_table("otp_challenges", schema=None) as batch_op:
        batch_op.create_index(
            "ix_otp_challenges_phone_purpose", ["phone", "purpose", "created_at"], unique=False
        )

    op.create_table(
        "people",
        sa.Column("id", BigIntPk, nullable=False),
        sa.Column("id_number", sa.String(length=18), nullable=False),
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("birth_date", sa.Date(), nullable=False),
        sa.Column("sex", sa.String(length=8), nullable=False),
        sa.Column("created_at", UtcDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_people")),
        sa.UniqueConstraint("id_number", name=op.f("uq_people_id_number")),
    )
    op.create_table(
        "revoked_tokens",
        sa.Column("jti", sa.String(length=64), nullable=False),
        sa.Column("expires_at", UtcDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("jti", name=op.f("pk_revoked_tokens")),
    )
    with op.batch_alter_table("revoked_tokens", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_revoked_tokens_expires_at"), ["expires_at"], unique=False
        )

    op.create_table(
        "service_clients",
        sa.Column("id", BigIntPk, nullable=False),
        sa.Column("client_id", sa.String(length=64), nullable=False),
        sa.Column("secret_hash", sa.String(length=64), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("created_at", UtcDateTime(), nullable=False),
        sa.Column("disabled_at", UtcDateTime(), nullable=True),
        sa.CheckConstraint(
            "kind IN ('hospital', 'gateway')", name=op.f("ck_service_clients_kind_values")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_service_clients")),
        sa.UniqueConstraint("client_id", name=op.f("uq_service_clients_client_id")),
    )
    op.create_table(
        "sms_outbox",
        sa.Column("id", BigIntPk, nullable=False),
        sa.Column("phone", sa.String(length=11), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("created_at", UtcDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sms_outbox")),
    )
    with op.batch_alter_table("sms_outbox", schema=None) as batch_op:
        batch_op.create_index(
            "ix_sms_outbox_phone_created_at", ["phone", "created_at"], unique=False
        )

    op.create_table(
        "user_accounts",
        sa.Column("id", BigIntPk, nullable=False),
        sa.Column("phone", sa.String(length=11), nullable=False),
        sa.Column("role", sa.String(length=16), nullable=False),
        sa.Column("display_name", sa.String(length=64), nullable=True),
        sa.Column("person_id", BigIntPk, nullable=True),
        sa.Column("bound_at", UtcDateTime(), nullable=True),
        sa.Column("wechat_openid", sa.String(length=64), nullable=True),
        sa.Column("elderly_mode", sa.Boolean(), nullable=False),
        sa.Column("created_at", UtcDateTime(), nullable=False),
        sa.Column("last_login_at", UtcDateTime(), nullable=True),
        sa.CheckConstraint(
            "role IN ('resident', 'counter_staff', 'insurer_staff', 'admin')",
            name=op.f("ck_user_accounts_role_values"),
        ),
        sa.ForeignKeyConstraint(
            ["person_id"], ["people.id"], name=op.f("fk_user_accounts_person_id_people")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_user_accounts")),
        sa.UniqueConstraint("person_id", name=op.f("uq_user_accounts_person_id")),
        sa.UniqueConstraint("phone", name=op.f("uq_user_accounts_phone")),
        sa.UniqueConstraint("wechat_openid", name=op.f("uq_user_accounts_wechat_openid")),
    )
    op.create_table(
        "auth_sessions",
        sa.Column("id", BigIntPk, nullable=False),
        sa.Column("account_id", BigIntPk, nullable=False),
        sa.Column("cookie_token_hash", sa.String(length=64), nullable=False),
        sa.Column("csrf_token", sa.String(length=64), nullable=False),
        sa.Column("method", sa.String(length=16), nullable=False),
        sa.Column("authenticated_at", UtcDateTime(), nullable=False),
        sa.Column("expires_at", UtcDateTime(), nullable=False),
        sa.Column("revoked_at", UtcDateTime(), nullable=True),
        sa.ForeignKeyConstraint(
            ["account_id"],
            ["user_accounts.id"],
            name=op.f("fk_auth_sessions_account_id_user_accounts"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_auth_sessions")),
        sa.UniqueConstraint("cookie_token_hash", name=op.f("uq_auth_sessions_cookie_token_hash")),
    )
    with op.batch_alter_table("auth_sessions", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_auth_sessions_account_id"), ["account_id"], unique=False
        )

    op.create_table(
        "consents",
        sa.Column("id", BigIntPk, nullable=False),
        sa.Column("account_id", BigIntPk, nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("text_version", sa.String(length=20), nullable=False),
        sa.Column("granted_at", UtcDateTime(), nullable=False),
        sa.Column("withdrawn_at", UtcDateTime(), nullable=True),
        sa.CheckConstraint(
            "kind IN ('personal_info', 'sensitive_info')", name=op.f("ck_consents_kind_values")
        ),
        sa.ForeignKeyConstraint(
            ["account_id"], ["user_accounts.id"], name=op.f("fk_consents_account_id_user_accounts")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_consents")),
    )
    with op.batch_alter_table("consents", schema=None) as batch_op:
        batch_op.create_index("ix_consents_account_id_kind", ["account_id", "kind"], unique=False)

    _make_audit_append_only()


def downgrade() -> None:
    _drop_audit_append_only()
    with op.batch_alter_table("consents", schema=None) as batch_op:
        batch_op.drop_index("ix_consents_account_id_kind")

    op.drop_table("consents")
    with op.batch_alter_table("auth_sessions", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_auth_sessions_account_id"))

    op.drop_table("auth_sessions")
    op.drop_table("user_accounts")
    with op.batch_alter_table("sms_outbox", schema=None) as batch_op:
        batch_op.drop_index("ix_sms_outbox_phone_created_at")

    op.drop_table("sms_outbox")
    op.drop_table("service_clients")
    with op.batch_alter_table("revoked_tokens", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_revoked_tokens_expires_at"))

    op.drop_table("revoked_tokens")
    op.drop_table("people")
    with op.batch_alter_table("otp_challenges", schema=None) as batch_op:
        batch_op.drop_index("ix_otp_challenges_phone_purpose")

    op.drop_table("otp_challenges")
    with op.batch_alter_table("audit_events", schema=None) as batch_op:
        batch_op.drop_index("ix_audit_events_subject_person_id")
        batch_op.drop_index("ix_audit_events_actor_account_id")

    op.drop_table("audit_events")
