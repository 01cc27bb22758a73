"""Imports every domain's models so that ``Base.metadata`` knows all tables (Alembic, tests)."""

from __future__ import annotations

import importlib

MODEL_MODULES = (
    "huiminbao.registry.models",
    "huiminbao.catalog.models",
    "huiminbao.identity.models",
    "huiminbao.audit.models",
    "huiminbao.enrollment.models",
    "huiminbao.enrollment.family.models",
    "huiminbao.payments.ledger",
    "huiminbao.payments.gateway.models",
    "huiminbao.core.idempotency",
    "huiminbao.claims.models",
    "huiminbao.claims.record_models",
    "huiminbao.proxy.models",
    "huiminbao.disclosure.models",
    "huiminbao.console.models",
)


def import_all_models() -> None:
    for module in MODEL_MODULES:
        importlib.import_module(module)
