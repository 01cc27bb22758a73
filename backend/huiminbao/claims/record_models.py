"""Claims from authorized records: the resident's authorization to read their 医保 settlement
records for a period (revocable), and which settlement each claim was filed from."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    Date,
    ForeignKey,
    Index,
    String,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from huiminbao.core.db import Base, BigIntPk, UtcDateTime


class RecordsConsent(Base):
    """The person authorizes the platform to read their settlement records whose visit date
    lies in ``[period_from, period_to]``, until revoked. Given by the person, or by an agent
    holding the claims scope under ``grant_id``."""

    __tablename__ = "claim_record_consents"
    __table_args__ = (
        CheckConstraint("period_to >= period_from", name="period_in_order"),
        Index("ix_claim_record_consents_person_id", "person_id", "revoked_at"),
    )

    id: Mapped[int] = mapped_column(BigIntPk, primary_key=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("people.id"))
    period_from: Mapped[date] = mapped_column(Date)
    period_to: Mapped[date] = mapped_column(Date)
    granted_by_account_id: Mapped[int] = mapped_column(ForeignKey("user_accounts.id"))
    grant_id: Mapped[int | None] = mapped_column(BigInteger, nullable=True)  # as claims keep it
    granted_at: Mapped[datetime] = mapped_column(UtcDateTime())
    revoked_at: Mapped[datetime | None] = mapped_column(UtcDateTime(), nullable=True)
    revoked_by_account_id: Mapped[int | None] = mapped_column(ForeignKey("user_accounts.id"),
                                                              nullable=True)


class ClaimFromRecord(Base):
    """The settlement a claim was filed from: one claim per settlement of a person."""

    __tablename__ = "claim_record_links"
    __table_args__ = (
        UniqueConstraint("person_id", "record_no", name="uq_claim_record_links_record"),
    )

    claim_id: Mapped[int] = mapped_column(ForeignKey("claims.id", ondelete="CASCADE"),
                                          primary_key=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("people.id"))
    record_no: Mapped[str] = mapped_column(String(64))
    consent_id: Mapped[int] = mapped_column(ForeignKey("claim_record_consents.id"))
