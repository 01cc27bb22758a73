"""Helpers for the claims tests (no tests here): figures of the worked example, moving into the
coverage period, hospitals' signed settlements, staff sign-in and document bytes."""

from __future__ import annotations

import io
import json
import uuid
from datetime import UTC, datetime
from typing import Any

from flask.testing import FlaskClient
from PIL import Image

from huiminbao.claims.clients import IssuedClient, create_client
from huiminbao.claims.signing import sign
from huiminbao.core.clock import MovableClock
from huiminbao.core.container import Container
from huiminbao.identity.agreements import current_versions
from huiminbao.identity.domain import Role
from huiminbao.identity.services import create_staff, open_session_for

from .enrollment_helpers import PEOPLE, enroll, sign_in
from .helpers import Session, login

# The demo product's coverage starts 46 days after the test clock's 2026-11-22: 2027-01-07.
IN_COVERAGE = datetime(2027, 3, 20, 2, 0, tzinfo=UTC)  # 10:00 in Hangzhou
STAY = {"admitted_on": "2027-03-01", "discharged_on": "2027-03-10"}
WORKED_EXAMPLE: dict[str, Any] = {
    "in_policy_self_pay_fen": 3_000_000,
    "items": [{"code": "HL001", "name": "质子重离子放射治疗", "amount_fen": 1_000_000},
              {"code": "TY001", "name": "信迪利单抗注射液", "amount_fen": 500_000}],
}
SECOND_CLAIM: dict[str, Any] = {
    "in_policy_self_pay_fen": 800_000,
    "items": [{"code": "HL002", "name": "CAR-T细胞治疗", "amount_fen": 1_500_000}],
}
def image_bytes(kind: str) -> bytes:
    """A small, whole image (uploads are decoded completely, not just sniffed)."""
    buffer = io.BytesIO()
    Image.new("RGB", (4, 3), (250, 250, 245)).save(buffer, kind)
    return buffer.getvalue()


PDF_BYTES = b"%PDF-1.4\n1 0 obj\n<< /Type /Catalog >>\nendobj\ntrailer\n<<>>\n%%EOF\n"
PNG_BYTES = image_bytes("PNG")


def enrolled(client: FlaskClient, name: str = "张伟") -> Session:
    """Sign in and enroll in the standard tier from the personal account (window open now)."""
    session = sign_in(client, name)
    response = enroll(session, "personal_account")
    assert response.status_code == 201, response.get_json()
    return session


def refresh(wired: Container, session: Session) -> Session:
    """A fresh token after the clock moved (access tokens live 15 minutes)."""
    # The texts as they stand now (a test may have rebuilt the tables that recorded them).
    signed = open_session_for(wired, session.me["account_id"], method="sms",
                              agreed=current_versions())
    return Session(session.client, signed.access_token, signed.csrf_token, session.me)


def into_coverage(clock: MovableClock, wired: Container, *sessions: Session) -> list[Session]:
    clock.travel_to(IN_COVERAGE)
    return [refresh(wired, session) for session in sessions]


def id_number(name: str) -> str:
    return PEOPLE[name][1]


def person_id(session: Session) -> int:
    return int(session.me["identity"]["person_id"])


def staff(client: FlaskClient, wired: Container, phone: str = "13900000001",
          role: Role = Role.INSURER_STAFF) -> Session:
    create_staff(wired, phone, role, "理赔审核员")
    return login(client, phone)


def hospital(wired: Container, name: str = "浙江大学医学院附属第一医院") -> IssuedClient:
    return create_client(wired, "hospital", name)


def pharmacy(wired: Container, code: str = "YD3301001",
             name: str = "老百姓大药房（特药服务中心·延安路店）") -> IssuedClient:
    """A designated pharmacy of the demo product on the settlement feed."""
    return create_client(wired, "pharmacy", name, code)


def client_pk(wired: Container, issued: IssuedClient) -> int:
    """The client's row id: its ledger accounts are named by it."""
    from sqlalchemy import select

    from huiminbao.identity.models import ServiceClient

    with wired.db.read() as session:
        return int(session.scalars(select(ServiceClient.id).where(
            ServiceClient.client_id == issued.client_id)).one())


SPECIAL_DRUG_PATH = "/api/v1/settlements/special-drugs"
# 信迪利单抗 for Hodgkin's lymphoma (a listed indication, not a pre-existing condition).
DRUG_PURCHASE: dict[str, Any] = {
    "prescription_no": "CF2027031500001", "diagnosis_code": "C81.9",
    "prescribed_on": "2027-03-15", "purchased_on": "2027-03-16",
    "items": [{"code": "TY001", "name": "信迪利单抗注射液", "amount_fen": 2_500_000}],
}


def drug_body(name: str, figures: dict[str, Any] | None = None, *,
              number: str | None = None) -> dict[str, Any]:
    return {"settlement_no": number or f"YJ{uuid.uuid4().hex[:16]}",
            "id_number": id_number(name), **DRUG_PURCHASE, **(figures or {})}


def settle_drug(client: FlaskClient, wired: Container, issued: IssuedClient,
                body: dict[str, Any]):  # type: ignore[no-untyped-def]
    raw = json.dumps(body, ensure_ascii=False).encode()
    return client.post(SPECIAL_DRUG_PATH, data=raw, content_type="application/json",
                       headers=signed_headers(issued, raw, wired=wired, path=SPECIAL_DRUG_PATH))


def settlement_body(name: str, figures: dict[str, Any], *, number: str | None = None,
                    stay: dict[str, str] | None = None) -> dict[str, Any]:
    return {"settlement_no": number or f"JS{uuid.uuid4().hex[:16]}",
            "id_number": id_number(name), **(stay or STAY), **figures}


def signed_headers(issued: IssuedClient, raw: bytes, *, timestamp: str | None = None,
                   wired: Container | None = None, path: str = "/api/v1/settlements"
                   ) -> dict[str, str]:
    if timestamp is None:
        assert wired is not None
        timestamp = str(int(wired.clock.now().timestamp()))
    return {"X-Client-Id": issued.client_id, "X-Timestamp": timestamp,
            "X-Signature": sign(issued.signing_key, timestamp, "POST", path, raw)}


def settle(client: FlaskClient, wired: Container, issued: IssuedClient, body: dict[str, Any],
           **header_options: Any):  # type: ignore[no-untyped-def]
    raw = json.dumps(body, ensure_ascii=False).encode()
    headers = signed_headers(issued, raw, wired=wired, **header_options)
    return client.post("/api/v1/settlements", data=raw, content_type="application/json",
                       headers=headers)


def submit(session: Session, figures: dict[str, Any], *, key: str | None = None,
           headers: dict[str, str] | None = None, **fields: Any):  # type: ignore[no-untyped-def]
    body = {"hospital_name": "杭州市第一人民医院", **STAY, **figures, **fields}
    return session.client.post(
        "/api/v1/claims", json=body,
        headers={**session.bearer, "Idempotency-Key": key or uuid.uuid4().hex, **(headers or {})})


def decide(reviewer: Session, number: str, decision: str, message: str | None = None):  # type: ignore[no-untyped-def]
    return reviewer.client.post(
        f"/api/v1/admin/claims/{number}/decision",
        json={"decision": decision, "message": message},
        headers={**reviewer.bearer, "Idempotency-Key": uuid.uuid4().hex})


def upload(session: Session, number: str, filename: str, data: bytes):  # type: ignore[no-untyped-def]
    import io

    return session.client.post(
        f"/api/v1/claims/{number}/documents", headers=session.bearer,
        data={"file": (io.BytesIO(data), filename)}, content_type="multipart/form-data")


def sms_texts(client: FlaskClient, phone: str) -> list[str]:
    return [item["text"] for item in
            client.get(f"/api/v1/dev/sms?phone={phone}").get_json()["items"]]
