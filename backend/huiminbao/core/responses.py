"""The base of every response schema: an answer's shape is written once, in its schema.

A schema dumps what a view returns; a key the view returns that the schema does not declare
would be dropped without a word (marshmallow dumps declared fields only). ``ResponseSchema``
refuses that in testing (the test suite fails on it) and logs it in production, so the two
never drift. ``test_response_shapes.py`` checks that every documented response schema, and
every schema nested in one, derives from it.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

import marshmallow as ma
from flask import current_app, has_app_context

log = logging.getLogger(__name__)


class UndeclaredResponseKeys(AssertionError):
    """A view answered with keys its response schema does not declare."""


class ResponseSchema(ma.Schema):
    """Base of response schemas: dumps attributes of domain or ORM objects, or mappings whose
    keys it all declares."""

    @ma.pre_dump
    def _refuse_undeclared_keys(self, data: Any, **_: Any) -> Any:
        if isinstance(data, Mapping):
            declared = {field.attribute or name for name, field in self.fields.items()}
            extra = sorted(str(key) for key in data if key not in declared)
            if extra:
                message = (f"{type(self).__name__} does not declare {', '.join(extra)}: "
                           "declare them in the schema or stop returning them")
                if has_app_context() and current_app.testing:
                    raise UndeclaredResponseKeys(message)
                log.warning("response keys dropped: %s", message)
        return data
