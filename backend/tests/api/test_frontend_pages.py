"""Pages are Jinja templates on one layout (frontend/_layouts/): each page file holds its own
content only, and every served page still has the full skeleton."""

from __future__ import annotations

import gzip
from pathlib import Path

import pytest
from flask.testing import FlaskClient

FRONTEND = Path(__file__).resolve().parents[3] / "frontend"
PAGES = sorted(p.relative_to(FRONTEND).as_posix() for p in FRONTEND.rglob("*.html")
               if not p.relative_to(FRONTEND).as_posix().startswith("_"))


def test_every_page_file_is_its_content_only() -> None:
    assert len(PAGES) >= 30
    for page in PAGES:
        source = (FRONTEND / page).read_text(encoding="utf-8")
        assert source.startswith('{% extends "_layouts/'), page
        assert "<head>" not in source and "<!doctype" not in source.lower(), page


@pytest.mark.parametrize("page", PAGES)
def test_every_page_renders_with_the_shared_skeleton(client: FlaskClient, page: str) -> None:
    response = client.get(f"/{page}")
    assert response.status_code == 200, page
    html = response.get_data(as_text=True)
    assert html.startswith("<!doctype html>\n<html lang=\"zh-CN\">")
    assert html.count('<link rel="stylesheet" href="/assets/app.css">') == 1
    assert html.count("<main id=\"main\"") == 1 and html.count("<footer") == 1
    # One 长辈模式 switch on screen: the header's, or the page's own large one (home, 我的).
    switches = html.count("data-mode-toggle") + html.count('aria-labelledby="mode-card-label"') + \
        html.count('id="elderly-switch"')
    assert switches == 1 or page.startswith(("admin/", "counter/")), page
    console = page.startswith(("admin/", "staff/", "counter/"))
    # 客服与投诉 in every resident page's footer.
    assert ('href="/help.html"' in html) is not console, page
    assert "{%" not in html and "{{" not in html
    assert ('href="/assets/console.css"' in html) is console, page
    assert "<script>" not in html  # the CSP allows no inline script


def test_layouts_are_not_served(client: FlaskClient) -> None:
    assert client.get("/_layouts/base.html").status_code == 404
    assert client.get("/_layouts/").status_code == 404


def test_pages_are_compressed_and_revalidated(client: FlaskClient) -> None:
    response = client.get("/policies", headers={"Accept-Encoding": "gzip"})
    assert response.headers["Content-Encoding"] == "gzip"
    assert response.headers["Cache-Control"] == "no-cache"
    assert "<title>我的保单 - 惠民保参保服务</title>" in gzip.decompress(response.data).decode()
    again = client.get("/policies", headers={"If-None-Match": response.headers["ETag"]})
    assert again.status_code == 304
    verify = client.get("/verify/some-token")
    assert verify.status_code == 200 and verify.headers["Cache-Control"] == "no-store"
    assert client.get("/no-such-page.html").status_code == 404
