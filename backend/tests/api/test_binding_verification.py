"""A binding proves control, not knowledge. Name + ID number from a phone that is
not the registry's binds *unverified*: no balance, no history, no debit from any account. The
owner's verified binding (registry phone, face check, counter) displaces it; both phones hear."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import timedelta
from typing import Any

from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from huiminbao.audit.models import AuditEvent
from huiminbao.core.clock import MovableClock
from huiminbao.core.container import Container
from huiminbao.identity.domain import Role
from huiminbao.identity.models import UserAccount

from .enrollment_helpers import PEOPLE, body, enroll, payment_code
from .helpers import CURRENT_CONSENTS, Session, bind, login
from .test_console_support import COUNTER_PHONE, staff_session

ZHANG = ("张伟", PEOPLE["张伟"][1])
ZHANG_REGISTRY_PHONE = PEOPLE["张伟"][0]


def _phone() -> str:
    """A fresh phone nobody's registry record holds (139 + 8 random digits)."""
    return "139" + f"{uuid.uuid4().int % 10**8:08d}"


def _bind(session: Session, name: str, id_number: str, **extra: Any):  # type: ignore[no-untyped-def]
    return session.client.post("/api/v1/me/identity", headers=session.bearer, json={
        "name": name, "id_number": id_number, "consents": CURRENT_CONSENTS, **extra})


def _texts(client: FlaskClient, phone: str) -> list[str]:
    return [item["text"] for item in
            client.get(f"/api/v1/dev/sms?phone={phone}").get_json()["items"]]


def _me(session: Session) -> dict[str, Any]:
    response = session.client.get("/api/v1/me", headers=session.bearer)
    assert response.status_code == 200, response.get_json()
    return response.get_json()  # type: ignore[no-any-return]


class BalanceAsks:
    """The registry, recording whose balances each batch lookup asked for."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.asked: list[list[str]] = []

    def persons_and_balances(self, id_numbers: Sequence[str],
                             balances_of: Sequence[str]) -> Any:
        self.asked.append(list(balances_of))
        return self.inner.persons_and_balances(id_numbers, balances_of)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


def test_name_and_id_from_another_phone_is_unverified_and_cannot_see_or_spend(
        app: Flask, client: FlaskClient, wired: Container) -> None:
    registry = wired.registry = BalanceAsks(wired.registry)  # type: ignore[assignment]
    stranger = login(app.test_client(), _phone())
    me = bind(stranger, *ZHANG)
    assert me["identity"]["bound"] is True and me["identity"]["verified"] is False
    assert me["identity"]["verified_by"] is None

    account = stranger.client.get("/api/v1/me/account", headers=stranger.bearer)
    assert account.status_code == 403
    assert account.get_json()["code"] == "identity_unverified"
    assert "需先完成身份核验" in account.get_json()["message"]
    assert "prior_years_fen" not in account.get_data(as_text=True)

    preview = stranger.client.post("/api/v1/enrollments/preview", headers=stranger.bearer,
                          json=body(client, "personal_account"))
    assert preview.status_code == 403 and preview.get_json()["code"] == "identity_unverified"
    spend = enroll(stranger, "personal_account")
    assert spend.status_code == 403 and spend.get_json()["code"] == "identity_unverified"
    code = payment_code(stranger)
    assert code.status_code == 403 and code.get_json()["code"] == "identity_unverified"
    # The registry was never asked for the balance: the preview and the attempted enrollment
    # each looked the persons up without it.
    assert len(registry.asked) >= 2 and not any(registry.asked)
    assert not any("个人账户支付" in text for text in _texts(client, ZHANG_REGISTRY_PHONE))

    # Browsing, quoting and paying online for oneself still work.
    online_quote = stranger.client.post("/api/v1/enrollments/preview", headers=stranger.bearer,
                               json=body(client, "online"))
    assert online_quote.status_code == 200, online_quote.get_json()
    assert online_quote.get_json()["account"] is None
    online = enroll(stranger, "online")
    assert online.status_code == 201, online.get_json()
    assert online.get_json()["pay_url"]


def test_owner_verified_binding_displaces_the_unverified_one_and_both_phones_are_told(
        app: Flask, client: FlaskClient, wired: Container) -> None:
    stranger_phone = _phone()
    stranger = login(app.test_client(), stranger_phone)
    bind(stranger, *ZHANG)

    owner = login(app.test_client(), ZHANG_REGISTRY_PHONE)
    me = bind(owner, *ZHANG)
    assert me["identity"]["verified"] is True
    assert me["identity"]["verified_by"] == "registry_phone"
    assert me["identity"]["verified_by_label"] == "医保登记手机号核验"

    assert _me(stranger)["identity"]["bound"] is False
    assert any("已解除绑定" in text for text in _texts(client, stranger_phone))
    assert any("完成惠民保实名核验" in text and "医保登记手机号核验" in text
               for text in _texts(client, ZHANG_REGISTRY_PHONE))
    # The owner sees and spends; the stranger is refused as any unbound account.
    assert owner.client.get("/api/v1/me/account", headers=owner.bearer).status_code == 200
    refused = stranger.client.get("/api/v1/me/account", headers=stranger.bearer)
    assert refused.get_json()["code"] == "identity_required"

    # An unverified binding cannot take the person back.
    again = _bind(stranger, *ZHANG)
    assert again.status_code == 409 and again.get_json()["code"] == "identity_taken"
    with wired.db.read() as session:
        holder = session.scalars(select(UserAccount).where(
            UserAccount.phone_is(ZHANG_REGISTRY_PHONE))).one()
        assert holder.binding_verified_by == "registry_phone"
        events = session.scalars(select(AuditEvent).where(
            AuditEvent.action == "identity.displace")).all()
    assert [event.object_id for event in events] == [str(stranger.me["account_id"])]


def test_a_second_unverified_binding_is_refused_and_told_how_to_take_it_back(
        app: Flask, client: FlaskClient) -> None:
    bind(login(app.test_client(), _phone()), *ZHANG)
    second = _bind(login(app.test_client(), _phone()), *ZHANG)
    assert second.status_code == 409
    assert second.get_json()["code"] == "identity_taken"
    assert "刷脸核验" in second.get_json()["message"]


def test_identity_check_simulator_verifies_and_displaces(
        app: Flask, client: FlaskClient,
        clock: MovableClock) -> None:
    squatter_phone, owner_phone = _phone(), _phone()
    bind(login(app.test_client(), squatter_phone), *ZHANG)
    # The owner, on a phone the registry does not hold.
    owner = login(app.test_client(), owner_phone)
    started = owner.client.post("/api/v1/me/identity/check", headers=owner.bearer,
                                json={"name": ZHANG[0], "id_number": ZHANG[1]})
    assert started.status_code == 200, started.get_json()
    ticket = started.get_json()["ticket"]
    assert started.get_json()["simulated"] is True
    assert ZHANG[1] not in started.get_data(as_text=True)

    forged = _bind(owner, *ZHANG, check_ticket=ticket[:-2] + ("AA" if ticket[-2:] != "AA"
                                                             else "BB"))
    assert forged.status_code == 422 and forged.get_json()["code"] == "identity_check_failed"

    bound = _bind(owner, *ZHANG, check_ticket=ticket)
    assert bound.status_code == 200, bound.get_json()
    assert bound.get_json()["identity"]["verified_by"] == "identity_check"
    assert any("已解除绑定" in text for text in _texts(client, squatter_phone))
    assert any("刷脸核验" in text for text in _texts(client, owner_phone))
    assert owner.client.get("/api/v1/me/account", headers=owner.bearer).status_code == 200

    # A ticket for another person does not verify this one; an old ticket has expired.
    other = login(app.test_client(), _phone())
    li_na = ("李娜", PEOPLE["李娜"][1])
    li_ticket = other.client.post("/api/v1/me/identity/check", headers=other.bearer,
                            json={"name": li_na[0], "id_number": li_na[1]}).get_json()["ticket"]
    wrong_person = _bind(other, "周强", PEOPLE["周强"][1], check_ticket=li_ticket)
    assert wrong_person.get_json()["code"] == "identity_check_failed"
    clock.advance(timedelta(minutes=11))
    expired = _bind(other, *li_na, check_ticket=li_ticket)
    assert expired.get_json()["code"] == "identity_check_failed"


def test_identity_check_upgrades_an_unverified_binding_and_fails_for_the_documented_face(
        app: Flask, client: FlaskClient) -> None:
    session = login(app.test_client(), _phone())
    zhao = ("赵敏", PEOPLE["赵敏"][1])  # the simulator's documented failing face
    bind(session, *zhao)
    ticket = session.client.post("/api/v1/me/identity/check", headers=session.bearer,
                         json={"name": zhao[0], "id_number": zhao[1]}).get_json()["ticket"]
    failed = _bind(session, *zhao, check_ticket=ticket)
    assert failed.status_code == 422 and failed.get_json()["code"] == "identity_check_failed"
    assert _me(session)["identity"]["verified"] is False

    lin = login(app.test_client(), _phone())
    lin_person = ("林𫖮", PEOPLE["林𫖮"][1])
    bind(lin, *lin_person)
    assert _me(lin)["identity"]["verified"] is False
    ticket = lin.client.post("/api/v1/me/identity/check", headers=lin.bearer,
                         json={"name": lin_person[0], "id_number": lin_person[1]}
                         ).get_json()["ticket"]
    upgraded = _bind(lin, *lin_person, check_ticket=ticket)
    assert upgraded.status_code == 200
    assert upgraded.get_json()["identity"]["verified_by"] == "identity_check"


def test_counter_verification_records_the_staff_member(
        app: Flask, client: FlaskClient,
        wired: Container) -> None:
    squatter_phone, owner_phone = _phone(), _phone()
    squatter = login(app.test_client(), squatter_phone)
    bind(squatter, *ZHANG)
    owner = login(app.test_client(), owner_phone)
    staff = staff_session(app.test_client(), wired, Role.COUNTER_STAFF, COUNTER_PHONE, "窗口李四")
    url = "/api/v1/counter/identity-checks"
    request = {"phone": owner_phone, "name": ZHANG[0], "id_number": ZHANG[1],
               "evidence": {"id_document_checked": True, "consents_signed": True}}

    resident = squatter.client.post(url, headers=squatter.bearer, json=request)
    assert resident.status_code == 403
    unchecked = staff.client.post(url, headers=staff.bearer, json={
        **request, "evidence": {"id_document_checked": False, "consents_signed": True}})
    assert unchecked.status_code == 422 and unchecked.get_json()["code"] == "id_not_checked"

    done = staff.client.post(url, headers=staff.bearer, json=request)
    assert done.status_code == 200, done.get_json()
    answer = done.get_json()
    assert answer["verified_by"] == "counter" and answer["displaced"] is True
    assert answer["staff_name"] == "窗口李四"
    assert answer["id_number"] == "3****************0" and ZHANG[1] not in done.get_data(
        as_text=True)
    assert _me(owner)["identity"]["verified_by"] == "counter"
    assert _me(squatter)["identity"]["bound"] is False
    assert any("已解除绑定" in text for text in _texts(client, squatter_phone))
    assert any("柜台核验" in text for text in _texts(client, owner_phone))

    with wired.db.read() as session:
        account = session.scalars(select(UserAccount).where(
            UserAccount.phone_is(owner_phone))).one()
        assert account.binding_verified_by_staff_id == staff.me["account_id"]
        bound = session.scalars(select(AuditEvent).where(
            AuditEvent.action == "identity.bind", AuditEvent.outcome == "ok",
            AuditEvent.object_id == str(account.id))).one()
    assert bound.actor_account_id == staff.me["account_id"]
    assert bound.actor_role == "counter_staff"
    assert bound.details["verified_by"] == "counter"


def test_an_unknown_phone_at_the_counter_is_refused(
        app: Flask, client: FlaskClient,
        wired: Container) -> None:
    staff = staff_session(app.test_client(), wired, Role.COUNTER_STAFF, COUNTER_PHONE, "窗口李四")
    refused = staff.client.post("/api/v1/counter/identity-checks", headers=staff.bearer, json={
        "phone": _phone(), "name": ZHANG[0], "id_number": ZHANG[1],
        "evidence": {"id_document_checked": True, "consents_signed": True}})
    assert refused.status_code == 404 and refused.get_json()["code"] == "account_not_found"
