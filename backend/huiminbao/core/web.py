"""Serves the static mobile frontend and the offline Swagger UI assets."""

from __future__ import annotations

from pathlib import Path

import flask_swagger_ui
from flask import Blueprint, Response, abort, send_from_directory

SWAGGER_UI_DIST = Path(flask_swagger_ui.__file__).parent / "dist"


def frontend_blueprint(frontend_dir: Path) -> Blueprint:
    bp = Blueprint("frontend", __name__)

    @bp.get("/")
    def index() -> Response:
        return _no_store(send_from_directory(frontend_dir, "index.html"))

    @bp.get("/verify/<string:token>")
    def verify_page(token: str) -> Response:
        # The e-policy QR points here; the page reads the token from its own URL.
        return _no_store(send_from_directory(frontend_dir, "verify.html"))

    @bp.get("/<path:filename>")
    def asset(filename: str) -> Response:
        if filename.startswith("api/"):
            abort(404)
        target = frontend_dir / filename
        if target.is_dir():
            filename = f"{filename.rstrip('/')}/index.html"
        elif not target.exists() and (frontend_dir / f"{filename}.html").exists():
            filename = f"{filename}.html"  # pretty URLs: /policies -> policies.html
        response = send_from_directory(frontend_dir, filename)
        if filename.endswith(".html"):
            return _no_store(response)
        return response

    return bp


def swagger_assets_blueprint() -> Blueprint:
    bp = Blueprint("swagger_assets", __name__)

    @bp.get("/api/swagger-ui/<path:filename>")
    def swagger_asset(filename: str) -> Response:
        return send_from_directory(SWAGGER_UI_DIST, filename)

    return bp


def _no_store(response: Response) -> Response:
    response.headers["Cache-Control"] = "no-cache"
    return response
