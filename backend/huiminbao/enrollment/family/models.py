"""Family members an account holder buys for (spouse, children, parents)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import CheckConstraint, ForeignKey, Index, String, text
from sqlalchemy.orm import Mapped, mapped_column

from huiminbao.core.db import Base, BigIntPk, UtcDateTime


class FamilyMember(Base):
    """``member`` is ``owner``'s ``relation``: a member with relation ``parent`` is the owner's
    parent. Verified through the registry's family links, or by a code sent to the member's own
    registered phone; only a verified member can be paid for from the owner's account."""

    __tablename__ = "family_members"
    __table_args__ = (
        CheckConstraint("relation IN ('spouse', 'child', 'parent')", name="relation_values"),
        CheckConstraint("verification IN ('registry', 'sms', 'pending')",
                        name="verification_values"),
        CheckConstraint("owner_person_id <> member_person_id", name="not_self"),
        Index("uq_family_members_owner_member", "owner_person_id", "member_person_id",
              unique=True, postgresql_where=text("removed_at IS NULL"),
              sqlite_where=text("removed_at IS NULL")),
        Index("ix_family_members_member_person_id", "member_person_id"),
    )

    id: Mapped[int] = mapped_column(BigIntPk, primary_key=True)
    owner_person_id: Mapped[int] = mapped_column(ForeignKey("people.id"), index=True)
    member_person_id: Mapped[int] = mapped_column(ForeignKey("people.id"))
    relation: Mapped[str] = mapped_column(String(8))
    verification: Mapped[str] = mapped_column(String(8))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    verified_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    removed_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
