"""Terms beyond one ratio (issue 17 items 5 and 6) through the API: the administrator's product
terms and their Chinese refusals, the city's pre-existing floor, the public 特药 search, the
estimator on the caller's policy with a pre-existing condition, products and e-policies visible
for the whole coverage year, listed drugs labelled before review, agents texted."""

from __future__ import annotations

import copy
from datetime import date
from typing import Any, cast

import pytest
from flask import Flask
from flask.testing import FlaskClient

from huiminbao.catalog.demo import DEMO_PRODUCT_CODE
from huiminbao.catalog.models import Product
from huiminbao.core.clock import MovableClock
from huiminbao.core.container import Container
from huiminbao.identity.domain import Action
from huiminbao.registry.port import RegistryUnavailable
from huiminbao.registry.simulator import SimulatedRegistry

from .enrollment_helpers import PEOPLE, sign_in
from .helpers import Session
from .test_admin_products import URL, admin, valid_body  # noqa: F401 - the admin fixture
from .test_claims import FakeGrants
from .test_claims_support import (
    decide,
    enrolled,
    into_coverage,
    person_id,
    sms_texts,
    staff,
    submit,
)

Body = dict[str, Any]
Y = 100  # fen per yuan


def demo_product_id(wired: Container) -> int:
    with wired.db.read() as session:
        product = session.query(Product).filter_by(code=DEMO_PRODUCT_CODE).one()
        return product.id


def with_terms(body: Body, *, compliant_ratio: int = 3_000) -> Body:
    """The worked example's terms on the standard tier: a shared ¥20,000 deductible, 70 % up to
    ¥100,000 after the deductible and 80 % above, pre-existing liver cancer at 30 %."""
    body = copy.deepcopy(body)
    body["code"] = "HHB-TERMS-2027"
    body["deductible_mode"] = "shared"
    standard = body["tiers"][0]["benefits"]
    for rule in standard.values():
        rule["deductible_fen"] = 20_000 * Y
    standard["compliant"]["bands"] = [{"above_fen": 100_000 * Y, "ratio_bp": 8_000}]
    standard["compliant"]["waiting_days"] = 30
    for rule in body["tiers"][1]["benefits"].values():
        rule["deductible_fen"] = 10_000 * Y
    body["pre_existing"] = [{"code_prefix": "C22", "name": "肝癌",
                             "ratios": {"compliant": compliant_ratio, "reasonable": None,
                                        "special_drug": compliant_ratio}}]
    return body


def test_product_terms_are_refused_with_chinese_messages(admin: Session) -> None:  # noqa: F811
    body = with_terms(valid_body())
    body["tiers"][0]["benefits"]["reasonable"]["deductible_fen"] = 10_000 * Y
    body["tiers"][0]["benefits"]["compliant"]["bands"] = [
        {"above_fen": 100_000 * Y, "ratio_bp": 6_000}, {"above_fen": 50_000 * Y, "ratio_bp": 9_000}]
    body["tiers"][0]["benefits"]["special_drug"]["waiting_days"] = 400
    body["pre_existing"].append({"code_prefix": "liver", "name": "",
                                 "ratios": {"compliant": 7_000, "reasonable": 7_000,
                                            "special_drug": 10_001}})
    response = admin.client.post(URL, json=body, headers=admin.bearer)
    assert response.status_code == 422, response.get_json()
    errors = response.get_json()["errors"]
    assert errors["pre_existing.0.ratios.compliant"] == [
        "既往症（肝癌）·医保范围内合规费用的赔付比例不得低于70%（本市既往症赔付比例下限）"]
    assert "pre_existing.0.ratios.reasonable" not in errors  # null: not covered
    assert errors["pre_existing.1.code_prefix"] == ["既往症应以ICD-10编码前缀表示，如 C22 或 C22.0"]
    assert errors["pre_existing.1.name"] == ["既往症名称不能为空"]
    assert errors["pre_existing.1.ratios.special_drug"] == [
        "既往症（LIVER）·特定药品费用的赔付比例不得高于100%"]
    assert errors["tiers.0.benefits"] == ["共用免赔额时，标准版各类费用的免赔额应相同"]
    assert errors["tiers.0.benefits.compliant.bands.0.ratio_bp"] == [
        "标准版·医保范围内合规费用的分段赔付比例不得低于70%（杭州方案 三(五)）"]
    assert errors["tiers.0.benefits.compliant.bands.1.above_fen"] == [
        "标准版·医保范围内合规费用的分段起点应大于0且逐段递增"]
    assert errors["tiers.0.benefits.special_drug.waiting_days"] == [
        "标准版·特定药品费用的等待期应为0至180天"]

    unknown_mode = with_terms(valid_body(), compliant_ratio=7_000)
    unknown_mode["deductible_mode"] = "per_visit"
    refused = admin.client.post(URL, json=unknown_mode, headers=admin.bearer).get_json()
    assert refused["errors"]["deductible_mode"] == [
        "免赔额方式只能是 per_category（各类分别计算）或 shared（共用）"]


def test_the_city_setting_allows_a_lower_pre_existing_ratio_and_publish_checks_it_again(
    admin: Session, wired: Container, client: FlaskClient  # noqa: F811
) -> None:
    wired.settings = wired.settings.with_changes(min_pre_existing_ratio_bp=3_000)
    body = with_terms(valid_body())
    body["status"] = "draft"
    created = admin.client.post(URL, json=body, headers=admin.bearer)
    assert created.status_code == 201, created.get_json()
    product = created.get_json()
    assert product["deductible_mode"] == "shared"
    assert product["pre_existing"] == [{"code_prefix": "C22", "name": "肝癌", "ratios": {
        "compliant": 3_000, "reasonable": None, "special_drug": 3_000}}]
    compliant = product["tiers"][0]["benefits"][0]
    assert (compliant["bands"], compliant["waiting_days"]) == (
        [{"above_fen": 10_000_000, "ratio_bp": 8_000}], 30)
    assert "既往症可保可赔" not in product["highlights"]
    assert "既往症可保；肝癌既往症按约定比例赔付或部分费用不赔" in product["highlights"]
    assert "首次参保等待期30天，连续续保无等待期" in product["highlights"]

    # The city raises its floor before publication: publishing checks every rule again.
    wired.settings = wired.settings.with_changes(min_pre_existing_ratio_bp=7_000)
    refused = admin.client.post(f"{URL}/{product['id']}/publish", headers=admin.bearer)
    assert refused.status_code == 422
    assert "pre_existing.0.ratios.compliant" in refused.get_json()["errors"]
    wired.settings = wired.settings.with_changes(min_pre_existing_ratio_bp=3_000)
    published = admin.client.post(f"{URL}/{product['id']}/publish", headers=admin.bearer)
    assert published.status_code == 200, published.get_json()
    assert client.get(f"/api/v1/products/{product['id']}").get_json()["pre_existing"]


def test_residents_search_the_special_drug_list(client: FlaskClient, wired: Container) -> None:
    product_id = demo_product_id(wired)
    url = f"/api/v1/products/{product_id}/special-drugs"
    everything = client.get(url).get_json()
    assert [d["code"] for d in everything["items"]] == ["TY001", "TY002", "TY003", "TY004",
                                                        "TY005"]
    assert everything["items"][0]["indications"] == ["霍奇金淋巴瘤", "非小细胞肺癌",
                                                     "肝细胞癌", "胃癌"]
    assert everything["items"][0]["pharmacies"] == ["老百姓大药房（特药服务中心·延安路店）",
                                                    "华东医药特药药房（庆春路店）"]
    assert "定点药店" in everything["notice"]
    by_indication = client.get(url, query_string={"q": " 淋巴瘤 "}).get_json()
    assert [d["code"] for d in by_indication["items"]] == ["TY001", "TY005"]
    assert by_indication["query"] == "淋巴瘤"
    by_pharmacy = client.get(url, query_string={"q": "延安路"}).get_json()
    assert [d["code"] for d in by_pharmacy["items"]] == ["TY001", "TY002", "TY003", "TY004",
                                                         "TY005"]
    by_gastric = client.get(url, query_string={"q": "胃癌"}).get_json()
    assert [d["code"] for d in by_gastric["items"]] == ["TY001"]
    by_code = client.get(url, query_string={"q": "ty004"}).get_json()
    assert [d["name"] for d in by_code["items"]] == ["帕博利珠单抗注射液"]
    assert client.get(url, query_string={"q": "不存在的药"}).get_json()["items"] == []
    too_long = client.get(url, query_string={"q": "药" * 41})
    assert too_long.status_code == 422
    assert too_long.get_json()["errors"]["q"] == ["搜索内容最多40个字"]
    assert client.get("/api/v1/products/99999/special-drugs").status_code == 404


def estimate(session: Session, **fields: Any) -> Body:
    response = session.client.post("/api/v1/claims/estimate", headers=session.bearer,
                                   json={"in_policy_self_pay_fen": 150_000 * Y, **fields})
    assert response.status_code == 200, response.get_json()
    return cast(Body, response.get_json())


def test_the_estimator_applies_a_pre_existing_condition_on_the_callers_policy(
    client: FlaskClient, wired: Container, clock: MovableClock
) -> None:
    zhang = enrolled(client)
    registry = cast(SimulatedRegistry, wired.registry)
    assert registry.record_diagnosis(PEOPLE["张伟"][1], "C22.0", date(2025, 5, 1))
    [zhang] = into_coverage(clock, wired, zhang)  # the window has closed

    plain = estimate(zhang)
    assert plain["policy_no"] and plain["payout_fen"] == (150_000 - 20_000) * 75 * Y // 100
    assert plain["breakdown"]["lines"][0]["basis"] == "standard"

    # The demo product pays pre-existing liver cancer at 70 % and not its out-of-policy items.
    liver = estimate(zhang, diagnosis_codes=["c22.9"], treated_on="2027-03-01",
                     items=[{"code": "HL001", "name": "质子重离子放射治疗",
                             "amount_fen": 50_000 * Y}])
    compliant, reasonable, _drug = liver["breakdown"]["lines"]
    assert (compliant["basis"], compliant["ratio_bp"], compliant["payout_fen"]) == (
        "pre_existing", 7_000, 130_000 * 70 * Y // 100)
    assert compliant["note"] == "既往症：肝癌"
    assert (reasonable["basis"], reasonable["payout_fen"], reasonable["deductible_used_fen"]) == (
        "not_covered", 0, 0)
    assert "既往症（肝癌）不属于医保范围外合理费用的保障范围" in reasonable["text"]

    # A listed condition the registry has no earlier record of is paid as any other.
    lung = estimate(zhang, diagnosis_codes=["C34.1"])
    assert lung["payout_fen"] == plain["payout_fen"]
    bad = zhang.client.post("/api/v1/claims/estimate", headers=zhang.bearer,
                            json={"in_policy_self_pay_fen": 100, "diagnosis_codes": ["肝癌"]})
    assert bad.status_code == 422
    assert bad.get_json()["errors"] == {"diagnosis_codes.0": ["诊断编码应为ICD-10编码，如 C22.0"]}


def test_products_and_the_e_policy_show_the_cover_for_the_whole_coverage_year(
    client: FlaskClient, wired: Container, clock: MovableClock
) -> None:
    zhang = enrolled(client)
    [zhang] = into_coverage(clock, wired, zhang)
    listed = client.get("/api/v1/products").get_json()["items"]
    demo = next(p for p in listed if p["code"] == DEMO_PRODUCT_CODE)
    assert demo["enrollment"]["is_open"] is False
    assert demo["tiers"] and demo["terms"]["exclusions"]
    assert [c["name"] for c in demo["pre_existing"]] == ["肝癌", "肺癌", "慢性肾病"]
    assert "既往症可保可赔" not in demo["highlights"]

    policy_no = zhang.client.get("/api/v1/policies", headers=zhang.bearer).get_json()[
        "items"][0]["policy_no"]
    policy = zhang.client.get(f"/api/v1/policies/{policy_no}", headers=zhang.bearer).get_json()
    assert [b["category"] for b in policy["benefits"]] == ["compliant", "reasonable",
                                                            "special_drug"]
    assert policy["benefits"][0]["ratio_bp"] == 7_500
    assert policy["terms"]["version"] == demo["terms"]["version"]
    assert policy["terms"]["exclusions"] and policy["deductible_mode"] == "per_category"
    assert policy["pre_existing"][0]["ratios"]["reasonable"] is None


def test_a_listed_drug_shows_its_category_before_review_and_agents_are_texted(
    client: FlaskClient, wired: Container, clock: MovableClock, app: Flask
) -> None:
    zhang = enrolled(client)
    li = sign_in(app.test_client(), "李娜")
    grants = FakeGrants()
    wired.grants = grants
    [zhang, li] = into_coverage(clock, wired, zhang, li)
    grants.allowed[(person_id(li), person_id(zhang))] = {Action.SUBMIT_CLAIMS}
    acting = {"X-Acting-For": str(person_id(zhang))}
    bill = {"in_policy_self_pay_fen": 0,
            "items": [{"code": "ty001", "name": "信迪利单抗注射液", "amount_fen": 30_000 * Y},
                      {"code": "X999", "name": "营养品", "amount_fen": 100 * Y}]}
    submitted = submit(li, bill, headers=acting)
    assert submitted.status_code == 201, submitted.get_json()
    number = submitted.get_json()["claim_no"]

    detail = zhang.client.get(f"/api/v1/claims/{number}", headers=zhang.bearer).get_json()
    drug, other = detail["items"]
    assert (drug["category"], drug["category_label"]) == ("special_drug", "特定药品费用")
    assert (other["category"], other["category_label"]) == (None, None)

    agent_phone, principal_phone = PEOPLE["李娜"][0], PEOPLE["张伟"][0]
    assert any(number in text for text in sms_texts(client, agent_phone))
    reviewer = staff(client, wired)
    from .test_claims_support import decide

    assert decide(reviewer, number, "start_review").status_code == 200
    agent_texts = [t for t in sms_texts(client, agent_phone) if number in t]
    principal_texts = [t for t in sms_texts(client, principal_phone) if number in t]
    assert len(agent_texts) == len(principal_texts) == 2
    for texts in (agent_texts, principal_texts):
        assert any("已进入审核" in text for text in texts)
        assert any("已提交" in text for text in texts), texts


def test_a_registry_outage_stops_only_the_approval_of_a_claim_with_listed_conditions(
    client: FlaskClient, wired: Container, clock: MovableClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Only an approval computes the payout and so needs the registry's earlier diagnoses:
    with the registry down it answers 503 and changes nothing, while a rejection and a payment
    of an approved claim go on."""
    zhang = enrolled(client)
    registry = cast(SimulatedRegistry, wired.registry)
    assert registry.record_diagnosis(PEOPLE["张伟"][1], "C22.0", date(2025, 5, 1))
    [zhang] = into_coverage(clock, wired, zhang)
    reviewer = staff(client.application.test_client(), wired)
    liver = {"in_policy_self_pay_fen": 50_000 * Y, "items": [], "diagnosis_codes": ["C22.0"]}
    approved, refused, rejected = (submit(zhang, liver).get_json()["claim_no"]
                                   for _ in range(3))
    assert decide(reviewer, approved, "approve").status_code == 200

    def unreachable(id_number: str, before: date) -> list[Any]:
        raise RegistryUnavailable("timeout")

    monkeypatch.setattr(wired.registry, "prior_diagnoses", unreachable)
    down = decide(reviewer, refused, "approve")
    assert down.status_code == 503, down.get_json()
    assert down.get_json()["code"] == "remote_unavailable"
    shown = zhang.client.get(f"/api/v1/claims/{refused}", headers=zhang.bearer).get_json()
    assert shown["status"] == "submitted"
    assert decide(reviewer, rejected, "reject", "非保险责任范围内的费用").status_code == 200
    assert decide(reviewer, approved, "mark_paid").status_code == 200
