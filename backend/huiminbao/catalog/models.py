"""Products, tiers, benefits and versioned terms."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    CheckConstraint,
    Date,
    ForeignKey,
    Integer,
    String,
    Text,
    UniqueConstraint,
    false,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from huiminbao.catalog.coinsurance import Share
from huiminbao.catalog.domain import (
    ALL_ASSISTANCE_CATEGORIES,
    BandDraft,
    BenefitCategory,
    CoveragePeriod,
    DeductibleMode,
    EnrollmentWindow,
    ProductStatus,
    subsidized_tier_code,
)
from huiminbao.core.db import Base, BigIntPk, UtcDateTime


class Product(Base):
    __tablename__ = "products"
    __table_args__ = (
        UniqueConstraint("code", name="uq_products_code"),
        CheckConstraint("window_closes_on >= window_opens_on", name="window_order"),
        CheckConstraint("coverage_ends_on > coverage_starts_on", name="coverage_order"),
        CheckConstraint("status IN ('draft', 'published', 'withdrawn')", name="status_values"),
        CheckConstraint(
            "payable_balances IN ('prior_years', 'prior_years,current_year')",
            name="payable_balances_values",
        ),
        # 002 二(一), 003 二(一): the product never asks a health question; kept as a column so
        # the record itself shows it, and the database refuses anything else.
        CheckConstraint("health_questions = ''", name="no_health_questions"),
        CheckConstraint("deductible_mode IN ('per_category', 'shared')",
                        name="deductible_mode_values"),
    )

    id: Mapped[int] = mapped_column(BigIntPk, primary_key=True)
    code: Mapped[str] = mapped_column(String(40))
    city_code: Mapped[str] = mapped_column(String(6), index=True)
    city_name: Mapped[str] = mapped_column(String(40))
    year: Mapped[int] = mapped_column(Integer)
    name: Mapped[str] = mapped_column(String(100))
    insurer: Mapped[str] = mapped_column(String(200))
    status: Mapped[str] = mapped_column(String(16), default=ProductStatus.DRAFT.value)
    window_opens_on: Mapped[date] = mapped_column(Date)
    window_closes_on: Mapped[date] = mapped_column(Date)
    coverage_starts_on: Mapped[date] = mapped_column(Date)
    coverage_ends_on: Mapped[date] = mapped_column(Date)
    # Which personal-account balances may pay, in the order they are drawn.
    payable_balances: Mapped[str] = mapped_column(String(40), default="prior_years")
    # 003 三(八)1: the first year's window may be at most two months.
    first_year: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    # 003 三(三)3: the tier the subsidy fund buys (null only on rows older than revision 0005;
    # ``subsidized_tier`` falls back to the cheapest tier) and the groups it buys it for.
    subsidized_tier_code: Mapped[str | None] = mapped_column(String(32))
    subsidized_categories: Mapped[str] = mapped_column(
        String(64), default=",".join(ALL_ASSISTANCE_CATEGORIES),
        server_default=",".join(ALL_ASSISTANCE_CATEGORIES),
    )
    # Who may enroll, one condition a line (never a health, age, history or occupation one).
    eligibility_conditions: Mapped[str] = mapped_column(Text, default="", server_default="")
    health_questions: Mapped[str] = mapped_column(Text, default="", server_default="")
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    # 002 三(一): a claim whose payout is above this needs a second insurer's decision (null:
    # no claim does).
    contested_claim_threshold_fen: Mapped[int | None] = mapped_column(BigInteger)
    # 002 三(五): the payout ratio the product aims at (basis points; null: none set), and how
    # this product uses the previous year's surplus (结余滚存): an amount and a note, published.
    target_payout_ratio_bp: Mapped[int | None] = mapped_column(Integer)
    surplus_used_fen: Mapped[int | None] = mapped_column(BigInteger)
    surplus_use_note: Mapped[str | None] = mapped_column(Text)
    # One annual deductible per category (per_category) or one shared by all (shared; the
    # tiers' categories then have equal deductibles).
    deductible_mode: Mapped[str] = mapped_column(
        String(16), default=DeductibleMode.PER_CATEGORY.value,
        server_default=DeductibleMode.PER_CATEGORY.value)

    tiers: Mapped[list[Tier]] = relationship(
        back_populates="product", order_by="Tier.position", cascade="all, delete-orphan"
    )
    terms: Mapped[list[ProductTerms]] = relationship(
        back_populates="product", order_by="ProductTerms.published_at.desc()",
        cascade="all, delete-orphan",
    )
    # 共保体: the insurers and their shares; ``insurer`` above names the lead.
    coinsurers: Mapped[list[ProductInsurer]] = relationship(
        back_populates="product", order_by="ProductInsurer.position",
        cascade="all, delete-orphan",
    )
    pre_existing: Mapped[list[PreExistingTerm]] = relationship(
        back_populates="product", order_by="PreExistingTerm.position",
        cascade="all, delete-orphan",
    )

    @property
    def window(self) -> EnrollmentWindow:
        return EnrollmentWindow(self.window_opens_on, self.window_closes_on)

    @property
    def coverage(self) -> CoveragePeriod:
        return CoveragePeriod(self.coverage_starts_on, self.coverage_ends_on)

    @property
    def current_terms(self) -> ProductTerms | None:
        return self.terms[0] if self.terms else None

    def tier(self, code: str) -> Tier | None:
        return next((tier for tier in self.tiers if tier.code == code), None)

    @property
    def subsidized_tier(self) -> Tier | None:
        """The tier the subsidy fund pays for: the configured one, else the cheapest."""
        code = subsidized_tier_code(self.tiers, self.subsidized_tier_code)
        return self.tier(code) if code is not None else None

    @property
    def subsidized_category_list(self) -> list[str]:
        return [c for c in self.subsidized_categories.split(",") if c]

    @property
    def eligibility_condition_list(self) -> list[str]:
        return [line for line in self.eligibility_conditions.split("\n") if line]

    @property
    def health_question_list(self) -> list[str]:
        return [line for line in self.health_questions.split("\n") if line]


class Tier(Base):
    __tablename__ = "product_tiers"
    __table_args__ = (
        UniqueConstraint("product_id", "code", name="uq_product_tiers_product_id_code"),
        CheckConstraint("premium_fen > 0", name="premium_positive"),
    )

    id: Mapped[int] = mapped_column(BigIntPk, primary_key=True)
    product_id: Mapped[int] = mapped_column(ForeignKey("products.id", ondelete="CASCADE"))
    code: Mapped[str] = mapped_column(String(32))
    name: Mapped[str] = mapped_column(String(40))
    position: Mapped[int] = mapped_column(Integer, default=0)
    premium_fen: Mapped[int] = mapped_column(BigInteger)

    product: Mapped[Product] = relationship(back_populates="tiers")
    benefits: Mapped[list[Benefit]] = relationship(
        back_populates="tier", order_by="Benefit.position", cascade="all, delete-orphan"
    )

    def benefit(self, category: BenefitCategory) -> Benefit | None:
        return next((b for b in self.benefits if b.category == category.value), None)


class Benefit(Base):
    __tablename__ = "product_benefits"
    __table_args__ = (
        UniqueConstraint("tier_id", "category", name="uq_product_benefits_tier_id_category"),
        CheckConstraint(
            "category IN ('compliant', 'reasonable', 'special_drug')", name="category_values"
        ),
        CheckConstraint("deductible_fen >= 0", name="deductible_non_negative"),
        CheckConstraint("ratio_bp > 0 AND ratio_bp <= 10000", name="ratio_range"),
        CheckConstraint("cap_fen > 0", name="cap_positive"),
    )

    id: Mapped[int] = mapped_column(BigIntPk, primary_key=True)
    tier_id: Mapped[int] = mapped_column(ForeignKey("product_tiers.id", ondelete="CASCADE"))
    category: Mapped[str] = mapped_column(String(16))
    position: Mapped[int] = mapped_column(Integer, default=0)
    deductible_fen: Mapped[int] = mapped_column(BigInteger)
    ratio_bp: Mapped[int] = mapped_column(Integer)  # basis points: 7500 = 75 %
    cap_fen: Mapped[int] = mapped_column(BigInteger)
    # Ratio bands after the deductible: [{"above_fen", "ratio_bp"}, ...] ascending; ``ratio_bp``
    # applies below the first.
    bands: Mapped[list[dict[str, int]]] = mapped_column(JSON, default=list, server_default="[]")
    # First-time enrollees: treatment starting within this many days of coverage is not paid.
    waiting_days: Mapped[int] = mapped_column(Integer, default=0, server_default="0")

    tier: Mapped[Tier] = relationship(back_populates="benefits")

    @property
    def label(self) -> str:
        return BenefitCategory(self.category).label

    @property
    def band_list(self) -> list[BandDraft]:
        return [BandDraft(int(b["above_fen"]), int(b["ratio_bp"])) for b in self.bands or []]


class PreExistingTerm(Base):
    """A pre-existing condition (既往症) the product pays differently: an ICD-10 code prefix and,
    per category, a ratio or NULL for "not covered"."""

    __tablename__ = "product_pre_existing"
    __table_args__ = (
        UniqueConstraint("product_id", "code_prefix",
                         name="uq_product_pre_existing_product_id_code_prefix"),
    )

    id: Mapped[int] = mapped_column(BigIntPk, primary_key=True)
    product_id: Mapped[int] = mapped_column(ForeignKey("products.id", ondelete="CASCADE"),
                                            index=True)
    position: Mapped[int] = mapped_column(Integer, default=0)
    code_prefix: Mapped[str] = mapped_column(String(8))
    name: Mapped[str] = mapped_column(String(40))
    compliant_ratio_bp: Mapped[int | None] = mapped_column(Integer)
    reasonable_ratio_bp: Mapped[int | None] = mapped_column(Integer)
    special_drug_ratio_bp: Mapped[int | None] = mapped_column(Integer)

    product: Mapped[Product] = relationship(back_populates="pre_existing")

    @property
    def ratios(self) -> dict[BenefitCategory, int | None]:
        return {BenefitCategory.COMPLIANT: self.compliant_ratio_bp,
                BenefitCategory.REASONABLE: self.reasonable_ratio_bp,
                BenefitCategory.SPECIAL_DRUG: self.special_drug_ratio_bp}


class ProductTerms(Base):
    """A published version of the terms; orders record the version the person agreed to."""

    __tablename__ = "product_terms"
    __table_args__ = (
        UniqueConstraint("product_id", "version", name="uq_product_terms_product_id_version"),
    )

    id: Mapped[int] = mapped_column(BigIntPk, primary_key=True)
    product_id: Mapped[int] = mapped_column(ForeignKey("products.id", ondelete="CASCADE"))
    version: Mapped[str] = mapped_column(String(20))
    notice: Mapped[str] = mapped_column(Text)
    coverage: Mapped[str] = mapped_column(Text)
    claim_scope: Mapped[str] = mapped_column(Text)
    exclusions: Mapped[str] = mapped_column(Text)
    published_at: Mapped[datetime] = mapped_column(UtcDateTime)

    product: Mapped[Product] = relationship(back_populates="terms")


class ProductInsurer(Base):
    """One insurer of a product's co-insurance group (共保体) and its share of premiums and
    payouts. The ledger books each insurer's part on accounts named by this row's id."""

    __tablename__ = "product_insurers"
    __table_args__ = (
        UniqueConstraint("product_id", "insurer", name="uq_product_insurers_product_id_insurer"),
        CheckConstraint("share_bp > 0 AND share_bp <= 10000", name="share_range"),
    )

    id: Mapped[int] = mapped_column(BigIntPk, primary_key=True)
    product_id: Mapped[int] = mapped_column(ForeignKey("products.id", ondelete="CASCADE"),
                                            index=True)
    position: Mapped[int] = mapped_column(Integer, default=0)
    insurer: Mapped[str] = mapped_column(String(200))
    share_bp: Mapped[int] = mapped_column(Integer)  # basis points: 5000 = 50 %
    is_lead: Mapped[bool] = mapped_column(Boolean, default=False)

    product: Mapped[Product] = relationship(back_populates="coinsurers")

    @property
    def share(self) -> Share:
        return Share(self.insurer, self.share_bp, self.is_lead)


class InsurerStaff(Base):
    """Which insurer an insurer-staff account works for (contested claims need a second
    insurer's decision; each insurer reads its own statement), and whether it is that insurer's
    supervisor (复核主管), who makes the second decision when a product has one insurer."""

    __tablename__ = "insurer_staff"

    account_id: Mapped[int] = mapped_column(
        ForeignKey("user_accounts.id", ondelete="CASCADE"), primary_key=True)
    insurer: Mapped[str] = mapped_column(String(200))
    is_supervisor: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime)


class ProductHelp(Base):
    """What a product's residents see under 客服与投诉 on every page: the hotline, its hours, the
    service points (name, address, hours, the text of a map link) and the FAQ, as the operator
    set them in the console. ``service_points`` and ``faq`` are lists of small dicts checked by
    ``console.help``."""

    __tablename__ = "product_help"

    product_id: Mapped[int] = mapped_column(ForeignKey("products.id", ondelete="CASCADE"),
                                            primary_key=True)
    hotline: Mapped[str] = mapped_column(String(32))
    service_hours: Mapped[str] = mapped_column(String(100))
    service_points: Mapped[list[dict[str, str]]] = mapped_column(JSON, default=list)
    faq: Mapped[list[dict[str, str]]] = mapped_column(JSON, default=list)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime)
