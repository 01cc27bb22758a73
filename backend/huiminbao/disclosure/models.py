"""Complaints, their replies, each product's complaint handling deadline, the latest
snapshot of each product's public figures, and its figures at each day's end."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    CheckConstraint,
    Date,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from huiminbao.core.crypto import EncryptedString
from huiminbao.core.db import Base, BigIntPk, UtcDateTime


class Complaint(Base):
    """A complaint filed by (or for) a person; ``due_at`` is fixed when it is filed, from the
    product's deadline in working days."""

    __tablename__ = "complaints"
    __table_args__ = (
        CheckConstraint("status IN ('received', 'in_progress', 'resolved')",
                        name="status_values"),
        CheckConstraint(
            "category IN ('enrollment', 'payment', 'claims', 'refund', 'service', 'privacy',"
            " 'other')", name="category_values"),
        Index("ix_complaints_complainant_person_id", "complainant_person_id", "created_at"),
        Index("ix_complaints_status_due_at", "status", "due_at"),
        # Filed by a signed-in person, or without an account after an SMS check of the phone.
        CheckConstraint("complainant_person_id IS NOT NULL OR complainant_phone IS NOT NULL",
                        name="complainant_known"),
    )

    id: Mapped[int] = mapped_column(BigIntPk, primary_key=True)
    complaint_no: Mapped[str] = mapped_column(String(20), unique=True)
    complainant_person_id: Mapped[int | None] = mapped_column(ForeignKey("people.id"))
    filed_by_account_id: Mapped[int | None] = mapped_column(ForeignKey("user_accounts.id"))
    # Without an account: the phone the SMS code went to, the name given (both encrypted), and
    # the keyed hash of the token that lets that person see and rate the complaint.
    complainant_phone: Mapped[str | None] = mapped_column(EncryptedString())
    complainant_name: Mapped[str | None] = mapped_column(EncryptedString())
    access_token_hash: Mapped[str | None] = mapped_column(String(64), unique=True)
    acted_for_grant_id: Mapped[int | None] = mapped_column(BigInteger)
    product_id: Mapped[int | None] = mapped_column(ForeignKey("products.id"))
    category: Mapped[str] = mapped_column(String(16))
    content: Mapped[str] = mapped_column(Text)
    policy_no: Mapped[str | None] = mapped_column(String(32))
    claim_no: Mapped[str | None] = mapped_column(String(32))
    status: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    due_at: Mapped[datetime] = mapped_column(UtcDateTime)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime)
    resolved_at: Mapped[datetime | None] = mapped_column(UtcDateTime)

    replies: Mapped[list[ComplaintReply]] = relationship(
        back_populates="complaint", order_by="ComplaintReply.id", cascade="all, delete-orphan")


class ComplaintReply(Base):
    """A staff member's reply and the status it moved the complaint to. Append-only."""

    __tablename__ = "complaint_replies"

    id: Mapped[int] = mapped_column(BigIntPk, primary_key=True)
    complaint_id: Mapped[int] = mapped_column(
        ForeignKey("complaints.id", ondelete="CASCADE"), index=True)
    author_account_id: Mapped[int] = mapped_column(ForeignKey("user_accounts.id"))
    author_role: Mapped[str] = mapped_column(String(16))
    message: Mapped[str] = mapped_column(Text)
    from_status: Mapped[str] = mapped_column(String(16))
    to_status: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)

    complaint: Mapped[Complaint] = relationship(back_populates="replies")


class ComplaintSetting(Base):
    """A product's complaint handling deadline (working days); 5 when a product has none."""

    __tablename__ = "complaint_settings"
    __table_args__ = (
        CheckConstraint("response_working_days BETWEEN 1 AND 30",
                        name="response_working_days_range"),
    )

    product_id: Mapped[int] = mapped_column(ForeignKey("products.id", ondelete="CASCADE"),
                                            primary_key=True)
    response_working_days: Mapped[int] = mapped_column(Integer)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime)


class DisclosureSnapshot(Base):
    """A product's public figures as counted at ``as_of`` (one row per product, replaced by each
    refresh): what ``GET /disclosure/{product_id}`` answers without counting a million policies
    per request. ``figures`` holds counts and sums only (see ``disclosure.figures``).
    ``refresh_claimed_at`` is the lease of the one request that counts again once the snapshot
    is too old, while the others keep answering with it."""

    __tablename__ = "disclosure_snapshots"

    product_id: Mapped[int] = mapped_column(ForeignKey("products.id", ondelete="CASCADE"),
                                            primary_key=True)
    as_of: Mapped[datetime] = mapped_column(UtcDateTime)
    figures: Mapped[dict[str, Any]] = mapped_column(JSON)
    counted_in_ms: Mapped[int] = mapped_column(Integer)
    refresh_claimed_at: Mapped[datetime | None] = mapped_column(UtcDateTime)


class DisclosureDayEnd(Base):
    """A product's public figures as at the end of China-time ``day`` (``as_of`` is 00:00
    Asia/Shanghai of the next day), stored once after the day has ended and never replaced:
    a past day's figures do not change (``disclosure.snapshots`` argues why). What
    ``GET /disclosure/{product_id}?as_of=<a day end>`` answers without counting."""

    __tablename__ = "disclosure_day_ends"

    product_id: Mapped[int] = mapped_column(ForeignKey("products.id", ondelete="CASCADE"),
                                            primary_key=True, autoincrement=False)
    day: Mapped[date] = mapped_column(Date, primary_key=True)
    as_of: Mapped[datetime] = mapped_column(UtcDateTime)
    figures: Mapped[dict[str, Any]] = mapped_column(JSON)
    counted_in_ms: Mapped[int] = mapped_column(Integer)
    stored_at: Mapped[datetime] = mapped_column(UtcDateTime)


class SatisfactionRating(Base):
    """The complainant's (or claimant's) one rating of how a closed complaint or claim was
    handled: 1-5 and an optional comment. One per complaint or claim; averaged in disclosure."""

    __tablename__ = "satisfaction_ratings"
    __table_args__ = (
        UniqueConstraint("subject_type", "subject_no", name="uq_satisfaction_ratings_subject"),
        CheckConstraint("subject_type IN ('complaint', 'claim')", name="subject_type_values"),
        CheckConstraint("score BETWEEN 1 AND 5", name="score_range"),
        Index("ix_satisfaction_ratings_product", "product_id", "subject_type"),
    )

    id: Mapped[int] = mapped_column(BigIntPk, primary_key=True)
    subject_type: Mapped[str] = mapped_column(String(16))
    subject_no: Mapped[str] = mapped_column(String(32))
    product_id: Mapped[int | None] = mapped_column(
        ForeignKey("products.id", ondelete="CASCADE"))
    score: Mapped[int] = mapped_column(Integer)
    comment: Mapped[str | None] = mapped_column(Text)
    rated_by_account_id: Mapped[int | None] = mapped_column(BigInteger)
    rated_at: Mapped[datetime] = mapped_column(UtcDateTime)
