"""Scale-out: two app servers — two ``huiminbao serve`` processes on two ports, in
production mode with one secret key — share one PostgreSQL schema and one Redis database, and
hold no state of their own. A storm split across both issues one policy and one debit per
person; an Idempotency-Key replayed on the other server answers the first result; the code
sending limit counts sends on either server; a session opened on one works (and ends) on both.
"""

from __future__ import annotations

import os
import random
import re
import secrets
import time
from collections import Counter, defaultdict
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from huiminbao.app import build_container
from huiminbao.catalog.demo import ensure_demo_product
from huiminbao.catalog.models import Product
from huiminbao.core.container import Container
from huiminbao.enrollment.models import Order, Policy
from huiminbao.enrollment.reconcile import reconcile
from huiminbao.identity.agreements import current_versions as _agreed
from huiminbao.identity.sms_domain import SmsTemplate
from huiminbao.identity.sms_fake_tencent import FakeTencentSms
from huiminbao.registry.generator import generate_population
from huiminbao.standins import LocalServices, production_settings
from huiminbao_bench import server
from huiminbao_bench.pool import PoolMember, one_click_body, sign_in_pool
from tests.log_scan import watch_log_file
from tests.served import Answer, call, redis_or_fail

pytestmark = pytest.mark.postgres

REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/14")
PERSONS = 24  # each sends four requests: one key on both servers, two more keys
STORM_THREADS = 16
STORM_DEADLINE_S = 240.0
MODEL = server.WorkerModel("gthread", 2, 4)
ALLOWED_REFUSALS = {"already_insured", "pending_order"}


@dataclass
class Cluster:
    a: server.AppServer
    b: server.AppServer
    container: Container
    product_id: int
    members: list[PoolMember]
    body: dict[str, Any]
    sms: FakeTencentSms  # what residents' phones received


def _server_errors(cluster: Cluster) -> str:
    """The servers' logged errors (tracebacks included), to say why a request failed."""
    lines: list[str] = []
    for instance in (cluster.a, cluster.b):
        text = Path(instance.log_path).read_text(encoding="utf-8", errors="replace")
        lines += [line for line in text.splitlines()
                  if '"level": "ERROR"' in line or "Traceback" in line or "Error" in line]
    return "\n".join(lines[-40:])


@pytest.fixture(scope="module")
def cluster(pg_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    shared_redis = redis_or_fail(REDIS_URL)
    shared_redis.flushdb()
    secret_key = secrets.token_urlsafe(48)
    services = LocalServices.start(pg_url)  # production runs on real services only
    settings = production_settings(pg_url, services, redis_url=REDIS_URL, secret_key=secret_key,
                                   testing=True)
    container = build_container(settings)  # the system clock, as the servers have
    generate_population(container.db, container.clock, 1_000, seed=8)
    ensure_demo_product(container.db, container.clock)
    with container.db.read() as session:
        product = session.scalars(select(Product)).one()
        _ = product.tiers, product.terms
    members = sign_in_pool(container, product.id, PERSONS)
    assert len(members) == PERSONS
    body = one_click_body(product)
    workdir = tmp_path_factory.mktemp("scale-out")
    env = server.server_env(pg_url, REDIS_URL, secret_key, settings.port_env)
    started: list[server.AppServer] = []
    try:
        for _ in range(2):
            instance = server.start(MODEL, env, workdir)
            watch_log_file(instance.log_path)  # the session's scan for ID and phone numbers
            started.append(instance)
        yield Cluster(started[0], started[1], container, product.id, members, body,
                      services.sms)
    finally:
        for instance in started:
            server.stop(instance)
        shared_redis.flushdb()
        shared_redis.close()
        container.db.dispose()
        services.stop()


def _enroll(base_url: str, cluster: Cluster, member: PoolMember, key: str) -> Answer:
    """Enroll; a 409 ``idempotency_in_progress`` (the same key still running on the other server
    after the short wait) is retried with the same key, as a client does, until a definite
    answer."""
    for _attempt in range(40):
        answer = call(base_url, "POST", "/api/v1/enrollments", body=cluster.body,
                      headers={"Authorization": f"Bearer {member.token}", "Idempotency-Key": key})
        if answer.status != 409 or (answer.body or {}).get("code") != "idempotency_in_progress":
            return answer
        time.sleep(0.25)
    return answer


def test_a_storm_split_across_both_servers_issues_one_policy_and_one_debit_each(
    cluster: Cluster,
) -> None:
    rng = random.Random(8)
    jobs: list[tuple[str, int, str]] = []  # (server, member index, key)
    for index in range(len(cluster.members)):
        shared_key = f"scale-{index}-{uuid_hex()}"
        jobs += [("a", index, shared_key), ("b", index, shared_key),
                 ("a", index, f"scale-{index}-{uuid_hex()}"),
                 ("b", index, f"scale-{index}-{uuid_hex()}")]
    rng.shuffle(jobs)
    bases = {"a": cluster.a.base_url, "b": cluster.b.base_url}

    def send(job: tuple[str, int, str]) -> Answer:
        which, index, key = job
        return _enroll(bases[which], cluster, cluster.members[index], key)

    started = time.monotonic()
    with ThreadPoolExecutor(max_workers=STORM_THREADS) as pool:
        answers = list(pool.map(send, jobs, timeout=STORM_DEADLINE_S))
    assert time.monotonic() - started < STORM_DEADLINE_S

    by_member: dict[int, list[Answer]] = defaultdict(list)
    by_key: dict[str, list[Answer]] = defaultdict(list)
    for (_which, index, key), answer in zip(jobs, answers, strict=True):
        by_member[index].append(answer)
        by_key[key].append(answer)
        if answer.status != 201:
            assert answer.status in {409, 422}, (answer.status, answer.body,
                                                 _server_errors(cluster))
            assert answer.body["code"] in ALLOWED_REFUSALS, answer.body
    for key, pair in by_key.items():
        if len(pair) == 2:  # the same key on both servers: one execution, the same answer
            assert (pair[0].status, pair[0].body) == (pair[1].status, pair[1].body), key
    for index, member_answers in by_member.items():
        orders = {answer.body["order_no"] for answer in member_answers if answer.status == 201}
        assert len(orders) == 1, (index, [(a.status, a.body) for a in member_answers])

    c = cluster.container
    with c.db.read() as session:
        live = Counter(session.scalars(select(Policy.insured_person_id).where(
            Policy.product_id == cluster.product_id, Policy.status == "active")))
        issued = session.scalar(select(func.count()).select_from(Order).where(
            Order.status == "issued"))
    for member in cluster.members:
        assert live[member.person_id] == 1, member.person_id
        debits = [e for e in c.registry.entries(member.id_number) if e.kind == "debit"]
        assert len(debits) == 1, (member.person_id, debits)
    assert issued == len(cluster.members)
    report = reconcile(c)
    assert report.ok, report.violations
    assert report.settled_orders == {}


def uuid_hex() -> str:
    return secrets.token_hex(8)


def test_the_code_sending_limit_counts_sends_on_either_server(cluster: Cluster) -> None:
    phone = "13912340001"
    first = call(cluster.a.base_url, "POST", "/api/v1/auth/otp", body={"phone": phone})
    assert first.status == 200, first.body
    second = call(cluster.b.base_url, "POST", "/api/v1/auth/otp", body={"phone": phone})
    assert second.status == 429, second.body
    assert int(second.headers["retry-after"]) > 0
    other_phone = call(cluster.b.base_url, "POST", "/api/v1/auth/otp",
                       body={"phone": "13912340002"})
    assert other_phone.status == 200, other_phone.body  # the limit is per phone, not global


def _latest_code(sms: FakeTencentSms, phone: str) -> str:
    """The code as the resident's phone got it: production keeps no code in its outbox."""
    codes = [m.params[0] for m in sms.sent_to(phone) if m.template is SmsTemplate.LOGIN_CODE]
    assert codes, f"no login code texted to {phone}"
    return codes[-1]


def test_a_session_opened_on_one_server_works_and_ends_on_both(cluster: Cluster) -> None:
    phone = "13912340003"
    sent = call(cluster.a.base_url, "POST", "/api/v1/auth/otp", body={"phone": phone})
    assert sent.status == 200, sent.body
    code = _latest_code(cluster.sms, phone)
    login = call(cluster.b.base_url, "POST", "/api/v1/auth/login",  # the code, sent from A
                 body={"phone": phone, "code": code, "agreements": _agreed()})
    assert login.status == 200, login.body
    bearer = {"Authorization": f"Bearer {login.body['access_token']}"}
    session_cookie = re.search(r"hmb_session=([^;]+)", " ".join(login.cookies))
    assert session_cookie is not None, login.cookies

    for base_url in (cluster.a.base_url, cluster.b.base_url):
        me = call(base_url, "GET", "/api/v1/me", headers=bearer)
        assert me.status == 200, me.body
        by_cookie = call(base_url, "GET", "/api/v1/me",
                         headers={"Cookie": f"hmb_session={session_cookie.group(1)}"})
        assert by_cookie.status == 200, by_cookie.body

    logout = call(cluster.a.base_url, "POST", "/api/v1/auth/logout", headers=bearer)
    assert logout.status in {200, 204}, logout.body
    for base_url in (cluster.a.base_url, cluster.b.base_url):
        assert call(base_url, "GET", "/api/v1/me", headers=bearer).status == 401
        assert call(base_url, "GET", "/api/v1/me", headers={
            "Cookie": f"hmb_session={session_cookie.group(1)}"}).status == 401


def test_both_servers_are_separate_processes(cluster: Cluster) -> None:
    assert cluster.a.port != cluster.b.port
    assert cluster.a.process.pid != cluster.b.process.pid
    for instance in (cluster.a, cluster.b):
        health = call(instance.base_url, "GET", "/api/v1/health")
        assert health.status == 200 and health.body["mode"] == "production", health.body
        assert health.body["database_backend"] == "postgresql"
    assert Path(cluster.a.log_path).exists()
