"""What a claim of each kind needs before it is written: the product's kind rules, designated
pharmacies and drug indications (read from the database), and the payee with its bank card
checked through the verification port (a remote call, made outside any transaction)."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from huiminbao.audit import services as audit
from huiminbao.audit.services import AuditActor, AuditEntry
from huiminbao.catalog.domain import ProductStatus
from huiminbao.catalog.models import Product
from huiminbao.claims import kinds
from huiminbao.claims.kinds import ClaimKind, KindFacts, KindRule, SpecialDrugRules
from huiminbao.claims.models import (
    ClaimPayee,
    ProductClaimKind,
    ProductDrugIndication,
    ProductItem,
    ProductPharmacy,
)
from huiminbao.claims.payees import (
    HEIR_DOCUMENTS,
    BankServiceUnavailable,
    CardOutcome,
    PayeeKind,
    normalize_card,
    payee_problem,
)
from huiminbao.claims.payout import normalize_code
from huiminbao.core.container import Container
from huiminbao.core.errors import Busy, InvalidInput, NotFound, RuleViolation
from huiminbao.core.idnumber import InvalidIdNumber, age_on
from huiminbao.core.idnumber import parse as parse_id
from huiminbao.core.masking import normalize_name
from huiminbao.registry.port import RegistryUnavailable, Relation

log = logging.getLogger(__name__)

BANK_CHECK_DOWN = "银行卡核验服务暂时无法访问，请稍后重试"
BANK_CHECK_OFF = "暂不支持在线填写收款银行卡，请联系客服或到经办窗口办理"


def kind_rules(session: Session, product_id: int) -> dict[ClaimKind, KindRule]:
    rows = session.scalars(select(ProductClaimKind).where(ProductClaimKind.product_id == product_id)
                           .order_by(ProductClaimKind.position, ProductClaimKind.id)).all()
    return kinds.rules_by_kind([
        KindRule(ClaimKind(row.kind), tuple(row.documents), row.decide_within_working_days,
                 row.pay_within_days) for row in rows])


def special_drug_rules(session: Session, product_id: int) -> SpecialDrugRules:
    drugs = {normalize_code(item.code): item.name for item in session.scalars(
        select(ProductItem).where(ProductItem.product_id == product_id,
                                  ProductItem.kind == "special_drug"))}
    indications: dict[str, tuple[str, ...]] = {}
    for row in session.scalars(select(ProductDrugIndication).where(
            ProductDrugIndication.product_id == product_id)):
        code = normalize_code(row.drug_code)
        indications[code] = (*indications.get(code, ()), row.icd_prefix.upper())
    pharmacies = {row.code: row.name for row in session.scalars(
        select(ProductPharmacy).where(ProductPharmacy.product_id == product_id))}
    return SpecialDrugRules(drugs, indications, pharmacies)


def check_kind(session: Session, product_id: int, city_code: str, facts: KindFacts) -> KindRule:
    """The product's rule for this claim's kind, or ``InvalidInput`` with every problem."""
    offered = kind_rules(session, product_id)
    drugs = special_drug_rules(session, product_id)
    problems = kinds.kind_problems(facts, offered, city_code, drugs)
    if problems:
        first = next(iter(problems.values()))[0]
        raise InvalidInput(first, code="claim_kind_invalid", errors=problems)
    return offered[facts.kind]


# ---------------------------------------------------------------- payees


@dataclass(frozen=True)
class PayeeInput:
    kind: PayeeKind
    card_no: str
    name: str | None = None  # guardian or heir
    id_number: str | None = None  # guardian or heir
    relation: str | None = None


@dataclass(frozen=True)
class CheckedPayee:
    kind: PayeeKind
    holder_name: str
    holder_id_number: str
    relation: str | None
    card_no: str
    bank_name: str
    reference: str

    def row(self, claim_id: int, verified_at: object) -> ClaimPayee:
        return ClaimPayee(claim_id=claim_id, kind=self.kind.value, holder_name=self.holder_name,
                          holder_id_number=self.holder_id_number, relation=self.relation,
                          card_no=self.card_no, card_last4=self.card_no[-4:],
                          bank_name=self.bank_name, check_reference=self.reference,
                          verified_at=verified_at)


def _bad(field: str, message: str) -> InvalidInput:
    return InvalidInput(message, code="payee_invalid", errors={field: [message]})


def check_payee(c: Container, payee: PayeeInput, *, insured_name: str, insured_id: str,
                agent_id: str | None, today: date) -> CheckedPayee:
    """The payee as the rules allow and the bank confirms (remote calls: outside transactions).
    ``agent_id`` is the ID number of whoever files for the insured under a grant."""
    if payee.kind is PayeeKind.SELF:
        holder_name, holder_id = insured_name, insured_id
    else:
        holder_name = (payee.name or "").strip()
        if not holder_name:
            raise _bad("payee.name", "请填写收款人姓名")
        try:
            holder_id = parse_id(payee.id_number or "", today=today).value
        except InvalidIdNumber as exc:
            raise _bad("payee.id_number", str(exc)) from exc
    insured_age = age_on(parse_id(insured_id, today=today).birth_date, today)
    is_parent = False
    if payee.kind is PayeeKind.GUARDIAN and holder_id != insured_id:
        try:
            is_parent = any(link.relative_id_number == holder_id
                            and link.relation is Relation.PARENT
                            for link in c.registry.relations(insured_id))
        except RegistryUnavailable as exc:
            raise Busy("医保信息平台暂时无法访问，请稍后重试", code="registry_unavailable") from exc
    problem = payee_problem(payee.kind, insured_age=insured_age,
                            payee_is_insured=holder_id == insured_id, payee_is_parent=is_parent,
                            payee_is_agent=agent_id is not None and agent_id == holder_id)
    if problem is not None:
        raise _bad(*problem)
    card = normalize_card(payee.card_no)
    if c.bank_cards is None:
        raise Busy(BANK_CHECK_OFF, code="bank_card_check_unavailable")
    try:
        check = c.bank_cards.verify(card, holder_name, holder_id)
    except BankServiceUnavailable as exc:
        raise Busy(BANK_CHECK_DOWN, code="bank_card_check_unavailable") from exc
    if check.outcome is CardOutcome.INVALID:
        raise _bad("payee.card_no", "银行卡号无效，请核对后重新填写")
    if check.outcome is CardOutcome.MISMATCHED:
        raise _bad("payee.card_no",
                   f"该银行卡不是{_whose(payee.kind)}名下的银行卡，请填写{_whose(payee.kind)}"
                   "本人的银行卡")
    return CheckedPayee(payee.kind, normalize_name(holder_name), holder_id,
                        payee.relation, card, check.bank_name, check.reference)


def _whose(kind: PayeeKind) -> str:
    return {PayeeKind.SELF: "被保险人", PayeeKind.GUARDIAN: "监护人",
            PayeeKind.HEIR: "继承人"}[kind]


def documents_for(rule: KindRule, payee_kind: PayeeKind | None) -> Sequence[str]:
    """The documents this claim needs: its kind's, and an heir's proofs."""
    extra = HEIR_DOCUMENTS if payee_kind is PayeeKind.HEIR else ()
    return (*rule.documents, *extra)


# ---------------------------------------------------------------- the product's kinds


@dataclass(frozen=True)
class ProductKinds:
    product_id: int
    rules: tuple[KindRule, ...]
    pharmacies: tuple[ProductPharmacy, ...]


def product_kinds(c: Container, product_id: int) -> ProductKinds:
    """A published product's claim kinds (documents, promises) and designated pharmacies."""
    with c.db.read() as session:
        product = session.get(Product, product_id)
        if product is None or product.status != ProductStatus.PUBLISHED.value:
            raise NotFound("未找到该产品")
        pharmacies = tuple(session.scalars(select(ProductPharmacy).where(
            ProductPharmacy.product_id == product_id).order_by(ProductPharmacy.code)))
        return ProductKinds(product_id, tuple(kind_rules(session, product_id).values()),
                            pharmacies)


def set_product_kinds(c: Container, actor_account_id: int, role: str, product_id: int,
                      rules: Sequence[KindRule]) -> ProductKinds:
    """A draft product's claim kinds, validated against the law's limits (Chinese reasons)."""
    problems = kinds.kind_rule_problems(rules)
    if problems:
        raise InvalidInput(next(iter(problems.values()))[0], code="claim_kinds_invalid",
                           errors=problems)
    with c.db.transaction() as session:
        product = session.get(Product, product_id)
        if product is None:
            raise NotFound("未找到该产品")
        if product.status != ProductStatus.DRAFT.value:
            raise RuleViolation("产品已发布，理赔类型和时限不能再修改", code="product_not_draft")
        session.execute(delete(ProductClaimKind).where(ProductClaimKind.product_id == product_id))
        session.add_all(ProductClaimKind(
            product_id=product_id, kind=rule.kind.value, position=index,
            documents=[d.strip() for d in rule.documents],
            decide_within_working_days=rule.decide_within_working_days,
            pay_within_days=rule.pay_within_days) for index, rule in enumerate(rules))
        audit.record(session, c.clock, AuditEntry(
            action="product.claim_kinds", actor=AuditActor(actor_account_id, role),
            object_type="product", object_id=str(product_id),
            details={"kinds": [rule.kind.value for rule in rules]}))
    with c.db.read() as session:
        return ProductKinds(product_id, tuple(kind_rules(session, product_id).values()),
                            tuple(session.scalars(select(ProductPharmacy).where(
                                ProductPharmacy.product_id == product_id))))
