"""0029 adds the day-end disclosure table and takes it away again, on SQLite and PostgreSQL."""

from __future__ import annotations

from pathlib import Path

import pytest
from alembic.script import ScriptDirectory
from sqlalchemy import create_engine, inspect

from huiminbao.core.migrate import alembic_config, downgrade_engine, upgrade_engine

# The revision 0029 follows (re-chained as others land before it).
BELOW = ScriptDirectory.from_config(alembic_config("sqlite://")).get_revision(
    "0029_daily_disclosure").down_revision


def _down_and_up(url: str) -> None:
    engine = create_engine(url)
    try:
        upgrade_engine(engine)
        assert "disclosure_day_ends" in inspect(engine).get_table_names()
        downgrade_engine(engine, BELOW)
        assert "disclosure_day_ends" not in inspect(engine).get_table_names()
        upgrade_engine(engine)
        columns = {c["name"] for c in inspect(engine).get_columns("disclosure_day_ends")}
        assert columns == {"product_id", "day", "as_of", "figures", "counted_in_ms",
                           "stored_at"}
        assert inspect(engine).get_pk_constraint("disclosure_day_ends")[
            "constrained_columns"] == ["product_id", "day"]
    finally:
        engine.dispose()


def test_0029_down_and_up_on_sqlite(tmp_path: Path) -> None:
    _down_and_up(f"sqlite:///{tmp_path / 'm.sqlite3'}")


@pytest.mark.postgres
def test_0029_down_and_up_on_postgresql(pg_url: str) -> None:
    _down_and_up(pg_url)
