"""Complaints and their replies, each product's complaint deadline; the operator console's
employers, upload batches, subsidy roster imports and counter enrollments; and two staff-recorded
payment methods on orders, ``employer`` and ``counter_cash``.

Revision ID: 0011_disclosure
Revises: 0010_proxy
Create Date: 2026-11-22
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from huiminbao.core.db import BigIntPk, UtcDateTime

revision = "0011_disclosure"
down_revision = "0010_proxy"
branch_labels = None
depends_on = None

ORDER_METHODS_CHECK = "ck_orders_payment_method_values"
ORDER_METHODS_BEFORE = "payment_method IN ('personal_account', 'online', 'subsidy')"
ORDER_METHODS_AFTER = (
    "payment_method IN ('personal_account', 'online', 'subsidy', 'employer', 'counter_cash')"
)


def _order_methods(before: str, after: str) -> None:
    """Swap the CHECK constraint on ``orders.payment_method``.

    PostgreSQL drops and adds the constraint. SQLite cannot alter a CHECK constraint, and batch
    mode's copy-drop-rename of ``orders`` fails once orders exist (the DROP deletes the rows
    first, which order_items, policies and refunds reference: "FOREIGN KEY constraint failed",
    or worse, ``ON DELETE CASCADE`` on order_items). So on SQLite the table's stored definition
    is edited in place, the procedure SQLite documents for changing CHECK constraints
    (https://sqlite.org/lang_altertable.html#otheralter): no row moves, and the schema version
    is bumped so every connection re-reads the definition.
    """
    bind = op.get_bind()
    if bind.dialect.name != "sqlite":
        with op.batch_alter_table("orders", schema=None) as batch_op:
            batch_op.drop_constraint(op.f(ORDER_METHODS_CHECK), type_="check")
            batch_op.create_check_constraint(op.f(ORDER_METHODS_CHECK), after)
        return
    definition = bind.execute(sa.text(
        "SELECT sql FROM sqlite_master WHERE type = 'table' AND name = 'orders'")).scalar_one()
    if definition.count(before) != 1:
        raise RuntimeError(f"orders: expected one CHECK ({before}) in {definition!r}")
    version = int(bind.execute(sa.text("PRAGMA schema_version")).scalar_one())
    bind.execute(sa.text("PRAGMA writable_schema = ON"))
    try:
        bind.execute(
            sa.text("UPDATE sqlite_master SET sql = :sql WHERE type = 'table' AND name = 'orders'"),
            {"sql": definition.replace(before, after)},
        )
        bind.execute(sa.text(f"PRAGMA schema_version = {version + 1}"))
    finally:
        bind.execute(sa.text("PRAGMA writable_schema = OFF"))
    problem = bind.execute(sa.text("PRAGMA quick_check")).scalar_one()
    if problem != "ok":
        raise RuntimeError(f"orders: integrity check after the CHECK change: {problem}")


def upgrade() -> None:
    _order_methods(ORDER_METHODS_BEFORE, ORDER_METHODS_AFTER)

    # ---------------------------------------------------------------- complaints
    op.create_table(
        "complaint_settings",
        sa.Column("product_id", BigIntPk, nullable=False),
        sa.Column("response_working_days", sa.Integer(), nullable=False),
        sa.Column("updated_at", UtcDateTime(), nullable=False),
        sa.CheckConstraint(
            "response_working_days BETWEEN 1 AND 30",
            name=op.f("ck_complaint_settings_response_working_days_range"),
        ),
        sa.ForeignKeyConstraint(
            ["product_id"], ["products.id"],
            name=op.f("fk_complaint_settings_product_id_products"), ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("product_id", name=op.f("pk_complaint_settings")),
    )
    op.create_table(
        "complaints",
        sa.Column("id", BigIntPk, nullable=False),
        sa.Column("complaint_no", sa.String(length=20), nullable=False),
        sa.Column("complainant_person_id", BigIntPk, nullable=False),
        sa.Column("filed_by_account_id", BigIntPk, nullable=False),
        sa.Column("acted_for_grant_id", sa.BigInteger(), nullable=True),
        sa.Column("product_id", BigIntPk, nullable=True),
        sa.Column("category", sa.String(length=16), nullable=False),
        sa.Column("content", sa.Text(), nullable=False),
        sa.Column("policy_no", sa.String(length=32), nullable=True),
        sa.Column("claim_no", sa.String(length=32), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("created_at", UtcDateTime(), nullable=False),
        sa.Column("due_at", UtcDateTime(), nullable=False),
        sa.Column("updated_at", UtcDateTime(), nullable=False),
        sa.Column("resolved_at", UtcDateTime(), nullable=True),
        sa.CheckConstraint(
            "category IN ('enrollment', 'payment', 'claims', 'refund', 'service', 'privacy',"
            " 'other')",
            name=op.f("ck_complaints_category_values"),
        ),
        sa.CheckConstraint(
            "status IN ('received', 'in_progress', 'resolved')",
            name=op.f("ck_complaints_status_values"),
        ),
        sa.ForeignKeyConstraint(
            ["complainant_person_id"], ["people.id"],
            name=op.f("fk_complaints_complainant_person_id_people"),
        ),
        sa.ForeignKeyConstraint(
            ["filed_by_account_id"], ["user_accounts.id"],
            name=op.f("fk_complaints_filed_by_account_id_user_accounts"),
        ),
        sa.ForeignKeyConstraint(
            ["product_id"], ["products.id"], name=op.f("fk_complaints_product_id_products"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_complaints")),
        sa.UniqueConstraint("complaint_no", name=op.f("uq_complaints_complaint_no")),
    )
    with op.batch_alter_table("complaints", schema=None) as batch_op:
        batch_op.create_index(
            "ix_complaints_complainant_person_id", ["complainant_person_id", "created_at"],
            unique=False,
        )
        batch_op.create_index("ix_complaints_status_due_at", ["status", "due_at"], unique=False)

    op.create_table(
        "complaint_replies",
        sa.Column("id", BigIntPk, nullable=False),
        sa.Column("complaint_id", BigIntPk, nullable=False),
        sa.Column("author_account_id", BigIntPk, nullable=False),
        sa.Column("author_role", sa.String(length=16), nullable=False),
        sa.Column("message", sa.Text(), nullable=False),
        sa.Column("from_status", sa.String(length=16), nullable=False),
        sa.Column("to_status", sa.String(length=16), nullable=False),
        sa.Column("created_at", UtcDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["author_account_id"], ["user_accounts.id"],
            name=op.f("fk_complaint_replies_author_account_id_user_accounts"),
        ),
        sa.ForeignKeyConstraint(
            ["complaint_id"], ["complaints.id"],
            name=op.f("fk_complaint_replies_complaint_id_complaints"), ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_complaint_replies")),
    )
    with op.batch_alter_table("complaint_replies", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_complaint_replies_complaint_id"), ["complaint_id"], unique=False
        )

    # ---------------------------------------------------------------- employer group enrollment
    op.create_table(
        "employers",
        sa.Column("id", BigIntPk, nullable=False),
        sa.Column("code", sa.String(length=32), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("created_at", UtcDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_employers")),
        sa.UniqueConstraint("code", name=op.f("uq_employers_code")),
    )
    op.create_table(
        "employer_batches",
        sa.Column("id", BigIntPk, nullable=False),
        sa.Column("batch_no", sa.String(length=24), nullable=False),
        sa.Column("employer_id", BigIntPk, nullable=False),
        sa.Column("product_id", BigIntPk, nullable=False),
        sa.Column("file_sha256", sa.String(length=64), nullable=False),
        sa.Column("filename", sa.String(length=200), nullable=False),
        sa.Column("uploaded_by_account_id", BigIntPk, nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("created_at", UtcDateTime(), nullable=False),
        sa.Column("finished_at", UtcDateTime(), nullable=True),
        sa.CheckConstraint(
            "status IN ('processing', 'done')", name=op.f("ck_employer_batches_status_values")
        ),
        sa.ForeignKeyConstraint(
            ["employer_id"], ["employers.id"],
            name=op.f("fk_employer_batches_employer_id_employers"),
        ),
        sa.ForeignKeyConstraint(
            ["product_id"], ["products.id"], name=op.f("fk_employer_batches_product_id_products"),
        ),
        sa.ForeignKeyConstraint(
            ["uploaded_by_account_id"], ["user_accounts.id"],
            name=op.f("fk_employer_batches_uploaded_by_account_id_user_accounts"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_employer_batches")),
        sa.UniqueConstraint("batch_no", name=op.f("uq_employer_batches_batch_no")),
        sa.UniqueConstraint(
            "employer_id", "product_id", "file_sha256",
            name="uq_employer_batches_employer_product_file",
        ),
    )
    op.create_table(
        "employer_batch_rows",
        sa.Column("id", BigIntPk, nullable=False),
        sa.Column("batch_id", BigIntPk, nullable=False),
        sa.Column("line", sa.Integer(), nullable=False),
        sa.Column("id_number_masked", sa.String(length=18), nullable=False),
        sa.Column("name_masked", sa.String(length=64), nullable=False),
        sa.Column("tier_code", sa.String(length=32), nullable=False),
        sa.Column("person_id", BigIntPk, nullable=True),
        sa.Column("outcome", sa.String(length=16), nullable=False),
        sa.Column("reason", sa.String(length=200), nullable=True),
        sa.Column("order_no", sa.String(length=32), nullable=True),
        sa.Column("policy_no", sa.String(length=32), nullable=True),
        sa.CheckConstraint(
            "outcome IN ('pending', 'enrolled', 'already', 'failed')",
            name=op.f("ck_employer_batch_rows_outcome_values"),
        ),
        sa.ForeignKeyConstraint(
            ["batch_id"], ["employer_batches.id"],
            name=op.f("fk_employer_batch_rows_batch_id_employer_batches"), ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["person_id"], ["people.id"], name=op.f("fk_employer_batch_rows_person_id_people"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_employer_batch_rows")),
        sa.UniqueConstraint("batch_id", "line", name="uq_employer_batch_rows_batch_id_line"),
    )
    with op.batch_alter_table("employer_batch_rows", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_employer_batch_rows_batch_id"), ["batch_id"], unique=False
        )

    # ---------------------------------------------------------------- subsidy roster
    op.create_table(
        "subsidy_roster_imports",
        sa.Column("id", BigIntPk, nullable=False),
        sa.Column("import_no", sa.String(length=24), nullable=False),
        sa.Column("product_id", BigIntPk, nullable=False),
        sa.Column("city_code", sa.String(length=6), nullable=False),
        sa.Column("year", sa.Integer(), nullable=False),
        sa.Column("file_sha256", sa.String(length=64), nullable=False),
        sa.Column("filename", sa.String(length=200), nullable=False),
        sa.Column("uploaded_by_account_id", BigIntPk, nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("created_at", UtcDateTime(), nullable=False),
        sa.Column("finished_at", UtcDateTime(), nullable=True),
        sa.CheckConstraint(
            "status IN ('processing', 'done')",
            name=op.f("ck_subsidy_roster_imports_status_values"),
        ),
        sa.ForeignKeyConstraint(
            ["product_id"], ["products.id"],
            name=op.f("fk_subsidy_roster_imports_product_id_products"),
        ),
        sa.ForeignKeyConstraint(
            ["uploaded_by_account_id"], ["user_accounts.id"],
            name=op.f("fk_subsidy_roster_imports_uploaded_by_account_id_user_accounts"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_subsidy_roster_imports")),
        sa.UniqueConstraint("import_no", name=op.f("uq_subsidy_roster_imports_import_no")),
    )
    op.create_table(
        "subsidy_roster_rows",
        sa.Column("id", BigIntPk, nullable=False),
        sa.Column("import_id", BigIntPk, nullable=False),
        sa.Column("line", sa.Integer(), nullable=False),
        sa.Column("id_number_masked", sa.String(length=18), nullable=False),
        sa.Column("name_masked", sa.String(length=64), nullable=False),
        sa.Column("category", sa.String(length=16), nullable=True),
        sa.Column("person_id", BigIntPk, nullable=True),
        sa.Column("outcome", sa.String(length=16), nullable=False),
        sa.Column("reason", sa.String(length=200), nullable=True),
        sa.Column("order_no", sa.String(length=32), nullable=True),
        sa.Column("policy_no", sa.String(length=32), nullable=True),
        sa.CheckConstraint(
            "category IS NULL OR category IN ('tekun', 'dibao', 'dibian', 'disabled')",
            name=op.f("ck_subsidy_roster_rows_category_values"),
        ),
        sa.CheckConstraint(
            "outcome IN ('pending', 'enrolled', 'skipped', 'failed')",
            name=op.f("ck_subsidy_roster_rows_outcome_values"),
        ),
        sa.ForeignKeyConstraint(
            ["import_id"], ["subsidy_roster_imports.id"],
            name=op.f("fk_subsidy_roster_rows_import_id_subsidy_roster_imports"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["person_id"], ["people.id"], name=op.f("fk_subsidy_roster_rows_person_id_people"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_subsidy_roster_rows")),
        sa.UniqueConstraint("import_id", "line", name="uq_subsidy_roster_rows_import_id_line"),
    )
    with op.batch_alter_table("subsidy_roster_rows", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_subsidy_roster_rows_import_id"), ["import_id"], unique=False
        )
        batch_op.create_index("ix_subsidy_roster_rows_person_id", ["person_id"], unique=False)

    # ---------------------------------------------------------------- counter enrollment
    op.create_table(
        "counter_enrollments",
        sa.Column("id", BigIntPk, nullable=False),
        sa.Column("order_no", sa.String(length=32), nullable=False),
        sa.Column("person_id", BigIntPk, nullable=False),
        sa.Column("staff_account_id", BigIntPk, nullable=False),
        sa.Column("city_code", sa.String(length=6), nullable=False),
        sa.Column("payment_method", sa.String(length=20), nullable=False),
        sa.Column("id_document_checked", sa.Boolean(), nullable=False),
        sa.Column("receipt_no", sa.String(length=40), nullable=True),
        sa.Column("created_at", UtcDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["person_id"], ["people.id"], name=op.f("fk_counter_enrollments_person_id_people"),
        ),
        sa.ForeignKeyConstraint(
            ["staff_account_id"], ["user_accounts.id"],
            name=op.f("fk_counter_enrollments_staff_account_id_user_accounts"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_counter_enrollments")),
        sa.UniqueConstraint("order_no", name=op.f("uq_counter_enrollments_order_no")),
    )
    with op.batch_alter_table("counter_enrollments", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_counter_enrollments_person_id"), ["person_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_counter_enrollments_staff_account_id"), ["staff_account_id"],
            unique=False,
        )


def downgrade() -> None:
    # Orders paid by an employer or in cash at a counter cannot be expressed without their
    # methods: refuse rather than rewrite how money was received.
    offline_orders = op.get_bind().execute(sa.text(
        "SELECT COUNT(*) FROM orders WHERE payment_method IN ('employer', 'counter_cash')"
    )).scalar()
    if offline_orders:
        raise RuntimeError(
            "orders holds employer or counter_cash payments; they cannot be downgraded away"
        )

    with op.batch_alter_table("counter_enrollments", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_counter_enrollments_staff_account_id"))
        batch_op.drop_index(batch_op.f("ix_counter_enrollments_person_id"))
    op.drop_table("counter_enrollments")

    with op.batch_alter_table("subsidy_roster_rows", schema=None) as batch_op:
        batch_op.drop_index("ix_subsidy_roster_rows_person_id")
        batch_op.drop_index(batch_op.f("ix_subsidy_roster_rows_import_id"))
    op.drop_table("subsidy_roster_rows")
    op.drop_table("subsidy_roster_imports")

    with op.batch_alter_table("employer_batch_rows", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_employer_batch_rows_batch_id"))
    op.drop_table("employer_batch_rows")
    op.drop_table("employer_batches")
    op.drop_table("employers")

    with op.batch_alter_table("complaint_replies", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_complaint_replies_complaint_id"))
    op.drop_table("complaint_replies")
    with op.batch_alter_table("complaints", schema=None) as batch_op:
        batch_op.drop_index("ix_complaints_status_due_at")
        batch_op.drop_index("ix_complaints_complainant_person_id")
    op.drop_table("complaints")
    op.drop_table("complaint_settings")

    _order_methods(ORDER_METHODS_AFTER, ORDER_METHODS_BEFORE)
