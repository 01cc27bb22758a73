"""Claim appeals (issue 19): a rejected claim may be appealed once by the claimant (or an agent
for them); the appealed claim (status ``appealed``) waits for a second insurer's decision.
``claims`` gains the appeal's columns (all nullable) and ``appealed`` among its statuses.

Plain ADD/DROP COLUMN, which SQLite does in place: a batch copy of ``claims`` would drop a table
that claim events, documents and payout lines refer to, which SQLite refuses once such rows
exist. PostgreSQL drops and adds the status CHECK. SQLite cannot ALTER a CHECK, so its
``claims`` definition is rewritten in ``sqlite_master`` with the one status more or less:
SQLite's documented procedure for changing a CHECK without copying the table
(https://sqlite.org/lang_altertable.html, "making other kinds of table schema changes"), safe
because every stored row satisfies the new CHECK (a downgrade first turns waiting appeals back
into rejections).

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
_BEFORE = f"status IN ({_STATUSES})"
_AFTER = f"status IN ({_STATUSES}, 'appealed')"


def _columns() -> tuple[sa.Column[object], ...]:
    return (
        sa.Column("appeal_reason", sa.String(length=500), nullable=True),
        sa.Column("appealed_at", UtcDateTime(), nullable=True),
        sa.Column("appealed_by_account_id", sa.BigInteger(), nullable=True),
        sa.Column("appeal_grant_id", sa.BigInteger(), nullable=True),
        sa.Column("appeal_rejected_by_insurer", sa.String(length=200), nullable=True),
        sa.Column("appeal_decided_at", UtcDateTime(), nullable=True),
    )


def upgrade() -> None:
    for column in _columns():
        op.add_column("claims", column)
    _status_check(_BEFORE, _AFTER)


def downgrade() -> None:
    # An appeal still waiting goes back to the rejection it appealed.
    op.execute("UPDATE claims SET status = 'rejected' WHERE status = 'appealed'")
    _status_check(_AFTER, _BEFORE)
    for column in reversed(_columns()):
        op.drop_column("claims", column.name)


def _status_check(before: str, after: str) -> None:
    bind = op.get_bind()
    if bind.dialect.name == "postgresql":
        op.drop_constraint(op.f("ck_claims_status_values"), "claims", type_="check")
        op.create_check_constraint(op.f("ck_claims_status_values"), "claims", sa.text(after))
        return
    sql = bind.execute(sa.text(
        "SELECT sql FROM sqlite_master WHERE type = 'table' AND name = 'claims'")).scalar_one()
    if sql.count(before) != 1:
        raise RuntimeError(f"claims: expected one CHECK ({before})")
    version = bind.execute(sa.text("PRAGMA schema_version")).scalar_one()
    bind.execute(sa.text("PRAGMA writable_schema = ON"))
    bind.execute(sa.text("UPDATE sqlite_master SET sql = :sql "
                         "WHERE type = 'table' AND name = 'claims'"),
                 {"sql": sql.replace(before, after)})
    bind.execute(sa.text(f"PRAGMA schema_version = {int(version) + 1}"))
    bind.execute(sa.text("PRAGMA writable_schema = OFF"))
