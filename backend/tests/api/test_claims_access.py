"""The owner's claim and its documents, asked for by a stranger: a plain 404 with none of the
owner's data, the same answer as for a claim that does not exist, and an audited denial. (The
claim-side twin of ``test_access_matrix``'s object endpoints.)"""

from __future__ import annotations

import io
from dataclasses import dataclass
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from huiminbao.audit.models import AuditEvent
from huiminbao.core.clock import MovableClock
from huiminbao.core.container import Container

from .helpers import Session, login_bound
from .test_claims_support import (
    PDF_BYTES,
    WORKED_EXAMPLE,
    enrolled,
    into_coverage,
    person_id,
    submit,
    upload,
)

OWNER_SECRETS = ["330106198803150130", "13800000001", "张伟"]
STRANGER = ("13800000006", "刘䶮", "330105198109040613")


@dataclass(frozen=True)
class Endpoint:
    method: str
    path: str
    upload: bool = False
    body: dict[str, Any] | None = None


OBJECT_ENDPOINTS = [
    Endpoint("GET", "/api/v1/claims/{claim_no}"),
    Endpoint("GET", "/api/v1/claims/{claim_no}/rating"),
    Endpoint("POST", "/api/v1/claims/{claim_no}/rating", body={"score": 5}),
    Endpoint("POST", "/api/v1/claims/{claim_no}/documents", upload=True),
    Endpoint("GET", "/api/v1/claims/{claim_no}/documents/{document_id}"),
    Endpoint("PUT", "/api/v1/claims/{claim_no}/payee",
             body={"card_no": "6222021234567890128"}),
    Endpoint("POST", "/api/v1/claims/{claim_no}/appeal", body={"reason": "请重新审核本次住院费用"}),
]


@pytest.fixture
def owners_claim(client: FlaskClient, wired: Container, clock: MovableClock
                 ) -> tuple[Session, dict[str, Any]]:
    owner = enrolled(client)
    [owner] = into_coverage(clock, wired, owner)
    claim = submit(owner, WORKED_EXAMPLE).get_json()
    document = upload(owner, claim["claim_no"], "发票.pdf", PDF_BYTES).get_json()["document"]
    return owner, {"claim_no": claim["claim_no"], "document_id": document["id"]}


def _call(client: FlaskClient, endpoint: Endpoint, path: str, headers: dict[str, str]
          ):  # type: ignore[no-untyped-def]
    if endpoint.upload:
        return client.post(path, headers=headers, content_type="multipart/form-data",
                           data={"file": (io.BytesIO(PDF_BYTES), "mine.pdf")})
    return client.open(path, method=endpoint.method, headers=headers, json=endpoint.body)


@pytest.mark.parametrize("endpoint", OBJECT_ENDPOINTS, ids=lambda e: f"{e.method} {e.path}")
def test_a_strangers_request_for_the_owners_claim_is_a_plain_404(
    app: Flask, wired: Container, owners_claim: tuple[Session, dict[str, Any]],
    endpoint: Endpoint,
) -> None:
    owner, refs = owners_claim
    stranger = login_bound(app.test_client(), *STRANGER)
    response = _call(stranger.client, endpoint, endpoint.path.format(**refs), stranger.bearer)
    assert response.status_code == 404
    text = response.get_data(as_text=True)
    for secret in [*OWNER_SECRETS, refs["claim_no"]]:
        assert secret not in text
    missing = _call(stranger.client, endpoint, endpoint.path.format(
        claim_no="LP2027032000000000", document_id=refs["document_id"]), stranger.bearer)
    assert missing.status_code == 404
    assert missing.get_json() | {"request_id": None} == response.get_json() | {"request_id": None}
    with wired.db.read() as session:
        denial = session.scalars(select(AuditEvent).where(
            AuditEvent.outcome == "denied", AuditEvent.subject_person_id == person_id(owner),
            AuditEvent.object_id == refs["claim_no"])).first()
    assert denial is not None and denial.actor_account_id == stranger.me["account_id"]
    # The owner's claim is untouched.
    mine = owner.client.get(f"/api/v1/claims/{refs['claim_no']}", headers=owner.bearer)
    assert [d["filename"] for d in mine.get_json()["documents"]] == ["发票.pdf"]


@pytest.mark.parametrize("endpoint", OBJECT_ENDPOINTS, ids=lambda e: f"{e.method} {e.path}")
def test_anonymous_callers_are_asked_to_log_in(
    app: Flask, owners_claim: tuple[Session, dict[str, Any]], endpoint: Endpoint
) -> None:
    _owner, refs = owners_claim
    response = _call(app.test_client(), endpoint, endpoint.path.format(**refs), {})
    assert response.status_code == 401


def test_a_stranger_sees_none_of_the_owners_claims_in_lists(
    app: Flask, owners_claim: tuple[Session, dict[str, Any]]
) -> None:
    stranger = login_bound(app.test_client(), *STRANGER)
    assert stranger.client.get("/api/v1/claims", headers=stranger.bearer).get_json() == {
        "items": []}
    staff_only = stranger.client.get("/api/v1/admin/claims", headers=stranger.bearer)
    assert staff_only.status_code == 403
