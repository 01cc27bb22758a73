"""Policy use cases: list and read (through the gate), e-policy QR and public verification,
cancellation with refund to the source, and auto-renewal consent."""

from __future__ import annotations

import io
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

import qrcode
from itsdangerous import BadSignature, URLSafeSerializer
from joserfc import jwt
from joserfc.errors import ExpiredTokenError, JoseError
from joserfc.jwk import OctKey
from sqlalchemy import or_, select
from sqlalchemy.orm import Session, selectinload

from huiminbao.audit import services as audit
from huiminbao.audit.services import AuditActor, AuditEntry
from huiminbao.catalog.models import Product, Tier
from huiminbao.core.clock import CHINA_TZ
from huiminbao.core.container import Container
from huiminbao.core.errors import DomainError, Forbidden, InvalidInput, NotFound, RuleViolation
from huiminbao.core.money import format_fen
from huiminbao.enrollment import numbers, subsidy_funds
from huiminbao.enrollment.domain import (
    OrderStatus,
    PaymentMethod,
    PolicyStatus,
    cancel_refusal,
    policy_transition,
    transition,
)
from huiminbao.enrollment.models import Order, OrderItem, Policy, Refund, SubsidyUse
from huiminbao.identity import consent_gate
from huiminbao.identity.access import Subject, authorize, require_access
from huiminbao.identity.auth import Actor
from huiminbao.identity.consent_rules import Purpose
from huiminbao.identity.domain import Action, Decision, hash_secret
from huiminbao.identity.models import Person
from huiminbao.identity.sms_domain import SmsTemplate
from huiminbao.payments import ledger
from huiminbao.payments.gateway.port import GatewayUnavailable
from huiminbao.registry.port import RegistryUnavailable

log = logging.getLogger(__name__)

AUTO_RENEW_CONSENT_VERSION = "2026.1"
AUTO_RENEW_CONSENT_TEXT = (
    "我同意在下一保障年度开放投保时，为本保单的被保险人自动续保：续保扣款前将以短信提醒，"
    "提醒后至少7天方可从我的医保个人账户扣除续保保费；我可以随时关闭自动续保。"
)
AUTO_RENEW_PAYER_ONLY = "自动续保将从付款人的医保个人账户扣费，只能由付款人本人开启"


@dataclass(frozen=True)
class PolicyDetails:
    policy: Policy
    product: Product
    insured: Person
    holder: Person
    order: Order
    refund: Refund | None
    payer: Person | None = None  # whose account paid (None: online, employer, subsidy …)


# ---------------------------------------------------------------- reading


def list_policies(c: Container, subject: Subject) -> list[PolicyDetails]:
    """Policies where the subject is the insured person or the holder (the buyer).

    From the replica (``Database.replica_read``): the list may lag the primary by the replica's
    delay, so a policy issued a moment ago can be missing for that long. Reads that must see
    the caller's own write stay on the primary: ``get_policy`` (the page a resident lands on
    after paying or cancelling), and the order, payment and refund reads of the enrollment."""
    with c.db.replica_read() as session:
        policies = session.scalars(
            select(Policy).where(or_(Policy.insured_person_id == subject.person_id,
                                     Policy.holder_person_id == subject.person_id))
            .order_by(Policy.issued_at.desc(), Policy.id.desc())
        ).all()
        return details_of(c, session, policies)


def get_policy(c: Container, actor: Actor, policy_no: str,
               action: Action = Action.VIEW_POLICIES) -> PolicyDetails:
    with c.db.read() as session:
        policy = session.scalars(select(Policy).where(Policy.policy_no == policy_no)).one_or_none()
        if policy is None:
            raise NotFound("未找到该保单")
        require_policy_access(c, session, actor, policy, action)
        return policy_details(c, session, policy)


def require_policy_access(c: Container, session: Session, actor: Actor, policy: Policy,
                          action: Action) -> Decision:
    """A policy is the insured person's and its holder's: either may see it, or whoever may
    act for one of them (grant, staff role). Anyone else gets the same 404 as a wrong number.
    Returns on what basis (and under which grant) the caller may."""
    for person_id in dict.fromkeys((policy.insured_person_id, policy.holder_person_id)):
        decision = authorize(c, session, actor, action, person_id)
        if decision.allowed:
            return decision
    return require_access(c, session, actor, action, policy.insured_person_id,
                          object_type="policy", object_id=policy.policy_no)


def _require_holder(c: Container, session: Session, actor: Actor, policy: Policy) -> None:
    """Only the holder (who paid) may cancel: the money goes back to the holder's source."""
    require_policy_access(c, session, actor, policy, Action.VIEW_POLICIES)
    if not authorize(c, session, actor, Action.CANCEL_POLICY, policy.holder_person_id).allowed:
        raise RuleViolation("该保单由他人投保，只有投保人可以办理退保", code="not_holder")


def details_of(c: Container, session: Session,
               policies: Sequence[Policy]) -> list[PolicyDetails]:
    """What a policy page shows, for each policy: its order and item, the people named on it,
    its refund, and its product with tiers, terms and benefits. One read per kind of row for
    the whole list, and a published product from the process's cache (it never changes)."""
    if not policies:
        return []
    items = {item.id: item for item in session.scalars(select(OrderItem).where(
        OrderItem.id.in_({p.order_item_id for p in policies})))}
    orders = {order.id: order for order in session.scalars(select(Order).where(
        Order.id.in_({item.order_id for item in items.values()})))}
    named = {p.insured_person_id for p in policies} | {p.holder_person_id for p in policies} | {
        p.payer_person_id for p in policies if p.payer_person_id is not None}
    people = {person.id: person for person in session.scalars(
        select(Person).where(Person.id.in_(named)))}
    refunds = {refund.policy_id: refund for refund in session.scalars(select(Refund).where(
        Refund.policy_id.in_([p.id for p in policies])))}
    products = {product_id: _product(c, session, product_id)
                for product_id in {p.product_id for p in policies}}
    return [PolicyDetails(
        policy, products[policy.product_id], people[policy.insured_person_id],
        people[policy.holder_person_id], orders[items[policy.order_item_id].order_id],
        refunds.get(policy.id),
        people[policy.payer_person_id] if policy.payer_person_id is not None else None,
    ) for policy in policies]


def policy_details(c: Container, session: Session, policy: Policy) -> PolicyDetails:
    [details] = details_of(c, session, [policy])
    return details


def _product(c: Container, session: Session, product_id: int) -> Product:
    """The policy's product, fully loaded: a published one from the cache when it is kept
    (enrollments keep it), otherwise from this session."""
    cached = c.products.peek(product_id)
    if cached is not None:
        return cached
    return session.scalars(select(Product).where(Product.id == product_id)
                           .options(selectinload(Product.tiers).selectinload(Tier.benefits),
                                    selectinload(Product.terms),
                                    selectinload(Product.pre_existing))).one()


# ---------------------------------------------------------------- e-policy QR and verification


# The verify token is a JWT (HS256, joserfc) under a key of its own (never the sign-in key: a
# verify token is no bearer token, and a bearer token is no verify token). It names the policy
# (``sub`` its number, ``pid`` its id) and expires VERIFY_GRACE after the coverage ends: claims
# for the year's last hospital stays are filed and checked in the months after it, and half a
# year covers that without leaving a link valid forever. The token carries no status: every
# check reads the policy's current state (a cancelled policy shows 已退保 on an old QR code).
VERIFY_ALGORITHM = "HS256"
VERIFY_ISSUER = "huiminbao"
VERIFY_AUDIENCE = "policy-verify"
VERIFY_GRACE = timedelta(days=180)
VERIFY_INVALID = "校验码无效：该电子保单二维码不是本平台签发的，或已被篡改"
VERIFY_EXPIRED = ("此验证码已过期：该电子保单的保障期已结束。"
                  "如需核实保单，请联系承保公司客服")


class VerifyExpired(DomainError):
    """A genuine verify token past its validity: 410, with no details of the policy."""

    http_status = 410
    code = "verify_expired"


def verify_expires_at(coverage_ends_on: date) -> datetime:
    """The end (China time) of the last day a policy's verify link answers."""
    last_day = coverage_ends_on + VERIFY_GRACE
    return datetime.combine(last_day + timedelta(days=1), time.min, CHINA_TZ).astimezone(UTC)


def _verify_key(c: Container) -> OctKey:
    return OctKey.import_key(hash_secret(c.settings.secret_key, "policy-verify-key"))


def _legacy_verifier(c: Container) -> URLSafeSerializer:
    return URLSafeSerializer(c.settings.secret_key, salt="policy-verify")


def verify_token(c: Container, policy: Policy) -> str:
    claims = {
        # No "iat": the same policy always gets the same token (the page's link and its QR).
        "iss": VERIFY_ISSUER, "aud": VERIFY_AUDIENCE, "sub": policy.policy_no, "pid": policy.id,
        "exp": int(verify_expires_at(policy.coverage_ends_on).timestamp()),
    }
    return jwt.encode({"alg": VERIFY_ALGORITHM, "typ": "JWT"}, claims, _verify_key(c),
                      algorithms=[VERIFY_ALGORITHM])


def policy_for_token(c: Container, token: str) -> PolicyDetails:
    """The policy a verify token names, in its current state.

    Tokens issued before they expired (itsdangerous, the policy number only) are accepted until
    the same date a new token for that policy would expire: printed e-policies keep working
    through their year and the claims after it, then answer "expired" like any other.

    A public lookup, from the replica: a token is only handed out once its policy is issued,
    and scanned later than the replica's lag."""
    if token.count(".") == 2:
        policy_no, policy_id, expired = _read_jwt(c, token)
    else:
        policy_no, policy_id, expired = _read_legacy(c, token), None, False
    with c.db.replica_read() as session:
        policy = session.scalars(select(Policy).where(Policy.policy_no == policy_no)).one_or_none()
        if policy is None or (policy_id is not None and policy.id != policy_id):
            raise NotFound(VERIFY_INVALID)
        if expired or c.clock.now() >= verify_expires_at(policy.coverage_ends_on):
            raise VerifyExpired(VERIFY_EXPIRED)
        return policy_details(c, session, policy)


def _read_jwt(c: Container, token: str) -> tuple[str, int, bool]:
    """(policy number, policy id, expired) of a genuine token; anything else is "invalid"."""
    expired = False
    try:
        decoded = jwt.decode(token, _verify_key(c), algorithms=[VERIFY_ALGORITHM])
        claims = decoded.claims
        registry = jwt.JWTClaimsRegistry(
            now=lambda: int(c.clock.now().timestamp()),
            iss={"essential": True, "value": VERIFY_ISSUER},
            aud={"essential": True, "value": VERIFY_AUDIENCE},
            sub={"essential": True}, exp={"essential": True},
        )
        try:
            registry.validate(claims)
        except ExpiredTokenError:
            expired = True  # signed by us (decode checked that): genuine, but past its date
        policy_no, policy_id = claims["sub"], claims.get("pid")
        if (decoded.header.get("alg") != VERIFY_ALGORITHM or not isinstance(policy_no, str)
                or type(policy_id) is not int):
            raise ValueError("unexpected verify token shape")
    except (JoseError, ValueError, TypeError, KeyError) as exc:
        raise NotFound(VERIFY_INVALID) from exc
    return policy_no, policy_id, expired


def _read_legacy(c: Container, token: str) -> str:
    try:
        policy_no = _legacy_verifier(c).loads(token)
    except BadSignature as exc:
        raise NotFound(VERIFY_INVALID) from exc
    if not isinstance(policy_no, str):
        raise NotFound(VERIFY_INVALID)
    return policy_no


def qr_png(url: str) -> bytes:
    image = qrcode.make(url, error_correction=qrcode.constants.ERROR_CORRECT_M, box_size=8,
                        border=4)
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def validity(details: PolicyDetails, today: date) -> str:
    policy = details.policy
    if policy.status == PolicyStatus.CANCELLED.value:
        return "已退保"
    if today < policy.coverage_starts_on:
        return "有效（待生效）"
    if today > policy.coverage_ends_on:
        return "已到期"
    return "有效（保障中）"


# ---------------------------------------------------------------- cancelling


def cancel_policy(c: Container, actor: Actor, policy_no: str) -> PolicyDetails:
    """Cancel before coverage starts, with the full premium back to where it came from."""
    now, today = c.clock.now(), c.clock.today()
    with c.db.transaction() as session:
        policy = session.scalars(
            select(Policy).where(Policy.policy_no == policy_no).with_for_update()
            .execution_options(populate_existing=True)
        ).one_or_none()
        if policy is None:
            raise NotFound("未找到该保单")
        _require_holder(c, session, actor, policy)
        existing = session.scalars(select(Refund).where(Refund.policy_id == policy.id)).first()
        if existing is not None:
            refund_no = existing.refund_no  # cancelled already: just make sure the money went
        else:
            refusal = cancel_refusal(PolicyStatus(policy.status), policy.coverage_starts_on,
                                     today)
            if refusal is not None:
                raise RuleViolation(refusal.message, code=refusal.code)
            item = session.get(OrderItem, policy.order_item_id)
            assert item is not None
            order = session.scalars(select(Order).where(Order.id == item.order_id)
                                    .with_for_update()).one()
            policy.status = policy_transition(PolicyStatus.ACTIVE, PolicyStatus.CANCELLED).value
            policy.cancelled_at, policy.auto_renew = now, False
            item.holds_place = False
            for use in session.scalars(select(SubsidyUse).where(
                    SubsidyUse.order_item_id == item.id)):
                use.active = False
            amount = item.premium_fen - item.subsidy_fen
            refund_no = numbers.refund_no(order.order_no, policy.id)
            session.add(Refund(refund_no=refund_no, order_id=order.id, policy_id=policy.id,
                               payment_method=order.payment_method, amount_fen=amount,
                               subsidy_fen=item.subsidy_fen, status="pending", created_at=now))
            order.refunded_fen += amount
            still_live = session.scalars(
                select(Policy.id).join(OrderItem, OrderItem.id == Policy.order_item_id)
                .where(OrderItem.order_id == order.id, Policy.status == "active",
                       Policy.id != policy.id)
            ).first()
            if still_live is None:
                order.status = transition(OrderStatus(order.status), OrderStatus.REFUNDED).value
            audit.record(session, c.clock, AuditEntry(
                action="policy.cancel", actor=AuditActor(actor.account_id, actor.role.value),
                subject_person_id=policy.insured_person_id, object_type="policy",
                object_id=policy.policy_no, details={"refund_fen": amount,
                                                     "subsidy_fen": item.subsidy_fen},
            ))
    settle_refund(c, refund_no)
    return get_policy(c, actor, policy_no, Action.CANCEL_POLICY)


def settle_refund(c: Container, refund_no: str) -> Refund:
    """Send (or resend, with the same number) a pending refund and book it when it succeeds."""
    with c.db.read() as session:
        refund = session.scalars(select(Refund).where(Refund.refund_no == refund_no)).one()
        order = session.get(Order, refund.order_id)
        assert order is not None
        payer = session.get(Person, order.payer_person_id) if order.payer_person_id else None
    if refund.status != "pending":
        return refund
    method = PaymentMethod(refund.payment_method)
    # A refund without a policy returns a payment that arrived for a closed order.
    stray = refund.policy_id is None
    purpose = "订单关闭退款" if stray else "退保退费"
    succeeded, reason = True, None  # a refund of 0 fen (fully subsidized) moves no money
    try:
        if refund.amount_fen and method is PaymentMethod.PERSONAL_ACCOUNT:
            outcome = c.registry.refund(refund_no, order.payment_request_no, refund.amount_fen,
                                        purpose=purpose)
            succeeded = outcome.succeeded
            reason = outcome.failure_reason.value if outcome.failure_reason else None
        elif refund.amount_fen and method is PaymentMethod.ONLINE:
            gateway_refund = c.gateway.refund(refund_no, order.payment_request_no,
                                              refund.amount_fen, purpose)
            succeeded = gateway_refund.succeeded
            failure = gateway_refund.failure_reason
            reason = failure.value if failure else None
    except (RegistryUnavailable, GatewayUnavailable):
        log.warning("refund %s outcome unknown; reconcile will resend it", refund_no)
        return refund
    try:  # whom to text once the refund is booked; the booking never waits for it
        registered = c.registry.find_person(payer.id_number) if payer is not None else None
    except RegistryUnavailable:
        registered = None
    now = c.clock.now()
    with c.db.transaction() as session:
        locked = session.scalars(select(Refund).where(Refund.refund_no == refund_no)
                                 .with_for_update().execution_options(populate_existing=True)
                                 ).one()
        if locked.status != "pending":
            return locked
        if not succeeded:
            locked.status, locked.failure_reason = "failed", str(reason)
            log.error("refund %s failed: %s", refund_no, reason)
            return locked
        product = session.get(Product, order.product_id)
        assert product is not None
        # A stray payment was held aside, never premium income: it goes back from there.
        held_in = ledger.STRAY_PAYMENTS if stray else ledger.premium_income(product.id)
        moves: list[tuple[str, int]] = [(held_in, -(locked.amount_fen + locked.subsidy_fen))]
        if locked.subsidy_fen:
            moves.append((subsidy_funds.refund_account(session, locked, product.city_code),
                          locked.subsidy_fen))
        if locked.amount_fen:
            if method.is_offline:
                # Off-line money (an employer's transfer, cash at a counter) goes back to the
                # account the payment came from: employer:<code> / counter_cash:<city>.
                source = _offline_source(session, order.order_no, method)
            else:
                source = (ledger.personal_account(order.payer_person_id)
                          if method is PaymentMethod.PERSONAL_ACCOUNT and order.payer_person_id
                          else ledger.GATEWAY)
            moves.append((source, locked.amount_fen))
        ledger.post(session, kind="refund", reference=f"refund:{refund_no}",
                    order_no=order.order_no, purpose=purpose, moves=moves, now=now)
        locked.status, locked.settled_at = "succeeded", now
        if (locked.amount_fen and method is PaymentMethod.PERSONAL_ACCOUNT and registered
                and registered.phone):
            template = (SmsTemplate.REFUND_CLOSED_ORDER if stray
                        else SmsTemplate.REFUND_SURRENDER)
            c.sms.send(session, registered.phone, template,
                       {"product": product.name, "amount": format_fen(locked.amount_fen)})
        return locked


def _offline_source(session: Session, order_no: str, method: PaymentMethod) -> str:
    """The ledger account an off-line payment came from, as its payment transaction booked it."""
    account = session.scalars(
        select(ledger.LedgerEntry.account)
        .join(ledger.LedgerTransaction,
              ledger.LedgerTransaction.id == ledger.LedgerEntry.transaction_id)
        .where(ledger.LedgerTransaction.reference == f"pay:{order_no}",
               ledger.LedgerEntry.account.like(f"{method.value}:%"))
    ).first()
    if account is None:
        raise RuleViolation("未找到该订单的缴费记录，无法退费", code="payment_source_unknown")
    return account


# ---------------------------------------------------------------- auto-renewal consent


def auto_renew_refusal(policy: Policy, payment_method: str,
                       actor_person_id: int | None) -> DomainError | None:
    """Why this caller may not turn auto-renewal on for this policy, or None. The one rule:
    ``set_auto_renew`` raises it, the policy view's ``can_set_auto_renew`` shows it."""
    if policy.status != PolicyStatus.ACTIVE.value:
        return RuleViolation("已退保的保单不能开启自动续保", code="not_active")
    if payment_method != PaymentMethod.PERSONAL_ACCOUNT.value:
        return RuleViolation("自动续保从医保个人账户扣费，仅适用于用个人账户缴费的保单",
                             code="auto_renew_unavailable")
    # The consent is to future debits from one person's account: only that person may give
    # it — not the insured, not an agent, not staff. Turning it off (set_auto_renew, for anyone
    # who may act on the policy) costs nobody anything.
    if not is_payer(policy, actor_person_id):
        return Forbidden(AUTO_RENEW_PAYER_ONLY, code="not_payer")
    if policy.payer_person_id != policy.holder_person_id:
        # The renewal job enrolls as the holder and debits the holder's own account
        # (renewal._renew): a principal's account paid through a proxy grant is not it.
        return RuleViolation("代缴的保单暂不支持自动续保，请到期后重新投保",
                             code="auto_renew_unavailable")
    return None


def is_payer(policy: Policy, actor_person_id: int | None) -> bool:
    """The signed-in person (not whom they act for) is the one whose account paid."""
    return actor_person_id is not None and actor_person_id == policy.payer_person_id


def set_auto_renew(c: Container, actor: Actor, policy_no: str, enabled: bool,
                   consent_version: str | None) -> PolicyDetails:
    now = c.clock.now()
    with c.db.transaction() as session:
        policy = session.scalars(select(Policy).where(Policy.policy_no == policy_no)
                                 .with_for_update()).one_or_none()
        if policy is None:
            raise NotFound("未找到该保单")
        require_policy_access(c, session, actor, policy, Action.ENROLL)
        if enabled:
            order = session.scalars(select(Order).join(OrderItem, OrderItem.order_id == Order.id)
                                    .where(OrderItem.id == policy.order_item_id)).one()
            refusal = auto_renew_refusal(policy, order.payment_method, actor.person_id)
            if refusal is not None:
                raise refusal
            consent_gate.require(c, session, actor, [Purpose.AUTO_RENEW])
            if consent_version != AUTO_RENEW_CONSENT_VERSION:
                raise InvalidInput("请阅读并同意自动续保授权说明",
                                   errors={"consent_version": ["请阅读并同意自动续保授权说明"]})
        policy.auto_renew = enabled
        policy.auto_renew_consent_version = consent_version if enabled else None
        policy.auto_renew_changed_at = now
        audit.record(session, c.clock, AuditEntry(
            action="policy.auto_renew_on" if enabled else "policy.auto_renew_off",
            actor=AuditActor(actor.account_id, actor.role.value),
            subject_person_id=policy.insured_person_id, object_type="policy",
            object_id=policy.policy_no,
            details={"consent_version": consent_version} if enabled else {},
        ))
    return get_policy(c, actor, policy_no)
