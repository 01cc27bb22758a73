"""The skeleton's API surface: health, request ids, the error shape, OpenAPI and Swagger UI."""

from __future__ import annotations

import re

from flask import Flask
from flask.testing import FlaskClient

from huiminbao.app import create_app
from huiminbao.core.config import Mode, Settings
from huiminbao.core.container import Container
from huiminbao.core.db import Database

CJK = re.compile(r"[\u4e00-\u9fff]")


def test_health_reports_version_and_database(client: FlaskClient) -> None:
    response = client.get("/api/v1/health")
    assert response.status_code == 200
    body = response.get_json()
    assert body["status"] == "ok"
    assert body["database"] == "ok"
    assert body["database_backend"] == "sqlite"
    assert re.match(r"^\d+\.\d+\.\d+", body["version"])
    assert body["mode"] == "demo"


def test_health_is_503_when_the_database_does_not_answer(wired: Container) -> None:
    wired.db = Database("postgresql+psycopg://nobody@127.0.0.1:1/none?connect_timeout=1")
    response = create_app(container=wired).test_client().get("/api/v1/health")
    assert response.status_code == 503
    assert response.get_json()["database"] == "unavailable"


def test_every_response_carries_a_request_id(client: FlaskClient) -> None:
    generated = client.get("/api/v1/health").headers["X-Request-ID"]
    assert re.fullmatch(r"[0-9a-f]{32}", generated)
    echoed = client.get("/api/v1/health", headers={"X-Request-ID": "trace-1234abcd"})
    assert echoed.headers["X-Request-ID"] == "trace-1234abcd"
    # Something that could smuggle text into logs is replaced, not echoed.
    hostile = client.get("/api/v1/nowhere", headers={"X-Request-ID": 'x" <script>'})
    assert hostile.headers["X-Request-ID"] != 'x" <script>'
    assert hostile.get_json()["request_id"] == hostile.headers["X-Request-ID"]


def test_unknown_api_path_answers_the_one_error_shape_in_chinese(client: FlaskClient) -> None:
    response = client.get("/api/v1/no-such-thing")
    assert response.status_code == 404
    body = response.get_json()
    assert set(body) == {"code", "message", "errors", "request_id"}
    assert body["code"] == "not_found"
    assert CJK.search(body["message"])


def test_validation_errors_name_the_field_in_chinese(client: FlaskClient) -> None:
    response = client.get("/api/v1/products?city_code=abc")
    assert response.status_code == 422
    body = response.get_json()
    assert body["code"] == "invalid_input"
    assert body["errors"] == {"city_code": ["城市代码应为6位数字"]}
    assert CJK.search(body["message"])


def test_wrong_method_is_a_chinese_405(client: FlaskClient) -> None:
    response = client.delete("/api/v1/health")
    assert response.status_code == 405
    assert response.get_json()["message"] == "不支持该请求方式"


def test_openapi_document_lists_the_api(client: FlaskClient) -> None:
    spec = client.get("/api/openapi.json").get_json()
    assert spec["openapi"].startswith("3.")
    assert "/api/v1/health" in spec["paths"]
    assert "/api/v1/products" in spec["paths"]
    assert "/api/v1/products/{product_id}" in spec["paths"]


def test_swagger_ui_is_served_from_local_files_only(client: FlaskClient) -> None:
    page = client.get("/api/docs")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    referenced = re.findall(r'(?:src|href)="([^"]+)"', html)
    assert referenced, "the page should load its assets"
    for url in referenced:
        assert url.startswith("/api/swagger-ui/"), url
        with client.get(url) as asset:
            assert asset.status_code == 200, url
    assert "validatorUrl" in html  # set to null: no call to validator.swagger.io


def test_frontend_index_is_served(client: FlaskClient) -> None:
    with client.get("/") as response:
        assert response.status_code == 200
        assert 'lang="zh-CN"' in response.get_data(as_text=True)


def test_development_endpoints_are_absent_in_production(wired: Container) -> None:
    wired.settings = Settings(
        mode=Mode.PRODUCTION, database_url=wired.settings.database_url, testing=True,
        secret_key="p" * 40,
    )
    production = create_app(container=wired).test_client()
    assert production.get("/api/v1/dev/clock").status_code == 404
    assert production.get("/api/v1/health").get_json()["mode"] == "production"


def test_demo_clock_can_be_moved(client: FlaskClient, app: Flask) -> None:
    response = client.put("/api/v1/dev/clock", json={"now": "2027-03-01T09:00:00+08:00"})
    assert response.status_code == 200
    assert response.get_json()["now"].startswith("2027-03-01T01:00")
    naive = client.put("/api/v1/dev/clock", json={"now": "2027-03-01T09:00:00"})
    assert naive.status_code == 422
    assert "now" in naive.get_json()["errors"]
