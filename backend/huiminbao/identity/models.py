"""People known to this product, user accounts, one-time codes, sessions, SMS outbox, clients."""

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
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship
from sqlalchemy.sql import ColumnElement

from huiminbao.core.crypto import (
    INDEX_LENGTH,
    EncryptedString,
    EncryptedText,
    blind_index,
    index_of,
)
from huiminbao.core.db import Base, BigIntPk, UtcDateTime


class Person(Base):
    """A real person (by ID number) that this product has dealt with: a bound account holder,
    a family member, an insured person. ``id`` is the person id of ``X-Acting-For``."""

    __tablename__ = "people"

    id: Mapped[int] = mapped_column(BigIntPk, primary_key=True)
    # Encrypted at rest (core/crypto.py); looked up by its blind index.
    id_number: Mapped[str] = mapped_column(EncryptedString())
    id_number_index: Mapped[str] = mapped_column(String(INDEX_LENGTH), unique=True,
                                                 default=index_of("id_number"))
    name: Mapped[str] = mapped_column(String(64))  # NFC, as the registry has it
    birth_date: Mapped[date] = mapped_column(Date)
    sex: Mapped[str] = mapped_column(String(8))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)

    @classmethod
    def id_number_is(cls, id_number: str) -> ColumnElement[bool]:
        """Where this is the person with ``id_number`` (normalized), by its blind index."""
        return cls.id_number_index == blind_index(id_number)


class UserAccount(Base):
    __tablename__ = "user_accounts"
    __table_args__ = (
        CheckConstraint(
            "role IN ('resident', 'counter_staff', 'insurer_staff', 'admin')", name="role_values"
        ),
    )

    id: Mapped[int] = mapped_column(BigIntPk, primary_key=True)
    # Encrypted at rest (core/crypto.py); looked up by its blind index.
    phone: Mapped[str] = mapped_column(EncryptedString())
    phone_index: Mapped[str] = mapped_column(String(INDEX_LENGTH), unique=True,
                                             default=index_of("phone"))
    role: Mapped[str] = mapped_column(String(16), default="resident")
    display_name: Mapped[str | None] = mapped_column(String(64))  # staff only
    # One person is bound to at most one account (unique); NULL until real-name binding.
    person_id: Mapped[int | None] = mapped_column(ForeignKey("people.id"), unique=True)
    bound_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    # How the binding was proven (domain.BindingVerification); NULL: name and ID number only,
    # which lets the account browse and pay online for itself but not see or spend the
    # personal account. ``binding_verified_by_staff_id``: the counter staff account (no foreign
    # key: added in place, as SQLite adds columns; the audit log names the staff member too).
    binding_verified_by: Mapped[str | None] = mapped_column(String(16))
    binding_verified_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    binding_verified_by_staff_id: Mapped[int | None] = mapped_column(BigInteger)
    wechat_openid: Mapped[str | None] = mapped_column(String(64), unique=True)
    elderly_mode: Mapped[bool] = mapped_column(default=False)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    last_login_at: Mapped[datetime | None] = mapped_column(UtcDateTime)

    person: Mapped[Person | None] = relationship(lazy="joined")

    @classmethod
    def phone_is(cls, phone: str) -> ColumnElement[bool]:
        """Where this is the account of ``phone``, by its blind index."""
        return cls.phone_index == blind_index(phone)


class OtpChallenge(Base):
    """A one-time code, stored only as a keyed hash; a newer code for the same phone and purpose
    voids the older one."""

    __tablename__ = "otp_challenges"
    __table_args__ = (
        Index("ix_otp_challenges_phone_purpose", "phone_index", "purpose", "created_at"),
    )

    id: Mapped[int] = mapped_column(BigIntPk, primary_key=True)
    phone: Mapped[str] = mapped_column(EncryptedString())
    phone_index: Mapped[str] = mapped_column(String(INDEX_LENGTH), default=index_of("phone"))
    purpose: Mapped[str] = mapped_column(String(24))
    code_hash: Mapped[str] = mapped_column(String(64))
    # What the code confirms (a debit's owner, amount and insured, hashed): a code sent for one
    # debit does not confirm another. NULL for codes that confirm nothing in particular.
    context: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    expires_at: Mapped[datetime] = mapped_column(UtcDateTime)
    wrong_attempts: Mapped[int] = mapped_column(Integer, default=0)
    consumed_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    voided_at: Mapped[datetime | None] = mapped_column(UtcDateTime)

    @classmethod
    def phone_is(cls, phone: str) -> ColumnElement[bool]:
        return cls.phone_index == blind_index(phone)


class AuthSession(Base):
    """One sign-in: the web cookie and the bearer tokens issued at that login share it, so
    ending it (logout, revocation) ends both."""

    __tablename__ = "auth_sessions"

    id: Mapped[int] = mapped_column(BigIntPk, primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("user_accounts.id"), index=True)
    cookie_token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    csrf_token: Mapped[str] = mapped_column(String(64))
    method: Mapped[str] = mapped_column(String(16))  # sms | wechat
    authenticated_at: Mapped[datetime] = mapped_column(UtcDateTime)
    expires_at: Mapped[datetime] = mapped_column(UtcDateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(UtcDateTime)

    account: Mapped[UserAccount] = relationship(lazy="joined")


class RevokedToken(Base):
    """Bearer tokens revoked one by one before they expire (the server-side revocation list)."""

    __tablename__ = "revoked_tokens"

    jti: Mapped[str] = mapped_column(String(64), primary_key=True)
    expires_at: Mapped[datetime] = mapped_column(UtcDateTime, index=True)


class SmsMessage(Base):
    """Every SMS the product sends: a durable outbox row written in the transaction of the event
    that causes it, then delivered by ``huiminbao worker`` (identity/sms_worker.py) or, for a
    one-time code, by the request itself. The development outbox reads ``text`` in demo mode.

    ``status`` follows ``sms_domain.TRANSITIONS``; ``attempts`` counts claimed tries and is the
    fencing token of the current lease (a worker marks only the attempt it claimed).

    A one-time code's ``text`` and ``params`` are blanked (``sms_domain.redacted_code_text``) once
    the row is sent or given up, except in demo mode, whose development outbox reads codes."""

    __tablename__ = "sms_outbox"
    __table_args__ = (
        Index("ix_sms_outbox_phone_created_at", "phone_index", "created_at"),
        Index("ix_sms_outbox_status_next_attempt_at", "status", "next_attempt_at"),
        CheckConstraint(
            "status IN ('queued', 'sending', 'sent', 'failed', 'given_up')",
            name="status_values"),
        CheckConstraint("attempts >= 0", name="attempts_not_negative"),
    )

    id: Mapped[int] = mapped_column(BigIntPk, primary_key=True)
    phone: Mapped[str] = mapped_column(EncryptedString())
    phone_index: Mapped[str] = mapped_column(String(INDEX_LENGTH), default=index_of("phone"))
    # Rendered, with the signature: what the resident reads (encrypted: it may name people).
    text: Mapped[str] = mapped_column(EncryptedText())
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    template: Mapped[str | None] = mapped_column(String(40))  # None: written before 0016
    params: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    status: Mapped[str] = mapped_column(String(16), default="queued")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    lease_until: Mapped[datetime | None] = mapped_column(UtcDateTime)
    last_error: Mapped[str | None] = mapped_column(String(500))
    provider_message_id: Mapped[str | None] = mapped_column(String(128))
    sent_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    updated_at: Mapped[datetime | None] = mapped_column(UtcDateTime)

    @classmethod
    def phone_is(cls, phone: str) -> ColumnElement[bool]:
        return cls.phone_index == blind_index(phone)


class ServiceClient(Base):
    """A machine client of the settlement feed (signed requests, ``claims/signing.py``).

    ``kind`` 'hospital' is every medical institution on the feed; a designated pharmacy is such a
    client with its ``pharmacy_code`` (the code the products' pharmacy lists use): it settles
    special-drug purchases only. The kind CHECK predates pharmacies, and SQLite cannot change a
    CHECK in place on a table others refer to, so the pharmacy is told by its code."""

    __tablename__ = "service_clients"
    __table_args__ = (
        CheckConstraint("kind IN ('hospital', 'gateway')", name="kind_values"),
    )

    id: Mapped[int] = mapped_column(BigIntPk, primary_key=True)
    client_id: Mapped[str] = mapped_column(String(64), unique=True)
    secret_hash: Mapped[str] = mapped_column(String(64))
    kind: Mapped[str] = mapped_column(String(16))
    name: Mapped[str] = mapped_column(String(100))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    disabled_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    pharmacy_code: Mapped[str | None] = mapped_column(String(32))


class AgreementAcceptance(Base):
    """An account's acceptance of one version of the user agreement or the privacy policy, shown
    at login (``identity/agreements.py``). One row per version: agreeing again records nothing."""

    __tablename__ = "agreement_acceptances"
    __table_args__ = (
        UniqueConstraint("account_id", "document", "version", name="uq_agreement_acceptances"),
    )

    id: Mapped[int] = mapped_column(BigIntPk, primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("user_accounts.id", ondelete="CASCADE"))
    document: Mapped[str] = mapped_column(String(24))
    version: Mapped[str] = mapped_column(String(20))
    accepted_at: Mapped[datetime] = mapped_column(UtcDateTime)
