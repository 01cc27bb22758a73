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

from huiminbao.core.crypto import EncryptedString
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
    # 特药 only: the listed indications (适应症) and the designated pharmacies, one a line.
    indications: Mapped[str] = mapped_column(Text, default="", server_default="")
    pharmacies: Mapped[str] = mapped_column(Text, default="", server_default="")

    @property
    def indication_list(self) -> list[str]:
        return [line for line in self.indications.split("\n") if line.strip()]

    @property
    def pharmacy_list(self) -> list[str]:
        return [line for line in self.pharmacies.split("\n") if line.strip()]


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
    # The claim's kind (claims/kinds.py) and its kind-specific facts.
    kind: Mapped[str] = mapped_column(String(24), default="inpatient",
                                      server_default="inpatient")
    diagnosis_code: Mapped[str | None] = mapped_column(String(16))
    prescription_no: Mapped[str | None] = mapped_column(String(64))
    pharmacy_code: Mapped[str | None] = mapped_column(String(32))
    treatment_city_code: Mapped[str | None] = mapped_column(String(6))
    # The clock (保险法 §22-23): material complete (submission, or the supplement's arrival),
    # the promised decision day, the promised payment day (set at approval), and how many
    # times documents were asked for.
    material_complete_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    decide_by: Mapped[date | None] = mapped_column(Date)
    pay_by: Mapped[date | None] = mapped_column(Date)
    supplement_requests: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    # ICD-10 codes of what was treated, comma-separated (the terms' pre-existing conditions
    # compare them with the registry's earlier diagnoses of the insured).
    diagnosis_codes: Mapped[str | None] = mapped_column(EncryptedString())
    # The claimant's one appeal of a rejection (revision 0026): the reason, when and by whom
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
    # Which rule paid the line (standard, pre_existing, not_covered, waiting), its note, and
    # the band segments [[amount_fen, ratio_bp, paid_fen], ...] (null: one at ratio_bp).
    basis: Mapped[str] = mapped_column(String(16), default="standard",
                                       server_default="standard")
    note: Mapped[str | None] = mapped_column(String(200))
    segments: Mapped[list[list[int]] | None] = mapped_column(JSON)

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


class SettlementStatement(Base):
    """A periodic statement clearing what the platform owes one settlement-feed client (a
    hospital or a designated pharmacy) for the one-stop payouts it deducted at its counter: the
    settlements it sent in ``period_from``..``period_to`` (China dates, inclusive). Periods of one
    client never overlap; the statement's ledger transaction (``ledger_reference``, none for a
    total of 0) moves the total from ``settlement_payable`` to ``settlement_paid``, once."""

    __tablename__ = "settlement_statements"
    __table_args__ = (
        CheckConstraint("period_to >= period_from", name="period_order"),
        CheckConstraint("total_fen >= 0", name="total_non_negative"),
    )

    id: Mapped[int] = mapped_column(BigIntPk, primary_key=True)
    statement_no: Mapped[str] = mapped_column(String(32), unique=True)
    client_id: Mapped[int] = mapped_column(ForeignKey("service_clients.id"), index=True)
    period_from: Mapped[date] = mapped_column(Date)
    period_to: Mapped[date] = mapped_column(Date)
    settlement_count: Mapped[int] = mapped_column(Integer)
    total_fen: Mapped[int] = mapped_column(BigInteger)
    ledger_reference: Mapped[str | None] = mapped_column(String(48))
    cleared_at: Mapped[datetime] = mapped_column(UtcDateTime)
    cleared_by_account_id: Mapped[int | None] = mapped_column(BigInteger)


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


class ProductClaimKind(Base):
    """A claim kind a product offers (claims/kinds.py), its documents and promises. A product
    without rows offers ``kinds.DEFAULT_KIND_RULES``."""

    __tablename__ = "product_claim_kinds"
    __table_args__ = (
        UniqueConstraint("product_id", "kind", name="uq_product_claim_kinds_product_id_kind"),
        CheckConstraint("decide_within_working_days BETWEEN 1 AND 20", name="decide_within_law"),
        CheckConstraint("pay_within_days BETWEEN 1 AND 10", name="pay_within_law"),
    )

    id: Mapped[int] = mapped_column(BigIntPk, primary_key=True)
    product_id: Mapped[int] = mapped_column(ForeignKey("products.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(24))
    position: Mapped[int] = mapped_column(Integer, default=0)
    documents: Mapped[Any] = mapped_column(JSON)  # list of document names
    decide_within_working_days: Mapped[int] = mapped_column(Integer)
    pay_within_days: Mapped[int] = mapped_column(Integer)


class ProductPharmacy(Base):
    """A product's designated pharmacy for special drugs (特药定点药店)."""

    __tablename__ = "product_pharmacies"
    __table_args__ = (
        UniqueConstraint("product_id", "code", name="uq_product_pharmacies_product_id_code"),
    )

    id: Mapped[int] = mapped_column(BigIntPk, primary_key=True)
    product_id: Mapped[int] = mapped_column(ForeignKey("products.id", ondelete="CASCADE"))
    code: Mapped[str] = mapped_column(String(32))
    name: Mapped[str] = mapped_column(String(100))
    address: Mapped[str] = mapped_column(String(200), default="", server_default="")


class ProductDrugIndication(Base):
    """One listed indication of a special drug: an ICD-10 code prefix (e.g. ``C34`` for lung
    cancer). A drug without rows is paid for any diagnosis."""

    __tablename__ = "product_drug_indications"
    __table_args__ = (
        UniqueConstraint("product_id", "drug_code", "icd_prefix",
                         name="uq_product_drug_indications_product_id_drug_code_icd_prefix"),
    )

    id: Mapped[int] = mapped_column(BigIntPk, primary_key=True)
    product_id: Mapped[int] = mapped_column(ForeignKey("products.id", ondelete="CASCADE"))
    drug_code: Mapped[str] = mapped_column(String(32))
    icd_prefix: Mapped[str] = mapped_column(String(16))
    label: Mapped[str] = mapped_column(String(100))


class ClaimPayee(Base):
    """Who receives a claim's money and where: the insured (``self``), a minor's guardian, or a
    deceased insured's heir - never the agent who filed it. The holder's name and ID number and
    the card number are encrypted at rest; the bank-card verification port checked that the
    card is the holder's."""

    __tablename__ = "claim_payees"
    __table_args__ = (
        CheckConstraint("kind IN ('self', 'guardian', 'heir')", name="kind_values"),
    )

    claim_id: Mapped[int] = mapped_column(ForeignKey("claims.id", ondelete="CASCADE"),
                                          primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))
    holder_name: Mapped[str] = mapped_column(EncryptedString())
    holder_id_number: Mapped[str] = mapped_column(EncryptedString())
    relation: Mapped[str | None] = mapped_column(String(16))
    card_no: Mapped[str] = mapped_column(EncryptedString())
    card_last4: Mapped[str] = mapped_column(String(4))
    bank_name: Mapped[str] = mapped_column(String(40))
    check_reference: Mapped[str] = mapped_column(String(64))
    verified_at: Mapped[datetime] = mapped_column(UtcDateTime)


class ClaimPayout(Base):
    """The payment of an approved claim to its payee (claims/payouts.py): one row per claim,
    its status (``PAYOUT_TRANSITIONS``), the request number of the current attempt (the payout
    service pays one request number at most once), and the attempts made."""

    __tablename__ = "claim_payouts"
    __table_args__ = (
        CheckConstraint("status IN ('sending', 'paid', 'failed')", name="status_values"),
        CheckConstraint("amount_fen > 0", name="amount_positive"),
        Index("ix_claim_payouts_status_updated_at", "status", "updated_at"),
    )

    id: Mapped[int] = mapped_column(BigIntPk, primary_key=True)
    claim_id: Mapped[int] = mapped_column(ForeignKey("claims.id", ondelete="CASCADE"),
                                          unique=True)
    status: Mapped[str] = mapped_column(String(16))
    request_no: Mapped[str] = mapped_column(String(40), unique=True)
    attempts: Mapped[int] = mapped_column(Integer)
    # Attempts allowed: MAX_ATTEMPTS, and as many again after each change of the payee's card.
    max_attempts: Mapped[int] = mapped_column(Integer, default=3, server_default="3")
    amount_fen: Mapped[int] = mapped_column(BigInteger)
    reference: Mapped[str | None] = mapped_column(String(64))  # the payout service's number
    last_error: Mapped[str | None] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime)
    paid_at: Mapped[datetime | None] = mapped_column(UtcDateTime)


class SimulatedBankCard(Base):
    """The bank-card simulator's book (demo mode and tests only): which ID number holds a card,
    by keyed hashes; a card is registered to the first person it is checked for."""

    __tablename__ = "sim_bank_cards"

    card_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    holder_hash: Mapped[str] = mapped_column(String(64))
    registered_at: Mapped[datetime] = mapped_column(UtcDateTime)


class SimulatedTransfer(Base):
    """The payout simulator's transfers (demo mode and tests only), one per request number."""

    __tablename__ = "sim_payout_transfers"

    request_no: Mapped[str] = mapped_column(String(40), primary_key=True)
    card_hash: Mapped[str] = mapped_column(String(64))
    amount_fen: Mapped[int] = mapped_column(BigInteger)
    status: Mapped[str] = mapped_column(String(16))
    reason: Mapped[str | None] = mapped_column(String(200))
    reference: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
