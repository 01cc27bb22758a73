"""Pure enrollment rules: order and policy state machines, eligibility, pricing.

No Flask, no database. The transition tables are the only way a status changes; anything not in
them raises ``InvalidTransition``.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, timedelta
from enum import StrEnum

from huiminbao.catalog.domain import EnrollmentWindow
from huiminbao.core.states import StateMachine
from huiminbao.registry.port import Assistance, PersonStatus, RegistryPerson, Scheme

UNPAID_ORDER_LIFETIME = timedelta(minutes=30)
# How long a written order's payment request may still be on its way to the registry or the
# gateway (their timeouts, with margin). A pending order the payment side has not heard of by
# then never reached it: the next read, retry or reconcile releases its insured persons instead
# of holding them for the full 30 minutes. Should a late request land after all, the money is
# refunded (a payment for a closed order is never kept).
PAYMENT_ATTEMPT_WINDOW = timedelta(seconds=30)


class OrderStatus(StrEnum):
    PENDING_PAYMENT = "pending_payment"
    PAID = "paid"
    ISSUED = "issued"
    CANCELLED = "cancelled"  # before payment, by the buyer or because payment failed
    EXPIRED = "expired"  # unpaid after 30 minutes; its places are released
    REFUNDED = "refunded"  # every policy of the order cancelled and its money returned

    @property
    def label(self) -> str:
        return _ORDER_LABELS[self]

    @property
    def is_closed(self) -> bool:
        """Closed before it was paid: money that arrives for it anyway goes back."""
        return self in {OrderStatus.CANCELLED, OrderStatus.EXPIRED}

    @property
    def holds_places(self) -> bool:
        """Whether the order still reserves its insured persons for the product."""
        return self in {OrderStatus.PENDING_PAYMENT, OrderStatus.PAID, OrderStatus.ISSUED}


_ORDER_LABELS = {
    OrderStatus.PENDING_PAYMENT: "待支付",
    OrderStatus.PAID: "已支付",
    OrderStatus.ISSUED: "已出单",
    OrderStatus.CANCELLED: "已取消",
    OrderStatus.EXPIRED: "已过期",
    OrderStatus.REFUNDED: "已退款",
}

ORDER_TRANSITIONS = StateMachine({
    OrderStatus.PENDING_PAYMENT: frozenset({
        OrderStatus.PAID, OrderStatus.CANCELLED, OrderStatus.EXPIRED,
    }),
    OrderStatus.PAID: frozenset({OrderStatus.ISSUED}),
    OrderStatus.ISSUED: frozenset({OrderStatus.REFUNDED}),
    OrderStatus.CANCELLED: frozenset(),
    OrderStatus.EXPIRED: frozenset(),
    OrderStatus.REFUNDED: frozenset(),
})


class PolicyStatus(StrEnum):
    ACTIVE = "active"  # issued; covers from its start date
    CANCELLED = "cancelled"  # cancelled before coverage, premium refunded

    @property
    def label(self) -> str:
        return {PolicyStatus.ACTIVE: "有效", PolicyStatus.CANCELLED: "已退保"}[self]


POLICY_TRANSITIONS = StateMachine({
    PolicyStatus.ACTIVE: frozenset({PolicyStatus.CANCELLED}),
    PolicyStatus.CANCELLED: frozenset(),
})


transition = ORDER_TRANSITIONS.transition
policy_transition = POLICY_TRANSITIONS.transition


class PaymentMethod(StrEnum):
    PERSONAL_ACCOUNT = "personal_account"  # 医保个人账户
    ONLINE = "online"  # 微信支付等在线支付
    SUBSIDY = "subsidy"  # 政府资助参保
    EMPLOYER = "employer"  # 单位统一缴费（单位团体参保，运营后台批量办理）
    COUNTER_CASH = "counter_cash"  # 经办窗口现金缴费（窗口工作人员代为办理）

    @property
    def label(self) -> str:
        return {
            PaymentMethod.PERSONAL_ACCOUNT: "医保个人账户",
            PaymentMethod.ONLINE: "在线支付",
            PaymentMethod.SUBSIDY: "政府资助",
            PaymentMethod.EMPLOYER: "单位缴费",
            PaymentMethod.COUNTER_CASH: "窗口现金缴费",
        }[self]

    @property
    def is_offline(self) -> bool:
        """Money taken outside the platform (an employer's transfer, cash at a counter): only
        staff record it, never a resident's own request."""
        return self in {PaymentMethod.EMPLOYER, PaymentMethod.COUNTER_CASH}


# ---------------------------------------------------------------- eligibility


@dataclass(frozen=True)
class Ineligible:
    code: str
    message: str  # to the person (second person)
    report: str = ""  # about the person, in staff reports (third person)


def eligibility(person: RegistryPerson | None, city_code: str, city_name: str) -> Ineligible | None:
    """Anyone in the city's basic medical insurance with active status may enroll. Never an age,
    health, pre-existing-condition or occupation condition (002 二(一), 003 二(一))."""
    if person is None:
        return Ineligible("not_insured", f"未查询到您在{city_name}的基本医疗保险参保信息，"
                                         "本产品仅面向本市基本医保参保人员",
                          "未查询到该人员的基本医疗保险参保信息")
    if person.city_code != city_code:
        return Ineligible("other_city", f"您的基本医疗保险参保地不在{city_name}，"
                                        "本产品仅面向本市基本医保参保人员。"
                                        "请在参保地参加当地的惠民保产品",
                          f"基本医疗保险参保地不在{city_name}，不能参加本产品")
    if person.status is not PersonStatus.ACTIVE:
        return Ineligible("insurance_suspended", "您的基本医疗保险目前处于暂停（中断）状态，"
                                                 "恢复正常参保缴费后即可投保。"
                                                 "如有疑问请咨询当地医保经办机构",
                          "基本医疗保险处于暂停（中断）状态，恢复正常参保后方可参保")
    return None


def window_refusal(product_name: str, window: EnrollmentWindow, today: date) -> Ineligible | None:
    """Enrollment happens only inside the product's window, both ends included (003 三(八))."""
    if window.is_open_on(today):
        return None
    return Ineligible("window_closed",
                      f"{product_name}当前不在投保期内（投保期为{window.opens_on:%Y年%m月%d日}至"
                      f"{window.closes_on:%Y年%m月%d日}）")


def can_pay_from_personal_account(person: RegistryPerson) -> bool:
    return person.scheme is Scheme.EMPLOYEE


SUBSIDIZED_GROUPS = frozenset({
    Assistance.TEKUN, Assistance.DIBAO, Assistance.DIBIAN, Assistance.DISABLED,
})


def subsidy_covers(group: str, categories: Iterable[str]) -> bool:
    """Whether a product whose subsidy buys for ``categories`` (its ``subsidized_categories``)
    pays for a person of assistance ``group`` (003 三(三)3: only the groups the product names,
    never someone outside every group). ``group`` is the registry's or the roster's value."""
    return group in {a.value for a in SUBSIDIZED_GROUPS} and group in set(categories)


def is_subsidized(person: RegistryPerson, categories: Iterable[str]) -> bool:
    """Whether the product's subsidy pays for this person, as the registry knows them."""
    return subsidy_covers(person.assistance.value, categories)


@dataclass(frozen=True)
class Price:
    premium_fen: int
    subsidy_fen: int

    @property
    def payable_fen(self) -> int:
        return self.premium_fen - self.subsidy_fen


def price(premium_fen: int, subsidized_tier_premium_fen: int | None) -> Price:
    """The subsidy fund pays the subsidized tier; a higher tier pays the difference."""
    if subsidized_tier_premium_fen is None:
        return Price(premium_fen, 0)
    return Price(premium_fen, min(premium_fen, subsidized_tier_premium_fen))


def coverage_started(starts_on: date, today: date) -> bool:
    return today >= starts_on


def cancel_refusal(status: PolicyStatus, coverage_starts_on: date,
                   today: date) -> Ineligible | None:
    """A live policy may be cancelled, with the full premium back, until its coverage starts;
    only its holder may ask (checked by the caller: that is an access question)."""
    if status is not PolicyStatus.ACTIVE:
        return Ineligible("already_cancelled", "该保单已退保")
    if coverage_started(coverage_starts_on, today):
        return Ineligible("coverage_started",
                          f"保障期已于{coverage_starts_on:%Y年%m月%d日}开始，不能退保。"
                          "如有疑问请联系承保公司客服")
    return None


# ---------------------------------------------------------------- subsidy payers and 择一


class PayerKind(StrEnum):
    """Who pays a subsidized premium (003 三(三)3: each level of government for its own
    subsidized residents; 002 三(三): charities and donors)."""

    CITY = "city"  # 市级财政
    DISTRICT = "district"  # 区、县（市）财政
    CHARITY = "charity"  # 慈善组织、捐赠人

    @property
    def label(self) -> str:
        return {PayerKind.CITY: "市级财政", PayerKind.DISTRICT: "区县财政",
                PayerKind.CHARITY: "慈善捐赠"}[self]


@dataclass(frozen=True)
class FundPayer:
    """A paying body as the rules see it (the registry row, without the database)."""

    code: str
    name: str
    kind: PayerKind
    district_code: str | None = None  # a district payer's district
    categories: frozenset[str] = frozenset()  # the assistance groups a district pays for
    active: bool = True


def online_subsidy_payer(person: RegistryPerson, payers: Iterable[FundPayer]) -> FundPayer | None:
    """Who pays the subsidy of a person enrolling online (003 三(三)3): the government of the
    person's district (医保参保所属区县) when that district pays for the person's assistance
    group, else the city. ``None``: the city's fund, no city payer being registered. Charities
    pay only for the people they name (a roster or a donor's list), never by this rule."""
    active = [payer for payer in payers if payer.active]
    for payer in active:
        if (payer.kind is PayerKind.DISTRICT and person.district_code is not None
                and payer.district_code == person.district_code
                and person.assistance.value in payer.categories):
            return payer
    return next((payer for payer in active if payer.kind is PayerKind.CITY), None)


def payer_refusal(payer: FundPayer, person: RegistryPerson) -> str | None:
    """Why a roster's named payer may not pay for this person, in the third person (staff
    reports); None when it may. A district pays for its own residents only, in the groups it
    funds; the city and charities pay for anyone in the city."""
    if not payer.active:
        return f"出资方“{payer.name}”已停用"
    if payer.kind is not PayerKind.DISTRICT:
        return None
    if person.district_code != payer.district_code:
        return (f"该人员医保参保地不在{payer.name}的辖区，"
                f"按规定由各级政府资助本级困难人员，请改由其参保地区县或市级财政出资")
    if person.assistance.value not in payer.categories:
        return f"{payer.name}不资助该类别人员，请改由市级财政或其他出资方出资"
    return None


RELIEF_CHOICE_MESSAGE = (
    "已参加其他政策性扶贫类商业补充医疗保险。按规定，困难人员只能在本保险和其他政策性扶贫类"
    "商业补充医疗保险中择一投保，政府不重复资助，因此不能再资助参加本产品。"
    "如需改选本保险，请先到民政或医保部门办理变更")


def relief_choice_refusal(person: RegistryPerson | None,
                          categories: Iterable[str]) -> Ineligible | None:
    """择一 (003 三(三)3): a person the product's subsidy would pay for who already holds another
    policy-based poverty-relief insurance (the registry's flag) is refused, with the reason."""
    if person is None or not person.other_relief_insurance or not is_subsidized(person,
                                                                                   categories):
        return None
    return Ineligible("other_relief_insurance", f"您{RELIEF_CHOICE_MESSAGE}",
                      f"该人员{RELIEF_CHOICE_MESSAGE}")
