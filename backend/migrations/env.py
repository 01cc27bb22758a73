"""Alembic environment: the URL comes from the caller (``huiminbao db upgrade``) or Settings."""

from __future__ import annotations

from alembic import context
from sqlalchemy import pool

from huiminbao.core.config import Settings
from huiminbao.core.db import MIGRATION_STATEMENT_TIMEOUT_SECONDS, Base, make_engine
from huiminbao.core.models_registry import import_all_models

import_all_models()
config = context.config
target_metadata = Base.metadata


def database_url() -> str:
    return config.get_main_option("sqlalchemy.url") or Settings.from_env().database_url


def run_migrations_offline() -> None:
    context.configure(url=database_url(), target_metadata=target_metadata, literal_binds=True,
                      render_as_batch=True)
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    connectable = config.attributes.get("connection")
    if connectable is not None:
        _run(connectable)
        return
    engine = make_engine(database_url(), poolclass=pool.NullPool,
                         statement_timeout=MIGRATION_STATEMENT_TIMEOUT_SECONDS)
    with engine.connect() as connection:
        _run(connection)
    engine.dispose()


def _run(connection: object) -> None:
    context.configure(
        connection=connection,  # type: ignore[arg-type]
        target_metadata=target_metadata,
        render_as_batch=True,  # SQLite needs batch mode to alter tables
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
