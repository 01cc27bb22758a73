"""Pure proxy rules: grant scopes and what each allows, the grant status machine, expiry, and the
yearly limit on paying from the principal's personal account.

No Flask, no database. ``transition`` is the only way a grant's status changes; any pair not in
``GRANT_TRANSITIONS`` raises ``InvalidTransition``.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from enum import StrEnum

from huiminbao.core.clock import CHINA_TZ
from huiminbao.core.money import format_fen
from huiminbao.core.states import StateMachine
from huiminbao.identity.domain import Action

MAX_VALID_DAYS = 366  # a grant lasts at most one year
PENDING_LIFETIME = timedelta(days=7)  # unconfirmed requests lapse (time to visit a counter)
CONFIRM_TOKEN_LIFETIME = timedelta(minutes=10)  # the QR code's signed token
MAX_PAY_LIMIT_FEN = 1_000_000  # ¥10,000 a year: far above any premium, still a bound
NOTE_MAX_LENGTH = 200


class Scope(StrEnum):
    ENROLL = "enroll"
    VIEW_POLICIES = "view_policies"
    CLAIMS_SUBMIT = "claims_submit"
    CLAIMS_VIEW = "claims_view"
    PAY_FROM_PRINCIPAL_ACCOUNT = "pay_from_principal_account"


# What the gate lets an agent do under each scope. Enrolling includes the confirm-sheet preview
# (the same action); paying from the principal's account is checked by the payment-limit rule.
SCOPE_ACTIONS: dict[Scope, frozenset[Action]] = {
    Scope.ENROLL: frozenset({Action.ENROLL}),
    Scope.VIEW_POLICIES: frozenset({Action.VIEW_POLICIES}),
    Scope.CLAIMS_SUBMIT: frozenset({Action.SUBMIT_CLAIMS}),
    Scope.CLAIMS_VIEW: frozenset({Action.VIEW_CLAIMS}),
    Scope.PAY_FROM_PRINCIPAL_ACCOUNT: frozenset({Action.PAY_FROM_ACCOUNT}),
}

_SCOPE_LABELS = {
    Scope.ENROLL: "代为参保",
    Scope.VIEW_POLICIES: "查看保单",
    Scope.CLAIMS_SUBMIT: "代为申请理赔",
    Scope.CLAIMS_VIEW: "查看理赔进度",
}


def scope_label(scope: Scope, pay_limit_fen: int | None, *, to_principal: bool) -> str:
    """Plain words for one scope: addressed to the principal ("您的") or about them."""
    if scope is Scope.PAY_FROM_PRINCIPAL_ACCOUNT:
        whose = "您的" if to_principal else "委托人的"
        limit = f"（每年不超过{format_fen(pay_limit_fen)}）" if pay_limit_fen else ""
        return f"使用{whose}医保个人账户缴费{limit}"
    return _SCOPE_LABELS[scope]


def allows(scopes: Iterable[Scope], action: Action) -> bool:
    return any(action in SCOPE_ACTIONS[scope] for scope in scopes)


def parse_scopes(raw: str) -> tuple[Scope, ...]:
    """Scopes as stored (comma-separated), in the canonical order of ``Scope``."""
    present = {part for part in raw.split(",") if part}
    return tuple(scope for scope in Scope if scope.value in present)


def format_scopes(scopes: Iterable[Scope]) -> str:
    present = set(scopes)
    return ",".join(scope.value for scope in Scope if scope in present)


# ---------------------------------------------------------------- the status machine


class GrantStatus(StrEnum):
    PENDING = "pending"  # asked for by the agent, not yet confirmed by the principal
    ACTIVE = "active"  # confirmed (QR, SMS code or counter) and within its validity
    REVOKED = "revoked"  # ended early by the principal, the agent or counter staff
    CANCELLED = "cancelled"  # withdrawn before it was ever confirmed
    EXPIRED = "expired"  # its time ran out (unconfirmed for too long, or past valid_until)

    @property
    def label(self) -> str:
        return _STATUS_LABELS[self]

    @property
    def is_live(self) -> bool:
        return self in {GrantStatus.PENDING, GrantStatus.ACTIVE}


_STATUS_LABELS = {
    GrantStatus.PENDING: "待确认",
    GrantStatus.ACTIVE: "生效中",
    GrantStatus.REVOKED: "已撤销",
    GrantStatus.CANCELLED: "已取消",
    GrantStatus.EXPIRED: "已过期",
}

GRANT_TRANSITIONS = StateMachine({
    GrantStatus.PENDING: frozenset({GrantStatus.ACTIVE, GrantStatus.CANCELLED,
                                    GrantStatus.EXPIRED}),
    GrantStatus.ACTIVE: frozenset({GrantStatus.REVOKED, GrantStatus.EXPIRED}),
    GrantStatus.REVOKED: frozenset(),
    GrantStatus.CANCELLED: frozenset(),
    GrantStatus.EXPIRED: frozenset(),
})


transition = GRANT_TRANSITIONS.transition


def effective_status(stored: GrantStatus, *, pending_expires_at: datetime,
                     valid_until: datetime | None, now: datetime) -> GrantStatus:
    """What a grant is now: a stored ``pending`` or ``active`` whose time has passed is expired,
    whether or not the row has been updated yet. Every check goes through this."""
    if stored is GrantStatus.PENDING and now >= pending_expires_at:
        return GrantStatus.EXPIRED
    if stored is GrantStatus.ACTIVE and (valid_until is None or now >= valid_until):
        return GrantStatus.EXPIRED
    return stored


class ConfirmMethod(StrEnum):
    QR = "qr"  # the principal scans the agent's QR code with their own logged-in phone
    SMS = "sms"  # a code to the principal's registered phone, read out to the agent
    COUNTER = "counter"  # counter staff check both people's documents in person

    @property
    def label(self) -> str:
        return {ConfirmMethod.QR: "扫码确认", ConfirmMethod.SMS: "短信验证码确认",
                ConfirmMethod.COUNTER: "窗口现场确认"}[self]


class Evidence(StrEnum):
    """Documents counter staff may record as checked."""

    PRINCIPAL_ID_CARD = "principal_id_card"
    AGENT_ID_CARD = "agent_id_card"
    HOUSEHOLD_REGISTER = "household_register"
    MARRIAGE_CERTIFICATE = "marriage_certificate"
    POWER_OF_ATTORNEY = "power_of_attorney"
    OTHER = "other"

    @property
    def label(self) -> str:
        return {
            Evidence.PRINCIPAL_ID_CARD: "委托人身份证", Evidence.AGENT_ID_CARD: "代办人身份证",
            Evidence.HOUSEHOLD_REGISTER: "户口簿", Evidence.MARRIAGE_CERTIFICATE: "结婚证",
            Evidence.POWER_OF_ATTORNEY: "授权委托书", Evidence.OTHER: "其他材料",
        }[self]


# The principal's identity (ID card or household register) and the agent's ID card.
PRINCIPAL_IDENTITY_EVIDENCE = frozenset({Evidence.PRINCIPAL_ID_CARD, Evidence.HOUSEHOLD_REGISTER})


def evidence_problem(evidence: Iterable[Evidence]) -> str | None:
    checked = set(evidence)
    if not checked & PRINCIPAL_IDENTITY_EVIDENCE:
        return "请核验委托人的身份证或户口簿"
    if Evidence.AGENT_ID_CARD not in checked:
        return "请核验代办人的身份证"
    return None


# ---------------------------------------------------------------- requests and limits


@dataclass(frozen=True)
class GrantTerms:
    scopes: tuple[Scope, ...]
    pay_limit_fen: int | None
    valid_days: int


def terms_problems(scopes: Iterable[str], pay_limit_fen: int | None,
                   valid_days: int) -> dict[str, str]:
    """Field -> Chinese message for everything wrong with requested terms (empty when fine)."""
    problems: dict[str, str] = {}
    raw = list(scopes)
    known = {scope.value for scope in Scope}
    if not raw:
        problems["scopes"] = "请至少选择一项代办事项"
    elif any(value not in known for value in raw):
        problems["scopes"] = "包含不支持的代办事项"
    pays = Scope.PAY_FROM_PRINCIPAL_ACCOUNT.value in raw
    if pays and pay_limit_fen is None:
        problems["pay_limit_fen"] = "选择使用委托人医保个人账户缴费时，请填写每年缴费限额"
    elif pays and pay_limit_fen is not None and not 0 < pay_limit_fen <= MAX_PAY_LIMIT_FEN:
        problems["pay_limit_fen"] = (f"每年缴费限额应大于0且不超过{format_fen(MAX_PAY_LIMIT_FEN)}")
    elif not pays and pay_limit_fen is not None:
        problems["pay_limit_fen"] = "未选择使用委托人医保个人账户缴费，不能设置缴费限额"
    if not 1 <= valid_days <= MAX_VALID_DAYS:
        problems["valid_days"] = f"授权期限应为1至{MAX_VALID_DAYS}天（最长一年）"
    return problems


def year_bounds(today: date) -> tuple[datetime, datetime]:
    """The calendar year (China time) that a yearly payment limit counts within, in UTC."""
    start = datetime.combine(date(today.year, 1, 1), time.min, CHINA_TZ).astimezone(UTC)
    end = datetime.combine(date(today.year + 1, 1, 1), time.min, CHINA_TZ).astimezone(UTC)
    return start, end


def payment_problem(scopes: Iterable[Scope], pay_limit_fen: int | None, paid_this_year_fen: int,
                    amount_fen: int) -> str | None:
    """Whether the agent may take ``amount_fen`` from the principal's personal account now."""
    if Scope.PAY_FROM_PRINCIPAL_ACCOUNT not in set(scopes) or pay_limit_fen is None:
        return "委托人未授权您使用其医保个人账户缴费，请选择在线支付"
    remaining = max(0, pay_limit_fen - paid_this_year_fen)
    if amount_fen > remaining:
        return f"超出授权的缴费额度：本年度剩余{format_fen(remaining)}"
    return None
