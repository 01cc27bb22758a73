"""The audit log is append-only in the database itself, on PostgreSQL and SQLite."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import delete, update
from sqlalchemy.exc import DBAPIError

from huiminbao.audit.models import AuditEvent
from huiminbao.core.container import Container
from huiminbao.core.db import Database


def _write_event(db: Database) -> int:
    with db.transaction() as session:
        event = AuditEvent(occurred_at=datetime.now(UTC), action="test.event", outcome="ok",
                           details={"note": "masked only"})
        session.add(event)
        session.flush()
        return event.id


def _assert_append_only(db: Database) -> None:
    event_id = _write_event(db)
    with pytest.raises(DBAPIError, match="append-only"), db.transaction() as session:
        session.execute(update(AuditEvent).where(AuditEvent.id == event_id)
                        .values(outcome="denied"))
    with pytest.raises(DBAPIError, match="append-only"), db.transaction() as session:
        session.execute(delete(AuditEvent).where(AuditEvent.id == event_id))
    with db.read() as session:
        assert session.get(AuditEvent, event_id) is not None


@pytest.mark.postgres
def test_postgresql_refuses_to_change_or_delete_audit_events(pg_db: Database) -> None:
    _assert_append_only(pg_db)


def test_sqlite_refuses_to_change_or_delete_audit_events(wired: Container) -> None:
    _assert_append_only(wired.db)
