"""Marshmallow schemas of the enrollment and policy API."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from marshmallow import Schema, fields, validate

from huiminbao.catalog.models import Benefit, Product, ProductTerms
from huiminbao.catalog.schemas import BenefitSchema, PreExistingSchema, TermsSchema
from huiminbao.core.idnumber import age_on
from huiminbao.core.inputs import Id
from huiminbao.core.masking import mask_id_number, mask_name, mask_phone
from huiminbao.core.responses import (
    Computed,
    ComputedBoolean,
    ComputedInteger,
    ComputedList,
    ComputedNested,
    Label,
    Masked,
    ResponseSchema,
)
from huiminbao.enrollment.domain import OrderStatus, PaymentMethod, PolicyStatus, cancel_refusal
from huiminbao.enrollment.family.members import RELATION_LABELS, MemberView
from huiminbao.enrollment.models import OrderItem, Policy
from huiminbao.enrollment.order_reading import OrderDetails
from huiminbao.enrollment.policies import (
    PolicyDetails,
    auto_renew_refusal,
    is_payer,
    validity,
)
from huiminbao.enrollment.quoting import Quote
from huiminbao.registry.port import Relation

_METHODS = [method.value for method in PaymentMethod]


class InsuredChoiceSchema(Schema):
    person_id = Id(required=True, strict=True,
                   metadata={"description": "a person id from GET /me or /me/family"})
    tier = fields.String(required=True, validate=validate.Length(min=1, max=32))


class ConfirmationsSchema(Schema):
    terms_version = fields.String(load_default=None,
                                  metadata={"description": "the terms version the person read"})
    not_basic_insurance = fields.Boolean(
        load_default=False,
        metadata={"description": "knows this is commercial insurance, not basic insurance"})
    debit_amount_fen = fields.Integer(
        load_default=None, strict=True, validate=validate.Range(min=0),
        metadata={"description": "personal account: the amount the owner confirms, fen"})
    sms_code = fields.String(
        load_default=None, validate=validate.Regexp(r"^\d{6}$", error="请输入6位数字验证码"),
        metadata={"description": "needed when the last sign-in is older than 10 minutes"})


class EnrollmentRequestSchema(Schema):
    product_id = Id(required=True, strict=True)
    tier = fields.String(load_default=None, metadata={"description": "tier for everyone"})
    insured = fields.List(fields.Nested(InsuredChoiceSchema), load_default=None,
                          validate=validate.Length(max=10, error="一笔订单最多为10人投保"),
                          metadata={"description": "default: the subject alone, with `tier`"})
    payment_method = fields.String(
        required=True, validate=validate.OneOf(_METHODS, error="请选择支付方式"),
        metadata={"description": " | ".join(_METHODS)})
    confirmations = fields.Nested(ConfirmationsSchema, load_default=dict)


class _PremiumLine(ResponseSchema):
    relation = fields.String()
    premium_fen = fields.Integer()
    subsidy_fen = fields.Integer()
    payable_fen = fields.Integer()


class QuoteLineView(_PremiumLine):
    """Dumps a quote's ``Line``."""

    person_id = fields.Integer(attribute="person.id")
    name = Masked(mask_name, attribute="person.name", metadata={"description": "masked"})
    tier = fields.String(attribute="tier.code")
    tier_name = fields.String(attribute="tier.name")


class QuoteAccountView(ResponseSchema):
    """Dumps a ``Quote`` paid from a personal account."""

    holder = Masked(mask_name, attribute="payer.name", metadata={"description": "masked"})
    balances = ComputedList(lambda quote: quote.product.payable_balances.split(","),
                            fields.String(), metadata={
        "description": "the balances the premium may be paid from"})
    balance_before_fen = fields.Integer()
    balance_after_fen = fields.Integer()
    shortfall_fen = fields.Integer()


def _terms(product: Product) -> ProductTerms | None:
    return product.current_terms


def _account(quote: Quote) -> Quote | None:
    paid_from_account = quote.payment_method is PaymentMethod.PERSONAL_ACCOUNT
    return quote if paid_from_account and quote.payer is not None else None


def _sms_code_phone(quote: Quote) -> str | None:
    """Where the owner's confirmation code goes: the registry's phone for them, masked."""
    if quote.needs_sms_code and quote.payer is not None and quote.payer.phone:
        return mask_phone(quote.payer.phone)
    return None


class QuoteView(ResponseSchema):
    """Dumps a ``Quote``."""

    product_id = fields.Integer(attribute="product.id")
    product_name = fields.String(attribute="product.name")
    terms_version = Computed(lambda quote: (terms := _terms(quote.product)) and terms.version)
    notice = Computed(lambda quote: (terms := _terms(quote.product)) and terms.notice)
    payment_method = fields.String()
    lines = fields.List(fields.Nested(QuoteLineView))
    premium_fen = fields.Integer()
    subsidy_fen = fields.Integer()
    payable_fen = fields.Integer()
    account = ComputedNested(_account, QuoteAccountView, allow_none=True, metadata={
        "description": "personal account payments only"})
    needs_sms_code = fields.Boolean(metadata={
        "description": "the account owner confirms with an SMS code (POST /me/payment-code)"})
    sms_code_phone = Computed(_sms_code_phone, allow_none=True, metadata={
        "description": "masked: the phone the registry holds for the account owner"})


@dataclass(frozen=True)
class OrderLine:
    """One insured person of an order, with the names the order's reading looked up."""

    item: OrderItem
    details: OrderDetails

    @property
    def person_id(self) -> int:
        return self.item.insured_person_id

    @property
    def name(self) -> str:
        return self.details.names.get(self.item.insured_person_id, "")

    @property
    def tier_name(self) -> str:
        return self.details.tier_names.get(self.item.tier_code, self.item.tier_code)

    @property
    def payable_fen(self) -> int:
        return self.item.premium_fen - self.item.subsidy_fen


class OrderLineView(_PremiumLine):
    """Dumps an ``OrderLine``."""

    person_id = fields.Integer()
    name = Masked(mask_name, metadata={"description": "masked"})
    relation = fields.String(attribute="item.relation")
    tier = fields.String(attribute="item.tier_code")
    tier_name = fields.String()
    premium_fen = fields.Integer(attribute="item.premium_fen")
    subsidy_fen = fields.Integer(attribute="item.subsidy_fen")


class PolicyBrief(ResponseSchema):
    """Dumps the ``OrderLine`` of an issued policy."""

    policy_no = fields.String(attribute="item.policy.policy_no")
    person_id = fields.Integer()
    insured_name = Masked(mask_name, attribute="name")
    status = fields.String(attribute="item.policy.status")


def _lines(details: OrderDetails) -> list[OrderLine]:
    return [OrderLine(item, details) for item in details.order.items]


def _pay_url(details: OrderDetails) -> str | None:
    pending = OrderStatus(details.order.status) is OrderStatus.PENDING_PAYMENT
    return details.order.pay_url if pending else None


class OrderView(ResponseSchema):
    """Dumps ``OrderDetails``."""

    order_no = fields.String(attribute="order.order_no")
    status = fields.String(attribute="order.status")
    status_label = Label(OrderStatus, source="order.status")
    product_id = fields.Integer(attribute="order.product_id")
    product_name = fields.String()
    payment_method = fields.String(attribute="order.payment_method")
    premium_fen = fields.Integer(attribute="order.premium_fen")
    subsidy_fen = fields.Integer(attribute="order.subsidy_fen")
    payable_fen = fields.Integer(attribute="order.payable_fen")
    refunded_fen = fields.Integer(attribute="order.refunded_fen")
    created_at = fields.DateTime(attribute="order.created_at")
    expires_at = fields.DateTime(attribute="order.expires_at")
    paid_at = fields.DateTime(attribute="order.paid_at", allow_none=True)
    pay_url = Computed(_pay_url, allow_none=True,
                       metadata={"description": "online: the gateway page"})
    failure_reason = fields.String(attribute="order.failure_reason", allow_none=True)
    lines = ComputedList(_lines, fields.Nested(OrderLineView))
    policies = ComputedList(lambda details: [line for line in _lines(details)
                                             if line.item.policy is not None],
                            fields.Nested(PolicyBrief))


class OrderListSchema(ResponseSchema):
    items = fields.List(fields.Nested(OrderView))


class RefundView(ResponseSchema):
    refund_no = fields.String()
    amount_fen = fields.Integer()
    subsidy_fen = fields.Integer()
    status = fields.String()
    settled_at = fields.DateTime(allow_none=True)


@dataclass(frozen=True)
class PolicyAnswer:
    """A policy as one caller sees it: ``viewer_person_id`` is whom the caller is (or acts
    for; only the holder may cancel), ``actor_person_id`` who is signed in (only the payer in
    person may turn auto-renewal on)."""

    details: PolicyDetails
    today: date
    verify_url: str
    qr_url: str
    viewer_person_id: int | None = None
    actor_person_id: int | None = None

    @property
    def policy(self) -> Policy:
        return self.details.policy

    @property
    def tier_name(self) -> str:
        tier = self.details.product.tier(self.policy.tier_code)
        return tier.name if tier else self.policy.tier_code

    @property
    def benefits(self) -> list[Benefit]:
        tier = self.details.product.tier(self.policy.tier_code)
        return list(tier.benefits) if tier else []

    @property
    def agreed_terms(self) -> ProductTerms | None:
        """The terms version agreed when the policy was bought (else the current one)."""
        product = self.details.product
        return next((t for t in product.terms if t.version == self.details.order.terms_version),
                    product.current_terms)

    @property
    def validity(self) -> str:
        return validity(self.details, self.today)

    @property
    def can_cancel(self) -> bool:
        policy = self.policy
        return self.viewer_person_id == policy.holder_person_id and cancel_refusal(
            PolicyStatus(policy.status), policy.coverage_starts_on, self.today) is None

    @property
    def viewer_is_payer(self) -> bool:
        return is_payer(self.policy, self.actor_person_id)

    @property
    def can_set_auto_renew(self) -> bool:
        return auto_renew_refusal(self.policy, self.details.order.payment_method,
                                  self.actor_person_id) is None

    @property
    def notice(self) -> str:
        terms = self.details.product.current_terms
        return terms.notice if terms else ""


class PolicyView(ResponseSchema):
    """Dumps a ``PolicyAnswer``."""

    policy_no = fields.String(attribute="policy.policy_no")
    status = fields.String(attribute="policy.status")
    status_label = Label(PolicyStatus, source="policy.status")
    validity = fields.String()
    product_id = fields.Integer(attribute="details.product.id")
    product_name = fields.String(attribute="details.product.name")
    insurer = fields.String(attribute="details.product.insurer")
    tier = fields.String(attribute="policy.tier_code")
    tier_name = fields.String()
    insured_person_id = fields.Integer(attribute="policy.insured_person_id")
    insured_name = Masked(mask_name, attribute="details.insured.name",
                          metadata={"description": "masked"})
    insured_id_number = Masked(mask_id_number, attribute="details.insured.id_number",
                               metadata={"description": "masked"})
    holder_name = Masked(mask_name, attribute="details.holder.name",
                         metadata={"description": "masked"})
    premium_fen = fields.Integer(attribute="policy.premium_fen")
    subsidy_fen = fields.Integer(attribute="policy.subsidy_fen")
    paid_fen = ComputedInteger(lambda answer: answer.policy.premium_fen
                               - answer.policy.subsidy_fen)
    payment_method = fields.String(attribute="details.order.payment_method")
    coverage_starts_on = fields.Date(attribute="policy.coverage_starts_on")
    coverage_ends_on = fields.Date(attribute="policy.coverage_ends_on")
    issued_at = fields.DateTime(attribute="policy.issued_at")
    cancelled_at = fields.DateTime(attribute="policy.cancelled_at", allow_none=True)
    can_cancel = fields.Boolean()
    refund = ComputedNested(lambda answer: answer.details.refund, RefundView, allow_none=True)
    auto_renew = fields.Boolean(attribute="policy.auto_renew")
    viewer_is_payer = fields.Boolean(metadata={
        "description": "the signed-in person's account paid this policy"})
    can_set_auto_renew = fields.Boolean(metadata={
        "description": "the signed-in person may turn auto-renewal on (only the payer)"})
    payer_name = Computed(lambda answer: answer.details.payer and mask_name(
        answer.details.payer.name), allow_none=True, metadata={
        "description": "masked; whose personal account paid, if one did"})
    verify_url = fields.String()
    qr_url = fields.String()
    notice = fields.String()
    # The e-policy's own cover, whatever the catalog shows today: the tier's benefits, the
    # terms the holder agreed to (the order's version), the product's claim terms.
    benefits = fields.List(fields.Nested(BenefitSchema))
    terms = fields.Nested(TermsSchema, attribute="agreed_terms", allow_none=True, metadata={
        "description": "the terms version agreed when the policy was bought"})
    deductible_mode = fields.String(attribute="details.product.deductible_mode",
                                    metadata={"description": "per_category | shared"})
    pre_existing = fields.List(fields.Nested(PreExistingSchema),
                               attribute="details.product.pre_existing")


class PolicyListSchema(ResponseSchema):
    items = fields.List(fields.Nested(PolicyView))


class AutoRenewSchema(Schema):
    enabled = fields.Boolean(required=True)
    consent_version = fields.String(load_default=None)


class AutoRenewConsentSchema(ResponseSchema):
    version = fields.String()
    text = fields.String()


class VerifyView(ResponseSchema):
    """The public check of an e-policy (QR code), dumping a ``PolicyAnswer``: genuine or not,
    product, validity and the masked name; nothing else about the person."""

    valid = ComputedBoolean(lambda answer: answer.policy.status == PolicyStatus.ACTIVE.value)
    policy_no = fields.String(attribute="policy.policy_no")
    product_name = fields.String(attribute="details.product.name")
    insurer = fields.String(attribute="details.product.insurer")
    insured_name = Masked(mask_name, attribute="details.insured.name",
                          metadata={"description": "masked only"})
    validity = fields.String()
    coverage_starts_on = fields.Date(attribute="policy.coverage_starts_on")
    coverage_ends_on = fields.Date(attribute="policy.coverage_ends_on")


# ---------------------------------------------------------------- family


@dataclass(frozen=True)
class Relative:
    """A relative on a person's family list as of ``today``; ``code_sent_to``: where the
    relative's confirmation code just went (masked), when one did."""

    view: MemberView
    today: date
    code_sent_to: str | None = None

    @property
    def age(self) -> int:
        return age_on(self.view.person.birth_date, self.today)


class MemberSchema(ResponseSchema):
    """Dumps a ``Relative``."""

    id = fields.Integer(attribute="view.member.id")
    person_id = fields.Integer(attribute="view.person.id")
    name = Masked(mask_name, attribute="view.person.name", metadata={"description": "masked"})
    id_number = Masked(mask_id_number, attribute="view.person.id_number",
                       metadata={"description": "masked"})
    relation = fields.String(attribute="view.member.relation")
    relation_label = Label(lambda relation: RELATION_LABELS[Relation(relation)],
                           source="view.member.relation")
    verified = ComputedBoolean(lambda member: member.view.member.verification != "pending")
    verification = fields.String(attribute="view.member.verification",
                                 metadata={"description": "registry | sms | pending"})
    age = fields.Integer()
    coverage = fields.String(attribute="view.coverage",
                             metadata={"description": "未参保 / 待支付 / 已参保 / 已由他人投保"})
    policy_no = fields.String(attribute="view.policy_no", allow_none=True)
    code_sent_to = fields.String(allow_none=True,
                                 metadata={"description": "pending: the relative's masked phone"})


class MemberListSchema(ResponseSchema):
    items = fields.List(fields.Nested(MemberSchema))


class AddMemberSchema(Schema):
    name = fields.String(required=True, validate=validate.Length(min=1, max=64,
                                                                 error="请输入亲属姓名"))
    id_number = fields.String(required=True, validate=validate.Length(min=1, max=32,
                                                                      error="请输入身份证号码"))
    relation = fields.String(required=True, validate=validate.OneOf(
        [r.value for r in Relation], error="关系只能是配偶、子女或父母"))


class RegistryRelativeSchema(ResponseSchema):
    """Dumps a ``RegistryRelative``: never the ID number, which the pick stands for."""

    pick = fields.String(metadata={"description": "send as ``pick`` to add this relative (or as "
                                                  "``principal_pick`` to ask for a proxy grant)"})
    name = Masked(mask_name, metadata={"description": "masked"})
    relation = fields.String(metadata={"description": "spouse | child | parent"})
    relation_label = Label(lambda relation: RELATION_LABELS[relation], source="relation")
    age = fields.Integer()
    member_id = fields.Integer(allow_none=True,
                               metadata={"description": "already on the family list: its id"})
    person_id = fields.Integer(allow_none=True,
                               metadata={"description": "a member's person id (insured choice)"})
    coverage = fields.String(metadata={"description": "未参保 / 待支付 / 已参保 / 已由他人投保"})
    has_personal_account = fields.Boolean(metadata={
        "description": "has a 医保个人账户 (residents have none): may be asked to pay from it"})


class RegistryRelativeListSchema(ResponseSchema):
    items = fields.List(fields.Nested(RegistryRelativeSchema))


class PickRelativeSchema(Schema):
    pick = fields.String(required=True, validate=validate.Length(
        min=1, max=64, error="请从医保登记的家人中选择"))


class VerifyMemberSchema(Schema):
    code = fields.String(required=True, validate=validate.Regexp(r"^\d{6}$",
                                                                 error="请输入6位数字验证码"))


class CodeSentSchema(ResponseSchema):
    sent_to = fields.String()


# ---------------------------------------------------------------- 保单查询 without an account


class PolicyLookupCodeSchema(Schema):
    id_number = fields.String(required=True, validate=validate.Length(
        min=1, max=32, error="请输入身份证号码"))


class PolicyLookupSchema(PolicyLookupCodeSchema):
    code = fields.String(required=True, validate=validate.Regexp(
        r"^[0-9]{6}$", error="请输入6位数字验证码"))


class LookupCodeSentSchema(ResponseSchema):
    phone = fields.String(metadata={"description": "masked: the phone the registry holds"})
    expires_at = fields.DateTime()
    resend_after_seconds = fields.Integer()


class FoundPolicySchema(ResponseSchema):
    """Dumps a ``lookup.FoundPolicy``: masked facts only."""

    policy_no = fields.String(metadata={"description": "masked"})
    product_name = fields.String()
    insurer = fields.String()
    tier_name = fields.String()
    insured_name = fields.String(metadata={"description": "masked"})
    holder_name = fields.String(metadata={"description": "masked"})
    status = fields.String(metadata={"description": "有效 | 已退保"})
    validity = fields.String()
    coverage_starts_on = fields.Date()
    coverage_ends_on = fields.Date()


class PolicyLookupResultSchema(ResponseSchema):
    """Dumps a ``lookup.LookupResult``."""

    insured_name = fields.String(metadata={"description": "masked; the registry's name"})
    items = fields.List(fields.Nested(FoundPolicySchema), attribute="policies")
