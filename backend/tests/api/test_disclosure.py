"""GET /api/v1/disclosure/{product_id} (public): enrolled persons by scheme, age band and payment
channel, premium income, claims and payouts — equal to what the database holds, live or as of a
stated time, with a CSV download; never any personal data."""

from __future__ import annotations

import csv
import io
import uuid
from datetime import date, timedelta
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select

from huiminbao.claims.models import Claim
from huiminbao.core.clock import MovableClock
from huiminbao.core.container import Container
from huiminbao.enrollment.models import Order, OrderItem, Policy
from huiminbao.identity.domain import Role
from huiminbao.identity.models import UserAccount
from huiminbao.identity.services import open_session_for
from huiminbao.payments import ledger
from huiminbao.registry.port import RegistryUnavailable

from .enrollment_helpers import PEOPLE, enroll, sign_in
from .test_console_support import csv_bytes, demo_product_id, staff_session, upload

WANG = ("王秀英", "33010219430618052X")
NAMES = ("张伟", "孙丽", "王秀英", "张建国", "张*", "孙*", "王*英", "张*国")


def url(product_id: int, query: str = "") -> str:
    return f"/api/v1/disclosure/{product_id}{query}"


@pytest.fixture
def enrolled(app: Flask, wired: Container) -> dict[str, str]:
    """Four people, four channels: 张伟 (employee, 38) from his personal account, 孙丽 (resident,
    61) subsidized, 张建国 (employee, 68) by his employer, 王秀英 (resident, 83) in cash at a
    counter. Answers the policy numbers by name."""
    policies: dict[str, str] = {}
    for name, method in (("张伟", "personal_account"), ("孙丽", "subsidy")):
        session = sign_in(app.test_client(), name)
        response = enroll(session, method)
        assert response.status_code == 201, response.get_json()
        policies[name] = response.get_json()["policies"][0]["policy_no"]
    client = app.test_client()
    product_id = demo_product_id(client)
    administrator = staff_session(client, wired, Role.ADMIN, "13600000001")
    batch = upload(administrator, "/api/v1/admin/enrollments/bulk",
                   csv_bytes("id_number,name,tier", [f"{PEOPLE['张建国'][1]},张建国,standard"]),
                   {"employer_code": "91330100MA2ABCDE1X", "employer_name": "杭州示范科技有限公司",
                    "product_id": product_id})
    policies["张建国"] = batch.get_json()["rows"][0]["policy_no"]
    counter = staff_session(app.test_client(), wired, Role.COUNTER_STAFF, "13600000003")
    walk_in = counter.client.post("/api/v1/counter/enrollments", json={
        "id_number": WANG[1], "name": WANG[0], "tier": "standard",
        "evidence": {"id_document_checked": True, "receipt_no": "XJ-1"}},
        headers={**counter.bearer, "Idempotency-Key": uuid.uuid4().hex})
    assert walk_in.status_code == 201, walk_in.get_json()
    policies["王秀英"] = walk_in.get_json()["policy_no"]
    return policies


def add_claims(wired: Container, policies: dict[str, str]) -> None:
    """Straight into the claims table: settled 123.45, paid 50.00, one rejected, one open."""
    now = wired.clock.now()
    with wired.db.transaction() as session:
        def policy(name: str) -> Policy:
            return session.scalars(select(Policy).where(
                Policy.policy_no == policies[name])).one()

        for number, (name, status, payout) in enumerate((
            ("张伟", "settled", 12345), ("王秀英", "paid", 5000),
            ("王秀英", "rejected", None), ("孙丽", "submitted", None),
        )):
            held = policy(name)
            session.add(Claim(
                claim_no=f"LP-TEST-{number}", policy_id=held.id, product_id=held.product_id,
                insured_person_id=held.insured_person_id, tier_code=held.tier_code,
                channel="settlement" if status == "settled" else "online", status=status,
                hospital_name="测试医院", admitted_on=date(2027, 3, 1),
                discharged_on=date(2027, 3, 5), in_policy_self_pay_fen=100000,
                claimed_fen=100000, payout_fen=payout, created_at=now,
                decided_at=now if payout is not None else None,
                paid_at=now if payout is not None else None))


def database_counts(wired: Container, product_id: int) -> dict[str, Any]:
    """Counted straight from the tables, the way the acceptance check does."""
    with wired.db.read() as session:
        live = session.scalar(select(func.count()).select_from(Policy).where(
            Policy.product_id == product_id, Policy.status == "active"))
        methods = dict(session.execute(
            select(Order.payment_method, func.count())
            .join(OrderItem, OrderItem.order_id == Order.id)
            .join(Policy, Policy.order_item_id == OrderItem.id)
            .where(Policy.product_id == product_id, Policy.status == "active")
            .group_by(Order.payment_method)).all())
        premium = ledger.balance(session, ledger.premium_income(product_id))
        paid = session.execute(
            select(func.count(), func.sum(Claim.payout_fen), func.max(Claim.payout_fen))
            .where(Claim.product_id == product_id, Claim.status.in_(["paid", "settled"]))).one()
        received = session.scalar(select(func.count()).select_from(Claim).where(
            Claim.product_id == product_id))
    return {"live": live, "methods": methods, "premium": premium, "received": received,
            "paid": paid[0], "payout": paid[1] or 0, "largest": paid[2] or 0}


def buckets(items: list[dict[str, Any]]) -> dict[str, int]:
    return {item["key"]: item["count"] for item in items}


def test_public_figures_equal_the_database(app: Flask, wired: Container,
                                           enrolled: dict[str, str]) -> None:
    add_claims(wired, enrolled)
    client = app.test_client()  # nobody signed in
    product_id = demo_product_id(client)
    response = client.get(url(product_id))
    assert response.status_code == 200, response.get_json()
    figures = response.get_json()
    counted = database_counts(wired, product_id)

    assert figures["live"] is True
    assert figures["enrolled"]["total"] == counted["live"] == 4
    assert buckets(figures["enrolled"]["by_scheme"]) == {"employee": 2, "resident": 2}
    assert [b["label"] for b in figures["enrolled"]["by_scheme"]] == ["职工医保", "城乡居民医保"]
    assert buckets(figures["enrolled"]["by_age_band"]) == {
        "under_18": 0, "18_39": 1, "40_59": 0, "60_69": 2, "70_plus": 1}
    channels = buckets(figures["enrolled"]["by_channel"])
    assert channels == {"personal_account": 1, "online": 0, "subsidy": 1, "employer": 1,
                        "counter": 1}
    assert channels["counter"] == counted["methods"]["counter_cash"]
    assert channels["employer"] == counted["methods"]["employer"]
    assert figures["premium_income_fen"] == counted["premium"] == 4 * 15000
    claims = figures["claims"]
    assert claims == {"available": True, "accepted": counted["received"],
                      "paid": counted["paid"], "payout_fen": counted["payout"],
                      "largest_payout_fen": counted["largest"],
                      # the online claim paid on the day it came in; none past its promise
                      "overdue": 0, "median_days_to_decision": 0.0,
                      "median_days_to_payment": 0.0}
    assert (claims["accepted"], claims["paid"], claims["payout_fen"],
            claims["largest_payout_fen"]) == (4, 2, 17345, 12345)
    assert figures["payout_ratio"] == "28.91%"  # 17345 / 60000 = 28.908…%
    assert figures["payout_ratio_hundredths"] == 2891
    assert figures["csv_url"] == f"/api/v1/disclosure/{product_id}.csv"

    text = response.get_data(as_text=True)
    for secret in (*NAMES, *(PEOPLE[n][1] for n in ("张伟", "孙丽", "张建国")), WANG[1],
                   "13800000001", *enrolled.values()):
        assert secret not in text


def test_figures_as_of_a_stated_time(app: Flask, wired: Container, clock: MovableClock,
                                     enrolled: dict[str, str]) -> None:
    client = app.test_client()
    product_id = demo_product_id(client)
    before_anyone = (clock.now() - timedelta(days=1)).isoformat()
    earlier = client.get(url(product_id), query_string={"as_of": before_anyone}).get_json()
    assert earlier["live"] is False
    assert earlier["enrolled"]["total"] == 0 and earlier["premium_income_fen"] == 0
    assert earlier["payout_ratio"] is None  # nothing to divide by

    enrolled_by = clock.now()
    clock.advance(timedelta(hours=1))
    with wired.db.read() as session:
        account_id = session.scalars(select(UserAccount.id).where(
            UserAccount.phone_is(PEOPLE["张伟"][0]))).one()
    signed = open_session_for(wired, account_id, method="sms")  # no second code within a minute
    cancelled = client.post(f"/api/v1/policies/{enrolled['张伟']}/cancel", headers={
        "Authorization": f"Bearer {signed.access_token}", "Idempotency-Key": uuid.uuid4().hex})
    assert cancelled.status_code == 200, cancelled.get_json()

    live = client.get(url(product_id)).get_json()
    assert live["enrolled"]["total"] == 3 and live["premium_income_fen"] == 45000
    then = client.get(url(product_id), query_string={"as_of": enrolled_by.isoformat()})
    assert then.get_json()["enrolled"]["total"] == 4
    assert then.get_json()["premium_income_fen"] == 60000
    assert then.get_json()["as_of"].startswith(enrolled_by.isoformat()[:16])

    future = client.get(url(product_id), query_string={
        "as_of": (clock.now() + timedelta(days=1)).isoformat()})
    assert future.status_code == 422
    assert future.get_json()["errors"]["as_of"] == ["统计时点不能晚于当前时间"]
    naive = client.get(url(product_id), query_string={"as_of": "2026-11-22T10:00:00"})
    assert naive.status_code == 422


def test_the_csv_download_opens_in_excel(app: Flask, wired: Container,
                                         enrolled: dict[str, str]) -> None:
    add_claims(wired, enrolled)
    client = app.test_client()
    product_id = demo_product_id(client)
    response = client.get(f"/api/v1/disclosure/{product_id}.csv")
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "text/csv; charset=utf-8"
    disposition = response.headers["Content-Disposition"]
    assert disposition.startswith(f'attachment; filename="disclosure-{product_id}.csv"')
    assert "filename*=UTF-8''" in disposition
    data = response.get_data()
    assert data.startswith(b"\xef\xbb\xbf")  # BOM: Excel reads UTF-8 Chinese correctly
    rows = list(csv.reader(io.StringIO(data.decode("utf-8-sig"))))
    assert rows[0] == ["指标", "分类", "数值"]
    cells = {(row[0], row[1]): row[2] for row in rows[1:]}
    assert cells[("参保人数", "合计")] == "4"
    assert cells[("参保人数（按缴费渠道）", "窗口办理")] == "1"
    assert cells[("参保人数（按缴费渠道）", "单位缴费")] == "1"
    assert cells[("参保人数（按年龄段）", "70岁及以上")] == "1"
    assert cells[("保费收入（元）", "")] == "600.00"
    assert cells[("赔付金额（元）", "")] == "173.45"
    assert cells[("赔付率（赔付金额÷保费收入）", "")] == "28.91%"
    assert cells[("单笔最高赔付（元）", "")] == "123.45"
    assert "王秀英" not in data.decode("utf-8-sig")
    same = client.get(url(product_id), query_string={"format": "csv"})
    assert same.get_data() == data


def test_only_published_products_have_public_figures(client: FlaskClient,
                                                     wired: Container) -> None:
    product_id = demo_product_id(client)
    listed = client.get("/api/v1/disclosure").get_json()["items"]
    assert [item["id"] for item in listed] == [product_id]
    assert client.get(url(9999)).status_code == 404
    assert client.get("/api/v1/disclosure/9999.csv").status_code == 404
    administrator = staff_session(client, wired, Role.ADMIN, "13600000001")
    draft = client.post(f"/api/v1/admin/products/{product_id}/clone", headers=administrator.bearer,
                        json={"year": 2028,
                              "enrollment": {"opens_on": "2027-11-15", "closes_on": "2027-12-31"},
                              "coverage": {"starts_on": "2028-01-07", "ends_on": "2029-01-06"}})
    assert draft.status_code == 201
    hidden = client.get(url(draft.get_json()["id"]))
    assert hidden.status_code == 404
    assert hidden.get_json()["message"] == "未找到该产品"
    bad_format = client.get(url(product_id), query_string={"format": "xlsx"})
    assert bad_format.status_code == 422
    assert bad_format.get_json()["errors"]["format"] == ["format 只能是 json 或 csv"]


def test_an_unreachable_registry_leaves_the_scheme_unknown(
    app: Flask, wired: Container, enrolled: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    def unreachable(id_numbers: list[str]) -> dict[str, Any]:
        raise RegistryUnavailable("timeout")

    # The figures ask the registry for counts by scheme (one call per batch of ID numbers).
    monkeypatch.setattr(wired.registry, "scheme_counts", unreachable)
    monkeypatch.setattr(wired.registry, "find_persons", unreachable)
    figures = app.test_client().get(url(demo_product_id(app.test_client()))).get_json()
    assert buckets(figures["enrolled"]["by_scheme"]) == {"employee": 0, "resident": 0,
                                                         "unknown": 4}
    assert figures["enrolled"]["by_scheme"][2]["label"] == "未能确认"
    assert figures["enrolled"]["total"] == 4


def test_figures_as_of_a_stated_time_are_limited_per_visitor_and_in_all(
        app: Flask, clock: MovableClock) -> None:
    """Counted on demand (every policy read): 10 an hour per visitor, 60 an hour for everyone;
    the latest figures stay available."""
    client = app.test_client()
    product_id = demo_product_id(client)
    as_of = {"as_of": (clock.now() - timedelta(hours=1)).isoformat()}
    visitor = {"REMOTE_ADDR": "203.0.113.7"}
    for _ in range(10):
        assert client.get(url(product_id), query_string=as_of,
                          environ_base=visitor).status_code == 200
    refused = client.get(url(product_id), query_string=as_of, environ_base=visitor)
    assert refused.status_code == 429
    assert refused.get_json()["code"] == "too_many_requests"
    assert refused.get_json()["message"].endswith("分钟后再试")  # within the hour
    assert client.get(url(product_id), environ_base=visitor).status_code == 200  # latest: exempt
    csv_refused = client.get(f"{url(product_id)}.csv", query_string=as_of, environ_base=visitor)
    assert csv_refused.status_code == 429

    # Everyone together: 60 an hour, whoever asks.
    for index in range(50):
        other = {"REMOTE_ADDR": f"198.51.100.{index}"}
        assert client.get(url(product_id), query_string=as_of,
                          environ_base=other).status_code == 200
    late = client.get(url(product_id), query_string=as_of,
                      environ_base={"REMOTE_ADDR": "192.0.2.1"})
    assert late.status_code == 429
