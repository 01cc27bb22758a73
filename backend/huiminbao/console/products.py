"""Next year's product from this year's, and editing a draft before it is published.

A clone copies tiers, benefits, terms (as version ``<year>.1``), the subsidy settings, the
eligibility conditions, the 特药 and 合理 item lists and the complaint deadline; it takes the
new year's window and coverage and a new code, and is stored as a draft. Both the clone and an
edited draft go through ``catalog.domain.validate_product`` and the catalog's own storage rules
(unique code), so a product made here obeys exactly what ``POST /admin/products`` obeys; nothing
is written when any rule fails. Publishing stays ``POST /admin/products/{id}/publish``.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass, replace

from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from huiminbao.audit import services as audit
from huiminbao.audit.services import AuditActor, AuditEntry
from huiminbao.catalog.domain import (
    CoveragePeriod,
    EnrollmentWindow,
    ProductDraft,
    ProductStatus,
    Violation,
    validate_product,
)
from huiminbao.catalog.models import Product, ProductInsurer, Tier

# The catalog's own storage rules and builder: clones and edits cannot drift from creation.
from huiminbao.catalog.services import (
    _new_product,
    _rejected,
    _store_violations,
    city_rules,
    draft_of,
)
from huiminbao.catalog.versions import require_version
from huiminbao.claims.models import ProductItem
from huiminbao.core.container import Container
from huiminbao.core.errors import Conflict, InvalidInput, NotFound
from huiminbao.disclosure.models import ComplaintSetting

_MAX_CODE = 40
NOT_DRAFT = "只有草稿状态的产品可以编辑"
LEAD_TWICE = "主承保机构不能与共保体中的其他承保机构同名"
EDIT_STATUS = "编辑草稿时状态只能是 draft（草稿）；发布请使用“发布”"


@dataclass(frozen=True)
class CloneRequest:
    year: int
    window: EnrollmentWindow
    coverage: CoveragePeriod
    code: str | None = None
    name: str | None = None


def next_code(code: str, from_year: int, to_year: int) -> str:
    """XHYLB-2027 → XHYLB-2028; a code without the year gets it appended."""
    if str(from_year) in code:
        return code.replace(str(from_year), str(to_year))
    return f"{code[:_MAX_CODE - 5]}-{to_year}"


def next_name(name: str, from_year: int, to_year: int) -> str:
    return name.replace(str(from_year), str(to_year)) if str(from_year) in name else name


def _load(session: Session, product_id: int, *, lock: bool = False) -> Product | None:
    query = select(Product).where(Product.id == product_id).options(
        selectinload(Product.tiers).selectinload(Tier.benefits), selectinload(Product.terms),
        selectinload(Product.pre_existing))
    if lock:
        query = query.with_for_update().execution_options(populate_existing=True)
    return session.scalars(query).one_or_none()


def _free_code(session: Session, wanted: str) -> str:
    """The wanted code, or the first of wanted-2, wanted-3, … that no product uses."""
    taken = set(session.scalars(select(Product.code).where(Product.code.like(f"{wanted}%"))))
    candidate, suffix = wanted, 1
    while candidate in taken:
        suffix += 1
        candidate = f"{wanted[:_MAX_CODE - 1 - len(str(suffix))]}-{suffix}"
    return candidate


def clone_product(c: Container, by: AuditActor, source_id: int, request: CloneRequest
                  ) -> Product:
    now = c.clock.now()
    with c.db.transaction() as session:
        source = _load(session, source_id)
        if source is None:
            raise NotFound("未找到该产品")
        code = (request.code or "").strip() or _free_code(
            session, next_code(source.code, source.year, request.year))
        draft = replace(
            draft_of(source), code=code,
            name=(request.name or "").strip() or next_name(source.name, source.year,
                                                            request.year),
            window=request.window, coverage=request.coverage, first_year=False,
            terms=replace(draft_of(source).terms, version=f"{request.year}.1"),
            status=ProductStatus.DRAFT,
        )
        violations = validate_product(draft, **city_rules(c))
        if request.coverage.starts_on.year != request.year:
            violations.append(Violation(
                "coverage.starts_on", "year_mismatch",
                f"产品年度以保障期开始的年份计：{request.year}年度的保障期应从{request.year}年开始"))
        violations += _store_violations(session, draft)
        if violations:
            raise _rejected(violations)
        product = _new_product(draft, now)
        # The co-insurance group and its contested-claim amount carry over (the lead's name is
        # the product's insurer, as in the source).
        product.coinsurers[:] = [ProductInsurer(position=m.position, insurer=m.insurer,
                                                share_bp=m.share_bp, is_lead=m.is_lead)
                                 for m in _coinsurers_of(session, source.id)] or product.coinsurers
        product.contested_claim_threshold_fen = source.contested_claim_threshold_fen
        product.target_payout_ratio_bp = source.target_payout_ratio_bp
        session.add(product)
        session.flush()
        copied = _copy_item_lists(session, source.id, product.id)
        setting = session.get(ComplaintSetting, source.id)
        if setting is not None:
            session.add(ComplaintSetting(product_id=product.id,
                                         response_working_days=setting.response_working_days,
                                         updated_at=now))
        audit.record(session, c.clock, AuditEntry(
            action="product.clone", actor=by, object_type="product", object_id=str(product.id),
            details={"source_id": source.id, "code": product.code, "year": product.year,
                     "item_lists": copied},
        ))
    return _reload(c, product.id)


def _coinsurers_of(session: Session, product_id: int) -> list[ProductInsurer]:
    return list(session.scalars(select(ProductInsurer).where(
        ProductInsurer.product_id == product_id).order_by(ProductInsurer.position)))


def _copy_item_lists(session: Session, source_id: int, target_id: int) -> int:
    """The claims domain's 特药 and 合理 lists of the product."""
    items = session.scalars(select(ProductItem).where(ProductItem.product_id == source_id)
                            .order_by(ProductItem.id)).all()
    session.add_all(ProductItem(product_id=target_id, kind=item.kind, code=item.code,
                                name=item.name, indications=item.indications,
                                pharmacies=item.pharmacies) for item in items)
    return len(items)


def update_draft(c: Container, by: AuditActor, product_id: int, draft: ProductDraft,
                 if_match: Collection[str] | None) -> Product:
    """Replace a draft's configuration (validated as a whole, all violations at once), if it is
    still the version the administrator read (``if_match``: catalog/versions.py)."""
    if draft.status is not ProductStatus.DRAFT:
        raise InvalidInput(EDIT_STATUS, errors={"status": [EDIT_STATUS]})
    violations = validate_product(draft, **city_rules(c))
    now = c.clock.now()
    with c.db.transaction() as session:
        product = _load(session, product_id, lock=True)
        if product is None:
            raise NotFound("未找到该产品")
        if product.status != ProductStatus.DRAFT.value:
            raise Conflict(NOT_DRAFT, code="not_draft")
        require_version(product, if_match)
        if draft.code != product.code:
            violations += [v for v in _store_violations(session, draft) if v.field == "code"]
        if violations:
            raise _rejected(violations)
        fresh = _new_product(draft, now)
        for column in ("code", "city_code", "city_name", "name", "insurer", "year",
                       "window_opens_on", "window_closes_on", "coverage_starts_on",
                       "coverage_ends_on", "payable_balances", "first_year",
                       "subsidized_tier_code", "subsidized_categories",
                       "eligibility_conditions", "deductible_mode"):
            setattr(product, column, getattr(fresh, column))
        # The lead insurer is the product's insurer: a renamed insurer renames the lead.
        members = _coinsurers_of(session, product.id)
        if any(m.insurer == product.insurer and not m.is_lead for m in members):
            raise _rejected([Violation("insurer", "insurer_unique", LEAD_TWICE)])
        for member in members:
            if member.is_lead:
                member.insurer = product.insurer
        fresh.coinsurers.clear()
        product.tiers.clear()
        product.terms.clear()
        product.pre_existing.clear()
        session.flush()  # the old tiers and terms go before new ones take their codes
        tiers, terms, conditions = list(fresh.tiers), list(fresh.terms), list(fresh.pre_existing)
        fresh.tiers.clear()
        fresh.terms.clear()
        fresh.pre_existing.clear()
        product.tiers.extend(tiers)
        product.terms.extend(terms)
        product.pre_existing.extend(conditions)
        audit.record(session, c.clock, AuditEntry(
            action="product.update", actor=by, object_type="product", object_id=str(product.id),
            details={"code": product.code, "year": product.year},
        ))
    return _reload(c, product_id)


def _reload(c: Container, product_id: int) -> Product:
    with c.db.read() as session:
        product = _load(session, product_id)
    if product is None:
        raise NotFound("未找到该产品")
    return product
