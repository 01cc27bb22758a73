"""Real-name binding records how it was proven: the registry's phone, an identity
check (face / eID) or counter staff who saw the ID card, with the staff account; one-time codes
carry what they confirm (a debit's owner, amount and insured, hashed).

Plain nullable ``ADD COLUMN``s, which SQLite does in place (see 0019). Existing bindings stay
unverified: their owners verify once (a login with the registry's phone does it on the next
binding call, a face check or the counter).

Revision ID: 0020_binding_verification
Revises: 0019_order_payer_ip
Create Date: 2026-12-05
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0020_binding_verification"
down_revision = "0019_order_payer_ip"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("user_accounts",
                  sa.Column("binding_verified_by", sa.String(length=16), nullable=True))
    op.add_column("user_accounts",
                  sa.Column("binding_verified_at", sa.DateTime(timezone=True), nullable=True))
    op.add_column("user_accounts",
                  sa.Column("binding_verified_by_staff_id", sa.BigInteger(), nullable=True))
    op.add_column("otp_challenges", sa.Column("context", sa.String(length=64), nullable=True))


def downgrade() -> None:
    op.drop_column("otp_challenges", "context")
    op.drop_column("user_accounts", "binding_verified_by_staff_id")
    op.drop_column("user_accounts", "binding_verified_at")
    op.drop_column("user_accounts", "binding_verified_by")
