"""Claims from authorized records, through the API: the resident authorizes reading her 医保
settlement records for a period, lists them, files a claim pre-filled from one and revokes the
authorization; an agent with and without the claims scope; the registry stopping mid-way."""

from __future__ import annotations

import re
import uuid
from collections.abc import Sequence
from datetime import date
from typing import Any

from flask.testing import FlaskClient
from sqlalchemy import func, select

from huiminbao.audit.models import AuditEvent
from huiminbao.claims.models import Claim
from huiminbao.claims.record_models import ClaimFromRecord, RecordsConsent
from huiminbao.core.clock import MovableClock
from huiminbao.core.container import Container
from huiminbao.identity.domain import Action
from huiminbao.registry.demo import LI_NA_OUTPATIENT_SPECIAL
from huiminbao.registry.port import RegistryPort, RegistryUnavailable, SettlementRecord

from .helpers import Session
from .test_claims import FakeGrants
from .test_claims_payouts import new_card
from .test_claims_support import decide, enrolled, into_coverage, person_id, staff, upload
from .test_claims_support import image_bytes as image

RECORDS = "/api/v1/claims/records"
# The demo product's coverage year starts 2027-01-07; 李娜's 门特 visit is on 2027-01-08.
PERIOD = {"period_from": "2027-01-01", "period_to": "2027-06-30"}


def authorize(session: Session, period: dict[str, str] | None = None,
              headers: dict[str, str] | None = None):  # type: ignore[no-untyped-def]
    return session.client.post(f"{RECORDS}/consents", json=period or PERIOD,
                               headers={**session.bearer, **(headers or {})})


def listed(session: Session, query: str = "", headers: dict[str, str] | None = None):  # type: ignore[no-untyped-def]
    return session.client.get(f"{RECORDS}{query}", headers={**session.bearer, **(headers or {})})


def file(session: Session, body: dict[str, Any], headers: dict[str, str] | None = None,
         key: str | None = None):  # type: ignore[no-untyped-def]
    return session.client.post(f"{RECORDS}/claims", json=body, headers={
        **session.bearer, "Idempotency-Key": key or uuid.uuid4().hex, **(headers or {})})


def lina(client: FlaskClient, wired: Container, clock: MovableClock) -> Session:
    [session] = into_coverage(clock, wired, enrolled(client, "李娜"))
    return session


def claims_of(wired: Container, person: int) -> int:
    with wired.db.read() as session:
        return int(session.scalar(select(func.count()).select_from(Claim).where(
            Claim.insured_person_id == person)) or 0)


def test_li_na_authorizes_lists_files_from_a_record_and_revokes(
        client: FlaskClient, wired: Container, clock: MovableClock) -> None:
    li = lina(client, wired, clock)
    # Before any authorization the records are not read, and the message says why.
    refused = listed(li, "?since=2027-01-01&until=2027-01-31")
    assert refused.status_code == 422
    assert refused.get_json()["code"] == "records_not_authorized"
    assert "尚未授权平台读取2027年01月01日至2027年01月31日的医保结算记录" in \
        refused.get_json()["message"]

    given = authorize(li)
    assert given.status_code == 201, given.get_json()
    consent = given.get_json()
    assert consent["live"] is True and consent["status_label"] == "已授权"
    assert consent["by_agent"] is False

    read = listed(li)
    assert read.status_code == 200, read.get_json()
    records = read.get_json()["items"]
    # The earlier ordinary visit (2026-10) lies outside the period: not read.
    assert [r["record"]["record_no"] for r in records] == [LI_NA_OUTPATIENT_SPECIAL]
    visit = records[0]["record"]
    assert visit["visit_type"] == "outpatient_special" and visit["visit_date"] == "2027-01-08"
    assert visit["in_policy_self_pay_fen"] == 3_500_000
    assert visit["diagnosis_codes"] == ["N18.5", "D63.1"] and records[0]["claimed"] is False
    # A period reaching outside the authorization is refused, naming the days asked for.
    wider = listed(li, "?since=2026-12-01&until=2027-01-31")
    assert wider.status_code == 422
    assert "2026年12月01日至2027年01月31日" in wider.get_json()["message"]

    form = li.client.get(f"{RECORDS}/prefill?record_no={LI_NA_OUTPATIENT_SPECIAL}",
                         headers=li.bearer).get_json()
    assert form["kind"] == "outpatient_special" and form["diagnosis_code"] == "N18.5"
    assert form["admitted_on"] == form["discharged_on"] == "2027-01-08"
    assert form["in_policy_self_pay_fen"] == 3_500_000 and form["to_add"] == []
    assert "门特/门慢病种认定证明" in form["documents"]
    assert form["hospital_name"] == "浙江大学医学院附属第一医院"

    card = new_card()
    # The record's figures are used; figures typed into the body are refused, not merged.
    typed = file(li, {"record_no": LI_NA_OUTPATIENT_SPECIAL, "in_policy_self_pay_fen": 9_000_000})
    assert typed.status_code == 422 and "in_policy_self_pay_fen" in typed.get_json()["errors"]
    filed = file(li, {"record_no": LI_NA_OUTPATIENT_SPECIAL, "payee": {"card_no": card}})
    assert filed.status_code == 201, filed.get_json()
    claim = filed.get_json()
    assert claim["kind"] == "outpatient_special" and claim["claimed_fen"] == 3_560_000
    assert claim["hospital_name"] == "浙江大学医学院附属第一医院"
    assert claim["payee"]["card"].endswith(card[-4:])
    assert upload(li, claim["claim_no"], "认定证明.png", image("PNG")).status_code == 201
    assert listed(li).get_json()["items"][0]["claimed"] is True
    again = file(li, {"record_no": LI_NA_OUTPATIENT_SPECIAL})
    assert again.status_code == 422 and again.get_json()["code"] == "record_already_claimed"
    reviewer = staff(client, wired)
    assert decide(reviewer, claim["claim_no"], "approve").status_code == 200

    revoked = li.client.post(f"{RECORDS}/consents/revoke", json={"consent_id": consent["id"]},
                             headers=li.bearer)
    assert revoked.status_code == 200 and revoked.get_json()["live"] is False
    assert revoked.get_json()["status_label"] == "已撤回"
    # Revocation stops further reads; the claim filed before stays.
    after = listed(li, "?since=2027-01-01&until=2027-06-30")
    assert after.status_code == 422 and "或授权已撤回" in after.get_json()["message"]
    prefill = li.client.get(f"{RECORDS}/prefill?record_no={LI_NA_OUTPATIENT_SPECIAL}",
                            headers=li.bearer)
    assert prefill.status_code == 422
    kept = li.client.get(f"/api/v1/claims/{claim['claim_no']}", headers=li.bearer)
    assert kept.get_json()["status"] == "approved"
    history = li.client.get(f"{RECORDS}/consents", headers=li.bearer).get_json()["items"]
    assert [c["live"] for c in history] == [False]


def test_an_authorization_is_a_period_of_at_most_a_year_in_order(
        client: FlaskClient, wired: Container, clock: MovableClock) -> None:
    li = lina(client, wired, clock)
    backwards = authorize(li, {"period_from": "2027-03-01", "period_to": "2027-02-01"})
    assert backwards.status_code == 422
    assert backwards.get_json()["errors"]["period_to"] == ["截止日期不能早于起始日期"]
    too_long = authorize(li, {"period_from": "2027-01-01", "period_to": "2028-01-02"})
    assert too_long.status_code == 422 and "最长366天" in too_long.get_json()["message"]


def test_an_ordinary_outpatient_visit_is_listed_but_not_claimable(
        client: FlaskClient, wired: Container, clock: MovableClock) -> None:
    li = lina(client, wired, clock)
    assert authorize(li, {"period_from": "2026-10-01", "period_to": "2027-01-31"}
                     ).status_code == 201
    items = listed(li).get_json()["items"]
    ordinary = [r["record"] for r in items if r["record"]["visit_type"] == "outpatient"]
    assert len(ordinary) == 1 and ordinary[0]["visit_label"] == "普通门诊"
    refused = li.client.get(f"{RECORDS}/prefill?record_no={ordinary[0]['record_no']}",
                            headers=li.bearer)
    assert refused.status_code == 422 and refused.get_json()["code"] == "record_not_claimable"
    unknown = li.client.get(f"{RECORDS}/prefill?record_no=JS000", headers=li.bearer)
    assert unknown.status_code == 404 and "已授权的期间内未找到" in unknown.get_json()["message"]


def test_an_agent_needs_the_claims_scope_and_her_reads_are_audited(
        client: FlaskClient, wired: Container, clock: MovableClock, app) -> None:  # type: ignore[no-untyped-def]
    from .enrollment_helpers import sign_in

    li = enrolled(client, "李娜")
    zhang = sign_in(app.test_client(), "张伟")
    grants = FakeGrants()
    wired.grants = grants
    [li, zhang] = into_coverage(clock, wired, li, zhang)
    acting = {"X-Acting-For": str(person_id(li))}

    assert authorize(zhang, headers=acting).status_code == 403
    assert listed(zhang, headers=acting).status_code == 403

    grants.allowed[(person_id(zhang), person_id(li))] = {Action.SUBMIT_CLAIMS}
    # Without her authorization the agent's read is refused, naming her (masked).
    refused = listed(zhang, "?since=2027-01-01&until=2027-01-31", headers=acting)
    assert refused.status_code == 422 and refused.get_json()["message"].startswith("李*尚未授权")
    given = authorize(zhang, headers=acting)
    assert given.status_code == 201 and given.get_json()["by_agent"] is True
    read = listed(zhang, headers=acting)
    assert read.status_code == 200
    assert [r["record"]["record_no"] for r in read.get_json()["items"]] == \
        [LI_NA_OUTPATIENT_SPECIAL]
    # The agent's own records are not hers: without X-Acting-For he has no authorization.
    assert listed(zhang).get_json()["code"] == "records_not_authorized"
    filed = file(zhang, {"record_no": LI_NA_OUTPATIENT_SPECIAL}, headers=acting)
    assert filed.status_code == 201, filed.get_json()
    with wired.db.read() as session:
        events = session.scalars(select(AuditEvent).where(
            AuditEvent.action.like("claim_records.%"),
            AuditEvent.acting_for_person_id == person_id(li))).all()
    actions = [event.action for event in events]
    assert {"claim_records.authorize", "claim_records.read", "claim_records.file"} <= \
        set(actions)
    assert all(event.actor_account_id == zhang.me["account_id"] for event in events)
    # She sees and may revoke what the agent authorized.
    mine = li.client.get(f"{RECORDS}/consents", headers=li.bearer).get_json()["items"]
    assert mine[0]["by_agent"] is True
    revoked = li.client.post(f"{RECORDS}/consents/revoke", json={"consent_id": mine[0]["id"]},
                             headers=li.bearer)
    assert revoked.status_code == 200

    # Both exports (PIPL Art. 45) carry the authorization: hers as given for her by the agent
    # and revoked by her, his as given by him for her; every act is named in Chinese.
    hers = li.client.get("/api/v1/me/data-export", headers=li.bearer).get_json()
    assert [(a["for"], a["granted_by"], a["revoked_by"], a["status_label"], a["period_from"])
            for a in hers["records_authorizations"]] == [
        ("本人", "亲友代办（张*）", "本人", "已撤回", PERIOD["period_from"])]
    his = zhang.client.get("/api/v1/me/data-export", headers=zhang.bearer).get_json()
    assert [(a["for"], a["granted_by"], a["revoked_by"])
            for a in his["records_authorizations"]] == [("李*", "本人", "李*本人")]
    # One she gave herself and her agent revoked is in his export too; one a second agent gave
    # and he revoked names him to her, but not to the second agent.
    jianguo = sign_in(app.test_client(), "张建国")
    grants.allowed[(person_id(jianguo), person_id(li))] = {Action.SUBMIT_CLAIMS}
    own = authorize(li).get_json()["id"]
    other = authorize(jianguo, headers=acting).get_json()["id"]
    for consent_id in (own, other):
        assert zhang.client.post(f"{RECORDS}/consents/revoke", json={"consent_id": consent_id},
                                 headers={**zhang.bearer, **acting}).status_code == 200

    def exported(session: Session) -> dict[int, tuple[str | None, str | None]]:
        data = session.client.get("/api/v1/me/data-export", headers=session.bearer).get_json()
        return {a["id"]: (a["granted_by"], a["revoked_by"])
                for a in data["records_authorizations"]}

    assert exported(zhang)[own] == ("李*本人", "本人")
    assert exported(li)[other] == ("亲友代办（张*国）", "亲友代办（张*）")
    assert exported(jianguo)[other] == ("本人", None)  # the other agent is not his to see
    labels = {e["action"]: e["label"] for e in hers["audit_trail"]}
    assert labels["claim_records.authorize"] == "授权查询医保结算记录"
    assert labels["claim_records.revoke"] == "撤回医保结算记录授权"
    assert all(re.search(r"[\u4e00-\u9fff]", label) for label in labels.values()), labels


class StopsAnswering:
    """The registry answering a first read, then no more (a timeout) for the next ones."""

    def __init__(self, inner: RegistryPort, answers: int) -> None:
        self._inner, self.answers = inner, answers

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)

    def settlements(self, id_number: str, since: date, until: date) -> Sequence[SettlementRecord]:
        if self.answers <= 0:
            raise RegistryUnavailable("timed out waiting for the registry")
        self.answers -= 1
        return self._inner.settlements(id_number, since, until)


def test_a_registry_that_stops_answering_mid_way_leaves_no_half_written_claim(
        client: FlaskClient, wired: Container, clock: MovableClock) -> None:
    li = lina(client, wired, clock)
    assert authorize(li).status_code == 201
    wired.registry = StopsAnswering(wired.registry, answers=1)
    assert listed(li).status_code == 200  # the list came; then the registry went down
    before = claims_of(wired, person_id(li))
    filed = file(li, {"record_no": LI_NA_OUTPATIENT_SPECIAL, "payee": {"card_no": new_card()}})
    assert filed.status_code == 503, filed.get_json()
    assert filed.get_json()["code"] == "registry_unavailable"
    assert "医保信息平台暂时无法访问" in filed.get_json()["message"]
    assert "未保存任何内容" in filed.get_json()["message"]
    assert claims_of(wired, person_id(li)) == before
    with wired.db.read() as session:
        assert session.scalar(select(func.count()).select_from(ClaimFromRecord)) == 0
    down = listed(li)
    assert down.status_code == 503 and "未能读取您的医保结算记录" in down.get_json()["message"]


def test_a_claim_failing_after_the_read_writes_neither_claim_nor_link(
        client: FlaskClient, wired: Container, clock: MovableClock) -> None:
    li = lina(client, wired, clock)
    assert authorize(li).status_code == 201
    # A payee card that is not hers: refused before anything is written.
    refused = file(li, {"record_no": LI_NA_OUTPATIENT_SPECIAL, "payee": {
        "card_no": "6222021234567890128", "kind": "guardian", "name": "张伟",
        "id_number": "330106198803150130"}})
    assert refused.status_code == 422
    assert claims_of(wired, person_id(li)) == 0
    with wired.db.read() as session:
        assert session.scalar(select(func.count()).select_from(ClaimFromRecord)) == 0


def test_deleting_the_account_revokes_the_authorization(
        client: FlaskClient, wired: Container) -> None:
    from .enrollment_helpers import sign_in

    li = sign_in(client, "李娜")
    assert authorize(li).status_code == 201
    done = client.post("/api/v1/me/deletion", headers=li.bearer, json={"confirm": True})
    assert done.status_code == 200, done.get_json()
    with wired.db.read() as session:
        consents = session.scalars(select(RecordsConsent)).all()
    assert len(consents) == 1 and consents[0].revoked_at is not None
