"""Every operation of the OpenAPI document, fuzzed by schemathesis through WSGI (valid and
invalid data), anonymous and signed in as a resident: no answer is a 5xx and every answer
matches the schema documented for its status.

The budget is small for CI (``EXAMPLES`` per operation and caller); set
``HUIMINBAO_SCHEMATHESIS_EXAMPLES`` (e.g. 200) for the longer run before a release.
"""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
import schemathesis
from flask import Flask, Response, jsonify
from flask.views import MethodView
from flask_smorest import Api, Blueprint
from hypothesis import HealthCheck, given, settings
from marshmallow import Schema, fields
from schemathesis.checks import not_a_server_error
from schemathesis.core.failures import FailureGroup
from schemathesis.generation.modes import GenerationMode
from schemathesis.specs.openapi.checks import response_schema_conformance

from huiminbao.app import build_container, create_app
from huiminbao.catalog.demo import ensure_demo_product
from huiminbao.core.clock import MovableClock
from huiminbao.core.config import Settings
from huiminbao.core.migrate import upgrade
from huiminbao.registry.demo import load_demo_population
from tests.conftest import TEST_NOW

from .helpers import login_bound

EXAMPLES = int(os.environ.get("HUIMINBAO_SCHEMATHESIS_EXAMPLES", "8"))
CHECKS = [not_a_server_error, response_schema_conformance]
# What ends the session runs last, so that everything else is fuzzed signed in.
SESSION_ENDING = {"POST /api/v1/auth/logout", "DELETE /api/v1/me/consents/{kind}",
                  "POST /api/v1/me/deletion"}
RESIDENT = ("13800000001", "张伟", "330106198803150130")


@dataclass
class Fuzzed:
    app: Flask
    clock: MovableClock
    bearer: dict[str, str]


@dataclass
class Outcome:
    operations: int = 0
    examples: int = 0
    statuses: Counter[int] = field(default_factory=Counter)
    failures: list[str] = field(default_factory=list)


@pytest.fixture(scope="module")
def fuzzed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Fuzzed]:
    path = tmp_path_factory.mktemp("schemathesis") / "fuzz.sqlite3"
    app_settings = Settings(database_url=f"sqlite:///{path}", testing=True)
    upgrade(app_settings.database_url)
    clock = MovableClock(TEST_NOW)
    wired = build_container(app_settings, clock=clock)
    load_demo_population(wired.db, clock)
    ensure_demo_product(wired.db, clock)
    app = create_app(container=wired)
    # Signed in before any fuzzing: the fuzzed code requests spend the per-address limit.
    bearer = login_bound(app.test_client(), *RESIDENT).bearer
    yield Fuzzed(app, clock, bearer)
    wired.db.dispose()


def _fuzz_operation(operation: Any, fuzzed: Fuzzed, headers: dict[str, str],
                    outcome: Outcome) -> None:
    label = f"{operation.method.upper()} {operation.path}"
    found: list[str] = []

    @settings(max_examples=EXAMPLES, deadline=None, database=None, derandomize=True,
              suppress_health_check=list(HealthCheck), print_blob=False)
    @given(case=operation.as_strategy(GenerationMode.POSITIVE)
           | operation.as_strategy(GenerationMode.NEGATIVE))
    def fuzz(case: Any) -> None:
        outcome.examples += 1
        before = fuzzed.clock.now()
        response = case.call(headers=headers)
        fuzzed.clock.travel_to(before)  # PUT /dev/clock may have moved it
        outcome.statuses[response.status_code] += 1
        try:
            case.validate_response(response, checks=CHECKS, headers=headers)
        except (AssertionError, FailureGroup) as failure:
            found.append(f"{label}: {str(failure)[:800]}")

    fuzz()
    outcome.operations += 1
    outcome.failures.extend(found[:2])


def _run(fuzzed: Fuzzed, headers: dict[str, str]) -> Outcome:
    schema = schemathesis.openapi.from_wsgi("/api/openapi.json", fuzzed.app)
    operations = [result.ok() for result in schema.get_all_operations()]
    operations.sort(key=lambda op: f"{op.method.upper()} {op.path}" in SESSION_ENDING)
    outcome = Outcome()
    for operation in operations:
        _fuzz_operation(operation, fuzzed, headers, outcome)
    return outcome


def test_anonymous_callers_never_get_a_server_error_or_an_undocumented_answer(
    fuzzed: Fuzzed,
) -> None:
    outcome = _run(fuzzed, {})
    assert outcome.operations >= 70 and outcome.examples >= outcome.operations
    assert not outcome.failures, "\n\n".join(outcome.failures)
    assert outcome.statuses[401] and outcome.statuses[200]


def test_a_signed_in_resident_never_gets_a_server_error_or_an_undocumented_answer(
    fuzzed: Fuzzed,
) -> None:
    outcome = _run(fuzzed, fuzzed.bearer)
    assert outcome.operations >= 70 and outcome.examples >= outcome.operations
    assert not outcome.failures, "\n\n".join(outcome.failures)
    # Signed in, the fuzzing reaches past the login check: validation and the views answer.
    assert outcome.statuses[422] and outcome.statuses[200] > outcome.statuses[401]


def test_the_harness_catches_a_server_error_and_an_answer_outside_its_schema() -> None:
    """Not vacuous: on an app with one of each defect, both are reported."""

    class Count(Schema):
        n = fields.Integer(required=True)

    broken = Flask("broken")
    broken.config.update(API_TITLE="broken", API_VERSION="1", OPENAPI_VERSION="3.1.0",
                         OPENAPI_URL_PREFIX="/api", OPENAPI_JSON_PATH="openapi.json")
    blp = Blueprint("broken", __name__)

    @blp.route("/wrong")
    class Wrong(MethodView):
        @blp.response(200, Count)
        def get(self) -> Response:
            return jsonify({"n": "not a number"})

    @blp.route("/boom")
    class Boom(MethodView):
        @blp.response(200, Count)
        def get(self) -> Response:
            return Response("Internal Server Error", status=500)

    api = Api(broken)
    api.register_blueprint(blp)
    outcome = Outcome()
    schema = schemathesis.openapi.from_wsgi("/api/openapi.json", broken)
    fuzzed = Fuzzed(broken, MovableClock(TEST_NOW), {})
    for result in schema.get_all_operations():
        _fuzz_operation(result.ok(), fuzzed, {}, outcome)
    assert outcome.operations == 2
    assert any(f.startswith("GET /wrong:") for f in outcome.failures), outcome.failures
    assert any(f.startswith("GET /boom:") for f in outcome.failures), outcome.failures
