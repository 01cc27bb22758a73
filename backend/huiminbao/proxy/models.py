"""Proxy grants: who (the agent) may do what for whom (the principal), until when, confirmed how."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    JSON,
    BigInteger,
    CheckConstraint,
    ForeignKey,
    Index,
    Integer,
    String,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from huiminbao.core.db import Base, BigIntPk, UtcDateTime
from huiminbao.enrollment.models import Order


class ProxyGrant(Base):
    """One grant. At most one live (pending or active) grant per agent and principal: a second
    request for the same pair must wait until the first is revoked, cancelled or expired."""

    __tablename__ = "proxy_grants"
    __table_args__ = (
        CheckConstraint(
            "status IN ('pending', 'active', 'revoked', 'cancelled', 'expired')",
            name="status_values",
        ),
        CheckConstraint("confirm_method IN ('qr', 'sms', 'counter')",
                        name="confirm_method_values"),
        CheckConstraint(
            "confirmed_method IS NULL OR confirmed_method IN ('qr', 'sms', 'counter')",
            name="confirmed_method_values",
        ),
        CheckConstraint("agent_person_id <> principal_person_id", name="not_self"),
        CheckConstraint("valid_days BETWEEN 1 AND 366", name="valid_days_range"),
        CheckConstraint("pay_limit_fen IS NULL OR pay_limit_fen > 0", name="pay_limit_positive"),
        CheckConstraint(
            "status NOT IN ('active', 'revoked') OR "
            "(confirmed_at IS NOT NULL AND valid_until IS NOT NULL)",
            name="confirmed_when_active",
        ),
        Index(
            "uq_proxy_grants_one_live_per_pair", "agent_person_id", "principal_person_id",
            unique=True,
            postgresql_where=text("status IN ('pending', 'active')"),
            sqlite_where=text("status IN ('pending', 'active')"),
        ),
        Index("ix_proxy_grants_principal_person_id", "principal_person_id", "status"),
    )

    id: Mapped[int] = mapped_column(BigIntPk, primary_key=True)
    agent_person_id: Mapped[int] = mapped_column(ForeignKey("people.id"))
    agent_account_id: Mapped[int] = mapped_column(ForeignKey("user_accounts.id"))
    principal_person_id: Mapped[int] = mapped_column(ForeignKey("people.id"))
    scopes: Mapped[str] = mapped_column(String(128))  # comma-separated ``Scope`` values
    pay_limit_fen: Mapped[int | None] = mapped_column(BigInteger)  # per calendar year
    valid_days: Mapped[int] = mapped_column(Integer)  # counted from confirmation
    confirm_method: Mapped[str] = mapped_column(String(8))  # as the agent asked for it
    status: Mapped[str] = mapped_column(String(12))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    pending_expires_at: Mapped[datetime] = mapped_column(UtcDateTime)
    confirmed_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    confirmed_method: Mapped[str | None] = mapped_column(String(8))  # how it really was
    confirmed_by_account_id: Mapped[int | None] = mapped_column(ForeignKey("user_accounts.id"))
    valid_until: Mapped[datetime | None] = mapped_column(UtcDateTime)
    # Counter confirmation: the documents staff checked (``Evidence`` values) and their note.
    evidence: Mapped[list[str] | None] = mapped_column(JSON)
    counter_note: Mapped[str | None] = mapped_column(String(200))
    ended_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    ended_by_account_id: Mapped[int | None] = mapped_column(BigInteger)  # NULL: by expiry


# The payment limit sums the personal-account orders made under a grant; this index (on the
# enrollment domain's table, declared here because only proxy queries need it) keeps that sum
# from scanning every order. Partial: most orders are not made under a grant.
Index(
    "ix_orders_acted_for_grant_id", Order.acted_for_grant_id,
    postgresql_where=Order.acted_for_grant_id.is_not(None),
    sqlite_where=Order.acted_for_grant_id.is_not(None),
)
