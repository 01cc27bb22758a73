"""Each answer's shape is written once, in a response schema, and fully typed in the OpenAPI.

``ResponseSchema`` (core/responses.py) fails a dump in testing when a view returns a key its
schema does not declare, so every API test also checks the shapes of the answers it gets; this
module checks that no response escapes that base, and that the OpenAPI types every object.
"""

from __future__ import annotations

from collections.abc import Iterator
from types import SimpleNamespace
from typing import Any

import marshmallow as ma
import pytest
from flask import Flask
from flask.testing import FlaskClient

from huiminbao.core.responses import (
    Computed,
    ComputedBoolean,
    ComputedInteger,
    ComputedList,
    ComputedNested,
    ResponseSchema,
    UndeclaredResponseKeys,
)


def _documented_schemas(app: Flask) -> Iterator[tuple[str, int, ma.Schema]]:
    for endpoint, view in app.view_functions.items():
        view_class = getattr(view, "view_class", None)
        handlers = ([getattr(view_class, m.lower()) for m in sorted(view_class.methods or ())]
                    if view_class else [view])
        for handler in handlers:
            responses = getattr(handler, "_apidoc", {}).get("response", {}).get("responses", {})
            for status, documented in responses.items():
                for response in documented if isinstance(documented, list) else [documented]:
                    schema = response.get("schema") if isinstance(response, dict) else None
                    if isinstance(schema, ma.Schema):
                        yield endpoint, status, schema


def _nested(schema: ma.Schema) -> Iterator[ma.Schema]:
    yield schema
    for field in schema.fields.values():
        inner: Any = field
        while isinstance(inner, ma.fields.List):
            inner = inner.inner
        if isinstance(inner, ma.fields.Nested):
            yield from _nested(inner.schema)


def test_every_documented_response_schema_refuses_undeclared_keys(app: Flask) -> None:
    documented = list(_documented_schemas(app))
    assert len(documented) > 60  # the whole API, not a corner of it
    outside = sorted({f"{endpoint} {status}: {type(schema).__name__}"
                      for endpoint, status, schema in documented
                      for schema in _nested(schema)
                      if not isinstance(schema, ResponseSchema)})
    assert outside == []


def test_a_key_the_schema_does_not_declare_fails_the_answer(app: Flask) -> None:
    class Answer(ResponseSchema):
        order_no = ma.fields.String()

    with app.app_context():
        assert Answer().dump({"order_no": "A1"}) == {"order_no": "A1"}
        with pytest.raises(UndeclaredResponseKeys, match="forgotten"):
            Answer().dump({"order_no": "A1", "forgotten": 1})


def test_computed_fields_read_the_whole_object_and_answer_null_rather_than_leave_out() -> None:
    class Inner(ResponseSchema):
        code = ma.fields.String(attribute="value")

    class Answer(ResponseSchema):
        label = Computed(lambda obj: obj.name.upper())
        note = Computed(lambda _obj: None, allow_none=True)
        big = ComputedBoolean(lambda obj: obj.amount > 10)
        doubled = ComputedInteger(lambda obj: obj.amount * 2)
        codes = ComputedList(lambda obj: obj.codes, ma.fields.Nested(Inner))
        first = ComputedNested(lambda obj: obj.codes[0] if obj.codes else None, Inner,
                               allow_none=True)

    codes = [SimpleNamespace(value="x"), SimpleNamespace(value="y")]
    dumped = Answer().dump(SimpleNamespace(name="ab", amount=7, codes=codes))
    assert dumped == {"label": "AB", "note": None, "big": False, "doubled": 14,
                      "codes": [{"code": "x"}, {"code": "y"}], "first": {"code": "x"}}
    assert Answer().dump(SimpleNamespace(name="c", amount=11, codes=[]))["first"] is None


# Objects whose keys are data, not a shape: each with why.
FREE_FORM = {
    ("Error", "errors"): "field name -> messages: the names are the request's fields",
    ("ExportAudit", "details"): "what an audited act recorded: each action records its own",
}


def _untyped_objects(spec: dict[str, Any]) -> Iterator[str]:
    def walk(where: str, node: Any) -> Iterator[str]:
        if isinstance(node, dict):
            if (node.get("type") == "object" or node.get("type") == ["object", "null"]) \
                    and "properties" not in node:
                yield where
            for key, value in node.items():
                yield from walk(f"{where}.{key}", value)
        elif isinstance(node, list):
            for index, value in enumerate(node):
                yield from walk(f"{where}[{index}]", value)

    for name, component in spec["components"]["schemas"].items():
        for prop, body in component.get("properties", {}).items():
            if (name, prop) not in FREE_FORM:
                yield from walk(f"{name}.{prop}", body)


def test_the_openapi_types_every_object(client: FlaskClient) -> None:
    spec = client.get("/api/openapi.json").get_json()
    assert len(spec["components"]["schemas"]) > 50
    assert list(_untyped_objects(spec)) == []
