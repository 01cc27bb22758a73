"""Marshmallow schemas of the disclosure and complaints API."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from marshmallow import Schema, fields, validate

from huiminbao.catalog.schemas import CoverageSchema, EnrollmentDatesSchema
from huiminbao.core.masking import mask_name
from huiminbao.core.responses import (
    CodeLabel,
    Computed,
    ComputedBoolean,
    ComputedInteger,
    ComputedNested,
    Label,
    Masked,
    ResponseSchema,
)
from huiminbao.disclosure.complaints import ComplaintDetails
from huiminbao.disclosure.domain import (
    COMPLAINT_TRANSITIONS,
    MAX_RESPONSE_WORKING_DAYS,
    SCORE_LABELS,
    ComplaintCategory,
    ComplaintStatus,
    RatedSubject,
)
from huiminbao.disclosure.models import Complaint
from huiminbao.disclosure.ratings import Averages, Rating
from huiminbao.disclosure.services import Disclosure
from huiminbao.disclosure.snapshots import MAX_AGE
from huiminbao.identity.domain import Role
from huiminbao.identity.schemas import OtpRequestSchema

_CATEGORIES = [category.value for category in ComplaintCategory]
_MAX_AGE_MINUTES = int(MAX_AGE.total_seconds() // 60)
_STATUSES = [status.value for status in ComplaintStatus]


# ---------------------------------------------------------------- disclosure


class DisclosureQuerySchema(Schema):
    as_of = fields.AwareDateTime(load_default=None, metadata={
        "description": "figures as of this instant (ISO 8601 with offset); default: now. A day "
                       "end (00:00 Beijing time, 截至前一日) is answered from the stored "
                       "figures of that day; any other instant is counted on request"})
    format = fields.String(load_default="json", validate=validate.OneOf(
        ["json", "csv"], error="format 只能是 json 或 csv"),
        metadata={"description": "csv: the same figures as a UTF-8 (BOM) CSV download"})


class DisclosureCsvQuerySchema(Schema):
    as_of = fields.AwareDateTime(load_default=None)


class BucketSchema(ResponseSchema):
    key = fields.String()
    label = fields.String()
    count = fields.Integer()


class DisclosedProductSchema(ResponseSchema):
    """Dumps a ``Product``."""

    id = fields.Integer()
    name = fields.String()
    city_name = fields.String()
    year = fields.Integer()
    insurer = fields.String()
    enrollment = fields.Nested(EnrollmentDatesSchema, attribute="window")
    coverage = fields.Nested(CoverageSchema)


class EnrolledSchema(ResponseSchema):
    """Dumps a ``Disclosure``'s enrolment figures."""

    total = fields.Integer(attribute="enrolled_total",
                           metadata={"description": "persons with a live policy at as_of"})
    by_scheme = fields.List(fields.Nested(BucketSchema), metadata={
        "description": "employee (职工医保) | resident (城乡居民医保) [| unknown]"})
    by_age_band = fields.List(fields.Nested(BucketSchema), metadata={
        "description": "age at the as_of date (China): <18, 18–39, 40–59, 60–69, 70+"})
    by_channel = fields.List(fields.Nested(BucketSchema), metadata={
        "description": "personal_account | online | subsidy | employer | counter"})


class ClaimsFiguresSchema(ResponseSchema):
    available = fields.Boolean(metadata={"description": "false while claims data is absent"})
    accepted = fields.Integer(metadata={"description": "claims received (受理)"})
    paid = fields.Integer(metadata={"description": "claims paid (incl. one-stop settlements)"})
    payout_fen = fields.Integer()
    largest_payout_fen = fields.Integer(metadata={"description": "largest single payout"})
    overdue = fields.Integer(metadata={"description": "claims past the promised decision or "
                                                      "payment day (保险法 §23)"})
    median_days_to_decision = fields.Float(allow_none=True, metadata={
        "description": "online claims: median days from submission to decision"})
    median_days_to_payment = fields.Float(allow_none=True, metadata={
        "description": "online claims: median days from submission to payment"})


class YearEndSchema(ResponseSchema):
    """Dumps a ``YearEnd``."""

    target_payout_ratio = fields.String(attribute="target_ratio",
                                        metadata={"description": "e.g. 85.00%"})
    target_payout_ratio_bp = fields.Integer(attribute="target_ratio_bp")
    premium_income_fen = fields.Integer()
    payout_fen = fields.Integer(metadata={"description": "claim payouts booked in the ledger"})
    payout_ratio = fields.String(allow_none=True)
    surplus_fen = fields.Integer(metadata={
        "description": "target ratio × premium income − payouts (fen, rounded down); negative: "
                       "paid beyond the target"})


class SurplusUseSchema(ResponseSchema):
    """Dumps a ``Product`` that records a surplus use."""

    amount_fen = fields.Integer(attribute="surplus_used_fen",
                                metadata={"description": "the previous year's surplus used"})
    note = Computed(lambda product: product.surplus_use_note or "",
                    metadata={"description": "how it is used (e.g. 提高赔付比例)"})


@dataclass(frozen=True)
class DisclosureAnswer:
    disclosure: Disclosure
    csv_url: str

    def __getattr__(self, name: str) -> Any:
        return getattr(self.disclosure, name)


def _if_claims(attribute: str) -> Callable[[DisclosureAnswer], Any]:
    """A payout ratio, null while claims data is absent."""
    return lambda answer: getattr(answer, attribute) if answer.claims.available else None


class DisclosureSchema(ResponseSchema):
    """Dumps a ``DisclosureAnswer``."""

    product = fields.Nested(DisclosedProductSchema)
    as_of = fields.DateTime(metadata={
        "description": "the instant the figures were counted at"})
    live = fields.Boolean(metadata={
        "description": f"true: the latest figures, counted at most {_MAX_AGE_MINUTES} minutes "
                       "before the request (as_of says when); false: counted as of the requested "
                       "as_of"})
    day_end_stored = fields.Boolean(metadata={
        "description": "true: as_of is a day end (00:00 Beijing time) and the figures are that "
                       "day's stored record, not counted for this request"})
    enrolled = ComputedNested(lambda answer: answer.disclosure, EnrolledSchema)
    premium_income_fen = fields.Integer(metadata={"description": "net of refunds"})
    claims = fields.Nested(ClaimsFiguresSchema)
    payout_ratio = Computed(_if_claims("payout_ratio"), allow_none=True, metadata={
        "description": "payouts ÷ premiums, e.g. 12.34% (integer arithmetic, half up)"})
    payout_ratio_hundredths = ComputedInteger(_if_claims("payout_ratio_hundredths"),
                                              allow_none=True, metadata={
        "description": "the same ratio in hundredths of a percent (1234 = 12.34 %)"})
    year_end = fields.Nested(YearEndSchema, allow_none=True, metadata={
        "description": "002 三(五): after the coverage year ends, when a target payout ratio is "
                       "set; null before"})
    surplus_use = ComputedNested(
        lambda answer: answer.product if answer.product.surplus_used_fen is not None else None,
        SurplusUseSchema, allow_none=True, metadata={
        "description": "how this product uses the previous year's surplus (结余滚存); null: "
                       "none recorded"})
    csv_url = fields.String()


class DisclosureProductListSchema(ResponseSchema):
    items = fields.List(fields.Nested(DisclosedProductSchema))


# ---------------------------------------------------------------- complaints


class ComplaintInSchema(Schema):
    category = fields.String(required=True, validate=validate.OneOf(
        _CATEGORIES, error="请选择投诉类别"), metadata={"description": " | ".join(_CATEGORIES)})
    content = fields.String(required=True, metadata={
        "description": "10 to 1000 characters; no ID or phone numbers are needed"})
    policy_no = fields.String(load_default=None, allow_none=True,
                              validate=validate.Length(max=32, error="保单号格式不正确"))
    claim_no = fields.String(load_default=None, allow_none=True,
                             validate=validate.Length(max=32, error="理赔编号格式不正确"))


class ReplyView(ResponseSchema):
    """Dumps a ``ComplaintReply``."""

    author_label = Label(Role, source="author_role",
                         metadata={"description": "who answered (a role, not a name)"})
    message = fields.String()
    from_status = fields.String()
    to_status = fields.String()
    to_status_label = Label(ComplaintStatus, source="to_status")
    created_at = fields.DateTime()


@dataclass(frozen=True)
class ComplaintAnswer:
    """A complaint as of ``now`` (overdue or not)."""

    details: ComplaintDetails
    now: datetime

    @property
    def complaint(self) -> Complaint:
        return self.details.complaint

    @property
    def overdue(self) -> bool:
        return self.details.overdue(self.now)

    @property
    def next_statuses(self) -> list[str]:
        status = ComplaintStatus(self.complaint.status)
        return sorted(s.value for s in COMPLAINT_TRANSITIONS[status])


class RatingView(ResponseSchema):
    """Dumps a ``SatisfactionRating``."""

    score = fields.Integer(metadata={"description": "1 (很不满意) to 5 (非常满意)"})
    score_label = Computed(lambda rating: SCORE_LABELS[rating.score])
    comment = Computed(lambda rating: rating.comment or "")
    rated_at = fields.DateTime(allow_none=True)


class ComplaintView(ResponseSchema):
    """Dumps a ``ComplaintAnswer``."""

    complaint_no = fields.String(attribute="complaint.complaint_no")
    category = fields.String(attribute="complaint.category")
    category_label = Label(ComplaintCategory, source="complaint.category")
    status = fields.String(attribute="complaint.status",
                           metadata={"description": " | ".join(_STATUSES)})
    status_label = Label(ComplaintStatus, source="complaint.status")
    content = fields.String(attribute="complaint.content")
    policy_no = fields.String(attribute="complaint.policy_no", allow_none=True)
    claim_no = fields.String(attribute="complaint.claim_no", allow_none=True)
    complainant_name = Masked(mask_name, attribute="details.complainant_name",
                              metadata={"description": "masked"})
    filed_by_agent = ComputedBoolean(
        lambda answer: answer.complaint.acted_for_grant_id is not None,
        metadata={"description": "filed by someone acting for them"})
    created_at = fields.DateTime(attribute="complaint.created_at")
    due_at = fields.DateTime(attribute="complaint.due_at", metadata={
        "description": "unresolved from this instant: overdue"})
    overdue = fields.Boolean()
    resolved_at = fields.DateTime(attribute="complaint.resolved_at", allow_none=True)
    next_statuses = fields.List(fields.String(), metadata={
        "description": "statuses a staff reply may move it to"})
    replies = fields.List(fields.Nested(ReplyView), attribute="complaint.replies")
    filed_without_account = ComputedBoolean(
        lambda answer: answer.complaint.complainant_person_id is None,
        metadata={"description": "filed after an SMS check of the phone, without logging in"})
    rating = fields.Nested(RatingView, attribute="details.rating", allow_none=True, metadata={
        "description": "the complainant's satisfaction rating, once given"})
    can_rate = ComputedBoolean(
        lambda answer: ComplaintStatus(answer.complaint.status) is ComplaintStatus.RESOLVED
        and answer.details.rating is None,
        metadata={"description": "resolved and not yet rated"})


class ComplaintListSchema(ResponseSchema):
    items = fields.List(fields.Nested(ComplaintView))


class CategoryListSchema(ResponseSchema):
    items = fields.List(fields.Nested(CodeLabel))


class ComplaintQueueQuerySchema(Schema):
    status = fields.String(load_default=None, validate=validate.OneOf(
        _STATUSES, error="状态只能是 received、in_progress 或 resolved"))
    overdue = fields.Boolean(load_default=None, metadata={
        "description": "true: only overdue; false: only not overdue"})


class ReplyInSchema(Schema):
    message = fields.String(required=True, metadata={"description": "1 to 1000 characters"})
    status = fields.String(load_default=None, validate=validate.OneOf(
        _STATUSES, error="状态只能是 received、in_progress 或 resolved"), metadata={
        "description": "default: in_progress (from received), else unchanged"})


class ComplaintSettingsSchema(ResponseSchema):
    response_working_days = fields.Integer(required=True, strict=True, validate=validate.Range(
        min=1, max=MAX_RESPONSE_WORKING_DAYS,
        error=f"投诉处理时限应为1至{MAX_RESPONSE_WORKING_DAYS}个工作日"), metadata={
        "description": "working days (Mon–Fri) a complaint may take; default 5"})


# ---------------------------------------------------------------- without an account, ratings

class AnonymousComplaintInSchema(OtpRequestSchema):
    """The phone (checked as at login), its SMS code, and the complaint."""

    code = fields.String(required=True, validate=validate.Regexp(
        r"^[0-9]{6}$", error="请输入6位数字验证码"))
    name = fields.String(load_default="", metadata={
        "description": "how to address the complainant (optional, up to 20 characters)"})
    category = fields.String(required=True, validate=validate.OneOf(
        _CATEGORIES, error="请选择投诉类别"), metadata={"description": " | ".join(_CATEGORIES)})
    content = fields.String(required=True, metadata={"description": "10 to 1000 characters"})


class AnonymousComplaintResultSchema(ResponseSchema):
    complaint = fields.Nested(ComplaintView)
    access_token = fields.String(metadata={
        "description": "shown once: send it as X-Complaint-Token to see and rate the complaint"})


class RatingInSchema(Schema):
    score = fields.Integer(required=True, strict=True, validate=validate.Range(
        min=1, max=5, error="请选择1至5分的满意度"))
    comment = fields.String(load_default="", metadata={"description": "up to 200 characters"})


@dataclass(frozen=True)
class ClaimRatingAnswer:
    """A claim's rating (None until rated), dumped by ``RatingView`` like a stored one."""

    rated: Rating | None
    rated_at: datetime | None
    can_rate: bool = False

    @property
    def rating(self) -> ClaimRatingAnswer | None:
        return None if self.rated is None else self

    @property
    def score(self) -> int:
        assert self.rated is not None
        return self.rated.score

    @property
    def comment(self) -> str:
        assert self.rated is not None
        return self.rated.comment


class ClaimRatingSchema(ResponseSchema):
    """Dumps a ``ClaimRatingAnswer``."""

    rating = fields.Nested(RatingView, allow_none=True)
    can_rate = fields.Boolean(metadata={
        "description": "closed (paid, refused or settled) and not rated yet: the claimant may "
                       "rate it once"})


def _average(averages: Averages) -> str | None:
    tenths = averages.average_tenths
    return None if tenths is None else f"{tenths // 10}.{tenths % 10}"


class AverageSchema(ResponseSchema):
    """Dumps ``ratings.Averages``."""

    count = fields.Integer()
    average = Computed(_average, allow_none=True, metadata={
        "description": "one decimal, e.g. \"4.5\"; null before the first rating"})


@dataclass(frozen=True)
class SatisfactionAnswer:
    product_id: int
    found: Mapping[RatedSubject, Averages]

    @property
    def complaints(self) -> Averages:
        return self.found[RatedSubject.COMPLAINT]

    @property
    def claims(self) -> Averages:
        return self.found[RatedSubject.CLAIM]


class SatisfactionSchema(ResponseSchema):
    """Dumps a ``SatisfactionAnswer``."""

    product_id = fields.Integer()
    complaints = fields.Nested(AverageSchema)
    claims = fields.Nested(AverageSchema)
