"""Personal data encrypted at rest: ID numbers, phones and SMS texts become AES-256-GCM
envelopes (core/crypto.py); equality lookups go through a new blind-index column beside each
looked-up value (HMAC-SHA256), which takes over the value's unique constraint or index.

Existing rows are converted in place, in batches: each plain value is sealed under the active
key and its blind index filled. Values already sealed are left as they are (a re-run, or rows
written by a newer app), so the conversion can be repeated. The keys are the app's:
``HUIMINBAO_FIELD_KEYS`` and ``HUIMINBAO_INDEX_KEY``, the published demo keys outside production.

PostgreSQL alters the tables. On SQLite, ``people`` and ``user_accounts`` are referenced by most
tables, so batch mode's copy-drop-rename fails once rows exist (see 0011); their stored
definitions are edited in place instead: the value column's length, the new column's NOT NULL,
and the unique constraint renamed onto the index column, after which REINDEX rebuilds its index
from the new definition.

Revision ID: 0021_encrypt_personal_fields
Revises: 0020_binding_verification
Create Date: 2026-12-05
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import sqlalchemy as sa
from alembic import op

from huiminbao.core.crypto import ENVELOPE_LENGTH, INDEX_LENGTH, Keyring, is_envelope, keyring

revision = "0021_encrypt_personal_fields"
down_revision = "0020_binding_verification"
branch_labels = None
depends_on = None

BATCH = 1000


class Field(NamedTuple):
    table: str
    column: str
    length: int | None  # the plain column's length; None: TEXT
    nullable: bool
    index: str | None = None  # the blind-index column beside it
    unique: str | None = None  # the value's unique constraint, moved to the index column
    plain_index: tuple[str, tuple[str, ...]] | None = None  # (name, columns) rebuilt on the index


FIELDS = (
    Field("people", "id_number", 18, False, "id_number_index", unique="uq_people_id_number"),
    Field("user_accounts", "phone", 11, False, "phone_index", unique="uq_user_accounts_phone"),
    Field("otp_challenges", "phone", 11, False, "phone_index",
          plain_index=("ix_otp_challenges_phone_purpose", ("phone", "purpose", "created_at"))),
    Field("sms_outbox", "phone", 11, False, "phone_index",
          plain_index=("ix_sms_outbox_phone_created_at", ("phone", "created_at"))),
    Field("sms_outbox", "text", None, False),
    Field("registry_persons", "id_number", 18, False, "id_number_index",
          unique="uq_registry_persons_id_number"),
    Field("registry_persons", "phone", 11, True),
    Field("registry_operations", "id_number", 18, True, "id_number_index",
          plain_index=("ix_registry_operations_id_number", ("id_number",))),
)


def _is_sqlite() -> bool:
    return op.get_bind().dialect.name == "sqlite"


def _convert(field: Field, change: Callable[[str], str],
             index: Callable[[str], str] | None = None) -> None:
    """Rewrite every value of ``field`` with ``change`` (and its blind index with ``index``),
    in batches by primary key."""
    bind = op.get_bind()
    indexed = field.index is not None and index is not None
    table = sa.table(field.table, sa.column("id"), sa.column(field.column),
                     *([sa.column(field.index)] if indexed else []))
    value = table.c[field.column]
    last = 0
    while True:
        rows = bind.execute(sa.select(table.c.id, value).where(table.c.id > last)
                            .order_by(table.c.id).limit(BATCH)).all()
        if not rows:
            return
        last = rows[-1][0]
        updates = []
        for row_id, stored in rows:
            if stored is None:
                continue
            new = change(stored)
            values = {"row_id": row_id, "new_value": new}
            if indexed:
                assert index is not None
                values["new_index"] = index(stored)
            if new != stored or indexed:
                updates.append(values)
        if updates:
            assignments = {field.column: sa.bindparam("new_value")}
            if indexed:
                assert field.index is not None
                assignments[field.index] = sa.bindparam("new_index")
            bind.execute(table.update().where(table.c.id == sa.bindparam("row_id"))
                         .values(assignments), updates)


def _edit_sqlite_table(table: str, replacements: list[tuple[str, str]]) -> None:
    """Edit a table's stored definition (as 0011 and 0017 do), then rebuild its indexes."""
    bind = op.get_bind()
    definition = bind.execute(sa.text(
        "SELECT sql FROM sqlite_master WHERE type = 'table' AND name = :name"),
        {"name": table}).scalar_one()
    for old, new in replacements:
        if definition.count(old) != 1:
            raise RuntimeError(f"{table}: expected one {old!r} in {definition!r}")
        definition = definition.replace(old, new)
    version = int(bind.execute(sa.text("PRAGMA schema_version")).scalar_one())
    bind.execute(sa.text("PRAGMA writable_schema = ON"))
    try:
        bind.execute(sa.text(
            "UPDATE sqlite_master SET sql = :sql WHERE type = 'table' AND name = :name"),
            {"sql": definition, "name": table})
        bind.execute(sa.text(f"PRAGMA schema_version = {version + 1}"))
    finally:
        bind.execute(sa.text("PRAGMA writable_schema = OFF"))
    bind.execute(sa.text(f"REINDEX {table}"))
    problem = bind.execute(sa.text("PRAGMA quick_check")).scalar_one()
    if problem != "ok":
        raise RuntimeError(f"{table}: integrity check after editing its definition: {problem}")


def _index_name(field: Field) -> str:
    """The name of the rebuilt index: an index on the value alone takes the index column's
    name (the models' ``index=True``); a named composite index keeps its name."""
    assert field.plain_index is not None
    name, columns = field.plain_index
    return f"{name}_index" if columns == (field.column,) else name


def upgrade() -> None:
    ring = keyring()
    sqlite = _is_sqlite()
    for field in FIELDS:
        if field.plain_index:
            op.drop_index(field.plain_index[0], table_name=field.table)
        if field.index:
            op.add_column(field.table, sa.Column(field.index, sa.String(INDEX_LENGTH),
                                                 nullable=True))
        if not sqlite and field.length is not None:  # room for the envelopes first
            with op.batch_alter_table(field.table) as batch:
                batch.alter_column(field.column, existing_type=sa.String(field.length),
                                   type_=sa.String(ENVELOPE_LENGTH),
                                   existing_nullable=field.nullable)
        _convert(field,
                 lambda stored, ring=ring: stored if is_envelope(stored) else ring.encrypt(stored),
                 lambda stored, ring=ring: ring.blind_index(ring.decrypt(stored)))
        if sqlite:
            edits: list[tuple[str, str]] = []
            if field.length is not None:
                null = "" if field.nullable else " NOT NULL"
                edits.append((f"{field.column} VARCHAR({field.length}){null}",
                              f"{field.column} VARCHAR({ENVELOPE_LENGTH}){null}"))
            if field.index and not field.nullable:
                edits.append((f"{field.index} VARCHAR({INDEX_LENGTH})",
                              f"{field.index} VARCHAR({INDEX_LENGTH}) NOT NULL"))
            if field.unique:
                edits.append((f"CONSTRAINT {field.unique} UNIQUE ({field.column})",
                              f"CONSTRAINT {field.unique}_index UNIQUE ({field.index})"))
            if edits:
                _edit_sqlite_table(field.table, edits)
        else:
            with op.batch_alter_table(field.table) as batch:
                if field.unique:
                    batch.drop_constraint(field.unique, type_="unique")
                if field.index and not field.nullable:
                    batch.alter_column(field.index, existing_type=sa.String(INDEX_LENGTH),
                                       nullable=False)
                if field.unique:
                    batch.create_unique_constraint(f"{field.unique}_index", [field.index])
        if field.plain_index:
            op.create_index(_index_name(field), field.table,
                            [field.index if c == field.column else c
                             for c in field.plain_index[1]])


def downgrade() -> None:
    ring: Keyring = keyring()
    sqlite = _is_sqlite()
    for field in reversed(FIELDS):
        if field.plain_index:
            op.drop_index(_index_name(field), table_name=field.table)
        _convert(field, ring.decrypt)
        if sqlite:
            edits: list[tuple[str, str]] = []
            if field.length is not None:
                null = "" if field.nullable else " NOT NULL"
                edits.append((f"{field.column} VARCHAR({ENVELOPE_LENGTH}){null}",
                              f"{field.column} VARCHAR({field.length}){null}"))
            if field.unique:
                edits.append((f"CONSTRAINT {field.unique}_index UNIQUE ({field.index})",
                              f"CONSTRAINT {field.unique} UNIQUE ({field.column})"))
            if field.index and not field.nullable:
                edits.append((f"{field.index} VARCHAR({INDEX_LENGTH}) NOT NULL",
                              f"{field.index} VARCHAR({INDEX_LENGTH})"))
            if edits:
                _edit_sqlite_table(field.table, edits)
            if field.index:
                op.drop_column(field.table, field.index)
        else:
            with op.batch_alter_table(field.table) as batch:
                if field.unique:
                    batch.drop_constraint(f"{field.unique}_index", type_="unique")
                if field.index:
                    batch.drop_column(field.index)
                if field.length is not None:
                    batch.alter_column(field.column, existing_type=sa.String(ENVELOPE_LENGTH),
                                       type_=sa.String(field.length),
                                       existing_nullable=field.nullable)
                if field.unique:
                    batch.create_unique_constraint(field.unique, [field.column])
        if field.plain_index:
            op.create_index(field.plain_index[0], field.table, list(field.plain_index[1]))
