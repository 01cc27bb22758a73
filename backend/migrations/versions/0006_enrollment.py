"""Enrollment and payments: orders, insured persons, policies, subsidy uses, refunds, the
double-entry ledger and idempotency keys.

Revision ID: 0006_enrollment
Revises: 0005_catalog_admin
Create Date: 2026-11-22
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from huiminbao.core.db import BigIntPk, UtcDateTime

revision = "0006_enrollment"
down_revision = "0005_catalog_admin"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "idempotency_keys",
        sa.Column("id", BigIntPk, nullable=False),
        sa.Column("owner", sa.String(length=64), nullable=False),
        sa.Column("key", sa.String(length=128), nullable=False),
        sa.Column("request_hash", sa.String(length=64), nullable=False),
        sa.Column("state", sa.String(length=8), nullable=False),
        sa.Column("response_status", sa.Integer(), nullable=True),
        sa.Column("response_body", sa.JSON(), nullable=True),
        sa.Column("created_at", UtcDateTime(), nullable=False),
        sa.CheckConstraint(
            "state IN ('running', 'done')", name=op.f("ck_idempotency_keys_state_values")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_idempotency_keys")),
        sa.UniqueConstraint("owner", "key", name="uq_idempotency_keys_owner_key"),
    )
    with op.batch_alter_table("idempotency_keys", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_idempotency_keys_created_at"), ["created_at"], unique=False
        )

    op.create_table(
        "ledger_transactions",
        sa.Column("id", BigIntPk, nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("reference", sa.String(length=48), nullable=False),
        sa.Column("order_no", sa.String(length=32), nullable=False),
        sa.Column("purpose", sa.String(length=200), nullable=False),
        sa.Column("occurred_at", UtcDateTime(), nullable=False),
        sa.CheckConstraint(
            "kind IN ('payment', 'refund')", name=op.f("ck_ledger_transactions_kind_values")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ledger_transactions")),
        sa.UniqueConstraint("reference", name=op.f("uq_ledger_transactions_reference")),
    )
    with op.batch_alter_table("ledger_transactions", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_ledger_transactions_order_no"), ["order_no"], unique=False
        )

    op.create_table(
        "ledger_entries",
        sa.Column("id", BigIntPk, nullable=False),
        sa.Column("transaction_id", BigIntPk, nullable=False),
        sa.Column("account", sa.String(length=64), nullable=False),
        sa.Column("amount_fen", sa.BigInteger(), nullable=False),
        sa.CheckConstraint("amount_fen <> 0", name=op.f("ck_ledger_entries_amount_not_zero")),
        sa.ForeignKeyConstraint(
            ["transaction_id"],
            ["ledger_transactions.id"],
            name=op.f("fk_ledger_entries_transaction_id_ledger_transactions"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ledger_entries")),
    )
    with op.batch_alter_table("ledger_entries", schema=None) as batch_op:
        batch_op.create_index("ix_ledger_entries_account", ["account"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_ledger_entries_transaction_id"), ["transaction_id"], unique=False
        )

    op.create_table(
        "orders",
        sa.Column("id", BigIntPk, nullable=False),
        sa.Column("order_no", sa.String(length=32), nullable=False),
        sa.Column("product_id", BigIntPk, nullable=False),
        sa.Column("buyer_account_id", BigIntPk, nullable=False),
        sa.Column("buyer_person_id", BigIntPk, nullable=False),
        sa.Column("payer_person_id", BigIntPk, nullable=True),
        sa.Column("acted_for_grant_id", sa.BigInteger(), nullable=True),
        sa.Column("channel", sa.String(length=16), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("payment_method", sa.String(length=20), nullable=False),
        sa.Column("premium_fen", sa.BigInteger(), nullable=False),
        sa.Column("subsidy_fen", sa.BigInteger(), nullable=False),
        sa.Column("payable_fen", sa.BigInteger(), nullable=False),
        sa.Column("refunded_fen", sa.BigInteger(), nullable=False),
        sa.Column("terms_version", sa.String(length=20), nullable=False),
        sa.Column("payment_request_no", sa.String(length=40), nullable=False),
        sa.Column("gateway_transaction_id", sa.String(length=64), nullable=True),
        sa.Column("pay_url", sa.String(length=200), nullable=True),
        sa.Column("failure_reason", sa.String(length=200), nullable=True),
        sa.Column("created_at", UtcDateTime(), nullable=False),
        sa.Column("expires_at", UtcDateTime(), nullable=False),
        sa.Column("paid_at", UtcDateTime(), nullable=True),
        sa.Column("issued_at", UtcDateTime(), nullable=True),
        sa.Column("closed_at", UtcDateTime(), nullable=True),
        sa.CheckConstraint(
            "payment_method IN ('personal_account', 'online', 'subsidy')",
            name=op.f("ck_orders_payment_method_values"),
        ),
        sa.CheckConstraint(
            "status IN ('pending_payment', 'paid', 'issued', 'cancelled', 'expired', 'refunded')",
            name=op.f("ck_orders_status_values"),
        ),
        sa.CheckConstraint(
            "payable_fen = premium_fen - subsidy_fen", name=op.f("ck_orders_payable_is_difference")
        ),
        sa.CheckConstraint("premium_fen > 0", name=op.f("ck_orders_premium_positive")),
        sa.CheckConstraint(
            "refunded_fen >= 0 AND refunded_fen <= payable_fen", name=op.f("ck_orders_refund_range")
        ),
        sa.CheckConstraint(
            "subsidy_fen >= 0 AND subsidy_fen <= premium_fen", name=op.f("ck_orders_subsidy_range")
        ),
        sa.ForeignKeyConstraint(
            ["buyer_account_id"],
            ["user_accounts.id"],
            name=op.f("fk_orders_buyer_account_id_user_accounts"),
        ),
        sa.ForeignKeyConstraint(
            ["buyer_person_id"], ["people.id"], name=op.f("fk_orders_buyer_person_id_people")
        ),
        sa.ForeignKeyConstraint(
            ["payer_person_id"], ["people.id"], name=op.f("fk_orders_payer_person_id_people")
        ),
        sa.ForeignKeyConstraint(
            ["product_id"], ["products.id"], name=op.f("fk_orders_product_id_products")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_orders")),
        sa.UniqueConstraint("order_no", name=op.f("uq_orders_order_no")),
        sa.UniqueConstraint("payment_request_no", name=op.f("uq_orders_payment_request_no")),
    )
    with op.batch_alter_table("orders", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_orders_buyer_account_id"), ["buyer_account_id"], unique=False
        )
        batch_op.create_index("ix_orders_status_expires_at", ["status", "expires_at"], unique=False)

    op.create_table(
        "order_items",
        sa.Column("id", BigIntPk, nullable=False),
        sa.Column("order_id", BigIntPk, nullable=False),
        sa.Column("product_id", BigIntPk, nullable=False),
        sa.Column("insured_person_id", BigIntPk, nullable=False),
        sa.Column("relation", sa.String(length=16), nullable=False),
        sa.Column("tier_code", sa.String(length=32), nullable=False),
        sa.Column("premium_fen", sa.BigInteger(), nullable=False),
        sa.Column("subsidy_fen", sa.BigInteger(), nullable=False),
        sa.Column("holds_place", sa.Boolean(), nullable=False),
        sa.CheckConstraint("premium_fen > 0", name=op.f("ck_order_items_premium_positive")),
        sa.CheckConstraint(
            "subsidy_fen >= 0 AND subsidy_fen <= premium_fen",
            name=op.f("ck_order_items_subsidy_range"),
        ),
        sa.ForeignKeyConstraint(
            ["insured_person_id"],
            ["people.id"],
            name=op.f("fk_order_items_insured_person_id_people"),
        ),
        sa.ForeignKeyConstraint(
            ["order_id"],
            ["orders.id"],
            name=op.f("fk_order_items_order_id_orders"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["product_id"], ["products.id"], name=op.f("fk_order_items_product_id_products")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_order_items")),
    )
    with op.batch_alter_table("order_items", schema=None) as batch_op:
        batch_op.create_index(
            "ix_order_items_insured_person_id", ["insured_person_id", "product_id"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_order_items_order_id"), ["order_id"], unique=False)
        batch_op.create_index(
            "uq_order_items_one_place_per_product",
            ["product_id", "insured_person_id"],
            unique=True,
            postgresql_where=sa.text("holds_place"),
            sqlite_where=sa.text("holds_place"),
        )

    op.create_table(
        "policies",
        sa.Column("id", BigIntPk, nullable=False),
        sa.Column("policy_no", sa.String(length=32), nullable=False),
        sa.Column("order_item_id", BigIntPk, nullable=False),
        sa.Column("product_id", BigIntPk, nullable=False),
        sa.Column("insured_person_id", BigIntPk, nullable=False),
        sa.Column("holder_person_id", BigIntPk, nullable=False),
        sa.Column("payer_person_id", BigIntPk, nullable=True),
        sa.Column("tier_code", sa.String(length=32), nullable=False),
        sa.Column("premium_fen", sa.BigInteger(), nullable=False),
        sa.Column("subsidy_fen", sa.BigInteger(), nullable=False),
        sa.Column("coverage_starts_on", sa.Date(), nullable=False),
        sa.Column("coverage_ends_on", sa.Date(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("issued_at", UtcDateTime(), nullable=False),
        sa.Column("cancelled_at", UtcDateTime(), nullable=True),
        sa.Column("auto_renew", sa.Boolean(), nullable=False),
        sa.Column("auto_renew_consent_version", sa.String(length=20), nullable=True),
        sa.Column("auto_renew_changed_at", UtcDateTime(), nullable=True),
        sa.CheckConstraint(
            "status IN ('active', 'cancelled')", name=op.f("ck_policies_status_values")
        ),
        sa.CheckConstraint(
            "coverage_ends_on > coverage_starts_on", name=op.f("ck_policies_coverage_order")
        ),
        sa.ForeignKeyConstraint(
            ["holder_person_id"], ["people.id"], name=op.f("fk_policies_holder_person_id_people")
        ),
        sa.ForeignKeyConstraint(
            ["insured_person_id"], ["people.id"], name=op.f("fk_policies_insured_person_id_people")
        ),
        sa.ForeignKeyConstraint(
            ["order_item_id"],
            ["order_items.id"],
            name=op.f("fk_policies_order_item_id_order_items"),
        ),
        sa.ForeignKeyConstraint(
            ["payer_person_id"], ["people.id"], name=op.f("fk_policies_payer_person_id_people")
        ),
        sa.ForeignKeyConstraint(
            ["product_id"], ["products.id"], name=op.f("fk_policies_product_id_products")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_policies")),
        sa.UniqueConstraint("order_item_id", name=op.f("uq_policies_order_item_id")),
        sa.UniqueConstraint("policy_no", name=op.f("uq_policies_policy_no")),
    )
    with op.batch_alter_table("policies", schema=None) as batch_op:
        batch_op.create_index("ix_policies_holder_person_id", ["holder_person_id"], unique=False)
        batch_op.create_index("ix_policies_insured_person_id", ["insured_person_id"], unique=False)
        batch_op.create_index(
            "uq_policies_one_live_per_product",
            ["product_id", "insured_person_id"],
            unique=True,
            postgresql_where=sa.text("status = 'active'"),
            sqlite_where=sa.text("status = 'active'"),
        )

    op.create_table(
        "subsidy_uses",
        sa.Column("id", BigIntPk, nullable=False),
        sa.Column("person_id", BigIntPk, nullable=False),
        sa.Column("year", sa.Integer(), nullable=False),
        sa.Column("order_item_id", BigIntPk, nullable=False),
        sa.Column("amount_fen", sa.BigInteger(), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("created_at", UtcDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["order_item_id"],
            ["order_items.id"],
            name=op.f("fk_subsidy_uses_order_item_id_order_items"),
        ),
        sa.ForeignKeyConstraint(
            ["person_id"], ["people.id"], name=op.f("fk_subsidy_uses_person_id_people")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_subsidy_uses")),
        sa.UniqueConstraint("order_item_id", name=op.f("uq_subsidy_uses_order_item_id")),
    )
    with op.batch_alter_table("subsidy_uses", schema=None) as batch_op:
        batch_op.create_index(
            "uq_subsidy_uses_one_per_year",
            ["person_id", "year"],
            unique=True,
            postgresql_where=sa.text("active"),
            sqlite_where=sa.text("active"),
        )

    op.create_table(
        "refunds",
        sa.Column("id", BigIntPk, nullable=False),
        sa.Column("refund_no", sa.String(length=40), nullable=False),
        sa.Column("order_id", BigIntPk, nullable=False),
        sa.Column("policy_id", BigIntPk, nullable=False),
        sa.Column("payment_method", sa.String(length=20), nullable=False),
        sa.Column("amount_fen", sa.BigInteger(), nullable=False),
        sa.Column("subsidy_fen", sa.BigInteger(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("failure_reason", sa.String(length=200), nullable=True),
        sa.Column("created_at", UtcDateTime(), nullable=False),
        sa.Column("settled_at", UtcDateTime(), nullable=True),
        sa.CheckConstraint(
            "status IN ('pending', 'succeeded', 'failed')", name=op.f("ck_refunds_status_values")
        ),
        sa.CheckConstraint(
            "amount_fen >= 0 AND subsidy_fen >= 0", name=op.f("ck_refunds_amounts_non_negative")
        ),
        sa.ForeignKeyConstraint(
            ["order_id"], ["orders.id"], name=op.f("fk_refunds_order_id_orders")
        ),
        sa.ForeignKeyConstraint(
            ["policy_id"], ["policies.id"], name=op.f("fk_refunds_policy_id_policies")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_refunds")),
        sa.UniqueConstraint("policy_id", name=op.f("uq_refunds_policy_id")),
        sa.UniqueConstraint("refund_no", name=op.f("uq_refunds_refund_no")),
    )
    with op.batch_alter_table("refunds", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_refunds_order_id"), ["order_id"], unique=False)
        batch_op.create_index("ix_refunds_status", ["status"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("refunds", schema=None) as batch_op:
        batch_op.drop_index("ix_refunds_status")
        batch_op.drop_index(batch_op.f("ix_refunds_order_id"))

    op.drop_table("refunds")
    with op.batch_alter_table("subsidy_uses", schema=None) as batch_op:
        batch_op.drop_index(
            "uq_subsidy_uses_one_per_year",
            postgresql_where=sa.text("active"),
            sqlite_where=sa.text("active"),
        )

    op.drop_table("subsidy_uses")
    with op.batch_alter_table("policies", schema=None) as batch_op:
        batch_op.drop_index(
            "uq_policies_one_live_per_product",
            postgresql_where=sa.text("status = 'active'"),
            sqlite_where=sa.text("status = 'active'"),
        )
        batch_op.drop_index("ix_policies_insured_person_id")
        batch_op.drop_index("ix_policies_holder_person_id")

    op.drop_table("policies")
    with op.batch_alter_table("order_items", schema=None) as batch_op:
        batch_op.drop_index(
            "uq_order_items_one_place_per_product",
            postgresql_where=sa.text("holds_place"),
            sqlite_where=sa.text("holds_place"),
        )
        batch_op.drop_index(batch_op.f("ix_order_items_order_id"))
        batch_op.drop_index("ix_order_items_insured_person_id")

    op.drop_table("order_items")
    with op.batch_alter_table("orders", schema=None) as batch_op:
        batch_op.drop_index("ix_orders_status_expires_at")
        batch_op.drop_index(batch_op.f("ix_orders_buyer_account_id"))

    op.drop_table("orders")
    with op.batch_alter_table("ledger_entries", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_ledger_entries_transaction_id"))
        batch_op.drop_index("ix_ledger_entries_account")

    op.drop_table("ledger_entries")
    with op.batch_alter_table("ledger_transactions", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_ledger_transactions_order_no"))

    op.drop_table("ledger_transactions")
    with op.batch_alter_table("idempotency_keys", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_idempotency_keys_created_at"))

    op.drop_table("idempotency_keys")
