"""保单查询 without an account: ID number, then a code texted to the phone the registry holds;
the answer is the masked facts of the policies insuring that person. No phone in the registry
(or an unknown number): said in Chinese, with the hotline and the counter. Codes are single use,
tied to the ID number, and rate limited."""

from __future__ import annotations

import re
from datetime import date
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from huiminbao.audit.models import AuditEvent
from huiminbao.catalog.demo import DEMO_HOTLINE
from huiminbao.core import idnumber
from huiminbao.core.container import Container
from huiminbao.registry.port import RegistryUnavailable

from .enrollment_helpers import PEOPLE, sign_in
from .test_family import _add, _buy

FATHER_ID = PEOPLE["张建国"][1]
FATHER_PHONE = PEOPLE["张建国"][0]
NO_PHONE_ID = "33010219430618052X"  # 王秀英: the registry holds no phone for her


def _code(client: FlaskClient, phone: str) -> str:
    for item in client.get(f"/api/v1/dev/sms?phone={phone}").get_json()["items"]:
        if match := re.search(r"查询惠民保参保信息，验证码(\d{6})", item["text"]):
            return match.group(1)
    raise AssertionError("no lookup code")


def _father_insured_by_son(app: Flask) -> str:
    zhang = sign_in(app.test_client(), "张伟")
    added = _add(zhang, "张建国", FATHER_ID, "parent")
    assert added.status_code == 201, added.get_json()
    bought = _buy(zhang, [added.get_json()["person_id"]])
    assert bought.status_code == 201, bought.get_json()
    return bought.get_json()["policies"][0]["policy_no"]  # type: ignore[no-any-return]


def _look_up(client: FlaskClient, id_number: str, code: str) -> Any:
    return client.post("/api/v1/policy-lookup", json={"id_number": id_number, "code": code})


def test_a_relative_looks_up_a_policy_with_the_code_sent_to_the_registry_phone(
        app: Flask, wired: Container) -> None:
    policy_no = _father_insured_by_son(app)
    client = app.test_client()  # nobody signed in
    sent = client.post("/api/v1/policy-lookup/code", json={"id_number": FATHER_ID.lower()})
    assert sent.status_code == 200, sent.get_json()
    assert sent.get_json()["phone"] == "138****0004"

    wrong = _look_up(client, FATHER_ID, "000000")
    assert wrong.status_code == 422 and wrong.get_json()["code"] == "wrong_code"

    answer = _look_up(client, FATHER_ID, _code(client, FATHER_PHONE))
    assert answer.status_code == 200, answer.get_json()
    result = answer.get_json()
    assert result["insured_name"] == "张*国"
    [found] = result["items"]
    assert found["insured_name"] == "张*国" and found["holder_name"] == "张*"
    assert found["product_name"] and found["validity"] == "有效（待生效）"
    assert found["status"] == "有效"
    assert found["policy_no"] != policy_no and found["policy_no"].endswith(policy_no[-6:])
    assert "*" in found["policy_no"]
    body = answer.get_data(as_text=True)
    for secret in ("张建国", "张伟", FATHER_ID, FATHER_PHONE, policy_no):
        assert secret not in body
    assert "fen" not in body  # no money

    again = _look_up(client, FATHER_ID, _code(client, FATHER_PHONE))  # single use
    assert again.status_code == 422 and again.get_json()["code"] == "code_expired"

    with wired.db.read() as session:
        events = session.scalars(select(AuditEvent).where(
            AuditEvent.action == "policy.lookup")).all()
    assert len(events) == 1 and events[0].actor_client == "policy_lookup"
    assert events[0].details == {"policies": 1}


def test_a_code_for_one_id_number_does_not_open_another(app: Flask) -> None:
    """张伟's code (his own number) is no code for a lookup of another number."""
    client = app.test_client()
    zhang_id = PEOPLE["张伟"][1]
    assert client.post("/api/v1/policy-lookup/code",
                       json={"id_number": zhang_id}).status_code == 200
    code = _code(client, PEOPLE["张伟"][0])
    other = _look_up(client, FATHER_ID, code)  # the father's phone got no code
    assert other.status_code == 422
    mine = _look_up(client, zhang_id, code)
    assert mine.status_code == 200 and mine.get_json()["items"] == []


def test_without_a_phone_in_the_registry_the_answer_names_the_hotline_and_the_counter(
        client: FlaskClient) -> None:
    unknown = idnumber.make("110101", date(1990, 3, 7), 1)  # not in this city's registry
    messages = []
    for id_number in (NO_PHONE_ID, unknown):
        refused = client.post("/api/v1/policy-lookup/code", json={"id_number": id_number})
        assert refused.status_code == 422
        answer = refused.get_json()
        assert answer["code"] == "no_registry_phone"
        assert "没有该身份证号码可接收验证码的手机号" in answer["message"]
        assert DEMO_HOTLINE in answer["message"] and "经办窗口" in answer["message"]
        messages.append(answer["message"])
    assert messages[0] == messages[1]  # nobody learns from here who is in the registry


def test_bad_id_numbers_are_refused_in_chinese(client: FlaskClient) -> None:
    refused = client.post("/api/v1/policy-lookup/code", json={"id_number": "330102195802100459"})
    assert refused.status_code == 422
    assert refused.get_json()["errors"]["id_number"] == ["身份证号码校验位不正确，请核对后重新输入"]
    missing = client.post("/api/v1/policy-lookup", json={"id_number": FATHER_ID, "code": "12"})
    assert missing.status_code == 422
    assert missing.get_json()["errors"]["code"] == ["请输入6位数字验证码"]


def test_codes_are_rate_limited_per_id_number(client: FlaskClient) -> None:
    first = client.post("/api/v1/policy-lookup/code", json={"id_number": FATHER_ID})
    assert first.status_code == 200
    second = client.post("/api/v1/policy-lookup/code", json={"id_number": FATHER_ID.lower()})
    assert second.status_code == 429
    assert second.get_json()["message"].startswith("操作过于频繁")


def test_a_registry_outage_sends_no_code_and_spends_none(
        app: Flask, client: FlaskClient, wired: Container,
        monkeypatch: pytest.MonkeyPatch) -> None:
    """The registry (who holds the phone) dies: asking for a code answers 503 and texts nothing;
    dying between the code and the lookup leaves the code unspent, so the same code works once
    the registry is back."""
    _father_insured_by_son(app)
    texts_before = len(client.get(f"/api/v1/dev/sms?phone={FATHER_PHONE}").get_json()["items"])
    working = wired.registry.find_person

    def unreachable(id_number: str) -> Any:
        raise RegistryUnavailable("timeout")

    monkeypatch.setattr(wired.registry, "find_person", unreachable)
    down = client.post("/api/v1/policy-lookup/code", json={"id_number": FATHER_ID})
    assert down.status_code == 503, down.get_json()
    assert down.get_json()["message"]
    assert len(client.get(f"/api/v1/dev/sms?phone={FATHER_PHONE}").get_json()["items"]) == (
        texts_before)

    monkeypatch.setattr(wired.registry, "find_person", working)
    assert client.post("/api/v1/policy-lookup/code",
                       json={"id_number": FATHER_ID}).status_code == 200
    code = _code(client, FATHER_PHONE)
    monkeypatch.setattr(wired.registry, "find_person", unreachable)
    assert _look_up(client, FATHER_ID, code).status_code == 503
    monkeypatch.setattr(wired.registry, "find_person", working)
    found = _look_up(client, FATHER_ID, code)
    assert found.status_code == 200, found.get_json()
    assert len(found.get_json()["items"]) == 1
