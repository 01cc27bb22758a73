"""Tables of the built-in registry simulator (the basic-insurance platform's side of the world).

Only the simulator touches these tables; the rest of the product sees the registry through
``RegistryPort``. Enums are stored as their short string values and guarded by CHECK constraints;
money is integer fen in BIGINT columns that CHECK constraints keep from going negative.
"""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Date,
    ForeignKey,
    Index,
    String,
    UniqueConstraint,
    false,
)
from sqlalchemy.orm import Mapped, mapped_column

from huiminbao.core.crypto import INDEX_LENGTH, EncryptedString, index_of
from huiminbao.core.db import Base, BigIntPk, UtcDateTime, one_of
from huiminbao.registry.port import (
    Assistance,
    BalanceKind,
    FailureReason,
    OperationKind,
    OperationStatus,
    PersonStatus,
    Relation,
    Scheme,
)

ID_NUMBER_LENGTH = 18
NAME_MAX_LENGTH = 64
REQUEST_NO_MAX_LENGTH = 64
PURPOSE_MAX_LENGTH = 200


class EntryKind(StrEnum):
    """Kinds of ledger entry: the two port operations plus deposits (opening balances, top-ups)."""

    DEBIT = "debit"
    REFUND = "refund"
    DEPOSIT = "deposit"


class RegistryPersonRow(Base):
    __tablename__ = "registry_persons"
    __table_args__ = (
        CheckConstraint(one_of("scheme", Scheme), name="scheme_allowed"),
        CheckConstraint(one_of("status", PersonStatus), name="status_allowed"),
        CheckConstraint(one_of("assistance", Assistance), name="assistance_allowed"),
    )

    id: Mapped[int] = mapped_column(BigIntPk, primary_key=True)
    # ID number and phone are encrypted at rest (core/crypto.py): the simulator shares the
    # product's database in demo mode. Looked up by the ID number's blind index.
    id_number: Mapped[str] = mapped_column(EncryptedString())
    id_number_index: Mapped[str] = mapped_column(String(INDEX_LENGTH), unique=True,
                                                 default=index_of("id_number"))
    name: Mapped[str] = mapped_column(String(NAME_MAX_LENGTH))  # NFC
    phone: Mapped[str | None] = mapped_column(EncryptedString())
    city_code: Mapped[str] = mapped_column(String(6))
    scheme: Mapped[str] = mapped_column(String(16))
    status: Mapped[str] = mapped_column(String(16))
    assistance: Mapped[str] = mapped_column(String(16))
    district_code: Mapped[str | None] = mapped_column(String(6))
    other_relief_insurance: Mapped[bool] = mapped_column(Boolean, default=False,
                                                         server_default=false())
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime())


class RegistryDiagnosisRow(Base):
    """A diagnosis (ICD-10) in the person's settlement records, with the day it was first
    recorded: what the product's pre-existing-condition terms ask about. The code is health
    data and is encrypted at rest."""

    __tablename__ = "registry_diagnoses"

    id: Mapped[int] = mapped_column(BigIntPk, primary_key=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("registry_persons.id"), index=True)
    code: Mapped[str] = mapped_column(EncryptedString())
    diagnosed_on: Mapped[date] = mapped_column(Date)


class RegistryAccountRow(Base):
    """A personal account (个人账户); the row that every money operation locks first."""

    __tablename__ = "registry_accounts"
    __table_args__ = (
        CheckConstraint("prior_years_fen >= 0", name="prior_years_fen_non_negative"),
        CheckConstraint("current_year_fen >= 0", name="current_year_fen_non_negative"),
    )

    id: Mapped[int] = mapped_column(BigIntPk, primary_key=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("registry_persons.id"), unique=True)
    prior_years_fen: Mapped[int] = mapped_column(BigInteger)
    current_year_fen: Mapped[int] = mapped_column(BigInteger)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime())


class RegistryAccountEntryRow(Base):
    """Append-only: one movement of one balance. Per account and balance kind, the entries sum to
    the balance (opening balances are deposits)."""

    __tablename__ = "registry_account_entries"
    __table_args__ = (
        CheckConstraint(one_of("kind", EntryKind), name="kind_allowed"),
        CheckConstraint(one_of("balance_kind", BalanceKind), name="balance_kind_allowed"),
        CheckConstraint("amount_fen <> 0", name="amount_fen_non_zero"),
        CheckConstraint("balance_after_fen >= 0", name="balance_after_fen_non_negative"),
        # Debits take money out, refunds and deposits put it in.
        CheckConstraint(
            "(kind = 'debit' AND amount_fen < 0) OR (kind <> 'debit' AND amount_fen > 0)",
            name="amount_fen_sign",
        ),
        # Newest-first history of one account.
        Index("ix_registry_account_entries_account_id_id", "account_id", "id"),
    )

    id: Mapped[int] = mapped_column(BigIntPk, primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("registry_accounts.id"))
    request_no: Mapped[str] = mapped_column(String(REQUEST_NO_MAX_LENGTH), index=True)
    kind: Mapped[str] = mapped_column(String(16))
    balance_kind: Mapped[str] = mapped_column(String(16))
    amount_fen: Mapped[int] = mapped_column(BigInteger)  # negative for a debit
    balance_after_fen: Mapped[int] = mapped_column(BigInteger)
    purpose: Mapped[str] = mapped_column(String(PURPOSE_MAX_LENGTH))
    occurred_at: Mapped[datetime] = mapped_column(UtcDateTime())


class RegistryRelationRow(Base):
    """``relative`` is ``person``'s spouse, child or parent; the inverse link is stored too."""

    __tablename__ = "registry_relations"
    __table_args__ = (
        UniqueConstraint("person_id", "relative_id"),
        CheckConstraint(one_of("relation", Relation), name="relation_allowed"),
        CheckConstraint("person_id <> relative_id", name="not_self"),
    )

    id: Mapped[int] = mapped_column(BigIntPk, primary_key=True)
    # Lookups by person use the unique constraint's index (person_id leads).
    person_id: Mapped[int] = mapped_column(ForeignKey("registry_persons.id"))
    relative_id: Mapped[int] = mapped_column(ForeignKey("registry_persons.id"), index=True)
    relation: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())


class RegistryOperationRow(Base):
    """One debit or refund request as it arrived, with its outcome; the request number is the
    idempotency key, so a replay answers from this row and moves no money."""

    __tablename__ = "registry_operations"
    __table_args__ = (
        CheckConstraint(one_of("kind", OperationKind), name="kind_allowed"),
        CheckConstraint(one_of("status", OperationStatus), name="status_allowed"),
        CheckConstraint(
            f"failure_reason IS NULL OR {one_of('failure_reason', FailureReason)}",
            name="failure_reason_allowed",
        ),
        CheckConstraint("amount_fen > 0", name="amount_fen_positive"),
        CheckConstraint("prior_years_fen >= 0", name="prior_years_fen_non_negative"),
        CheckConstraint("current_year_fen >= 0", name="current_year_fen_non_negative"),
        # A success moved exactly the amount and has no reason; a failure moved nothing.
        CheckConstraint(
            "(status = 'succeeded' AND failure_reason IS NULL"
            " AND prior_years_fen + current_year_fen = amount_fen)"
            " OR (status = 'failed' AND failure_reason IS NOT NULL"
            " AND prior_years_fen = 0 AND current_year_fen = 0)",
            name="outcome_consistent",
        ),
        CheckConstraint(
            "(kind = 'refund') = (original_request_no IS NOT NULL)", name="original_for_refund"
        ),
    )

    id: Mapped[int] = mapped_column(BigIntPk, primary_key=True)
    request_no: Mapped[str] = mapped_column(String(REQUEST_NO_MAX_LENGTH), unique=True)
    kind: Mapped[str] = mapped_column(String(16))
    # NULL only for a refund whose original is unknown (no person to name).
    id_number: Mapped[str | None] = mapped_column(EncryptedString())
    id_number_index: Mapped[str | None] = mapped_column(String(INDEX_LENGTH), index=True,
                                                        default=index_of("id_number"))
    account_id: Mapped[int | None] = mapped_column(ForeignKey("registry_accounts.id"), index=True)
    amount_fen: Mapped[int] = mapped_column(BigInteger)
    # Balance kinds the caller allowed, in order, comma-separated (debits; empty for refunds).
    sources: Mapped[str] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(16))
    failure_reason: Mapped[str | None] = mapped_column(String(32))
    original_request_no: Mapped[str | None] = mapped_column(
        String(REQUEST_NO_MAX_LENGTH), index=True
    )
    # What each balance gave (debit) or got back (refund).
    prior_years_fen: Mapped[int] = mapped_column(BigInteger)
    current_year_fen: Mapped[int] = mapped_column(BigInteger)
    purpose: Mapped[str] = mapped_column(String(PURPOSE_MAX_LENGTH))
    occurred_at: Mapped[datetime] = mapped_column(UtcDateTime())
