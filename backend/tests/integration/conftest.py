"""Fixtures shared by the PostgreSQL tests (``pg_url``, ``pg_db`` and ``pg_wired`` live in the
suite's conftest, next to the SQLite ones)."""

from __future__ import annotations

import pytest
from flask import Flask

from huiminbao.app import create_app
from huiminbao.catalog.demo import ensure_demo_product
from huiminbao.core.clock import MovableClock
from huiminbao.core.container import Container
from huiminbao.registry.demo import load_demo_population


@pytest.fixture
def pg_app(pg_wired: Container, clock: MovableClock) -> Flask:
    """The application on this module's PostgreSQL schema with the demo city and product loaded.
    Loading is idempotent, so every test of the module may ask for it on the same schema."""
    load_demo_population(pg_wired.db, clock)
    ensure_demo_product(pg_wired.db, clock)
    return create_app(container=pg_wired)
