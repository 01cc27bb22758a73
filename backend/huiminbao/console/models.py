"""Employers and their upload batches, subsidy roster imports, and counter enrollments.

Row reports keep personal data masked only (``3****************X``, ``张*三``); the person is
linked by id.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    ForeignKey,
    Index,
    Integer,
    String,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from huiminbao.core.db import Base, BigIntPk, UtcDateTime


class Employer(Base):
    """An employer that buys for its staff; its ledger account is ``employer:<code>``."""

    __tablename__ = "employers"

    id: Mapped[int] = mapped_column(BigIntPk, primary_key=True)
    code: Mapped[str] = mapped_column(String(32), unique=True)
    name: Mapped[str] = mapped_column(String(100))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)


class EmployerBatch(Base):
    """One uploaded file of one employer for one product. The same file (by SHA-256) is
    processed once: uploading it again answers with this batch's report."""

    __tablename__ = "employer_batches"
    __table_args__ = (
        UniqueConstraint("employer_id", "product_id", "file_sha256",
                         name="uq_employer_batches_employer_product_file"),
        CheckConstraint("status IN ('processing', 'done')", name="status_values"),
    )

    id: Mapped[int] = mapped_column(BigIntPk, primary_key=True)
    batch_no: Mapped[str] = mapped_column(String(24), unique=True)
    employer_id: Mapped[int] = mapped_column(ForeignKey("employers.id"))
    product_id: Mapped[int] = mapped_column(ForeignKey("products.id"))
    file_sha256: Mapped[str] = mapped_column(String(64))
    filename: Mapped[str] = mapped_column(String(200))
    uploaded_by_account_id: Mapped[int] = mapped_column(ForeignKey("user_accounts.id"))
    status: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    finished_at: Mapped[datetime | None] = mapped_column(UtcDateTime)

    rows: Mapped[list[EmployerBatchRow]] = relationship(
        back_populates="batch", order_by="EmployerBatchRow.line", cascade="all, delete-orphan")


class EmployerBatchRow(Base):
    __tablename__ = "employer_batch_rows"
    __table_args__ = (
        UniqueConstraint("batch_id", "line", name="uq_employer_batch_rows_batch_id_line"),
        CheckConstraint("outcome IN ('pending', 'enrolled', 'already', 'failed')",
                        name="outcome_values"),
    )

    id: Mapped[int] = mapped_column(BigIntPk, primary_key=True)
    batch_id: Mapped[int] = mapped_column(
        ForeignKey("employer_batches.id", ondelete="CASCADE"), index=True)
    line: Mapped[int] = mapped_column(Integer)
    id_number_masked: Mapped[str] = mapped_column(String(18))
    name_masked: Mapped[str] = mapped_column(String(64))
    tier_code: Mapped[str] = mapped_column(String(32))
    person_id: Mapped[int | None] = mapped_column(ForeignKey("people.id"))
    outcome: Mapped[str] = mapped_column(String(16))
    reason: Mapped[str | None] = mapped_column(String(200))
    order_no: Mapped[str | None] = mapped_column(String(32))
    policy_no: Mapped[str | None] = mapped_column(String(32))

    batch: Mapped[EmployerBatch] = relationship(back_populates="rows")


class SubsidyRosterImport(Base):
    """One import of the year's assistance-categories list (特困, 低保, 低边, 残疾人员) for a
    product, and the enrollment of the persons on it with the subsidy fund."""

    __tablename__ = "subsidy_roster_imports"
    __table_args__ = (
        CheckConstraint("status IN ('processing', 'done')", name="status_values"),
    )

    id: Mapped[int] = mapped_column(BigIntPk, primary_key=True)
    import_no: Mapped[str] = mapped_column(String(24), unique=True)
    product_id: Mapped[int] = mapped_column(ForeignKey("products.id"))
    city_code: Mapped[str] = mapped_column(String(6))
    year: Mapped[int] = mapped_column(Integer)
    file_sha256: Mapped[str] = mapped_column(String(64))
    filename: Mapped[str] = mapped_column(String(200))
    uploaded_by_account_id: Mapped[int] = mapped_column(ForeignKey("user_accounts.id"))
    status: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    finished_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    # A donor's list (002 三(三)): every person on it is paid for by this charity / donor (its
    # code among the city's ``subsidy_payers``).
    donor_code: Mapped[str | None] = mapped_column(String(32))

    rows: Mapped[list[SubsidyRosterRow]] = relationship(
        back_populates="roster_import", order_by="SubsidyRosterRow.line",
        cascade="all, delete-orphan")


class SubsidyRosterRow(Base):
    """A line of a roster file: the person on the list for the year, and what became of it."""

    __tablename__ = "subsidy_roster_rows"
    __table_args__ = (
        UniqueConstraint("import_id", "line", name="uq_subsidy_roster_rows_import_id_line"),
        CheckConstraint("outcome IN ('pending', 'enrolled', 'skipped', 'failed')",
                        name="outcome_values"),
        CheckConstraint(
            "category IS NULL OR category IN ('tekun', 'dibao', 'dibian', 'disabled')",
            name="category_values"),
        Index("ix_subsidy_roster_rows_person_id", "person_id"),
    )

    id: Mapped[int] = mapped_column(BigIntPk, primary_key=True)
    import_id: Mapped[int] = mapped_column(
        ForeignKey("subsidy_roster_imports.id", ondelete="CASCADE"), index=True)
    line: Mapped[int] = mapped_column(Integer)
    id_number_masked: Mapped[str] = mapped_column(String(18))
    name_masked: Mapped[str] = mapped_column(String(64))
    category: Mapped[str | None] = mapped_column(String(16))
    person_id: Mapped[int | None] = mapped_column(ForeignKey("people.id"))
    outcome: Mapped[str] = mapped_column(String(16))
    reason: Mapped[str | None] = mapped_column(String(200))
    order_no: Mapped[str | None] = mapped_column(String(32))
    policy_no: Mapped[str | None] = mapped_column(String(32))
    payer_code: Mapped[str | None] = mapped_column(String(32))  # who pays (None: by the rule)
    subsidy_fen: Mapped[int | None] = mapped_column(BigInteger)  # paid by the payer, enrolled

    roster_import: Mapped[SubsidyRosterImport] = relationship(back_populates="rows")


class CounterEnrollment(Base):
    """An enrollment done at a service counter for a walk-in resident: which staff member, what
    evidence (identity document seen, cash receipt number)."""

    __tablename__ = "counter_enrollments"

    id: Mapped[int] = mapped_column(BigIntPk, primary_key=True)
    order_no: Mapped[str] = mapped_column(String(32), unique=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("people.id"), index=True)
    staff_account_id: Mapped[int] = mapped_column(ForeignKey("user_accounts.id"), index=True)
    city_code: Mapped[str] = mapped_column(String(6))
    payment_method: Mapped[str] = mapped_column(String(20))
    id_document_checked: Mapped[bool] = mapped_column(Boolean)
    receipt_no: Mapped[str | None] = mapped_column(String(40))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
