"""Claims, their bill items, payout lines, timeline and documents; hospitals' settlements; and
each product's 特药 and 合理 item lists."""

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

from huiminbao.core.db import Base, BigIntPk, UtcDateTime


class ProductItem(Base):
    """One entry of a product's 特药 list (``special_drug``) or 合理费用 list (``reasonable``).
    A code is on at most one list of a product."""

    __tablename__ = "product_item_lists"
    __table_args__ = (
        UniqueConstraint("product_id", "code", name="uq_product_item_lists_product_id_code"),
        CheckConstraint("kind IN ('special_drug', 'reasonable')", name="kind_values"),
    )

    id: Mapped[int] = mapped_column(BigIntPk, primary_key=True)
    product_id: Mapped[int] = mapped_column(ForeignKey("products.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(16))
    code: Mapped[str] = mapped_column(String(32))
    name: Mapped[str] = mapped_column(String(100))


class Claim(Base):
    __tablename__ = "claims"
    __table_args__ = (
        CheckConstraint(
            "status IN ('submitted', 'under_review', 'supplement_requested', 'approved', 'paid',"
            " 'rejected', 'settled', 'appealed')", name="status_values"),
        CheckConstraint("channel IN ('online', 'settlement')", name="channel_values"),
        CheckConstraint("in_policy_self_pay_fen >= 0", name="self_pay_non_negative"),
        CheckConstraint("payout_fen IS NULL OR payout_fen >= 0", name="payout_non_negative"),
        CheckConstraint("discharged_on >= admitted_on", name="stay_order"),
        Index("ix_claims_insured_person_id", "insured_person_id", "created_at"),
        Index("ix_claims_policy_id_status", "policy_id", "status"),
        Index("ix_claims_status_created_at", "status", "created_at"),
    )

    id: Mapped[int] = mapped_column(BigIntPk, primary_key=True)
    claim_no: Mapped[str] = mapped_column(String(32), unique=True)
    policy_id: Mapped[int] = mapped_column(ForeignKey("policies.id"))
    product_id: Mapped[int] = mapped_column(ForeignKey("products.id"))
    insured_person_id: Mapped[int] = mapped_column(ForeignKey("people.id"))
    tier_code: Mapped[str] = mapped_column(String(32))
    channel: Mapped[str] = mapped_column(String(16))
    status: Mapped[str] = mapped_column(String(24))
    hospital_name: Mapped[str] = mapped_column(String(100))
    admitted_on: Mapped[date] = mapped_column(Date)
    discharged_on: Mapped[date] = mapped_column(Date)
    in_policy_self_pay_fen: Mapped[int] = mapped_column(BigInteger)
    claimed_fen: Mapped[int] = mapped_column(BigInteger)  # self-pay plus every item
    payout_fen: Mapped[int | None] = mapped_column(BigInteger)  # set when approved or settled
    reject_reason: Mapped[str | None] = mapped_column(String(500))
    # Online claims: who submitted, and under which grant when acting for the insured.
    submitted_by_account_id: Mapped[int | None] = mapped_column(ForeignKey("user_accounts.id"))
    acted_for_grant_id: Mapped[int | None] = mapped_column(BigInteger)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    decided_at: Mapped[datetime | None] = mapped_column(UtcDateTime)  # approved/rejected/settled
    paid_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    # The claimant's one appeal of a rejection (revision 0024): the reason, when and by whom
    # (an agent: under which grant), the insurer whose staff made the rejection (the appeal's
    # decision must come from another), and when the appeal was decided.
    appeal_reason: Mapped[str | None] = mapped_column(String(500))
    appealed_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    appealed_by_account_id: Mapped[int | None] = mapped_column(BigInteger)
    appeal_grant_id: Mapped[int | None] = mapped_column(BigInteger)
    appeal_rejected_by_insurer: Mapped[str | None] = mapped_column(String(200))
    appeal_decided_at: Mapped[datetime | None] = mapped_column(UtcDateTime)

    items: Mapped[list[ClaimItem]] = relationship(
        back_populates="claim", order_by="ClaimItem.position", cascade="all, delete-orphan")
    lines: Mapped[list[ClaimPayoutLine]] = relationship(
        back_populates="claim", order_by="ClaimPayoutLine.position",
        cascade="all, delete-orphan")
    events: Mapped[list[ClaimEvent]] = relationship(
        back_populates="claim", order_by="ClaimEvent.id", cascade="all, delete-orphan")
    documents: Mapped[list[ClaimDocument]] = relationship(
        back_populates="claim", order_by="ClaimDocument.id", cascade="all, delete-orphan")


class ClaimItem(Base):
    """An out-of-policy item of the bill. ``category`` and ``reason`` are filled when the claim
    is computed: special_drug, reasonable, or NULL (not covered, with the reason)."""

    __tablename__ = "claim_items"
    __table_args__ = (
        CheckConstraint("amount_fen > 0", name="amount_positive"),
        CheckConstraint("category IS NULL OR category IN ('special_drug', 'reasonable')",
                        name="category_values"),
    )

    id: Mapped[int] = mapped_column(BigIntPk, primary_key=True)
    claim_id: Mapped[int] = mapped_column(ForeignKey("claims.id", ondelete="CASCADE"),
                                          index=True)
    position: Mapped[int] = mapped_column(Integer)
    code: Mapped[str] = mapped_column(String(32))
    name: Mapped[str] = mapped_column(String(100))
    amount_fen: Mapped[int] = mapped_column(BigInteger)
    category: Mapped[str | None] = mapped_column(String(16))
    reason: Mapped[str | None] = mapped_column(String(200))

    claim: Mapped[Claim] = relationship(back_populates="items")


class ClaimPayoutLine(Base):
    """One category of a computed claim: what was eligible, what the deductible took, the ratio,
    the cap left before this claim, and the payout. The year-to-date usage of a policy is the sum
    of its counted claims' lines."""

    __tablename__ = "claim_payout_lines"
    __table_args__ = (
        UniqueConstraint("claim_id", "category", name="uq_claim_payout_lines_claim_id_category"),
        CheckConstraint("category IN ('compliant', 'reasonable', 'special_drug')",
                        name="category_values"),
        CheckConstraint("eligible_fen >= 0 AND deductible_used_fen >= 0 AND payout_fen >= 0",
                        name="amounts_non_negative"),
        CheckConstraint("deductible_used_fen <= eligible_fen", name="deductible_within_eligible"),
        CheckConstraint("payout_fen <= eligible_fen", name="payout_within_eligible"),
        CheckConstraint("payout_fen <= cap_remaining_fen", name="payout_within_cap"),
    )

    id: Mapped[int] = mapped_column(BigIntPk, primary_key=True)
    claim_id: Mapped[int] = mapped_column(ForeignKey("claims.id", ondelete="CASCADE"),
                                          index=True)
    position: Mapped[int] = mapped_column(Integer)
    category: Mapped[str] = mapped_column(String(16))
    eligible_fen: Mapped[int] = mapped_column(BigInteger)
    deductible_fen: Mapped[int] = mapped_column(BigInteger)
    deductible_remaining_fen: Mapped[int] = mapped_column(BigInteger)
    deductible_used_fen: Mapped[int] = mapped_column(BigInteger)
    ratio_bp: Mapped[int] = mapped_column(Integer)
    cap_fen: Mapped[int] = mapped_column(BigInteger)
    cap_remaining_fen: Mapped[int] = mapped_column(BigInteger)
    computed_fen: Mapped[int] = mapped_column(BigInteger)
    payout_fen: Mapped[int] = mapped_column(BigInteger)

    claim: Mapped[Claim] = relationship(back_populates="lines")


class ClaimEvent(Base):
    """The timeline: each status change with who made it, when, and the message to the
    claimant. Append-only."""

    __tablename__ = "claim_events"

    id: Mapped[int] = mapped_column(BigIntPk, primary_key=True)
    claim_id: Mapped[int] = mapped_column(ForeignKey("claims.id", ondelete="CASCADE"),
                                          index=True)
    from_status: Mapped[str | None] = mapped_column(String(24))
    to_status: Mapped[str] = mapped_column(String(24))
    actor_account_id: Mapped[int | None] = mapped_column(BigInteger)
    actor_role: Mapped[str | None] = mapped_column(String(16))
    actor_client: Mapped[str | None] = mapped_column(String(64))  # a hospital's client id
    grant_id: Mapped[int | None] = mapped_column(BigInteger)
    message: Mapped[str] = mapped_column(Text)
    occurred_at: Mapped[datetime] = mapped_column(UtcDateTime)

    claim: Mapped[Claim] = relationship(back_populates="events")


class ClaimDocument(Base):
    __tablename__ = "claim_documents"
    __table_args__ = (
        CheckConstraint("content_type IN ('application/pdf', 'image/jpeg', 'image/png')",
                        name="content_type_values"),
        CheckConstraint("size_bytes > 0", name="size_positive"),
    )

    id: Mapped[int] = mapped_column(BigIntPk, primary_key=True)
    claim_id: Mapped[int] = mapped_column(ForeignKey("claims.id", ondelete="CASCADE"),
                                          index=True)
    storage_key: Mapped[str] = mapped_column(String(200), unique=True)
    filename: Mapped[str] = mapped_column(String(100))
    content_type: Mapped[str] = mapped_column(String(32))
    size_bytes: Mapped[int] = mapped_column(Integer)
    sha256: Mapped[str] = mapped_column(String(64))
    uploaded_by_account_id: Mapped[int | None] = mapped_column(BigInteger)
    uploaded_at: Mapped[datetime] = mapped_column(UtcDateTime)

    claim: Mapped[Claim] = relationship(back_populates="documents")


class Settlement(Base):
    """A hospital's one-stop settlement as received: one per hospital and settlement number.
    The first answer is kept and returned to every repeat. The patient's ID number is kept
    only masked and as a keyed hash (the person, when known, by id)."""

    __tablename__ = "settlements"
    __table_args__ = (
        UniqueConstraint("client_id", "settlement_no",
                         name="uq_settlements_client_id_settlement_no"),
        CheckConstraint("outcome IN ('settled', 'no_policy', 'outside_coverage')",
                        name="outcome_values"),
    )

    id: Mapped[int] = mapped_column(BigIntPk, primary_key=True)
    client_id: Mapped[int] = mapped_column(ForeignKey("service_clients.id"))
    settlement_no: Mapped[str] = mapped_column(String(64))
    request_hash: Mapped[str] = mapped_column(String(64))
    person_id: Mapped[int | None] = mapped_column(ForeignKey("people.id"), index=True)
    id_number_masked: Mapped[str] = mapped_column(String(18))
    id_number_hash: Mapped[str] = mapped_column(String(64))
    admitted_on: Mapped[date] = mapped_column(Date)
    discharged_on: Mapped[date] = mapped_column(Date)
    claimed_fen: Mapped[int] = mapped_column(BigInteger)
    outcome: Mapped[str] = mapped_column(String(20))
    reason: Mapped[str | None] = mapped_column(String(200))
    claim_id: Mapped[int | None] = mapped_column(ForeignKey("claims.id"), unique=True)
    response_status: Mapped[int] = mapped_column(Integer)
    response_body: Mapped[Any] = mapped_column(JSON)
    received_at: Mapped[datetime] = mapped_column(UtcDateTime)


class ClaimCoDecision(Base):
    """A contested claim's first approval (002 三(一): the co-insurers decide contested claims
    jointly): the claim stays under review until staff of a different insurer approves too.
    One row per claim; removed when a supplement is requested (the claim is then reviewed
    afresh, by two insurers again). The audit log keeps every approval."""

    __tablename__ = "claim_co_decisions"

    claim_id: Mapped[int] = mapped_column(ForeignKey("claims.id", ondelete="CASCADE"),
                                          primary_key=True)
    account_id: Mapped[int] = mapped_column(BigInteger)
    insurer: Mapped[str] = mapped_column(String(200))
    payout_fen: Mapped[int] = mapped_column(BigInteger)
    decided_at: Mapped[datetime] = mapped_column(UtcDateTime)
