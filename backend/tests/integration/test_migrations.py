"""The hand-written migrations build exactly the schema the models describe, and go back down."""

from __future__ import annotations

from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import Engine, create_engine, inspect

from huiminbao.core.db import Base
from huiminbao.core.migrate import downgrade_engine, upgrade, upgrade_engine
from huiminbao.core.models_registry import import_all_models

import_all_models()


def _differences(engine: Engine) -> list[object]:
    with engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        return list(compare_metadata(context, Base.metadata))


@pytest.mark.postgres
def test_postgresql_schema_matches_the_models(pg_url: str) -> None:
    engine = create_engine(pg_url)
    try:
        assert _differences(engine) == []
    finally:
        engine.dispose()


@pytest.mark.postgres
def test_postgresql_downgrade_to_base_and_back(pg_url: str) -> None:
    engine = create_engine(pg_url)
    try:
        downgrade_engine(engine, "base")
        assert set(inspect(engine).get_table_names()) <= {"alembic_version"}
        upgrade_engine(engine)
        assert _differences(engine) == []
    finally:
        engine.dispose()


def test_sqlite_schema_matches_the_models(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'migrated.sqlite3'}"
    upgrade(url)
    engine = create_engine(url)
    try:
        assert _differences(engine) == []
    finally:
        engine.dispose()


@pytest.mark.postgres
def test_upgrade_by_url_works_on_postgresql(pg_url: str) -> None:
    """`huiminbao serve` and `db upgrade` migrate by URL (a NullPool engine), not by engine."""
    upgrade(pg_url)  # already at head: must simply succeed
