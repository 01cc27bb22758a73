"""Orders keep longer pay pages: WeChat Pay v3's ``h5_url`` with the URL-encoded
``redirect_url`` appended is often longer than 200 characters.

Revision ID: 0017_pay_url_length
Revises: 0016_sms_delivery
Create Date: 2026-12-04
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0017_pay_url_length"
down_revision = "0016_sms_delivery"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("orders", schema=None) as batch_op:
        batch_op.alter_column("pay_url", existing_type=sa.String(length=200),
                              type_=sa.String(length=1000), existing_nullable=True)


def downgrade() -> None:
    # Pages longer than 200 characters belong to pending orders only: they are dropped (the
    # order asks the gateway again with the same number) rather than failing the downgrade.
    op.execute("UPDATE orders SET pay_url = NULL WHERE length(pay_url) > 200")
    with op.batch_alter_table("orders", schema=None) as batch_op:
        batch_op.alter_column("pay_url", existing_type=sa.String(length=1000),
                              type_=sa.String(length=200), existing_nullable=True)
