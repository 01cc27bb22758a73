"""The OpenAPI document describes the errors the API really sends: the default error response of
every operation is the one error shape (``code`` text, Chinese ``message``, ``errors``,
``request_id``), and real answers validate against it."""

from __future__ import annotations

import jsonschema
from flask.testing import FlaskClient


def test_real_errors_match_the_documented_error_schema(client: FlaskClient) -> None:
    spec = client.get("/api/openapi.json").get_json()
    schema = spec["components"]["schemas"]["Error"]
    assert spec["components"]["responses"]["DEFAULT_ERROR"]["content"]["application/json"][
        "schema"] == {"$ref": "#/components/schemas/Error"}
    answers = [
        client.get("/api/v1/policies/P0000"),  # 401: not signed in
        client.get("/api/v1/no-such-thing"),  # 404
        client.delete("/api/v1/products"),  # 405
        client.post("/api/v1/auth/otp", json={"phone": "12"}),  # 422
    ]
    for answer in answers:
        assert answer.status_code >= 400
        body = answer.get_json()
        jsonschema.validate(body, schema)
        assert isinstance(body["code"], str) and body["request_id"]
