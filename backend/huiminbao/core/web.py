"""Serves the mobile frontend and the offline Swagger UI assets; file downloads.

Pages (``*.html``) are Jinja templates extending ``frontend/_layouts/`` (the one ``<head>``,
header and footer), rendered here; everything else is served as it is. Nothing under a folder
or file starting with ``_`` is served."""

from __future__ import annotations

import functools
import gzip
from pathlib import Path
from urllib.parse import quote

import flask_swagger_ui
import jinja2
from flask import Blueprint, Response, abort, make_response, request, send_from_directory
from werkzeug.security import safe_join

SWAGGER_UI_DIST = Path(flask_swagger_ui.__file__).parent / "dist"


def as_attachment(response: Response, ascii_name: str, name: str) -> Response:
    """Answer as a file to save: ``ascii_name`` for old browsers, ``name`` (Chinese) for the
    rest."""
    response.headers["Content-Disposition"] = (
        f"attachment; filename=\"{ascii_name}\"; filename*=UTF-8''{quote(name)}")
    return response


def csv_download(data: str | bytes, ascii_name: str, name: str) -> Response:
    """A CSV file to save (never cached)."""
    response = Response(data, content_type="text/csv; charset=utf-8")
    response.headers["Cache-Control"] = "no-store"
    return as_attachment(response, ascii_name, name)


def private_body(data: bytes, content_type: str) -> Response:
    """A personal file answered as is (a claim document, a QR code): no cache may keep it."""
    response: Response = make_response(data)
    response.headers["Content-Type"] = content_type
    response.headers["Cache-Control"] = "private, no-store"
    return response


def frontend_blueprint(frontend_dir: Path) -> Blueprint:
    bp = Blueprint("frontend", __name__)
    pages = jinja2.Environment(loader=jinja2.FileSystemLoader(frontend_dir), autoescape=True,
                               auto_reload=True)

    def page(filename: str) -> Response:
        try:
            html = pages.get_template(filename).render()
        except jinja2.TemplateNotFound:
            abort(404)
        response = Response(html, mimetype="text/html")
        response.add_etag()
        response.make_conditional(request)
        return _gzip(response, html.encode())

    @bp.get("/")
    def index() -> Response:
        return _no_store(page("index.html"))

    @bp.get("/verify/<string:token>")
    def verify_page(token: str) -> Response:
        # The e-policy QR points here; the page reads the token from its own URL. The URL is a
        # credential for the policy's check: kept out of every cache, not just revalidated.
        response = page("verify.html")
        response.headers["Cache-Control"] = "no-store"
        return response

    @bp.get("/<path:filename>")
    def asset(filename: str) -> Response:
        if filename.startswith("api/") or any(part.startswith("_") for part in filename.split("/")):
            abort(404)
        target = frontend_dir / filename
        if target.is_dir():
            filename = f"{filename.rstrip('/')}/index.html"
        elif not target.exists() and (frontend_dir / f"{filename}.html").exists():
            filename = f"{filename}.html"  # pretty URLs: /policies -> policies.html
        if filename.endswith(".html"):
            return _no_store(page(filename))
        return _compressed(frontend_dir, filename)

    return bp


def swagger_assets_blueprint() -> Blueprint:
    bp = Blueprint("swagger_assets", __name__)

    @bp.get("/api/swagger-ui/<path:filename>")
    def swagger_asset(filename: str) -> Response:
        return send_from_directory(SWAGGER_UI_DIST, filename)

    return bp


_COMPRESSIBLE = (".html", ".css", ".js", ".svg", ".json")


@functools.lru_cache(maxsize=256)
def _gzipped(path: str, mtime_ns: int) -> bytes:
    # Keyed by modification time: an edited file is compressed again.
    return gzip.compress(Path(path).read_bytes(), compresslevel=6, mtime=0)


def _compressed(directory: Path, filename: str) -> Response:
    """Text assets go out gzip-compressed when the browser accepts it (the mobile budget:
    ≤ 100 KB on the home page's first load); everything else as it is."""
    response = send_from_directory(directory, filename)
    accepts_gzip = "gzip" in request.headers.get("Accept-Encoding", "")
    if not accepts_gzip or not filename.endswith(_COMPRESSIBLE) or response.status_code != 200:
        return response
    path = safe_join(str(directory), filename)
    if path is None:
        return response
    response.close()
    response.direct_passthrough = False
    return _gzip(response, _gzipped(path, Path(path).stat().st_mtime_ns), compressed=True)


def _gzip(response: Response, body: bytes, *, compressed: bool = False) -> Response:
    """The body gzip-compressed when the browser accepts it (and the answer is a 200)."""
    if not compressed:
        if "gzip" not in request.headers.get("Accept-Encoding", "") or response.status_code != 200:
            return response
        body = gzip.compress(body, compresslevel=6, mtime=0)
    response.set_data(body)
    response.headers["Content-Encoding"] = "gzip"
    response.headers["Content-Length"] = str(len(body))
    response.vary.add("Accept-Encoding")
    return response


def _no_store(response: Response) -> Response:
    response.headers["Cache-Control"] = "no-cache"
    return response
