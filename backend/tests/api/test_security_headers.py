"""Every answer carries the security headers (core/headers.py): every GET-able rule of the URL
map, requested with dummy path values (a 404 or 401 still gets them)."""

from __future__ import annotations

import dataclasses
import re

import pytest
from flask import Flask
from flask.testing import FlaskClient
from werkzeug.routing import Rule

from huiminbao.app import create_app
from huiminbao.core.config import Mode, Settings
from huiminbao.core.container import Container
from huiminbao.core.headers import HSTS, PAGE_CSP, PERMISSIONS_POLICY, PUBLIC_API_RULES

_CONVERTER = re.compile(r"<(?:(?P<converter>[a-z]+)(?:\([^)]*\))?:)?(?P<name>[a-z_]+)>")
_DUMMY = {"int": "1", "path": "nothing-here.html", "string": "NOPE0001", "default": "NOPE0001"}


def _dummy_path(rule: Rule) -> str:
    return _CONVERTER.sub(
        lambda match: _DUMMY.get(match["converter"] or "default", "NOPE0001"), rule.rule)


def _get_rules(app: Flask) -> list[Rule]:
    return [rule for rule in app.url_map.iter_rules() if rule.methods and "GET" in rule.methods]


def _assert_common(headers: dict[str, str], path: str) -> None:
    assert headers.get("X-Content-Type-Options") == "nosniff", path
    assert headers.get("Referrer-Policy") == "no-referrer", path
    assert headers.get("Cross-Origin-Opener-Policy") == "same-origin", path
    assert headers.get("Permissions-Policy") == PERMISSIONS_POLICY, path
    csp = headers.get("Content-Security-Policy", "")
    assert "frame-ancestors 'none'" in csp, path
    assert "base-uri 'none'" in csp, path
    assert "unsafe-inline" not in csp and "unsafe-eval" not in csp, path


def test_every_get_rule_answers_with_the_security_headers(client: FlaskClient, app: Flask) -> None:
    rules = _get_rules(app)
    assert len(rules) > 40  # the whole URL map, not a handful
    for rule in rules:
        path = _dummy_path(rule)
        response = client.get(path)
        response.close()
        headers = dict(response.headers)
        _assert_common(headers, path)
        assert "Strict-Transport-Security" not in headers, path  # demo mode: plain http
        csp = headers["Content-Security-Policy"]
        if path.startswith("/api/v1/"):
            if rule.rule in PUBLIC_API_RULES:
                # Public, the same for everyone: keeps its own caching (none set today).
                assert "no-store" not in headers.get("Cache-Control", ""), path
            else:
                assert "no-store" in headers.get("Cache-Control", ""), (path, response.status_code)
            assert csp.startswith("default-src 'none'"), path
        elif rule.endpoint == "gateway_pages.pay_page":
            assert csp.startswith("default-src 'none'"), path  # its own, stricter, nonce policy
        elif rule.endpoint == "api-docs.openapi_swagger_ui":
            assert re.search(r"script-src 'self' 'sha256-[A-Za-z0-9+/=]+'", csp), csp
        else:
            assert csp == PAGE_CSP, path


@pytest.mark.parametrize("path", ["/", "/index.html", "/policies", "/admin/", "/admin/sms.html",
                                  "/verify/some-token", "/no-such-page.html", "/api/nowhere"])
def test_pages_and_misses_get_the_strict_policy(client: FlaskClient, path: str) -> None:
    response = client.get(path)
    response.close()
    _assert_common(dict(response.headers), path)
    assert response.headers["Content-Security-Policy"] == PAGE_CSP


def test_api_answers_and_misses_are_not_stored(client: FlaskClient) -> None:
    for method, path in [("GET", "/api/v1/me"), ("GET", "/api/v1/no-such-thing"),
                         ("POST", "/api/v1/auth/otp"), ("GET", "/api/v1/health"),
                         ("DELETE", "/api/v1/me/family/1")]:
        response = client.open(path, method=method, json={} if method == "POST" else None)
        assert response.headers["Cache-Control"] == "no-store", path
        _assert_common(dict(response.headers), path)


def test_public_catalog_keeps_its_caching(client: FlaskClient) -> None:
    response = client.get("/api/v1/products")
    assert response.status_code == 200
    assert "no-store" not in response.headers.get("Cache-Control", "")
    _assert_common(dict(response.headers), "/api/v1/products")


def test_routes_that_set_their_own_cache_control_keep_it(client: FlaskClient) -> None:
    # The e-policy QR, claim documents etc. say "private, no-store": no duplicate, no loss.
    response = client.get("/api/v1/policies/NOPE/qr.png")
    assert response.headers.getlist("Cache-Control") in (["no-store"], ["private, no-store"])


def test_swagger_ui_inline_script_is_allowed_by_its_hash_only(client: FlaskClient) -> None:
    import base64
    import hashlib

    response = client.get("/api/docs")
    assert response.status_code == 200
    script = re.search(r"<script>(.*?)</script>", response.get_data(as_text=True), re.DOTALL)
    assert script is not None
    digest = base64.b64encode(hashlib.sha256(script.group(1).encode()).digest()).decode()
    assert f"'sha256-{digest}'" in response.headers["Content-Security-Policy"]


def test_strict_transport_security_only_in_production(wired: Container) -> None:
    settings = Settings(database_url=wired.settings.database_url, testing=True,
                        mode=Mode.PRODUCTION, secret_key="x" * 64,
                        public_url="https://hmb.example.cn")
    app = create_app(settings, container=dataclasses.replace(wired, settings=settings))
    response = app.test_client().get("/api/v1/no-such-thing")
    assert response.headers["Strict-Transport-Security"] == HSTS
