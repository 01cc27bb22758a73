"""Catalog endpoints on the demo city."""

from __future__ import annotations

from datetime import timedelta

from flask.testing import FlaskClient

from huiminbao.core.clock import MovableClock


def test_open_products_show_the_demo_product_with_its_terms(client: FlaskClient) -> None:
    items = client.get("/api/v1/products").get_json()["items"]
    assert [item["name"] for item in items] == ["西湖益联保（演示版）"]
    product = items[0]
    assert product["city_code"] == "330100"
    assert product["enrollment"]["is_open"] is True
    assert product["enrollment"]["opens_on"] == "2026-11-15"
    assert product["enrollment"]["closes_on"] == "2027-01-06"
    assert product["coverage"] == {"starts_on": "2027-01-07", "ends_on": "2028-01-06"}
    assert product["payable_balances"] == ["prior_years"]
    standard, premium = product["tiers"]
    assert (standard["name"], standard["premium_fen"]) == ("标准版", 15000)
    assert (premium["name"], premium["premium_fen"]) == ("升级版", 29900)
    compliant = {b["category"]: b for b in standard["benefits"]}["compliant"]
    assert compliant == {
        "category": "compliant", "label": "医保范围内合规费用",
        "deductible_fen": 2_000_000, "ratio_bp": 7500, "cap_fen": 100_000_000,
        "bands": [], "waiting_days": 0,
    }
    assert "商业保险" in product["terms"]["notice"]
    assert "不是基本医疗保险" in product["terms"]["notice"]
    assert product["terms"]["exclusions"]


def test_product_detail_and_missing_product(client: FlaskClient) -> None:
    product_id = client.get("/api/v1/products").get_json()["items"][0]["id"]
    assert client.get(f"/api/v1/products/{product_id}").get_json()["id"] == product_id
    missing = client.get("/api/v1/products/999999")
    assert missing.status_code == 404
    assert missing.get_json()["message"] == "未找到该产品"


def test_other_cities_list_nothing_and_a_product_stays_listed_until_its_coverage_ends(
    client: FlaskClient, clock: MovableClock
) -> None:
    assert client.get("/api/v1/products?city_code=310100").get_json()["items"] == []
    clock.advance(timedelta(days=60))  # the window has closed, the coverage year runs
    [product] = client.get("/api/v1/products").get_json()["items"]
    assert product["enrollment"]["is_open"] is False and product["tiers"] and product["terms"]
    clock.advance(timedelta(days=400))  # the coverage year is over
    assert client.get("/api/v1/products").get_json()["items"] == []
