"""Enrolling a person on a staff member's initiative (employer batch, subsidy roster, counter).

The enrollment domain's own use cases do the work — quote (every rule), create the order, book
the payment and issue the policy — with the staff member as the actor and the person as the
subject on the basis of the staff role, as ``enrollment.renewal`` does for renewals. Registry
look-ups happen between short database sessions, never inside one.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import selectinload

from huiminbao.catalog.domain import ProductStatus
from huiminbao.catalog.models import Product
from huiminbao.core.container import Container
from huiminbao.core.errors import InvalidInput, RuleViolation
from huiminbao.core.masking import mask_name, normalize_name
from huiminbao.enrollment import completing, ordering, quoting, subsidy_funds
from huiminbao.enrollment.domain import PaymentMethod, PolicyStatus, eligibility, window_refusal
from huiminbao.enrollment.models import Order, OrderItem, Policy
from huiminbao.identity.access import Subject
from huiminbao.identity.auth import Actor
from huiminbao.identity.domain import Basis
from huiminbao.payments import ledger
from huiminbao.registry.port import RegistryPerson


@dataclass(frozen=True)
class Enrolled:
    order_no: str
    policy_no: str
    premium_fen: int
    subsidy_fen: int
    payable_fen: int


def enroll_for(c: Container, staff: Actor, person_id: int, product_id: int, tier_code: str,
               method: PaymentMethod, *, channel: str, offline_source: str | None = None,
               subsidy_fund: str | None = None) -> Enrolled:
    """Quote, order, pay and issue for one person; raises the enrollment domain's own errors
    (already insured, window closed, …) with their Chinese messages. ``subsidy_fund``: the
    payer a roster or a donor's list names (else the payer rule decides)."""
    subject = Subject(person_id, Basis.STAFF_ROLE)
    request = quoting.EnrollmentRequest(
        product_id=product_id, insured=[quoting.InsuredChoice(person_id, tier_code)],
        payment_method=method,
        # The staff member reads the notice and terms with the person (or the employer signed
        # the group agreement); no personal-account debit is ever confirmed here.
        confirmations=quoting.Confirmations(None, True, None, None),
    )
    quote = quoting.quote(c, staff, subject, request, staff_recorded=True)
    order = ordering.create_order(c, staff, subject, quote, channel=channel)
    if subsidy_fund is not None and order.subsidy_fen:
        with c.db.transaction() as session:
            subsidy_funds.assign_fund(session, order.order_no, subsidy_fund)
    order = completing.complete_payment(c, order.order_no, transaction_id=None,
                                      offline_source=offline_source, items=order.items)
    policy = next(item.policy for item in order.items if item.policy is not None)
    return Enrolled(order.order_no, policy.policy_no, order.premium_fen, order.subsidy_fen,
                    order.payable_fen)


def open_product(c: Container, product_id: int) -> Product:
    """A published product whose enrollment window is open today."""
    with c.db.read() as session:
        product = session.scalars(
            select(Product).where(Product.id == product_id)
            .options(selectinload(Product.tiers))).one_or_none()
    if product is None or product.status != ProductStatus.PUBLISHED.value:
        raise InvalidInput("请选择已发布的产品", errors={"product_id": ["未找到已发布的该产品"]})
    closed = window_refusal(product.name, product.window, c.clock.today())
    if closed is not None:
        raise RuleViolation(closed.message, code=closed.code)
    return product


def paid_from(c: Container, product_id: int, person_id: int, account: str) -> str | None:
    """The policy number of the person's live policy for the product if its premium came from
    ``account`` (as the payment's ledger transaction booked it), else None."""
    with c.db.read() as session:
        row = session.execute(
            select(Policy.policy_no, Order.order_no)
            .join(OrderItem, OrderItem.id == Policy.order_item_id)
            .join(Order, Order.id == OrderItem.order_id)
            .where(Policy.product_id == product_id, Policy.insured_person_id == person_id,
                   Policy.status == PolicyStatus.ACTIVE.value)
        ).first()
        if row is None:
            return None
        booked = session.scalars(
            select(ledger.LedgerEntry.id)
            .join(ledger.LedgerTransaction,
                  ledger.LedgerTransaction.id == ledger.LedgerEntry.transaction_id)
            .where(ledger.LedgerTransaction.reference == f"pay:{row.order_no}",
                   ledger.LedgerEntry.account == account)
        ).first()
    return str(row.policy_no) if booked is not None else None


def registry_problem(found: RegistryPerson | None, typed_name: str, city_code: str,
                     city_name: str) -> str | None:
    """Why a listed person cannot be enrolled, in the third person (for reports)."""
    refusal = eligibility(found, city_code, city_name)
    if refusal is not None and refusal.code == "not_insured":
        return refusal.report
    assert found is not None
    if normalize_name(found.name) != normalize_name(typed_name):
        return "姓名与医保登记信息不一致"
    return refusal.report if refusal is not None else None


def masked(name: str) -> str:
    return mask_name(name) if name else ""
