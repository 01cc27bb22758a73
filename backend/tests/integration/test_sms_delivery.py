"""Delivering the SMS outbox on PostgreSQL through the Tencent adapter and the local fake over
HTTP: retries with back-off, leases, two racing workers, login codes sent at once, and the
acceptance case — the provider down for a burst of 50 enrollments, every debit notice delivered
exactly once after it recovers."""

from __future__ import annotations

import threading
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from datetime import timedelta

import pytest
from sqlalchemy import delete, select

from huiminbao.app import create_app
from huiminbao.catalog.demo import ensure_demo_product
from huiminbao.catalog.models import Product
from huiminbao.core.clock import MovableClock
from huiminbao.core.config import Mode
from huiminbao.core.container import Container
from huiminbao.identity.agreements import current_versions as _agreed
from huiminbao.identity.domain import OtpPurpose
from huiminbao.identity.models import OtpChallenge, SmsMessage
from huiminbao.identity.sms_domain import (
    REDACTED_CODE,
    RetryPolicy,
    SmsStatus,
    SmsTemplate,
    redacted_code_text,
)
from huiminbao.identity.sms_fake_tencent import FakeTencentSms, template_ids
from huiminbao.identity.sms_tencent import SmsProviderConfig, TencentSmsProvider
from huiminbao.identity.sms_worker import (
    DeliveryCounts,
    SmsWorker,
    claim_due,
    deliver,
    deliver_due,
)
from huiminbao.registry.generator import generate_population
from huiminbao_bench.pool import one_click_body, sign_in_pool

pytestmark = pytest.mark.postgres

BURST = 50


@pytest.fixture
def fake() -> Iterator[FakeTencentSms]:
    server = FakeTencentSms().start()
    yield server
    server.stop()


@pytest.fixture
def provider(fake: FakeTencentSms) -> TencentSmsProvider:
    config = SmsProviderConfig.from_env(fake.env())
    assert config is not None
    return config.provider_client(timeout=2)


@pytest.fixture
def wired(pg_wired: Container, provider: TencentSmsProvider) -> Container:
    """The PostgreSQL container with the provider configured and an empty outbox."""
    with pg_wired.db.transaction() as session:
        session.execute(delete(SmsMessage))
    return replace(pg_wired, sms_provider=provider)


def queue(c: Container, count: int) -> list[int]:
    ids = []
    with c.db.transaction() as session:
        for n in range(count):
            ids.append(c.sms.send(session, f"1390000{n:04d}", SmsTemplate.CLAIM_SUBMITTED,
                                  {"claim_no": f"LP{n:016d}"}))
    return ids


def rows(c: Container) -> dict[int, SmsMessage]:
    with c.db.read() as session:
        return {m.id: m for m in session.scalars(select(SmsMessage))}


def outbox_ids_sent(fake: FakeTencentSms) -> Counter[int]:
    return Counter(int(m.session_context.split(":")[1]) for m in fake.messages)


def test_the_worker_sends_queued_texts_and_marks_them_sent(
    wired: Container, fake: FakeTencentSms, provider: TencentSmsProvider
) -> None:
    ids = queue(wired, 3)
    counts = SmsWorker(wired, provider, batch=2).run_once()
    assert (counts.sent, counts.failed) == (3, 0)
    stored = rows(wired)
    assert {stored[i].status for i in ids} == {"sent"}
    assert {stored[i].attempts for i in ids} == {1}
    assert all(stored[i].provider_message_id and stored[i].sent_at for i in ids)
    assert outbox_ids_sent(fake) == Counter(ids)
    assert [m.params for m in fake.messages] == [(f"LP{n:016d}",) for n in range(3)]
    assert {m.template_id for m in fake.messages} == {template_ids()[SmsTemplate.CLAIM_SUBMITTED]}
    assert SmsWorker(wired, provider).run_once().handled == 0  # nothing twice


def test_failures_back_off_and_are_given_up_after_the_last_attempt(
    wired: Container, fake: FakeTencentSms, provider: TencentSmsProvider, clock: MovableClock
) -> None:
    [message_id] = queue(wired, 1)
    policy = RetryPolicy(max_attempts=3)
    fake.fail_code = "FailedOperation.PhoneNumberInBlacklist"
    assert deliver_due(wired, provider, policy=policy).failed == 1
    first = rows(wired)[message_id]
    assert (first.status, first.attempts) == ("failed", 1)
    assert first.next_attempt_at is not None and first.updated_at is not None
    assert first.next_attempt_at - first.updated_at == timedelta(seconds=30)
    assert "PhoneNumberInBlacklist" in (first.last_error or "")
    assert deliver_due(wired, provider, policy=policy).handled == 0  # not due yet
    clock.advance(timedelta(seconds=31))
    assert deliver_due(wired, provider, policy=policy).failed == 1
    clock.advance(timedelta(seconds=61))
    assert deliver_due(wired, provider, policy=policy).given_up == 1
    clock.advance(timedelta(hours=2))
    assert deliver_due(wired, provider, policy=policy).handled == 0
    final = rows(wired)[message_id]
    assert (final.status, final.attempts) == ("given_up", 3)
    assert fake.messages == []


def test_an_answer_lost_after_the_provider_accepted_is_retried_never_lost(
    wired: Container, fake: FakeTencentSms, provider: TencentSmsProvider, clock: MovableClock
) -> None:
    """The provider took the text, then its answer never came (the client's 2 s timeout): the
    outcome is unknown, so the text is retried. The resident may get it twice - the documented
    at-least-once window - but never zero times, and the row ends sent."""
    [message_id] = queue(wired, 1)
    fake.answer_delay = 3.0
    assert deliver_due(wired, provider).failed == 1
    assert outbox_ids_sent(fake) == Counter({message_id: 1})  # it did go out
    first = rows(wired)[message_id]
    assert first.status == "failed" and first.last_error
    fake.answer_delay = 0.0
    clock.advance(timedelta(seconds=31))
    assert deliver_due(wired, provider).sent == 1
    assert rows(wired)[message_id].status == "sent"
    assert outbox_ids_sent(fake) == Counter({message_id: 2})


def test_a_crashed_workers_lease_runs_out_and_another_sends_it_once(
    wired: Container, fake: FakeTencentSms, provider: TencentSmsProvider, clock: MovableClock
) -> None:
    [message_id] = queue(wired, 1)
    lease = timedelta(seconds=1)
    [held] = claim_due(wired, now=clock.now(), lease=lease)  # then "crashes"
    assert claim_due(wired, now=clock.now()) == []  # held: nobody else takes it
    clock.advance(timedelta(hours=1))  # leases go by the database's clock, not the application's
    assert claim_due(wired, now=clock.now()) == []
    time.sleep(1.2)
    assert deliver_due(wired, provider, lease=lease).sent == 1  # attempt 2 takes the lease over
    # The first worker comes back: its lease ended, so it does not even reach the provider.
    assert deliver(wired, provider, held) is None
    stored = rows(wired)[message_id]
    assert (stored.status, stored.attempts) == ("sent", 2)
    assert [m.session_context for m in fake.messages] == [f"sms_outbox:{message_id}:2"]


def test_a_slow_provider_and_a_short_lease_still_send_every_text_exactly_once(
    wired: Container, fake: FakeTencentSms, provider: TencentSmsProvider
) -> None:
    """Each worker claims a whole batch with one lease, then sends it one by one through a slow
    provider: the tail of a batch outlives its lease and the other worker claims it again. Only
    the worker holding a live lease at the moment of sending sends it."""
    ids = queue(wired, 12)
    fake.delay = 0.25  # 12 texts: 3 s one after another, three times the lease
    lease = timedelta(seconds=1)
    policy = RetryPolicy(max_attempts=100)
    barrier = threading.Barrier(2)
    deadline = time.monotonic() + 60

    def drain() -> DeliveryCounts:
        barrier.wait()
        total = DeliveryCounts()
        while time.monotonic() < deadline:
            total.add(deliver_due(wired, provider, limit=12, lease=lease, policy=policy))
            if {m.status for m in rows(wired).values()} == {"sent"}:
                return total
            time.sleep(0.05)
        return total

    with ThreadPoolExecutor(2) as pool:
        counts = list(pool.map(lambda _: drain(), range(2)))
    assert {m.status for m in rows(wired).values()} == {"sent"}
    assert outbox_ids_sent(fake) == Counter(ids)  # every text exactly once
    assert sum(c.sent for c in counts) == 12
    assert sum(c.lost_lease for c in counts) > 0  # the race did happen: tails were skipped


def test_two_workers_racing_never_send_one_text_twice(
    wired: Container, fake: FakeTencentSms, provider: TencentSmsProvider
) -> None:
    ids = queue(wired, 120)
    barrier = threading.Barrier(2)

    def drain() -> int:
        barrier.wait()
        return SmsWorker(wired, provider, batch=5).run_once().sent

    with ThreadPoolExecutor(2) as pool:
        sent = list(pool.map(lambda _: drain(), range(2)))
    assert sum(sent) == 120 and all(sent), sent  # both worked, together exactly once each
    assert outbox_ids_sent(fake) == Counter(ids)
    assert {m.status for m in rows(wired).values()} == {"sent"}


def test_a_login_code_is_sent_at_once(
    wired: Container, fake: FakeTencentSms
) -> None:
    client = create_app(container=wired).test_client()
    answer = client.post("/api/v1/auth/otp", json={"phone": "13911112222"})
    assert answer.status_code == 200, answer.get_json()
    [received] = fake.sent_to("13911112222")
    assert received.template is SmsTemplate.LOGIN_CODE
    [stored] = rows(wired).values()
    assert (stored.status, stored.attempts, stored.template) == ("sent", 1, "login_code")
    login = client.post("/api/v1/auth/login",
                        json={"phone": "13911112222", "code": received.params[0],
                              "agreements": _agreed()})
    assert login.status_code == 200, login.get_json()


def test_a_login_code_with_the_provider_down_answers_503_and_leaves_no_live_code(
    wired: Container, fake: FakeTencentSms, provider: TencentSmsProvider
) -> None:
    client = create_app(container=wired).test_client()
    fake.down = True
    answer = client.post("/api/v1/auth/otp", json={"phone": "13911113333"})
    assert answer.status_code == 503, answer.get_json()
    body = answer.get_json()
    assert (body["code"], body["message"]) == ("sms_failed", "短信发送失败，请稍后重试")
    assert answer.headers["Retry-After"]
    [stored] = rows(wired).values()
    assert (stored.status, stored.attempts) == ("given_up", 1)
    with wired.db.read() as session:
        challenge = session.scalars(select(OtpChallenge)
                                    .where(OtpChallenge.phone_is("13911113333"))).one()
    assert challenge.voided_at is not None  # the code can never be used
    assert SmsWorker(wired, provider).run_once().handled == 0  # nor sent later
    fake.down = False
    again = client.post("/api/v1/auth/otp", json={"phone": "13911113333"})  # at once, no 429
    assert again.status_code == 200, again.get_json()
    assert len(fake.sent_to("13911113333")) == 1


def test_other_codes_go_the_same_way(wired: Container, fake: FakeTencentSms) -> None:
    from huiminbao.core.errors import Busy
    from huiminbao.identity.services import send_code

    fake.error_code = "FailedOperation.InsufficientBalanceInSmsPackage"
    debit = {"amount": "¥150.00", "insured": "张*国"}  # a debit code names both
    with pytest.raises(Busy):
        send_code(wired, "13911114444", OtpPurpose.CONFIRM_PAYMENT, params=debit)
    fake.error_code = None
    send_code(wired, "13911114444", OtpPurpose.CONFIRM_PAYMENT, params=debit)
    [received] = fake.sent_to("13911114444")
    assert received.template is SmsTemplate.DEBIT_CONFIRM_CODE


def test_a_provider_outage_during_a_burst_of_50_enrollments_loses_and_doubles_nothing(
    wired: Container, fake: FakeTencentSms, provider: TencentSmsProvider, clock: MovableClock
) -> None:
    generate_population(wired.db, wired.clock, 400, seed=16)
    ensure_demo_product(wired.db, wired.clock)
    with wired.db.read() as session:
        product = session.scalars(select(Product)).one()
        _ = product.tiers, product.terms
    members = sign_in_pool(wired, product.id, BURST)
    assert len(members) == BURST
    body = one_click_body(product)
    client = create_app(container=wired).test_client()

    fake.down = True
    worker = SmsWorker(wired, provider, batch=10, idle_seconds=0.05)
    running = threading.Thread(target=worker.run, daemon=True)
    running.start()  # a worker keeps trying throughout the outage
    try:
        statuses = []
        for member in members:
            answer = client.post("/api/v1/enrollments", json=body, headers={
                "Authorization": f"Bearer {member.token}", "Idempotency-Key": uuid.uuid4().hex})
            statuses.append(answer.status_code)
            assert answer.status_code == 201, answer.get_json()
    finally:
        worker.stop()
        running.join(timeout=30)
    assert statuses == [201] * BURST
    assert fake.messages == []
    notices = {i: m for i, m in rows(wired).items() if m.template == "debit_notice"}
    assert notices, "the generated payers have phones"
    assert {m.status for m in notices.values()} <= {"queued", "failed"}

    fake.down = False
    clock.advance(timedelta(hours=2))  # past any back-off
    counts = SmsWorker(wired, provider, batch=7).run_once()
    assert counts.sent == len(notices) and counts.failed == counts.given_up == 0
    assert SmsWorker(wired, provider).run_once().handled == 0
    debit_id = template_ids()[SmsTemplate.DEBIT_NOTICE]
    delivered = Counter(int(m.session_context.split(":")[1]) for m in fake.messages
                        if m.template_id == debit_id)
    assert delivered == Counter(notices.keys())  # every notice, each exactly once
    assert {m.status for i, m in rows(wired).items() if i in notices} == {SmsStatus.SENT.value}


# ---------------------------------------------------------------- one-time codes at rest


@pytest.fixture
def production(wired: Container) -> Container:
    """The same container in production mode: codes are blanked in the outbox once final."""
    return replace(wired, settings=replace(wired.settings, mode=Mode.PRODUCTION))


def test_production_blanks_a_sent_code_in_the_outbox_and_the_code_still_works(
    production: Container, fake: FakeTencentSms
) -> None:
    client = create_app(container=production).test_client()
    assert client.post("/api/v1/auth/otp", json={"phone": "13911115555"}).status_code == 200
    [received] = fake.sent_to("13911115555")
    code = received.params[0]
    [stored] = rows(production).values()
    assert stored.status == "sent"
    assert stored.params == {"code": REDACTED_CODE}
    assert code not in stored.text and "验证码为******，" in stored.text
    login = client.post("/api/v1/auth/login", json={"phone": "13911115555", "code": code,
                                                    "agreements": _agreed()})
    assert login.status_code == 200, login.get_json()


def test_production_blanks_a_code_given_up_by_the_request_or_by_the_sweep(
    production: Container, fake: FakeTencentSms, clock: MovableClock
) -> None:
    from huiminbao.core.errors import Busy
    from huiminbao.identity.services import send_code
    from huiminbao.identity.sms_worker import lease_now

    fake.down = True
    with pytest.raises(Busy):
        send_code(production, "13911116666", OtpPurpose.CONFIRM_PAYMENT,  # given up at once
                  params={"amount": "¥150.00", "insured": "张*"})
    fake.down = False
    with production.db.transaction() as session:
        expired = production.sms.send(session, "13911117777", SmsTemplate.LOGIN_CODE,
                                      {"code": "123456"})  # queued, never sent in time
        crashed = production.sms.send(session, "13911118888", SmsTemplate.RELATIVE_CODE,
                                      {"code": "654321"})
        lease_now(session, crashed, clock.now(), lease=timedelta(seconds=1))  # sender dies
    notice = queue(production, 1)[0]  # not a code: kept as it is
    time.sleep(1.2)
    clock.advance(timedelta(minutes=6))
    assert SmsWorker(production, production.sms_provider).run_once().sent == 1  # the notice
    stored = rows(production)
    for message in stored.values():
        if message.template == SmsTemplate.CLAIM_SUBMITTED.value:
            continue
        assert message.status == "given_up", message.last_error
        assert (message.text, message.params) == redacted_code_text(
            SmsTemplate(message.template))
    assert {stored[expired].template, stored[crashed].template} == {"login_code",
                                                                    "relative_code"}
    assert "123456" not in stored[expired].text and "654321" not in stored[crashed].text
    assert stored[notice].params == {"claim_no": "LP0000000000000000"}
    assert stored[notice].status == "sent"


def test_demo_mode_keeps_codes_for_the_development_outbox(
    wired: Container, fake: FakeTencentSms
) -> None:
    client = create_app(container=wired).test_client()
    assert client.post("/api/v1/auth/otp", json={"phone": "13911119999"}).status_code == 200
    [received] = fake.sent_to("13911119999")
    [stored] = rows(wired).values()
    assert stored.status == "sent" and stored.params == {"code": received.params[0]}
    outbox = client.get("/api/v1/dev/sms?phone=13911119999").get_json()
    assert received.params[0] in outbox["items"][0]["text"]
