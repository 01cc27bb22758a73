"""Pure SMS rules: the named templates every text is made from, the delivery states of an
outbox row with their transition table, and the retry back-off. No Flask, no database.

Real providers (Tencent Cloud SMS, Aliyun dysmsapi) send a *registered* template with its
parameters and a registered sign name, never free text. Each ``SmsTemplate`` is the product's
key for one such template; its Chinese pattern names its parameters (``{code}``), in the order
the provider's template numbers them (``{1}``, ``{2}`` …). Operators register each pattern with
the provider and map the keys to the provider's template ids (``SMS_TEMPLATE_IDS``).
"""

from __future__ import annotations

import re
import string
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum

from huiminbao.core.states import InvalidTransition, StateMachine

SIGNATURE = "【西湖益联保】"  # shown in the outbox; a provider adds its registered sign name
_ID_NUMBER = re.compile(r"\d{17}[\dXx]")


class UnsafeSmsText(ValueError):
    pass


def check_sms_text(text: str) -> None:
    if _ID_NUMBER.search(text):
        raise UnsafeSmsText("an SMS must not contain an ID number")


class SmsTemplate(StrEnum):
    """Every text the product sends. The value is the key in ``SMS_TEMPLATE_IDS``."""

    LOGIN_CODE = "login_code"
    PAYMENT_CODE = "payment_code"  # before per-debit codes; kept for rows already in the outbox
    RELATIVE_CODE = "relative_code"
    PROXY_GRANT_CODE = "proxy_grant_code"
    DEBIT_NOTICE = "debit_notice"
    RENEWAL_NOTICE = "renewal_notice"
    AUTO_RENEW_REVOKED = "auto_renew_revoked"
    REFUND_CLOSED_ORDER = "refund_closed_order"
    REFUND_SURRENDER = "refund_surrender"
    ENROLLED_BY_RELATIVE = "enrolled_by_relative"
    ENROLLED_BY_AGENT = "enrolled_by_agent"
    PROXY_GRANT_ACTIVE = "proxy_grant_active"
    CLAIM_SUBMITTED = "claim_submitted"
    CLAIM_UNDER_REVIEW = "claim_under_review"
    CLAIM_SUPPLEMENT_REQUESTED = "claim_supplement_requested"
    CLAIM_APPROVED = "claim_approved"
    CLAIM_PAID = "claim_paid"
    CLAIM_REJECTED = "claim_rejected"
    CLAIM_SETTLED = "claim_settled"
    CLAIM_APPEALED = "claim_appealed"
    COMPLAINT_REPLIED = "complaint_replied"
    COMPLAINT_RESOLVED = "complaint_resolved"
    # Added last: providers' template ids are numbered in this order by the fake.
    DEBIT_CONFIRM_CODE = "debit_confirm_code"  # the owner confirms one debit
    BINDING_DISPLACED = "binding_displaced"
    BINDING_VERIFIED = "binding_verified"
    COMPLAINT_CODE = "complaint_code"  # filing a complaint without an account
    POLICY_LOOKUP_CODE = "policy_lookup_code"  # 保单查询 without an account

    @property
    def pattern(self) -> str:
        return PATTERNS[self]

    @property
    def parameters(self) -> tuple[str, ...]:
        """The named parameters in the order of the provider's ``{1}``, ``{2}`` …"""
        names: list[str] = []
        for _literal, name, _spec, _conversion in string.Formatter().parse(self.pattern):
            if name and name not in names:
                names.append(name)
        return tuple(names)

    @property
    def is_code(self) -> bool:
        """A one-time code: sent at once by the request that asks for it, never retried later."""
        return self in _CODE_TEMPLATES


PATTERNS: Mapping[SmsTemplate, str] = {
    SmsTemplate.LOGIN_CODE:
        "您的登录验证码为{code}，5分钟内有效。工作人员不会索要验证码，请勿告诉他人。",
    SmsTemplate.PAYMENT_CODE:
        "您正在确认使用医保个人账户支付，验证码{code}，5分钟内有效，请勿告诉他人。",
    SmsTemplate.DEBIT_CONFIRM_CODE:
        "您正在确认使用医保个人账户支付{amount}（被保险人：{insured}），验证码{code}，"
        "5分钟内有效。如非本人或您授权的亲友操作，请勿提供。",
    SmsTemplate.BINDING_DISPLACED:
        "您账号中的实名身份已由本人核验后绑定到另一账号，您的账号已解除绑定。"
        "如有疑问请携带身份证到经办窗口或联系客服。",
    SmsTemplate.BINDING_VERIFIED:
        "您已通过{method}完成惠民保实名核验，此前未经核验的其他账号绑定已解除。"
        "如非本人操作请联系客服。",
    SmsTemplate.RELATIVE_CODE:
        "您的亲属正在将您添加为家庭成员，验证码{code}，5分钟内有效。如非本人同意请勿提供。",
    SmsTemplate.PROXY_GRANT_CODE:
        "您的亲友申请代您办理惠民保业务，验证码{code}，5分钟内有效。如非本人同意请勿提供。",
    SmsTemplate.DEBIT_NOTICE:
        "您的医保个人账户已支付{product}保费{amount}，被保险人：{insured}。如非本人操作请致电客服。",
    SmsTemplate.RENEWAL_NOTICE:
        "您已开启自动续保：{product}保费{amount}将于{date}起从您的医保个人账户扣除"
        "（被保险人：{insured}）。如不需要续保，请在此之前在“我的保单”中关闭自动续保。",
    SmsTemplate.AUTO_RENEW_REVOKED:
        "您为{insured}投保的{product}的自动续保已关闭：开启人不是付款人本人，不能代您同意从您的"
        "医保个人账户扣费。如需自动续保，请登录“我的保单”由您本人开启。",
    SmsTemplate.REFUND_CLOSED_ORDER:
        "{product}订单已关闭，已扣保费{amount}已退回您的医保个人账户。",
    SmsTemplate.REFUND_SURRENDER: "{product}退保退费{amount}已退回您的医保个人账户。",
    SmsTemplate.ENROLLED_BY_RELATIVE:
        "{buyer}已为您投保{product}，保障期{starts}至{ends}。可登录查看电子保单。",
    SmsTemplate.ENROLLED_BY_AGENT:
        "{agent}已代您办理{product}参保，被保险人：{insured}，保费{amount}（{paid_by}）。"
        "如非您本人授权，请登录查看“代办记录”并撤销授权，或致电客服。",
    SmsTemplate.PROXY_GRANT_ACTIVE:
        "您已授权{agent}代您办理惠民保业务：{scopes}，有效期至{until}。"
        "如需撤销，请登录查看“代办授权”或到经办窗口办理。",
    SmsTemplate.CLAIM_SUBMITTED: "您的理赔申请（编号{claim_no}）已提交，请登录查看进度。",
    SmsTemplate.CLAIM_UNDER_REVIEW: "您的理赔申请（编号{claim_no}）已进入审核，请登录查看。",
    SmsTemplate.CLAIM_SUPPLEMENT_REQUESTED:
        "您的理赔申请（编号{claim_no}）需要补充材料：请登录查看",
    SmsTemplate.CLAIM_APPROVED:
        "您的理赔申请（编号{claim_no}）已审核通过，赔付金额{amount}，请登录查看明细。",
    SmsTemplate.CLAIM_PAID: "您的理赔款（编号{claim_no}）{amount}已支付，请登录查看。",
    SmsTemplate.CLAIM_REJECTED: "您的理赔申请（编号{claim_no}）审核未通过，请登录查看原因。",
    SmsTemplate.CLAIM_APPEALED: "您的理赔申诉（编号{claim_no}）已受理，将交由其他复核人员重新审核，"
                                "请登录查看进展。",
    SmsTemplate.CLAIM_SETTLED:
        "您的医疗费用已通过一站式结算获得惠民保赔付{amount}（编号{claim_no}），请登录查看明细。",
    SmsTemplate.COMPLAINT_CODE:
        "您正在提交惠民保投诉，验证码{code}，5分钟内有效。工作人员不会索要验证码，请勿告诉他人。",
    SmsTemplate.POLICY_LOOKUP_CODE:
        "您正在查询惠民保参保信息，验证码{code}，5分钟内有效。如非本人或家人操作，请勿提供。",
    SmsTemplate.COMPLAINT_REPLIED:
        "您的惠民保投诉（编号{complaint_no}）有新的回复，请登录“惠民保参保服务”查看。",
    SmsTemplate.COMPLAINT_RESOLVED:
        "您的惠民保投诉（编号{complaint_no}）已办结，处理结果请登录“惠民保参保服务”查看。"
        "如有异议可再次提出投诉。",
}

_CODE_TEMPLATES = frozenset({SmsTemplate.LOGIN_CODE, SmsTemplate.PAYMENT_CODE,
                             SmsTemplate.DEBIT_CONFIRM_CODE, SmsTemplate.RELATIVE_CODE,
                             SmsTemplate.PROXY_GRANT_CODE, SmsTemplate.COMPLAINT_CODE,
                             SmsTemplate.POLICY_LOOKUP_CODE})


@dataclass(frozen=True)
class SmsText:
    """One template with its parameters: what a provider is sent."""

    template: SmsTemplate
    params: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        expected = set(self.template.parameters)
        if set(self.params) != expected:
            raise ValueError(f"template {self.template.value} takes {sorted(expected)}, "
                             f"not {sorted(self.params)}")
        for value in self.params.values():
            check_sms_text(value)
        check_sms_text(self.render())

    def render(self) -> str:
        """The text as the resident reads it (without the sign name)."""
        return self.template.pattern.format_map(dict(self.params))

    def ordered_params(self) -> list[str]:
        """The values for the provider's ``{1}``, ``{2}`` …"""
        return [self.params[name] for name in self.template.parameters]


REDACTED_CODE = "******"


def redacted_code_text(template: SmsTemplate) -> tuple[str, dict[str, str]]:
    """The outbox ``text`` (with the signature) and ``params`` of a one-time code's row once it is
    sent or given up: a plaintext code kept at rest would undo the hashing of the challenge
    (anyone reading the table could sign in as the resident while the code is valid)."""
    if not template.is_code:
        raise ValueError(f"{template.value} carries no one-time code")
    params = {name: REDACTED_CODE for name in template.parameters}
    return SIGNATURE + SmsText(template, params).render(), params


# ---------------------------------------------------------------- delivery states


class SmsStatus(StrEnum):
    QUEUED = "queued"  # written with the event that causes it; not yet tried
    SENDING = "sending"  # leased by a worker (or the request sending a code) until lease_until
    SENT = "sent"  # the provider accepted it (provider_message_id)
    FAILED = "failed"  # the last try failed; tried again at next_attempt_at
    GIVEN_UP = "given_up"  # too many tries, or a one-time code that failed: never sent again

    @property
    def label(self) -> str:
        return {SmsStatus.QUEUED: "待发送", SmsStatus.SENDING: "发送中",
                SmsStatus.SENT: "已发送", SmsStatus.FAILED: "发送失败，等待重试",
                SmsStatus.GIVEN_UP: "已放弃"}[self]


class InvalidSmsTransition(InvalidTransition, ValueError):
    """An SMS status move the table refuses (also a ValueError, as it always was)."""


TRANSITIONS = StateMachine({
    SmsStatus.QUEUED: frozenset({SmsStatus.SENDING, SmsStatus.GIVEN_UP}),
    # A lease that ran out is taken over: sending -> sending (the next attempt).
    SmsStatus.SENDING: frozenset({SmsStatus.SENT, SmsStatus.FAILED, SmsStatus.GIVEN_UP,
                                  SmsStatus.SENDING}),
    SmsStatus.FAILED: frozenset({SmsStatus.SENDING, SmsStatus.GIVEN_UP}),
    SmsStatus.SENT: frozenset(),
    SmsStatus.GIVEN_UP: frozenset(),
}, InvalidSmsTransition)


transition = TRANSITIONS.transition


@dataclass(frozen=True)
class RetryPolicy:
    """Exponential back-off: ``base * 2**(attempt-1)``, at most ``cap``; after ``max_attempts``
    failed tries the message is given up. The defaults keep trying for about eight hours."""

    base: timedelta = timedelta(seconds=30)
    cap: timedelta = timedelta(hours=1)
    max_attempts: int = 12

    def delay(self, attempts: int) -> timedelta:
        """How long after the ``attempts``-th failed try the next one may start."""
        exponent = min(max(attempts - 1, 0), 30)
        delay: timedelta = self.base * (2 ** exponent)
        return min(delay, self.cap)

    def after_failure(self, attempts: int, now: datetime) -> tuple[SmsStatus, datetime | None]:
        """The state after a failed try and when to try again (None: never)."""
        if attempts >= self.max_attempts:
            return transition(SmsStatus.SENDING, SmsStatus.GIVEN_UP), None
        return transition(SmsStatus.SENDING, SmsStatus.FAILED), now + self.delay(attempts)
