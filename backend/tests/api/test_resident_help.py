"""Help for residents (issue 18): the product's hotline, hours, service points and FAQ set by the
operator and read without an account; complaints filed without an account after an SMS check of
the phone; one satisfaction rating per resolved complaint (or closed claim), averaged in
disclosure."""

from __future__ import annotations

import re
from typing import Any

from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from huiminbao.core.clock import MovableClock
from huiminbao.core.container import Container
from huiminbao.core.ratelimit import limiter
from huiminbao.disclosure.domain import average_tenths
from huiminbao.disclosure.models import Complaint
from huiminbao.identity.domain import Role

from .enrollment_helpers import sign_in
from .test_claims_support import (
    WORKED_EXAMPLE,
    decide,
    enrolled,
    into_coverage,
    staff,
    submit,
)
from .test_console_support import admin, demo_product_id, staff_session

TEXT = "在线缴费后一直显示待支付，电话也打不通，请尽快处理。"
HELP = {
    "hotline": "0571-87654321", "service_hours": "工作日 9:00-17:00",
    "service_points": [{"name": "拱墅区医保窗口", "address": "杭州市拱墅区上塘路1号",
                        "hours": "工作日 9:00-16:00", "map_text": "在地图中查看"}],
    "faq": [{"question": "什么时候能参保？", "answer": "参保期内随时可以在线参保。"}],
}


def _code(client: FlaskClient, phone: str) -> str:
    items = client.get(f"/api/v1/dev/sms?phone={phone}").get_json()["items"]
    for item in items:
        if match := re.search(r"提交惠民保投诉，验证码(\d{6})", item["text"]):
            return match.group(1)
    raise AssertionError(items)


def _file_without_account(client: FlaskClient, phone: str, **changes: Any):  # type: ignore[no-untyped-def]
    sent = client.post("/api/v1/public-complaints/code", json={"phone": phone})
    assert sent.status_code == 200, sent.get_json()
    assert sent.get_json()["phone"] == f"{phone[:3]}****{phone[-4:]}"
    body = {"phone": phone, "code": _code(client, phone), "name": "王阿姨",
            "category": "service", "content": TEXT, **changes}
    return client.post("/api/v1/public-complaints", json=body)


def test_the_operator_sets_help_and_everyone_reads_it(app: Flask, wired: Container) -> None:
    client = app.test_client()
    product_id = demo_product_id(client)
    seeded = client.get("/api/v1/help").get_json()
    assert seeded["configured"] and seeded["product_id"] == product_id  # the demo's own
    operator = admin(app.test_client(), wired)
    bad = operator.client.put(f"/api/v1/admin/products/{product_id}/help",
                              headers=operator.bearer, json={
                                  **HELP, "hotline": "打电话",
                                  "service_points": [{"name": "", "address": "某路", "hours": ""}]})
    assert bad.status_code == 422
    errors = bad.get_json()["errors"]
    assert "客服电话只能包含数字" in errors["hotline"][0]
    assert errors["service_points"] == [
        "第1条服务网点：请填写名称", "第1条服务网点：请填写办公时间"]
    saved = operator.client.put(f"/api/v1/admin/products/{product_id}/help",
                                headers=operator.bearer, json=HELP)
    assert saved.status_code == 200, saved.get_json()
    public = client.get("/api/v1/help").get_json()
    assert public["hotline"] == "0571-87654321"
    assert public["service_points"] == HELP["service_points"]
    assert public["faq"] == HELP["faq"]
    resident = sign_in(app.test_client(), "张伟")
    refused = resident.client.put(f"/api/v1/admin/products/{product_id}/help",
                                  headers=resident.bearer, json=HELP)
    assert refused.status_code == 403


def test_a_complaint_without_an_account_is_resolved_rated_and_averaged(
        app: Flask, wired: Container) -> None:
    client = app.test_client()
    phone = "13700000931"
    wrong = client.post("/api/v1/public-complaints/code", json={"phone": phone})
    assert wrong.status_code == 200
    refused = client.post("/api/v1/public-complaints", json={
        "phone": phone, "code": "000000" if _code(client, phone) != "000000" else "111111",
        "category": "service", "content": TEXT})
    assert refused.status_code == 422 and refused.get_json()["code"] == "wrong_code"
    limiter.reset()
    filed = _file_without_account(client, phone)
    assert filed.status_code == 201, filed.get_json()
    body = filed.get_json()
    number, token = body["complaint"]["complaint_no"], body["access_token"]
    assert body["complaint"]["filed_without_account"] is True
    assert body["complaint"]["complainant_name"] == "王*姨"
    assert body["complaint"]["can_rate"] is False
    with wired.db.read() as session:
        stored = session.scalars(select(Complaint).where(Complaint.complaint_no == number)).one()
        assert stored.complainant_person_id is None and stored.access_token_hash != token

    # Only the token's holder sees it; a signed-in stranger does not.
    assert client.get(f"/api/v1/public-complaints/{number}").status_code == 404
    assert client.get(f"/api/v1/public-complaints/{number}",
                      headers={"X-Complaint-Token": "x" * 32}).status_code == 404
    stranger = sign_in(app.test_client(), "张伟")
    assert stranger.client.get(f"/api/v1/complaints/{number}",
                               headers=stranger.bearer).status_code == 404
    mine = {"X-Complaint-Token": token}
    early = client.post(f"/api/v1/public-complaints/{number}/rating", headers=mine,
                        json={"score": 5})
    assert early.status_code == 422 and early.get_json()["code"] == "not_closed"

    # Staff see it in the queue and resolve it; the phone is texted.
    insurer = staff_session(app.test_client(), wired, Role.INSURER_STAFF, "13600000931")
    queue = insurer.client.get("/api/v1/admin/complaints", headers=insurer.bearer).get_json()
    assert number in {item["complaint_no"] for item in queue["items"]}
    insurer.client.post(f"/api/v1/admin/complaints/{number}/replies", headers=insurer.bearer,
                        json={"message": "正在核实。"})
    done = insurer.client.post(f"/api/v1/admin/complaints/{number}/replies",
                               headers=insurer.bearer,
                               json={"message": "已为您核实并处理。", "status": "resolved"})
    assert done.status_code == 201, done.get_json()
    texts = [i["text"] for i in client.get(f"/api/v1/dev/sms?phone={phone}").get_json()["items"]]
    assert any(number in text for text in texts)

    seen = client.get(f"/api/v1/public-complaints/{number}", headers=mine).get_json()
    assert seen["status"] == "resolved" and seen["can_rate"] is True
    bad = client.post(f"/api/v1/public-complaints/{number}/rating", headers=mine,
                      json={"score": 6})
    assert bad.status_code == 422 and "1至5分" in bad.get_json()["errors"]["score"][0]
    rated = client.post(f"/api/v1/public-complaints/{number}/rating", headers=mine,
                        json={"score": 4, "comment": "处理及时"})
    assert rated.status_code == 201, rated.get_json()
    assert rated.get_json()["rating"]["score_label"] == "满意"
    assert rated.get_json()["can_rate"] is False
    again = client.post(f"/api/v1/public-complaints/{number}/rating", headers=mine,
                        json={"score": 1})
    assert again.status_code == 409 and again.get_json()["code"] == "already_rated"

    product_id = demo_product_id(client)
    averages = client.get(f"/api/v1/disclosure/{product_id}/satisfaction").get_json()
    assert averages["complaints"] == {"count": 1, "average": "4.0"}
    assert averages["claims"] == {"count": 0, "average": None}


def test_a_signed_in_complainant_rates_a_resolved_complaint(app: Flask, wired: Container
                                                            ) -> None:
    zhang = sign_in(app.test_client(), "张伟")
    filed = zhang.client.post("/api/v1/complaints", headers=zhang.bearer,
                              json={"category": "payment", "content": TEXT})
    number = filed.get_json()["complaint_no"]
    insurer = staff_session(app.test_client(), wired, Role.INSURER_STAFF, "13600000932")
    for message, status in (("正在核实。", None), ("已处理完毕。", "resolved")):
        insurer.client.post(f"/api/v1/admin/complaints/{number}/replies",
                            headers=insurer.bearer,
                            json={"message": message, **({"status": status} if status else {})})
    rated = zhang.client.post(f"/api/v1/complaints/{number}/rating", headers=zhang.bearer,
                              json={"score": 5})
    assert rated.status_code == 201, rated.get_json()
    listed = zhang.client.get("/api/v1/complaints", headers=zhang.bearer).get_json()["items"]
    assert listed[0]["rating"]["score"] == 5 and listed[0]["can_rate"] is False


def test_averages_in_tenths_round_half_up() -> None:
    assert average_tenths(0, 0) is None
    assert average_tenths(9, 2) == 45  # 4.5
    assert average_tenths(13, 3) == 43  # 4.333…
    assert average_tenths(89, 20) == 45  # 4.45 → 4.5
    assert average_tenths(5, 1) == 50


def test_a_closed_claim_is_rated_once_by_its_claimant(
        client: FlaskClient, wired: Container, clock: MovableClock) -> None:
    zhang = enrolled(client)
    [zhang] = into_coverage(clock, wired, zhang)
    number = submit(zhang, WORKED_EXAMPLE).get_json()["claim_no"]
    url = f"/api/v1/claims/{number}/rating"
    assert client.get(url, headers=zhang.bearer).get_json() == {"rating": None, "can_rate": False}
    early = client.post(url, headers=zhang.bearer, json={"score": 5})
    assert early.status_code == 422 and early.get_json()["code"] == "not_closed"
    decide(staff(client, wired), number, "reject", "所附发票非本次住院发票")
    assert client.get(url, headers=zhang.bearer).get_json() == {"rating": None, "can_rate": True}
    rated = client.post(url, headers=zhang.bearer, json={"score": 2, "comment": "等太久了"})
    assert rated.status_code == 201, rated.get_json()
    assert rated.get_json()["rating"]["score_label"] == "不满意"
    after = client.get(url, headers=zhang.bearer).get_json()
    assert after["rating"]["comment"] == "等太久了" and after["can_rate"] is False
    again = client.post(url, headers=zhang.bearer, json={"score": 5})
    assert again.status_code == 409
    product_id = client.get("/api/v1/policies", headers=zhang.bearer).get_json()["items"][0][
        "product_id"]
    claims = client.get(f"/api/v1/disclosure/{product_id}/satisfaction").get_json()["claims"]
    assert claims == {"count": 1, "average": "2.0"}
