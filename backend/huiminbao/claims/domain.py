"""Pure claim rules: the status machine, staff decisions, claim numbers and the texts sent to
claimants. No Flask, no database.

Online claims::

    submitted → under_review → supplement_requested ⇄ under_review → approved → paid
                               under_review → rejected (with a reason)
    rejected → appealed → approved | rejected          (the claimant's one appeal)

One-stop settlements are created ``settled`` directly: the hospital has settled the bill, the
payout is computed and booked at once. ``TRANSITIONS`` is the only way a status changes; any
other pair raises ``InvalidTransition``.
"""

from __future__ import annotations

import secrets
from collections.abc import Collection
from dataclasses import dataclass
from datetime import date, datetime
from enum import StrEnum

from huiminbao.core.clock import to_china_time
from huiminbao.core.money import format_fen
from huiminbao.core.states import StateMachine
from huiminbao.identity.sms_domain import SmsTemplate, SmsText


class ClaimStatus(StrEnum):
    SUBMITTED = "submitted"
    UNDER_REVIEW = "under_review"
    SUPPLEMENT_REQUESTED = "supplement_requested"
    APPROVED = "approved"
    PAID = "paid"
    REJECTED = "rejected"
    SETTLED = "settled"  # one-stop settlement: settled by the hospital, payout booked
    APPEALED = "appealed"  # rejected, appealed by the claimant: another insurer decides

    @property
    def label(self) -> str:
        return _LABELS[self]

    @property
    def counts_toward_limits(self) -> bool:
        """Whether the claim's payout has used deductibles and caps of the policy year."""
        return self in COUNTED_STATUSES

    @property
    def is_open(self) -> bool:
        """Still waiting for the insurer (documents may be added)."""
        return self in OPEN_STATUSES


_LABELS = {
    ClaimStatus.SUBMITTED: "已提交",
    ClaimStatus.UNDER_REVIEW: "审核中",
    ClaimStatus.SUPPLEMENT_REQUESTED: "待补充材料",
    ClaimStatus.APPROVED: "审核通过，待支付",
    ClaimStatus.PAID: "已赔付",
    ClaimStatus.REJECTED: "未予赔付",
    ClaimStatus.SETTLED: "已一站式结算",
    ClaimStatus.APPEALED: "申诉复核中",
}

COUNTED_STATUSES = frozenset({ClaimStatus.APPROVED, ClaimStatus.PAID, ClaimStatus.SETTLED})
OPEN_STATUSES = frozenset({
    ClaimStatus.SUBMITTED, ClaimStatus.UNDER_REVIEW, ClaimStatus.SUPPLEMENT_REQUESTED,
    ClaimStatus.APPEALED,
})
# How a claim comes into being: online, or settled by a hospital.
INITIAL_STATUSES = frozenset({ClaimStatus.SUBMITTED, ClaimStatus.SETTLED})

TRANSITIONS = StateMachine({
    ClaimStatus.SUBMITTED: frozenset({ClaimStatus.UNDER_REVIEW}),
    ClaimStatus.UNDER_REVIEW: frozenset({
        ClaimStatus.SUPPLEMENT_REQUESTED, ClaimStatus.APPROVED, ClaimStatus.REJECTED,
    }),
    ClaimStatus.SUPPLEMENT_REQUESTED: frozenset({ClaimStatus.UNDER_REVIEW}),
    ClaimStatus.APPROVED: frozenset({ClaimStatus.PAID}),
    ClaimStatus.PAID: frozenset(),
    # Appealed once (the service refuses a second: ``appeal_problem``); the appeal's decision
    # approves the claim or upholds the rejection.
    ClaimStatus.REJECTED: frozenset({ClaimStatus.APPEALED}),
    ClaimStatus.SETTLED: frozenset(),
    ClaimStatus.APPEALED: frozenset({ClaimStatus.APPROVED, ClaimStatus.REJECTED}),
})


transition = TRANSITIONS.transition


class Channel(StrEnum):
    ONLINE = "online"  # 线上理赔
    SETTLEMENT = "settlement"  # 一站式结算

    @property
    def label(self) -> str:
        return {Channel.ONLINE: "线上理赔", Channel.SETTLEMENT: "一站式结算"}[self]


# ---------------------------------------------------------------- staff decisions


class Decision(StrEnum):
    START_REVIEW = "start_review"
    APPROVE = "approve"
    REJECT = "reject"
    REQUEST_SUPPLEMENT = "request_supplement"
    MARK_PAID = "mark_paid"

    @property
    def target(self) -> ClaimStatus:
        return {
            Decision.START_REVIEW: ClaimStatus.UNDER_REVIEW,
            Decision.APPROVE: ClaimStatus.APPROVED,
            Decision.REJECT: ClaimStatus.REJECTED,
            Decision.REQUEST_SUPPLEMENT: ClaimStatus.SUPPLEMENT_REQUESTED,
            Decision.MARK_PAID: ClaimStatus.PAID,
        }[self]

    @property
    def label(self) -> str:
        return {
            Decision.START_REVIEW: "开始审核",
            Decision.APPROVE: "审核通过",
            Decision.REJECT: "拒赔",
            Decision.REQUEST_SUPPLEMENT: "要求补充材料",
            Decision.MARK_PAID: "确认已支付",
        }[self]

    @property
    def needs_message(self) -> bool:
        return self in {Decision.REJECT, Decision.REQUEST_SUPPLEMENT}

    @property
    def missing_message(self) -> str:
        return "请填写拒赔原因" if self is Decision.REJECT else "请说明需要补充的材料"


# Decisions about the claim's merits first take a claim that is waiting (newly submitted, or
# waiting for a supplement) under review: the timeline then shows both steps.
_REVIEW_FIRST = frozenset({Decision.APPROVE, Decision.REJECT, Decision.REQUEST_SUPPLEMENT})


def decision_path(current: ClaimStatus, decision: Decision) -> list[ClaimStatus]:
    """The statuses a decision moves the claim through, each checked against the table."""
    path: list[ClaimStatus] = []
    status = current
    if decision in _REVIEW_FIRST and status in {ClaimStatus.SUBMITTED,
                                                 ClaimStatus.SUPPLEMENT_REQUESTED}:
        status = transition(status, ClaimStatus.UNDER_REVIEW)
        path.append(status)
    path.append(transition(status, decision.target))
    return path


# ---------------------------------------------------------------- contested claims


class ApprovalStep(StrEnum):
    """What an approval does under the joint decision of contested claims (002 三(一)): a claim
    paying more than the product's ``contested_claim_threshold_fen`` needs two approvals. The
    first is recorded and the claim stays under review; the second (``second_decision_refusal``
    says whose) approves it. A rejection needs no second decision."""

    FINAL = "final"  # not contested, or the second approval: the claim is approved
    FIRST = "first"  # contested: recorded, waiting for the second decision
    SAME_INSURER = "same_insurer"  # refused (co-insurers): the first decision was this insurer's
    NO_INSURER = "no_insurer"  # refused: the approver works for no insurer of record
    # A product with one insurer has no second insurer: a supervisor of that insurer decides.
    SAME_REVIEWER = "same_reviewer"  # refused: this account made the first decision
    NOT_SUPERVISOR = "not_supervisor"  # refused: the second decision is a supervisor's
    OTHER_INSURER = "other_insurer"  # refused: the approver works for another insurer

    @property
    def refusal(self) -> str | None:
        return {
            ApprovalStep.SAME_INSURER: "该理赔金额超过共保体复核标准，已由贵机构审核通过，"
                                       "需由另一家共保机构复核",
            ApprovalStep.NO_INSURER: "该理赔金额超过共保体复核标准，需由共保机构工作人员审核；"
                                     "您的账号尚未关联承保机构",
            ApprovalStep.SAME_REVIEWER: "该理赔金额超过复核标准，已由您审核通过，"
                                        "需由本机构另一位复核主管复核",
            ApprovalStep.NOT_SUPERVISOR: "该理赔金额超过复核标准，已有一人审核通过；本产品仅有一家"
                                         "承保机构，第二次审核须由该机构的复核主管作出",
            ApprovalStep.OTHER_INSURER: "该理赔金额超过复核标准，您的账号关联的不是本产品的"
                                        "承保机构，不能审核",
        }.get(self)


class SecondDecider(StrEnum):
    """Who makes a contested claim's second decision for a product: another insurer of its
    co-insurance group, or (a product with one insurer) a supervisor of that insurer."""

    ANOTHER_INSURER = "another_insurer"
    SUPERVISOR = "supervisor"

    @classmethod
    def for_insurers(cls, insurers: Collection[str]) -> SecondDecider:
        return cls.ANOTHER_INSURER if len(set(insurers)) > 1 else cls.SUPERVISOR


@dataclass(frozen=True)
class Reviewer:
    """Who made or makes a decision, as the joint-decision rule sees them: the account, the
    insurer it works for (None: staff of no insurer, e.g. an administrator) and whether it is
    that insurer's supervisor (复核主管)."""

    account_id: int | None
    insurer: str | None = None
    supervisor: bool = False


OUTSIDE_INSURER_REFUSAL = "您的账号关联的不是本产品的承保机构，不能审核本理赔"


def outside_insurers(reviewer: Reviewer, insurers: Collection[str]) -> bool:
    """Staff of an insurer decide only claims of products their insurer underwrites (staff of
    no insurer, such as the bureau's reviewers, decide any: the joint-decision rules above
    still apply to them)."""
    return reviewer.insurer is not None and reviewer.insurer not in insurers


def is_contested(payout_fen: int, threshold_fen: int | None) -> bool:
    return threshold_fen is not None and payout_fen > threshold_fen


def second_decision_refusal(first: Reviewer | None, second: Reviewer,
                            insurers: Collection[str]) -> ApprovalStep | None:
    """Whether ``second`` may make a contested claim's second decision (an appeal's, or a large
    claim's second approval) after ``first`` (None: nobody of record), for a product
    underwritten by ``insurers``; None when they may.

    Under a co-insurance group (two insurers or more) the second decision is another insurer's
    (any insurer's when the first decider worked for none). A product with one insurer has no
    other insurer to ask: a supervisor (复核主管) of that insurer decides, on an account other
    than the first decider's."""
    if second.insurer is None:
        return ApprovalStep.NO_INSURER
    if second.insurer not in insurers:  # staff of an insurer outside the product's group
        return ApprovalStep.OTHER_INSURER
    if SecondDecider.for_insurers(insurers) is SecondDecider.SUPERVISOR:
        if first is not None and first.account_id == second.account_id:
            return ApprovalStep.SAME_REVIEWER
        if not second.supervisor:
            return ApprovalStep.NOT_SUPERVISOR
        return None
    if first is not None and first.insurer == second.insurer:
        return ApprovalStep.SAME_INSURER
    return None


def approval_step(payout_fen: int, threshold_fen: int | None, first: Reviewer | None,
                  approver: Reviewer, insurers: Collection[str]) -> ApprovalStep:
    """The step an approval takes (see ``ApprovalStep``): ``first`` is the claim's recorded
    first approval, if any."""
    if not is_contested(payout_fen, threshold_fen):
        return ApprovalStep.FINAL
    if approver.insurer is None:
        return ApprovalStep.NO_INSURER
    if first is None:
        # The joint decision is the product's insurers': the first approval is one of theirs too.
        return (ApprovalStep.FIRST if approver.insurer in insurers
                else ApprovalStep.OTHER_INSURER)
    return second_decision_refusal(first, approver, insurers) or ApprovalStep.FINAL


# ---------------------------------------------------------------- appeals


class AppealState(StrEnum):
    """Where a claim's one appeal stands, as the claimant reads it."""

    PENDING = "pending"  # waiting for another insurer's decision
    UPHELD = "upheld"  # the rejection stands
    OVERTURNED = "overturned"  # approved on appeal

    @property
    def label(self) -> str:
        return {
            AppealState.PENDING: "复核中",
            AppealState.UPHELD: "维持原决定",
            AppealState.OVERTURNED: "申诉成立，予以赔付",
        }[self]


APPEAL_REASON_MIN_CHARS = 5
APPEAL_REASON_MAX_CHARS = 500
APPEAL_REASON_MISSING = f"请填写申诉理由（至少{APPEAL_REASON_MIN_CHARS}个字）"
APPEAL_REASON_TOO_LONG = f"申诉理由不能超过{APPEAL_REASON_MAX_CHARS}个字"


def appeal_reason_problem(reason: str) -> str | None:
    if len(reason) < APPEAL_REASON_MIN_CHARS:
        return APPEAL_REASON_MISSING
    if len(reason) > APPEAL_REASON_MAX_CHARS:
        return APPEAL_REASON_TOO_LONG
    return None


def appeal_problem(status: ClaimStatus, appealed_before: bool) -> str | None:
    """Why this claim cannot be appealed now, or None: only a rejected claim, and only once."""
    if appealed_before:
        return "每件理赔只能申诉一次，本件已申诉过"
    if status is not ClaimStatus.REJECTED:
        return f"该理赔当前状态为“{status.label}”，只有未予赔付的理赔可以申诉"
    return None


def appeal_state(status: ClaimStatus, appealed: bool) -> AppealState | None:
    if not appealed:
        return None
    if status is ClaimStatus.APPEALED:
        return AppealState.PENDING
    return AppealState.UPHELD if status is ClaimStatus.REJECTED else AppealState.OVERTURNED


APPEAL_REFUSALS = {
    ApprovalStep.SAME_INSURER: "申诉案件需由另一家共保机构复核：原拒赔决定由贵机构作出",
    ApprovalStep.NO_INSURER: "申诉案件需由共保机构工作人员复核；您的账号尚未关联承保机构",
    ApprovalStep.SAME_REVIEWER: "申诉案件需由另一位复核主管复核：原拒赔决定由您作出",
    ApprovalStep.NOT_SUPERVISOR: "本产品仅有一家承保机构，申诉案件须由该机构的复核主管复核",
    ApprovalStep.OTHER_INSURER: "您的账号关联的不是本产品的承保机构，不能复核本申诉",
}


def appeal_outcome_message(status: ClaimStatus, payout_fen: int | None, note: str | None,
                           decider: SecondDecider = SecondDecider.ANOTHER_INSURER) -> str:
    """The timeline message for an appeal's decision: by another insurer of the group, or by a
    supervisor of a product's one insurer (``second_decision_refusal``)."""
    note = (note or "").strip()
    by = ("经另一家共保机构复核" if decider is SecondDecider.ANOTHER_INSURER
          else "经承保机构复核主管复核")
    if status is ClaimStatus.REJECTED:
        reason = f"原因：{note}" if note else ""
        return f"{by}，维持原决定，未予赔付。{reason}"
    return f"{by}，申诉成立。{decision_message(status, payout_fen, note)}"


# ---------------------------------------------------------------- bill checks


def stay_problem(admitted_on: date, discharged_on: date, coverage_starts_on: date,
                 coverage_ends_on: date, today: date) -> str | None:
    """Why a hospital stay cannot be claimed on this policy, or None."""
    if discharged_on < admitted_on:
        return "出院日期不能早于入院日期"
    if discharged_on > today:
        return "出院日期不能晚于今天，请出院结算后再申请理赔"
    if admitted_on < coverage_starts_on or discharged_on > coverage_ends_on:
        return ("就诊日期不在保单保障期内（保障期："
                f"{coverage_starts_on:%Y年%m月%d日}至{coverage_ends_on:%Y年%m月%d日}），"
                "不属于保障范围")
    return None


# ---------------------------------------------------------------- numbers and texts


def claim_no(now: datetime) -> str:
    """E.g. ``LP2027031512345678``: readable, unique, not guessable, never 18 digits in a row
    (an SMS must not look like it carries an ID number)."""
    return f"LP{to_china_time(now):%Y%m%d}{secrets.randbelow(10**8):08d}"


def claimant_sms(status: ClaimStatus, claim_number: str, payout_fen: int | None) -> SmsText:
    """The SMS for a status change: never an ID number, a diagnosis or a hospital's name (a
    specialist hospital's name reveals the illness); details only after signing in."""
    template = {
        ClaimStatus.SUBMITTED: SmsTemplate.CLAIM_SUBMITTED,
        ClaimStatus.UNDER_REVIEW: SmsTemplate.CLAIM_UNDER_REVIEW,
        ClaimStatus.SUPPLEMENT_REQUESTED: SmsTemplate.CLAIM_SUPPLEMENT_REQUESTED,
        ClaimStatus.APPROVED: SmsTemplate.CLAIM_APPROVED,
        ClaimStatus.PAID: SmsTemplate.CLAIM_PAID,
        ClaimStatus.REJECTED: SmsTemplate.CLAIM_REJECTED,
        ClaimStatus.SETTLED: SmsTemplate.CLAIM_SETTLED,
        ClaimStatus.APPEALED: SmsTemplate.CLAIM_APPEALED,
    }[status]
    params = {"claim_no": claim_number, "amount": format_fen(payout_fen or 0)}
    return SmsText(template, {name: params[name] for name in template.parameters})


def claimant_text(status: ClaimStatus, claim_number: str, payout_fen: int | None) -> str:
    """The text ``claimant_sms`` renders, as the claimant reads it."""
    return claimant_sms(status, claim_number, payout_fen).render()


def default_message(status: ClaimStatus, payout_fen: int | None) -> str:
    """The timeline's message to the claimant when staff write none."""
    amount = format_fen(payout_fen or 0)
    return {
        ClaimStatus.SUBMITTED: "理赔申请已提交。请上传发票、费用清单、出院小结等材料，"
                               "我们将尽快审核。",
        ClaimStatus.UNDER_REVIEW: "您的理赔申请已进入审核。",
        ClaimStatus.SUPPLEMENT_REQUESTED: "请补充理赔材料。",
        ClaimStatus.APPROVED: f"经审核，您的理赔申请已通过，赔付金额{amount}。",
        ClaimStatus.PAID: f"理赔款{amount}已支付，请注意查收。",
        ClaimStatus.REJECTED: "经审核，您的理赔申请未予赔付。",
        ClaimStatus.SETTLED: f"医院已完成一站式结算，惠民保赔付{amount}已直接抵扣住院费用。",
        ClaimStatus.APPEALED: "您的申诉已受理，将交由其他复核人员重新审核。",
    }[status]


SUPPLEMENT_RECEIVED = "已收到您补充的材料，理赔申请重新进入审核。"


def decision_message(status: ClaimStatus, payout_fen: int | None, note: str | None) -> str:
    """The timeline message for a staff decision: the standard sentence, then the staff's
    reason (reject, supplement) or note."""
    note = (note or "").strip()
    if not note:
        return default_message(status, payout_fen)
    if status is ClaimStatus.REJECTED:
        return f"经审核，您的理赔申请未予赔付。原因：{note}"
    if status is ClaimStatus.SUPPLEMENT_REQUESTED:
        return f"请补充以下理赔材料：{note}"
    return f"{default_message(status, payout_fen)}{note}"


def is_overdue(status: ClaimStatus, decide_by: date | None, pay_by: date | None,
               today: date) -> bool:
    """Past the promised decision day while open (not while documents are awaited), or past
    the promised payment day while approved and unpaid."""
    if status in {ClaimStatus.SUBMITTED, ClaimStatus.UNDER_REVIEW}:
        return decide_by is not None and today > decide_by
    if status is ClaimStatus.APPROVED:
        return pay_by is not None and today > pay_by
    return False
