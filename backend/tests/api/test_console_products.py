"""Next year's product from this year's (POST /admin/products/{id}/clone), edited as a draft
(PUT /admin/products/{id}), validated and published; it opens on the home page with its window."""

from __future__ import annotations

import copy
from datetime import UTC, datetime
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from huiminbao.audit.models import AuditEvent
from huiminbao.catalog.models import Product
from huiminbao.claims.models import ProductItem
from huiminbao.core.clock import MovableClock
from huiminbao.core.container import Container
from huiminbao.disclosure.models import ComplaintSetting
from huiminbao.identity.domain import Role

from .enrollment_helpers import PEOPLE
from .helpers import Session, login
from .test_console_support import admin, count, demo_product_id, staff_session

NEXT_YEAR = {"year": 2028,
             "enrollment": {"opens_on": "2027-11-15", "closes_on": "2027-12-31"},
             "coverage": {"starts_on": "2028-01-07", "ends_on": "2029-01-06"}}


@pytest.fixture
def staff(client: FlaskClient, wired: Container) -> Session:
    source = demo_product_id(client)
    with wired.db.transaction() as session:
        session.add_all([ProductItem(product_id=source, kind="special_drug", code="TEST-TY9",
                                     name="测试特药"),
                         ProductItem(product_id=source, kind="reasonable", code="TEST-HL9",
                                     name="测试合理费用项目")])
        session.add(ComplaintSetting(product_id=source, response_working_days=7,
                                     updated_at=wired.clock.now()))
    return admin(client, wired)


def clone(staff: Session, product_id: int, body: dict[str, Any] | None = None):  # type: ignore[no-untyped-def]
    return staff.client.post(f"/api/v1/admin/products/{product_id}/clone",
                             json=body or NEXT_YEAR, headers=staff.bearer)


def version(staff: Session, product_id: int) -> str:
    """The product's ETag, as the editor reads it before a change."""
    answer = staff.client.get(f"/api/v1/admin/products/{product_id}", headers=staff.bearer)
    assert answer.status_code == 200, answer.get_json()
    return str(answer.headers["ETag"])


def put_draft(staff: Session, product_id: int, body: dict[str, Any], etag: str | None):  # type: ignore[no-untyped-def]
    headers = {**staff.bearer, **({"If-Match": etag} if etag else {})}
    return staff.client.put(f"/api/v1/admin/products/{product_id}", json=body, headers=headers)


def edit_body(product: dict[str, Any]) -> dict[str, Any]:
    """A product as answered, turned back into the draft body PUT takes."""
    return {
        "code": product["code"], "name": product["name"], "city_code": product["city_code"],
        "city_name": product["city_name"], "insurer": product["insurer"], "status": "draft",
        "first_year": product["first_year"],
        "enrollment": {k: product["enrollment"][k] for k in ("opens_on", "closes_on")},
        "coverage": product["coverage"], "payable_balances": product["payable_balances"],
        "tiers": [{"code": t["code"], "name": t["name"], "premium_fen": t["premium_fen"],
                   "benefits": {b["category"]: {k: b[k] for k in (
                       "deductible_fen", "ratio_bp", "cap_fen")} for b in t["benefits"]}}
                  for t in product["tiers"]],
        "subsidy": {"tier": product["subsidy"]["tier"],
                    "categories": product["subsidy"]["categories"]},
        "eligibility_conditions": product["eligibility_conditions"],
        "terms": {k: product["terms"][k] for k in (
            "version", "notice", "coverage", "claim_scope", "exclusions")},
    }


def test_clone_next_year_edit_publish_and_it_opens_with_its_window(
    client: FlaskClient, wired: Container, clock: MovableClock, staff: Session
) -> None:
    source_id = demo_product_id(client)
    source = client.get(f"/api/v1/admin/products/{source_id}", headers=staff.bearer).get_json()
    response = clone(staff, source_id)
    assert response.status_code == 201, response.get_json()
    draft = response.get_json()
    assert draft["status"] == "draft" and draft["year"] == 2028
    assert draft["code"] == "XHYLB-DEMO-2028" and draft["name"] == source["name"]
    assert draft["first_year"] is False
    assert draft["enrollment"]["opens_on"] == "2027-11-15"
    assert draft["coverage"] == NEXT_YEAR["coverage"]
    assert draft["tiers"] == source["tiers"]
    assert draft["subsidy"] == source["subsidy"]
    assert draft["terms"]["version"] == "2028.1"
    assert draft["terms"]["notice"] == source["terms"]["notice"]
    with wired.db.read() as session:
        items = session.scalars(select(ProductItem.code).where(
            ProductItem.product_id == draft["id"]).order_by(ProductItem.code)).all()
        source_items = session.scalars(select(ProductItem.code).where(
            ProductItem.product_id == source_id).order_by(ProductItem.code)).all()
        setting = session.get(ComplaintSetting, draft["id"])
        event = session.scalars(select(AuditEvent).where(
            AuditEvent.action == "product.clone")).one()
    assert items == source_items and {"TEST-HL9", "TEST-TY9"} <= set(items)
    assert setting is not None and setting.response_working_days == 7
    assert event.details["source_id"] == source_id

    # Edit the draft: a new premium and a new name.
    body = edit_body(draft)
    body["name"] = "西湖益联保（2028版）"
    body["tiers"][0]["premium_fen"] = 16900
    edited = put_draft(staff, draft["id"], body, version(staff, draft["id"]))
    assert edited.status_code == 200, edited.get_json()
    assert edited.get_json()["name"] == "西湖益联保（2028版）"
    assert edited.get_json()["tiers"][0]["premium_fen"] == 16900
    assert edited.get_json()["tiers"][0]["benefits"] == draft["tiers"][0]["benefits"]

    # Publish: not on the home page before its window opens, on it from the first day.
    published = client.post(f"/api/v1/admin/products/{draft['id']}/publish",
                            headers=staff.bearer)
    assert published.status_code == 200, published.get_json()
    names = [p["name"] for p in client.get("/api/v1/products").get_json()["items"]]
    assert "西湖益联保（2028版）" not in names
    clock.travel_to(datetime(2027, 11, 15, 0, 30, tzinfo=UTC))  # 08:30 in Hangzhou
    # The 2027 product stays listed for its coverage year, its window closed; the newest first.
    listed = client.get("/api/v1/products").get_json()["items"]
    assert [(p["name"], p["enrollment"]["is_open"]) for p in listed] == [
        ("西湖益联保（2028版）", True), (source["name"], False)]
    assert client.put(f"/api/v1/admin/products/{draft['id']}", json=body,
                      headers=staff.bearer).status_code in {401, 409}


def test_a_clone_that_breaks_the_rules_is_refused_whole(client: FlaskClient, wired: Container,
                                                         staff: Session) -> None:
    before = count(wired, Product)
    bad = {"year": 2028, "enrollment": {"opens_on": "2027-11-15", "closes_on": "2029-02-01"},
           "coverage": {"starts_on": "2027-01-07", "ends_on": "2029-01-06"}}
    response = clone(staff, demo_product_id(client), bad)
    assert response.status_code == 422
    answer = response.get_json()
    assert answer["code"] == "invalid_product"
    assert answer["errors"]["coverage.ends_on"] == [
        "保障期不得超过一年：2027-01-07开始的保障期最晚应于2028-01-06结束"]
    assert answer["errors"]["coverage.starts_on"] == [
        "保障期不得早于投保期开始",
        "产品年度以保障期开始的年份计：2028年度的保障期应从2028年开始"]
    assert answer["errors"]["enrollment.closes_on"] == ["投保期应在保障期结束前截止"]
    assert count(wired, Product) == before


def test_a_second_clone_gets_a_free_code_and_a_taken_code_is_refused(
    client: FlaskClient, wired: Container, staff: Session
) -> None:
    source = demo_product_id(client)
    assert clone(staff, source).get_json()["code"] == "XHYLB-DEMO-2028"
    assert clone(staff, source).get_json()["code"] == "XHYLB-DEMO-2028-2"
    taken = clone(staff, source, {**NEXT_YEAR, "code": "XHYLB-DEMO"})
    assert taken.status_code == 422
    assert taken.get_json()["errors"]["code"] == ["产品代码已被使用，请换一个"]


def test_editing_checks_every_rule_and_only_drafts(client: FlaskClient, wired: Container,
                                                   staff: Session) -> None:
    draft = clone(staff, demo_product_id(client)).get_json()
    body = edit_body(draft)
    bad = copy.deepcopy(body)
    bad["tiers"][0]["benefits"]["compliant"]["ratio_bp"] = 6000
    bad["eligibility_conditions"] = ["年满18周岁"]
    response = put_draft(staff, draft["id"], bad, version(staff, draft["id"]))
    assert response.status_code == 422
    errors = response.get_json()["errors"]
    assert errors["tiers.0.benefits.compliant.ratio_bp"] == [
        "标准版·医保范围内合规费用的赔付比例不得低于70%（杭州方案 三(五)）"]
    assert "eligibility_conditions.0" in errors
    unchanged = client.get(f"/api/v1/admin/products/{draft['id']}", headers=staff.bearer)
    assert unchanged.get_json()["tiers"] == draft["tiers"]

    publish_in_put = {**body, "status": "published"}
    refused = client.put(f"/api/v1/admin/products/{draft['id']}", json=publish_in_put,
                         headers=staff.bearer)
    assert refused.status_code == 422
    assert refused.get_json()["errors"]["status"] == [
        "编辑草稿时状态只能是 draft（草稿）；发布请使用“发布”"]
    published = client.put(f"/api/v1/admin/products/{demo_product_id(client)}", json=body,
                           headers=staff.bearer)
    assert published.status_code == 409
    assert published.get_json()["message"] == "只有草稿状态的产品可以编辑"
    missing = client.put("/api/v1/admin/products/9999", json=body, headers=staff.bearer)
    assert missing.status_code == 404


def test_residents_may_not_clone_or_edit(client: FlaskClient, wired: Container,
                                         app: Flask) -> None:
    before = count(wired, Product)
    resident = login(client, PEOPLE["张伟"][0])
    product_id = demo_product_id(client)
    assert clone(resident, product_id).status_code == 403
    assert client.put(f"/api/v1/admin/products/{product_id}", json={},
                      headers=resident.bearer).status_code == 403  # the role before the body
    assert app.test_client().post(f"/api/v1/admin/products/{product_id}/clone",
                                  json=NEXT_YEAR).status_code == 401
    assert count(wired, Product) == before


def test_two_administrators_editing_one_draft_cannot_overwrite_each_other(
    client: FlaskClient, wired: Container, app: Flask, staff: Session
) -> None:
    draft = clone(staff, demo_product_id(client)).get_json()
    other = staff_session(app.test_client(), wired, Role.ADMIN, "13600000091", "管理员乙")
    mine, theirs = version(staff, draft["id"]), version(other, draft["id"])
    assert mine == theirs and mine.startswith('"')

    first = edit_body(draft)
    first["name"] = "西湖益联保（甲改）"
    saved = put_draft(staff, draft["id"], first, mine)
    assert saved.status_code == 200, saved.get_json()
    assert saved.headers["ETag"] != mine
    assert saved.headers["ETag"] == version(staff, draft["id"])  # what the next GET says

    second = edit_body(draft)
    second["tiers"][0]["premium_fen"] = 19900
    stale = put_draft(other, draft["id"], second, theirs)
    assert stale.status_code == 412
    assert stale.get_json()["message"] == "该产品已被其他管理员修改，请重新加载后再编辑"
    missing = put_draft(other, draft["id"], second, None)
    assert missing.status_code == 428
    assert missing.get_json()["code"] == "precondition_required"
    now = client.get(f"/api/v1/admin/products/{draft['id']}", headers=staff.bearer).get_json()
    assert now["name"] == "西湖益联保（甲改）"  # the first save stands
    assert now["tiers"][0]["premium_fen"] == draft["tiers"][0]["premium_fen"]
    with wired.db.read() as session:
        updates = session.scalars(select(AuditEvent).where(
            AuditEvent.action == "product.update")).all()
    assert len(updates) == 1

    # Publishing what one reviewed: a stale version is refused too, the current one passes.
    refused = other.client.post(f"/api/v1/admin/products/{draft['id']}/publish",
                                headers={**other.bearer, "If-Match": theirs})
    assert refused.status_code == 412
    published = other.client.post(f"/api/v1/admin/products/{draft['id']}/publish",
                                  headers={**other.bearer,
                                           "If-Match": version(other, draft["id"])})
    assert published.status_code == 200, published.get_json()
