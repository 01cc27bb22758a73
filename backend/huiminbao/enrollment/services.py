"""Enrollment use cases: preview, enroll and pay, complete a payment, cancel and refund.

Money moves outside our database (the registry's personal accounts, the payment gateway), so a
use case never holds one transaction across a remote call. The order is written first (its
unique index claims the insured persons), then the remote side is asked with the order's request
number, then the outcome is written. If the process dies in between, ``reconcile`` asks the
remote side with the same number and finishes the order: money never moves twice.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from contextlib import suppress
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, joinedload, selectinload
from sqlalchemy.orm.attributes import set_committed_value

from huiminbao.audit import services as audit
from huiminbao.audit.services import AuditActor, AuditEntry
from huiminbao.catalog.models import Product, Tier
from huiminbao.core.container import Container
from huiminbao.core.errors import (
    Busy,
    Conflict,
    InvalidInput,
    NotFound,
    RemoteUnavailable,
    RuleViolation,
)
from huiminbao.core.idempotency import link_resource
from huiminbao.core.idnumber import age_on
from huiminbao.core.masking import mask_name
from huiminbao.core.money import format_fen
from huiminbao.enrollment import numbers, subsidy_funds
from huiminbao.enrollment.domain import (
    PAYMENT_ATTEMPT_WINDOW,
    UNPAID_ORDER_LIFETIME,
    OrderStatus,
    PaymentMethod,
    PolicyStatus,
    can_pay_from_personal_account,
    eligibility,
    is_subsidized,
    price,
    relief_choice_refusal,
    transition,
    window_refusal,
)
from huiminbao.enrollment.models import Order, OrderItem, Policy, Refund, SubsidyUse
from huiminbao.identity import consent_gate
from huiminbao.identity import services as identity_services
from huiminbao.identity.access import Subject, require_access, require_verified_binding
from huiminbao.identity.auth import Actor
from huiminbao.identity.consent_rules import Purpose
from huiminbao.identity.domain import Action, OtpPurpose
from huiminbao.identity.models import Person
from huiminbao.identity.sms_domain import SmsTemplate, SmsText
from huiminbao.payments import ledger
from huiminbao.payments.gateway import (
    GatewayError,
    GatewayRequestConflict,
    GatewayUnavailable,
    RefundNotification,
    TradeNotFound,
    TradeState,
)
from huiminbao.proxy import notices as proxy_notices
from huiminbao.proxy import payments as proxy_payments
from huiminbao.registry.port import (
    BalanceKind,
    FailureReason,
    RegistryPerson,
    RegistryUnavailable,
)

log = logging.getLogger(__name__)

ALREADY_INSURED = "已参保：{name}已有本年度{product}的有效保单，无需重复投保"
PENDING_ORDER = "{name}已有一笔待支付的订单，请先完成或取消该订单"
DEBIT_FAILED = "个人账户扣款未成功"
NEVER_SENT = "支付未完成，订单已关闭，未扣除任何费用"
PAYMENT_CLOSED = "支付已关闭，订单已取消，未扣除任何费用"
EXPIRED = "超过30分钟未支付，订单已关闭"
PAYMENT_UNKNOWN = "暂时无法确认该订单的付款结果，请稍后再试"
OFFLINE_INTERRUPTED = "办理中断，订单已关闭，未记录任何缴费，请重新办理"
PAYMENT_IN_PROGRESS = "该订单正在从医保个人账户扣款，请稍后刷新查看结果"
PAID_NOT_CANCELLED = "该订单已付款成功并已出单，不能取消。如需退保，请在“我的保单”中办理"
OFFLINE_METHOD = ("单位缴费和窗口现金缴费只能由单位经办或经办窗口工作人员办理，"
                  "请选择其他支付方式")


# ---------------------------------------------------------------- requests and answers


@dataclass(frozen=True)
class InsuredChoice:
    person_id: int
    tier_code: str


@dataclass(frozen=True)
class Confirmations:
    terms_version: str | None
    not_basic_insurance: bool
    debit_amount_fen: int | None
    sms_code: str | None


@dataclass(frozen=True)
class EnrollmentRequest:
    product_id: int
    insured: Sequence[InsuredChoice]
    payment_method: PaymentMethod
    confirmations: Confirmations
    return_url: str = ""
    notify_url: str = ""
    payer_ip: str = ""  # online: the payer's client address (WeChat Pay H5)


@dataclass(frozen=True)
class Line:
    person: Person
    registry_person: RegistryPerson
    tier: Tier
    premium_fen: int
    subsidy_fen: int
    relation: str = "self"  # self | spouse | child | parent
    verified: bool = True  # the relation is verified (always true for oneself)

    @property
    def payable_fen(self) -> int:
        return self.premium_fen - self.subsidy_fen


@dataclass
class Quote:
    product: Product
    lines: list[Line]
    payment_method: PaymentMethod
    payer: RegistryPerson | None = None
    payer_person_id: int | None = None
    balance_before_fen: int | None = None
    needs_sms_code: bool = False
    problems: list[str] = field(default_factory=list)

    @property
    def premium_fen(self) -> int:
        return sum(line.premium_fen for line in self.lines)

    @property
    def subsidy_fen(self) -> int:
        return sum(line.subsidy_fen for line in self.lines)

    @property
    def payable_fen(self) -> int:
        return self.premium_fen - self.subsidy_fen

    @property
    def balance_after_fen(self) -> int | None:
        if self.balance_before_fen is None:
            return None
        return self.balance_before_fen - self.payable_fen

    @property
    def shortfall_fen(self) -> int:
        if self.balance_before_fen is None:
            return 0
        return max(0, self.payable_fen - self.balance_before_fen)


# ---------------------------------------------------------------- quoting


def payable_sources(product: Product) -> list[BalanceKind]:
    return [BalanceKind(kind) for kind in product.payable_balances.split(",")]


def _open_product(c: Container, product_id: int) -> Product:
    product = c.products.get(product_id)
    if product is None:
        raise NotFound("未找到该产品")
    closed = window_refusal(product.name, product.window, c.clock.today())
    if closed is not None:
        raise RuleViolation(closed.message, code=closed.code)
    return product


def _subsidy_used(session: Session, person_id: int, year: int) -> bool:
    return session.scalars(
        select(SubsidyUse.id).where(SubsidyUse.person_id == person_id, SubsidyUse.year == year,
                                    SubsidyUse.active)
    ).first() is not None


def quote(c: Container, actor: Actor, subject: Subject, request: EnrollmentRequest, *,
          staff_recorded: bool = False) -> Quote:
    """Everything the confirm sheet shows, checked against every rule; nothing is written.

    Registry calls happen between our own short read sessions, never inside one, so no
    transaction stays open while the registry answers.
    Offline payment methods (employer, counter cash) only on ``staff_recorded`` paths."""
    if request.payment_method.is_offline and not staff_recorded:
        raise RuleViolation(OFFLINE_METHOD, code="offline_method",
                            errors={"payment_method": [OFFLINE_METHOD]})
    if not request.insured:
        raise InvalidInput("请选择被保险人", errors={"insured": ["请至少选择一位被保险人"]})
    person_ids = [choice.person_id for choice in request.insured]
    if len(set(person_ids)) != len(person_ids):
        raise InvalidInput("同一位被保险人不能在一笔订单中出现两次",
                           errors={"insured": ["被保险人重复"]})
    product = _open_product(c, request.product_id)
    relations: dict[int, tuple[str, bool]] = {}
    relatives = [pid for pid in person_ids if pid != subject.person_id]
    with c.db.read() as session:
        consent_gate.require(c, session, actor,
                             enrollment_purposes(request.payment_method, relatives),
                             principal_person_id=subject.person_id, others=relatives)
        people = {p.id: p for p in session.scalars(select(Person).where(Person.id.in_(person_ids)))}
        for index, choice in enumerate(request.insured):
            person = people.get(choice.person_id)
            link = relation_to(session, subject, person) if person else None
            if person is None or link is None:
                raise InvalidInput(
                    "只能为本人、配偶、子女和父母投保，请先在“家人”中添加该亲属",
                    errors={f"insured.{index}": ["不是您的家庭成员"]})
            relations[person.id] = link
            if product.tier(choice.tier_code) is None:
                raise InvalidInput("所选保障档次不存在",
                                   errors={f"insured.{index}.tier": ["档次不存在"]})
        # Read now, reported after the registry's verdict (which comes first for the user).
        taken = _places_taken(session, product, person_ids)
        payer_person = people.get(subject.person_id) or session.get(Person, subject.person_id)
        already_paid_for = (
            _persons_paid_by(session, product.id, subject.person_id)
            if request.payment_method is PaymentMethod.PERSONAL_ACCOUNT else set())

    registered = c.registry.find_persons([people[pid].id_number for pid in person_ids])
    for choice in request.insured:
        person = people[choice.person_id]
        found = registered.get(person.id_number)
        refusal = (eligibility(found, product.city_code, product.city_name)
                   or relief_choice_refusal(found, product.subsidized_category_list))
        if refusal is not None:
            message = refusal.message
            if person.id != subject.person_id:
                message = f"{mask_name(person.name)}：{message}"
            raise RuleViolation(message, code=refusal.code)
    taken = _settle_pending_holders(c, product, person_ids, taken)
    _refuse_taken(product, [people[pid] for pid in person_ids], taken)

    subsidized = [pid for pid in person_ids
                  if is_subsidized(registered[people[pid].id_number],
                                   product.subsidized_category_list)]
    subsidy_used: set[int] = set()
    if subsidized:
        with c.db.read() as session:
            subsidy_used = {pid for pid in subsidized
                            if _subsidy_used(session, pid, product.year)}
    lines: list[Line] = []
    for choice in request.insured:
        person = people[choice.person_id]
        tier = product.tier(choice.tier_code)
        assert tier is not None
        subsidy_base = None
        if person.id in subsidized and person.id not in subsidy_used:
            subsidized_tier = product.subsidized_tier
            assert subsidized_tier is not None  # a product has at least one tier
            subsidy_base = subsidized_tier.premium_fen
        cost = price(tier.premium_fen, subsidy_base)
        relation, verified = relations[person.id]
        lines.append(Line(person, registered[person.id_number], tier, cost.premium_fen,
                          cost.subsidy_fen, relation, verified))

    _check_minors(c, lines)
    result = Quote(product=product, lines=lines, payment_method=request.payment_method)
    _check_payment_method(c, actor, payer_person, result, registered)
    if result.payment_method is PaymentMethod.PERSONAL_ACCOUNT:
        _check_family_rules(result, already_paid_for)
        if subject.acting_for:
            # Proxy: an agent pays from the principal's account only under a grant
            # with that scope and within its yearly limit. Re-checked under a lock at create.
            with c.db.read() as session:
                proxy_payments.check_payment_allowed(c, session, subject.grant_id,
                                                     result.payable_fen)
    return result


def enrollment_purposes(method: PaymentMethod, relatives: Sequence[int]) -> list[Purpose]:
    """What an enrollment processes data for: the consent gate stops it if any is withdrawn."""
    purposes = [Purpose.ENROLL]
    if relatives:
        purposes.append(Purpose.FAMILY)
    if method is PaymentMethod.PERSONAL_ACCOUNT:
        purposes.append(Purpose.ACCOUNT_DEBIT)
    return purposes


MAX_PERSONS_PER_ACCOUNT = 6


def relation_to(session: Session, subject: Subject, person: Person) -> tuple[str, bool] | None:
    """The insured person's relation to the subject, and whether it is verified; None if the
    subject may not buy for them (only self, spouse, children and parents)."""
    if person.id == subject.person_id:
        return "self", True
    from huiminbao.enrollment.family import active_member

    member = active_member(session, subject.person_id, person.id)
    if member is None:
        return None
    return member.relation, member.verification != "pending"


def _check_minors(c: Container, lines: Sequence[Line]) -> None:
    today = c.clock.today()
    for line in lines:
        if age_on(line.person.birth_date, today) < 14 and line.relation not in {"self", "child"}:
            raise RuleViolation(
                f"{mask_name(line.person.name)}未满14周岁，只能由其父母（监护人）投保",
                code="minor_needs_guardian")


def _persons_paid_by(session: Session, product_id: int, payer_person_id: int) -> set[int]:
    rows = session.scalars(
        select(OrderItem.insured_person_id).join(Order, Order.id == OrderItem.order_id)
        .where(Order.product_id == product_id, Order.payer_person_id == payer_person_id,
               Order.payment_method == PaymentMethod.PERSONAL_ACCOUNT.value,
               OrderItem.holds_place)
    )
    return set(rows)


def _check_family_rules(result: Quote, already_paid_for: set[int]) -> None:
    for line in result.lines:
        if not line.verified:
            raise RuleViolation(
                f"{mask_name(line.person.name)}的亲属关系尚未核验，不能使用个人账户为其缴费。"
                "请先完成核验，或选择在线支付", code="relation_unverified")
    persons = already_paid_for | {line.person.id for line in result.lines}
    if len(persons) > MAX_PERSONS_PER_ACCOUNT:
        raise RuleViolation(f"每个医保个人账户每年最多为{MAX_PERSONS_PER_ACCOUNT}人缴纳本产品保费，"
                            "其余家人请选择在线支付", code="account_person_limit")


@dataclass(frozen=True)
class PlaceHolder:
    """The order holding an insured person's place in a product."""

    status: str
    order_no: str


def _places_taken(session: Session, product: Product,
                  person_ids: Sequence[int]) -> dict[int, PlaceHolder]:
    """Whose place in the product is held, and by which order: one indexed lookup.
    An item holds its place while its order is pending or its policy live."""
    rows = session.execute(
        select(OrderItem.insured_person_id, Order.status, Order.order_no)
        .join(Order, Order.id == OrderItem.order_id)
        .where(OrderItem.product_id == product.id, OrderItem.insured_person_id.in_(person_ids),
               OrderItem.holds_place)
    ).all()
    return {int(person_id): PlaceHolder(status, order_no)
            for person_id, status, order_no in rows}


def _settle_pending_holders(c: Container, product: Product, person_ids: Sequence[int],
                            taken: dict[int, PlaceHolder]) -> dict[int, PlaceHolder]:
    """A place held by a pending order may belong to an order whose payment went through
    without its answer (a crash) or never reached the payment side: settle those first, so the
    person hears 已参保 or may enroll again, rather than waiting out the 30 minutes."""
    pending = {holder.order_no for holder in taken.values()
               if holder.status == OrderStatus.PENDING_PAYMENT.value}
    if not pending:
        return taken
    for order_no in sorted(pending):
        resolve_pending(c, order_no)
    with c.db.read() as session:
        return _places_taken(session, product, person_ids)


def _refuse_taken(product: Product, persons: Sequence[Person],
                  taken: dict[int, PlaceHolder]) -> None:
    for person in persons:
        holder = taken.get(person.id)
        if holder is None:
            continue
        if holder.status == OrderStatus.PENDING_PAYMENT.value:
            raise RuleViolation(PENDING_ORDER.format(name=mask_name(person.name)),
                                code="pending_order")
        raise RuleViolation(ALREADY_INSURED.format(name=mask_name(person.name),
                                                   product=product.name),
                            code="already_insured")


def _check_payment_method(c: Container, actor: Actor, payer_person: Person | None,
                          result: Quote, registered: dict[str, RegistryPerson]) -> None:
    method = result.payment_method
    if method is PaymentMethod.SUBSIDY:
        if result.subsidy_fen == 0:
            raise RuleViolation("您不属于政府资助参保对象，或本年度已享受过一次资助参保，"
                                "请选择个人账户或在线支付", code="not_subsidized")
        if result.payable_fen > 0:
            raise RuleViolation(
                f"所选档次超出资助标准，需自付差额{format_fen(result.payable_fen)}，"
                "请选择个人账户或在线支付", code="subsidy_difference")
        return
    if result.payable_fen == 0:
        raise RuleViolation("本单保费已由政府资助全额支付，请选择“政府资助”方式参保",
                            code="fully_subsidized")
    if method is PaymentMethod.PERSONAL_ACCOUNT:
        require_verified_binding(actor)  # before any balance is read
        # The payer is usually among the insured, whose registry records are already here.
        payer = None if payer_person is None else (
            registered.get(payer_person.id_number) or c.registry.find_person(
                payer_person.id_number))
        if payer is None or payer_person is None or not can_pay_from_personal_account(payer):
            raise RuleViolation("城乡居民医保参保人员没有医保个人账户，请选择在线支付",
                                code="no_personal_account")
        balance = c.registry.balance(payer.id_number)
        result.payer, result.payer_person_id = payer, payer_person.id
        result.balance_before_fen = (balance.available(payable_sources(result.product))
                                     if balance else 0)
        result.needs_sms_code = not identity_services.sheet_confirms_debit(
            c, actor, payer_person.id, payer)


def debit_context(result: Quote) -> str:
    """What a debit's SMS code confirms: this owner, amount, product and insured. A code sent
    for one debit does not confirm another (the amount changed: a new code is needed)."""
    insured = ",".join(str(line.person.id) for line in sorted(
        result.lines, key=lambda line: line.person.id))
    return identity_services.code_context(
        f"debit:{result.payer_person_id}:{result.product.id}:{result.payable_fen}:{insured}")


def debit_code_text(result: Quote) -> dict[str, str]:
    """The debit confirmation text's parameters: the amount and the insured (masked)."""
    return {"amount": format_fen(result.payable_fen),
            "insured": "、".join(mask_name(line.person.name) for line in result.lines)}


def send_debit_code(c: Container, result: Quote) -> tuple[str, datetime]:
    """Text the account owner a code for this very debit, to the phone the registry holds for
    them (never the caller's login phone). Returns the phone (for masking) and the expiry."""
    if result.payment_method is not PaymentMethod.PERSONAL_ACCOUNT or result.payer is None:
        raise RuleViolation("只有医保个人账户支付需要短信确认", code="no_code_needed")
    phone = _owner_phone(result)
    expires_at = identity_services.send_code(c, phone, OtpPurpose.CONFIRM_PAYMENT,
                                             params=debit_code_text(result),
                                             context=debit_context(result))
    return phone, expires_at


def _owner_phone(result: Quote) -> str:
    assert result.payer is not None
    if not result.payer.phone:
        raise RuleViolation("医保登记信息中没有账户本人的手机号，无法确认扣款。"
                            "请选择在线支付，或到经办窗口办理", code="owner_phone_missing")
    return result.payer.phone


# ---------------------------------------------------------------- enrolling


def enroll(c: Container, actor: Actor, subject: Subject,
           request: EnrollmentRequest) -> OrderDetails:
    result = quote(c, actor, subject, request)
    _check_confirmations(c, actor, result, request.confirmations)
    order = create_order(c, actor, subject, result, payer_ip=request.payer_ip or None)
    method = result.payment_method
    if method is PaymentMethod.SUBSIDY:
        order = complete_payment(c, order.order_no, transaction_id=None)
    elif method is PaymentMethod.PERSONAL_ACCOUNT:
        order = debit_personal_account(c, order.order_no, result)
    else:
        payment = c.gateway.create_payment(
            order.payment_request_no, order.payable_fen, f"{result.product.name}保费",
            request.notify_url, request.return_url.replace("{order_no}", order.order_no),
            expires_at=order.expires_at, payer_ip=order.payer_ip)
        _keep_pay_page(c, order, payment.pay_url)
        order = load_order(c, order.order_no)
    # The quote already holds the product and the insured: the answer needs no further reads.
    return OrderDetails(order, result.product.name,
                        {line.person.id: line.person.name for line in result.lines},
                        {tier.code: tier.name for tier in result.product.tiers})


def _check_confirmations(c: Container, actor: Actor, result: Quote,
                         confirmations: Confirmations) -> None:
    terms = result.product.current_terms
    if terms is None or confirmations.terms_version != terms.version:
        raise RuleViolation("请先阅读并同意最新版保险条款", code="terms_not_agreed",
                            errors={"confirmations.terms_version": ["请阅读并同意保险条款"]})
    if not confirmations.not_basic_insurance:
        raise RuleViolation("请确认已知晓本产品为商业保险，不是基本医疗保险",
                            code="notice_not_confirmed",
                            errors={"confirmations.not_basic_insurance": ["请勾选确认"]})
    if result.payment_method is not PaymentMethod.PERSONAL_ACCOUNT:
        return
    if confirmations.debit_amount_fen != result.payable_fen:
        raise RuleViolation(
            f"扣款金额已变化，请重新确认：本次将从个人账户扣除{format_fen(result.payable_fen)}",
            code="amount_not_confirmed",
            errors={"confirmations.debit_amount_fen": ["请确认扣款金额"]})
    if result.shortfall_fen > 0:
        raise RuleViolation(
            f"个人账户可用余额不足，还差{format_fen(result.shortfall_fen)}。"
            "您可以选择在线支付", code="insufficient_balance")
    if result.needs_sms_code:
        # The owner confirms: a code texted to the phone the registry holds for them.
        phone = _owner_phone(result)
        if not confirmations.sms_code:
            raise RuleViolation("为保障资金安全，请获取发送至账户本人医保登记手机号的短信验证码，"
                                "输入后确认扣款", code="sms_code_required",
                                errors={"confirmations.sms_code": ["请输入短信验证码"]})
        with c.db.transaction() as session:
            check = identity_services.consume_code(
                c, session, phone, OtpPurpose.CONFIRM_PAYMENT, confirmations.sms_code,
                context=debit_context(result))
        if not check.accepted:
            raise RuleViolation(check.message, code=check.error_code,
                                errors={"confirmations.sms_code": [check.message]})


def create_order(c: Container, actor: Actor, subject: Subject, result: Quote, *,
                 channel: str | None = None, payer_ip: str | None = None) -> Order:
    now = c.clock.now()
    product = result.product
    terms = product.current_terms
    assert terms is not None
    order_number = numbers.order_no(now)
    order = Order(
        order_no=order_number, product_id=product.id, buyer_account_id=actor.account_id,
        buyer_person_id=subject.person_id, payer_person_id=result.payer_person_id,
        acted_for_grant_id=subject.grant_id,
        channel=channel or ("proxy" if subject.acting_for else "self"),
        status=OrderStatus.PENDING_PAYMENT.value, payment_method=result.payment_method.value,
        premium_fen=result.premium_fen, subsidy_fen=result.subsidy_fen,
        payable_fen=result.payable_fen, refunded_fen=0, terms_version=terms.version,
        payment_request_no=order_number, created_at=now, expires_at=now + UNPAID_ORDER_LIFETIME,
        payer_ip=payer_ip[:45] if payer_ip else None,
    )
    for line in result.lines:
        order.items.append(OrderItem(
            product_id=product.id, insured_person_id=line.person.id, tier_code=line.tier.code,
            premium_fen=line.premium_fen, subsidy_fen=line.subsidy_fen, holds_place=True,
            relation=line.relation,
        ))
    try:
        with c.db.transaction() as session:
            if subject.acting_for and result.payment_method is PaymentMethod.PERSONAL_ACCOUNT:
                # Proxy: locks the grant row until this order commits, so payments
                # under one grant are checked against its yearly limit one at a time.
                proxy_payments.check_payment_allowed(c, session, subject.grant_id,
                                                     result.payable_fen, lock=True)
            session.add(order)
            session.flush()
            link_resource(session, f"order:{order.order_no}")  # a retry answers from it
            for item, line in zip(order.items, result.lines, strict=True):
                if line.subsidy_fen:
                    session.add(SubsidyUse(
                        person_id=line.person.id, year=product.year, order_item_id=item.id,
                        amount_fen=line.subsidy_fen, active=True, created_at=now,
                        fund_account=subsidy_funds.online_fund_account(
                            session, product.city_code, line.registry_person)))
            audit.record(session, c.clock, AuditEntry(
                action="order.create", actor=AuditActor(actor.account_id, actor.role.value),
                subject_person_id=subject.person_id,
                acting_for_person_id=subject.person_id if subject.acting_for else None,
                grant_id=subject.grant_id, object_type="order", object_id=order_number,
                details={"payable_fen": result.payable_fen, "method": result.payment_method.value,
                         "insured": [mask_name(line.person.name) for line in result.lines]},
            ))
    except IntegrityError as exc:
        # Someone (this person on another phone, or a relative) got there first.
        with c.db.read() as session:
            persons = [line.person for line in result.lines]
            _refuse_taken(product, persons, _places_taken(
                session, product, [person.id for person in persons]))
            for line in result.lines:
                if line.subsidy_fen and _subsidy_used(session, line.person.id, product.year):
                    raise RuleViolation("本年度已享受过一次政府资助参保，不能重复资助",
                                        code="subsidy_used") from exc
        raise RuleViolation("订单提交冲突，请刷新后重试", code="conflict") from exc
    return order


def debit_personal_account(c: Container, order_number: str, result: Quote) -> Order:
    assert result.payer is not None
    insured = "、".join(mask_name(line.person.name) for line in result.lines)
    try:
        outcome = c.registry.debit(
            order_number, result.payer.id_number, result.payable_fen,
            sources=payable_sources(result.product),
            purpose=f"{result.product.name}保费（被保险人：{insured}）",
        )
    except RegistryUnavailable:
        log.warning("registry debit outcome unknown for order %s; reconcile will ask",
                    order_number)
        return load_order(c, order_number)
    if not outcome.succeeded:
        reason = ("个人账户可用余额不足" if outcome.failure_reason is
                  FailureReason.INSUFFICIENT_BALANCE else DEBIT_FAILED)
        close_unpaid(c, order_number, OrderStatus.CANCELLED, reason)
        raise RuleViolation(f"{reason}，未扣除任何费用。您可以选择在线支付",
                            code="debit_failed")
    order = complete_payment(c, order_number, transaction_id=None, texts=_debit_notice(result))
    if OrderStatus(order.status).is_closed:
        # Cancelled (another tab) or expired while the debit was on its way: refunded.
        raise Conflict(closed_order_message(c, order), code="order_closed")
    return order


def closed_order_message(c: Container, order: Order) -> str:
    """What the payer is told when money arrived for an order that was already closed."""
    with c.db.read() as session:
        refund = session.scalars(select(Refund).where(
            Refund.order_id == order.id, Refund.policy_id.is_(None))).first()
    amount = format_fen(refund.amount_fen if refund else order.payable_fen)
    to = ("您的医保个人账户" if order.payment_method == PaymentMethod.PERSONAL_ACCOUNT.value
          else "您的付款账户")
    if refund is not None and refund.status == "succeeded":
        return f"订单在付款完成前已关闭，未能出单；已付的{amount}已原路退回{to}"
    if refund is not None and refund.status == "failed":
        return (f"订单在付款完成前已关闭，未能出单；已付的{amount}未能自动退回，"
                "工作人员将人工处理，如有疑问请联系承保公司客服")
    return f"订单在付款完成前已关闭，未能出单；已付的{amount}将原路退回{to}，请留意到账通知"


def _debit_notice(result: Quote) -> list[tuple[str, SmsText]]:
    """The account owner hears of every debit, sent with the order's completion."""
    assert result.payer is not None
    if not result.payer.phone:
        return []
    insured = "、".join(mask_name(line.person.name) for line in result.lines)
    return [(result.payer.phone, SmsText(SmsTemplate.DEBIT_NOTICE, {
        "product": result.product.name, "amount": format_fen(result.payable_fen),
        "insured": insured}))]


# ---------------------------------------------------------------- completing and closing


def complete_payment(c: Container, order_number: str, *, transaction_id: str | None,
                     offline_source: str | None = None,
                     texts: Sequence[tuple[str, SmsText]] = ()) -> Order:
    """Mark the order paid and issue its policies, once. Safe to call again and concurrently:
    the order row is locked and a paid order is left as it is. Offline methods name the ledger
    account the money came from (``employer:<code>``, ``counter_cash:<city>``). ``texts``
    (phone, template and parameters) are queued in the transaction that issues the order, or
    after it when another call (settling the order on a read) issued it first."""
    done = _complete_payment(c, order_number, transaction_id, offline_source, texts)
    if done.refund_no is not None:  # the order was closed: the money goes back
        from huiminbao.enrollment.policies import settle_refund

        settle_refund(c, done.refund_no)
        return load_order(c, order_number)
    order = done.issued
    if order is None:
        if texts:  # another call (a read of the order) issued it first; the texts still go
            with c.db.transaction() as session:
                for phone, text in texts:
                    c.sms.send(session, phone, text.template, text.params)
        return load_order(c, order_number)
    _tell_insured_relatives(c, order)
    proxy_notices.tell_principal(c, order)  # an order made under a grant
    return order


def _tell_insured_relatives(c: Container, order: Order) -> None:
    """Adult family members learn that a policy was bought for them, and by whom (masked)."""
    if all(item.insured_person_id == order.buyer_person_id for item in order.items):
        return  # the common case on the hot path: someone enrolling themself
    product = c.products.get(order.product_id)
    with c.db.read() as session:
        buyer = session.get(Person, order.buyer_person_id)
        product = product or session.get(Product, order.product_id)
        insured = [session.get(Person, item.insured_person_id) for item in order.items
                   if item.insured_person_id != order.buyer_person_id]
    if buyer is None or product is None:
        return
    today = c.clock.today()
    for person in insured:
        if person is None or age_on(person.birth_date, today) < 18:
            continue
        registered = c.registry.find_person(person.id_number)
        if registered is None or not registered.phone:
            continue
        with c.db.transaction() as session:
            c.sms.send(session, registered.phone, SmsTemplate.ENROLLED_BY_RELATIVE, {
                "buyer": mask_name(buyer.name), "product": product.name,
                "starts": f"{product.coverage_starts_on:%Y年%m月%d日}",
                "ends": f"{product.coverage_ends_on:%Y年%m月%d日}"})


@dataclass(frozen=True)
class Completion:
    """What one completion did: issued the order (``issued``, with its items and their new
    policies), found it issued already (neither), or found it closed and booked the money that
    arrived to go back (``refund_no``)."""

    issued: Order | None = None
    refund_no: str | None = None


def _complete_payment(c: Container, order_number: str, transaction_id: str | None,
                      offline_source: str | None = None,
                      texts: Sequence[tuple[str, SmsText]] = ()) -> Completion:
    """The transition itself, in one transaction under the order's lock."""
    now = c.clock.now()
    with c.db.transaction() as session:
        order = _locked_order(session, order_number, with_items=True)
        status = OrderStatus(order.status)
        if status in {OrderStatus.PAID, OrderStatus.ISSUED, OrderStatus.REFUNDED}:
            return Completion()
        if status.is_closed:
            return Completion(refund_no=hold_stray_payment(c, session, order, now))
        product = c.products.get(order.product_id) or session.get(Product, order.product_id)
        assert product is not None
        # Paid, then issued at once: both transitions are checked, one UPDATE is written.
        paid = transition(status, OrderStatus.PAID)
        order.status = transition(paid, OrderStatus.ISSUED).value
        order.paid_at, order.issued_at = now, now
        order.gateway_transaction_id = transaction_id
        _post_payment(session, order, product, now, offline_source)
        for item in order.items:
            policy = Policy(
                policy_no=numbers.policy_no(product.year), order_item_id=item.id,
                product_id=product.id, insured_person_id=item.insured_person_id,
                holder_person_id=order.buyer_person_id, payer_person_id=order.payer_person_id,
                tier_code=item.tier_code, premium_fen=item.premium_fen,
                subsidy_fen=item.subsidy_fen, coverage_starts_on=product.coverage_starts_on,
                coverage_ends_on=product.coverage_ends_on, status=PolicyStatus.ACTIVE.value,
                issued_at=now,
            )
            session.add(policy)
            set_committed_value(item, "policy", policy)  # the answer shows it; no reload
        audit.record(session, c.clock, AuditEntry(
            action="order.paid", actor=AuditActor(order.buyer_account_id),
            subject_person_id=order.buyer_person_id, grant_id=order.acted_for_grant_id,
            object_type="order", object_id=order.order_no,
            details={"payable_fen": order.payable_fen, "method": order.payment_method},
        ))
        for phone, text in texts:
            c.sms.send(session, phone, text.template, text.params)
    return Completion(issued=order)


def hold_stray_payment(c: Container, session: Session, order: Order, now: datetime) -> str:
    """Money arrived for an order already closed (cancelled or expired while the payment was
    on its way): book it as received for return, never as premium, and queue its refund, in the
    caller's transaction (which holds the order's lock). Once per order: a second arrival (a
    duplicate notification, a reconcile run) finds the refund and returns its number."""
    existing = session.scalars(select(Refund.refund_no).where(
        Refund.order_id == order.id, Refund.policy_id.is_(None))).first()
    if existing is not None:
        return existing
    method = PaymentMethod(order.payment_method)
    if method is PaymentMethod.PERSONAL_ACCOUNT:
        assert order.payer_person_id is not None
        source = ledger.personal_account(order.payer_person_id)
    elif method is PaymentMethod.ONLINE:
        source = ledger.GATEWAY
    else:  # subsidy and off-line money is recorded by us, never "arrives": nothing to hold
        raise RuleViolation("订单已关闭，不能再记录缴费", code="order_closed")
    log.warning("payment arrived for closed order %s (%s): refunding it",
                order.order_no, order.status)
    ledger.post(session, kind="payment", reference=f"pay:{order.order_no}",
                order_no=order.order_no, purpose="订单关闭后到账的款项（待退回）",
                moves=[(ledger.STRAY_PAYMENTS, order.payable_fen), (source, -order.payable_fen)],
                now=now)
    refund_no = numbers.stray_refund_no(order.order_no)
    session.add(Refund(refund_no=refund_no, order_id=order.id, policy_id=None,
                       payment_method=order.payment_method, amount_fen=order.payable_fen,
                       subsidy_fen=0, status="pending", created_at=now))
    order.refunded_fen = order.payable_fen
    audit.record(session, c.clock, AuditEntry(
        action="order.stray_payment", actor=AuditActor(order.buyer_account_id),
        subject_person_id=order.buyer_person_id, grant_id=order.acted_for_grant_id,
        object_type="order", object_id=order.order_no,
        details={"refund_fen": order.payable_fen, "status": order.status},
    ))
    return refund_no


def _post_payment(session: Session, order: Order, product: Product, now: datetime,
                  offline_source: str | None = None) -> None:
    method = PaymentMethod(order.payment_method)
    moves: list[tuple[str, int]] = [(ledger.premium_income(product.id), order.premium_fen)]
    if order.subsidy_fen:  # out of each payer's fund (enrollment.subsidy_funds)
        moves += subsidy_funds.payment_moves(session, order, product.city_code)
    if order.payable_fen:
        if method is PaymentMethod.PERSONAL_ACCOUNT:
            assert order.payer_person_id is not None
            moves.append((ledger.personal_account(order.payer_person_id), -order.payable_fen))
        elif method.is_offline:
            # employer:<code> or counter_cash:<city>: the account's prefix is the method itself.
            if offline_source is None or not offline_source.startswith(f"{method.value}:"):
                raise ValueError(f"order {order.order_no}: {method.value} needs its source")
            moves.append((offline_source, -order.payable_fen))
        else:
            moves.append((ledger.GATEWAY, -order.payable_fen))
    ledger.post(session, kind="payment", reference=f"pay:{order.order_no}",
                order_no=order.order_no, purpose=f"{product.name}保费", moves=moves, now=now)


def close_unpaid(c: Container, order_number: str, target: OrderStatus, reason: str) -> Order:
    """Cancel or expire a pending order and release its persons and subsidies."""
    now = c.clock.now()
    with c.db.transaction() as session:
        order = _locked_order(session, order_number)
        if OrderStatus(order.status) is not OrderStatus.PENDING_PAYMENT:
            return order
        order.status = transition(OrderStatus.PENDING_PAYMENT, target).value
        order.closed_at, order.failure_reason = now, reason
        _release(session, order.items)
        audit.record(session, c.clock, AuditEntry(
            action=f"order.{target.value}", actor=AuditActor(order.buyer_account_id),
            subject_person_id=order.buyer_person_id, object_type="order",
            object_id=order.order_no, details={"reason": reason},
        ))
    return load_order(c, order_number)


def _release(session: Session, items: Sequence[OrderItem]) -> None:
    item_ids = [item.id for item in items]
    session.execute(update(OrderItem).where(OrderItem.id.in_(item_ids)).values(holds_place=False))
    session.execute(update(SubsidyUse).where(SubsidyUse.order_item_id.in_(item_ids))
                    .values(active=False))


def _locked_order(session: Session, order_number: str, *, with_items: bool = False) -> Order:
    statement = (select(Order).where(Order.order_no == order_number)
                 .with_for_update(of=Order).execution_options(populate_existing=True))
    if with_items:  # in the same statement; the lock stays on the order row alone
        statement = statement.options(joinedload(Order.items))
    order = session.scalars(statement).unique().one_or_none()
    if order is None:
        raise NotFound("未找到该订单")
    return order


def load_order(c: Container, order_number: str) -> Order:
    with c.db.read() as session:
        order = session.scalars(
            select(Order).where(Order.order_no == order_number)
            .options(selectinload(Order.items).selectinload(OrderItem.policy))
        ).one_or_none()
        if order is None:
            raise NotFound("未找到该订单")
        return order


# ---------------------------------------------------------------- reading orders


@dataclass(frozen=True)
class OrderDetails:
    order: Order
    product_name: str
    names: dict[int, str]
    tier_names: dict[str, str]


def order_details(c: Container, actor: Actor, order_number: str) -> OrderDetails:
    """An order, for its buyer or for whoever may act for the buyer; others get 404."""
    order = load_order(c, order_number)
    cached = c.products.get(order.product_id)  # before the session: a miss reads on its own
    with c.db.read() as session:
        if order.buyer_account_id != actor.account_id:
            require_access(c, session, actor, Action.VIEW_POLICIES, order.buyer_person_id,
                           object_type="order", object_id=order.order_no)
        product = cached or session.scalars(
            select(Product).where(Product.id == order.product_id)
            .options(selectinload(Product.tiers))).one()
        people = session.scalars(select(Person).where(
            Person.id.in_([item.insured_person_id for item in order.items]))).all()
    return OrderDetails(order, product.name, {p.id: p.name for p in people},
                        {tier.code: tier.name for tier in product.tiers})


def my_orders(c: Container, actor: Actor, status: OrderStatus | None) -> list[OrderDetails]:
    """The caller's own orders as buyer, newest first (e.g. an unpaid one to continue)."""
    with c.db.read() as session:
        query = select(Order.order_no).where(Order.buyer_account_id == actor.account_id)
        if status is not None:
            query = query.where(Order.status == status.value)
        numbers_ = session.scalars(query.order_by(Order.id.desc()).limit(50)).all()
    return [order_details(c, actor, number) for number in numbers_]


def resolve_pending(c: Container, order_number: str, *, abandoned: bool = False) -> Order:
    """Settle an order whose payment outcome we have not heard: ask the registry or the gateway
    with the order's request number (never pay again), then complete it, or release it when the
    payment failed, never reached the payment side, or expired.

    ``abandoned``: the request that wrote the order is known to be gone (its Idempotency-Key
    lease ran out), so a payment the other side has not heard of is not still on its way.
    Otherwise that is assumed only after ``PAYMENT_ATTEMPT_WINDOW``. A remote side that does
    not answer leaves the order as it is, for the next read or reconcile."""
    order = load_order(c, order_number)
    if OrderStatus(order.status) is not OrderStatus.PENDING_PAYMENT:
        return order
    now = c.clock.now()
    expired = now >= order.expires_at
    unheard = abandoned or expired or now >= order.created_at + PAYMENT_ATTEMPT_WINDOW
    closed_as = OrderStatus.EXPIRED if expired else OrderStatus.CANCELLED
    method = PaymentMethod(order.payment_method)
    try:
        if method is PaymentMethod.PERSONAL_ACCOUNT:
            outcome = c.registry.query(order.payment_request_no)
            if outcome is not None and outcome.succeeded:
                return complete_payment(c, order_number, transaction_id=None)
            if outcome is not None:
                return close_unpaid(c, order_number, OrderStatus.CANCELLED, DEBIT_FAILED)
            if unheard:
                return close_unpaid(c, order_number, closed_as, EXPIRED if expired else NEVER_SENT)
        elif method is PaymentMethod.ONLINE:
            result = c.gateway.query(order.payment_request_no)
            if result is not None and result.trade_state.was_paid:
                return complete_payment(c, order_number, transaction_id=result.transaction_id)
            if result is None and unheard:  # the gateway never got it: nothing can be paid
                return close_unpaid(c, order_number, closed_as, EXPIRED if expired else NEVER_SENT)
            if result is not None and result.trade_state is TradeState.CLOSED:
                # Closed at the gateway (e.g. a cancel whose answer was lost): never payable.
                return close_unpaid(c, order_number, closed_as,
                                    EXPIRED if expired else PAYMENT_CLOSED)
            if expired:
                try:
                    c.gateway.close(order.payment_request_no)
                except GatewayRequestConflict:  # paid in the meantime: take the payment
                    return resolve_pending(c, order_number)
        elif method is PaymentMethod.SUBSIDY and unheard and not expired:
            # Nothing remote to ask: the crash came between writing and completing it.
            return complete_payment(c, order_number, transaction_id=None)
        elif method.is_offline and unheard and not expired:
            # Staff-recorded money (cash at a counter, an employer's transfer) is booked only at
            # completion: an interrupted one booked nothing, and staff enroll the person again.
            return close_unpaid(c, order_number, OrderStatus.CANCELLED, OFFLINE_INTERRUPTED)
    except (RegistryUnavailable, GatewayUnavailable):
        log.warning("payment side unavailable while settling order %s; left pending",
                    order_number)
        return order
    if expired:
        return close_unpaid(c, order_number, OrderStatus.EXPIRED, EXPIRED)
    return order


def recover_pay_page(c: Container, order_number: str, notify_url: str, return_url: str) -> None:
    """An online order whose pay page was lost with its request (written, then a crash before
    the gateway's answer was kept): ask the gateway again with the same number — creating a
    payment is idempotent per out_trade_no — and keep the page, so the payer can pay. The
    parameters are the order's own (its expiry, the payer's first address), so the repeat is
    the same request as the first."""
    order = load_order(c, order_number)
    if (order.pay_url or order.payment_method != PaymentMethod.ONLINE.value
            or OrderStatus(order.status) is not OrderStatus.PENDING_PAYMENT):
        return
    product = c.products.get(order.product_id)
    description = f"{product.name}保费" if product else "保费"
    try:
        payment = c.gateway.create_payment(order.payment_request_no, order.payable_fen,
                                           description, notify_url,
                                           return_url.replace("{order_no}", order_number),
                                           expires_at=order.expires_at, payer_ip=order.payer_ip)
    except GatewayError as exc:
        # Unavailable, a conflict, or a refusal (logged by the adapter): the next retry or read
        # tries again; expiry closes it in the end.
        log.warning("pay page of order %s not recovered: %s", order_number, exc)
        return
    _keep_pay_page(c, order, payment.pay_url)


def _keep_pay_page(c: Container, order: Order, pay_url: str) -> None:
    """Keep the gateway's pay page on the order, if it is still pending. An order closed while
    the payment was being opened (cancelled in another tab) gets its payment closed too, so
    nobody pays for it; should someone pay all the same, the money goes back."""
    with c.db.transaction() as session:
        kept = session.execute(
            update(Order).where(Order.id == order.id,
                                Order.status == OrderStatus.PENDING_PAYMENT.value)
            .values(pay_url=pay_url).returning(Order.id)).first() is not None
    if kept:
        return
    # Paid already (its notification then refunds it), or unknown (expiry closes it).
    with suppress(GatewayRequestConflict, RemoteUnavailable):
        c.gateway.close(order.payment_request_no)
    raise Conflict("订单已取消，未发起付款", code="order_closed")


def cancel_unpaid(c: Container, actor: Actor, order_number: str) -> Order:
    """The buyer cancels an unpaid order. The payment side is asked first: an order whose money
    already moved is completed instead (the buyer is told, and may cancel the policy), and one
    whose debit may still be on its way is not closed under it."""
    details = order_details(c, actor, order_number)
    order = details.order
    if OrderStatus(order.status) is not OrderStatus.PENDING_PAYMENT:
        raise RuleViolation("只有待支付的订单可以取消", code="not_pending")
    method = PaymentMethod(order.payment_method)
    paid = False
    try:
        if method is PaymentMethod.PERSONAL_ACCOUNT:
            outcome = c.registry.query(order.payment_request_no)
            paid = outcome is not None and outcome.succeeded
            if outcome is None and c.clock.now() < order.created_at + PAYMENT_ATTEMPT_WINDOW:
                raise Conflict(PAYMENT_IN_PROGRESS, code="payment_in_progress")
        elif method is PaymentMethod.ONLINE:
            try:
                c.gateway.close(order.payment_request_no)
            except GatewayRequestConflict:  # paid after all
                paid = True
            except TradeNotFound:
                pass  # the payment never reached the gateway: nothing there to close
    except RemoteUnavailable as exc:
        raise Busy(PAYMENT_UNKNOWN, code="payment_unknown") from exc
    if paid:
        # Never closed with the money kept: completed instead, and the buyer told so. If the
        # payment side cannot confirm it just now, the order stays as it is for now.
        settled = resolve_pending(c, order_number)
        if OrderStatus(settled.status) is OrderStatus.ISSUED:
            raise Conflict(PAID_NOT_CANCELLED, code="order_paid")
        raise Busy(PAYMENT_UNKNOWN, code="payment_unknown")
    return close_unpaid(c, order_number, OrderStatus.CANCELLED, "已由您取消")


def handle_gateway_notification(c: Container, body: bytes,
                                headers: Mapping[str, str] | None = None) -> Order:
    """The gateway's signed notification (its body, and its HTTP headers, which carry WeChat Pay
    v3's signature): verify signature, order and amount, then complete (idempotent: duplicates
    and concurrent deliveries complete the order once). A refund notification settles the
    refund by asking the gateway again with its own refund number."""
    notification = c.gateway.verify_notification(body, headers or {})
    if isinstance(notification, RefundNotification):
        return _handle_refund_notification(c, notification)
    with c.db.read() as session:
        order = session.scalars(select(Order).where(
            Order.payment_request_no == notification.out_trade_no)).one_or_none()
    if order is None:
        raise NotFound("未找到该订单")
    if order.payment_method != PaymentMethod.ONLINE.value:
        raise RuleViolation("订单支付方式不符", code="method_mismatch")
    if notification.amount_fen != order.payable_fen:
        log.error("gateway notification amount %s differs from order %s payable %s",
                  notification.amount_fen, order.order_no, order.payable_fen)
        raise RuleViolation("支付金额与订单金额不符", code="amount_mismatch")
    if notification.trade_state != TradeState.SUCCESS:
        return order
    # Trust, but verify: the gateway's own record must agree before we issue anything.
    confirmed = c.gateway.query(notification.out_trade_no)
    if confirmed is None or not confirmed.trade_state.was_paid \
            or confirmed.amount_fen != order.payable_fen:
        raise RuleViolation("支付结果尚未确认", code="payment_unconfirmed")
    return complete_payment(c, order.order_no, transaction_id=notification.transaction_id)


def _handle_refund_notification(c: Container, notification: RefundNotification) -> Order:
    """The notification only tells that the refund moved on: ``settle_refund`` asks the gateway
    with the same refund number (idempotent) and books what the gateway's own record says."""
    from huiminbao.enrollment.policies import settle_refund

    with c.db.read() as session:
        refund = session.scalars(select(Refund).where(
            Refund.refund_no == notification.out_refund_no)).one_or_none()
    if refund is None:
        raise NotFound("未找到该退款")
    if refund.amount_fen != notification.amount_fen:
        log.error("gateway refund notification %s amount %s differs from refund %s",
                  notification.out_refund_no, notification.amount_fen, refund.amount_fen)
        raise RuleViolation("退款金额与退款记录不符", code="amount_mismatch")
    settle_refund(c, notification.out_refund_no)
    with c.db.read() as session:
        order = session.get(Order, refund.order_id)
    assert order is not None
    return order
