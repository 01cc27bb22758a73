"""Claim appeals (issue 19): a rejected claim may be appealed once by the claimant (or an agent
for them); the appealed claim (status ``appealed``) waits for a second insurer's decision.
``claims`` gains the appeal's columns (all nullable) and ``appealed`` among its statuses.

The status check is replaced in batch mode, which on SQLite copies the table (no ALTER of a
CHECK there); on PostgreSQL it is a plain drop and add.

Revision ID: 0026_claim_appeals
Revises: 0025_product_terms
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from huiminbao.core.db import UtcDateTime

revision = "0026_claim_appeals"
down_revision = "0025_product_terms"
branch_labels = None
depends_on = None

_STATUSES = ("'submitted', 'under_review', 'supplement_requested', 'approved', 'paid', "
             "'rejected', 'settled'")


def upgrade() -> None:
    with op.batch_alter_table("claims", schema=None) as batch_op:
        batch_op.add_column(sa.Column("appeal_reason", sa.String(length=500), nullable=True))
        batch_op.add_column(sa.Column("appealed_at", UtcDateTime(), nullable=True))
        batch_op.add_column(sa.Column("appealed_by_account_id", sa.BigInteger(), nullable=True))
        batch_op.add_column(sa.Column("appeal_grant_id", sa.BigInteger(), nullable=True))
        batch_op.add_column(sa.Column("appeal_rejected_by_insurer", sa.String(length=200),
                                      nullable=True))
        batch_op.add_column(sa.Column("appeal_decided_at", UtcDateTime(), nullable=True))
        batch_op.drop_constraint(op.f("ck_claims_status_values"), type_="check")
        batch_op.create_check_constraint(
            op.f("ck_claims_status_values"), sa.text(f"status IN ({_STATUSES}, 'appealed')"))


def downgrade() -> None:
    # An appeal still waiting goes back to the rejection it appealed.
    op.execute("UPDATE claims SET status = 'rejected' WHERE status = 'appealed'")
    with op.batch_alter_table("claims", schema=None) as batch_op:
        batch_op.drop_constraint(op.f("ck_claims_status_values"), type_="check")
        batch_op.create_check_constraint(op.f("ck_claims_status_values"),
                                         sa.text(f"status IN ({_STATUSES})"))
        for column in ("appeal_decided_at", "appeal_rejected_by_insurer", "appeal_grant_id",
                       "appealed_by_account_id", "appealed_at", "appeal_reason"):
            batch_op.drop_column(column)
