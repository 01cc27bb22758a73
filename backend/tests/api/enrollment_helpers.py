"""Helpers for enrollment tests: the demo people, and enrolling through the API."""

from __future__ import annotations

import uuid
from typing import Any

from flask.testing import FlaskClient

from .helpers import Session, login_bound

PEOPLE = {
    "张伟": ("13800000001", "330106198803150130"),
    "李娜": ("13800000002", "330106199007220243"),
    "刘䶮": ("13800000006", "330105198109040613"),
    "林𫖮": ("13800000007", "330108199701130742"),
    "赵敏": ("13800000008", "330104197411270865"),
    "孙丽": ("13800000009", "330110196504300923"),
    "周强": ("13800000010", "330106199308121011"),
    "吴芳": ("13800000011", "310104198602271124"),
    "张建国": ("13800000004", "330102195802100458"),
}


def sign_in(client: FlaskClient, name: str) -> Session:
    phone, id_number = PEOPLE[name]
    return login_bound(client, phone, name, id_number)


def product(client: FlaskClient) -> dict[str, Any]:
    return client.get("/api/v1/products").get_json()["items"][0]  # type: ignore[no-any-return]


def body(client: FlaskClient, method: str, tier: str = "standard", *,
         amount_fen: int | None = None, sms_code: str | None = None) -> dict[str, Any]:
    item = product(client)
    confirmations: dict[str, Any] = {"terms_version": item["terms"]["version"],
                                     "not_basic_insurance": True}
    if method == "personal_account":
        confirmations["debit_amount_fen"] = amount_fen if amount_fen is not None else next(
            t["premium_fen"] for t in item["tiers"] if t["code"] == tier)
    if sms_code:
        confirmations["sms_code"] = sms_code
    return {"product_id": item["id"], "tier": tier, "payment_method": method,
            "confirmations": confirmations}


def enroll(session: Session, method: str, tier: str = "standard", *, key: str | None = None,
           **kwargs: Any):  # type: ignore[no-untyped-def]
    return session.client.post(
        "/api/v1/enrollments", json=body(session.client, method, tier, **kwargs),
        headers={**session.bearer, "Idempotency-Key": key or uuid.uuid4().hex},
    )


def payment_code(session: Session, tier: str = "standard", *,
                 headers: dict[str, str] | None = None, **changes: Any):  # type: ignore[no-untyped-def]
    """Ask for the code that confirms this personal-account debit (texted to the owner)."""
    request = body(session.client, "personal_account", tier) | changes
    return session.client.post("/api/v1/me/payment-code", json=request,
                               headers={**session.bearer, **(headers or {})})


def balance(session: Session) -> dict[str, Any]:
    response = session.client.get("/api/v1/me/account", headers=session.bearer)
    assert response.status_code == 200, response.get_json()
    return response.get_json()  # type: ignore[no-any-return]
