"""Complaints: a person (or an agent for a principal) files one with a category, text and
optionally their own policy or claim; staff reply and move it received → in_progress → resolved;
the person sees the replies and gets a text with the number only; overdue ones are flagged."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import select
from sqlalchemy.orm import Session as DbSession

from huiminbao.audit.models import AuditEvent
from huiminbao.core.clock import MovableClock
from huiminbao.core.container import Container
from huiminbao.disclosure.models import Complaint, ComplaintReply
from huiminbao.identity.access import GrantFinder
from huiminbao.identity.domain import Action, Role
from huiminbao.identity.services import open_session_for

from .enrollment_helpers import PEOPLE, enroll, sign_in
from .helpers import Session
from .test_console_support import count, demo_product_id, staff_session

URL = "/api/v1/complaints"
TEXT = "10月在线缴费后一直显示待支付，客服电话打不通，请尽快处理。"


def file(session: Session, **changes: Any):  # type: ignore[no-untyped-def]
    body = {"category": "payment", "content": TEXT, **changes}
    return session.client.post(URL, json=body, headers=session.bearer)


def reply(staff: Session, number: str, message: str, status: str | None = None):  # type: ignore[no-untyped-def]
    body: dict[str, Any] = {"message": message}
    if status:
        body["status"] = status
    return staff.client.post(f"/api/v1/admin/complaints/{number}/replies", json=body,
                             headers=staff.bearer)


def sms(app: Flask, phone: str) -> list[str]:
    items = app.test_client().get(f"/api/v1/dev/sms?phone={phone}").get_json()["items"]
    return [item["text"] for item in items]


@pytest.fixture
def zhang(app: Flask) -> Session:
    return sign_in(app.test_client(), "张伟")


@pytest.fixture
def insurer(app: Flask, wired: Container) -> Session:
    return staff_session(app.test_client(), wired, Role.INSURER_STAFF, "13600000002", "客服甲")


def test_a_complaint_from_filed_to_resolved(app: Flask, wired: Container, zhang: Session,
                                            insurer: Session) -> None:
    response = file(zhang)
    assert response.status_code == 201, response.get_json()
    complaint = response.get_json()
    number = complaint["complaint_no"]
    assert re.fullmatch(r"TS2026112200001", number)
    assert (complaint["status"], complaint["status_label"]) == ("received", "已受理")
    assert complaint["category_label"] == "缴费支付"
    assert complaint["content"] == TEXT and complaint["replies"] == []
    # Filed on Sunday 22 Nov: five working days are Mon 23 – Fri 27; overdue from Sat 00:00.
    assert complaint["due_at"] == "2026-11-27T16:00:00+00:00"
    assert complaint["overdue"] is False and complaint["complainant_name"] == "张*"

    queue = insurer.client.get("/api/v1/admin/complaints", headers=insurer.bearer)
    assert [item["complaint_no"] for item in queue.get_json()["items"]] == [number]

    first = reply(insurer, number, "您好，已收到您的投诉，正在核查支付记录。")
    assert first.status_code == 201, first.get_json()
    assert first.get_json()["status"] == "in_progress"  # a first reply starts the handling
    texts = sms(app, PEOPLE["张伟"][0])
    assert texts[0].endswith("您的惠民保投诉（编号TS2026112200001）有新的回复，"
                             "请登录“惠民保参保服务”查看。")

    mine = zhang.client.get(f"{URL}/{number}", headers=zhang.bearer).get_json()
    assert [r["message"] for r in mine["replies"]] == ["您好，已收到您的投诉，正在核查支付记录。"]
    assert mine["replies"][0]["author_label"] == "保险公司工作人员"
    assert mine["status_label"] == "处理中"

    done = reply(insurer, number, "经核查已为您退回重复扣款，感谢您的耐心。", "resolved")
    assert done.status_code == 201
    assert done.get_json()["status"] == "resolved"
    assert done.get_json()["resolved_at"] is not None
    assert "已办结" in sms(app, PEOPLE["张伟"][0])[0]
    for text in sms(app, PEOPLE["张伟"][0]):
        assert "张伟" not in text and PEOPLE["张伟"][1] not in text

    listed = zhang.client.get(URL, headers=zhang.bearer).get_json()["items"]
    assert [(c["complaint_no"], c["status"], len(c["replies"])) for c in listed] == [
        (number, "resolved", 2)]
    after = reply(insurer, number, "补充说明")
    assert after.status_code == 422
    assert after.get_json()["message"] == "该投诉已办结，不能再回复或变更状态"
    with wired.db.read() as session:
        actions = session.scalars(select(AuditEvent.action).where(
            AuditEvent.object_id == number).order_by(AuditEvent.id)).all()
    assert actions == ["complaint.file", "complaint.reply", "complaint.reply"]


@pytest.mark.parametrize(("current", "target", "allowed"), [
    ("received", "in_progress", True),
    ("received", "resolved", False),
    ("received", "received", False),
    ("in_progress", "in_progress", True),
    ("in_progress", "resolved", True),
    ("in_progress", "received", False),
    ("resolved", "in_progress", False),
    ("resolved", "resolved", False),
])
def test_replies_follow_the_transition_table(zhang: Session, insurer: Session, current: str,
                                             target: str, allowed: bool) -> None:
    number = file(zhang).get_json()["complaint_no"]
    if current != "received":
        assert reply(insurer, number, "开始处理", "in_progress").status_code == 201
    if current == "resolved":
        assert reply(insurer, number, "已处理完毕", "resolved").status_code == 201
    response = reply(insurer, number, "状态变更", target)
    assert (response.status_code == 201) is allowed, response.get_json()
    if not allowed:
        assert response.get_json()["code"] == "invalid_transition"
        assert response.get_json()["errors"]["status"]


@pytest.mark.parametrize(("changes", "field", "message"), [
    ({"content": "太慢了太慢了太慢了"}, "content", "投诉内容至少需要10个字，请说明具体情况"),
    ({"content": "投" * 1001}, "content", "投诉内容不能超过1000个字（当前1001个字）"),
    ({"category": "weather"}, "category", "请选择投诉类别"),
    ({"category": None}, "category", "此项不能为空"),
    ({"policy_no": "XHYL2027000000000001"}, "policy_no", "未找到您名下的该保单，请核对保单号"),
    ({"claim_no": "LP-NOPE"}, "claim_no", "未找到您名下的该理赔案件，请核对理赔编号"),
])
def test_refusals_are_chinese_and_write_nothing(wired: Container, zhang: Session,
                                                changes: dict[str, Any], field: str,
                                                message: str) -> None:
    response = file(zhang, **changes)
    assert response.status_code == 422, response.get_json()
    assert response.get_json()["errors"][field] == [message]
    assert count(wired, Complaint) == 0


def test_only_ones_own_policy_may_be_named(app: Flask, wired: Container, zhang: Session) -> None:
    own = enroll(zhang, "personal_account").get_json()["policies"][0]["policy_no"]
    named = file(zhang, policy_no=own, category="enrollment")
    assert named.status_code == 201
    assert named.get_json()["policy_no"] == own
    li = sign_in(app.test_client(), "李娜")
    others = file(li, policy_no=own)
    assert others.status_code == 422  # the same answer as a number that does not exist
    assert others.get_json()["errors"]["policy_no"] == ["未找到您名下的该保单，请核对保单号"]
    assert count(wired, Complaint) == 1


def test_strangers_get_404_and_residents_403_on_the_queue(app: Flask, wired: Container,
                                                          zhang: Session) -> None:
    number = file(zhang).get_json()["complaint_no"]
    li = sign_in(app.test_client(), "李娜")
    stranger = li.client.get(f"{URL}/{number}", headers=li.bearer)
    assert stranger.status_code == 404
    missing = li.client.get(f"{URL}/TS0000", headers=li.bearer)
    assert missing.status_code == 404
    # Someone else's complaint reads exactly like one that does not exist.
    assert stranger.get_json()["message"] == missing.get_json()["message"] == "未找到该投诉"
    assert li.client.get(URL, headers=li.bearer).get_json()["items"] == []
    assert li.client.get("/api/v1/admin/complaints", headers=li.bearer).status_code == 403
    assert reply(li, number, "我来回复").status_code == 403
    assert app.test_client().get(f"{URL}/{number}").status_code == 401
    assert app.test_client().post(URL, json={"category": "other", "content": TEXT}
                                  ).status_code == 401
    counter = staff_session(app.test_client(), wired, Role.COUNTER_STAFF, "13600000003")
    assert counter.client.get(f"{URL}/{number}", headers=counter.bearer).status_code == 404
    assert count(wired, ComplaintReply) == 0
    with wired.db.read() as session:
        denied = session.scalars(select(AuditEvent).where(
            AuditEvent.outcome == "denied", AuditEvent.object_id == number)).all()
    assert len(denied) == 2  # 李娜 and the counter clerk


def test_overdue_complaints_are_flagged_in_the_queue(app: Flask, wired: Container,
                                                     clock: MovableClock, zhang: Session,
                                                     insurer: Session) -> None:
    late = file(zhang).get_json()["complaint_no"]
    handled = file(zhang, category="service").get_json()["complaint_no"]
    assert handled == "TS2026112200002"
    assert reply(insurer, handled, "正在处理", "in_progress").status_code == 201
    assert reply(insurer, handled, "已解决", "resolved").status_code == 201
    clock.travel_to(datetime(2026, 11, 27, 16, 0, tzinfo=UTC))  # Sat 28 Nov 00:00 in China
    signed = open_session_for(wired, insurer.me["account_id"], method="sms")
    headers = {"Authorization": f"Bearer {signed.access_token}"}
    queue = app.test_client().get("/api/v1/admin/complaints", headers=headers).get_json()
    flags = {item["complaint_no"]: item["overdue"] for item in queue["items"]}
    assert flags == {late: True, handled: False}
    assert [item["complaint_no"] for item in queue["items"]] == [late, handled]
    only = app.test_client().get("/api/v1/admin/complaints?overdue=true", headers=headers)
    assert [item["complaint_no"] for item in only.get_json()["items"]] == [late]
    resolved = app.test_client().get("/api/v1/admin/complaints?status=resolved",
                                     headers=headers)
    assert [item["complaint_no"] for item in resolved.get_json()["items"]] == [handled]
    bad = app.test_client().get("/api/v1/admin/complaints?status=closed", headers=headers)
    assert bad.status_code == 422
    assert bad.get_json()["errors"]["status"] == [
        "状态只能是 received、in_progress 或 resolved"]


def test_the_deadline_is_a_product_setting(app: Flask, wired: Container, zhang: Session) -> None:
    administrator = staff_session(app.test_client(), wired, Role.ADMIN, "13600000001")
    product_id = demo_product_id(app.test_client())
    path = f"/api/v1/admin/products/{product_id}/complaint-settings"
    assert administrator.client.get(path, headers=administrator.bearer).get_json() == {
        "response_working_days": 5}
    changed = administrator.client.put(path, json={"response_working_days": 10},
                                       headers=administrator.bearer)
    assert changed.status_code == 200
    complaint = file(zhang).get_json()
    assert complaint["due_at"] == "2026-12-04T16:00:00+00:00"  # ten working days
    zero = administrator.client.put(path, json={"response_working_days": 0},
                                    headers=administrator.bearer)
    assert zero.status_code == 422
    assert zero.get_json()["errors"]["response_working_days"] == [
        "投诉处理时限应为1至30个工作日"]
    assert zhang.client.put(path, json={"response_working_days": 3},
                            headers=zhang.bearer).status_code == 403


class ComplaintsGrant:
    """A grant to file complaints for one principal (no proxy scope maps to it yet)."""

    def __init__(self, inner: GrantFinder, agent: int, principal: int) -> None:
        self.inner, self.agent, self.principal = inner, agent, principal

    def active_grant_id(self, session: DbSession, agent_person_id: int,
                        principal_person_id: int, action: Action, now: datetime) -> int | None:
        if (agent_person_id, principal_person_id, action) == (
                self.agent, self.principal, Action.FILE_COMPLAINTS):
            return 4242
        return self.inner.active_grant_id(session, agent_person_id, principal_person_id,
                                          action, now)


def test_an_agent_files_for_the_principal(app: Flask, wired: Container, zhang: Session,
                                          insurer: Session) -> None:
    father = sign_in(app.test_client(), "张建国")
    son = zhang.me["identity"]["person_id"]
    principal = father.me["identity"]["person_id"]
    wired.grants = ComplaintsGrant(wired.grants, son, principal)
    headers = {**zhang.bearer, "X-Acting-For": str(principal)}
    filed = zhang.client.post(URL, json={"category": "claims", "content": TEXT},
                              headers=headers)
    assert filed.status_code == 201, filed.get_json()
    assert filed.get_json()["filed_by_agent"] is True
    assert filed.get_json()["complainant_name"] == "张*国"
    number = filed.get_json()["complaint_no"]
    assert [c["complaint_no"] for c in zhang.client.get(URL, headers=headers).get_json()[
        "items"]] == [number]
    assert zhang.client.get(URL, headers=zhang.bearer).get_json()["items"] == []
    assert father.client.get(f"{URL}/{number}", headers=father.bearer).status_code == 200
    assert reply(insurer, number, "已受理，正在处理").status_code == 201
    assert f"您的惠民保投诉（编号{number}）" in sms(app, PEOPLE["张伟"][0])[0]
    assert f"您的惠民保投诉（编号{number}）" in sms(app, PEOPLE["张建国"][0])[0]
    with wired.db.read() as session:
        event = session.scalars(select(AuditEvent).where(
            AuditEvent.action == "complaint.file")).one()
    assert (event.subject_person_id, event.acting_for_person_id, event.grant_id) == (
        principal, principal, 4242)
    li = sign_in(app.test_client(), "李娜")
    refused = li.client.post(URL, json={"category": "claims", "content": TEXT}, headers={
        **li.bearer, "X-Acting-For": str(principal)})
    assert refused.status_code == 403
    assert count(wired, Complaint) == 1


def test_the_categories_are_listed_in_chinese(app: Flask) -> None:
    items = app.test_client().get("/api/v1/complaint-categories").get_json()["items"]
    assert [(i["code"], i["label"]) for i in items] == [
        ("enrollment", "参保投保"), ("payment", "缴费支付"), ("claims", "理赔"),
        ("refund", "退保退费"), ("service", "服务质量"), ("privacy", "个人信息保护"),
        ("other", "其他")]


def test_the_queue_is_read_a_page_at_a_time(zhang: Session, insurer: Session) -> None:
    filed = [file(zhang, category=category).get_json()["complaint_no"]
             for category in ("payment", "service", "claims", "other")]
    assert reply(insurer, filed[0], "正在处理", "in_progress").status_code == 201
    assert reply(insurer, filed[0], "已解决", "resolved").status_code == 201
    seen, headers = [], []
    for page in (1, 2):
        answer = insurer.client.get(f"/api/v1/admin/complaints?page={page}&page_size=3",
                                    headers=insurer.bearer)
        assert answer.status_code == 200, answer.get_json()
        seen += [item["complaint_no"] for item in answer.get_json()["items"]]
        headers.append(json.loads(answer.headers["X-Pagination"]))
    assert seen == [*filed[1:], filed[0]]  # unresolved first, each once, across the pages
    assert [h["total"] for h in headers] == [4, 4] and headers[0]["next_page"] == 2
    filtered = insurer.client.get("/api/v1/admin/complaints?status=resolved&page_size=3",
                                  headers=insurer.bearer)
    assert json.loads(filtered.headers["X-Pagination"])["total"] == 1
