"""POST /api/v1/admin/subsidy-roster: the year's assistance list is imported and the persons on
it enrolled with the subsidy fund, one subsidy per person per year."""

from __future__ import annotations

from datetime import date

import pytest
from flask.testing import FlaskClient
from sqlalchemy import select

from huiminbao.console.models import SubsidyRosterImport, SubsidyRosterRow
from huiminbao.core.container import Container
from huiminbao.enrollment.models import Order, Policy, SubsidyUse
from huiminbao.payments import ledger
from huiminbao.registry.port import Assistance, Scheme

from .enrollment_helpers import PEOPLE
from .helpers import Session, login
from .test_console_support import (
    add_registry_persons,
    admin,
    count,
    csv_bytes,
    demo_product_id,
    registry_person,
    upload,
)

URL = "/api/v1/admin/subsidy-roster"
HEADER = "id_number,name,category"
TEKUN = registry_person("钱特困", date(1950, 1, 2), 61, scheme=Scheme.RESIDENT,
                        assistance=Assistance.TEKUN)
DISABLED = registry_person("沈残", date(1980, 4, 5), 71, scheme=Scheme.RESIDENT,
                           assistance=Assistance.DISABLED)
NOT_LISTED = registry_person("韩普通", date(1970, 7, 7), 81, scheme=Scheme.RESIDENT)


@pytest.fixture
def staff(client: FlaskClient, wired: Container) -> Session:
    add_registry_persons(wired, TEKUN, DISABLED, NOT_LISTED)
    return admin(client, wired)


def roster() -> bytes:
    return csv_bytes(HEADER, [
        f"{PEOPLE['孙丽'][1]},孙丽,低保",
        f"{TEKUN.id_number},钱特困,tekun",
        f"{DISABLED.id_number},沈残,残疾人员",
        f"{NOT_LISTED.id_number},韩普通,dibian",
        f"{TEKUN.id_number[:17]}0,钱特困,tekun",
        f"{PEOPLE['张伟'][1]},张伟,富裕",
    ])


def test_the_roster_is_enrolled_with_the_subsidy_fund(client: FlaskClient, wired: Container,
                                                      staff: Session) -> None:
    response = upload(staff, URL, roster(), {"product_id": demo_product_id(client)})
    assert response.status_code == 201, response.get_json()
    report = response.get_json()
    assert report["counts"] == {"total": 6, "enrolled": 3, "skipped": 0, "failed": 3}
    assert report["year"] == 2027
    rows = {row["line"]: row for row in report["rows"]}
    assert [rows[line]["outcome"] for line in (2, 3, 4)] == ["enrolled"] * 3
    assert rows[2]["category_label"] == "低保对象" and rows[3]["category"] == "tekun"
    assert rows[5]["reason"] == (
        "医保登记信息中该人员不属于资助参保对象（特困、低保、低边、残疾人员），"
        "请与医保、民政部门核实后再办理")
    assert rows[6]["reason"] == "身份证号码校验位不正确，请核对后重新输入"
    assert rows[7]["reason"] == ("资助类别“富裕”无法识别，应为tekun（特困）、dibao（低保）、"
                                 "dibian（低边）或 disabled（残疾人员）")
    assert "钱特困" not in response.get_data(as_text=True)

    assert count(wired, SubsidyUse, SubsidyUse.active) == 3
    assert count(wired, Order, Order.payment_method == "subsidy", Order.channel == "subsidy",
                 Order.payable_fen == 0) == 3
    with wired.db.read() as session:
        assert ledger.balance(session, ledger.subsidy_fund("330100")) == -3 * 15000
        tiers = set(session.scalars(select(Policy.tier_code)))
    assert tiers == {"standard"}


def test_importing_again_subsidizes_nobody_twice(client: FlaskClient, wired: Container,
                                                 staff: Session) -> None:
    upload(staff, URL, roster(), {"product_id": demo_product_id(client)})
    again = upload(staff, URL, roster(), {"product_id": demo_product_id(client)})
    assert again.status_code == 201
    rows = {row["line"]: row for row in again.get_json()["rows"]}
    assert [rows[line]["outcome"] for line in (2, 3, 4)] == ["skipped"] * 3
    assert rows[2]["reason"] == "已参保（已有本年度有效保单），无需重复参保"
    assert rows[2]["outcome_label"] == "已跳过"
    assert count(wired, SubsidyUse, SubsidyUse.active) == 3
    assert count(wired, Policy) == 3
    assert count(wired, SubsidyRosterImport) == 2


def test_refusals_of_the_file_write_nothing(client: FlaskClient, wired: Container,
                                            staff: Session) -> None:
    response = upload(staff, URL, b"id_number,name,tier\n1,2,3\n",
                      {"product_id": demo_product_id(client)})
    assert response.status_code == 422
    assert response.get_json()["errors"]["file"] == [
        "第1行表头应为：id_number,name,category,payer（payer列可省略）"]
    assert count(wired, SubsidyRosterImport) == 0 and count(wired, SubsidyRosterRow) == 0
    missing = upload(staff, URL, roster(), {})
    assert missing.get_json()["errors"]["product_id"] == ["此项为必填项"]


def test_residents_are_refused(client: FlaskClient, wired: Container) -> None:
    resident = login(client, PEOPLE["孙丽"][0])
    response = upload(resident, URL, roster(), {"product_id": demo_product_id(client)})
    assert response.status_code == 403
    assert count(wired, Order) == 0
