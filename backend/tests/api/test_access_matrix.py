"""Who may call what, derived from the app's URL map.

``ACCESS`` classifies every endpoint and method the app serves: public, the signed-in person's
own data (``SELF``, with the proxy scope under which an agent may act for them, and the kind of
owned object its path names), staff roles, or service clients (signed callbacks). A route that is
not in the table fails the suite (``unclassified``), and each class is checked against real
answers: anonymous callers get 401 (unless public), a wrong role 403, an agent without a grant
403 with an audited denial, and a stranger asking for the owner's object a plain 404 with none
of the owner's data. Object endpoints of claims are exercised in ``test_claims_access``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from huiminbao.app import create_app
from huiminbao.audit.models import AuditEvent
from huiminbao.core.container import Container
from huiminbao.identity.auth import staff_roles, view_method
from huiminbao.identity.domain import Action, Role
from huiminbao.identity.services import create_staff

from . import test_claims_access
from .helpers import Session, login, login_bound


class Kind(Enum):
    PUBLIC = "public"
    SELF = "self"  # the signed-in person's own data (or, with a grant, their principal's)
    STAFF = "staff"
    SERVICE = "service"  # signed service-to-service callbacks, no session


@dataclass(frozen=True)
class Access:
    kind: Kind
    roles: frozenset[Role] = field(default_factory=frozenset)
    scope: Action | None = None  # the proxy scope under which X-Acting-For is admitted
    owned: str | None = None  # the owned object its path names (a stranger gets 404)


PUBLIC = Access(Kind.PUBLIC)
SELF = Access(Kind.SELF)
SERVICE = Access(Kind.SERVICE)


def own(kind: str) -> Access:
    return Access(Kind.SELF, owned=kind)


def scoped(action: Action) -> Access:
    return Access(Kind.SELF, scope=action)


def staff(*roles: Role) -> Access:
    return Access(Kind.STAFF, roles=frozenset(roles))


ADMIN = staff(Role.ADMIN)
REVIEWERS = staff(Role.INSURER_STAFF, Role.ADMIN)
COUNTER = staff(Role.COUNTER_STAFF, Role.ADMIN)

# (endpoint, method) -> who may call it. Every rule of the URL map must be here.
ACCESS: dict[tuple[str, str], Access] = {
    # Documentation, the frontend, health, the demo's own pages and tools
    ("api-docs.openapi_json", "GET"): PUBLIC,
    ("api-docs.openapi_swagger_ui", "GET"): PUBLIC,
    ("swagger_assets.swagger_asset", "GET"): PUBLIC,
    ("frontend.index", "GET"): PUBLIC,
    ("frontend.verify_page", "GET"): PUBLIC,
    ("frontend.asset", "GET"): PUBLIC,
    ("health.Health", "GET"): PUBLIC,
    ("gateway_pages.pay_page", "GET"): PUBLIC,  # the simulated gateway (demo mode only)
    ("gateway_pages.confirm", "POST"): PUBLIC,
    ("gateway_pages.cancel", "POST"): PUBLIC,
    ("dev.DevSmsOutbox", "GET"): PUBLIC,  # demo mode only
    ("dev.DevClock", "GET"): PUBLIC,
    ("dev.DevClock", "PUT"): PUBLIC,
    # Catalog and disclosure
    ("catalog.Products", "GET"): PUBLIC,
    ("catalog.ProductDetail", "GET"): PUBLIC,
    ("claims.ProductClaimItems", "GET"): PUBLIC,
    ("claims.ProductClaimKinds", "GET"): PUBLIC,
    ("claims.ProductSpecialDrugs", "GET"): PUBLIC,
    ("disclosure.DisclosedProducts", "GET"): PUBLIC,
    ("disclosure.ProductDisclosure", "GET"): PUBLIC,
    ("disclosure.ProductDisclosureCsv", "GET"): PUBLIC,
    ("disclosure.ComplaintCategories", "GET"): PUBLIC,
    ("enrollment.Verify", "GET"): PUBLIC,  # the QR's verify link
    ("identity.ConsentTexts", "GET"): PUBLIC,
    ("identity.Agreements", "GET"): PUBLIC,  # 用户协议 and 隐私政策, shown on the login page
    ("catalog.PublicHelp", "GET"): PUBLIC,  # 客服与投诉: hotline, service points, FAQ
    ("disclosure.ProductSatisfaction", "GET"): PUBLIC,
    # Complaints without an account: the phone's SMS code, then the complaint's own token
    ("disclosure.PublicComplaintCode", "POST"): PUBLIC,
    ("disclosure.PublicComplaints", "POST"): PUBLIC,
    ("disclosure.PublicComplaintDetail", "GET"): PUBLIC,
    ("disclosure.PublicComplaintRating", "POST"): PUBLIC,
    ("enrollment.AutoRenewConsent", "GET"): PUBLIC,
    # Signing in
    ("identity.SendCode", "POST"): PUBLIC,
    ("identity.Login", "POST"): PUBLIC,
    ("identity.AuthMethods", "GET"): PUBLIC,
    ("identity.SessionState", "GET"): PUBLIC,
    ("wechat.WeChatLogin", "GET"): PUBLIC,
    ("wechat.WeChatCallback", "GET"): PUBLIC,
    ("identity.Logout", "POST"): SELF,
    # The person's own data
    ("identity.Me", "GET"): SELF,
    ("identity.Identity", "POST"): SELF,
    ("identity.IdentityCheck", "POST"): SELF,
    ("identity.MyConsent", "PUT"): SELF,
    ("identity.MyConsent", "DELETE"): SELF,
    ("identity.Preferences", "PUT"): SELF,
    ("privacy.DataExport", "GET"): SELF,
    ("privacy.AccountDeletion", "GET"): SELF,
    ("privacy.AccountDeletion", "POST"): SELF,
    ("payments.MyAccount", "GET"): SELF,
    ("payments.PaymentCode", "POST"): scoped(Action.ENROLL),
    ("enrollment.EnrollmentPreview", "POST"): scoped(Action.ENROLL),
    ("enrollment.Enrollments", "GET"): SELF,
    ("enrollment.Enrollments", "POST"): scoped(Action.ENROLL),
    ("enrollment.EnrollmentDetail", "GET"): own("order"),
    ("enrollment.EnrollmentCancel", "POST"): own("order"),
    ("enrollment.Policies", "GET"): scoped(Action.VIEW_POLICIES),
    ("enrollment.PolicyDetail", "GET"): own("policy"),
    ("enrollment.PolicyQr", "GET"): own("policy"),
    ("enrollment.PolicyCancel", "POST"): own("policy"),
    ("enrollment.PolicyAutoRenew", "PUT"): own("policy"),
    ("family.Family", "GET"): SELF,
    ("family.Family", "POST"): SELF,
    ("family.ResendMemberCode", "POST"): own("family member"),
    ("family.VerifyMember", "POST"): own("family member"),
    ("family.FamilyMemberItem", "DELETE"): own("family member"),
    ("claims.Claims", "GET"): scoped(Action.VIEW_CLAIMS),
    ("claims.Claims", "POST"): scoped(Action.SUBMIT_CLAIMS),
    ("claims.ClaimEstimate", "POST"): scoped(Action.VIEW_CLAIMS),
    ("claims.ClaimDetail", "GET"): own("claim"),
    ("claims.ClaimDocuments", "POST"): own("claim"),
    ("claims.ClaimPayee", "PUT"): own("claim"),
    ("claims.ClaimAppeal", "POST"): own("claim"),
    ("claims.ClaimDocumentFile", "GET"): own("claim"),
    ("proxy.Grants", "GET"): SELF,
    ("proxy.Grants", "POST"): SELF,
    ("proxy.GrantItem", "GET"): own("grant"),
    ("proxy.GrantItem", "DELETE"): own("grant"),
    ("proxy.GrantQr", "GET"): own("grant"),
    ("proxy.GrantSms", "POST"): own("grant"),
    ("proxy.GrantConfirm", "POST"): own("grant"),  # the agent with the code, or counter staff
    ("proxy.Confirmations", "GET"): SELF,  # the principal, holding the QR's secret token
    ("proxy.Confirmations", "POST"): SELF,
    ("proxy.ProxyActivity", "GET"): SELF,
    ("disclosure.Complaints", "GET"): scoped(Action.FILE_COMPLAINTS),
    ("disclosure.Complaints", "POST"): scoped(Action.FILE_COMPLAINTS),
    ("disclosure.ComplaintDetail", "GET"): own("complaint"),
    ("disclosure.ComplaintRating", "POST"): own("complaint"),
    ("disclosure.ClaimRating", "GET"): own("claim"),
    ("disclosure.ClaimRating", "POST"): own("claim"),
    # Staff
    ("catalog.AdminProducts", "GET"): ADMIN,
    ("catalog.AdminProducts", "POST"): ADMIN,
    ("catalog.AdminProductDetail", "GET"): ADMIN,
    ("catalog.PublishProduct", "POST"): ADMIN,
    ("console.EditDraftProduct", "PUT"): ADMIN,
    ("console.CloneProduct", "POST"): ADMIN,
    ("disclosure.ComplaintSettings", "GET"): ADMIN,
    ("disclosure.ComplaintSettings", "PUT"): ADMIN,
    ("console.EmployerBulkEnrollment", "POST"): ADMIN,
    ("console.EmployerBatchDetail", "GET"): ADMIN,
    ("console.SubsidyRoster", "POST"): ADMIN,
    ("console.SubsidyReceipt", "GET"): ADMIN,
    ("console.SubsidyPayers", "GET"): ADMIN,
    ("console.SubsidyPayers", "POST"): ADMIN,
    ("console.SubsidyPayerDetail", "PUT"): ADMIN,
    ("console.DonorFunding", "POST"): ADMIN,
    ("console.SmsOutbox", "GET"): ADMIN,
    ("console.ReconcileRuns", "GET"): REVIEWERS,
    ("claims_admin.AdminClaims", "GET"): REVIEWERS,
    ("claims_admin.AdminClaimDetail", "GET"): REVIEWERS,
    ("claims_admin.AdminClaimDecision", "POST"): REVIEWERS,
    ("claims_admin.AdminProductClaimKinds", "PUT"): ADMIN,
    ("claims_admin.PayoutRuns", "POST"): ADMIN,
    ("claims_admin.SettlementStatements", "GET"): REVIEWERS,
    ("claims_admin.SettlementStatements", "POST"): REVIEWERS,
    ("claims_admin.SettlementStatementCsv", "GET"): REVIEWERS,
    ("disclosure.ComplaintQueue", "GET"): REVIEWERS,
    ("disclosure.ComplaintReplies", "POST"): REVIEWERS,
    ("console.ProductCoinsurers", "GET"): ADMIN,
    ("console.ProductCoinsurers", "PUT"): ADMIN,
    ("console.ProductSurplus", "GET"): ADMIN,
    ("console.ProductSurplus", "PUT"): ADMIN,
    ("console.InsurerStaffMember", "PUT"): ADMIN,
    ("console.InsurerStatement", "GET"): REVIEWERS,
    ("reports.BureauReport", "GET"): ADMIN,
    ("reports.BureauReportCsv", "GET"): ADMIN,
    ("console.CounterEnrollments", "POST"): COUNTER,
    ("console.CounterIdentityChecks", "POST"): COUNTER,
    ("proxy.StaffGrants", "GET"): COUNTER,
    ("catalog.ProductHelpSettings", "GET"): ADMIN,
    ("catalog.ProductHelpSettings", "PUT"): ADMIN,
    # Service clients: signed callbacks
    ("claims.Settlements", "POST"): SERVICE,  # hospitals (HMAC-signed requests)
    ("claims.SpecialDrugSettlements", "POST"): SERVICE,  # designated pharmacies, signed
    ("payments.OnlineNotify", "POST"): SERVICE,  # the payment gateway's signed notification
}

# Path values that match each route's converters (the objects need not exist).
_PATH_VALUES = {"product_id": 1, "account_id": 1, "member_id": 1, "grant_id": 1, "document_id": 1,
                "filename": "app.js", "kind": "privacy", "order_no": "HM000000000000000000",
                "policy_no": "XHYL2027000000000000", "claim_no": "LP000000000000",
                "complaint_no": "TS000000000000", "batch_no": "PL000000000000",
                "import_no": "ZZ00000000000000000000", "payer_id": 1,
                "token": "t" * 32, "prepay_id": "wx000000000000"}


def routes(app: Flask) -> list[tuple[str, str, str]]:
    """Every (endpoint, method, rule) the app serves (HEAD and OPTIONS come with GET)."""
    found = []
    for rule in app.url_map.iter_rules():
        if rule.endpoint == "static":
            continue
        for method in sorted((rule.methods or set()) - {"HEAD", "OPTIONS"}):
            found.append((rule.endpoint, method, rule.rule))
    return found


def unclassified(app: Flask) -> list[str]:
    """The routes of ``app`` that ``ACCESS`` does not classify, as "METHOD rule (endpoint)"."""
    return [f"{method} {rule} ({endpoint})" for endpoint, method, rule in routes(app)
            if (endpoint, method) not in ACCESS]


def _path(app: Flask, endpoint: str, method: str) -> str:
    rule = next(r for r in app.url_map.iter_rules(endpoint) if method in (r.methods or ()))
    values = {name: _PATH_VALUES[name] for name in rule.arguments}
    with app.test_request_context():
        adapter = app.url_map.bind("localhost")
        return adapter.build(endpoint, values, method=method)


def _matrix(app: Flask, kinds: set[Kind]) -> list[tuple[str, str, Access]]:
    return [(endpoint, method, ACCESS[(endpoint, method)])
            for endpoint, method, _ in routes(app)
            if (endpoint, method) in ACCESS and ACCESS[(endpoint, method)].kind in kinds]


_PROBE = {"Idempotency-Key": "matrix-probe-0001"}


def _probe(client: FlaskClient, app: Flask, endpoint: str, method: str,
           headers: dict[str, str], *, key: bool = True):  # type: ignore[no-untyped-def]
    response = client.open(_path(app, endpoint, method), method=method,
                           headers={**(_PROBE if key else {}), **headers})
    response.get_data()  # buffered, so that a file answer can be closed now
    response.close()
    return response


OWNER = ("13800000001", "张伟", "330106198803150130")
STRANGER = ("13800000006", "刘䶮", "330105198109040613")


@dataclass(frozen=True)
class Endpoint:
    method: str
    path: str
    body: dict[str, Any] | None = None


# Endpoints whose subject is chosen by X-Acting-For (the caller's own data otherwise).
PERSON_ENDPOINTS = [
    Endpoint("GET", "/api/v1/me"),
    Endpoint("PUT", "/api/v1/me/preferences", {"elderly_mode": True}),
    Endpoint("GET", "/api/v1/me/account"),
    Endpoint("GET", "/api/v1/me/data-export"),
    Endpoint("GET", "/api/v1/me/deletion"),
    Endpoint("GET", "/api/v1/policies"),
    Endpoint("POST", "/api/v1/enrollments/preview",
             {"product_id": 1, "tier": "standard", "payment_method": "personal_account"}),
    Endpoint("GET", "/api/v1/claims"),
    Endpoint("POST", "/api/v1/claims/estimate",
             {"product_id": 1, "tier": "standard", "in_policy_self_pay_fen": 3000000}),
]

# Endpoints on one of the owner's objects; "{policy_no}" and "{order_no}" are filled in.
OBJECT_ENDPOINTS = [
    Endpoint("GET", "/api/v1/policies/{policy_no}"),
    Endpoint("GET", "/api/v1/policies/{policy_no}/qr.png"),
    Endpoint("PUT", "/api/v1/policies/{policy_no}/auto-renew", {"enabled": False}),
    Endpoint("POST", "/api/v1/policies/{policy_no}/cancel"),
    Endpoint("GET", "/api/v1/enrollments/{order_no}"),
    Endpoint("POST", "/api/v1/enrollments/{order_no}/cancel"),
]


def _owner_secrets(owner: Session) -> list[str]:
    return [OWNER[2], OWNER[0], "张伟", owner.me["identity"]["id_number"],
            owner.me["phone"]]


def _call(client: FlaskClient, endpoint: Endpoint, headers: dict[str, str]):  # type: ignore[no-untyped-def]
    return client.open(endpoint.path, method=endpoint.method, json=endpoint.body,
                       headers=headers)


@pytest.fixture
def owner(client: FlaskClient) -> Session:
    return login_bound(client, *OWNER)


@pytest.fixture
def stranger(app) -> Session:  # type: ignore[no-untyped-def]
    return login_bound(app.test_client(), *STRANGER)


@pytest.mark.parametrize("endpoint", PERSON_ENDPOINTS, ids=lambda e: f"{e.method} {e.path}")
def test_anonymous_callers_are_asked_to_log_in(app, endpoint: Endpoint) -> None:  # type: ignore[no-untyped-def]
    response = _call(app.test_client(), endpoint, {})
    assert response.status_code == 401


@pytest.mark.parametrize("endpoint", PERSON_ENDPOINTS, ids=lambda e: f"{e.method} {e.path}")
def test_stranger_acting_for_the_owner_is_refused_and_learns_nothing(
    owner: Session, stranger: Session, endpoint: Endpoint, wired: Container
) -> None:
    owner_person_id = owner.me["identity"]["person_id"]
    response = _call(stranger.client, endpoint,
                     {**stranger.bearer, "X-Acting-For": str(owner_person_id)})
    assert response.status_code in {403, 404}
    text = response.get_data(as_text=True)
    for secret in _owner_secrets(owner):
        assert secret not in text
    with wired.db.read() as session:
        denial = session.scalars(
            select(AuditEvent).where(AuditEvent.outcome == "denied",
                                     AuditEvent.subject_person_id == owner_person_id)
        ).first()
    assert denial is not None, "every denial is audited"
    assert denial.actor_account_id == stranger.me["account_id"]


@pytest.mark.parametrize("endpoint", PERSON_ENDPOINTS, ids=lambda e: f"{e.method} {e.path}")
def test_acting_for_a_person_that_does_not_exist_looks_the_same(
    owner: Session, stranger: Session, endpoint: Endpoint
) -> None:
    real = _call(stranger.client, endpoint,
                 {**stranger.bearer, "X-Acting-For": str(owner.me["identity"]["person_id"])})
    ghost = _call(stranger.client, endpoint, {**stranger.bearer, "X-Acting-For": "987654"})
    assert real.status_code == ghost.status_code
    assert real.get_json()["message"] == ghost.get_json()["message"]


@pytest.mark.parametrize("endpoint", PERSON_ENDPOINTS, ids=lambda e: f"{e.method} {e.path}")
def test_the_owner_gets_their_own_data(owner: Session, endpoint: Endpoint) -> None:
    response = _call(owner.client, endpoint, owner.bearer)
    assert response.status_code == 200, response.get_json()
    assert "刘" not in response.get_data(as_text=True)


@pytest.fixture
def owners_policy(owner: Session) -> dict[str, str]:
    product = owner.client.get("/api/v1/products").get_json()["items"][0]
    response = owner.client.post(
        "/api/v1/enrollments", headers={**owner.bearer, "Idempotency-Key": "matrix-order-1"},
        json={"product_id": product["id"], "tier": "standard",
              "payment_method": "personal_account",
              "confirmations": {"terms_version": product["terms"]["version"],
                                "not_basic_insurance": True, "debit_amount_fen": 15000}},
    )
    assert response.status_code == 201, response.get_json()
    order = response.get_json()
    return {"order_no": order["order_no"], "policy_no": order["policies"][0]["policy_no"]}


@pytest.mark.parametrize("endpoint", OBJECT_ENDPOINTS, ids=lambda e: f"{e.method} {e.path}")
def test_a_strangers_request_for_the_owners_object_is_a_plain_404(
    owner: Session, stranger: Session, owners_policy: dict[str, str], endpoint: Endpoint,
    wired: Container,
) -> None:
    path = endpoint.path.format(**owners_policy)
    headers = {**stranger.bearer, "Idempotency-Key": "stranger-try-0001"}
    response = stranger.client.open(path, method=endpoint.method, json=endpoint.body,
                                     headers=headers)
    assert response.status_code == 404
    text = response.get_data(as_text=True)
    for secret in _owner_secrets(owner):
        assert secret not in text
    missing = stranger.client.open(
        endpoint.path.format(order_no="HM000000000000000000", policy_no="XHYL2027000000000000"),
        method=endpoint.method, json=endpoint.body,
        headers={**stranger.bearer, "Idempotency-Key": "stranger-try-0002"})
    assert missing.status_code == 404
    assert missing.get_json()["code"] == response.get_json()["code"]
    assert missing.get_json()["message"] == response.get_json()["message"]
    # The owner's policy is untouched.
    check = owner.client.get(f"/api/v1/policies/{owners_policy['policy_no']}",
                             headers=owner.bearer).get_json()
    assert check["status"] == "active"


# Further owned objects: "{complaint_no}", "{member_id}" and "{grant_id}" are filled in.
MORE_OBJECT_ENDPOINTS = [
    Endpoint("GET", "/api/v1/complaints/{complaint_no}"),
    Endpoint("POST", "/api/v1/complaints/{complaint_no}/rating", {"score": 5}),
    Endpoint("POST", "/api/v1/me/family/{member_id}/code"),
    Endpoint("POST", "/api/v1/me/family/{member_id}/verify", {"code": "123456"}),
    Endpoint("DELETE", "/api/v1/me/family/{member_id}"),
    Endpoint("GET", "/api/v1/proxy/grants/{grant_id}"),
    Endpoint("GET", "/api/v1/proxy/grants/{grant_id}/qr.png"),
    Endpoint("POST", "/api/v1/proxy/grants/{grant_id}/sms"),
    Endpoint("POST", "/api/v1/proxy/grants/{grant_id}/confirm", {"code": "123456"}),
    Endpoint("DELETE", "/api/v1/proxy/grants/{grant_id}"),
]
_GHOSTS = {"complaint_no": "TS000000000000", "member_id": "987654", "grant_id": "987654"}


@pytest.fixture
def owners_things(owner: Session) -> dict[str, str]:
    complaint = owner.client.post("/api/v1/complaints", headers=owner.bearer, json={
        "category": "payment", "content": "缴费后一直显示待支付，请尽快处理，谢谢。"})
    assert complaint.status_code == 201, complaint.get_json()
    member = owner.client.post("/api/v1/me/family", headers=owner.bearer, json={
        "name": "李娜", "id_number": "330106199007220243", "relation": "spouse"})
    assert member.status_code == 201, member.get_json()
    grant = owner.client.post("/api/v1/proxy/grants", headers=owner.bearer, json={
        "principal_name": "张建国", "principal_id_number": "330102195802100458",
        "scopes": ["enroll"], "pay_limit_fen": None, "valid_days": 30,
        "confirm_method": "sms"})
    assert grant.status_code == 201, grant.get_json()
    return {"complaint_no": complaint.get_json()["complaint_no"],
            "member_id": str(member.get_json()["id"]), "grant_id": str(grant.get_json()["id"])}


@pytest.mark.parametrize("endpoint", MORE_OBJECT_ENDPOINTS,
                         ids=lambda e: f"{e.method} {e.path}")
def test_a_strangers_request_for_the_owners_other_objects_is_a_plain_404(
    owner: Session, stranger: Session, owners_things: dict[str, str], endpoint: Endpoint,
) -> None:
    headers = {**stranger.bearer, "Idempotency-Key": "stranger-try-0003"}
    response = stranger.client.open(endpoint.path.format(**owners_things),
                                     method=endpoint.method, json=endpoint.body, headers=headers)
    assert response.status_code == 404, response.get_json()
    text = response.get_data(as_text=True)
    for secret in [*_owner_secrets(owner), "李娜", "330106199007220243", "330102195802100458"]:
        assert secret not in text
    ghost = stranger.client.open(endpoint.path.format(**_GHOSTS), method=endpoint.method,
                                 json=endpoint.body, headers=headers)
    if ghost.status_code != 429:  # the code resend limit may already be spent on the first
        assert ghost.status_code == 404
        assert ghost.get_json()["code"] == response.get_json()["code"]
        assert ghost.get_json()["message"] == response.get_json()["message"]


# ---------------------------------------------------------------- the matrix itself


def test_every_route_is_classified_and_every_classification_is_a_route(app: Flask) -> None:
    assert unclassified(app) == []
    served = {(endpoint, method) for endpoint, method, _ in routes(app)}
    assert set(ACCESS) - served == set(), "stale entries in ACCESS"


def test_a_new_route_nobody_classified_is_reported(wired: Container) -> None:
    fresh = create_app(container=wired)
    assert unclassified(fresh) == []
    fresh.add_url_rule("/api/v1/new-thing/<int:thing_id>", "new_thing",
                       lambda thing_id: "", methods=["GET", "POST"])
    assert unclassified(fresh) == ["GET /api/v1/new-thing/<int:thing_id> (new_thing)",
                                   "POST /api/v1/new-thing/<int:thing_id> (new_thing)"]


def _view_method(app: Flask, endpoint: str, method: str) -> Any:
    with app.app_context():
        return view_method(endpoint, method)


def test_the_staff_roles_are_the_ones_the_views_declare(app: Flask) -> None:
    # The role gate before input reads the views' @staff_only marks: every staff endpoint has
    # one, naming exactly the roles ACCESS expects, and no other endpoint has one.
    declared = {(endpoint, method): staff_roles(_view_method(app, endpoint, method))
                for endpoint, method, _ in routes(app)}
    expected = {key: access.roles if access.kind is Kind.STAFF else None
                for key, access in ACCESS.items()}
    assert {k: v for k, v in declared.items() if v != expected.get(k)} == {}


def test_proxy_scopes_are_the_ones_the_views_declare(app: Flask) -> None:
    for endpoint, method, _ in routes(app):
        declared = getattr(_view_method(app, endpoint, method), "acting_for_action", None)
        assert ACCESS[(endpoint, method)].scope is declared, (endpoint, method)


def test_every_owned_object_endpoint_has_a_stranger_test(app: Flask) -> None:
    adapter = app.url_map.bind("localhost")
    values = {"policy_no": "XHYL2027000000000000", "order_no": "HM000000000000000000",
              "claim_no": "LP000000000000", "document_id": "1", **_GHOSTS}
    tested = set()
    for endpoint in [*OBJECT_ENDPOINTS, *MORE_OBJECT_ENDPOINTS,
                     *test_claims_access.OBJECT_ENDPOINTS]:
        name, _ = adapter.match(endpoint.path.format(**values), method=endpoint.method)
        tested.add((name, endpoint.method))
    owned = {key for key, access in ACCESS.items() if access.owned}
    assert owned == tested


def test_anonymous_callers_are_asked_to_log_in_everywhere_but_public(app: Flask) -> None:
    wrong = []
    for endpoint, method, _ in _matrix(app, {Kind.SELF, Kind.STAFF, Kind.SERVICE}):
        for key in (True, False):  # with or without an Idempotency-Key: who comes first
            response = _probe(app.test_client(), app, endpoint, method, {}, key=key)
            if response.status_code != 401:
                wrong.append(f"{method} {endpoint} (key: {key}): {response.status_code}")
    assert not wrong, "\n".join(wrong)
    assert len(_matrix(app, {Kind.SELF, Kind.STAFF, Kind.SERVICE})) > 60


def test_public_endpoints_answer_anonymous_callers(app: Flask) -> None:
    for endpoint, method, _ in _matrix(app, {Kind.PUBLIC}):
        response = _probe(app.test_client(), app, endpoint, method, {})
        assert response.status_code not in {401, 403} and response.status_code < 500, \
            (endpoint, method, response.status_code)


def test_service_endpoints_take_no_session(app: Flask, owner: Session) -> None:
    for endpoint, method, _ in _matrix(app, {Kind.SERVICE}):
        response = _probe(owner.client, app, endpoint, method, owner.bearer)
        assert response.status_code == 401, (endpoint, method)


STAFF_PHONES = {Role.COUNTER_STAFF: "13900000071", Role.INSURER_STAFF: "13900000072",
                Role.ADMIN: "13900000073"}


def test_staff_endpoints_admit_their_roles_and_refuse_every_other(
    app: Flask, wired: Container, owner: Session,
) -> None:
    sessions = {Role.RESIDENT: owner}
    for role, phone in STAFF_PHONES.items():
        create_staff(wired, phone, role, role.label)
        sessions[role] = login(app.test_client(), phone)
    wrong = []
    for endpoint, method, access in _matrix(app, {Kind.STAFF}):
        for role, session in sessions.items():
            status = _probe(session.client, app, endpoint, method, session.bearer).status_code
            admitted = status not in {401, 403}
            if admitted != (role in access.roles) or status >= 500:
                wrong.append(f"{method} {endpoint} as {role.value}: {status}")
    assert not wrong, "\n".join(wrong)


def test_own_data_endpoints_admit_the_signed_in_resident(app: Flask, owner: Session) -> None:
    # Signing out and withdrawing a consent go last: they end what the others need.
    last = {("identity.MyConsent", "DELETE"): 1, ("identity.Logout", "POST"): 2}
    wrong = []
    for endpoint, method, _ in sorted(_matrix(app, {Kind.SELF}),
                                      key=lambda item: last.get((item[0], item[1]), 0)):
        status = _probe(owner.client, app, endpoint, method, owner.bearer).status_code
        if status in {401, 403} or status >= 500:
            wrong.append(f"{method} {endpoint}: {status}")
    assert not wrong, "\n".join(wrong)


def test_acting_for_a_stranger_is_refused_and_audited_everywhere(
    app: Flask, wired: Container, owner: Session, stranger: Session,
) -> None:
    owner_person_id = owner.me["identity"]["person_id"]
    headers = {**stranger.bearer, "X-Acting-For": str(owner_person_id)}
    wrong = []
    probed = _matrix(app, {Kind.SELF, Kind.STAFF})
    for endpoint, method, _ in probed:
        response = _probe(stranger.client, app, endpoint, method, headers)
        if response.status_code != 403:
            wrong.append(f"{method} {endpoint}: {response.status_code}")
    assert not wrong, "\n".join(wrong)
    with wired.db.read() as session:
        denials = session.scalars(
            select(AuditEvent).where(AuditEvent.outcome == "denied",
                                     AuditEvent.subject_person_id == owner_person_id)).all()
    # Staff endpoints refuse a resident by role before the acting-for check; every refusal on
    # the person's own-data endpoints is an audited denial.
    assert len(denials) == len(_matrix(app, {Kind.SELF}))
