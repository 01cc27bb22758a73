"""Co-insurers (共保体): an administrator lists three insurers at 50/30/20 %; premiums,
a refund and claim payouts are split in the ledger per share; each insurer's statement equals its
ledger accounts, sums to its share to the fen, and the three sum to the totals."""

from __future__ import annotations

import csv
import io
import uuid
from datetime import UTC, datetime
from fractions import Fraction
from typing import Any

from flask.testing import FlaskClient
from sqlalchemy import select, update

from huiminbao.audit.models import AuditEvent
from huiminbao.catalog.models import ProductInsurer, Tier
from huiminbao.claims.services import check_books
from huiminbao.core.clock import MovableClock
from huiminbao.core.container import Container
from huiminbao.identity.domain import Role
from huiminbao.payments import ledger

from .enrollment_helpers import enroll, product, sign_in
from .helpers import Session, statements_sent
from .test_claims_support import decide, into_coverage, refresh, staff, submit

ODD_PREMIUM = 12_345  # 50/30/20 % of it is 6172.5/3703.5/2469 fen: the lead takes the rounding
GROUP = [{"insurer": "甲财产保险杭州分公司", "share_bp": 5000, "lead": True},
         {"insurer": "乙人寿保险杭州分公司", "share_bp": 3000, "lead": False},
         {"insurer": "丙健康保险浙江分公司", "share_bp": 2000, "lead": False}]
PERIOD = {"from": "2026-11-01", "to": "2027-03-31"}


def _insurers(admin: Session, product_id: int, body: dict[str, Any]) -> Any:
    return admin.client.put(f"/api/v1/admin/products/{product_id}/insurers", json=body,
                            headers=admin.bearer)


def _statement(reader: Session, product_id: int, insurer: str, fmt: str = "json") -> Any:
    return reader.client.get(f"/api/v1/admin/products/{product_id}/statement",
                             query_string={**PERIOD, "insurer": insurer, "format": fmt},
                             headers=reader.bearer)


def _odd_premium(wired: Container) -> None:
    with wired.db.transaction() as session:
        session.execute(update(Tier).where(Tier.code == "standard").values(
            premium_fen=ODD_PREMIUM))


def test_invalid_groups_are_refused_with_every_reason(client: FlaskClient,
                                                      wired: Container) -> None:
    admin = staff(client, wired, "13900000031", Role.ADMIN)
    product_id = product(client)["id"]
    before = client.get(f"/api/v1/admin/products/{product_id}/insurers",
                        headers=admin.bearer).get_json()
    assert [(i["share_bp"], i["lead"]) for i in before["insurers"]] == [(10000, True)]
    assert before["editable"] is True

    short = _insurers(admin, product_id, {"insurers": [
        {"insurer": "甲", "share_bp": 5000, "lead": True},
        {"insurer": "甲", "share_bp": 4000, "lead": True}]})
    assert short.status_code == 422, short.get_json()
    answer = short.get_json()
    assert answer["code"] == "invalid_coinsurers"
    assert answer["errors"]["insurers"] == ["各承保机构份额之和必须为100%",
                                            "必须指定且只能指定一家主承保机构"]
    assert answer["errors"]["insurers.1.insurer"] == ["同一承保机构不能重复列出"]
    no_lead = _insurers(admin, product_id, {"insurers": [
        {"insurer": "甲", "share_bp": 5000}, {"insurer": "乙", "share_bp": 5000}]})
    assert no_lead.get_json()["errors"]["insurers"] == ["必须指定且只能指定一家主承保机构"]
    after = client.get(f"/api/v1/admin/products/{product_id}/insurers",
                       headers=admin.bearer).get_json()
    assert after == before  # nothing written
    resident = sign_in(client, "张伟")
    assert _insurers(resident, product_id, {"insurers": GROUP}).status_code == 403


def test_three_insurers_statements_equal_their_shares_and_the_ledger(
    client: FlaskClient, wired: Container, clock: MovableClock
) -> None:
    _odd_premium(wired)
    admin = staff(client, wired, "13900000032", Role.ADMIN)
    product_id = product(client)["id"]
    assert {t["code"]: t["premium_fen"] for t in product(client)["tiers"]}["standard"] == (
        ODD_PREMIUM)
    group = _insurers(admin, product_id, {"insurers": GROUP})
    assert group.status_code == 200, group.get_json()
    assert [(i["insurer"], i["share_label"], i["lead"]) for i in group.get_json()["insurers"]] == [
        ("甲财产保险杭州分公司", "50%", True), ("乙人寿保险杭州分公司", "30%", False),
        ("丙健康保险浙江分公司", "20%", False)]
    assert product(client)["insurer"] == "甲财产保险杭州分公司"  # the lead names the product

    # Three enrollments at an odd premium, one of them refunded.
    people, orders = [], []
    for name in ("张伟", "李娜", "周强"):  # one signed in at a time: each enrolls at once
        people.append(sign_in(client, name))
        orders.append(enroll(people[-1], "personal_account").get_json())
    assert [o.get("premium_fen") for o in orders] == [ODD_PREMIUM] * 3, orders
    li = refresh(wired, people[1])  # a fresh token (later sign-ins replace the first)
    cancelled = client.post(f"/api/v1/policies/{orders[1]['policies'][0]['policy_no']}/cancel",
                            headers={**li.bearer, "Idempotency-Key": uuid.uuid4().hex})
    assert cancelled.get_json()["refund"]["status"] == "succeeded", cancelled.get_json()

    # Shares are fixed once money was split by them.
    admin = refresh(wired, admin)
    changed = _insurers(admin, product_id, {"insurers": [
        {"insurer": "甲财产保险杭州分公司", "share_bp": 10000, "lead": True}]})
    assert changed.status_code == 409 and changed.get_json()["code"] == "shares_fixed"

    # Two claims with odd payouts, approved and paid.
    zhang, _li, zhao = into_coverage(clock, wired, *people)
    reviewer = staff(client, wired, "13900000033")
    payouts = []
    for person, self_pay in ((zhang, 2_123_457), (zhao, 2_000_999)):
        claim = submit(person, {"in_policy_self_pay_fen": self_pay, "items": []}).get_json()
        approved = decide(reviewer, claim["claim_no"], "approve")
        assert approved.status_code == 200, approved.get_json()
        paid = decide(reviewer, claim["claim_no"], "mark_paid").get_json()
        assert paid["status"] == "paid"
        payouts.append(paid["payout_fen"])
    assert all(p % 10 for p in payouts), payouts  # odd amounts: rounding is exercised

    # Each statement: its share of premiums, refund and payouts, to the fen.
    premiums_total, refunds_total, payouts_total = 3 * ODD_PREMIUM, ODD_PREMIUM, sum(payouts)
    statements = {}
    admin = refresh(wired, admin)
    for member in GROUP:
        answer = _statement(admin, product_id, member["insurer"])
        assert answer.status_code == 200, answer.get_json()
        statements[member["insurer"]] = answer.get_json()
    lead, second, third = (statements[m["insurer"]] for m in GROUP)
    assert (lead["premiums_fen"], second["premiums_fen"], third["premiums_fen"]) == (
        3 * 6173, 3 * 3703, 3 * 2469)
    assert (lead["refunds_fen"], second["refunds_fen"], third["refunds_fen"]) == (
        6173, 3703, 2469)
    for member, one in zip(GROUP[1:], (second, third), strict=True):
        for payout, line in zip(payouts, [x for x in one["lines"] if x["kind"] == "payout"],
                                strict=True):
            exact = Fraction(payout * member["share_bp"], 10000)
            assert 0 <= exact - (-line["amount_fen"]) < 1
    for key, total in (("premiums_fen", premiums_total), ("refunds_fen", refunds_total),
                       ("payouts_fen", payouts_total)):
        assert sum(s[key] for s in statements.values()) == total
    assert sum(s["net_fen"] for s in statements.values()) == (
        premiums_total - refunds_total - payouts_total)
    assert [x["kind_label"] for x in lead["lines"]] == [
        "保费收入", "保费收入", "保费收入", "退费", "理赔赔付", "理赔赔付"]

    # The statements are the ledger: each equals its insurer's accounts, which sum to the
    # product's premium income and claim payouts.
    with wired.db.read() as session:
        members = session.scalars(select(ProductInsurer).where(
            ProductInsurer.product_id == product_id)).all()
        for member in members:
            s = statements[member.insurer]
            assert ledger.balance(session, ledger.insurer_premium(product_id, member.id)) == (
                s["premiums_fen"] - s["refunds_fen"])
            assert ledger.balance(session, ledger.insurer_payout(product_id, member.id)) == (
                -s["payouts_fen"])
        assert ledger.balance(session, ledger.premium_income(product_id)) == (
            premiums_total - refunds_total)
        assert ledger.balance(session, ledger.claims_payable(product_id)) == -payouts_total
        assert ledger.unbalanced_transactions(session) == []
        assert ledger.coinsurance_violations(session) == []
        audited = session.scalars(select(AuditEvent.action).where(
            AuditEvent.action.in_(["product.coinsurers", "insurer.statement"]))).all()
    assert sorted(audited) == ["insurer.statement"] * 3 + ["product.coinsurers"]
    assert check_books(wired) == []

    # The CSV download: one line per entry, then totals equal to the JSON.
    download = _statement(admin, product_id, "乙人寿保险杭州分公司", "csv")
    assert download.status_code == 200
    assert download.headers["Content-Type"].startswith("text/csv")
    rows = list(csv.reader(io.StringIO(download.data.decode("utf-8-sig"))))
    totals = {row[0]: row[3] for row in rows if row and row[0].endswith(("合计", "净额"))}
    assert totals == {"保费收入合计": f"{second['premiums_fen'] / 100:.2f}",
                      "退费合计": f"{-second['refunds_fen'] / 100:.2f}",
                      "理赔赔付合计": f"{-second['payouts_fen'] / 100:.2f}",
                      "净额": f"{second['net_fen'] / 100:.2f}"}
    assert sum(1 for row in rows if row and row[1] in ("保费收入", "退费", "理赔赔付")) == 6


def test_insurer_staff_read_only_their_own_insurers_statement(client: FlaskClient,
                                                              wired: Container) -> None:
    admin = staff(client, wired, "13900000034", Role.ADMIN)
    product_id = product(client)["id"]
    assert _insurers(admin, product_id, {"insurers": GROUP}).status_code == 200
    clerk = staff(client, wired, "13900000035")
    admin = refresh(wired, admin)
    unassigned = _statement(clerk, product_id, "乙人寿保险杭州分公司")
    assert unassigned.status_code == 422 and unassigned.get_json()["code"] == "no_insurer"
    account_id = clerk_account(wired, "13900000035")
    assigned = admin.client.put(f"/api/v1/admin/insurer-staff/{account_id}",
                                json={"insurer": "乙人寿保险杭州分公司"}, headers=admin.bearer)
    assert assigned.status_code == 200, assigned.get_json()
    own = _statement(clerk, product_id, "乙人寿保险杭州分公司")
    assert own.status_code == 200 and own.get_json()["share_bp"] == 3000
    other = _statement(clerk, product_id, "丙健康保险浙江分公司")
    assert other.status_code == 422 and other.get_json()["code"] == "not_your_insurer"
    stranger = _statement(admin, product_id, "丁保险")
    assert stranger.status_code == 404
    resident = sign_in(client, "张伟")
    assert _statement(resident, product_id, "乙人寿保险杭州分公司").status_code == 403


def clerk_account(wired: Container, phone: str) -> int:
    from huiminbao.identity.models import UserAccount

    with wired.db.read() as session:
        return int(session.scalars(select(UserAccount.id).where(
            UserAccount.phone_is(phone))).one())


def _assign(admin: Session, wired: Container, phone: str, insurer: str,
            supervisor: bool = False) -> Session:
    clerk = staff(admin.client, wired, phone)
    admin = refresh(wired, admin)
    answer = admin.client.put(f"/api/v1/admin/insurer-staff/{clerk_account(wired, phone)}",
                              json={"insurer": insurer, "supervisor": supervisor},
                              headers=admin.bearer)
    assert answer.status_code == 200, answer.get_json()
    assert answer.get_json()["supervisor"] is supervisor
    return refresh(wired, clerk)


def test_a_contested_claim_needs_a_second_insurers_approval(
    client: FlaskClient, wired: Container, clock: MovableClock
) -> None:
    admin = staff(client, wired, "13900000036", Role.ADMIN)
    product_id = product(client)["id"]
    set_up = _insurers(admin, product_id, {"insurers": GROUP,
                                           "contested_claim_threshold_fen": 50_000})
    assert set_up.get_json()["contested_claim_threshold_fen"] == 50_000
    people = []
    for name in ("张伟", "李娜"):
        people.append(sign_in(client, name))
        assert enroll(people[-1], "personal_account").status_code == 201
    zhang, li = into_coverage(clock, wired, *people)
    big = submit(zhang, {"in_policy_self_pay_fen": 2_123_457, "items": []}).get_json()
    small = submit(li, {"in_policy_self_pay_fen": 2_000_999, "items": []}).get_json()
    admin = refresh(wired, admin)
    first = _assign(admin, wired, "13900000037", "甲财产保险杭州分公司")
    same = _assign(admin, wired, "13900000038", "甲财产保险杭州分公司")
    second = _assign(admin, wired, "13900000039", "乙人寿保险杭州分公司")
    nobody = refresh(wired, staff(client, wired, "13900000040"))
    # Staff of an insurer outside the product's group (another product's, say) take no part.
    outsider = _assign(refresh(wired, admin), wired, "13900000041", "丁健康保险杭州分公司")
    first, same, second = (refresh(wired, s) for s in (first, same, second))

    refused = decide(nobody, big["claim_no"], "approve")
    assert refused.status_code == 409 and refused.get_json()["code"] == "contested_no_insurer"
    foreign = decide(outsider, big["claim_no"], "approve")
    assert foreign.status_code == 409
    assert foreign.get_json()["code"] == "contested_other_insurer"
    assert "不是本产品的承保机构" in foreign.get_json()["message"]
    once = decide(first, big["claim_no"], "approve")
    assert once.status_code == 200, once.get_json()
    assert once.get_json()["status"] == "under_review"
    assert once.get_json()["first_approval_insurer"] == "甲财产保险杭州分公司"
    assert once.get_json()["payout_fen"] is None  # nothing approved, nothing counted yet
    again = decide(same, big["claim_no"], "approve")
    assert again.status_code == 409 and again.get_json()["code"] == "contested_same_insurer"
    assert "另一家共保机构" in again.get_json()["message"]
    outsider = refresh(wired, outsider)
    assert decide(outsider, big["claim_no"], "approve").get_json()["code"] == (
        "contested_other_insurer")  # nor the second approval
    # A supplement asked for: the claim is reviewed afresh, by two insurers again.
    asked = decide(second, big["claim_no"], "request_supplement", "请补充费用清单")
    assert asked.get_json()["first_approval_insurer"] is None
    anew = decide(second, big["claim_no"], "approve")
    assert anew.get_json()["status"] == "under_review", anew.get_json()
    assert anew.get_json()["first_approval_insurer"] == "乙人寿保险杭州分公司"
    approved = decide(first, big["claim_no"], "approve")
    assert approved.status_code == 200, approved.get_json()
    assert approved.get_json()["status"] == "approved"
    assert approved.get_json()["payout_fen"] > 50_000
    assert approved.get_json()["first_approval_insurer"] is None

    # Nor any other decision of the outside insurer's staff, on any claim of the product.
    for claim_no, decision in ((small["claim_no"], "approve"), (small["claim_no"], "reject"),
                               (small["claim_no"], "request_supplement")):
        refused = decide(refresh(wired, outsider), claim_no, decision, "请补充费用清单")
        assert refused.status_code == 409, refused.get_json()
        assert refused.get_json()["code"] == "claim_other_insurer"
        assert refused.get_json()["message"] == "您的账号关联的不是本产品的承保机构，不能审核本理赔"

    # Under the threshold one approval, by anyone who reviews claims, is enough.
    direct = decide(nobody, small["claim_no"], "approve")
    assert direct.get_json()["status"] == "approved" and direct.get_json()["payout_fen"] < 50_000

    with wired.db.read() as session:
        trail = session.scalars(select(AuditEvent).where(
            AuditEvent.object_id == big["claim_no"],
            AuditEvent.action.in_(["claim.first_approval", "claim.approve"]))
            .order_by(AuditEvent.id)).all()
        assert [e.action for e in trail] == ["claim.first_approval", "claim.first_approval",
                                             "claim.approve"]
        assert [e.details["insurer"] for e in trail[:2]] == ["甲财产保险杭州分公司",
                                                             "乙人寿保险杭州分公司"]
        assert trail[2].details["first_approval"]["insurer"] == "乙人寿保险杭州分公司"
        assert trail[2].actor_account_id == clerk_account(wired, "13900000037")


NEXT_YEAR = {"year": 2028,
             "enrollment": {"opens_on": "2027-11-15", "closes_on": "2027-12-31"},
             "coverage": {"starts_on": "2028-01-07", "ends_on": "2029-01-06"}}


def test_the_year_end_surplus_is_disclosed_and_next_years_product_publishes_its_use(
    client: FlaskClient, wired: Container, clock: MovableClock
) -> None:
    admin = staff(client, wired, "13900000041", Role.ADMIN)
    demo = product(client)
    target = admin.client.put(f"/api/v1/admin/products/{demo['id']}/surplus",
                              json={"target_payout_ratio_bp": 8500}, headers=admin.bearer)
    assert target.status_code == 200, target.get_json()
    people = []
    for name in ("张伟", "李娜"):
        people.append(sign_in(client, name))
        assert enroll(people[-1], "personal_account").status_code == 201
    zhang, _li = into_coverage(clock, wired, *people)
    reviewer = staff(client, wired, "13900000042")
    claim = submit(zhang, {"in_policy_self_pay_fen": 2_000_999, "items": []}).get_json()
    decide(reviewer, claim["claim_no"], "approve")
    payout = decide(reviewer, claim["claim_no"], "mark_paid").get_json()["payout_fen"]
    assert payout > 0
    during = client.get(f"/api/v1/disclosure/{demo['id']}").get_json()
    assert during["year_end"] is None  # the year has not ended

    clock.travel_to(datetime(2028, 1, 10, 2, tzinfo=UTC))  # after the coverage year
    after = client.get(f"/api/v1/disclosure/{demo['id']}").get_json()
    premium = 2 * demo["tiers"][0]["premium_fen"]
    with wired.db.read() as session:  # the ledger's own figures
        assert ledger.balance(session, ledger.premium_income(demo["id"])) == premium
        assert ledger.balance(session, ledger.claims_payable(demo["id"])) == -payout
    assert after["year_end"] == {
        "target_payout_ratio": "85.00%", "target_payout_ratio_bp": 8500,
        "premium_income_fen": premium, "payout_fen": payout,
        "payout_ratio": after["payout_ratio"],
        "surplus_fen": premium * 8500 // 10000 - payout}
    surplus = after["year_end"]["surplus_fen"]

    # Next year's product records how the surplus is used, and publishes it.
    admin = refresh(wired, admin)
    draft = admin.client.post(f"/api/v1/admin/products/{demo['id']}/clone", json=NEXT_YEAR,
                              headers=admin.bearer).get_json()
    setting = admin.client.get(f"/api/v1/admin/products/{draft['id']}/surplus",
                               headers=admin.bearer).get_json()
    assert setting["previous_year_surplus_fen"] == surplus
    assert admin.client.get(f"/api/v1/admin/products/{demo['id']}/surplus", headers=admin.bearer
                            ).get_json()["previous_year_surplus_fen"] is None
    no_note = admin.client.put(f"/api/v1/admin/products/{draft['id']}/surplus",
                               json={"target_payout_ratio_bp": 8500, "surplus_used_fen": surplus},
                               headers=admin.bearer)
    assert no_note.status_code == 422
    assert no_note.get_json()["errors"]["surplus_use_note"] == ["请说明上年度结余的使用方式"]
    too_much = admin.client.put(f"/api/v1/admin/products/{draft['id']}/surplus", json={
        "target_payout_ratio_bp": 8500, "surplus_used_fen": surplus + 1,
        "surplus_use_note": "用于提高特药赔付比例"}, headers=admin.bearer)
    assert too_much.status_code == 422
    assert too_much.get_json()["errors"]["surplus_used_fen"] == [
        f"结余使用金额不能超过上年度结余{surplus // 100:,}.{surplus % 100:02d}元"]
    no_year_before = admin.client.put(f"/api/v1/admin/products/{demo['id']}/surplus", json={
        "target_payout_ratio_bp": 8500, "surplus_used_fen": 1,
        "surplus_use_note": "用于提高特药赔付比例"}, headers=admin.bearer)
    assert no_year_before.status_code == 422
    assert no_year_before.get_json()["errors"]["surplus_used_fen"] == [
        "暂无可使用的上年度结余：上年度产品不存在、保障期尚未结束或未设定目标赔付率"]
    used = admin.client.put(f"/api/v1/admin/products/{draft['id']}/surplus", json={
        "target_payout_ratio_bp": 8500, "surplus_used_fen": surplus,
        "surplus_use_note": "用于提高特药赔付比例"}, headers=admin.bearer)
    assert used.status_code == 200, used.get_json()
    published = admin.client.post(f"/api/v1/admin/products/{draft['id']}/publish",
                                  headers=admin.bearer)
    assert published.status_code == 200, published.get_json()
    shown = client.get(f"/api/v1/disclosure/{draft['id']}").get_json()
    assert shown["surplus_use"] == {"amount_fen": surplus, "note": "用于提高特药赔付比例"}
    download = client.get(f"/api/v1/disclosure/{draft['id']}.csv").data.decode("utf-8-sig")
    assert "使用上年度结余（元）,用于提高特药赔付比例," in download
    # Published with the product: the recorded use no longer changes (the target ratio may).
    changed = admin.client.put(f"/api/v1/admin/products/{draft['id']}/surplus", json={
        "target_payout_ratio_bp": 8000, "surplus_used_fen": surplus // 2,
        "surplus_use_note": "用于提高特药赔付比例"}, headers=admin.bearer)
    assert changed.get_json()["message"] == "产品已发布，结余使用方案随产品公布，不能再修改"
    kept = admin.client.put(f"/api/v1/admin/products/{draft['id']}/surplus", json={
        "target_payout_ratio_bp": 8000, "surplus_used_fen": surplus,
        "surplus_use_note": "用于提高特药赔付比例"}, headers=admin.bearer)
    assert kept.status_code == 200, kept.get_json()
    with wired.db.read() as session:
        assert session.scalars(select(AuditEvent.action).where(
            AuditEvent.action == "product.surplus")).all() == ["product.surplus"] * 3


def test_next_years_product_keeps_the_group_and_its_shares_can_change_while_a_draft(
    client: FlaskClient, wired: Container
) -> None:
    admin = staff(client, wired, "13900000043", Role.ADMIN)
    demo = product(client)
    group = {"insurers": GROUP, "contested_claim_threshold_fen": 80_000}
    assert _insurers(admin, demo["id"], group).status_code == 200
    draft = admin.client.post(f"/api/v1/admin/products/{demo['id']}/clone", json=NEXT_YEAR,
                              headers=admin.bearer).get_json()
    copied = admin.client.get(f"/api/v1/admin/products/{draft['id']}/insurers",
                              headers=admin.bearer).get_json()
    assert [(i["insurer"], i["share_bp"], i["lead"]) for i in copied["insurers"]] == [
        (g["insurer"], g["share_bp"], g["lead"]) for g in GROUP]
    assert copied["contested_claim_threshold_fen"] == 80_000 and copied["editable"] is True
    assert draft["insurer"] == GROUP[0]["insurer"]
    # A new lead at new shares: the product's insurer follows the lead.
    changed = _insurers(admin, draft["id"], {"insurers": [
        {"insurer": GROUP[1]["insurer"], "share_bp": 6000, "lead": True},
        {"insurer": GROUP[0]["insurer"], "share_bp": 4000, "lead": False}]})
    assert changed.status_code == 200, changed.get_json()
    listed = admin.client.get("/api/v1/admin/products", headers=admin.bearer).get_json()["items"]
    assert next(p for p in listed if p["id"] == draft["id"])["insurer"] == GROUP[1]["insurer"]
    with wired.db.read() as session:  # the source's group is untouched
        assert session.scalars(select(ProductInsurer.share_bp).where(
            ProductInsurer.product_id == demo["id"]).order_by(ProductInsurer.position)
        ).all() == [5000, 3000, 2000]


def _book_premium(wired: Container, product_id: int, reference: str, *,
                  then_fail: bool = False) -> tuple[list[int], int]:
    """Post a premium of 100 fen split by the product's shares: the insurers' parts stored,
    largest first, and how many statements read the shares from the database."""
    with statements_sent(wired.db.engine) as sent:
        try:
            with wired.db.transaction() as session:
                transaction_id = ledger.post(
                    session, kind="payment", reference=reference, order_no=reference,
                    purpose="测试",
                    moves=[(ledger.premium_income(product_id), 100), (ledger.GATEWAY, -100)],
                    now=datetime(2026, 11, 20, tzinfo=UTC))
                if then_fail:
                    raise RuntimeError("the use case failed after booking")
        except RuntimeError:
            pass
    reads = [statement for statement in sent if "product_insurers" in statement]
    with wired.db.read() as session:
        parts = sorted((entry.amount_fen for entry in session.scalars(
            select(ledger.LedgerEntry).where(ledger.LedgerEntry.transaction_id == transaction_id,
                                             ledger.LedgerEntry.account.like("insurer_premium:%")))
        ), reverse=True)
    return parts, len(reads)


def test_shares_are_read_until_money_is_booked_with_them_then_kept(
        client: FlaskClient, wired: Container) -> None:
    admin = staff(client, wired, "13900000039", Role.ADMIN)
    product_id = product(client)["id"]
    assert _insurers(admin, product_id, {"insurers": GROUP}).status_code == 200
    # Booked, then rolled back: the shares are not final, they may still change.
    assert _book_premium(wired, product_id, "cache-1", then_fail=True) == ([], 1)
    two = [{"insurer": "甲财产保险杭州分公司", "share_bp": 6000, "lead": True},
           {"insurer": "乙人寿保险杭州分公司", "share_bp": 4000, "lead": False}]
    changed = _insurers(refresh(wired, admin), product_id, {"insurers": two})
    assert changed.status_code == 200, changed.get_json()
    # The first committed booking reads the new shares; later ones use them without a read.
    assert _book_premium(wired, product_id, "cache-2") == ([60, 40], 1)
    assert _book_premium(wired, product_id, "cache-3") == ([60, 40], 0)
    refused = _insurers(refresh(wired, admin), product_id, {"insurers": GROUP})
    assert refused.status_code == 409 and refused.get_json()["code"] == "shares_fixed"
