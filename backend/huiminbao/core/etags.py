"""ETag and If-Match at the API's edge: a view sends a resource's version as ``ETag`` and reads
the version a change replaces from ``If-Match``. What a version is belongs to the resource's
own module (for products, ``catalog/versions.py``); the check runs in the service, inside the
transaction that writes, so two changes cannot both pass it."""

from __future__ import annotations

from typing import Any

from flask import request
from werkzeug.http import quote_etag

ANY = "*"

IF_MATCH = {"in": "header", "name": "If-Match", "schema": {"type": "string"},
            "description": "the ETag of the version this change replaces (from the GET)"}
# Documentation of the ETag response header (flask-smorest's ``headers=``).
ETAG_HEADER = {"ETag": {"description": "the version of what is returned; send it back as "
                                       "If-Match to change it", "schema": {"type": "string"}}}


def if_match() -> frozenset[str] | None:
    """The versions the request's ``If-Match`` names (``ANY`` for ``*``), or None when absent."""
    tags = request.if_match
    if tags.star_tag:
        return frozenset({ANY})
    found = frozenset(tags.as_set())
    return found or None


def tagged(body: Any, version: str, status: int = 200) -> tuple[Any, int, dict[str, str]]:
    """A view's answer with its ``ETag``."""
    return body, status, {"ETag": quote_etag(version)}
