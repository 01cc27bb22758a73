"""The issue-15 data fix: auto-renewals switched on (before the payer-only rule) by someone other
than the paying holder are turned off, audited, and the payer is texted; the rest stay on."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from click.testing import CliRunner
from flask.testing import FlaskClient
from sqlalchemy import select

from huiminbao.audit import services as audit
from huiminbao.audit.models import AuditEvent
from huiminbao.audit.services import AuditActor, AuditEntry
from huiminbao.core.clock import MovableClock
from huiminbao.core.container import Container
from huiminbao.enrollment.auto_renew_fix import find_unconsented, revoke_unconsented
from huiminbao.enrollment.models import Policy
from huiminbao.enrollment.policies import AUTO_RENEW_CONSENT_VERSION
from huiminbao.identity.models import SmsMessage
from huiminbao.identity.sms_domain import SmsTemplate

from .enrollment_helpers import PEOPLE, sign_in
from .test_family import _add_family, _buy

ZHANG_PHONE = PEOPLE["张伟"][0]


def _turned_on_the_old_way(wired: Container, policy_no: str, account_id: int | None) -> None:
    """What set_auto_renew wrote before the payer-only rule, for whoever asked."""
    with wired.db.transaction() as session:
        policy = session.scalars(select(Policy).where(Policy.policy_no == policy_no)).one()
        policy.auto_renew, policy.auto_renew_consent_version = True, AUTO_RENEW_CONSENT_VERSION
        policy.auto_renew_changed_at = wired.clock.now()
        if account_id is not None:
            audit.record(session, wired.clock, AuditEntry(
                action="policy.auto_renew_on", actor=AuditActor(account_id, "resident"),
                subject_person_id=policy.insured_person_id, object_type="policy",
                object_id=policy_no, details={"consent_version": AUTO_RENEW_CONSENT_VERSION}))


def _revocation_texts(wired: Container) -> list[SmsMessage]:
    with wired.db.read() as session:
        return list(session.scalars(select(SmsMessage).where(
            SmsMessage.template == SmsTemplate.AUTO_RENEW_REVOKED.value)).all())


def _revocations(wired: Container) -> list[AuditEvent]:
    with wired.db.read() as session:
        return list(session.scalars(select(AuditEvent).where(
            AuditEvent.action == "policy.auto_renew_revoked").order_by(AuditEvent.id)).all())


def test_auto_renewals_not_consented_by_the_paying_holder_are_turned_off(
        client: FlaskClient, app: Any, wired: Container, clock: MovableClock) -> None:
    zhang = sign_in(client, "张伟")
    ids = _add_family(zhang)
    bought = _buy(zhang, [ids["李娜"], ids["张建国"], ids["张小宇"]]).get_json()
    by_person = {p["person_id"]: p["policy_no"] for p in bought["policies"]}
    li_na_policy, father_policy, son_policy = (
        by_person[ids["李娜"]], by_person[ids["张建国"]], by_person[ids["张小宇"]])
    li = sign_in(app.test_client(), "李娜")

    # 李娜 switched on the renewal of her policy, paid from 张伟's account (the old hole).
    _turned_on_the_old_way(wired, li_na_policy, li.me["account_id"])
    # 张伟 switched on his son's himself, through the API: a consent that stands.
    consent = client.get("/api/v1/auto-renew-consent").get_json()
    on = client.put(f"/api/v1/policies/{son_policy}/auto-renew", headers=zhang.bearer,
                    json={"enabled": True, "consent_version": consent["version"]})
    assert on.status_code == 200, on.get_json()
    # His father's is on with no record of anybody consenting.
    _turned_on_the_old_way(wired, father_policy, None)
    clock.advance(timedelta(minutes=1))

    found = {u.policy_no: u.reason for u in find_unconsented(wired)}
    assert found == {li_na_policy: "not_payer", father_policy: "no_consent_record"}

    dry = revoke_unconsented(wired, dry_run=True)
    assert (len(dry.found), dry.revoked) == (2, 0)
    assert _revocations(wired) == [] and _revocation_texts(wired) == []

    report = revoke_unconsented(wired)
    assert (report.revoked, report.notified) == (2, 2)
    views = {no: client.get(f"/api/v1/policies/{no}", headers=zhang.bearer).get_json()
             for no in (li_na_policy, father_policy, son_policy)}
    assert [views[no]["auto_renew"] for no in (li_na_policy, father_policy, son_policy)] == [
        False, False, True]
    with wired.db.read() as session:
        off = session.scalars(select(Policy).where(Policy.policy_no == li_na_policy)).one()
        assert off.auto_renew_consent_version is None

    events = _revocations(wired)
    assert [(e.object_id, e.details["reason"], e.details["payer_notified"]) for e in events] == [
        (li_na_policy, "not_payer", True), (father_policy, "no_consent_record", True)]
    assert events[0].details["consented_by_account_id"] == li.me["account_id"]
    assert events[0].actor_client == "cli"

    texts = _revocation_texts(wired)
    assert [t.phone for t in texts] == [ZHANG_PHONE, ZHANG_PHONE]  # the payer, not 李娜
    assert "李*" in texts[0].text and "自动续保已关闭" in texts[0].text
    assert PEOPLE["李娜"][1] not in texts[0].text

    # Run again: nothing left to do, nobody texted twice.
    again = revoke_unconsented(wired)
    assert (len(again.found), again.revoked) == (0, 0)
    assert len(_revocation_texts(wired)) == 2


def test_the_command_line_lists_then_fixes(client: FlaskClient, app: Any, wired: Container,
                                           monkeypatch: Any) -> None:
    from contextlib import contextmanager

    import huiminbao.cli as cli

    zhang = sign_in(client, "张伟")
    ids = _add_family(zhang)
    policy_no = _buy(zhang, [ids["李娜"]]).get_json()["policies"][0]["policy_no"]
    li = sign_in(app.test_client(), "李娜")
    _turned_on_the_old_way(wired, policy_no, li.me["account_id"])

    @contextmanager
    def _wired():  # type: ignore[no-untyped-def]
        yield wired

    monkeypatch.setattr(cli, "wired_from_env", _wired)
    runner = CliRunner()
    listed = runner.invoke(cli.main, ["renewal", "revoke-unconsented", "--dry-run"])
    assert listed.exit_code == 0, listed.output
    assert f"{policy_no}: not_payer" in listed.output and "turned off 0" in listed.output
    fixed = runner.invoke(cli.main, ["renewal", "revoke-unconsented"])
    assert fixed.exit_code == 0, fixed.output
    assert "turned off 1, payers texted 1" in fixed.output
    assert client.get(f"/api/v1/policies/{policy_no}",
                      headers=zhang.bearer).get_json()["auto_renew"] is False
