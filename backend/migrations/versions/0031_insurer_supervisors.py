"""Insurer supervisors (复核主管): an insurer-staff account may be its insurer's supervisor, who
makes a contested claim's second decision (an appeal, or a large claim's second approval) when
the product has one insurer and so no second insurer to ask. A plain ADD/DROP COLUMN.

Revision ID: 0031_insurer_supervisors
Revises: 0030_claim_records
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0031_insurer_supervisors"
down_revision = "0030_claim_records"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("insurer_staff", sa.Column("is_supervisor", sa.Boolean(),
                                             server_default=sa.false(), nullable=False))


def downgrade() -> None:
    op.drop_column("insurer_staff", "is_supervisor")
