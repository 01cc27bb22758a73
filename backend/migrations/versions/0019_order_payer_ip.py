"""Online orders keep the payer's address: WeChat Pay H5 requires ``scene_info.payer_client_ip``
and refuses a repeated create (same out_trade_no) whose parameters differ, so asking again for a
lost pay page must send the address of the first request, not of the retry.

Added with a plain ``ALTER TABLE … ADD COLUMN`` (nullable), which SQLite does in place: batch
mode's copy-drop-rename of ``orders`` fails once orders exist (see 0011 and 0017).

Revision ID: 0019_order_payer_ip
Revises: 0018_sms_code_redaction
Create Date: 2026-12-04
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0019_order_payer_ip"
down_revision = "0018_sms_code_redaction"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("orders", sa.Column("payer_ip", sa.String(length=45), nullable=True))


def downgrade() -> None:
    op.drop_column("orders", "payer_ip")
