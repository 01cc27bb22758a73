"""POST /api/v1/admin/products: administrators configure the year's product; every rule of
DESIGN.md §2 refuses with its own Chinese message, all at once, and nothing is stored."""

from __future__ import annotations

import copy
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from flask.testing import FlaskClient
from sqlalchemy import func, select

from huiminbao.audit.models import AuditEvent
from huiminbao.catalog.demo import CLAIM_SCOPE, COVERAGE, EXCLUSIONS, NOTICE
from huiminbao.catalog.domain import (
    NO_HEALTH_CONDITIONS,
    NOTICE_REQUIRED,
    PAYABLE_BALANCES_VALUES,
    TIERS_REQUIRED,
    UNKNOWN_ASSISTANCE_CATEGORY,
)
from huiminbao.catalog.models import Product
from huiminbao.core.clock import MovableClock
from huiminbao.core.container import Container
from huiminbao.identity.domain import Role
from huiminbao.identity.services import create_staff

from .helpers import Session, login

ADMIN_PHONE = "13600000009"
URL = "/api/v1/admin/products"
Body = dict[str, Any]


def benefits(deductible_yuan: int, ratios: tuple[int, int, int], cap_yuan: int) -> Body:
    compliant, reasonable, special_drug = ratios
    return {
        "compliant": {"deductible_fen": deductible_yuan * 100, "ratio_bp": compliant,
                      "cap_fen": cap_yuan * 100},
        "reasonable": {"deductible_fen": deductible_yuan * 100, "ratio_bp": reasonable,
                       "cap_fen": cap_yuan * 100},
        "special_drug": {"deductible_fen": 0, "ratio_bp": special_drug,
                         "cap_fen": cap_yuan * 100},
    }


def valid_body() -> Body:
    """Shanghai's first year, opening a week after the test clock's today (2026-11-22)."""
    return {
        "code": "HHB-2027",
        "name": "沪惠保（2027版）",
        "city_code": "310100",
        "city_name": "上海市",
        "insurer": "演示保险股份有限公司上海分公司（共保体主承保）",
        "status": "published",
        "first_year": True,
        "enrollment": {"opens_on": "2026-11-29", "closes_on": "2027-01-28"},
        "coverage": {"starts_on": "2027-02-01", "ends_on": "2028-01-31"},
        "payable_balances": ["prior_years", "current_year"],
        "tiers": [
            {"code": "standard", "name": "标准版", "premium_fen": 12900,
             "benefits": benefits(20_000, (7_000, 7_000, 7_000), 1_000_000)},
            {"code": "plus", "name": "升级版", "premium_fen": 25900,
             "benefits": benefits(10_000, (8_000, 7_500, 8_000), 2_000_000)},
        ],
        "subsidy": {"tier": "standard", "categories": ["tekun", "dibao", "dibian", "disabled"]},
        "eligibility_conditions": ["上海市职工基本医疗保险、城乡居民基本医疗保险参保人员"],
        "health_questions": [],
        "terms": {"version": "2027.1", "notice": NOTICE, "coverage": COVERAGE,
                  "claim_scope": CLAIM_SCOPE, "exclusions": EXCLUSIONS},
    }


@pytest.fixture
def admin(wired: Container, client: FlaskClient) -> Session:
    create_staff(wired, ADMIN_PHONE, Role.ADMIN, "管理员")
    return login(client, ADMIN_PHONE)


def product_count(wired: Container) -> int:
    with wired.db.read() as session:
        return session.scalar(select(func.count(Product.id))) or 0


def create_events(wired: Container) -> list[AuditEvent]:
    with wired.db.read() as session:
        return list(session.scalars(
            select(AuditEvent).where(AuditEvent.action == "product.create")
        ))


# ---------------------------------------------------------------- who may


def test_anonymous_callers_are_asked_to_log_in(client: FlaskClient, wired: Container) -> None:
    response = client.post(URL, json=valid_body())
    assert response.status_code == 401
    assert response.get_json()["message"] == "请先登录"
    assert client.get(URL).status_code == 401
    assert product_count(wired) == 1


def test_residents_are_refused(client: FlaskClient, wired: Container) -> None:
    resident = login(client, "13800000001")
    response = client.post(URL, json=valid_body(), headers=resident.bearer)
    assert response.status_code == 403
    assert response.get_json()["message"] == "无权进行此操作"
    assert client.get(URL, headers=resident.bearer).status_code == 403
    assert product_count(wired) == 1


# ---------------------------------------------------------------- a valid product


def test_admin_creates_a_product_that_opens_with_its_window(
    client: FlaskClient, admin: Session, wired: Container, clock: MovableClock
) -> None:
    response = client.post(URL, json=valid_body(), headers=admin.bearer)
    assert response.status_code == 201, response.get_json()
    created = response.get_json()
    assert created["status"] == "published"
    assert created["year"] == 2027
    assert created["first_year"] is True
    assert created["enrollment"] == {"opens_on": "2026-11-29", "closes_on": "2027-01-28",
                                     "is_open": False}
    assert created["payable_balances"] == ["prior_years", "current_year"]
    assert created["subsidy"] == {"tier": "standard", "tier_name": "标准版",
                                  "categories": ["tekun", "dibao", "dibian", "disabled"]}
    assert created["health_questions"] == []
    assert [tier["code"] for tier in created["tiers"]] == ["standard", "plus"]
    assert [b["category"] for b in created["tiers"][0]["benefits"]] == [
        "compliant", "reasonable", "special_drug"]
    assert created["terms"]["version"] == "2027.1"

    (event,) = create_events(wired)
    assert (event.object_type, event.object_id) == ("product", str(created["id"]))
    assert (event.actor_account_id, event.actor_role) == (admin.me["account_id"], "admin")
    assert event.details == {"code": "HHB-2027", "city_code": "310100", "year": 2027,
                             "status": "published"}

    listed = client.get("/api/v1/products?city_code=310100").get_json()["items"]
    assert listed == []  # the window opens next week
    clock.advance(timedelta(days=7))
    listed = client.get("/api/v1/products?city_code=310100").get_json()["items"]
    assert [item["id"] for item in listed] == [created["id"]]
    detail = client.get(f"/api/v1/products/{created['id']}").get_json()
    assert detail["subsidy"]["tier"] == "standard"
    assert detail["first_year"] is True
    assert detail["enrollment"]["is_open"] is True


def test_defaults_subsidize_the_cheapest_tier_for_all_groups(
    client: FlaskClient, admin: Session
) -> None:
    body = valid_body()
    del body["subsidy"], body["payable_balances"], body["health_questions"]
    body["tiers"].reverse()
    response = client.post(URL, json=body, headers=admin.bearer)
    assert response.status_code == 201, response.get_json()
    created = response.get_json()
    assert created["subsidy"] == {"tier": "standard", "tier_name": "标准版",
                                  "categories": ["tekun", "dibao", "dibian", "disabled"]}
    assert created["payable_balances"] == ["prior_years"]


def test_drafts_are_listed_for_admins_only_and_published_later(
    client: FlaskClient, admin: Session, wired: Container
) -> None:
    body = valid_body() | {"status": "draft"}
    created = client.post(URL, json=body, headers=admin.bearer).get_json()
    assert created["status"] == "draft"
    assert client.get(f"/api/v1/products/{created['id']}").status_code == 404
    listed = client.get(f"{URL}?city_code=310100", headers=admin.bearer).get_json()["items"]
    assert [item["status"] for item in listed] == ["draft"]

    published = client.post(f"{URL}/{created['id']}/publish", headers=admin.bearer)
    assert published.status_code == 200, published.get_json()
    assert published.get_json()["status"] == "published"
    assert client.get(f"/api/v1/products/{created['id']}").status_code == 200
    again = client.post(f"{URL}/{created['id']}/publish", headers=admin.bearer)
    assert again.status_code == 409
    assert again.get_json()["message"] == "只有草稿状态的产品可以发布"


def test_demo_product_detail_shows_its_subsidy_and_first_year(client: FlaskClient) -> None:
    product_id = client.get("/api/v1/products").get_json()["items"][0]["id"]
    detail = client.get(f"/api/v1/products/{product_id}").get_json()
    assert detail["first_year"] is True
    assert detail["subsidy"]["tier"] == "standard"
    assert detail["health_questions"] == []
    assert detail["eligibility_conditions"]


# ---------------------------------------------------------------- each rule refuses


def _set(path: str, value: Any) -> Callable[[Body], None]:
    def change(body: Body) -> None:
        *parents, last = path.split(".")
        target: Any = body
        for key in parents:
            target = target[int(key)] if isinstance(target, list) else target[key]
        if isinstance(target, list):
            target[int(last)] = value
        else:
            target[last] = value
    return change


RULES: list[tuple[str, Callable[[Body], None], str, str]] = [
    ("deductible at most ¥20,000", _set("tiers.0.benefits.compliant.deductible_fen", 2_000_001),
     "tiers.0.benefits.compliant.deductible_fen",
     "标准版·医保范围内合规费用的免赔额不得高于2万元（杭州方案 三(五)）"),
    ("every ratio at least 70 %", _set("tiers.1.benefits.reasonable.ratio_bp", 6_999),
     "tiers.1.benefits.reasonable.ratio_bp",
     "升级版·医保范围外合理费用的赔付比例不得低于70%（杭州方案 三(五)）"),
    ("cap at least ¥1,000,000", _set("tiers.0.benefits.special_drug.cap_fen", 99_999_999),
     "tiers.0.benefits.special_drug.cap_fen",
     "标准版·特定药品费用的封顶线不得低于100万元（杭州方案 三(五)）"),
    ("first-year window at most two months", _set("enrollment.closes_on", "2027-01-29"),
     "enrollment.closes_on",
     "首年投保期不得超过2个月（杭州方案 三(八)）：2026-11-29开始的投保期最晚应于2027-01-28结束"),
    ("no health questions", _set("health_questions", ["近两年内是否住院或手术？"]),
     "health_questions", NO_HEALTH_CONDITIONS),
    ("no age condition", _set("eligibility_conditions", ["本市参保人员", "年龄在65周岁以下"]),
     "eligibility_conditions.1", NO_HEALTH_CONDITIONS),
    ("no pre-existing-condition condition", _set("eligibility_conditions", ["无既往病史"]),
     "eligibility_conditions.0", NO_HEALTH_CONDITIONS),
    ("no occupation condition", _set("eligibility_conditions", ["非高危职业人员"]),
     "eligibility_conditions.0", NO_HEALTH_CONDITIONS),
    ("notice: commercial, not basic insurance", _set("terms.notice", "本产品为商业保险。"),
     "terms.notice", NOTICE_REQUIRED),
    ("exclusions stated", _set("terms.exclusions", " "), "terms.exclusions",
     "条款须写明责任免除（湖北指导意见 四(二)）"),
    ("at least one tier", _set("tiers", []), "tiers", TIERS_REQUIRED),
    ("premium above zero", _set("tiers.1.premium_fen", 0), "tiers.1.premium_fen",
     "升级版的保费应大于0元"),
    ("tier codes unique", _set("tiers.1.code", "standard"), "tiers.1.code",
     "档次代码“standard”重复，每个档次的代码应唯一"),
    ("all three benefit categories", _set("tiers.0.benefits.reasonable", None),
     "tiers.0.benefits.reasonable", "标准版缺少医保范围外合理费用的赔付规则（杭州方案 三(四)）"),
    ("payable balances", _set("payable_balances", ["current_year"]), "payable_balances",
     PAYABLE_BALANCES_VALUES),
    ("name required", _set("name", ""), "name", "产品名称不能为空"),
    ("city code of six digits", _set("city_code", "31010"), "city_code",
     "城市代码应为6位数字（行政区划代码）"),
    ("coverage at most one year", _set("coverage.ends_on", "2028-02-01"), "coverage.ends_on",
     "保障期不得超过一年：2027-02-01开始的保障期最晚应于2028-01-31结束"),
    ("subsidized tier exists", _set("subsidy.tier", "gold"), "subsidy.tier",
     "资助参保档次“gold”不是本产品的档次（杭州方案 三(三)3）"),
    ("assistance groups known", _set("subsidy.categories", ["tekun", "students"]),
     "subsidy.categories.1", UNKNOWN_ASSISTANCE_CATEGORY),
    ("product code unused", _set("code", "XHYLB-DEMO"), "code", "产品代码已被使用，请换一个"),
    ("one published product per city and year",
     lambda body: body.update(city_code="330100", city_name="杭州市"), "coverage.starts_on",
     "杭州市2027年度已有已发布的产品，每个城市每年只发布一个产品"),
]


@pytest.mark.parametrize(("change", "field", "message"),
                         [pytest.param(*case[1:], id=case[0]) for case in RULES])
def test_each_rule_refuses_with_its_message_and_stores_nothing(
    client: FlaskClient, admin: Session, wired: Container,
    change: Callable[[Body], None], field: str, message: str,
) -> None:
    body = copy.deepcopy(valid_body())
    change(body)
    before = product_count(wired)
    response = client.post(URL, json=body, headers=admin.bearer)
    assert response.status_code == 422, response.get_json()
    payload = response.get_json()
    assert payload["code"] == "invalid_product"
    assert payload["errors"] == {field: [message]}
    assert payload["message"] == "产品配置不符合规则：共1项"
    assert product_count(wired) == before
    assert create_events(wired) == []


def test_every_violation_is_reported_at_once(
    client: FlaskClient, admin: Session, wired: Container
) -> None:
    body = valid_body()
    body["tiers"][0]["benefits"]["compliant"] = {
        "deductible_fen": 3_000_000, "ratio_bp": 6_000, "cap_fen": 50_000_000}
    body["enrollment"]["closes_on"] = "2027-01-31"
    body["health_questions"] = ["是否患有恶性肿瘤？"]
    body["terms"]["notice"] = "保障责任以条款为准。"
    response = client.post(URL, json=body, headers=admin.bearer)
    assert response.status_code == 422
    payload = response.get_json()
    assert payload["message"] == "产品配置不符合规则：共6项"
    assert set(payload["errors"]) == {
        "enrollment.closes_on",
        "tiers.0.benefits.compliant.deductible_fen",
        "tiers.0.benefits.compliant.ratio_bp",
        "tiers.0.benefits.compliant.cap_fen",
        "health_questions",
        "terms.notice",
    }
    assert payload["errors"]["health_questions"] == [NO_HEALTH_CONDITIONS]
    assert product_count(wired) == 1


def test_malformed_fields_are_refused_in_chinese(client: FlaskClient, admin: Session) -> None:
    body = valid_body()
    body["tiers"][0]["benefits"]["compliant"]["ratio_bp"] = "75%"
    body["status"] = "withdrawn"
    del body["terms"]
    response = client.post(URL, json=body, headers=admin.bearer)
    assert response.status_code == 422
    assert response.get_json()["errors"] == {
        "tiers.0.benefits.compliant.ratio_bp": ["应为整数"],
        "status": ["产品状态只能是 draft（草稿）或 published（直接发布）"],
        "terms": ["此项为必填项"],
    }


def test_a_second_product_for_the_same_city_and_year_stays_a_draft(
    client: FlaskClient, admin: Session
) -> None:
    body = valid_body() | {"status": "draft", "city_code": "330100", "city_name": "杭州市"}
    created = client.post(URL, json=body, headers=admin.bearer)
    assert created.status_code == 201, created.get_json()
    product_id = created.get_json()["id"]
    refused = client.post(f"{URL}/{product_id}/publish", headers=admin.bearer)
    assert refused.status_code == 422
    assert refused.get_json()["errors"] == {
        "coverage.starts_on": ["杭州市2027年度已有已发布的产品，每个城市每年只发布一个产品"]}
    detail = client.get(f"{URL}/{product_id}", headers=admin.bearer).get_json()
    assert detail["status"] == "draft"
    assert client.get(f"{URL}/999999", headers=admin.bearer).status_code == 404
