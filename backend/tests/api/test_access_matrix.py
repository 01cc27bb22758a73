"""Every endpoint that returns person-owned data, asked by a stranger: 401/403/404 and a body
with none of the owner's data. Later domains add their endpoints to ``PERSON_ENDPOINTS``."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest
from flask.testing import FlaskClient
from sqlalchemy import select

from huiminbao.audit.models import AuditEvent
from huiminbao.core.container import Container

from .helpers import Session, login_bound

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
    # The owner's policy is untouched.
    check = owner.client.get(f"/api/v1/policies/{owners_policy['policy_no']}",
                             headers=owner.bearer).get_json()
    assert check["status"] == "active"
