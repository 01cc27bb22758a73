"""Audit events (append-only; the database refuses UPDATE and DELETE) and consent records."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, CheckConstraint, ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from huiminbao.core.db import Base, BigIntPk, UtcDateTime


class AuditEvent(Base):
    __tablename__ = "audit_events"
    __table_args__ = (
        CheckConstraint("outcome IN ('ok', 'denied', 'failed')", name="outcome_values"),
        Index("ix_audit_events_subject_person_id", "subject_person_id", "occurred_at"),
        Index("ix_audit_events_actor_account_id", "actor_account_id", "occurred_at"),
    )

    id: Mapped[int] = mapped_column(BigIntPk, primary_key=True)
    occurred_at: Mapped[datetime] = mapped_column(UtcDateTime)
    action: Mapped[str] = mapped_column(String(48))
    outcome: Mapped[str] = mapped_column(String(8))
    actor_account_id: Mapped[int | None] = mapped_column(BigInteger)
    actor_role: Mapped[str | None] = mapped_column(String(16))
    actor_client: Mapped[str | None] = mapped_column(String(64))  # a service client's id
    subject_person_id: Mapped[int | None] = mapped_column(BigInteger)
    acting_for_person_id: Mapped[int | None] = mapped_column(BigInteger)
    grant_id: Mapped[int | None] = mapped_column(BigInteger)
    object_type: Mapped[str | None] = mapped_column(String(32))
    object_id: Mapped[str | None] = mapped_column(String(64))
    request_id: Mapped[str | None] = mapped_column(String(64))
    # Masked values only (names as 张*三, ID numbers as 3****************X).
    details: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)


class Consent(Base):
    """A person's consent to a versioned text; withdrawing sets ``withdrawn_at``."""

    __tablename__ = "consents"
    __table_args__ = (
        CheckConstraint("kind IN ('personal_info', 'sensitive_info')", name="kind_values"),
        Index("ix_consents_account_id_kind", "account_id", "kind"),
    )

    id: Mapped[int] = mapped_column(BigIntPk, primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("user_accounts.id"))
    kind: Mapped[str] = mapped_column(String(16))
    text_version: Mapped[str] = mapped_column(String(20))
    granted_at: Mapped[datetime] = mapped_column(UtcDateTime)
    withdrawn_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
