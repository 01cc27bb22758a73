"""The base of every response schema: an answer's shape is written once, in its schema.

A schema dumps what a view returns; a key the view returns that the schema does not declare
would be dropped without a word (marshmallow dumps declared fields only). ``ResponseSchema``
refuses that in testing (the test suite fails on it) and logs it in production, so the two
never drift. ``test_response_shapes.py`` checks that every documented response schema, and
every schema nested in one, derives from it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
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


class Masked(ma.fields.String):
    """A name, phone or ID number, masked as it is dumped (DESIGN §5): the schema reads the
    real attribute and only its masked form leaves."""

    def __init__(self, mask: Callable[[str], str], **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.mask = mask

    def _serialize(self, value: Any, attr: str | None, obj: Any, **kwargs: Any) -> str | None:
        return None if value is None else self.mask(str(value))


class Label(ma.fields.String):
    """The Chinese label of a stored value, read from ``source`` (the attribute that holds the
    value, which its own field dumps too): ``of`` is an enum whose members have a ``label`` (a
    status, a role), or a function from the value to its label."""

    def __init__(self, of: Callable[[Any], Any], source: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.of, self.source = of, source

    def serialize(self, attr: str, obj: Any, accessor: Any = None, **kwargs: Any) -> Any:
        return super().serialize(self.source, obj, accessor, **kwargs)

    def _serialize(self, value: Any, attr: str | None, obj: Any, **kwargs: Any) -> str | None:
        if value is None:
            return None
        found = self.of(value)
        return str(getattr(found, "label", found))


class CodeLabel(ResponseSchema):
    """A value of a labelled enum (a category, a kind of evidence): its code and Chinese
    label."""

    code = ma.fields.String(attribute="value")
    label = ma.fields.String()


class _Computed:
    """A value computed from the whole dumped object by ``of`` (a rule's answer, a notice, a
    URL), typed in the OpenAPI by the field class it is mixed into."""

    def __init__(self, of: Callable[[Any], Any], *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.of = of

    def serialize(self, attr: str, obj: Any, accessor: Any = None, **kwargs: Any) -> Any:
        value = self.of(obj)
        return None if value is None else self._serialize(value, attr, obj, **kwargs)  # type: ignore[attr-defined]


class Computed(_Computed, ma.fields.String):
    """A string computed from the dumped object."""


class ComputedBoolean(_Computed, ma.fields.Boolean):
    """A yes/no computed from the dumped object."""


class ComputedInteger(_Computed, ma.fields.Integer):
    """A number computed from the dumped object."""


class ComputedList(_Computed, ma.fields.List[Any]):
    """A list computed from the dumped object, each element dumped by the inner field."""


class ComputedNested(_Computed, ma.fields.Nested):
    """An object computed from the dumped object (None: null), dumped by the nested schema."""
