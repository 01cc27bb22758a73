"""Log lines are JSON, carry the request id, and never a full ID number or phone number."""

from __future__ import annotations

import io
import json
import logging

from flask.testing import FlaskClient

from huiminbao.core.logging import configure_logging


def test_log_lines_are_json_with_request_id_and_masked(client: FlaskClient) -> None:
    stream = io.StringIO()
    root = logging.getLogger()
    handlers_before = list(root.handlers)  # the session's log-scan handler among them
    configure_logging(logging.INFO, stream)
    try:
        response = client.get(
            "/api/v1/health", headers={"X-Request-ID": "req-test-0001"},
        )
        logging.getLogger("huiminbao.test").info(
            "looked up %s with phone %s", "330106198803150130", "13800000001"
        )
    finally:
        root.handlers[:] = handlers_before
    assert response.status_code == 200
    lines = [json.loads(line) for line in stream.getvalue().splitlines()]
    access = next(line for line in lines if line["logger"] == "huiminbao.access")
    assert access["request_id"] == "req-test-0001"
    assert access["status"] == 200
    text = stream.getvalue()
    assert "330106198803150130" not in text
    assert "13800000001" not in text
    assert "3****************0" in text
    assert "138****0001" in text
