"""Subsidy funds by payer (003 三(三)3, 002 三(三)): the paying bodies of a city (the city
government, districts, charities and donors), the fund account each subsidy is booked to, the
payer a roster row or a donor's list names, and the registry's district and 择一 flag (another
policy-based poverty-relief insurance).

Columns are added and dropped with a plain ``ALTER TABLE``, which SQLite does in place (see 0019):
batch mode's copy-drop-rename fails on tables other tables refer to. A donor's list names its
donor by code (``donor_code``, as roster rows name their payer), so no foreign key is added.
Subsidies booked before keep ``fund_account`` NULL: the city's fund, as they were booked.

Revision ID: 0023_subsidy_payers
Revises: 0022_coinsurers
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from huiminbao.core.db import BigIntPk, UtcDateTime

revision = "0023_subsidy_payers"
down_revision = "0022_coinsurers"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "subsidy_payers",
        sa.Column("id", BigIntPk, autoincrement=True, nullable=False),
        sa.Column("city_code", sa.String(length=6), nullable=False),
        sa.Column("code", sa.String(length=32), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("district_code", sa.String(length=6), nullable=True),
        sa.Column("categories", sa.String(length=64), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("created_at", UtcDateTime(), nullable=False),
        sa.Column("updated_at", UtcDateTime(), nullable=False),
        sa.CheckConstraint("kind IN ('city', 'district', 'charity')",
                           name=op.f("ck_subsidy_payers_kind_values")),
        sa.CheckConstraint("(kind = 'district') = (district_code IS NOT NULL)",
                           name=op.f("ck_subsidy_payers_district_code_for_districts")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_subsidy_payers")),
        sa.UniqueConstraint("city_code", "code", name="uq_subsidy_payers_city_code_code"),
    )
    op.add_column("subsidy_uses", sa.Column("fund_account", sa.String(length=64), nullable=True))
    op.add_column("subsidy_roster_imports",
                  sa.Column("donor_code", sa.String(length=32), nullable=True))
    op.add_column("subsidy_roster_rows",
                  sa.Column("payer_code", sa.String(length=32), nullable=True))
    op.add_column("subsidy_roster_rows", sa.Column("subsidy_fen", sa.BigInteger(), nullable=True))
    op.add_column("registry_persons",
                  sa.Column("district_code", sa.String(length=6), nullable=True))
    op.add_column("registry_persons",
                  sa.Column("other_relief_insurance", sa.Boolean(), nullable=False,
                            server_default=sa.false()))


def downgrade() -> None:
    for table, column in (("registry_persons", "other_relief_insurance"),
                          ("registry_persons", "district_code"),
                          ("subsidy_roster_rows", "subsidy_fen"),
                          ("subsidy_roster_rows", "payer_code"),
                          ("subsidy_roster_imports", "donor_code"),
                          ("subsidy_uses", "fund_account")):
        op.drop_column(table, column)
    op.drop_table("subsidy_payers")
