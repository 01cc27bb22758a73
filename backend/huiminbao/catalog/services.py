"""Catalog use cases."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from datetime import datetime

from sqlalchemy import ColumnElement, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, selectinload

from huiminbao.audit import services as audit
from huiminbao.audit.services import AuditActor, AuditEntry
from huiminbao.catalog.coinsurance import WHOLE_BP
from huiminbao.catalog.domain import (
    BenefitCategory,
    BenefitDraft,
    PayableBalances,
    PreExistingDraft,
    ProductDraft,
    ProductStatus,
    TermsDraft,
    TierDraft,
    Violation,
    validate_product,
)
from huiminbao.catalog.models import (
    Benefit,
    PreExistingTerm,
    Product,
    ProductInsurer,
    ProductTerms,
    Tier,
)
from huiminbao.catalog.versions import check_version
from huiminbao.core.clock import Clock
from huiminbao.core.container import Container
from huiminbao.core.db import Database
from huiminbao.core.errors import Conflict, NotFound, RuleViolation

INVALID_PRODUCT = "invalid_product"
CODE_TAKEN = "产品代码已被使用，请换一个"
_CATEGORY_ORDER = {category.value: index for index, category in enumerate(BenefitCategory)}

_WITH_DETAILS = (
    selectinload(Product.tiers).selectinload(Tier.benefits),
    selectinload(Product.terms),
    selectinload(Product.coinsurers),
    selectinload(Product.pre_existing),
)


def _published_in_city(db: Database, city_code: str, *conditions: ColumnElement[bool],
                       newest_first: bool = False) -> Sequence[Product]:
    with db.read() as session:
        query = (
            select(Product)
            .where(Product.city_code == city_code,
                   Product.status == ProductStatus.PUBLISHED.value, *conditions)
            .options(*_WITH_DETAILS)
            .order_by(Product.window_opens_on.desc() if newest_first
                      else Product.window_opens_on, Product.id)
        )
        return session.scalars(query).all()


def open_products(db: Database, clock: Clock, city_code: str) -> Sequence[Product]:
    """Published products of the city whose enrollment window includes today."""
    today = clock.today()
    return _published_in_city(db, city_code, Product.window_opens_on <= today,
                              Product.window_closes_on >= today)


def visible_products(db: Database, clock: Clock, city_code: str) -> Sequence[Product]:
    """Published products of the city from the day their window opens to the last day of their
    coverage: residents look up the benefits and terms of the year they are covered for after
    the window has closed (each product says whether its window is open)."""
    today = clock.today()
    return _published_in_city(db, city_code, Product.window_opens_on <= today,
                              Product.coverage_ends_on >= today, newest_first=True)


def get_product(db: Database, product_id: int) -> Product:
    with db.read() as session:
        product = session.scalars(
            select(Product).where(Product.id == product_id).options(*_WITH_DETAILS)
        ).one_or_none()
    if product is None or product.status != ProductStatus.PUBLISHED.value:
        raise NotFound("未找到该产品")
    return product


# ---------------------------------------------------------------- administration


def _rejected(violations: list[Violation]) -> RuleViolation:
    """All violations at once: ``errors`` maps each field path to its Chinese messages."""
    errors: dict[str, list[str]] = {}
    for violation in violations:
        errors.setdefault(violation.field, []).append(violation.message)
    return RuleViolation(f"产品配置不符合规则：共{len(violations)}项", code=INVALID_PRODUCT,
                         errors=errors)


def _store_violations(session: Session, draft: ProductDraft) -> list[Violation]:
    """The rules that need the stored products: a unique code, one published product per
    city and year (DESIGN.md §2.2)."""
    found: list[Violation] = []
    taken = session.scalars(select(Product.id).where(Product.code == draft.code)).first()
    if taken is not None:
        found.append(Violation("code", "code_unique", CODE_TAKEN))
    if draft.status is ProductStatus.PUBLISHED:
        found += _one_per_city_year(session, draft.city_code, draft.city_name, draft.year)
    return found


def _one_per_city_year(session: Session, city_code: str, city_name: str, year: int,
                       *, other_than: int | None = None) -> list[Violation]:
    query = select(Product.id).where(
        Product.city_code == city_code, Product.year == year,
        Product.status == ProductStatus.PUBLISHED.value,
    )
    if other_than is not None:
        query = query.where(Product.id != other_than)
    if session.scalars(query).first() is None:
        return []
    return [Violation("coverage.starts_on", "one_per_city_year",
                      f"{city_name}{year}年度已有已发布的产品，每个城市每年只发布一个产品")]


def _new_product(draft: ProductDraft, now: datetime) -> Product:
    balances = PayableBalances.from_parts(draft.payable_balances)
    assert balances is not None  # validated
    product = Product(
        code=draft.code,
        city_code=draft.city_code,
        city_name=draft.city_name,
        name=draft.name,
        insurer=draft.insurer,
        status=draft.status.value,
        year=draft.year,
        window_opens_on=draft.window.opens_on,
        window_closes_on=draft.window.closes_on,
        coverage_starts_on=draft.coverage.starts_on,
        coverage_ends_on=draft.coverage.ends_on,
        payable_balances=balances.value,
        first_year=draft.first_year,
        subsidized_tier_code=draft.effective_subsidized_tier,
        subsidized_categories=",".join(draft.subsidized_categories),
        eligibility_conditions="\n".join(draft.eligibility_conditions),
        health_questions="",  # validated empty; the database refuses anything else
        created_at=now,
        deductible_mode=draft.deductible_mode,
        pre_existing=[
            PreExistingTerm(position=index, code_prefix=item.code_prefix, name=item.name,
                            compliant_ratio_bp=item.compliant_ratio_bp,
                            reasonable_ratio_bp=item.reasonable_ratio_bp,
                            special_drug_ratio_bp=item.special_drug_ratio_bp)
            for index, item in enumerate(draft.pre_existing)
        ],
    )
    for position, tier in enumerate(draft.tiers):
        product.tiers.append(Tier(
            code=tier.code, name=tier.name, position=position, premium_fen=tier.premium_fen,
            benefits=[
                Benefit(category=benefit.category, position=index,
                        deductible_fen=benefit.deductible_fen, ratio_bp=benefit.ratio_bp,
                        cap_fen=benefit.cap_fen, waiting_days=benefit.waiting_days,
                        bands=[{"above_fen": band.above_fen, "ratio_bp": band.ratio_bp}
                               for band in benefit.bands])
                for index, benefit in enumerate(
                    sorted(tier.benefits, key=lambda b: _CATEGORY_ORDER[b.category]))
            ],
        ))
    product.terms.append(ProductTerms(
        version=draft.terms.version, notice=draft.terms.notice, coverage=draft.terms.coverage,
        claim_scope=draft.terms.claim_scope, exclusions=draft.terms.exclusions, published_at=now,
    ))
    # One insurer underwrites alone until the console lists a co-insurance group (共保体).
    product.coinsurers.append(ProductInsurer(position=0, insurer=draft.insurer,
                                             share_bp=WHOLE_BP, is_lead=True))
    return product


def city_rules(c: Container) -> dict[str, int]:
    """The city's settings that ``validate_product`` applies."""
    return {"min_pre_existing_ratio_bp": c.settings.min_pre_existing_ratio_bp}


def draft_of(product: Product) -> ProductDraft:
    """A stored product as the draft it was made from."""
    terms = product.current_terms
    assert terms is not None
    return ProductDraft(
        code=product.code, name=product.name, city_code=product.city_code,
        city_name=product.city_name, insurer=product.insurer, window=product.window,
        coverage=product.coverage, first_year=product.first_year,
        payable_balances=tuple(product.payable_balances.split(",")),
        tiers=tuple(TierDraft(
            code=tier.code, name=tier.name, premium_fen=tier.premium_fen,
            benefits=tuple(BenefitDraft(b.category, b.deductible_fen, b.ratio_bp, b.cap_fen,
                                        tuple(b.band_list), b.waiting_days)
                           for b in tier.benefits))
            for tier in product.tiers),
        terms=TermsDraft(version=terms.version, notice=terms.notice, coverage=terms.coverage,
                         claim_scope=terms.claim_scope, exclusions=terms.exclusions),
        subsidized_tier=product.subsidized_tier_code,
        subsidized_categories=tuple(product.subsidized_category_list),
        eligibility_conditions=tuple(product.eligibility_condition_list),
        status=ProductStatus(product.status),
        deductible_mode=product.deductible_mode,
        pre_existing=tuple(
            PreExistingDraft(t.code_prefix, t.name, t.compliant_ratio_bp, t.reasonable_ratio_bp,
                             t.special_drug_ratio_bp) for t in product.pre_existing),
    )


def create_product(c: Container, by: AuditActor, draft: ProductDraft) -> Product:
    """Validate the draft against every rule (all violations reported at once) and store it.

    Nothing is written when any rule fails.
    """
    violations = validate_product(draft, **city_rules(c))
    try:
        with c.db.transaction() as session:
            violations += _store_violations(session, draft)
            if violations:
                raise _rejected(violations)
            product = _new_product(draft, c.clock.now())
            session.add(product)
            session.flush()
            audit.record(session, c.clock, AuditEntry(
                action="product.create", actor=by, object_type="product",
                object_id=str(product.id),
                details={"code": product.code, "city_code": product.city_code,
                         "year": product.year, "status": product.status},
            ))
    except IntegrityError as exc:  # a concurrent request took the code first
        raise _rejected([Violation("code", "code_unique", CODE_TAKEN)]) from exc
    return product


def all_products(db: Database, city_code: str | None = None) -> Sequence[Product]:
    """Every product, drafts included, newest first (administrators)."""
    with db.read() as session:
        query = select(Product).options(*_WITH_DETAILS).order_by(Product.id.desc())
        if city_code is not None:
            query = query.where(Product.city_code == city_code)
        return session.scalars(query).all()


def get_any_product(db: Database, product_id: int) -> Product:
    """One product in any status (administrators)."""
    with db.read() as session:
        product = session.scalars(
            select(Product).where(Product.id == product_id).options(*_WITH_DETAILS)
        ).one_or_none()
    if product is None:
        raise NotFound("未找到该产品")
    return product


def publish_product(c: Container, by: AuditActor, product_id: int,
                    if_match: Collection[str] | None = None) -> Product:
    """Publish a draft, unless the city already has a published product for that year; when
    ``if_match`` is given, only the version the administrator reviewed (catalog/versions.py)."""
    with c.db.transaction() as session:
        product = session.scalars(
            select(Product).where(Product.id == product_id).options(*_WITH_DETAILS)
            .with_for_update()
        ).one_or_none()
        if product is None:
            raise NotFound("未找到该产品")
        if product.status != ProductStatus.DRAFT.value:
            raise Conflict("只有草稿状态的产品可以发布", code="not_draft")
        check_version(product, if_match)
        # Every rule again (the city's floors may have changed since the draft was saved).
        violations = validate_product(draft_of(product), **city_rules(c))
        violations += _one_per_city_year(session, product.city_code, product.city_name,
                                         product.year, other_than=product.id)
        if violations:
            raise _rejected(violations)
        product.status = ProductStatus.PUBLISHED.value
        audit.record(session, c.clock, AuditEntry(
            action="product.publish", actor=by, object_type="product",
            object_id=str(product.id),
            details={"code": product.code, "city_code": product.city_code, "year": product.year},
        ))
    return product
