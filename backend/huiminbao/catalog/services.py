"""Catalog use cases."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, selectinload

from huiminbao.audit import services as audit
from huiminbao.audit.services import AuditActor, AuditEntry
from huiminbao.catalog.coinsurance import WHOLE_BP
from huiminbao.catalog.domain import (
    BenefitCategory,
    PayableBalances,
    ProductDraft,
    ProductStatus,
    Violation,
    validate_product,
)
from huiminbao.catalog.models import Benefit, Product, ProductInsurer, ProductTerms, Tier
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
)


def open_products(db: Database, clock: Clock, city_code: str) -> Sequence[Product]:
    """Published products of the city whose enrollment window includes today."""
    today = clock.today()
    with db.read() as session:
        query = (
            select(Product)
            .where(
                Product.city_code == city_code,
                Product.status == ProductStatus.PUBLISHED.value,
                Product.window_opens_on <= today,
                Product.window_closes_on >= today,
            )
            .options(*_WITH_DETAILS)
            .order_by(Product.window_opens_on, Product.id)
        )
        return session.scalars(query).all()


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
    )
    for position, tier in enumerate(draft.tiers):
        product.tiers.append(Tier(
            code=tier.code, name=tier.name, position=position, premium_fen=tier.premium_fen,
            benefits=[
                Benefit(category=benefit.category, position=index,
                        deductible_fen=benefit.deductible_fen, ratio_bp=benefit.ratio_bp,
                        cap_fen=benefit.cap_fen)
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


def create_product(c: Container, by: AuditActor, draft: ProductDraft) -> Product:
    """Validate the draft against every rule (all violations reported at once) and store it.

    Nothing is written when any rule fails.
    """
    violations = validate_product(draft)
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
        violations = _one_per_city_year(session, product.city_code, product.city_name,
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
