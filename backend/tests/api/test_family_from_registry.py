"""Family from the registry: a verified account owner sees the spouse, children and parents the
registry links to them (masked, with relation and age, never an ID number) and picks them for
家人 or a proxy grant; a pick means nothing for anyone else, and a registry that does not
answer is said in words while adding by ID number still works."""

from __future__ import annotations

import re
import uuid
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from huiminbao.core.container import Container
from huiminbao.enrollment.family.from_registry import (
    PICK_UNKNOWN,
    RELATIVES_UNAVAILABLE,
    pick_token,
)
from huiminbao.registry.port import RegistryUnavailable

from .enrollment_helpers import PEOPLE, balance, product, sign_in
from .helpers import Session, bind, login

FROM_REGISTRY = "/api/v1/me/family/from-registry"
# 张伟's relatives as the demo registry links them: spouse, child, then parents, elder first.
ZHANG_WEI_RELATIVES = [
    ("李*", "spouse", "配偶", 36),
    ("张*宇", "child", "子女", 8),
    ("王*英", "parent", "父母", 83),
    ("张*国", "parent", "父母", 68),
]
FULL_NAMES = ("李娜", "张小宇", "王秀英", "张建国")
ID_NUMBERS = ("330106199007220243", "330106201805090316", "33010219430618052X",
              "330102195802100458")


def relatives(session: Session) -> list[dict[str, Any]]:
    response = session.client.get(FROM_REGISTRY, headers=session.bearer)
    assert response.status_code == 200, response.get_json()
    return response.get_json()["items"]  # type: ignore[no-any-return]


def pick(session: Session, token: str) -> Any:
    return session.client.post(FROM_REGISTRY, headers=session.bearer, json={"pick": token})


def fresh_phone() -> str:
    return "139" + f"{uuid.uuid4().int % 10**8:08d}"


def test_the_list_names_each_relative_masked_with_relation_and_age_and_no_id_number(
    client: FlaskClient,
) -> None:
    zhang = sign_in(client, "张伟")
    response = zhang.client.get(FROM_REGISTRY, headers=zhang.bearer)
    items = response.get_json()["items"]
    assert [(i["name"], i["relation"], i["relation_label"], i["age"]) for i in items] == \
        ZHANG_WEI_RELATIVES
    assert {i["coverage"] for i in items} == {"未参保"}
    assert {i["member_id"] for i in items} == {None}
    assert {i["person_id"] for i in items} == {None}
    tokens = [i["pick"] for i in items]
    assert len(set(tokens)) == 4 and all(re.fullmatch(r"[0-9a-f]{32}", t) for t in tokens)
    text = response.get_data(as_text=True)
    for secret in (*FULL_NAMES, *ID_NUMBERS, *(number[-4:] for number in ID_NUMBERS)):
        assert secret not in text
    assert set(items[0]) == {"pick", "name", "relation", "relation_label", "age", "member_id",
                             "person_id", "coverage", "has_personal_account"}
    # 医保个人账户: the employees have one, the residents (the child, the grandmother) none.
    assert [i["has_personal_account"] for i in items] == [True, False, False, True]


def test_picking_adds_the_relative_verified_and_the_owner_pays_for_all_four(
    client: FlaskClient, wired: Container,
) -> None:
    zhang = sign_in(client, "张伟")
    person_ids = []
    for item in relatives(zhang):
        added = pick(zhang, item["pick"])
        assert added.status_code == 201, added.get_json()
        member = added.get_json()
        assert (member["name"], member["relation"]) == (item["name"], item["relation"])
        assert member["verified"] is True and member["verification"] == "registry"
        person_ids.append(member["person_id"])
    # Listed again: each is on the family list now, with the ids the enrollment takes.
    listed = relatives(zhang)
    assert [i["person_id"] for i in listed] == person_ids
    assert None not in {i["member_id"] for i in listed}
    # Picking someone twice adds nobody twice.
    again = pick(zhang, listed[0]["pick"])
    assert again.status_code == 409 and again.get_json()["code"] == "already_added"
    assert len(client.get("/api/v1/me/family", headers=zhang.bearer).get_json()["items"]) == 4

    item = product(client)
    before = balance(zhang)["prior_years_fen"]
    order = client.post("/api/v1/enrollments", headers={
        **zhang.bearer, "Idempotency-Key": uuid.uuid4().hex}, json={
        "product_id": item["id"], "payment_method": "personal_account",
        "insured": [{"person_id": pid, "tier": "standard"} for pid in person_ids],
        "confirmations": {"terms_version": item["terms"]["version"],
                          "not_basic_insurance": True, "debit_amount_fen": 60000}})
    assert order.status_code == 201, order.get_json()
    assert before - balance(zhang)["prior_years_fen"] == 60000
    assert {i["coverage"] for i in relatives(zhang)} == {"已参保"}


def test_a_pick_names_nobody_for_anyone_else_and_a_forged_one_is_refused(
    client: FlaskClient, app: Flask, wired: Container,
) -> None:
    zhang = sign_in(client, "张伟")
    li_na_pick = relatives(zhang)[0]["pick"]
    zhou = sign_in(app.test_client(), "周强")
    assert relatives(zhou) == []  # the registry links nobody to him

    refusals = [
        li_na_pick,  # 张伟's wife, not 周强's: the pick is 张伟's own
        "0" * 32,  # made up
        "\u009c\u00ab,<\u00c9",  # not even hexadecimal
        # Well formed for 周强 and the real key, but the registry does not link 刘䶮 to him.
        pick_token(wired.settings.secret_key, zhou.me["identity"]["person_id"],
                   PEOPLE["刘䶮"][1]),
    ]
    for token in refusals:
        refused = pick(zhou, token)
        assert refused.status_code == 422, refused.get_json()
        assert refused.get_json()["code"] == "pick_unknown"
        assert refused.get_json()["message"] == PICK_UNKNOWN
        assert refused.get_json()["errors"] == {"pick": [PICK_UNKNOWN]}
    assert zhou.client.get("/api/v1/me/family", headers=zhou.bearer).get_json()["items"] == []

    # 李娜 and 张伟 share a son: each has their own pick for him, and neither works for the other.
    li_na = sign_in(app.test_client(), "李娜")
    her_son = next(i for i in relatives(li_na) if i["relation"] == "child")
    his_son = next(i for i in relatives(zhang) if i["relation"] == "child")
    assert her_son["pick"] != his_son["pick"]
    assert pick(zhang, her_son["pick"]).get_json()["code"] == "pick_unknown"
    assert pick(zhang, his_son["pick"]).status_code == 201


def test_unbound_and_unverified_accounts_get_the_guards_answer(app: Flask) -> None:
    unbound = login(app.test_client(), fresh_phone())
    for method, body in (("GET", None), ("POST", {"pick": "0" * 32})):
        response = unbound.client.open(FROM_REGISTRY, method=method, json=body,
                                       headers=unbound.bearer)
        assert response.status_code == 422
        assert response.get_json()["code"] == "identity_required"

    # Name and ID number typed on another phone: bound, not verified; the family stays unseen.
    unverified = login(app.test_client(), fresh_phone())
    bind(unverified, "张伟", PEOPLE["张伟"][1])
    for method, body in (("GET", None), ("POST", {"pick": "0" * 32})):
        response = unverified.client.open(FROM_REGISTRY, method=method, json=body,
                                          headers=unverified.bearer)
        assert response.status_code == 403
        assert response.get_json()["code"] == "identity_unverified"
        assert "李" not in response.get_data(as_text=True)

    anonymous = app.test_client().get(FROM_REGISTRY)
    assert anonymous.status_code == 401


def test_a_registry_that_does_not_answer_is_said_in_words_and_adding_by_id_still_works(
    client: FlaskClient, wired: Container, monkeypatch: pytest.MonkeyPatch,
) -> None:
    zhang = sign_in(client, "张伟")
    token = relatives(zhang)[0]["pick"]

    def unreachable(id_number: str) -> list[Any]:
        raise RegistryUnavailable("timeout")

    monkeypatch.setattr(wired.registry, "relations", unreachable)
    for response in (client.get(FROM_REGISTRY, headers=zhang.bearer), pick(zhang, token)):
        assert response.status_code == 503
        assert response.get_json()["code"] == "registry_unavailable"
        assert response.get_json()["message"] == RELATIVES_UNAVAILABLE
        assert response.headers["Retry-After"]

    # By name and ID number: the relative's own phone confirms instead of the registry's link.
    typed = client.post("/api/v1/me/family", headers=zhang.bearer, json={
        "name": "李娜", "id_number": PEOPLE["李娜"][1], "relation": "spouse"})
    assert typed.status_code == 201, typed.get_json()
    assert typed.get_json()["verification"] == "pending"
    assert typed.get_json()["code_sent_to"] == "138****0002"
    # A relative without a phone cannot be confirmed that way: try later, in words.
    no_phone = client.post("/api/v1/me/family", headers=zhang.bearer, json={
        "name": "张小宇", "id_number": "330106201805090316", "relation": "child"})
    assert no_phone.status_code == 503
    assert no_phone.get_json()["code"] == "registry_unavailable"
    assert "请稍后再试" in no_phone.get_json()["message"]


# ---------------------------------------------------------------- proxy grants


def ask(agent: Session, **principal: Any) -> Any:
    return agent.client.post("/api/v1/proxy/grants", headers=agent.bearer, json={
        **principal, "scopes": ["enroll", "view_policies"], "pay_limit_fen": None,
        "valid_days": 365, "confirm_method": "counter"})


def test_an_agent_picks_the_principal_from_the_registry_list(
    client: FlaskClient, app: Flask,
) -> None:
    zhang = sign_in(client, "张伟")
    mother = next(i for i in relatives(zhang) if i["name"] == "王*英")
    grant = ask(zhang, principal_pick=mother["pick"])
    assert grant.status_code == 201, grant.get_json()
    assert grant.get_json()["principal_name"] == "王*英"
    assert grant.get_json()["status"] == "pending"
    assert "33010219430618052X" not in grant.get_data(as_text=True)
    # A second request for her is the usual conflict, whichever way she is named.
    assert ask(zhang, principal_name="王秀英",
               principal_id_number="33010219430618052X").status_code == 409

    # Someone else's pick, or a made-up one: the neutral refusal, nothing created.
    zhou = sign_in(app.test_client(), "周强")
    for token in (mother["pick"], "f" * 32):
        refused = ask(zhou, principal_pick=token)
        assert refused.status_code == 422
        assert refused.get_json()["errors"] == {"principal_pick": [PICK_UNKNOWN]}
    assert zhou.client.get("/api/v1/proxy/grants",
                           headers=zhou.bearer).get_json()["as_agent"] == []


def test_a_picked_principal_without_a_personal_account_cannot_be_asked_to_pay_from_it(
    client: FlaskClient,
) -> None:
    zhang = sign_in(client, "张伟")
    by_name = {i["name"]: i for i in relatives(zhang)}
    terms = {"scopes": ["enroll", "pay_from_principal_account"], "pay_limit_fen": 10000,
             "valid_days": 365, "confirm_method": "counter"}
    refused = zhang.client.post("/api/v1/proxy/grants", headers=zhang.bearer,
                                json={**terms, "principal_pick": by_name["王*英"]["pick"]})
    assert refused.status_code == 422
    assert refused.get_json()["code"] == "no_personal_account"
    assert refused.get_json()["errors"]["scopes"][0].startswith("王*英没有医保个人账户")
    assert zhang.client.get("/api/v1/proxy/grants",
                            headers=zhang.bearer).get_json()["as_agent"] == []
    allowed = zhang.client.post("/api/v1/proxy/grants", headers=zhang.bearer,
                                json={**terms, "principal_pick": by_name["张*国"]["pick"]})
    assert allowed.status_code == 201, allowed.get_json()


def test_a_grant_request_names_its_principal_one_way() -> None:
    from huiminbao.proxy.schemas import GrantRequestSchema

    terms = {"scopes": ["enroll"], "valid_days": 30, "confirm_method": "qr"}
    schema = GrantRequestSchema()
    assert schema.validate({**terms, "principal_pick": "a" * 32}) == {}
    assert schema.validate({**terms, "principal_name": "王秀英",
                            "principal_id_number": "33010219430618052X"}) == {}
    assert schema.validate(terms) == {"principal_name": ["请输入委托人姓名"],
                                      "principal_id_number": ["请输入委托人身份证号码"]}
    both = schema.validate({**terms, "principal_pick": "a" * 32, "principal_name": "王秀英"})
    assert both == {"principal_pick": ["已从列表中选择家人时，无需再填写姓名和身份证号码"]}
