"""Operator console endpoints (administrators; counter enrollment: counter staff; the
reconciliation record: insurer staff too). Routes validate, call one service, and shape the
answer."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from flask.views import MethodView
from flask_smorest import Blueprint
from flask_smorest.pagination import PaginationParameters
from werkzeug.datastructures import FileStorage

from huiminbao.audit.services import AuditActor
from huiminbao.catalog.coinsurance import Share
from huiminbao.catalog.domain import CoveragePeriod, EnrollmentWindow, ProductDraft
from huiminbao.catalog.schemas import ProductDraftSchema, ProductOnDay, ProductSchema
from huiminbao.catalog.versions import product_version
from huiminbao.console import bulk, coinsurers, counter, payers, products, roster
from huiminbao.console.csvfiles import read_csv
from huiminbao.console.schemas import (
    BatchView,
    BulkFormSchema,
    BulkUploadSchema,
    CloneInSchema,
    CoinsuranceInSchema,
    CoinsuranceSchema,
    CounterIdentityInSchema,
    CounterIdentityView,
    CounterInSchema,
    CounterView,
    CsvUploadSchema,
    PayerInSchema,
    PayerListSchema,
    PayerQuerySchema,
    PayerSchema,
    PayerUpdateSchema,
    ReceiptQuerySchema,
    ReceiptSchema,
    ReconcileRunListSchema,
    ReconcileRunQuerySchema,
    RosterFormSchema,
    RosterUploadSchema,
    RosterView,
    SmsOutboxQuerySchema,
    SmsOutboxSchema,
    StaffInsurerInSchema,
    StaffInsurerSchema,
    StatementQuerySchema,
    StatementSchema,
    SurplusSchema,
    multipart_body,
)
from huiminbao.console.uploads import idempotent_upload
from huiminbao.core.container import container
from huiminbao.core.etags import ETAG_HEADER, IF_MATCH, if_match, tagged
from huiminbao.core.idempotency import idempotent
from huiminbao.core.pagination import page_items, window_of
from huiminbao.core.web import csv_download
from huiminbao.enrollment import reconcile, resolving
from huiminbao.enrollment.domain import PayerKind, PaymentMethod
from huiminbao.enrollment.models import ReconcileRun
from huiminbao.identity import sms_worker
from huiminbao.identity.auth import Actor, current_actor, staff_only
from huiminbao.identity.domain import Role
from huiminbao.identity.sms_domain import SmsStatus

blp = Blueprint("console", __name__, url_prefix="/api/v1",
                description="运营后台：下一年度产品、单位团体参保、资助名单、窗口办理、资金对账")

_IDEMPOTENCY_HEADER = [{"in": "header", "name": "Idempotency-Key", "required": True,
                        "schema": {"type": "string"}}]


def _by(actor: Actor) -> AuditActor:
    return AuditActor(actor.account_id, actor.role.value)


def _account_owner() -> str:
    return f"account:{current_actor().account_id}"


def _read(upload: FileStorage, header: tuple[str, ...], max_rows: int,
          optional: tuple[str, ...] = ()) -> Any:
    return read_csv(upload.filename or "upload.csv", upload.read(), header, max_rows=max_rows,
                    optional=optional)


# ---------------------------------------------------------------- products


@blp.route("/admin/products/<int:product_id>/clone")
class CloneProduct(MethodView):
    @staff_only(Role.ADMIN)
    @blp.arguments(CloneInSchema)
    @blp.response(201, ProductSchema)
    @blp.alt_response(422, description="The copy breaks a rule (`invalid_product`, all at once)")
    def post(self, body: dict[str, Any], product_id: int) -> ProductOnDay:
        """Next year's product from this one, as a draft: tiers, benefits, terms (version
        `<year>.1`), subsidy settings, eligibility, item lists and complaint deadline copied;
        the new window and coverage; a new code. Validated like `POST /admin/products`."""
        actor = current_actor()
        c = container()
        request = products.CloneRequest(
            year=body["year"],
            window=EnrollmentWindow(body["enrollment"]["opens_on"],
                                    body["enrollment"]["closes_on"]),
            coverage=CoveragePeriod(body["coverage"]["starts_on"], body["coverage"]["ends_on"]),
            code=body["code"], name=body["name"])
        product = products.clone_product(c, _by(actor), product_id, request)
        return ProductOnDay(product, c.clock.today())


@blp.route("/admin/products/<int:product_id>")
class EditDraftProduct(MethodView):
    @staff_only(Role.ADMIN)
    @blp.arguments(ProductDraftSchema)
    @blp.response(200, ProductSchema, headers=ETAG_HEADER)
    @blp.alt_response(409, description="Not a draft (published products are not edited)")
    @blp.alt_response(412, description="Another administrator saved since this version was "
                      "read: nothing is written; read it again")
    @blp.alt_response(422, description="The draft breaks a rule (`invalid_product`)")
    @blp.alt_response(428, description="No `If-Match`: a change must name the version it "
                      "replaces")
    @blp.doc(parameters=[{**IF_MATCH, "required": True}])
    def put(self, draft: ProductDraft, product_id: int) -> Any:
        """Replace a draft product's configuration (administrators), if it is still the
        version read (`If-Match`: the `ETag` of `GET /admin/products/{id}`); `status` must stay
        `draft` — publishing is `POST /admin/products/{id}/publish`. Answers the new `ETag`."""
        actor = current_actor()
        c = container()
        product = products.update_draft(c, _by(actor), product_id, draft, if_match())
        return tagged(ProductOnDay(product, c.clock.today()), product_version(product))


# ---------------------------------------------------------------- co-insurers (共保体)


@blp.route("/admin/products/<int:product_id>/insurers")
class ProductCoinsurers(MethodView):
    @staff_only(Role.ADMIN)
    @blp.response(200, CoinsuranceSchema)
    @blp.alt_response(404, description="No such product")
    def get(self, product_id: int) -> coinsurers.CoinsuranceSetting:
        """The product's co-insurance group (administrators): each insurer, its share in basis
        points and the lead; the amount above which a claim needs a second insurer."""
        return coinsurers.coinsurance(container(), product_id)

    @staff_only(Role.ADMIN)
    @blp.arguments(CoinsuranceInSchema)
    @blp.response(200, CoinsuranceSchema)
    @blp.alt_response(404, description="No such product")
    @blp.alt_response(409, description="Money was already split by the current shares "
                                       "(`shares_fixed`)")
    @blp.alt_response(422, description="Shares do not sum to 100 %, not exactly one lead, or an "
                                       "insurer twice (`invalid_coinsurers`, all at once)")
    def put(self, body: dict[str, Any], product_id: int) -> coinsurers.CoinsuranceSetting:
        """Replace the co-insurance group (administrators; audited). Premiums, refunds and
        claim payouts are then split in the ledger by these shares, the rounding remainder to
        the lead. Shares cannot change once money has been split by them."""
        actor = current_actor()
        shares = [Share(item["insurer"], item["share_bp"], item["lead"])
                  for item in body["insurers"]]
        return coinsurers.set_coinsurance(
            container(), _by(actor), product_id, shares, body["contested_claim_threshold_fen"])


@blp.route("/admin/products/<int:product_id>/surplus")
class ProductSurplus(MethodView):
    @staff_only(Role.ADMIN)
    @blp.response(200, SurplusSchema)
    @blp.alt_response(404, description="No such product")
    def get(self, product_id: int) -> coinsurers.SurplusSetting:
        """The product's target payout ratio and recorded use of last year's surplus."""
        return coinsurers.surplus_setting(container(), product_id)

    @staff_only(Role.ADMIN)
    @blp.arguments(SurplusSchema)
    @blp.response(200, SurplusSchema)
    @blp.alt_response(404, description="No such product")
    def put(self, body: dict[str, Any], product_id: int) -> coinsurers.SurplusSetting:
        """The product's target payout ratio (after its coverage year the disclosure shows the
        payout ratio and the surplus against it, from the ledger) and how it uses the previous
        year's surplus: an amount and a note, published on its disclosure page (002 三(五);
        administrators; audited)."""
        actor = current_actor()
        saved = coinsurers.set_surplus(container(), _by(actor), product_id,
                                       body["target_payout_ratio_bp"], body["surplus_used_fen"],
                                       body["surplus_use_note"])
        return saved


@blp.route("/admin/insurer-staff/<int:account_id>")
class InsurerStaffMember(MethodView):
    @staff_only(Role.ADMIN)
    @blp.arguments(StaffInsurerInSchema)
    @blp.response(200, StaffInsurerSchema)
    @blp.alt_response(404, description="No such insurer-staff account")
    def put(self, body: dict[str, Any], account_id: int) -> dict[str, Any]:
        """Which insurer an insurer-staff account works for (administrators; audited): it
        reads that insurer's statements and counts as that insurer in contested claims; a
        supervisor (复核主管) makes their second decision when a product has one insurer."""
        actor = current_actor()
        insurer = coinsurers.assign_staff(container(), _by(actor), account_id, body["insurer"],
                                          body["supervisor"])
        return {"account_id": account_id, "insurer": insurer, "supervisor": body["supervisor"]}


@blp.route("/admin/products/<int:product_id>/statement")
class InsurerStatement(MethodView):
    @staff_only(Role.INSURER_STAFF, Role.ADMIN)
    @blp.arguments(StatementQuerySchema, location="query")
    @blp.response(200, StatementSchema)
    @blp.alt_response(200, description="`format=csv`: text/csv (UTF-8 with BOM)")
    @blp.alt_response(403, description="Not an administrator or insurer staff")
    @blp.alt_response(404, description="No such product, or the insurer is not one of its")
    @blp.alt_response(422, description="Insurer staff asking for another insurer's statement")
    def get(self, query: dict[str, Any], product_id: int) -> Any:
        """An insurer's statement for a period (administrators; insurer staff: their own
        insurer only; audited): every premium, refund and claim payout booked on its ledger
        accounts, with totals and the net. `format=csv` downloads it."""
        actor = current_actor()
        found = coinsurers.statement(container(), actor, product_id, query["insurer"],
                                     query["starts_on"], query["ends_on"])
        if query["format"] != "csv":
            return found
        return csv_download(
            coinsurers.statement_csv(found), f"statement-{product_id}.csv",
            f"{found.product_name}-{found.insurer}-对账单-{found.starts_on}-{found.ends_on}.csv")


# ---------------------------------------------------------------- employer group enrollment


@blp.route("/admin/enrollments/bulk")
class EmployerBulkEnrollment(MethodView):
    @staff_only(Role.ADMIN)
    @blp.arguments(BulkFormSchema, location="form")
    @blp.arguments(CsvUploadSchema, location="files")
    @blp.doc(requestBody=multipart_body(BulkUploadSchema))
    @blp.response(201, BatchView)
    @blp.alt_response(200, schema=BatchView,
                      description="This very file was uploaded before: its report, `replayed`")
    @blp.doc(parameters=_IDEMPOTENCY_HEADER)
    @idempotent_upload(_account_owner)
    def post(self, form: dict[str, Any], files: dict[str, Any]) -> Any:
        """Employer group enrollment: a CSV `id_number,name,tier` (header on line 1). Each row
        is checked (ID checksum, name as registered, this city and active, tier, duplicates)
        and enrolled paid by the employer (ledger `employer:<code>`); failed rows are listed
        with their line and a Chinese reason. The same file again enrolls nobody."""
        actor = current_actor()
        c = container()
        upload = bulk.EmployerUpload(form["employer_code"], form["employer_name"],
                                     form["product_id"],
                                     _read(files["file"], bulk.HEADER, bulk.MAX_ROWS))
        report = bulk.upload(c, actor, upload)
        return report, 200 if report.replayed else 201


@blp.route("/admin/enrollments/bulk/<string:batch_no>")
class EmployerBatchDetail(MethodView):
    @staff_only(Role.ADMIN)
    @blp.response(200, BatchView)
    def get(self, batch_no: str) -> bulk.BatchReport:
        """An earlier upload's report."""
        return bulk.find_report(container(), batch_no)


# ---------------------------------------------------------------- subsidy roster


@blp.route("/admin/subsidy-roster")
class SubsidyRoster(MethodView):
    @staff_only(Role.ADMIN)
    @blp.arguments(RosterFormSchema, location="form")
    @blp.arguments(CsvUploadSchema, location="files")
    @blp.doc(requestBody=multipart_body(RosterUploadSchema))
    @blp.response(201, RosterView)
    @blp.doc(parameters=_IDEMPOTENCY_HEADER)
    @idempotent_upload(_account_owner)
    def post(self, form: dict[str, Any], files: dict[str, Any]) -> Any:
        """Import the year's assistance list (CSV `id_number,name,category`: tekun/特困,
        dibao/低保, dibian/低边, disabled/残疾人员) and enroll each person with the subsidy
        fund in the subsidized tier; one subsidy per person per year. The report lists every
        row: enrolled, skipped (already subsidized or insured) or failed, with the reason."""
        actor = current_actor()
        c = container()
        report = roster.import_roster(c, actor, form["product_id"],
                                      _read(files["file"], roster.HEADER, roster.MAX_ROWS,
                                            optional=roster.OPTIONAL))
        return report, 201


@blp.route("/admin/subsidy-roster/<import_no>/receipt")
class SubsidyReceipt(MethodView):
    @staff_only(Role.ADMIN)
    @blp.arguments(ReceiptQuerySchema, location="query")
    @blp.response(200, ReceiptSchema)
    @blp.alt_response(200, description="`format=csv`: text/csv (UTF-8 with BOM)")
    @blp.alt_response(404, description="No such roster or donor's list")
    def get(self, query: dict[str, Any], import_no: str) -> Any:
        """The per-person receipt of a roster or a donor's list: for each person (masked),
        the outcome, the policy, the paying body and the amount its fund paid; the total.
        `format=csv` downloads it."""
        found = roster.receipt(container(), import_no)
        if query["format"] != "csv":
            return found
        return csv_download(roster.receipt_csv(found), f"receipt-{import_no}.csv",
                             f"{found.product_name}-资助回执-{import_no}.csv")


# ---------------------------------------------------------------- paying bodies


@blp.route("/admin/subsidy-payers")
class SubsidyPayers(MethodView):
    @staff_only(Role.ADMIN)
    @blp.arguments(PayerQuerySchema, location="query")
    @blp.response(200, PayerListSchema)
    def get(self, query: dict[str, Any]) -> dict[str, Any]:
        """A city's paying bodies (市级财政, 区县财政, 慈善捐赠) with their fund accounts and what
        each fund has paid (from the ledger)."""
        return {"payers": payers.list_payers(container(), query["city_code"])}

    @staff_only(Role.ADMIN)
    @blp.arguments(PayerInSchema)
    @blp.response(201, PayerSchema)
    def post(self, body: dict[str, Any]) -> Any:
        """Register a paying body (audited). A city has one city payer (its fund is
        `subsidy_fund:<city>`), one payer per district (with the groups it pays for), and any
        number of charities / donors; their funds are `subsidy_fund:<city>:<code>`."""
        actor = current_actor()
        draft = payers.PayerDraft(body["city_code"], body["code"], body["name"],
                                  PayerKind(body["kind"]), body["district_code"] or None,
                                  tuple(dict.fromkeys(body["categories"])))
        return payers.create_payer(container(), actor, draft), 201


@blp.route("/admin/subsidy-payers/<int:payer_id>")
class SubsidyPayerDetail(MethodView):
    @staff_only(Role.ADMIN)
    @blp.arguments(PayerUpdateSchema)
    @blp.response(200, PayerSchema)
    @blp.alt_response(404, description="No such paying body")
    def put(self, body: dict[str, Any], payer_id: int) -> payers.PayerView:
        """Rename a paying body, change the groups a district pays for, or (de)activate it
        (audited). Payers are never deleted: their fund accounts keep their history."""
        actor = current_actor()
        categories = body.get("categories")
        return payers.update_payer(
            container(), actor, payer_id, name=body.get("name"),
            categories=tuple(dict.fromkeys(categories)) if categories is not None else None,
            active=body.get("active"))


@blp.route("/admin/subsidy-payers/<int:payer_id>/fundings")
class DonorFunding(MethodView):
    @staff_only(Role.ADMIN)
    @blp.arguments(RosterFormSchema, location="form")
    @blp.arguments(CsvUploadSchema, location="files")
    @blp.doc(requestBody=multipart_body(RosterUploadSchema))
    @blp.response(201, RosterView)
    @blp.alt_response(404, description="No such paying body")
    @blp.doc(parameters=_IDEMPOTENCY_HEADER)
    @idempotent_upload(_account_owner)
    def post(self, form: dict[str, Any], files: dict[str, Any], payer_id: int) -> Any:
        """A charity or donor funds the premiums of the people it names (002 三(三); CSV
        `id_number,name`): each is enrolled in the subsidized tier, paid from the donor's fund
        (`subsidy_fund:<city>:<code>`); the assistance group comes from the registry, one
        subsidy per person per year, 择一 applies. The per-person receipt is
        `GET /admin/subsidy-roster/{import_no}/receipt`."""
        actor = current_actor()
        report = roster.import_roster(
            container(), actor, form["product_id"],
            _read(files["file"], roster.DONOR_HEADER, roster.MAX_ROWS), donor_payer_id=payer_id)
        return report, 201


# ---------------------------------------------------------------- counter


def _resume_counter(resource: str, rerun: Callable[[], Any]) -> Any:
    """A retry whose first attempt died after writing its order. Cash is booked only when the
    order completes, so an order left pending booked nothing: it is released at once (its
    request is known to be gone) and the enrollment runs again."""
    resolving.resolve_pending(container(), resource.removeprefix("order:"), abandoned=True)
    return rerun()


@blp.route("/counter/enrollments")
class CounterEnrollments(MethodView):
    @staff_only(Role.COUNTER_STAFF, Role.ADMIN)
    @blp.arguments(CounterInSchema)
    @blp.response(201, CounterView)
    @blp.alt_response(403, description="Not counter staff (or an administrator)")
    @blp.doc(parameters=_IDEMPOTENCY_HEADER)
    @idempotent(_account_owner, resume=_resume_counter)
    def post(self, body: dict[str, Any]) -> Any:
        """Counter-assisted enrollment of a walk-in resident (counter staff): the identity
        document checked, the premium taken in cash (`counter_cash`, with the receipt number)
        or a subsidized enrollment. Recorded as channel `counter`, the staff member in the
        audit log."""
        actor = current_actor()
        evidence = body["evidence"]
        request = counter.CounterRequest(
            id_number=body["id_number"], name=body["name"], tier=body["tier"],
            payment=PaymentMethod(body["payment"]),
            id_document_checked=bool(evidence["id_document_checked"]),
            receipt_no=evidence["receipt_no"], product_id=body["product_id"])
        result = counter.enroll_walk_in(container(), actor, request)
        return result, 201


@blp.route("/counter/identity-checks")
class CounterIdentityChecks(MethodView):
    @staff_only(Role.COUNTER_STAFF, Role.ADMIN)
    @blp.arguments(CounterIdentityInSchema)
    @blp.response(200, CounterIdentityView)
    @blp.alt_response(403, description="Not counter staff (or an administrator)")
    def post(self, body: dict[str, Any]) -> counter.CounterIdentityResult:
        """Counter staff verified a resident's ID card in person: the resident's account (the
        phone they sign in with) is bound to the person and verified by `counter`, the staff
        member recorded on the account and in the audit log. Ends an unverified binding of the
        same person on another account (both phones are texted); a verified one stays."""
        actor = current_actor()
        evidence = body["evidence"]
        result = counter.verify_identity(
            container(), actor, body["phone"], body["name"], body["id_number"],
            id_document_checked=bool(evidence["id_document_checked"]),
            consents_signed=bool(evidence["consents_signed"]))
        return result


# ---------------------------------------------------------------- reconciliation


@blp.route("/admin/reconcile-runs")
class ReconcileRuns(MethodView):
    @staff_only(Role.INSURER_STAFF, Role.ADMIN)
    @blp.arguments(ReconcileRunQuerySchema, location="query")
    @blp.response(200, ReconcileRunListSchema)
    @blp.alt_response(403, description="Not an administrator or insurer staff")
    def get(self, query: dict[str, Any]) -> list[ReconcileRun]:
        """The latest runs of `huiminbao reconcile` (administrators, insurer staff), newest
        first: what each settled and healed, and every inconsistency it found. A scheduled job
        runs it every few minutes; `latest_ok` is null until it has run once."""
        return reconcile.latest_runs(container(), query["limit"])


# ---------------------------------------------------------------- SMS delivery


@blp.route("/admin/sms")
class SmsOutbox(MethodView):
    @staff_only(Role.ADMIN)
    @blp.arguments(SmsOutboxQuerySchema, location="query")
    @blp.response(200, SmsOutboxSchema)
    @blp.alt_response(403, description="Not an administrator")
    @blp.paginate(page_size=50, max_page_size=200)
    def get(self, query: dict[str, Any],
            pagination_parameters: PaginationParameters) -> list[sms_worker.OutboxEntry]:
        """The texts (administrators), newest first, a page at a time (`page`, `page_size`;
        totals in the `X-Pagination` header): template, state (queued, sending, sent, failed
        and waiting for a retry, given up), attempts, the provider's message id and the last
        error; phones masked, never the text (it may hold a one-time code)."""
        status = SmsStatus(query["status"]) if query["status"] else None
        page = sms_worker.recent_messages(container(), window=window_of(pagination_parameters),
                                          status=status)
        return list(page_items(pagination_parameters, page))
