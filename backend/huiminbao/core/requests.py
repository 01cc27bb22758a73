"""Request ids and access logging: every response carries ``X-Request-ID``."""

from __future__ import annotations

import logging
import re
import time
import uuid

from flask import Flask, Response, g, request

_ACCEPTABLE_REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{8,64}$")
access_log = logging.getLogger("huiminbao.access")


def init_request_ids(app: Flask) -> None:
    @app.before_request
    def _assign_request_id() -> None:
        incoming = request.headers.get("X-Request-ID", "")
        g.request_id = incoming if _ACCEPTABLE_REQUEST_ID.match(incoming) else uuid.uuid4().hex
        g.request_started = time.perf_counter()

    @app.after_request
    def _stamp_response(response: Response) -> Response:
        request_id = g.get("request_id") or uuid.uuid4().hex
        response.headers["X-Request-ID"] = request_id
        started = g.get("request_started")
        elapsed_ms = round((time.perf_counter() - started) * 1000, 1) if started else None
        # The path may carry a policy number but never an ID number or phone; the formatter
        # scrubs those anyway.
        access_log.info(
            "%s %s %s", request.method, request.path, response.status_code,
            extra={"status": response.status_code, "elapsed_ms": elapsed_ms},
        )
        return response


def public_root() -> str:
    """Where residents reach the product, for links that leave the request: the gateway's
    notify and return URLs, verify links, QR codes. HUIMINBAO_PUBLIC_URL (production requires
    it: a request's Host header is the client's to choose); demo mode without it, the address
    the request came to."""
    from huiminbao.core.container import container

    return container().settings.public_url or request.url_root.rstrip("/")
