"""Counter-assisted enrollment (002 三(四): offline channels): a walk-in resident is enrolled by
counter staff, who check the identity document and take the premium in cash (or record a
subsidized enrollment). Recorded as channel ``counter``; the staff member, the person and the
receipt number go into the audit log, and the cash into ``counter_cash:<city>``."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select

from huiminbao.audit import services as audit
from huiminbao.audit.services import AuditActor, AuditEntry
from huiminbao.catalog.domain import ProductStatus
from huiminbao.catalog.models import Product
from huiminbao.console.bulk import tier_choices, tier_for
from huiminbao.console.enrolling import enroll_for, open_product, registry_problem
from huiminbao.console.models import CounterEnrollment
from huiminbao.core import idnumber
from huiminbao.core.container import Container
from huiminbao.core.errors import Forbidden, InvalidInput, RuleViolation
from huiminbao.core.masking import mask_id_number, mask_name, mask_phone, normalize_name
from huiminbao.enrollment.domain import PaymentMethod
from huiminbao.identity import services as identity_services
from huiminbao.identity.auth import Actor
from huiminbao.identity.domain import STAFF_PERMISSIONS, Action, BindingVerification
from huiminbao.identity.models import UserAccount
from huiminbao.identity.services import IDENTITY_MISMATCH, person_for

COUNTER_METHODS = (PaymentMethod.COUNTER_CASH, PaymentMethod.SUBSIDY)
ID_NOT_CHECKED = "请先核验本人有效身份证件原件，并勾选确认"
RECEIPT_REQUIRED = "现金缴费请填写收据编号"


def counter_account(city_code: str) -> str:
    return f"{PaymentMethod.COUNTER_CASH.value}:{city_code}"


@dataclass(frozen=True)
class CounterRequest:
    id_number: str
    name: str
    tier: str
    payment: PaymentMethod
    id_document_checked: bool
    receipt_no: str | None
    product_id: int | None = None


@dataclass(frozen=True)
class CounterResult:
    order_no: str
    policy_no: str
    product: Product
    tier_code: str
    insured_name: str  # masked
    id_number: str  # masked
    premium_fen: int
    subsidy_fen: int
    paid_fen: int
    payment: PaymentMethod
    receipt_no: str | None
    staff_name: str


def require_counter_staff(actor: Actor) -> None:
    if Action.COUNTER_SERVICE not in STAFF_PERMISSIONS[actor.role]:
        raise Forbidden("无权进行此操作")


def enroll_walk_in(c: Container, staff: Actor, request: CounterRequest) -> CounterResult:
    require_counter_staff(staff)
    errors: dict[str, list[str]] = {}
    try:
        parsed = idnumber.parse(request.id_number, today=c.clock.today())
    except idnumber.InvalidIdNumber as exc:
        errors["id_number"] = [exc.message]
    name = normalize_name(request.name)
    if not name:
        errors["name"] = ["请填写姓名"]
    if request.payment not in COUNTER_METHODS:
        errors["payment"] = ["窗口只能办理现金缴费（counter_cash）或政府资助（subsidy）"]
    if not request.id_document_checked:
        errors["evidence.id_document_checked"] = [ID_NOT_CHECKED]
    receipt = (request.receipt_no or "").strip() or None
    if request.payment is PaymentMethod.COUNTER_CASH and receipt is None:
        errors["evidence.receipt_no"] = [RECEIPT_REQUIRED]
    if errors:
        raise InvalidInput(next(iter(errors.values()))[0], errors=errors)

    product = _product(c, request.product_id)
    tier = tier_for(product, request.tier)
    if tier is None:
        message = f"保障档次不存在，可选：{tier_choices(product)}"
        raise InvalidInput(message, errors={"tier": [message]})

    registered = c.registry.find_person(parsed.value)
    problem = registry_problem(registered, name, product.city_code, product.city_name)
    if problem == "姓名与医保登记信息不一致" or registered is None:
        raise RuleViolation(IDENTITY_MISMATCH, code="identity_mismatch")
    if problem:
        raise RuleViolation(problem, code="not_eligible")

    now = c.clock.now()
    with c.db.transaction() as session:
        person_id = person_for(session, parsed.value, registered.name, now).id
        staff_account = session.get(UserAccount, staff.account_id)
    source = counter_account(product.city_code) \
        if request.payment is PaymentMethod.COUNTER_CASH else None
    enrolled = enroll_for(c, staff, person_id, product.id, tier.code, request.payment,
                          channel="counter", offline_source=source)
    with c.db.transaction() as session:
        session.add(CounterEnrollment(
            order_no=enrolled.order_no, person_id=person_id, staff_account_id=staff.account_id,
            city_code=product.city_code, payment_method=request.payment.value,
            id_document_checked=True, receipt_no=receipt, created_at=now))
        audit.record(session, c.clock, AuditEntry(
            action="counter.enroll", actor=AuditActor(staff.account_id, staff.role.value),
            subject_person_id=person_id, object_type="order", object_id=enrolled.order_no,
            details={"basis": "staff_role", "channel": "counter",
                     "payment": request.payment.value, "receipt_no": receipt,
                     "id_document_checked": True, "insured": mask_name(registered.name),
                     "id_number": mask_id_number(parsed.value),
                     "policy_no": enrolled.policy_no},
        ))
    return CounterResult(
        order_no=enrolled.order_no, policy_no=enrolled.policy_no, product=product,
        tier_code=tier.code, insured_name=mask_name(registered.name),
        id_number=mask_id_number(parsed.value), premium_fen=enrolled.premium_fen,
        subsidy_fen=enrolled.subsidy_fen, paid_fen=enrolled.payable_fen,
        payment=request.payment, receipt_no=receipt,
        staff_name=(staff_account.display_name if staff_account else None) or "窗口工作人员",
    )


def _product(c: Container, product_id: int | None) -> Product:
    """The product asked for, or the deployment city's product open today."""
    if product_id is None:
        today = c.clock.today()
        with c.db.read() as session:
            product_id = session.scalars(
                select(Product.id).where(
                    Product.city_code == c.settings.city_code,
                    Product.status == ProductStatus.PUBLISHED.value,
                    Product.window_opens_on <= today, Product.window_closes_on >= today)
                .order_by(Product.id.desc())).first()
        if product_id is None:
            raise RuleViolation("当前没有开放投保的产品", code="window_closed")
    return open_product(c, product_id)


IDENTITY_NOT_CHECKED = "请先核验本人有效身份证件原件并由本人签署两份同意书，再勾选确认"


@dataclass(frozen=True)
class CounterIdentityResult:
    phone: str  # masked
    name: str  # masked
    id_number: str  # masked
    verified_by: BindingVerification
    displaced: bool
    staff_name: str


def verify_identity(c: Container, staff: Actor, phone: str, name: str, id_number: str, *,
                    id_document_checked: bool, consents_signed: bool) -> CounterIdentityResult:
    """Counter staff verified the resident's ID card in person: the account that
    signs in with ``phone`` is bound to the person, verified by ``counter`` with the staff
    account recorded on it and in the audit log (identity.bind / identity.verify)."""
    require_counter_staff(staff)
    if not (id_document_checked and consents_signed):
        raise RuleViolation(IDENTITY_NOT_CHECKED, code="id_not_checked",
                            errors={"evidence": [IDENTITY_NOT_CHECKED]})
    outcome = identity_services.verify_at_counter(c, staff.account_id, staff.role, phone, name,
                                                  id_number)
    with c.db.read() as session:
        account = session.get(UserAccount, staff.account_id)
        staff_name = (account.display_name if account else None) or staff.role.label
    parsed = idnumber.parse(id_number, today=c.clock.today())
    return CounterIdentityResult(
        phone=mask_phone(phone.strip()), name=mask_name(normalize_name(name)),
        id_number=mask_id_number(parsed.value),
        verified_by=outcome.verified_by or BindingVerification.COUNTER,
        displaced=outcome.displaced, staff_name=staff_name)
