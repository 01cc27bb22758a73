"""POST /api/v1/admin/enrollments/bulk: an employer's CSV of employees, each row checked and
enrolled paid by the employer; failed rows reported by line with a Chinese reason; the same file
again enrolls nobody; the ledger books employer:<code> → premium income; refunds go back there."""

from __future__ import annotations

import uuid
from datetime import date

import pytest
from flask import Flask
from flask.testing import FlaskClient

from huiminbao.console.models import EmployerBatch
from huiminbao.core.container import Container
from huiminbao.enrollment.models import Order, Policy
from huiminbao.identity.domain import Role
from huiminbao.payments import ledger
from huiminbao.registry.port import Scheme

from .enrollment_helpers import PEOPLE, body, enroll, sign_in
from .helpers import Session, login
from .test_console_support import (
    add_registry_persons,
    admin,
    count,
    csv_bytes,
    demo_product_id,
    new_id_number,
    registry_person,
    staff_session,
    upload,
)

URL = "/api/v1/admin/enrollments/bulk"
HEADER = "id_number,name,tier"
EMPLOYER = {"employer_code": "91330100MA2ABCDE1X", "employer_name": "杭州示范科技有限公司"}
ACCOUNT = "employer:91330100MA2ABCDE1X"

ZHOU = registry_person("周一鸣", date(1990, 5, 1), 11)
WU = registry_person("吴二娟", date(1985, 8, 12), 22, scheme=Scheme.RESIDENT)
ZHENG = registry_person("郑三", date(1968, 2, 29), 33)  # NFC and leap-day births are fine
BAD_CHECKSUM = ZHOU.id_number[:17] + ("0" if ZHOU.id_number[17] != "0" else "1")


@pytest.fixture
def staff(client: FlaskClient, wired: Container) -> Session:
    add_registry_persons(wired, ZHOU, WU, ZHENG)
    return admin(client, wired)


def form(client: FlaskClient, **changes: object) -> dict[str, object]:
    return {**EMPLOYER, "product_id": demo_product_id(client), **changes}


def three_good_two_bad() -> bytes:
    return csv_bytes(HEADER, [
        f"{ZHOU.id_number},周一鸣,standard",
        f"{WU.id_number},吴二娟,升级版",  # a tier by its name
        f"{BAD_CHECKSUM},周一鸣,standard",
        f"{ZHENG.id_number},郑三,standard",
        f"{new_id_number(date(1999, 1, 1), 44)},查无此人,standard",
    ])


def ledger_balance(wired: Container, account: str) -> int:
    with wired.db.read() as session:
        return ledger.balance(session, account)


def test_three_good_rows_and_two_bad_rows(client: FlaskClient, wired: Container,
                                          staff: Session) -> None:
    response = upload(staff, URL, three_good_two_bad(), form(client))
    assert response.status_code == 201, response.get_json()
    report = response.get_json()
    assert report["counts"] == {"total": 5, "enrolled": 3, "already": 0, "failed": 2}
    assert report["replayed"] is False and report["status"] == "done"
    assert report["message"] == "共5行：3人参保成功，0人此前已由本单位投保，2行未通过"
    failed = [(row["line"], row["reason"]) for row in report["rows"]
              if row["outcome"] == "failed"]
    assert failed == [(4, "身份证号码校验位不正确，请核对后重新输入"),
                      (6, "未查询到该人员的基本医疗保险参保信息")]
    enrolled = [row for row in report["rows"] if row["outcome"] == "enrolled"]
    assert [row["line"] for row in enrolled] == [2, 3, 5]
    assert all(row["policy_no"] and row["outcome_label"] == "已参保" for row in enrolled)
    # Only masked personal data in the report.
    text = response.get_data(as_text=True)
    assert ZHOU.id_number not in text and "周一鸣" not in text
    assert enrolled[0]["name"] == "周*鸣" and enrolled[0]["id_number"].startswith("3*")

    assert count(wired, Policy) == 3
    assert count(wired, Order, Order.payment_method == "employer",
                 Order.channel == "employer") == 3
    premiums = 15000 + 29900 + 15000
    assert ledger_balance(wired, ACCOUNT) == -premiums
    assert ledger_balance(wired, ledger.premium_income(demo_product_id(client))) == premiums


def test_the_same_file_again_enrolls_nobody(client: FlaskClient, wired: Container,
                                             staff: Session) -> None:
    first = upload(staff, URL, three_good_two_bad(), form(client)).get_json()
    again = upload(staff, URL, three_good_two_bad(), form(client))
    assert again.status_code == 200
    report = again.get_json()
    assert report["replayed"] is True
    assert report["batch_no"] == first["batch_no"]
    assert "本次未重复投保" in report["message"]
    assert report["rows"] == first["rows"]
    assert count(wired, Policy) == 3
    assert count(wired, EmployerBatch) == 1
    assert ledger_balance(wired, ACCOUNT) == -(15000 + 29900 + 15000)


def test_a_new_file_reports_people_this_employer_already_insured(
    client: FlaskClient, wired: Container, staff: Session
) -> None:
    upload(staff, URL, three_good_two_bad(), form(client))
    extra = registry_person("冯四", date(1975, 3, 3), 55)
    add_registry_persons(wired, extra)
    response = upload(staff, URL, csv_bytes(HEADER, [
        f"{ZHOU.id_number},周一鸣,standard",
        f"{extra.id_number},冯四,standard",
        f"{WU.id_number},吴二娟,premium",
    ]), form(client))
    assert response.status_code == 201, response.get_json()
    rows = {row["line"]: row for row in response.get_json()["rows"]}
    assert rows[2]["outcome"] == "already"
    assert rows[2]["outcome_label"] == "已参保（本单位此前已投保）"
    assert rows[2]["reason"] is None and rows[2]["policy_no"]
    assert rows[3]["outcome"] == "enrolled"
    assert rows[4]["outcome"] == "already"
    assert response.get_json()["counts"] == {"total": 3, "enrolled": 1, "already": 2,
                                              "failed": 0}
    assert count(wired, Policy) == 4


def test_another_employer_cannot_insure_them_twice(client: FlaskClient, wired: Container,
                                                   staff: Session) -> None:
    upload(staff, URL, three_good_two_bad(), form(client))
    response = upload(staff, URL, csv_bytes(HEADER, [f"{ZHOU.id_number},周一鸣,standard"]),
                      form(client, employer_code="91330100MA2OTHER99", employer_name="另一单位"))
    row = response.get_json()["rows"][0]
    assert row["outcome"] == "failed"
    assert row["reason"] == "已参保（本人或家人此前已投保，非本单位投保），无需单位重复投保"
    assert count(wired, Policy) == 3


def test_every_row_check_has_its_chinese_reason(client: FlaskClient, wired: Container,
                                                staff: Session, app: Flask) -> None:
    zhang = sign_in(app.test_client(), "张伟")  # its own client: a login rotates the cookie
    assert enroll(zhang, "personal_account").status_code == 201
    response = upload(staff, URL, csv_bytes(HEADER, [
        f"{PEOPLE['赵敏'][1]},赵敏,standard",
        f"{PEOPLE['吴芳'][1]},吴芳,standard",
        f"{ZHOU.id_number},周一鸣,gold",
        f"{ZHOU.id_number},周一鸣,standard",
        f"{ZHOU.id_number},周一鸣,standard",
        f"{WU.id_number},,standard",
        f"{WU.id_number},吴二娟",
        f"{PEOPLE['张伟'][1]},张伟,standard",
        f"{ZHENG.id_number},郑 三,standard",
        ",,",
    ]), form(client))
    assert response.status_code == 201, response.get_json()
    reasons = {row["line"]: row["reason"] for row in response.get_json()["rows"]}
    assert reasons == {
        2: "基本医疗保险处于暂停（中断）状态，恢复正常参保后方可参保",
        3: "基本医疗保险参保地不在杭州市，不能参加本产品",
        4: "保障档次“gold”不存在，可选：standard（标准版）、premium（升级版）",
        5: None,
        6: "与第5行的身份证号码重复",
        7: "姓名为空",
        8: "应有3列（id_number,name,tier），实际为2列",
        9: "已参保（本人或家人此前已投保，非本单位投保），无需单位重复投保",
        10: "姓名与医保登记信息不一致",
    }  # line 11 (",,") is blank: not a row
    assert count(wired, Policy) == 2  # 张伟's own, and line 5


@pytest.mark.parametrize(("data", "changes", "field", "message"), [
    (b"id,name\n1,2\n", {}, "file", "第1行表头应为：id_number,name,tier"),
    (b"id_number,name,tier\n", {}, "file", "文件中没有数据行"),
    (None, {"employer_code": "!"}, "employer_code",
     "单位代码应为4至32位字母、数字或连字符（如统一社会信用代码）"),
    (None, {"employer_name": "A"}, "employer_name", "单位名称应为2至100个字"),
    (None, {"product_id": 999}, "product_id", "未找到已发布的该产品"),
])
def test_refusals_of_the_upload_write_nothing(
    client: FlaskClient, wired: Container, staff: Session, data: bytes | None,
    changes: dict[str, object], field: str, message: str
) -> None:
    response = upload(staff, URL, data or three_good_two_bad(), form(client, **changes))
    assert response.status_code == 422, response.get_json()
    assert response.get_json()["errors"][field] == [message]
    assert count(wired, EmployerBatch) == 0 and count(wired, Order) == 0


def test_form_fields_and_file_are_required_in_chinese(client: FlaskClient,
                                                      staff: Session) -> None:
    response = client.post(URL, data={}, content_type="multipart/form-data",
                           headers={**staff.bearer, "Idempotency-Key": uuid.uuid4().hex})
    assert response.status_code == 422
    errors = response.get_json()["errors"]
    assert errors["employer_code"] == ["此项为必填项"]
    no_file = client.post(URL, data={k: str(v) for k, v in form(client).items()},
                          content_type="multipart/form-data",
                          headers={**staff.bearer, "Idempotency-Key": uuid.uuid4().hex})
    assert no_file.status_code == 422
    assert no_file.get_json()["errors"]["file"] == ["此项为必填项"]


def test_the_idempotency_key_covers_the_file(client: FlaskClient, wired: Container,
                                             staff: Session) -> None:
    first = upload(staff, URL, three_good_two_bad(), form(client), key="bulk-key-0001")
    replay = upload(staff, URL, three_good_two_bad(), form(client), key="bulk-key-0001")
    assert replay.headers["Idempotency-Replayed"] == "true"
    assert replay.get_json() == first.get_json()
    other = upload(staff, URL, csv_bytes(HEADER, [f"{ZHOU.id_number},周一鸣,standard"]),
                   form(client), key="bulk-key-0001")
    assert other.status_code == 409
    assert other.get_json()["code"] == "idempotency_key_reused"
    missing = client.post(URL, data={}, content_type="multipart/form-data",
                          headers=staff.bearer)
    assert missing.status_code == 422
    assert count(wired, Policy) == 3


def test_only_administrators_upload(client: FlaskClient, wired: Container) -> None:
    add_registry_persons(wired, ZHOU)
    anonymous = Session(client, "", "", {})
    response = upload(anonymous, URL, three_good_two_bad(), form(client))
    assert response.status_code == 401
    resident = login(client, PEOPLE["张伟"][0])
    assert upload(resident, URL, three_good_two_bad(), form(client)).status_code == 403
    assert client.get(f"{URL}/PL1", headers=resident.bearer).status_code == 403
    insurer = staff_session(client, wired, Role.INSURER_STAFF, "13600000002")
    assert upload(insurer, URL, three_good_two_bad(), form(client)).status_code == 403
    counter = staff_session(client, wired, Role.COUNTER_STAFF, "13600000003")
    assert upload(counter, URL, three_good_two_bad(), form(client)).status_code == 403
    assert count(wired, EmployerBatch) == 0


def test_an_earlier_report_can_be_read_again(client: FlaskClient, staff: Session) -> None:
    first = upload(staff, URL, three_good_two_bad(), form(client)).get_json()
    again = client.get(f"{URL}/{first['batch_no']}", headers=staff.bearer)
    assert again.status_code == 200
    assert again.get_json()["rows"] == first["rows"]
    assert client.get(f"{URL}/PL000", headers=staff.bearer).status_code == 404


def test_a_cancelled_employer_policy_refunds_the_employer(client: FlaskClient,
                                                          wired: Container,
                                                          staff: Session) -> None:
    li_na = PEOPLE["李娜"][1]
    response = upload(staff, URL, csv_bytes(HEADER, [f"{li_na},李娜,standard"]), form(client))
    policy_no = response.get_json()["rows"][0]["policy_no"]
    assert ledger_balance(wired, ACCOUNT) == -15000
    li = sign_in(client, "李娜")
    cancelled = client.post(f"/api/v1/policies/{policy_no}/cancel",
                            headers={**li.bearer, "Idempotency-Key": uuid.uuid4().hex})
    assert cancelled.status_code == 200, cancelled.get_json()
    assert cancelled.get_json()["refund"]["status"] == "succeeded"
    assert ledger_balance(wired, ACCOUNT) == 0
    assert ledger_balance(wired, ledger.premium_income(demo_product_id(client))) == 0


@pytest.mark.parametrize("method", ["employer", "counter_cash"])
def test_residents_cannot_choose_staff_recorded_payments(client: FlaskClient, wired: Container,
                                                         method: str) -> None:
    zhang = sign_in(client, "张伟")
    for path in ("/api/v1/enrollments/preview", "/api/v1/enrollments"):
        response = client.post(path, json=body(client, method),
                               headers={**zhang.bearer, "Idempotency-Key": uuid.uuid4().hex})
        assert response.status_code == 422
        assert response.get_json()["code"] == "offline_method"
        assert response.get_json()["errors"]["payment_method"] == [
            "单位缴费和窗口现金缴费只能由单位经办或经办窗口工作人员办理，请选择其他支付方式"]
    assert count(wired, Order) == 0


@pytest.mark.parametrize(("path", "fields"), [
    ("/api/v1/admin/enrollments/bulk", {"employer_code", "employer_name", "product_id", "file"}),
    ("/api/v1/admin/subsidy-roster", {"product_id", "file"}),
    ("/api/v1/claims/{claim_no}/documents", {"file"}),
])
def test_the_openapi_documents_every_field_of_the_uploads(
    client: FlaskClient, path: str, fields: set[str],
) -> None:
    spec = client.get("/api/openapi.json").get_json()
    body = spec["paths"][path]["post"]["requestBody"]["content"]["multipart/form-data"]
    name = body["schema"]["$ref"].rsplit("/", 1)[1]
    schema = spec["components"]["schemas"][name]
    assert set(schema["properties"]) == fields
    assert set(schema["required"]) == fields
    assert schema["properties"]["file"] == {**schema["properties"]["file"],
                                            "type": "string", "format": "binary"}
