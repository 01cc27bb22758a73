"""SMS delivery through a provider: the outbox becomes durable with states (queued, sending,
sent, failed, given_up), attempts, back-off, a lease, the provider's message id and the
template with its parameters (identity/sms_domain.py).

Rows written before this revision carry free text without a template: no provider can send
them, so they are marked ``given_up`` (they were only ever read by the demo outbox).

Revision ID: 0016_sms_delivery
Revises: 0015_idempotency_leases
Create Date: 2026-12-04
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from huiminbao.core.db import UtcDateTime

revision = "0016_sms_delivery"
down_revision = "0015_idempotency_leases"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("sms_outbox", schema=None) as batch_op:
        batch_op.add_column(sa.Column("template", sa.String(length=40), nullable=True))
        batch_op.add_column(sa.Column("params", sa.JSON(), nullable=True))
        batch_op.add_column(sa.Column("status", sa.String(length=16), nullable=True))
        batch_op.add_column(sa.Column("attempts", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("next_attempt_at", UtcDateTime(), nullable=True))
        batch_op.add_column(sa.Column("lease_until", UtcDateTime(), nullable=True))
        batch_op.add_column(sa.Column("last_error", sa.String(length=500), nullable=True))
        batch_op.add_column(sa.Column("provider_message_id", sa.String(length=128),
                                      nullable=True))
        batch_op.add_column(sa.Column("sent_at", UtcDateTime(), nullable=True))
        batch_op.add_column(sa.Column("updated_at", UtcDateTime(), nullable=True))
    op.execute("UPDATE sms_outbox SET params = '{}', status = 'given_up', attempts = 0, "
               "last_error = 'written before provider delivery (0016)'")
    with op.batch_alter_table("sms_outbox", schema=None) as batch_op:
        batch_op.alter_column("params", existing_type=sa.JSON(), nullable=False)
        batch_op.alter_column("status", existing_type=sa.String(length=16), nullable=False)
        batch_op.alter_column("attempts", existing_type=sa.Integer(), nullable=False)
        batch_op.create_check_constraint(
            op.f("ck_sms_outbox_status_values"),
            "status IN ('queued', 'sending', 'sent', 'failed', 'given_up')")
        batch_op.create_check_constraint(op.f("ck_sms_outbox_attempts_not_negative"),
                                         "attempts >= 0")
        batch_op.create_index("ix_sms_outbox_status_next_attempt_at",
                              ["status", "next_attempt_at"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("sms_outbox", schema=None) as batch_op:
        batch_op.drop_index("ix_sms_outbox_status_next_attempt_at")
        batch_op.drop_constraint(op.f("ck_sms_outbox_attempts_not_negative"), type_="check")
        batch_op.drop_constraint(op.f("ck_sms_outbox_status_values"), type_="check")
        batch_op.drop_column("updated_at")
        batch_op.drop_column("sent_at")
        batch_op.drop_column("provider_message_id")
        batch_op.drop_column("last_error")
        batch_op.drop_column("lease_until")
        batch_op.drop_column("next_attempt_at")
        batch_op.drop_column("attempts")
        batch_op.drop_column("status")
        batch_op.drop_column("params")
        batch_op.drop_column("template")
