"""Each level of government pays for its own subsidized residents (003 三(三)3), on
PostgreSQL: after a roster (payers by the rule and by name), online subsidized enrollments and a
refund, a district's fund account equals the subsidies of its residents, the city's those of
everyone else, and ``reconcile`` finds nothing to report."""

from __future__ import annotations

import uuid
from dataclasses import replace
from datetime import date

import pytest
from flask import Flask

from huiminbao.core.container import Container
from huiminbao.enrollment.reconcile import reconcile
from huiminbao.payments import ledger
from huiminbao.registry.port import Assistance, RegistryPerson, Scheme
from tests.api.enrollment_helpers import body, sign_in
from tests.api.test_console_support import (
    add_registry_persons,
    admin,
    csv_bytes,
    demo_product_id,
    registry_person,
    upload,
)

pytestmark = pytest.mark.postgres

CITY = "330100"
GROUPS = (Assistance.TEKUN, Assistance.DIBAO, Assistance.DIBIAN, Assistance.DISABLED)


def resident(name: str, sequence: int, district: str | None,
             group: Assistance) -> RegistryPerson:
    return replace(registry_person(name, date(1950 + sequence % 40, 1 + sequence % 12, 3),
                                   sequence, scheme=Scheme.RESIDENT, assistance=group),
                   district_code=district)


def test_a_districts_fund_equals_the_subsidies_of_its_residents(pg_app: Flask,
                                                                pg_wired: Container) -> None:
    client = pg_app.test_client()
    staff = admin(client, pg_wired)
    for fields in ({"code": "xihu", "name": "西湖区财政局", "kind": "district",
                    "district_code": "330106", "categories": [g.value for g in GROUPS]},
                   {"code": "gongshu", "name": "拱墅区财政局", "kind": "district",
                    "district_code": "330105", "categories": ["dibao", "dibian"]},
                   {"code": "cishan", "name": "杭州市慈善总会", "kind": "charity"}):
        created = client.post("/api/v1/admin/subsidy-payers", headers=staff.bearer,
                              json={"city_code": CITY, **fields})
        assert created.status_code == 201, created.get_json()
    districts = ("330106", "330105", "330108", None)
    people = [resident(f"资助{index:02d}", 100 + index, districts[index % 4],
                       GROUPS[(index // 4) % 4]) for index in range(16)]
    add_registry_persons(pg_wired, *people)
    rows = [f"{person.id_number},{person.name},{person.assistance.value}"
            + (",cishan" if index == 15 else ",") for index, person in enumerate(people)]
    roster = upload(staff, "/api/v1/admin/subsidy-roster",
                    csv_bytes("id_number,name,category,payer", rows),
                    {"product_id": demo_product_id(client)})
    assert roster.status_code == 201, roster.get_json()
    assert roster.get_json()["counts"]["enrolled"] == 16, roster.get_json()

    sun = sign_in(client, "孙丽")  # 余杭区, which has no payer here: the city pays
    online = client.post("/api/v1/enrollments", json=body(client, "subsidy"),
                         headers={**sun.bearer, "Idempotency-Key": uuid.uuid4().hex})
    assert online.status_code == 201, online.get_json()
    cancelled = client.post(
        f"/api/v1/policies/{online.get_json()['policies'][0]['policy_no']}/cancel",
        headers={**sun.bearer, "Idempotency-Key": uuid.uuid4().hex})
    assert cancelled.status_code == 200, cancelled.get_json()

    with pg_wired.db.read() as session:
        balances = {code: ledger.balance(session, ledger.subsidy_fund(CITY, code))
                    for code in ("xihu", "gongshu", "cishan", None)}
    premium = 15000
    xihu = [p for p in people[:15] if p.district_code == "330106"]
    gongshu = [p for p in people[:15] if p.district_code == "330105"
               and p.assistance.value in ("dibao", "dibian")]
    city = [p for p in people[:15] if p not in xihu and p not in gongshu]
    assert balances["xihu"] == -premium * len(xihu) and xihu
    assert balances["gongshu"] == -premium * len(gongshu) and gongshu
    assert balances["cishan"] == -premium  # the one row naming the charity
    assert balances[None] == -premium * len(city)  # 孙丽's subsidy came back on her refund
    report = reconcile(pg_wired, record=False)
    assert report.ok, report.violations
