"""Disclosure (public, no login) and complaints endpoints. Routes validate, call one service,
and shape the answer."""

from __future__ import annotations

from datetime import datetime
from typing import Any, ClassVar
from urllib.parse import quote

from flask import Response, g, request, url_for
from flask.views import MethodView
from flask_smorest import Blueprint
from flask_smorest.pagination import PaginationParameters

from huiminbao.audit.services import AuditActor
from huiminbao.core.container import container
from huiminbao.core.masking import mask_phone
from huiminbao.core.pagination import page_items, window_of
from huiminbao.core.ratelimit import json_field_key, limiter, unless_server_error
from huiminbao.core.web import csv_download
from huiminbao.disclosure import complaints, ratings, services, snapshots
from huiminbao.disclosure.domain import ComplaintCategory, ComplaintStatus
from huiminbao.disclosure.schemas import (
    AnonymousComplaintInSchema,
    AnonymousComplaintResultSchema,
    CategoryListSchema,
    ClaimRatingAnswer,
    ClaimRatingSchema,
    ComplaintAnswer,
    ComplaintInSchema,
    ComplaintListSchema,
    ComplaintQueueQuerySchema,
    ComplaintSettingsSchema,
    ComplaintView,
    DisclosureAnswer,
    DisclosureCsvQuerySchema,
    DisclosureProductListSchema,
    DisclosureQuerySchema,
    DisclosureSchema,
    RatingInSchema,
    ReplyInSchema,
    SatisfactionAnswer,
    SatisfactionSchema,
)
from huiminbao.identity.access import acts_for, subject_for
from huiminbao.identity.auth import current_actor, optional_actor, staff_only
from huiminbao.identity.domain import Action, Role
from huiminbao.identity.schemas import OtpRequestSchema, OtpSentSchema

blp = Blueprint("disclosure", __name__, url_prefix="/api/v1",
                description="信息披露（公开）与投诉")

# Public: generous for people, a brake for scrapers.
_PUBLIC_LIMIT = limiter.limit("120 per minute", methods=["GET"], scope="disclosure-ip")


def _not_counted() -> bool:
    """No as_of (the latest figures), or a day end whose figures are stored: nothing to count.
    (Asked by both limits: looked up once per request.)"""
    if "disclosure_not_counted" not in g:
        g.disclosure_not_counted = _stored_or_live()
    return bool(g.disclosure_not_counted)


def _stored_or_live() -> bool:
    if "as_of" not in request.args:
        return True
    try:
        as_of = datetime.fromisoformat(request.args["as_of"])
    except ValueError:
        return False
    day = snapshots.day_ended_at(as_of) if as_of.tzinfo is not None else None
    product_id = (request.view_args or {}).get("product_id")
    return (day is not None and isinstance(product_id, int)
            and snapshots.stored_day_end(container(), product_id, day) is not None)


# Figures as of a stated instant are counted on demand: every policy of the product is read
# (seconds at a million policies). A few per hour per visitor, and a ceiling for all visitors
# together (kept in Redis, so shared by every app server), keep that from becoming a way to
# load the database. The latest figures (no as_of) come from the stored count, and a day end's
# from its stored record: both are exempt. (Shared limits: the page and its CSV download draw
# on the same allowance.)
_AS_OF_LIMITS = [
    limiter.shared_limit("10 per hour", scope="disclosure-as-of-ip", methods=["GET"],
                         exempt_when=_not_counted),
    limiter.shared_limit("60 per hour", scope="disclosure-as-of-all", methods=["GET"],
                         key_func=lambda: "all", exempt_when=_not_counted),
]


def _csv_response(c_disclosure: services.Disclosure) -> Response:
    product = c_disclosure.product
    name = f"{product.name}-{product.year}年度信息披露.csv"
    return csv_download(services.disclosure_csv(c_disclosure), f"disclosure-{product.id}.csv",
                        name)


@blp.route("/disclosure")
class DisclosedProducts(MethodView):
    decorators: ClassVar[list[Any]] = [_PUBLIC_LIMIT]

    @blp.response(200, DisclosureProductListSchema)
    def get(self) -> dict[str, Any]:
        """Published products whose figures are public (newest year first)."""
        c = container()
        products = services.published_products(c.db, c.settings.city_code)
        return {"items": products}


@blp.route("/disclosure/<int:product_id>")
class ProductDisclosure(MethodView):
    decorators: ClassVar[list[Any]] = [_PUBLIC_LIMIT, *_AS_OF_LIMITS]

    @blp.arguments(DisclosureQuerySchema, location="query")
    @blp.response(200, DisclosureSchema)
    @blp.alt_response(200, description="`format=csv`: text/csv (UTF-8 with BOM)")
    @blp.alt_response(404, description="No such published product")
    def get(self, query: dict[str, Any], product_id: int) -> Any:
        """A product's public figures (002 三(五)), no login: enrolled persons by scheme, age
        band and payment channel; premium income; claims received and paid; payouts; the payout
        ratio; the largest single payout. Counts and sums only, never a person. Live, or as of
        `as_of`."""
        figures = services.disclosure(container(), product_id, query["as_of"])
        if query["format"] == "csv":
            return _csv_response(figures)
        csv_url = url_for("disclosure.ProductDisclosureCsv", product_id=product_id)
        if query["as_of"] is not None:
            csv_url += f"?as_of={quote(query['as_of'].isoformat())}"
        return DisclosureAnswer(figures, csv_url)


@blp.route("/disclosure/<int:product_id>.csv")
class ProductDisclosureCsv(MethodView):
    decorators: ClassVar[list[Any]] = [_PUBLIC_LIMIT, *_AS_OF_LIMITS]

    @blp.arguments(DisclosureCsvQuerySchema, location="query")
    @blp.response(200, content_type="text/csv")
    def get(self, query: dict[str, Any], product_id: int) -> Response:
        """The same figures as a CSV download (UTF-8 with BOM, so Excel reads the Chinese)."""
        return _csv_response(services.disclosure(container(), product_id, query["as_of"]))


# ---------------------------------------------------------------- complaints


def _account_key() -> str:
    actor = optional_actor()
    return f"account:{actor.account_id}" if actor else f"ip:{request.remote_addr}"


@blp.route("/complaint-categories")
class ComplaintCategories(MethodView):
    @blp.response(200, CategoryListSchema)
    def get(self) -> dict[str, Any]:
        """The complaint categories with their Chinese labels."""
        return {"items": list(ComplaintCategory)}


@blp.route("/complaints")
class Complaints(MethodView):
    decorators: ClassVar[list[Any]] = [
        limiter.limit("20 per hour", key_func=_account_key, methods=["POST"],
                      scope="complaints"),
    ]

    @acts_for(Action.FILE_COMPLAINTS)
    @blp.response(200, ComplaintListSchema)
    def get(self) -> dict[str, Any]:
        """The caller's complaints (or those of the person acted for), newest first."""
        c, actor = container(), current_actor()
        subject = subject_for(Action.FILE_COMPLAINTS, actor)
        now = c.clock.now()
        return {"items": [ComplaintAnswer(d, now) for d in complaints.list_complaints(c, subject)]}

    @acts_for(Action.FILE_COMPLAINTS)
    @blp.arguments(ComplaintInSchema)
    @blp.response(201, ComplaintView)
    @blp.alt_response(422, description="Text too short or long; a policy or claim not theirs")
    def post(self, body: dict[str, Any]) -> ComplaintAnswer:
        """File a complaint (category, 10–1000 characters, optionally one's own policy or claim
        number). Answers with its number (TS + date + sequence) and deadline."""
        c, actor = container(), current_actor()
        subject = subject_for(Action.FILE_COMPLAINTS, actor)
        filing = complaints.Filing(ComplaintCategory(body["category"]), body["content"],
                                   body["policy_no"], body["claim_no"])
        complaint = complaints.file_complaint(c, actor, subject, filing)
        details = complaints.get_complaint(c, actor, complaint.complaint_no)
        return ComplaintAnswer(details, c.clock.now())


@blp.route("/complaints/<string:complaint_no>")
class ComplaintDetail(MethodView):
    @blp.response(200, ComplaintView)
    @blp.alt_response(404, description="No such complaint, or not the caller's")
    def get(self, complaint_no: str) -> ComplaintAnswer:
        """One complaint with the staff's replies: the complainant, whoever holds a complaints
        grant for them, or complaint staff."""
        c = container()
        details = complaints.get_complaint(c, current_actor(), complaint_no)
        return ComplaintAnswer(details, c.clock.now())


@blp.route("/complaints/<string:complaint_no>/rating")
class ComplaintRating(MethodView):
    @blp.arguments(RatingInSchema)
    @blp.response(201, ComplaintView)
    @blp.alt_response(409, description="Already rated (`already_rated`)")
    @blp.alt_response(422, description="Not resolved yet (`not_closed`), or a bad score")
    def post(self, body: dict[str, Any], complaint_no: str) -> ComplaintAnswer:
        """Rate how a resolved complaint was handled (1-5, optional comment), once."""
        c = container()
        details = ratings.rate_complaint(c, current_actor(), complaint_no,
                                         ratings.Rating(body["score"], body["comment"]))
        return ComplaintAnswer(details, c.clock.now())


# ---------------------------------------------------------------- without an account

RESEND_AFTER_SECONDS = 60
TOKEN_HEADER = "X-Complaint-Token"  # noqa: S105 (a header name, not a secret)


@blp.route("/public-complaints/code")
class PublicComplaintCode(MethodView):
    decorators: ClassVar[list[Any]] = [
        limiter.limit("1 per minute;10 per day", key_func=lambda: json_field_key("phone"),
                      methods=["POST"], scope="complaint-code-phone",
                      deduct_when=unless_server_error),
        limiter.limit("20 per hour", methods=["POST"], scope="complaint-code-ip"),
    ]

    @blp.arguments(OtpRequestSchema)
    @blp.response(200, OtpSentSchema)
    @blp.alt_response(429, description="Too many codes for this phone or address")
    def post(self, body: dict[str, Any]) -> dict[str, Any]:
        """Text a 6-digit code to the complainant's phone: filing without an account needs it
        (valid 5 minutes, single use)."""
        expires_at = complaints.send_filing_code(container(), body["phone"])
        return {"phone": mask_phone(body["phone"]), "expires_at": expires_at,
                "resend_after_seconds": RESEND_AFTER_SECONDS}


@blp.route("/public-complaints")
class PublicComplaints(MethodView):
    decorators: ClassVar[list[Any]] = [
        limiter.limit("5 per day", key_func=lambda: json_field_key("phone"), methods=["POST"],
                      scope="public-complaints-phone"),
        limiter.limit("10 per hour", methods=["POST"], scope="public-complaints-ip"),
    ]

    @blp.arguments(AnonymousComplaintInSchema)
    @blp.response(201, AnonymousComplaintResultSchema)
    @blp.alt_response(422, description="A wrong or expired code, or the text too short/long")
    def post(self, body: dict[str, Any]) -> dict[str, Any]:
        """File a complaint without an account: the phone's SMS code, an optional name, the
        category and the text. Answers with the complaint and a token (shown once) with which
        this person sees its replies and rates it."""
        c = container()
        receipt = complaints.file_without_account(c, complaints.AnonymousFiling(
            body["phone"], body["code"], body["name"], ComplaintCategory(body["category"]),
            body["content"]))
        return {"complaint": ComplaintAnswer(receipt.details, c.clock.now()),
                "access_token": receipt.access_token}


@blp.route("/public-complaints/<string:complaint_no>")
class PublicComplaintDetail(MethodView):
    decorators: ClassVar[list[Any]] = [_PUBLIC_LIMIT]

    @blp.response(200, ComplaintView)
    @blp.alt_response(404, description="No such complaint, or a wrong token")
    def get(self, complaint_no: str) -> ComplaintAnswer:
        """A complaint filed without an account, with its replies: for the holder of its token
        (header X-Complaint-Token)."""
        c = container()
        details = complaints.get_with_token(c, complaint_no,
                                            request.headers.get(TOKEN_HEADER, ""))
        return ComplaintAnswer(details, c.clock.now())


@blp.route("/public-complaints/<string:complaint_no>/rating")
class PublicComplaintRating(MethodView):
    decorators: ClassVar[list[Any]] = [
        limiter.limit("20 per hour", methods=["POST"], scope="public-rating-ip")]

    @blp.arguments(RatingInSchema)
    @blp.response(201, ComplaintView)
    @blp.alt_response(404, description="No such complaint, or a wrong token")
    @blp.alt_response(409, description="Already rated (`already_rated`)")
    def post(self, body: dict[str, Any], complaint_no: str) -> ComplaintAnswer:
        """Rate a resolved complaint filed without an account (header X-Complaint-Token)."""
        c = container()
        details = ratings.rate_complaint_with_token(
            c, complaint_no, request.headers.get(TOKEN_HEADER, ""),
            ratings.Rating(body["score"], body["comment"]))
        return ComplaintAnswer(details, c.clock.now())


# ---------------------------------------------------------------- claims: ratings


@blp.route("/claims/<string:claim_no>/rating")
class ClaimRating(MethodView):
    @blp.response(200, ClaimRatingSchema)
    @blp.alt_response(404, description="No such claim, or not the caller's")
    def get(self, claim_no: str) -> ClaimRatingAnswer:
        """The claim's satisfaction rating (null until rated): its insured or holder."""
        found = ratings.claim_rating(container(), current_actor(), claim_no)
        return ClaimRatingAnswer(found.rating, None, found.can_rate)

    @blp.arguments(RatingInSchema)
    @blp.response(201, ClaimRatingSchema)
    @blp.alt_response(409, description="Already rated (`already_rated`)")
    @blp.alt_response(422, description="Not closed yet (`not_closed`), or a bad score")
    def post(self, body: dict[str, Any], claim_no: str) -> ClaimRatingAnswer:
        """Rate how a paid, refused or settled claim was handled (1-5, optional comment), once."""
        c = container()
        rated = ratings.rate_claim(c, current_actor(), claim_no,
                                   ratings.Rating(body["score"], body["comment"]))
        return ClaimRatingAnswer(rated, c.clock.now())


@blp.route("/disclosure/<int:product_id>/satisfaction")
class ProductSatisfaction(MethodView):
    decorators: ClassVar[list[Any]] = [_PUBLIC_LIMIT]

    @blp.response(200, SatisfactionSchema)
    @blp.alt_response(404, description="No such product")
    def get(self, product_id: int) -> SatisfactionAnswer:
        """How residents rated the handling of complaints and claims: count and average."""
        return SatisfactionAnswer(product_id, ratings.averages(container(), product_id))


# ---------------------------------------------------------------- staff


@blp.route("/admin/complaints")
class ComplaintQueue(MethodView):
    @staff_only(*complaints.COMPLAINT_STAFF)
    @blp.arguments(ComplaintQueueQuerySchema, location="query")
    @blp.response(200, ComplaintListSchema)
    @blp.alt_response(403, description="Not insurer staff or an administrator")
    @blp.paginate(page_size=50, max_page_size=200)
    def get(self, query: dict[str, Any],
            pagination_parameters: PaginationParameters) -> dict[str, Any]:
        """The complaint queue (insurer staff, administrators): unresolved first, by deadline;
        `overdue` marks those past their deadline (the product's working days). A page at a
        time (`page`, `page_size`; totals in the `X-Pagination` header)."""
        c = container()
        status = ComplaintStatus(query["status"]) if query["status"] else None
        now = c.clock.now()
        page = complaints.staff_queue(c, status, query["overdue"],
                                      window_of(pagination_parameters))
        return {"items": [ComplaintAnswer(d, now)
                          for d in page_items(pagination_parameters, page)]}


@blp.route("/admin/complaints/<string:complaint_no>/replies")
class ComplaintReplies(MethodView):
    @staff_only(*complaints.COMPLAINT_STAFF)
    @blp.arguments(ReplyInSchema)
    @blp.response(201, ComplaintView)
    @blp.alt_response(422, description="Empty reply, or a transition the table does not allow")
    def post(self, body: dict[str, Any], complaint_no: str) -> ComplaintAnswer:
        """Reply and move the complaint (received → in_progress → resolved); the complainant
        is texted the complaint number only."""
        actor = current_actor()
        c = container()
        target = ComplaintStatus(body["status"]) if body["status"] else None
        details = complaints.reply(c, actor, complaint_no, body["message"], target)
        return ComplaintAnswer(details, c.clock.now())


@blp.route("/admin/products/<int:product_id>/complaint-settings")
class ComplaintSettings(MethodView):
    @staff_only(Role.ADMIN)
    @blp.response(200, ComplaintSettingsSchema)
    def get(self, product_id: int) -> dict[str, Any]:
        """The product's complaint deadline in working days (administrators)."""
        return {"response_working_days": complaints.working_days_of(container(), product_id)}

    @staff_only(Role.ADMIN)
    @blp.arguments(ComplaintSettingsSchema)
    @blp.response(200, ComplaintSettingsSchema)
    def put(self, body: dict[str, Any], product_id: int) -> dict[str, Any]:
        """Set the deadline (1–30 working days, Mon–Fri); complaints filed from now on get it."""
        actor = current_actor()
        days = complaints.set_working_days(container(), AuditActor(actor.account_id,
                                                                   actor.role.value),
                                           product_id, body["response_working_days"])
        return {"response_working_days": days}
