"""POST /api/v1/counter/enrollments: counter staff enroll a walk-in resident — 王秀英, with no
phone, paying cash — recorded as channel "counter" with the staff member in the audit log."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from huiminbao.audit.models import AuditEvent
from huiminbao.console.models import CounterEnrollment
from huiminbao.core.clock import MovableClock
from huiminbao.core.container import Container
from huiminbao.enrollment.models import Order, Policy
from huiminbao.identity.domain import Role
from huiminbao.identity.models import Person
from huiminbao.payments import ledger

from .enrollment_helpers import PEOPLE
from .helpers import Session, login
from .test_console_support import COUNTER_PHONE, count, staff_session

URL = "/api/v1/counter/enrollments"
WANG = ("王秀英", "33010219430618052X")


@pytest.fixture
def counter(client: FlaskClient, wired: Container) -> Session:
    return staff_session(client, wired, Role.COUNTER_STAFF, COUNTER_PHONE, "窗口王小二")


def walk_in(**changes: Any) -> dict[str, Any]:
    return {"id_number": WANG[1], "name": WANG[0], "tier": "standard", "payment": "counter_cash",
            "evidence": {"id_document_checked": True, "receipt_no": "XJ20261122-0001"},
            **changes}


def post(session: Session, body: dict[str, Any], key: str | None = None):  # type: ignore[no-untyped-def]
    return session.client.post(URL, json=body, headers={
        **session.bearer, "Idempotency-Key": key or uuid.uuid4().hex})


def test_counter_staff_enroll_wang_xiuying_for_cash(client: FlaskClient, wired: Container,
                                                    counter: Session) -> None:
    response = post(counter, walk_in(), key="counter-wang-0001")
    assert response.status_code == 201, response.get_json()
    answer = response.get_json()
    assert answer["channel"] == "counter" and answer["channel_label"] == "窗口办理"
    assert answer["payment"] == "counter_cash" and answer["payment_label"] == "窗口现金缴费"
    assert answer["insured_name"] == "王*英"
    assert answer["id_number"] == "3****************X"
    assert (answer["premium_fen"], answer["subsidy_fen"], answer["paid_fen"]) == (15000, 0, 15000)
    assert answer["receipt_no"] == "XJ20261122-0001" and answer["staff_name"] == "窗口王小二"
    assert WANG[1] not in response.get_data(as_text=True)

    with wired.db.read() as session:
        person = session.scalars(select(Person).where(Person.id_number_is(WANG[1]))).one()
        order = session.scalars(select(Order).where(Order.order_no == answer["order_no"])).one()
        policy = session.scalars(select(Policy).where(
            Policy.policy_no == answer["policy_no"])).one()
        assert (order.channel, order.payment_method, order.status) == (
            "counter", "counter_cash", "issued")
        assert order.buyer_account_id == counter.me["account_id"]
        assert policy.insured_person_id == person.id == policy.holder_person_id
        assert ledger.balance(session, "counter_cash:330100") == -15000
        event = session.scalars(select(AuditEvent).where(
            AuditEvent.action == "counter.enroll")).one()
        assert event.actor_account_id == counter.me["account_id"]
        assert event.actor_role == "counter_staff"
        assert event.subject_person_id == person.id
        assert event.details["receipt_no"] == "XJ20261122-0001"
        assert event.details["id_number"] == "3****************X"
        record = session.scalars(select(CounterEnrollment)).one()
        assert record.staff_account_id == counter.me["account_id"]
        assert record.id_document_checked is True

    replay = post(counter, walk_in(), key="counter-wang-0001")
    assert replay.headers["Idempotency-Replayed"] == "true"
    assert replay.get_json() == answer
    again = post(counter, walk_in())
    assert again.status_code == 422
    assert again.get_json()["code"] == "already_insured"
    assert count(wired, Policy) == 1


def test_a_subsidized_walk_in_pays_nothing(client: FlaskClient, wired: Container,
                                           counter: Session) -> None:
    response = post(counter, walk_in(id_number=PEOPLE["孙丽"][1], name="孙丽", payment="subsidy",
                                     evidence={"id_document_checked": True}))
    assert response.status_code == 201, response.get_json()
    assert (response.get_json()["subsidy_fen"], response.get_json()["paid_fen"]) == (15000, 0)
    cash = post(counter, walk_in(id_number=PEOPLE["孙丽"][1], name="孙丽"))
    assert cash.status_code == 422  # already insured, and never charged twice
    assert count(wired, Order, Order.payment_method == "counter_cash") == 0


@pytest.mark.parametrize(("changes", "field", "message"), [
    ({"id_number": "33010219430618052Y"}, "id_number",
     "身份证号码格式不正确：前17位应为数字，最后一位为数字或X"),
    ({"id_number": "330102194306180521"}, "id_number", "身份证号码校验位不正确，请核对后重新输入"),
    ({"name": " "}, "name", "请填写姓名"),
    ({"evidence": {"id_document_checked": False, "receipt_no": "X1"}},
     "evidence.id_document_checked", "请先核验本人有效身份证件原件，并勾选确认"),
    ({"evidence": {"id_document_checked": True}}, "evidence.receipt_no", "现金缴费请填写收据编号"),
    ({"tier": "gold"}, "tier", "保障档次不存在，可选：standard（标准版）、premium（升级版）"),
    ({"payment": "online"}, "payment", "窗口只能办理现金缴费（counter_cash）或政府资助（subsidy）"),
])
def test_refusals_in_chinese_write_nothing(wired: Container, counter: Session,
                                           changes: dict[str, Any], field: str,
                                           message: str) -> None:
    response = post(counter, walk_in(**changes))
    assert response.status_code == 422, response.get_json()
    assert response.get_json()["errors"][field] == [message]
    assert count(wired, Order) == 0 and count(wired, CounterEnrollment) == 0


def test_a_name_that_does_not_match_gets_the_neutral_answer(wired: Container,
                                                            counter: Session) -> None:
    response = post(counter, walk_in(name="王秀"))
    assert response.status_code == 422
    assert response.get_json()["message"] == "身份信息核验未通过，请核对姓名和身份证号码后重试"
    assert count(wired, Order) == 0


def test_only_counter_staff_and_administrators(app: Flask, wired: Container) -> None:
    anonymous = app.test_client().post(URL, json=walk_in(),
                                       headers={"Idempotency-Key": uuid.uuid4().hex})
    assert anonymous.status_code == 401
    resident = login(app.test_client(), PEOPLE["张伟"][0])
    assert post(resident, walk_in()).status_code == 403
    insurer = staff_session(app.test_client(), wired, Role.INSURER_STAFF, "13600000002")
    assert post(insurer, walk_in()).status_code == 403
    assert count(wired, Order) == 0
    administrator = staff_session(app.test_client(), wired, Role.ADMIN, "13600000001")
    assert post(administrator, walk_in()).status_code == 201


def test_a_counter_enrollment_interrupted_before_its_payment_was_booked_can_be_done_again(
        wired: Container, counter: Session, clock: MovableClock,
        monkeypatch: pytest.MonkeyPatch) -> None:
    """The process died after writing the order, before booking the cash: nothing
    was booked, so once the key's lease has ended the same request releases that order and
    enrolls the person, with the cash booked once."""
    from datetime import timedelta

    from huiminbao.enrollment import completing

    def die(*_args: Any, **_kwargs: Any) -> Any:
        raise RuntimeError("process died before the payment was booked")

    key = f"counter-{uuid.uuid4().hex}"
    with monkeypatch.context() as patch:
        patch.setattr(completing, "complete_payment", die)
        assert post(counter, walk_in(), key=key).status_code == 500
    clock.advance(timedelta(seconds=wired.settings.idempotency_lease_seconds + 1))
    again = post(counter, walk_in(), key=key)
    assert again.status_code == 201, again.get_json()
    with wired.db.read() as session:
        statuses = sorted(session.scalars(select(Order.status).join(
            Person, Person.id == Order.buyer_person_id).where(Person.id_number_is(WANG[1]))))
        booked = ledger.balance(session, "counter_cash:330100")
    assert statuses == ["cancelled", "issued"]
    assert booked == -15000  # the cash, booked once
