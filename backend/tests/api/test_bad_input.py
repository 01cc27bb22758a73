"""Every bad input is a 4xx in the error shape, never a 500, and writes nothing:
ids beyond 64 bits (body and path), JSON nested too deep, integer literals too long for Python,
unpaired surrogates and NUL characters in text, and a non-ASCII ``X-Acting-For``."""

from __future__ import annotations

import io
import json
import re
import uuid
from collections.abc import Callable
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select, table
from werkzeug.test import TestResponse

from huiminbao.core.container import Container

from .enrollment_helpers import body, sign_in
from .test_claims_support import WORKED_EXAMPLE
from .test_console_support import admin

_CJK = re.compile(r"[\u3400-\u9fff]")
TABLES = ("orders", "order_items", "policies", "proxy_grants", "complaints", "family_members",
          "claims", "idempotency_keys", "people")
HUGE = str(2**64)  # beyond any 64-bit column
DEEP = "[" * 5000 + "]" * 5000
LONG = "9" * 5000  # beyond Python's 4,300-digit int limit


def rows(wired: Container) -> dict[str, int]:
    with wired.db.read() as session:
        return {name: int(session.scalar(select(func.count()).select_from(table(name))) or 0)
                for name in TABLES}


def assert_refused(response: TestResponse, *, field: str | None = None) -> dict[str, Any]:
    assert 400 <= response.status_code < 500, (response.status_code, response.get_data())
    answer = response.get_json()
    assert set(answer) == {"code", "message", "errors", "request_id"}, answer
    assert _CJK.search(answer["message"]), answer
    assert answer["request_id"] and answer["request_id"] == response.headers["X-Request-ID"]
    if field is not None:
        assert any(name.endswith(field) for name in answer["errors"]), answer
        assert field in answer["message"], answer
    return answer  # type: ignore[no-any-return]


def raw(document: dict[str, Any], **replacements: str) -> bytes:
    """The document as JSON text, with the values of the named fields replaced by raw JSON
    (which json.dumps cannot produce: lone surrogates, huge literals, deep nesting)."""
    marked = {**document, **{name: f"@@{name}@@" for name in replacements}}
    out = json.dumps(marked)
    for name, literal in replacements.items():
        out = out.replace(f'"@@{name}@@"', literal)
    return out.encode()


# Each endpoint: (method, path, a valid body for it).
Endpoint = Callable[[FlaskClient], tuple[str, str, dict[str, Any]]]
ENDPOINTS: dict[str, Endpoint] = {
    "enrollment": lambda c: ("POST", "/api/v1/enrollments", body(c, "personal_account")),
    "preview": lambda c: ("POST", "/api/v1/enrollments/preview", body(c, "personal_account")),
    "family": lambda c: ("POST", "/api/v1/me/family",
                         {"name": "王秀英", "id_number": "330106196002140026",
                          "relation": "spouse"}),
    "proxy": lambda c: ("POST", "/api/v1/proxy/grants",
                        {"principal_name": "张建国", "principal_id_number": "330102195802100458",
                         "scopes": ["enroll"], "pay_limit_fen": 50000, "valid_days": 30,
                         "confirm_method": "sms"}),
    "estimate": lambda c: ("POST", "/api/v1/claims/estimate", dict(WORKED_EXAMPLE)),
    "claim": lambda c: ("POST", "/api/v1/claims",
                        {**WORKED_EXAMPLE, "hospital_name": "浙大一院",
                         "admitted_on": "2026-11-01", "discharged_on": "2026-11-05"}),
    "complaint": lambda c: ("POST", "/api/v1/complaints",
                            {"category": "payment", "content": "缴费后一直显示待支付"}),
}
# A text field of each endpoint's body.
TEXT_FIELD = {"enrollment": "tier", "preview": "tier", "family": "name",
              "proxy": "principal_name", "estimate": "policy_no", "claim": "hospital_name",
              "complaint": "content"}
# An integer field of each endpoint's body.
INT_FIELD = {"enrollment": "product_id", "preview": "product_id", "family": "relation",
             "proxy": "pay_limit_fen", "estimate": "product_id",
             "claim": "in_policy_self_pay_fen", "complaint": "category"}

# name -> (how to spoil a body for an endpoint, the field the answer must name or None)
Spoil = Callable[[str, dict[str, Any]], bytes]
CASES: dict[str, tuple[Spoil, bool]] = {
    "id beyond 64 bits": (lambda e, d: raw(d, **{INT_FIELD[e]: HUGE}), False),
    "negative id beyond 64 bits": (lambda e, d: raw(d, **{INT_FIELD[e]: "-" + HUGE}), False),
    "integer of 5000 digits": (lambda e, d: raw(d, **{INT_FIELD[e]: LONG}), False),
    "nested 5000 deep": (lambda e, d: raw(d, **{TEXT_FIELD[e]: DEEP}), False),
    "nested 5000 deep objects": (
        lambda e, d: raw(d, **{TEXT_FIELD[e]: '{"a":' * 5000 + "1" + "}" * 5000}), False),
    "unpaired surrogate": (lambda e, d: raw(d, **{TEXT_FIELD[e]: '"a\\ud800b"'}), True),
    "unpaired low surrogate": (lambda e, d: raw(d, **{TEXT_FIELD[e]: '"\\udfff"'}), True),
    "NUL character": (lambda e, d: raw(d, **{TEXT_FIELD[e]: '"a\\u0000b"'}), True),
    "surrogate in a key": (lambda e, d: raw({**d, "k": 1}, k='1, "\\ud800": 1'), False),
    "not JSON": (lambda e, d: b'{"product_id": ', False),
    "invalid UTF-8": (lambda e, d: raw(d, **{TEXT_FIELD[e]: '"\xff"'}).replace(
        "\xff".encode(), b"\xff"), False),
}


@pytest.mark.parametrize("case", list(CASES))
def test_bad_json_bodies_are_refused_in_the_error_shape(
        client: FlaskClient, wired: Container, case: str) -> None:
    spoil, names_field = CASES[case]
    zhang = sign_in(client, "张伟")
    anonymous = client.application.test_client()
    before = rows(wired)
    for endpoint, make in ENDPOINTS.items():
        method, path, document = make(client)
        data = spoil(endpoint, document)
        for who, caller, headers in (("signed in", client, zhang.bearer),
                                     ("anonymous", anonymous, {})):
            response = caller.open(path, method=method, data=data,
                                   content_type="application/json",
                                   headers={**headers, "Idempotency-Key": uuid.uuid4().hex})
            if who == "anonymous" and response.status_code == 401:
                assert_refused(response)
                continue
            assert_refused(response, field=TEXT_FIELD[endpoint] if names_field else None)
    assert rows(wired) == before


@pytest.mark.parametrize("number", [HUGE, "9" * 30, "9" * 5000, "²", "１２", "-1"])
def test_path_ids_out_of_range_match_no_route(client: FlaskClient, wired: Container,
                                            number: str) -> None:
    zhang = sign_in(client, "张伟")
    before = rows(wired)
    for method, path in (("GET", f"/api/v1/proxy/grants/{number}"),
                         ("POST", f"/api/v1/proxy/grants/{number}/confirm"),
                         ("DELETE", f"/api/v1/me/family/{number}"),
                         ("POST", f"/api/v1/me/family/{number}/verify"),
                         ("GET", f"/api/v1/disclosure/{number}"),
                         ("GET", f"/api/v1/products/{number}/claim-items"),
                         ("GET", f"/api/v1/claims/CL0/documents/{number}")):
        response = client.open(path, method=method, headers=zhang.bearer, json={})
        # No route takes it: 404, or 405 where the front end's catch-all (GET) matches the path.
        assert response.status_code in {404, 405}, (path, response.get_data())
        assert_refused(response)
    assert rows(wired) == before


def test_body_ids_out_of_range_name_the_field(client: FlaskClient, wired: Container) -> None:
    zhang = sign_in(client, "张伟")
    before = rows(wired)
    for value in (0, -1, 2**63 - 1):
        for path in ("/api/v1/enrollments", "/api/v1/enrollments/preview"):
            document = {**body(client, "personal_account"), "product_id": value}
            response = client.post(path, json=document,
                                   headers={**zhang.bearer, "Idempotency-Key": uuid.uuid4().hex})
            assert_refused(response)
        document = {**body(client, "personal_account"),
                    "insured": [{"person_id": value, "tier": "standard"}]}
        response = client.post("/api/v1/enrollments/preview", json=document,
                               headers=zhang.bearer)
        assert_refused(response)
    answer = client.post("/api/v1/claims/estimate", headers=zhang.bearer,
                         json={**WORKED_EXAMPLE, "product_id": 0})
    assert answer.status_code == 422
    assert "product_id" in assert_refused(answer)["errors"]
    after = rows(wired)
    # 2**63 - 1 is a valid id of no product: the enrollment runs and its key keeps the refusal
    # (a retry gets the same answer), as for any refused enrollment. Nothing else is written.
    assert after.pop("idempotency_keys") <= 1
    before.pop("idempotency_keys")
    assert after == before


@pytest.mark.parametrize("header", ["²", "１２", "٣", "1" * 30, "9" * 5000, "-1", "1e3", " "])
def test_acting_for_accepts_only_ascii_digits(client: FlaskClient, wired: Container,
                                             header: str) -> None:
    zhang = sign_in(client, "张伟")
    before = rows(wired)
    for path in ("/api/v1/enrollments/preview", "/api/v1/enrollments"):
        response = client.post(path, json=body(client, "personal_account"),
                               headers={**zhang.bearer, "X-Acting-For": header,
                                        "Idempotency-Key": uuid.uuid4().hex})
        assert_refused(response)
    assert_refused(client.get("/api/v1/claims",
                              headers={**zhang.bearer, "X-Acting-For": header}))
    assert rows(wired) == before


@pytest.mark.parametrize("query", ["q=%00", "%00=1", "product_id=" + "9" * 5000])
def test_query_strings_with_nul_or_huge_numbers_are_refused(app: Flask, query: str) -> None:
    client = app.test_client()
    response = client.get(f"/api/v1/products?{query}")
    assert response.status_code < 500
    if "%00" in query:
        assert_refused(response)


@pytest.mark.parametrize("where", ["form value", "form name", "file name"])
def test_nul_in_a_multipart_upload_is_refused_before_anything_is_read(
    client: FlaskClient, wired: Container, where: str,
) -> None:
    staff = admin(client, wired)
    form: dict[str, Any] = {"employer_code": "91330100MA27XYZ", "employer_name": "杭州某公司",
                            "product_id": "1"}
    filename = "名单.csv"
    if where == "form value":
        form["employer_name"] = "杭州\x00公司"
    elif where == "form name":
        form["employer\x00name"] = "x"
    else:
        filename = "名单\x00.csv"
    before = rows(wired)
    response = client.post(
        "/api/v1/admin/enrollments/bulk", content_type="multipart/form-data",
        data={**form, "file": (io.BytesIO("身份证号,姓名,档次\n".encode()), filename)},
        headers={**staff.bearer, "Idempotency-Key": uuid.uuid4().hex})
    answer = assert_refused(response)
    assert answer["code"] == "invalid_text" and "NUL" in answer["message"]
    assert rows(wired) == before


@pytest.mark.parametrize("header", ["Idempotency-Key", "X-Acting-For", "Authorization"])
def test_nul_in_a_header_value_is_refused(client: FlaskClient, wired: Container,
                                          header: str) -> None:
    zhang = sign_in(client, "张伟")
    before = rows(wired)
    headers = {**zhang.bearer, "Idempotency-Key": uuid.uuid4().hex}
    headers[header] = headers.get(header, "1") + "\x00"
    response = client.post("/api/v1/complaints", headers=headers,
                           json={"category": "payment", "content": "缴费后一直待支付，请处理。"})
    answer = assert_refused(response, field=header)
    assert answer["code"] == "invalid_text"
    assert rows(wired) == before
