"""Idempotency keys hold a lease and name what their request created: a key whose
request died before storing its answer is taken over by a retry once the lease has ended, and
answered from its order instead of staying 'running' for ever.

Keys still 'running' at upgrade time get no lease, which counts as ended: the next retry with
one of them takes it over.

Revision ID: 0015_idempotency_leases
Revises: 0014_closed_order_refunds
Create Date: 2026-12-04
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from huiminbao.core.db import UtcDateTime

revision = "0015_idempotency_leases"
down_revision = "0014_closed_order_refunds"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("idempotency_keys", schema=None) as batch_op:
        batch_op.add_column(sa.Column("lease_expires_at", UtcDateTime(), nullable=True))
        batch_op.add_column(sa.Column("resource", sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column("lease_holder", sa.String(length=32), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("idempotency_keys", schema=None) as batch_op:
        batch_op.drop_column("lease_holder")
        batch_op.drop_column("resource")
        batch_op.drop_column("lease_expires_at")
