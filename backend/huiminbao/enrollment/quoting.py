"""Quoting an enrollment: every rule checked against our records and the registry, and what the
confirm sheet shows (amounts, subsidy, the personal account's balance). Nothing is written."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import bindparam, literal, select, union_all
from sqlalchemy.orm import Session

from huiminbao.catalog.models import Product, Tier
from huiminbao.core.container import Container
from huiminbao.core.errors import (
    InvalidInput,
    NotFound,
    RuleViolation,
)
from huiminbao.core.idnumber import age_on
from huiminbao.core.masking import mask_name
from huiminbao.core.money import format_fen
from huiminbao.enrollment import resolving
from huiminbao.enrollment.domain import (
    OrderStatus,
    PaymentMethod,
    can_pay_from_personal_account,
    eligibility,
    is_subsidized,
    price,
    relief_choice_refusal,
    window_refusal,
)
from huiminbao.enrollment.models import Order, OrderItem, SubsidyUse
from huiminbao.identity import consent_gate
from huiminbao.identity import services as identity_services
from huiminbao.identity.access import Subject, may_see_balances, require_verified_binding
from huiminbao.identity.auth import Actor
from huiminbao.identity.consent_rules import Purpose
from huiminbao.identity.domain import OtpPurpose
from huiminbao.identity.models import Person
from huiminbao.registry.port import (
    AccountBalance,
    BalanceKind,
    RegistryPerson,
)

log = logging.getLogger(__name__)


ALREADY_INSURED = "已参保：{name}已有本年度{product}的有效保单，无需重复投保"


PENDING_ORDER = "{name}已有一笔待支付的订单，请先完成或取消该订单"


OFFLINE_METHOD = ("单位缴费和窗口现金缴费只能由单位经办或经办窗口工作人员办理，"
                  "请选择其他支付方式")


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


def has_used_subsidy(session: Session, person_id: int, year: int) -> bool:
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
        people = {p.id: p for p in session.scalars(_PEOPLE, {"person_ids": person_ids})}
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
        taken, already_paid_for = _places_and_paid_for(
            session, product, person_ids,
            subject.person_id if request.payment_method is PaymentMethod.PERSONAL_ACCOUNT
            else None)
        payer_person = people.get(subject.person_id) or session.get(Person, subject.person_id)

    # A personal-account payer's balance comes in the same registry exchange as the persons,
    # asked only where the caller may see it (the binding rule is enforced, with its message,
    # after the registry's verdict on the insured, as before).
    balances_of = ([payer_person.id_number]
                   if request.payment_method is PaymentMethod.PERSONAL_ACCOUNT
                   and payer_person is not None and may_see_balances(actor) else [])
    looked_up = c.registry.persons_and_balances(
        [*(people[pid].id_number for pid in person_ids), *balances_of], balances_of)
    registered = looked_up.persons
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
    refuse_taken(product, [people[pid] for pid in person_ids], taken)

    subsidized = [pid for pid in person_ids
                  if is_subsidized(registered[people[pid].id_number],
                                   product.subsidized_category_list)]
    subsidy_used: set[int] = set()
    if subsidized:
        with c.db.read() as session:
            subsidy_used = {pid for pid in subsidized
                            if has_used_subsidy(session, pid, product.year)}
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
    _check_payment_method(c, actor, payer_person, result, registered, looked_up.balances)
    if result.payment_method is PaymentMethod.PERSONAL_ACCOUNT:
        _check_family_rules(result, already_paid_for)
        if subject.acting_for:
            # Proxy: an agent pays from the principal's account only under a grant
            # with that scope and within its yearly limit. Re-checked under a lock at create.
            with c.db.read() as session:
                c.grants.check_payment_allowed(c, session, subject.grant_id,
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
    from huiminbao.enrollment.family.members import active_member

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


def _places_and_paid_for(session: Session, product: Product, person_ids: Sequence[int],
                         payer_person_id: int | None
                         ) -> tuple[dict[int, PlaceHolder], set[int]]:
    """``places_taken`` and, for a personal-account payer, whom their account already pays this
    product for (the six-persons rule): one statement, each half on its own index."""
    if payer_person_id is None:
        rows = [(*row, False) for row in session.execute(_PLACES, {
            "product_id": product.id, "person_ids": list(person_ids)})]
    else:
        rows = [tuple(row) for row in session.execute(_PLACES_AND_PAID_FOR, {
            "product_id": product.id, "person_ids": list(person_ids),
            "payer_person_id": payer_person_id})]
    taken = {int(person_id): PlaceHolder(status, order_no)
             for person_id, status, order_no, by_payer in rows if not by_payer}
    return taken, {int(person_id) for person_id, _s, _o, by_payer in rows if by_payer}


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


def places_taken(session: Session, product: Product,
                  person_ids: Sequence[int]) -> dict[int, PlaceHolder]:
    """Whose place in the product is held, and by which order: one indexed lookup.
    An item holds its place while its order is pending or its policy live."""
    return {int(person_id): PlaceHolder(status, order_no)
            for person_id, status, order_no in session.execute(_PLACES, {
                "product_id": product.id, "person_ids": list(person_ids)})}


# The quote's statements, built once (they run with every enrollment): only parameters change.
_PLACES = (select(OrderItem.insured_person_id, Order.status, Order.order_no)
           .join(Order, Order.id == OrderItem.order_id)
           .where(OrderItem.product_id == bindparam("product_id"),
                  OrderItem.insured_person_id.in_(bindparam("person_ids", expanding=True)),
                  OrderItem.holds_place))
_PLACES_AND_PAID_FOR = union_all(
    _PLACES.add_columns(literal(False).label("by_payer")),
    select(OrderItem.insured_person_id, Order.status, Order.order_no,
           literal(True).label("by_payer"))
    .join(Order, Order.id == OrderItem.order_id)
    .where(Order.product_id == bindparam("product_id"),
           Order.payer_person_id == bindparam("payer_person_id"),
           Order.payment_method == PaymentMethod.PERSONAL_ACCOUNT.value,
           OrderItem.holds_place))
_PEOPLE = select(Person).where(Person.id.in_(bindparam("person_ids", expanding=True)))


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
        resolving.resolve_pending(c, order_no)
    with c.db.read() as session:
        return places_taken(session, product, person_ids)


def refuse_taken(product: Product, persons: Sequence[Person],
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
                          result: Quote, registered: dict[str, RegistryPerson],
                          balances: dict[str, AccountBalance]) -> None:
    """``balances``: what the persons' lookup brought; it asked for the payer's whenever the
    binding rule below lets the caller see it, so a payer absent from it has no account."""
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
        require_verified_binding(actor)  # no balance was asked for unless this holds
        # The payer's registry record came with the insured's (asked for alongside).
        payer = None if payer_person is None else registered.get(payer_person.id_number)
        if payer is None or payer_person is None or not can_pay_from_personal_account(payer):
            raise RuleViolation("城乡居民医保参保人员没有医保个人账户，请选择在线支付",
                                code="no_personal_account")
        balance = balances.get(payer.id_number)
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
    phone = owner_phone(result)
    expires_at = identity_services.send_code(c, phone, OtpPurpose.CONFIRM_PAYMENT,
                                             params=debit_code_text(result),
                                             context=debit_context(result))
    return phone, expires_at


def owner_phone(result: Quote) -> str:
    assert result.payer is not None
    if not result.payer.phone:
        raise RuleViolation("医保登记信息中没有账户本人的手机号，无法确认扣款。"
                            "请选择在线支付，或到经办窗口办理", code="owner_phone_missing")
    return result.payer.phone
