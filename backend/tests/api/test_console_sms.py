"""GET /api/v1/admin/sms: each text's delivery state for administrators (masked phone, template,
attempts, last error, never the text); demo mode keeps every text in the outbox for
/api/v1/dev/sms, and the worker's simulator marks them delivered."""

from __future__ import annotations

import json
from datetime import timedelta

from flask.testing import FlaskClient

from huiminbao.core.clock import MovableClock
from huiminbao.core.container import Container
from huiminbao.identity.domain import Role
from huiminbao.identity.sms import SimulatedSmsProvider
from huiminbao.identity.sms_domain import SmsTemplate
from huiminbao.identity.sms_worker import SmsWorker

from .helpers import login
from .test_console_support import INSURER_PHONE, admin, staff_session

URL = "/api/v1/admin/sms"


def test_administrators_see_each_texts_state_without_its_text(
    client: FlaskClient, wired: Container, clock: MovableClock
) -> None:
    administrator = admin(client, wired)  # its login code is in the outbox, queued (demo)
    with wired.db.transaction() as session:
        wired.sms.send(session, "13812345678", SmsTemplate.CLAIM_APPROVED,
                       {"claim_no": "LP2027032012345678", "amount": "1,150.00元"})
    answer = client.get(URL, headers=administrator.bearer)
    assert answer.status_code == 200, answer.get_json()
    body = answer.get_json()
    newest = body["items"][0]
    assert newest["phone"] == "138****5678"
    assert (newest["template"], newest["status"], newest["status_label"]) == (
        "claim_approved", "queued", "待发送")
    assert newest["attempts"] == 0 and newest["last_error"] is None
    assert "text" not in newest
    assert body["items"][1]["template"] == "login_code"
    assert body["counts"] == {"queued": 2}

    clock.advance(timedelta(seconds=1))
    counts = SmsWorker(wired, SimulatedSmsProvider()).run_once()  # demo: the simulator
    assert counts.sent == 2
    sent = client.get(URL + "?status=sent&page_size=1", headers=administrator.bearer).get_json()
    assert [item["status"] for item in sent["items"]] == ["sent"]
    assert sent["items"][0]["provider_message_id"].startswith("sim-")
    assert client.get(URL + "?status=queued", headers=administrator.bearer).get_json()[
        "items"] == []


def test_the_outbox_is_read_a_page_at_a_time(client: FlaskClient, wired: Container) -> None:
    administrator = admin(client, wired)  # its login code is the first text
    with wired.db.transaction() as session:
        for n in range(4):
            wired.sms.send(session, f"1381234{n:04d}", SmsTemplate.CLAIM_APPROVED,
                           {"claim_no": f"LP20270320123456{n:02d}", "amount": "1.00元"})
    pages = []
    for number in (1, 2, 3):
        answer = client.get(f"{URL}?page={number}&page_size=2", headers=administrator.bearer)
        assert answer.status_code == 200, answer.get_json()
        pages.append(answer)
    assert [len(p.get_json()["items"]) for p in pages] == [2, 2, 1]
    ids = [item["id"] for p in pages for item in p.get_json()["items"]]
    assert ids == sorted(ids, reverse=True) and len(set(ids)) == 5  # newest first, no repeats
    assert json.loads(pages[0].headers["X-Pagination"]) == {
        "total": 5, "total_pages": 3, "first_page": 1, "last_page": 3, "page": 1,
        "next_page": 2}
    assert json.loads(pages[2].headers["X-Pagination"])["previous_page"] == 2
    assert pages[0].get_json()["counts"] == {"queued": 2}  # among those listed
    too_big = client.get(f"{URL}?page_size=201", headers=administrator.bearer)
    assert too_big.status_code == 422
    assert too_big.get_json()["errors"] == {"page_size": ["数值超出允许范围"]}


def test_others_are_refused(client: FlaskClient, wired: Container) -> None:
    insurer = staff_session(client, wired, Role.INSURER_STAFF, INSURER_PHONE)
    assert client.get(URL, headers=insurer.bearer).status_code == 403
    resident = login(client, "13800000001")
    assert client.get(URL, headers=resident.bearer).status_code == 403
    assert client.get(URL).status_code in {401, 403}


def test_a_bad_filter_is_a_chinese_422(client: FlaskClient, wired: Container) -> None:
    administrator = admin(client, wired)
    answer = client.get(URL + "?status=lost", headers=administrator.bearer)
    assert answer.status_code == 422
    assert "短信状态不正确" in str(answer.get_json())


def test_demo_mode_keeps_codes_readable_in_the_dev_outbox(client: FlaskClient) -> None:
    assert client.post("/api/v1/auth/otp", json={"phone": "13800000009"}).status_code == 200
    items = client.get("/api/v1/dev/sms?phone=13800000009").get_json()["items"]
    assert items[0]["text"].startswith("【西湖益联保】您的登录验证码为")
