"""Real-name binding: registry check, neutral refusals, consents, one person per account."""

from __future__ import annotations

from flask.testing import FlaskClient
from sqlalchemy import select

from huiminbao.audit.models import AuditEvent, Consent
from huiminbao.core.container import Container

from .helpers import CURRENT_CONSENTS, bind, login

ZHANG_WEI = ("13800000001", "张伟", "330106198803150130")
LI_NA_ID = "330106199007220243"
NEUTRAL = "身份信息核验未通过，请核对姓名和身份证号码后重试"


def _bind(client: FlaskClient, token: str, name: str, id_number: str,
          consents: dict[str, str] | None = None):  # type: ignore[no-untyped-def]
    return client.post(
        "/api/v1/me/identity", headers={"Authorization": f"Bearer {token}"},
        json={"name": name, "id_number": id_number,
              "consents": CURRENT_CONSENTS if consents is None else consents},
    )


def test_binding_shows_masked_identity_and_records_both_consents(
    client: FlaskClient, wired: Container
) -> None:
    phone, name, id_number = ZHANG_WEI
    me = bind(login(client, phone), name, id_number)
    assert me["identity"]["bound"] is True
    assert me["identity"]["name"] == "张*"
    assert me["identity"]["id_number"] == "3****************0"
    assert me["identity"]["sex"] == "male"
    assert me["identity"]["age"] == 38
    assert {c["kind"] for c in me["consents"]} == {"personal_info", "sensitive_info"}
    assert id_number not in str(me)
    with wired.db.read() as session:
        versions = {c.kind: c.text_version for c in session.scalars(select(Consent))}
    assert versions == CURRENT_CONSENTS


def test_rare_characters_bind(client: FlaskClient) -> None:
    me = bind(login(client, "13800000007"), "林𫖮", "330108199701130742")
    assert me["identity"]["name"] == "林*"
    me = bind(login(client, "13800000006"), "刘䶮", "330105198109040613")
    assert me["identity"]["name"] == "刘*"


def test_decomposed_input_is_compared_after_nfc(client: FlaskClient) -> None:
    # A name typed with surrounding spaces is still the same name.
    me = bind(login(client, "13800000007"), " 林𫖮 ", "330108199701130742")
    assert me["identity"]["bound"] is True


def test_lower_case_x_is_accepted(client: FlaskClient) -> None:
    session = login(client, "13900000201")
    response = _bind(client, session.token, "王秀英", "33010219430618052x")
    assert response.status_code == 200


def test_wrong_name_and_wrong_id_get_the_same_neutral_answer(
    client: FlaskClient, wired: Container
) -> None:
    session = login(client, ZHANG_WEI[0])
    someone_elses_id = _bind(client, session.token, "张伟", LI_NA_ID)
    wrong_name = _bind(client, session.token, "张为", ZHANG_WEI[2])
    unknown_person = _bind(client, session.token, "张伟", "110101199003071234"[:17] + "X")
    bodies = [r.get_json() for r in (someone_elses_id, wrong_name)]
    for response, body in zip((someone_elses_id, wrong_name), bodies, strict=True):
        assert response.status_code == 422
        assert body["code"] == "identity_mismatch"
        assert body["message"] == NEUTRAL
        assert body["errors"] == {}
    assert unknown_person.status_code == 422  # a malformed or unknown number: never bound
    with wired.db.read() as session_:
        denials = session_.scalars(
            select(AuditEvent).where(AuditEvent.action == "identity.bind",
                                     AuditEvent.outcome == "denied")
        ).all()
    assert len(denials) >= 2
    assert all(LI_NA_ID not in str(event.details) for event in denials)


def test_malformed_id_number_names_the_problem(client: FlaskClient) -> None:
    session = login(client, "13900000202")
    bad_check = _bind(client, session.token, "张伟", "330106198803150131")
    assert bad_check.status_code == 422
    assert bad_check.get_json()["errors"]["id_number"] == [
        "身份证号码校验位不正确，请核对后重新输入"
    ]
    short = _bind(client, session.token, "张伟", "33010619880315")
    assert short.get_json()["errors"]["id_number"] == ["身份证号码应为18位"]
    assert login(client, "13900000203").me["identity"]["bound"] is False


def test_both_consents_are_required(client: FlaskClient) -> None:
    session = login(client, ZHANG_WEI[0])
    response = _bind(client, session.token, "张伟", ZHANG_WEI[2],
                     consents={"personal_info": CURRENT_CONSENTS["personal_info"],
                               "sensitive_info": "1999.1"})
    assert response.status_code == 422
    body = response.get_json()
    assert body["code"] == "consent_required"
    assert "敏感个人信息单独同意书" in body["message"]
    assert client.get("/api/v1/me", headers=session.bearer).get_json()["identity"]["bound"] is False


def test_one_person_binds_to_one_account(client: FlaskClient) -> None:
    phone, name, id_number = ZHANG_WEI
    bind(login(client, phone), name, id_number)
    intruder = login(client, "13900000204")
    response = _bind(client, intruder.token, name, id_number)
    assert response.status_code == 409
    assert response.get_json()["code"] == "identity_taken"
    again = login(client, "13900000205")
    assert again.me["identity"]["bound"] is False


def test_binding_again_to_the_same_person_is_harmless_and_to_another_is_refused(
    client: FlaskClient,
) -> None:
    phone, name, id_number = ZHANG_WEI
    session = login(client, phone)
    bind(session, name, id_number)
    assert _bind(client, session.token, name, id_number).status_code == 200
    other = _bind(client, session.token, "李娜", LI_NA_ID)
    assert other.status_code == 409
    assert other.get_json()["code"] == "already_bound"


def test_binding_attempts_are_throttled(client: FlaskClient) -> None:
    session = login(client, "13900000206")
    statuses = [_bind(client, session.token, "张伟", LI_NA_ID).status_code for _ in range(11)]
    assert statuses[:10] == [422] * 10
    assert statuses[10] == 429


def test_consent_can_be_withdrawn_and_given_again(client: FlaskClient) -> None:
    phone, name, id_number = ZHANG_WEI
    session = login(client, phone)
    bind(session, name, id_number)
    withdrawn = client.delete("/api/v1/me/consents/sensitive_info", headers=session.bearer)
    assert withdrawn.status_code == 204
    me = client.get("/api/v1/me", headers=session.bearer).get_json()
    sensitive = [c for c in me["consents"] if c["kind"] == "sensitive_info"]
    assert sensitive[0]["withdrawn_at"] is not None
    again = client.put("/api/v1/me/consents/sensitive_info", headers=session.bearer,
                       json={"version": CURRENT_CONSENTS["sensitive_info"]})
    assert again.status_code == 204
    me = client.get("/api/v1/me", headers=session.bearer).get_json()
    assert any(c["kind"] == "sensitive_info" and c["withdrawn_at"] is None for c in me["consents"])
    assert client.delete("/api/v1/me/consents/no_such", headers=session.bearer).status_code == 404


def test_consent_texts_are_public_and_versioned(client: FlaskClient) -> None:
    items = client.get("/api/v1/consent-texts").get_json()["items"]
    assert {item["kind"] for item in items} == {"personal_info", "sensitive_info"}
    assert all(item["version"] and item["body"] for item in items)
