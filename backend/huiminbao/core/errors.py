"""Domain errors. Each carries a Chinese message for people and a stable code for programs;
``api.py`` turns every one of them into the single error payload shape."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any


class DomainError(Exception):
    http_status = 400
    code = "bad_request"

    def __init__(
        self,
        message: str,
        *,
        code: str | None = None,
        errors: Mapping[str, Sequence[str]] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code
        self.errors = {name: list(msgs) for name, msgs in (errors or {}).items()}
        self.headers = dict(headers or {})  # e.g. Retry-After, sent with the error payload


class InvalidInput(DomainError):
    http_status = 422
    code = "invalid_input"


class NotFound(DomainError):
    """Also the answer when an object exists but is not the caller's: denials reveal nothing."""

    http_status = 404
    code = "not_found"

    def __init__(self, message: str = "未找到相关记录", **kwargs: object) -> None:
        super().__init__(message, **kwargs)  # type: ignore[arg-type]


class Unauthenticated(DomainError):
    http_status = 401
    code = "unauthenticated"


class Forbidden(DomainError):
    http_status = 403
    code = "forbidden"


class Conflict(DomainError):
    http_status = 409
    code = "conflict"


class Busy(DomainError):
    """A shared resource is at its limit right now, or a remote side cannot answer yet; the same
    request may succeed shortly (503 with ``Retry-After``, DESIGN §5)."""

    http_status = 503
    code = "busy"
    retry_after_seconds = 5

    def __init__(self, message: str, **kwargs: Any) -> None:
        super().__init__(message, **kwargs)
        self.headers.setdefault("Retry-After", str(self.retry_after_seconds))


class RuleViolation(DomainError):
    """The request is well-formed but a business rule refuses it."""

    http_status = 422
    code = "rule_violation"


class RemoteUnavailable(Exception):
    """A remote service (the registry, the payment gateway) did not answer in time. What was
    asked of it has an unknown outcome, which callers settle by querying with the same request
    number; a request that meets it unhandled answers 503 with ``Retry-After``, never 500."""


class PreconditionFailed(DomainError):
    """The resource changed since the caller read it (its ``If-Match`` is stale)."""

    http_status = 412
    code = "precondition_failed"


class PreconditionRequired(DomainError):
    """A change that must say which version it replaces (``If-Match``) did not."""

    http_status = 428
    code = "precondition_required"
