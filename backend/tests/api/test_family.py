"""Buying for family: members verified by the registry or the relative's phone, one
confirmation for several people, all or nothing, refunds to the paying account."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from flask.testing import FlaskClient

from huiminbao.catalog.cache import PublishedProducts
from huiminbao.core.container import Container
from huiminbao.enrollment import quoting

from .enrollment_helpers import PEOPLE, balance, product, sign_in
from .helpers import Session, latest_code, statements_sent

FAMILY = {
    "李娜": ("330106199007220243", "spouse"),
    "张小宇": ("330106201805090316", "child"),
    "张建国": ("330102195802100458", "parent"),
    "王秀英": ("33010219430618052X", "parent"),
}


def _add(session: Session, name: str, id_number: str, relation: str):  # type: ignore[no-untyped-def]
    return session.client.post("/api/v1/me/family", headers=session.bearer,
                               json={"name": name, "id_number": id_number, "relation": relation})


def _add_family(session: Session) -> dict[str, int]:
    ids = {}
    for name, (id_number, relation) in FAMILY.items():
        response = _add(session, name, id_number, relation)
        assert response.status_code == 201, response.get_json()
        assert response.get_json()["verified"] is True
        ids[name] = response.get_json()["person_id"]
    return ids


def _family_body(client: FlaskClient, person_ids: list[int], method: str = "personal_account",
                 amount: int | None = None) -> dict[str, Any]:
    item = product(client)
    confirmations: dict[str, Any] = {"terms_version": item["terms"]["version"],
                                     "not_basic_insurance": True}
    if method == "personal_account":
        confirmations["debit_amount_fen"] = amount if amount is not None else 15000 * len(
            person_ids)
    return {"product_id": item["id"], "payment_method": method, "confirmations": confirmations,
            "insured": [{"person_id": pid, "tier": "standard"} for pid in person_ids]}


def _buy(session: Session, person_ids: list[int], **kwargs: Any):  # type: ignore[no-untyped-def]
    return session.client.post(
        "/api/v1/enrollments", json=_family_body(session.client, person_ids, **kwargs),
        headers={**session.bearer, "Idempotency-Key": uuid.uuid4().hex})


def test_zhang_wei_buys_for_four_relatives_in_one_confirmation(
    client: FlaskClient, wired: Container, app: Any,
) -> None:
    zhang = sign_in(client, "张伟")
    ids = _add_family(zhang)
    members = client.get("/api/v1/me/family", headers=zhang.bearer).get_json()["items"]
    assert {m["name"] for m in members} == {"李*", "张*宇", "张*国", "王*英"}
    assert {m["coverage"] for m in members} == {"未参保"}

    person_ids = list(ids.values())
    sheet = client.post("/api/v1/enrollments/preview", headers=zhang.bearer,
                        json=_family_body(client, person_ids)).get_json()
    assert sheet["payable_fen"] == 60000
    assert [line["relation"] for line in sheet["lines"]] == ["spouse", "child", "parent",
                                                             "parent"]
    assert sheet["account"]["balance_before_fen"] == 200000
    assert sheet["account"]["balance_after_fen"] == 140000

    before = balance(zhang)["prior_years_fen"]
    response = _buy(zhang, person_ids)
    assert response.status_code == 201, response.get_json()
    order = response.get_json()
    assert order["status"] == "issued"
    assert len(order["policies"]) == 4
    account = balance(zhang)
    assert before - account["prior_years_fen"] == 60000
    assert [e["amount_fen"] for e in account["entries"] if e["kind"] == "debit"] == [-60000]

    members = client.get("/api/v1/me/family", headers=zhang.bearer).get_json()["items"]
    assert {m["coverage"] for m in members} == {"已参保"}

    # 李娜 sees her own policy, bought by her husband; she was told by SMS, masked.
    li = sign_in(app.test_client(), "李娜")
    policies = li.client.get("/api/v1/policies", headers=li.bearer).get_json()["items"]
    assert [p["insured_name"] for p in policies] == ["李*"]
    assert policies[0]["holder_name"] == "张*"
    sms = client.get("/api/v1/dev/sms?phone=13800000002").get_json()["items"]
    assert any("张*已为您投保" in m["text"] for m in sms)
    # 李娜 adds 张小宇 and sees that someone else covered him, without being told who.
    _add(li, "张小宇", "330106201805090316", "child")
    child = li.client.get("/api/v1/me/family", headers=li.bearer).get_json()["items"][0]
    assert child["coverage"] == "已由他人投保"
    assert child["policy_no"] is None


def test_the_holders_policy_list_costs_the_same_reads_for_four_policies_as_for_one(
    client: FlaskClient, wired: Container, app: Any,
) -> None:
    """Each kind of row is read once for the whole list (no read per policy), and the product,
    published, comes from the process's cache."""
    zhang = sign_in(client, "张伟")
    ids = _add_family(zhang)
    assert _buy(zhang, list(ids.values())).status_code == 201
    li = sign_in(app.test_client(), "李娜")
    listing = {who: (lambda s=s: s.client.get("/api/v1/policies", headers=s.bearer))
               for who, s in (("zhang", zhang), ("li", li))}
    # The product kept for the whole test (an enrollment keeps it for 30 s in production).
    wired.products = PublishedProducts(wired.db, ttl_seconds=3600)
    assert wired.products.get(product(client)["id"]) is not None
    for call in listing.values():
        call()  # warm: the session's first reads
    with statements_sent(wired.db.engine) as four_reads:
        four = listing["zhang"]()
    with statements_sent(wired.db.engine) as one_reads:
        one = listing["li"]()
    assert len(four.get_json()["items"]) == 4 and len(one.get_json()["items"]) == 1
    assert len(four_reads) == len(one_reads), (four_reads, one_reads)
    assert not [read for read in four_reads if "FROM products" in read]
    number = four.get_json()["items"][0]["policy_no"]
    with statements_sent(wired.db.engine) as page_reads:
        page = zhang.client.get(f"/api/v1/policies/{number}", headers=zhang.bearer)
    assert page.status_code == 200 and page.get_json()["policy_no"] == number
    assert len(page_reads) <= len(four_reads) + 1, page_reads  # the policy by number, the gate


def test_cancelling_one_relative_refunds_the_paying_account(client: FlaskClient) -> None:
    zhang = sign_in(client, "张伟")
    ids = _add_family(zhang)
    order = _buy(zhang, list(ids.values())).get_json()
    after_purchase = balance(zhang)["prior_years_fen"]
    wang = next(p for p in order["policies"] if p["insured_name"] == "王*英")
    cancelled = client.post(f"/api/v1/policies/{wang['policy_no']}/cancel",
                            headers={**zhang.bearer, "Idempotency-Key": uuid.uuid4().hex})
    assert cancelled.status_code == 200, cancelled.get_json()
    assert cancelled.get_json()["refund"]["amount_fen"] == 15000
    assert balance(zhang)["prior_years_fen"] == after_purchase + 15000


def test_an_insured_relative_cannot_cancel_what_the_holder_paid(
    client: FlaskClient, app: Any
) -> None:
    zhang = sign_in(client, "张伟")
    ids = _add_family(zhang)
    order = _buy(zhang, [ids["李娜"]]).get_json()
    li = sign_in(app.test_client(), "李娜")
    refused = li.client.post(f"/api/v1/policies/{order['policies'][0]['policy_no']}/cancel",
                             headers={**li.bearer, "Idempotency-Key": uuid.uuid4().hex})
    assert refused.status_code == 422
    assert refused.get_json()["code"] == "not_holder"


def test_only_the_payer_may_turn_auto_renewal_on_the_insured_may_turn_it_off(
    client: FlaskClient, app: Any
) -> None:
    zhang = sign_in(client, "张伟")
    ids = _add_family(zhang)
    policy_no = _buy(zhang, [ids["李娜"]]).get_json()["policies"][0]["policy_no"]
    consent = client.get("/api/v1/auto-renew-consent").get_json()
    url = f"/api/v1/policies/{policy_no}/auto-renew"
    on = {"enabled": True, "consent_version": consent["version"]}

    # 李娜 is insured, but the renewal premium would come from 张伟's personal account.
    li = sign_in(app.test_client(), "李娜")
    refused = li.client.put(url, headers=li.bearer, json=on)
    assert refused.status_code == 403
    assert refused.get_json()["code"] == "not_payer"
    assert refused.get_json()["message"] == (
        "自动续保将从付款人的医保个人账户扣费，只能由付款人本人开启")
    assert li.client.get(f"/api/v1/policies/{policy_no}",
                         headers=li.bearer).get_json()["auto_renew"] is False

    accepted = client.put(url, headers=zhang.bearer, json=on)
    assert accepted.status_code == 200, accepted.get_json()
    assert accepted.get_json()["auto_renew"] is True

    # Declining next year's cover costs nobody anything: the insured may switch it off.
    off = li.client.put(url, headers=li.bearer, json={"enabled": False})
    assert off.status_code == 200, off.get_json()
    assert off.get_json()["auto_renew"] is False


def test_the_policy_view_says_who_may_turn_auto_renewal_on(client: FlaskClient, app: Any
                                                            ) -> None:
    zhang = sign_in(client, "张伟")
    ids = _add_family(zhang)
    policy_no = _buy(zhang, [ids["李娜"]]).get_json()["policies"][0]["policy_no"]
    url = f"/api/v1/policies/{policy_no}"

    payer = client.get(url, headers=zhang.bearer).get_json()
    assert (payer["viewer_is_payer"], payer["can_set_auto_renew"]) == (True, True)
    assert payer["payer_name"] == "张*"

    li = sign_in(app.test_client(), "李娜")
    insured = li.client.get(url, headers=li.bearer).get_json()
    assert (insured["viewer_is_payer"], insured["can_set_auto_renew"]) == (False, False)
    assert insured["payer_name"] == "张*"
    listed = li.client.get("/api/v1/policies", headers=li.bearer).get_json()["items"]
    assert [(p["policy_no"], p["can_set_auto_renew"]) for p in listed] == [(policy_no, False)]
    # The flag is the server's rule: what it says no to is refused.
    consent = client.get("/api/v1/auto-renew-consent").get_json()
    refused = li.client.put(f"{url}/auto-renew", headers=li.bearer,
                            json={"enabled": True, "consent_version": consent["version"]})
    assert refused.status_code == 403

    cancelled = client.post(f"{url}/cancel",
                            headers={**zhang.bearer, "Idempotency-Key": uuid.uuid4().hex})
    assert cancelled.status_code == 200, cancelled.get_json()
    after = cancelled.get_json()
    assert (after["viewer_is_payer"], after["can_set_auto_renew"]) == (True, False)


def test_a_batch_where_one_person_fails_charges_nothing_and_names_them(
    client: FlaskClient, app: Any
) -> None:
    li = sign_in(app.test_client(), "李娜")
    own = li.client.post("/api/v1/enrollments", json=_family_body(
        li.client, [li.me["identity"]["person_id"]]),
        headers={**li.bearer, "Idempotency-Key": uuid.uuid4().hex})
    assert own.status_code == 201, own.get_json()
    zhang = sign_in(client, "张伟")
    ids = _add_family(zhang)
    before = balance(zhang)["prior_years_fen"]
    refused = _buy(zhang, [ids["张小宇"], ids["李娜"]])
    assert refused.status_code == 422
    body = refused.get_json()
    assert body["code"] == "already_insured"
    assert "李*" in body["message"]
    assert balance(zhang)["prior_years_fen"] == before


def test_adding_someone_as_a_parent_who_is_younger_is_refused(client: FlaskClient) -> None:
    zhang = sign_in(client, "张伟")
    response = _add(zhang, "刘䶮", PEOPLE["刘䶮"][1], "parent")
    assert response.status_code == 422
    assert response.get_json()["code"] == "relation_implausible"
    assert "父母应比您年长" in response.get_json()["message"]
    assert client.get("/api/v1/me/family", headers=zhang.bearer).get_json()["items"] == []


def test_wrong_relation_and_wrong_name_are_refused(client: FlaskClient) -> None:
    zhang = sign_in(client, "张伟")
    wrong_relation = _add(zhang, "李娜", FAMILY["李娜"][0], "parent")
    assert wrong_relation.get_json()["code"] in {"relation_mismatch", "relation_implausible"}
    wrong_name = _add(zhang, "李丽", FAMILY["李娜"][0], "spouse")
    assert wrong_name.get_json()["code"] == "identity_mismatch"
    bad_relation = _add(zhang, "李娜", FAMILY["李娜"][0], "cousin")
    assert bad_relation.get_json()["errors"]["relation"] == ["关系只能是配偶、子女或父母"]
    self_add = _add(zhang, "张伟", PEOPLE["张伟"][1], "spouse")
    assert self_add.get_json()["code"] == "self"


def test_a_relative_without_a_registry_link_confirms_by_their_own_phone(
    client: FlaskClient,
) -> None:
    lin = sign_in(client, "林𫖮")
    added = _add(lin, "周强", PEOPLE["周强"][1], "spouse")
    assert added.status_code == 201, added.get_json()
    member = added.get_json()
    assert member["verified"] is False
    assert member["code_sent_to"] == "138****0010"
    refused = _buy(lin, [member["person_id"]])
    assert refused.get_json()["code"] == "relation_unverified"
    code = latest_code(client, "13800000010")
    verified = client.post(f"/api/v1/me/family/{member['id']}/verify", headers=lin.bearer,
                           json={"code": code})
    assert verified.status_code == 200, verified.get_json()
    assert verified.get_json()["verification"] == "sms"
    assert _buy(lin, [member["person_id"]]).status_code == 201


def test_a_second_spouse_is_refused(client: FlaskClient) -> None:
    zhang = sign_in(client, "张伟")  # the registry links him to 李娜
    refused = _add(zhang, "林𫖮", PEOPLE["林𫖮"][1], "spouse")
    assert refused.status_code == 422
    assert refused.get_json()["code"] == "spouse_exists"


def test_only_family_members_can_be_insured(client: FlaskClient, app: Any) -> None:
    liu = sign_in(app.test_client(), "刘䶮")
    zhang = sign_in(client, "张伟")
    refused = _buy(zhang, [liu.me["identity"]["person_id"]])
    assert refused.status_code == 422
    assert "只能为本人、配偶、子女和父母投保" in refused.get_json()["message"]


def test_an_account_pays_for_at_most_the_product_limit(
    client: FlaskClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(quoting, "MAX_PERSONS_PER_ACCOUNT", 3)
    zhang = sign_in(client, "张伟")
    ids = _add_family(zhang)
    refused = _buy(zhang, list(ids.values()))
    assert refused.get_json()["code"] == "account_person_limit"
    assert "最多为3人" in refused.get_json()["message"]


def test_removing_a_member(client: FlaskClient) -> None:
    zhang = sign_in(client, "张伟")
    member = _add(zhang, "李娜", FAMILY["李娜"][0], "spouse").get_json()
    assert client.delete(f"/api/v1/me/family/{member['id']}",
                         headers=zhang.bearer).status_code == 204
    assert client.get("/api/v1/me/family", headers=zhang.bearer).get_json()["items"] == []
    assert client.delete(f"/api/v1/me/family/{member['id']}",
                         headers=zhang.bearer).status_code == 404
