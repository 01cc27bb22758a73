"""Subsidy funds by payer (003 三(三)3, 002 三(三)): the paying bodies of a city, a roster that
names them, the online payer rule, refunds back to the payer's fund, 择一 (another policy-based
poverty-relief insurance) refused by the roster and the online quote, a donor's list with its
per-person receipt, and reconcile staying clean."""

from __future__ import annotations

import csv
import io
import uuid
from dataclasses import replace
from datetime import date
from typing import Any

import pytest
from flask.testing import FlaskClient

from huiminbao.console.models import SubsidyRosterImport
from huiminbao.core.container import Container
from huiminbao.enrollment import reconcile
from huiminbao.enrollment.models import SubsidyUse
from huiminbao.payments import ledger
from huiminbao.registry.port import Assistance, Scheme

from .enrollment_helpers import PEOPLE, body, sign_in
from .helpers import Session, login_bound
from .test_console_support import (
    add_registry_persons,
    admin,
    count,
    csv_bytes,
    demo_product_id,
    registry_person,
    upload,
)

PAYERS = "/api/v1/admin/subsidy-payers"
ROSTER = "/api/v1/admin/subsidy-roster"
CITY = "330100"
XIHU = "330106"
# Residents of 西湖区 (330106) in the registry, each in an assistance group.
XIHU_TEKUN = replace(registry_person("钱西湖", date(1952, 3, 4), 63, scheme=Scheme.RESIDENT,
                                     assistance=Assistance.TEKUN), district_code=XIHU)
XIHU_DIBIAN = replace(registry_person("孔西湖", date(1960, 5, 6), 64, scheme=Scheme.RESIDENT,
                                      assistance=Assistance.DIBIAN), district_code=XIHU)
# A 拱墅区 resident on the same list: 西湖区 may not pay for them.
GONGSHU_DIBAO = replace(registry_person("曹拱墅", date(1958, 7, 8), 65, scheme=Scheme.RESIDENT,
                                        assistance=Assistance.DIBAO),
                        district_code="330105")
# Holds another policy-based poverty-relief insurance (择一).
OTHER_RELIEF = replace(registry_person("严择一", date(1948, 9, 10), 66, scheme=Scheme.RESIDENT,
                                       assistance=Assistance.DIBAO),
                       district_code=XIHU, other_relief_insurance=True)
QIAN_GUILAN = ("13800000012", "钱桂兰", "330106195103082129")  # demo: flagged, 特困


def new_payer(staff: Session, **fields: Any):  # type: ignore[no-untyped-def]
    return staff.client.post(PAYERS, json={"city_code": CITY, **fields}, headers=staff.bearer)


@pytest.fixture
def staff(client: FlaskClient, wired: Container) -> Session:
    add_registry_persons(wired, XIHU_TEKUN, XIHU_DIBIAN, GONGSHU_DIBAO, OTHER_RELIEF)
    session = admin(client, wired)
    for fields in ({"code": "hangzhou", "name": "杭州市财政局", "kind": "city"},
                   {"code": "xihu", "name": "西湖区财政局", "kind": "district",
                    "district_code": XIHU, "categories": ["tekun", "dibao", "dibian"]},
                   {"code": "yuhang", "name": "余杭区财政局", "kind": "district",
                    "district_code": "330110", "categories": ["dibao"]},
                   {"code": "cishan", "name": "杭州市慈善总会", "kind": "charity"}):
        created = new_payer(session, **fields)
        assert created.status_code == 201, created.get_json()
    return session


def fund(wired: Container, code: str | None = None) -> int:
    with wired.db.read() as session:
        return ledger.balance(session, ledger.subsidy_fund(CITY, code))


def assert_reconciles(wired: Container) -> None:
    report = reconcile.reconcile(wired, record=False)
    assert report.ok, report.violations


# ---------------------------------------------------------------- the registry of payers


def test_payers_are_listed_with_their_fund_accounts(staff: Session) -> None:
    listed = staff.client.get(f"{PAYERS}?city_code={CITY}", headers=staff.bearer)
    assert listed.status_code == 200, listed.get_json()
    payers = {payer["code"]: payer for payer in listed.get_json()["payers"]}
    assert payers["hangzhou"]["fund_account"] == "subsidy_fund:330100"
    assert payers["xihu"]["fund_account"] == "subsidy_fund:330100:xihu"
    assert payers["xihu"]["kind_label"] == "区县财政"
    assert payers["xihu"]["categories"] == ["tekun", "dibao", "dibian"]
    assert payers["cishan"]["paid_fen"] == 0


@pytest.mark.parametrize(("fields", "field", "message"), [
    ({"code": "X", "name": "某区", "kind": "district"}, "code",
     "出资方代码应为2至32位小写字母、数字、下划线或连字符，如 xihu"),
    ({"code": "gongshu", "name": "拱墅区财政局", "kind": "district", "categories": ["dibao"]},
     "district_code", "区县财政须填写6位区县代码，如 330106"),
    ({"code": "gongshu", "name": "拱墅区财政局", "kind": "district",
      "district_code": "310105", "categories": ["dibao"]},
     "district_code", "区县代码应属于该城市（前4位与城市代码相同）"),
    ({"code": "gongshu", "name": "拱墅区财政局", "kind": "district",
      "district_code": "330105"}, "categories", "请选择该区县资助的困难人员类别"),
    ({"code": "gongshu", "name": "拱墅区", "kind": "province"}, "kind",
     "出资方类型只能是 city（市级财政）、district（区县财政）或 charity（慈善捐赠）"),
    ({"code": "xihu", "name": "重复", "kind": "charity"}, "code", "该城市已有相同代码的出资方"),
    ({"code": "city2", "name": "又一个市财政", "kind": "city"}, "kind",
     "该城市已登记市级财政出资方，每个城市只有一个"),
    ({"code": "xihu2", "name": "西湖区民政局", "kind": "district", "district_code": XIHU,
      "categories": ["dibao"]}, "district_code", "该区县已登记出资方"),
])
def test_a_payer_is_validated_in_chinese(staff: Session, fields: dict[str, Any], field: str,
                                         message: str) -> None:
    response = new_payer(staff, **fields)
    assert response.status_code == 422, response.get_json()
    assert message in str(response.get_json()["errors"][field])


def test_a_payer_is_renamed_and_deactivated_never_deleted(staff: Session,
                                                          client: FlaskClient) -> None:
    payers = staff.client.get(f"{PAYERS}?city_code={CITY}", headers=staff.bearer).get_json()
    cishan = next(p for p in payers["payers"] if p["code"] == "cishan")
    changed = staff.client.put(f"{PAYERS}/{cishan['id']}", headers=staff.bearer,
                               json={"name": "杭州市慈善总会（捐赠）", "active": False})
    assert changed.status_code == 200, changed.get_json()
    assert (changed.get_json()["name"], changed.get_json()["active"]) == (
        "杭州市慈善总会（捐赠）", False)
    missing = staff.client.put(f"{PAYERS}/999999", headers=staff.bearer, json={"active": True})
    assert missing.status_code == 404


# ---------------------------------------------------------------- rosters naming payers


def test_a_roster_books_each_subsidy_to_the_payer_it_names(client: FlaskClient,
                                                           wired: Container,
                                                           staff: Session) -> None:
    response = upload(staff, ROSTER, csv_bytes("id_number,name,category,payer", [
        f"{XIHU_TEKUN.id_number},钱西湖,特困,xihu",
        f"{XIHU_DIBIAN.id_number},孔西湖,低边,",  # by the rule: 西湖区 pays 低边
        f"{GONGSHU_DIBAO.id_number},曹拱墅,低保,西湖区财政局",  # not a 西湖区 resident
        f"{PEOPLE['孙丽'][1]},孙丽,低保,杭州市慈善总会",
    ]), {"product_id": demo_product_id(client)})
    assert response.status_code == 201, response.get_json()
    rows = {row["line"]: row for row in response.get_json()["rows"]}
    assert [rows[line]["outcome"] for line in (2, 3, 4, 5)] == [
        "enrolled", "enrolled", "failed", "enrolled"]
    assert [rows[line]["payer"] for line in (2, 3, 5)] == ["xihu", "xihu", "cishan"]
    assert rows[4]["reason"].startswith("该人员医保参保地不在西湖区财政局的辖区")
    assert fund(wired, "xihu") == -2 * 15000
    assert fund(wired, "cishan") == -15000
    assert fund(wired) == 0
    assert_reconciles(wired)


def test_an_unknown_payer_refuses_the_whole_file(client: FlaskClient, wired: Container,
                                                 staff: Session) -> None:
    response = upload(staff, ROSTER, csv_bytes("id_number,name,category,payer", [
        f"{XIHU_TEKUN.id_number},钱西湖,特困,xihu",
        f"{XIHU_DIBIAN.id_number},孔西湖,低边,gongshu",
    ]), {"product_id": demo_product_id(client)})
    assert response.status_code == 422, response.get_json()
    answer = response.get_json()
    assert answer["code"] == "unknown_payer"
    assert answer["message"] == "名单中有未登记或已停用的出资方，整份名单未导入，请更正后重新上传"
    assert answer["errors"]["file"] == [
        "第3行：出资方“gongshu”未登记，请先在“资助出资方”中登记，或填写已登记出资方的代码或名称"]
    assert count(wired, SubsidyRosterImport) == 0
    assert count(wired, SubsidyUse) == 0


# ---------------------------------------------------------------- 择一


def test_the_roster_refuses_a_person_with_another_poverty_relief_insurance(
        client: FlaskClient, wired: Container, staff: Session) -> None:
    response = upload(staff, ROSTER, csv_bytes("id_number,name,category", [
        f"{OTHER_RELIEF.id_number},严择一,低保"]), {"product_id": demo_product_id(client)})
    assert response.status_code == 201, response.get_json()
    row = response.get_json()["rows"][0]
    assert row["outcome"] == "failed"
    assert row["reason"].startswith("该人员已参加其他政策性扶贫类商业补充医疗保险。按规定，"
                                    "困难人员只能在本保险和其他政策性扶贫类商业补充医疗保险中择一投保")
    assert count(wired, SubsidyUse) == 0


def test_the_online_quote_refuses_a_person_with_another_poverty_relief_insurance(
        client: FlaskClient, wired: Container) -> None:
    qian = login_bound(client, *QIAN_GUILAN)
    response = client.post("/api/v1/enrollments/preview", headers=qian.bearer,
                           json=body(client, "subsidy"))
    assert response.status_code in (409, 422), response.get_json()
    answer = response.get_json()
    assert answer["code"] == "other_relief_insurance"
    assert answer["message"].startswith("您已参加其他政策性扶贫类商业补充医疗保险")
    assert "政府不重复资助" in answer["message"]


# ---------------------------------------------------------------- online: the payer rule


def test_online_the_district_pays_and_a_refund_goes_back_to_it(
        client: FlaskClient, wired: Container, staff: Session) -> None:
    sun = sign_in(client, "孙丽")  # 余杭区 (330110), 低保: 余杭区 pays 低保
    response = client.post("/api/v1/enrollments", json=body(client, "subsidy"),
                           headers={**sun.bearer, "Idempotency-Key": uuid.uuid4().hex})
    assert response.status_code == 201, response.get_json()
    assert fund(wired, "yuhang") == -15000
    assert fund(wired) == 0
    assert_reconciles(wired)

    policy_no = response.get_json()["policies"][0]["policy_no"]
    cancelled = client.post(f"/api/v1/policies/{policy_no}/cancel",
                            headers={**sun.bearer, "Idempotency-Key": uuid.uuid4().hex})
    assert cancelled.status_code == 200, cancelled.get_json()
    assert fund(wired, "yuhang") == 0
    assert fund(wired) == 0
    assert_reconciles(wired)


# ---------------------------------------------------------------- a donor's list


def _receipt_csv(staff: Session, import_no: str) -> list[list[str]]:
    response = staff.client.get(f"{ROSTER}/{import_no}/receipt?format=csv",
                                headers=staff.bearer)
    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("text/csv")
    return list(csv.reader(io.StringIO(response.get_data().decode("utf-8-sig"))))


def test_a_donor_funds_the_people_it_names_with_a_receipt_per_person(
        client: FlaskClient, wired: Container, staff: Session) -> None:
    payers = staff.client.get(f"{PAYERS}?city_code={CITY}", headers=staff.bearer).get_json()
    ids = {payer["code"]: payer["id"] for payer in payers["payers"]}
    url = f"{PAYERS}/{ids['cishan']}/fundings"
    names = csv_bytes("id_number,name", [f"{XIHU_TEKUN.id_number},钱西湖",
                                          f"{PEOPLE['张伟'][1]},张伟"])
    key = uuid.uuid4().hex
    response = upload(staff, url, names, {"product_id": demo_product_id(client)}, key=key)
    assert response.status_code == 201, response.get_json()
    report = response.get_json()
    assert report["donor"] == "cishan"
    rows = {row["line"]: row for row in report["rows"]}
    assert (rows[2]["outcome"], rows[2]["payer"], rows[2]["subsidy_fen"]) == (
        "enrolled", "cishan", 15000)
    assert rows[3]["outcome"] == "failed"  # 张伟 is in no assistance group
    assert fund(wired, "cishan") == -15000 and fund(wired, "xihu") == 0

    again = upload(staff, url, names, {"product_id": demo_product_id(client)}, key=key)
    assert again.get_json()["import_no"] == report["import_no"]  # replayed, not twice
    assert count(wired, SubsidyRosterImport) == 1

    receipt = staff.client.get(f"{ROSTER}/{report['import_no']}/receipt",
                               headers=staff.bearer).get_json()
    assert receipt["donor_name"] == "杭州市慈善总会" and receipt["total_fen"] == 15000
    assert [(line["name"], line["payer_name"], line["subsidy_fen"])
            for line in receipt["lines"]] == [("钱*湖", "杭州市慈善总会", 15000),
                                              ("张*", None, 0)]
    lines = _receipt_csv(staff, report["import_no"])
    assert ["捐赠方", "杭州市慈善总会"] in lines
    assert lines[-1] == ["合计", "", "", "", "", "", "", "150.00"]
    assert "钱西湖" not in str(lines)
    assert_reconciles(wired)


def test_only_a_charity_funds_a_list(client: FlaskClient, staff: Session) -> None:
    payers = staff.client.get(f"{PAYERS}?city_code={CITY}", headers=staff.bearer).get_json()
    xihu = next(p["id"] for p in payers["payers"] if p["code"] == "xihu")
    response = upload(staff, f"{PAYERS}/{xihu}/fundings",
                      csv_bytes("id_number,name", [f"{XIHU_TEKUN.id_number},钱西湖"]),
                      {"product_id": demo_product_id(client)})
    assert response.status_code == 422
    assert response.get_json()["code"] == "not_a_donor"
