"""The product's terms as the calculator reads them, and the circumstances a claim is paid under.

- ``payout_rules``: a tier's benefits with their bands and waiting periods, the product's
  deductible mode and pre-existing conditions, and its 特药 and 合理 lists.
- ``first_enrollment``: whether the insured enrolls for the first time. A policy is an
  *uninterrupted renewal* when the same person held a policy of the same city's product of the
  previous year, not cancelled, whose coverage ran until the day before this one starts (or
  later): then no waiting period applies.
- ``prior_diagnoses``: the registry's diagnoses of the insured recorded before the coverage
  started. A remote call: made outside any transaction, and only when the product lists
  pre-existing conditions and the claim names a diagnosis (minimum necessary, DESIGN §2.10).

The calculation itself is ``claims.payout.calculate`` (pure); the claim services, the hospitals'
settlements and the estimator all call it through ``compute``.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from huiminbao.catalog.domain import BenefitCategory, DeductibleMode, ProductStatus
from huiminbao.catalog.models import PreExistingTerm, Product, Tier
from huiminbao.claims import payout
from huiminbao.claims.models import Claim, ProductItem
from huiminbao.claims.payout import (
    Band,
    Bill,
    Breakdown,
    Circumstances,
    Diagnosis,
    PayoutRules,
    YearToDate,
)
from huiminbao.core.container import Container
from huiminbao.core.errors import NotFound
from huiminbao.enrollment.domain import PolicyStatus
from huiminbao.enrollment.models import Policy
from huiminbao.identity.models import Person

SPECIAL_DRUG_NOTICE = ("特药须在定点药店（或定点医院）购买，并符合所列适应症，"
                       "方可按特定药品费用赔付；清单每年调整，以当年度保险条款为准。")


def normalize_codes(codes: Iterable[str]) -> tuple[str, ...]:
    """Upper-case, blank-free, each once, in order."""
    return tuple(dict.fromkeys(code.strip().upper() for code in codes if code.strip()))


def join_codes(codes: Sequence[str]) -> str | None:
    return ",".join(codes) or None


def split_codes(stored: str | None) -> tuple[str, ...]:
    return tuple(code for code in (stored or "").split(",") if code)


def stated_codes(kind_code: str | None, stored: str | None) -> tuple[str, ...]:
    """Every ICD-10 code a claim states, for the pre-existing terms: its kind's diagnosis (a
    drug's indication, a 门特 disease) first, then the optional list the claimant adds."""
    codes = split_codes(stored)
    return (kind_code, *codes) if kind_code and kind_code not in codes else codes


def payout_rules(session: Session, product_id: int, tier_code: str) -> PayoutRules:
    tier = session.scalars(
        select(Tier).where(Tier.product_id == product_id, Tier.code == tier_code)
        .options(selectinload(Tier.benefits))
    ).one_or_none()
    product = session.get(Product, product_id)
    if tier is None or product is None:
        raise NotFound("未找到该保障档次")
    benefits = {
        BenefitCategory(b.category): payout.CategoryRule(
            b.deductible_fen, b.ratio_bp, b.cap_fen,
            bands=tuple(Band(band.above_fen, band.ratio_bp) for band in b.band_list),
            waiting_days=b.waiting_days)
        for b in tier.benefits
    }
    lists: dict[str, dict[str, str]] = {"special_drug": {}, "reasonable": {}}
    for item in session.scalars(select(ProductItem).where(ProductItem.product_id == product_id)):
        lists[item.kind][payout.normalize_code(item.code)] = item.name
    conditions = session.scalars(select(PreExistingTerm).where(
        PreExistingTerm.product_id == product_id).order_by(PreExistingTerm.position)).all()
    return PayoutRules(
        benefits, special_drugs=lists["special_drug"], reasonable_items=lists["reasonable"],
        shared_deductible=product.deductible_mode == DeductibleMode.SHARED.value,
        pre_existing=tuple(payout.PreExistingCondition(t.code_prefix, t.name, t.ratios)
                           for t in conditions))


def first_enrollment(session: Session, person_id: int, product: Product,
                     coverage_starts_on: date) -> bool:
    """No uninterrupted policy of the same city's previous-year product (see the module)."""
    renewed = session.scalars(
        select(Policy.id).join(Product, Product.id == Policy.product_id)
        .where(Policy.insured_person_id == person_id,
               Policy.status == PolicyStatus.ACTIVE.value,
               Product.city_code == product.city_code, Product.year == product.year - 1,
               Policy.coverage_ends_on >= coverage_starts_on - timedelta(days=1))
        .limit(1)).first()
    return renewed is None


def prior_diagnoses(c: Container, person_id: int, product_id: int, coverage_starts_on: date,
                    diagnosis_codes: Sequence[str]) -> tuple[Diagnosis, ...]:
    """The registry's diagnoses of the insured before the coverage started, when the terms need
    them; () otherwise. Outside any transaction; RegistryUnavailable propagates (503)."""
    if not diagnosis_codes:
        return ()
    with c.db.read() as session:
        listed = session.scalars(select(PreExistingTerm.id).where(
            PreExistingTerm.product_id == product_id).limit(1)).first()
        person = session.get(Person, person_id)
        id_number = person.id_number if person is not None else None
    if listed is None or id_number is None:
        return ()
    return tuple(Diagnosis(d.code, d.diagnosed_on)
                 for d in c.registry.prior_diagnoses(id_number, coverage_starts_on))


def prior_for_claim(c: Container, number: str) -> tuple[Diagnosis, ...]:
    """``prior_diagnoses`` for a stored claim (() for an unknown number)."""
    with c.db.read() as session:
        row = session.execute(
            select(Claim.insured_person_id, Claim.product_id, Claim.diagnosis_code,
                   Claim.diagnosis_codes, Policy.coverage_starts_on)
            .join(Policy, Policy.id == Claim.policy_id).where(Claim.claim_no == number)
        ).one_or_none()
    if row is None:
        return ()
    person_id, product_id, kind_code, codes, starts_on = row
    return prior_diagnoses(c, person_id, product_id, starts_on, stated_codes(kind_code, codes))


def circumstances(session: Session, policy: Policy, diagnosis_codes: Sequence[str],
                  treated_on: date | None, prior: Sequence[Diagnosis] = (),
                  rules: PayoutRules | None = None) -> Circumstances:
    """What the terms ask about a bill on ``policy``. Whether the insured enrolls for the first
    time is looked up only when ``rules`` (if given) have a waiting period."""
    waiting = rules is None or any(rule.waiting_days for rule in rules.benefits.values())
    first = False
    if waiting:
        product = session.get(Product, policy.product_id)
        assert product is not None
        first = first_enrollment(session, policy.insured_person_id, product,
                                 policy.coverage_starts_on)
    return Circumstances(
        diagnosis_codes=tuple(diagnosis_codes), prior_diagnoses=tuple(prior),
        coverage_starts_on=policy.coverage_starts_on, treated_on=treated_on,
        first_enrollment=first)


def compute(session: Session, policy: Policy, tier_code: str, bill: Bill, earlier: YearToDate,
            diagnosis_codes: Sequence[str], treated_on: date | None,
            prior: Sequence[Diagnosis] = ()) -> Breakdown:
    """The payout of a bill on a policy: the one engine of approvals, settlements, previews
    and the estimator."""
    rules = payout_rules(session, policy.product_id, tier_code)
    return payout.calculate(rules, bill, earlier, circumstances(
        session, policy, diagnosis_codes, treated_on, prior, rules))


@dataclass(frozen=True)
class SpecialDrugs:
    product_name: str
    query: str
    drugs: list[ProductItem]


def search_special_drugs(c: Container, product_id: int, query: str) -> SpecialDrugs:
    """A published product's 特药 list, filtered by ``query`` (case-insensitive, in the name,
    code, indications or pharmacies), by code."""
    wanted = " ".join(query.split()).casefold()
    with c.db.read() as session:
        product = session.get(Product, product_id)
        if product is None or product.status != ProductStatus.PUBLISHED.value:
            raise NotFound("未找到该产品")
        drugs = session.scalars(select(ProductItem).where(
            ProductItem.product_id == product_id, ProductItem.kind == "special_drug")
            .order_by(ProductItem.code)).all()
        name = product.name
    found = [drug for drug in drugs if not wanted or wanted in "\n".join(
        (drug.code, drug.name, drug.indications, drug.pharmacies)).casefold()]
    return SpecialDrugs(name, wanted, found)
