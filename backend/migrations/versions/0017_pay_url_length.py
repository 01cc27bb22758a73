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



def _pay_url_length(before: int, after: int) -> None:
    """PostgreSQL alters the column. On SQLite, batch mode's copy-drop-rename of ``orders`` fails
    once orders exist (their items, policies and refunds point at them; see 0011), so the table's
    stored definition is edited in place as 0011 does: SQLite does not enforce the length, no row
    moves, and the schema version is bumped so every connection re-reads the definition."""
    bind = op.get_bind()
    if bind.dialect.name != "sqlite":
        with op.batch_alter_table("orders", schema=None) as batch_op:
            batch_op.alter_column("pay_url", existing_type=sa.String(length=before),
                                  type_=sa.String(length=after), existing_nullable=True)
        return
    old, new = f"pay_url VARCHAR({before})", f"pay_url VARCHAR({after})"
    definition = bind.execute(sa.text(
        "SELECT sql FROM sqlite_master WHERE type = 'table' AND name = 'orders'")).scalar_one()
    if definition.count(old) != 1:
        raise RuntimeError(f"orders: expected one {old} in {definition!r}")
    version = int(bind.execute(sa.text("PRAGMA schema_version")).scalar_one())
    bind.execute(sa.text("PRAGMA writable_schema = ON"))
    try:
        bind.execute(
            sa.text("UPDATE sqlite_master SET sql = :sql WHERE type = 'table' AND name = 'orders'"),
            {"sql": definition.replace(old, new)},
        )
        bind.execute(sa.text(f"PRAGMA schema_version = {version + 1}"))
    finally:
        bind.execute(sa.text("PRAGMA writable_schema = OFF"))


def upgrade() -> None:
    _pay_url_length(200, 1000)


def downgrade() -> None:
    # Pages longer than 200 characters belong to pending orders only: they are dropped (the
    # order asks the gateway again with the same number) rather than failing the downgrade.
    op.execute("UPDATE orders SET pay_url = NULL WHERE length(pay_url) > 200")
    _pay_url_length(1000, 200)
