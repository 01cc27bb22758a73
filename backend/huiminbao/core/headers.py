"""Security headers on every answer, set in one place (an ``after_request`` hook).

* ``Content-Security-Policy``: pages load scripts, styles, images and data from this origin
  only. The frontend has no inline ``<script>``, no inline event handlers, no ``style=``
  attributes and no ``<style>`` elements (scripts set styles through the CSSOM, which a CSP does
  not govern), so the strict policy fits every page. Two exceptions keep their own policy:

  - the Swagger UI page (``/api/docs``) is flask-smorest's template, whose one inline script
    builds the Swagger UI config. Its text is fixed (the spec URL and our constant
    ``OPENAPI_SWAGGER_UI_CONFIG``, no request data), so that route allows exactly that script
    by its SHA-256 hash, computed from the rendered page, instead of ``'unsafe-inline'``;
  - the built-in gateway's demo pay page (``payments/gateway/routes.py``) already sends a
    stricter per-response policy with a style nonce; an answer that set its own policy keeps it.

  ``frame-ancestors 'none'``: WeChat's webview opens our pages top-level and nothing embeds
  them, so no page may be framed (clickjacking on the pay, grant-confirm and console pages).
* ``Referrer-Policy: no-referrer``: tokens appear in some page URLs (``/verify/<token>``,
  proxy grant QR links); a referrer must never carry them to another site.
* ``Strict-Transport-Security`` only in production mode (demo runs on plain http://localhost).
* ``Cache-Control: no-store`` on every ``/api/v1`` answer except the public catalog and
  disclosure reads listed in ``PUBLIC_API_RULES``, which keep their current (absent) caching
  headers: the rest is personal or needs authentication, and must not sit in a shared cache
  or the browser's disk cache.
* ``Permissions-Policy``: no page uses the camera API (claim photos come through
  ``<input type="file" capture>``, which the policy does not govern), the microphone or
  geolocation.
"""

from __future__ import annotations

import base64
import hashlib
import re

from flask import Flask, Response, request

PAGE_CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; "
    "connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'"
)
# A JSON (or CSV) answer opened as a document may run or load nothing at all.
API_CSP = "default-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"

SWAGGER_UI_ENDPOINT = "api-docs.openapi_swagger_ui"

# GET rules under /api/v1 whose answers are the same for everyone (no authentication, no
# personal data): they keep their own caching headers instead of ``no-store``.
PUBLIC_API_RULES = frozenset({
    "/api/v1/products",
    "/api/v1/products/<int:product_id>",
    "/api/v1/products/<int:product_id>/special-drugs",
    "/api/v1/disclosure",
    "/api/v1/disclosure/<int:product_id>",
    "/api/v1/complaint-categories",
})

HSTS = "max-age=31536000; includeSubDomains"
PERMISSIONS_POLICY = "camera=(), microphone=(), geolocation=()"

_INLINE_SCRIPT = re.compile(r"<script>(.*?)</script>", re.DOTALL)


def init_security_headers(app: Flask, *, production: bool) -> None:
    @app.after_request
    def _secure(response: Response) -> Response:
        headers = response.headers
        headers.setdefault("X-Content-Type-Options", "nosniff")
        headers.setdefault("Referrer-Policy", "no-referrer")
        headers.setdefault("Cross-Origin-Opener-Policy", "same-origin")
        headers.setdefault("Permissions-Policy", PERMISSIONS_POLICY)
        if production:
            headers["Strict-Transport-Security"] = HSTS
        api = request.path.startswith("/api/v1/") or request.path == "/api/v1"
        if "Content-Security-Policy" not in headers:
            headers["Content-Security-Policy"] = _policy(response, api=api)
        if api and not _public_cacheable() and "no-store" not in headers.get("Cache-Control", ""):
            headers["Cache-Control"] = "no-store"
        return response


def _public_cacheable() -> bool:
    rule = request.url_rule
    return (request.method in ("GET", "HEAD") and rule is not None
            and rule.rule in PUBLIC_API_RULES)


def _policy(response: Response, *, api: bool) -> str:
    if api:
        return API_CSP
    if request.endpoint == SWAGGER_UI_ENDPOINT and not response.direct_passthrough:
        hashes = " ".join(
            f"'sha256-{_sha256(script)}'"
            for script in _INLINE_SCRIPT.findall(response.get_data(as_text=True)))
        return PAGE_CSP.replace("script-src 'self'", f"script-src 'self' {hashes}".rstrip())
    return PAGE_CSP


def _sha256(text: str) -> str:
    return base64.b64encode(hashlib.sha256(text.encode()).digest()).decode()
