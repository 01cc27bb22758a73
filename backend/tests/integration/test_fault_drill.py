"""The fault drill: a real ``huiminbao serve`` (production mode, gthread, 2 workers ×
4 threads) on PostgreSQL, with personal-account enrollments of signed-in persons (as the rush
benchmark makes them) running while the server or its database fails:

1. ``kill -9`` mid-burst: the server's whole process group dies while a burst of enrollments
   (one person and one Idempotency-Key each) is in flight; it restarts on the same database and
   every key is retried once.
2. Backends terminated mid-burst: ``pg_terminate_backend`` on the server's own PostgreSQL
   backends (found by the ``application_name`` in its DATABASE_URL; other engineers' backends in
   the same database are never touched) while a burst runs; the server keeps running.
3. The database refused, then black-holed, then back: the server reaches PostgreSQL through
   ``tests.faultproxy.FaultProxy``, which refuses connections for 3 s and then lets nothing
   through for 10 s (longer than the 9 s answer bound, so a request that waits the black hole
   out fails it), while enrollments (retrying their key after a 503, as a client would) and
   ``GET /api/v1/health`` run throughout.

After each round: reconcile is clean; no money lost (per drill person, the registry's successful
debits less refunds equal the payable of their issued orders; every successful debit belongs to
an issued order or came back in full); no double debit; no Idempotency-Key stuck (after the
lease, a same-key retry answers from its order within 1 s, and 12 concurrent retries of stuck
keys leave ``/health`` answering within ``HEALTH_BOUND_S``); no order left pending once a read,
a retry and reconcile have had their go; during the fault every answer was 2xx, 4xx or 503
(with ``Retry-After``), none took longer than a bound, and ``/health`` answered 503 while the
database was away; afterwards the same server process answers health 200 and enrolls again; its
log has no unhandled traceback. A round's findings are listed together, with what was measured.

Each round is bounded (the drill takes under a minute: ``uv run pytest
backend/tests/integration/test_fault_drill.py -s`` prints every round's measurements).
``HUIMINBAO_DRILL_ROUNDS=N`` runs each round N times (before a release: e.g. 20);
``HUIMINBAO_DRILL_SEED`` replays the random kill delays of a run (the seed is printed with any
failure). Redis: db 13 of 127.0.0.1, or
``TEST_DRILL_REDIS_URL``.
"""

from __future__ import annotations

import itertools
import json
import os
import random
import re
import secrets
import threading
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, create_engine, select, text
from sqlalchemy.engine import make_url

from huiminbao.app import build_container
from huiminbao.catalog.demo import ensure_demo_product
from huiminbao.catalog.models import Product
from huiminbao.core.container import Container
from huiminbao.core.crypto import blind_index
from huiminbao.core.idempotency import WAIT_FOR_FIRST
from huiminbao.enrollment.models import Order
from huiminbao.enrollment.reconcile import reconcile
from huiminbao.registry.generator import generate_population
from huiminbao.registry.models import RegistryOperationRow
from huiminbao.standins import LocalServices, production_settings
from huiminbao_bench import server
from huiminbao_bench.pool import PoolMember, one_click_body, sign_in_pool
from tests import conftest
from tests.faultproxy import FaultProxy
from tests.log_scan import watch_log_file
from tests.served import Answer, call, redis_or_fail

pytestmark = pytest.mark.postgres

ROUNDS = max(1, int(os.environ.get("HUIMINBAO_DRILL_ROUNDS", "1")))
SEED = int(os.environ.get("HUIMINBAO_DRILL_SEED") or secrets.randbelow(1_000_000))
REDIS_URL = os.environ.get("TEST_DRILL_REDIS_URL", "redis://127.0.0.1:6379/13")
MODEL = server.WorkerModel("gthread", 2, 4)

LEASE_S = 2.0  # the servers' Idempotency-Key lease (HUIMINBAO_IDEMPOTENCY_LEASE_SECONDS)
BURST = 16  # enrollments in flight when the fault strikes (twice the server's threads)
LOAD_CLIENTS = 4  # round 3: clients enrolling throughout, plus one reading /health
LOAD_PERSONS = 20 * LOAD_CLIENTS
STUCK_RETRIES = 12
REFUSE_S = 3.0

REQUEST_TIMEOUT_S = 15.0  # the client gives up: a request still open then has hung
# Any answer while the database is in trouble: the server's longest deadline (a statement's 5 s
# plus the 2 s answer margin, core/db.py) with room for two busy cores.
ANSWER_BOUND_S = 9.0
# /health has its own deadlines (a 2 s connect, core/db.py), with room for two busy cores: the
# suite's other worker may be driving a browser meanwhile (3.12 s seen in one such run).
HEALTH_FAULT_BOUND_S = 4.0
# Longer than the bound, so a request that waits the black hole out fails it.
BLACKHOLE_S = ANSWER_BOUND_S + 1.0
RETRY_BOUND_S = 1.0  # a same-key retry after the lease answers from its order within this
RETRY_TIMEOUT_S = 3.0  # ... and is given up this long after (keeps the drill bounded)
# /health while 12 retries of stuck keys run. By design a duplicate of a live key holds its thread
# up to WAIT_FOR_FIRST before its 409, so /health may queue behind such waits; a stuck key as in
# issue 13 held threads for the statement limit or longer (59.7 s). Nominally 0.01 s; 1.08 s seen
# once on a loaded CI box where the retries themselves took ten times their usual time.
HEALTH_BOUND_S = WAIT_FOR_FIRST + 0.5
RECOVERY_S = 10.0  # after the fault: health 200 within this, on the same process
PENDING_LIMIT = timedelta(minutes=1)

IN_PROGRESS_CODES = {"idempotency_in_progress", "idempotency_retry"}
# Each drill person sends one key: a retry told its person has a pending order was not answered
# from that key's own order (which is the pending one).
NOT_FROM_ITS_ORDER = {"pending_order"}
UNHANDLED = "unhandled error"  # core/api.py's catch-all, which answers 500
POOL_RESET_FAILED = "Exception during reset or similar"  # SQLAlchemy invalidates it and goes on
_EXCEPTION_LINE = re.compile(r"^[\w.]+(Error|Exception|Shutdown|Timeout)\b")
_CJK = re.compile(r"[\u4e00-\u9fff]")


# ---------------------------------------------------------------- the drill's world


@dataclass
class Drill:
    container: Container  # in-process, for reconcile and the checks (its own application_name)
    admin: Engine  # terminates the servers' backends
    application_name: str  # in the servers' DATABASE_URL
    env: dict[str, str]
    workdir: Path
    proxy: FaultProxy
    body: dict[str, Any]
    product_id: int
    rng: random.Random
    server: server.AppServer | None = None
    servers: list[server.AppServer] = field(default_factory=list)
    members: dict[int, PoolMember] = field(default_factory=dict)  # person id -> member
    dirty: bool = False  # the last round failed

    @property
    def base_url(self) -> str:
        assert self.server is not None
        return self.server.base_url

    def start_server(self) -> server.AppServer:
        instance = server.start(MODEL, self.env, self.workdir)
        watch_log_file(instance.log_path)  # the session's scan for ID and phone numbers
        self.server = instance
        self.servers.append(instance)
        return instance

    def ensure_serving(self) -> None:
        """A round starts on a live server with the database reachable. After a failed round,
        on a fresh process: threads still stuck from that round would blur this one."""
        self.proxy.passthrough()
        if self.server is not None and self.dirty:
            server.stop(self.server)
        if self.server is None or self.server.process.poll() is not None:
            self.start_server()
        else:
            server.wait_until_healthy(self.server)
        self.dirty = True  # until the round passes

    def sign_in(self, count: int) -> list[PoolMember]:
        fresh = sign_in_pool(self.container, self.product_id, count)
        assert len(fresh) == count, f"the population has only {len(fresh)} more persons"
        self.members.update({member.person_id: member for member in fresh})
        return fresh

    def log_marks(self) -> dict[Path, int]:
        return {instance.log_path: _size(instance.log_path) for instance in self.servers}

    def logs_since(self, marks: dict[Path, int]) -> str:
        texts = []
        for instance in self.servers:
            with instance.log_path.open("rb") as log:
                log.seek(marks.get(instance.log_path, 0))
                texts.append(log.read().decode("utf-8", errors="replace"))
        return "\n".join(texts)


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError:
        return 0


def _with_query(url: str, **params: str) -> str:
    parsed = make_url(url)
    return parsed.update_query_dict(params).render_as_string(hide_password=False)


@pytest.fixture(scope="module")
def drill(pg_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Drill]:
    shared_redis = redis_or_fail(REDIS_URL)
    shared_redis.flushdb()
    secret_key = secrets.token_urlsafe(48)
    tag = f"hmb_drill_{secrets.token_hex(4)}"
    # Every port on a real service over HTTP (production refuses simulators); the registry
    # stand-in reaches PostgreSQL directly, not through the drill's fault proxy: it is remote.
    services = LocalServices.start(pg_url)
    settings = production_settings(
        _with_query(pg_url, application_name=f"{tag}_check"), services,
        redis_url=REDIS_URL, secret_key=secret_key, testing=True)
    container = build_container(settings)  # the system clock, as the servers have
    # About a third of the generated persons can enroll themselves from their personal
    # account with the phone the registry holds for them.
    generate_population(container.db, container.clock,
                        7 * ROUNDS * (2 * (BURST + 1) + LOAD_PERSONS + 1), seed=13)
    product = ensure_demo_product(container.db, container.clock)
    with container.db.read() as session:
        product = session.scalars(select(Product).where(Product.id == product.id)).one()
        _ = product.tiers, product.terms
    body = one_click_body(product)
    upstream = make_url(pg_url)
    proxy = FaultProxy(upstream.host or "127.0.0.1", upstream.port or 5432)
    proxy.MAX_LIFETIME_SECONDS = 300.0 + 120.0 * ROUNDS  # it serves the whole drill
    proxy.start()
    env = server.server_env(proxy.url_for(_with_query(pg_url, application_name=tag)),
                            REDIS_URL, secret_key, settings.port_env)
    env["HUIMINBAO_IDEMPOTENCY_LEASE_SECONDS"] = f"{LEASE_S:g}"
    admin = create_engine(conftest.test_database_url(), isolation_level="AUTOCOMMIT",
                          connect_args={"application_name": f"{tag}_admin"})
    world = Drill(container, admin, tag, env, tmp_path_factory.mktemp("fault-drill"), proxy,
                  body, product.id, random.Random(SEED))
    try:
        world.start_server()
        yield world
    finally:
        for instance in world.servers:
            server.stop(instance)
        proxy.close()
        admin.dispose()
        container.db.dispose()
        services.stop()
        shared_redis.flushdb()
        shared_redis.close()


# ---------------------------------------------------------------- requests and their outcomes


@dataclass(frozen=True)
class Outcome:
    what: str  # "enroll <key>" or "health"
    answer: Answer | None
    error: str | None  # no answer: refused, reset, or timed out
    started: float  # time.monotonic()
    seconds: float

    @property
    def timed_out(self) -> bool:
        return self.error is not None and "timed out" in self.error

    @property
    def code(self) -> str:
        body = self.answer.body if self.answer is not None else None
        return str(body.get("code", "")) if isinstance(body, dict) else ""

    @property
    def definite(self) -> bool:
        """An answer a client can act on: the order, or a refusal that is not 'try again'."""
        if self.answer is None:
            return False
        status = self.answer.status
        return 200 <= status < 300 or (400 <= status < 500 and self.code not in IN_PROGRESS_CODES
                                       and status != 429)

    def describe(self) -> str:
        if self.answer is None:
            return f"{self.what}: no answer after {self.seconds:.1f}s ({self.error})"
        return (f"{self.what}: {self.answer.status} {self.code or ''} "
                f"after {self.seconds:.2f}s").rstrip()


def timed(what: str, base_url: str, method: str, path: str, *, timeout: float,
          body: Any = None, headers: dict[str, str] | None = None) -> Outcome:
    started = time.monotonic()
    try:
        answer = call(base_url, method, path, body=body, headers=headers, timeout=timeout)
    except OSError as exc:
        return Outcome(what, None, repr(exc), started, time.monotonic() - started)
    return Outcome(what, answer, None, started, time.monotonic() - started)


@dataclass(frozen=True)
class Attempt:
    member: PoolMember
    key: str


def enroll(drill: Drill, attempt: Attempt, *, timeout: float = REQUEST_TIMEOUT_S,
           base_url: str | None = None) -> Outcome:
    return timed(f"enroll {attempt.key}", base_url or drill.base_url, "POST",
                 "/api/v1/enrollments", body=drill.body, timeout=timeout,
                 headers={"Authorization": f"Bearer {attempt.member.token}",
                          "Idempotency-Key": attempt.key})


def health(drill: Drill, timeout: float = REQUEST_TIMEOUT_S) -> Outcome:
    return timed("health", drill.base_url, "GET", "/api/v1/health", timeout=timeout)


def attempts_for(members: Sequence[PoolMember]) -> list[Attempt]:
    return [Attempt(member, f"drill-{secrets.token_hex(8)}") for member in members]


# ---------------------------------------------------------------- one round's findings


@dataclass
class Round:
    name: str
    findings: dict[str, list[str]] = field(default_factory=lambda: defaultdict(list))
    notes: list[str] = field(default_factory=list)

    def fail(self, check: str, detail: str) -> None:
        self.findings[check].append(detail)

    def note(self, line: str) -> None:
        self.notes.append(line)

    def report(self) -> str:
        lines = [f"fault drill round '{self.name}' (HUIMINBAO_DRILL_SEED={SEED}):"]
        for check, details in self.findings.items():
            lines.append(f"- {check}: {len(details)}×")
            lines += [f"    {detail}" for detail in details[:4]]
            if len(details) > 4:
                lines.append(f"    … and {len(details) - 4} more")
        lines += [f"  ({note})" for note in self.notes]
        return "\n".join(lines)

    def assert_clean(self) -> None:
        print(self.report())  # the measurements, also when it passes (pytest -s)
        assert not self.findings, self.report()


def check_answers(r: Round, outcomes: Sequence[Outcome], *, bound: float,
                  no_answer_expected: bool = False) -> None:
    """During a fault: 2xx, 4xx or 503 with Retry-After, within ``bound``; never 500."""
    for outcome in outcomes:
        answer = outcome.answer
        if answer is None:
            if outcome.timed_out:
                r.fail("a request hung", outcome.describe())
            elif not no_answer_expected:
                r.fail("a request got no answer while the server was up", outcome.describe())
            continue
        if answer.status >= 500 and answer.status != 503:
            r.fail(f"answered {answer.status} (not 503)", outcome.describe())
        elif answer.status == 503 and "retry-after" not in answer.headers:
            r.fail("503 without Retry-After", outcome.describe())
        elif not (200 <= answer.status < 300 or 400 <= answer.status < 500
                  or answer.status == 503):
            r.fail("unexpected status", outcome.describe())
        if outcome.seconds > bound:
            r.fail(f"an answer took longer than {bound:g}s", outcome.describe())
        elif outcome.what == "health" and outcome.seconds > HEALTH_FAULT_BOUND_S:
            r.fail(f"/health took longer than {HEALTH_FAULT_BOUND_S:g}s", outcome.describe())
    slowest = max((outcome.seconds for outcome in outcomes), default=0.0)
    statuses = sorted({o.answer.status if o.answer else 0 for o in outcomes})
    r.note(f"{len(outcomes)} requests during the fault; statuses {statuses} (0: no answer); "
           f"slowest {slowest:.2f}s")


# ---------------------------------------------------------------- after the fault


def retry_after_lease(drill: Drill, r: Round, attempts: Sequence[Attempt],
                      firsts: Sequence[Outcome], *, lease_from: float) -> None:
    """No key stuck: once the lease has run out, 12 concurrent retries of keys that got no
    definite answer leave /health fast, and then every key, retried once, answers from its
    order within a second (the first answer again, when there was one)."""
    time.sleep(max(0.0, lease_from + LEASE_S + 0.5 - time.monotonic()))
    unsettled = [a for a, first in zip(attempts, firsts, strict=True) if not first.definite]
    r.note(f"{len(unsettled)} of {len(attempts)} keys had no definite answer")
    stuck = unsettled[:max(1, len(unsettled) // 2)] or list(attempts[:1])
    jobs = list(itertools.islice(itertools.cycle(stuck), STUCK_RETRIES))
    with ThreadPoolExecutor(max_workers=STUCK_RETRIES + 1) as pool:
        retries = [pool.submit(enroll, drill, job, timeout=RETRY_TIMEOUT_S + 2) for job in jobs]
        time.sleep(0.2)  # the retries have the server's threads
        probe = health(drill, timeout=RETRY_TIMEOUT_S + 2)
        concurrent = [future.result() for future in retries]
    if probe.answer is None or probe.answer.status != 200 or probe.seconds > HEALTH_BOUND_S:
        r.fail(f"/health not 200 within {HEALTH_BOUND_S:g}s during {STUCK_RETRIES} retries of "
               f"stuck keys", probe.describe())
    for outcome in concurrent:
        if outcome.answer is None or outcome.answer.status >= 500:
            r.fail("a concurrent retry of a stuck key failed or hung", outcome.describe())
        elif outcome.answer.status == 409 and "retry-after" not in outcome.answer.headers:
            r.fail("409 to a concurrent retry without Retry-After", outcome.describe())

    r.note(f"{STUCK_RETRIES} concurrent retries of {len(stuck)} keys: {probe.describe()}; "
           f"slowest retry {max(o.seconds for o in concurrent):.2f}s")
    by_key = dict(zip((a.key for a in attempts), firsts, strict=True))
    with ThreadPoolExecutor(max_workers=4) as pool:
        retried = list(pool.map(lambda a: enroll(drill, a, timeout=RETRY_TIMEOUT_S), attempts))
    r.note(f"every key retried once: slowest {max(o.seconds for o in retried):.2f}s")
    for attempt, outcome in zip(attempts, retried, strict=True):
        first = by_key[attempt.key]
        if outcome.answer is None:
            r.fail("a key is stuck: its retry got no answer", outcome.describe())
            continue
        if not outcome.definite or outcome.code in NOT_FROM_ITS_ORDER:
            r.fail("a key is stuck: its retry did not answer from its order",
                   outcome.describe())
        elif outcome.seconds > RETRY_BOUND_S:
            r.fail(f"a retry took longer than {RETRY_BOUND_S:g}s", outcome.describe())
        elif outcome.answer.status >= 400 and not _CJK.search(
                str(outcome.answer.body.get("message", ""))):
            r.fail("a refusal without a Chinese message", outcome.describe())
        if first.definite and first.answer is not None and (
                first.answer.status, _order_no(first)) != (outcome.answer.status,
                                                           _order_no(outcome)):
            r.fail("a retry answered differently from the first answer",
                   f"{first.describe()} then {outcome.describe()}")


def _order_no(outcome: Outcome) -> str | None:
    body = outcome.answer.body if outcome.answer is not None else None
    return body.get("order_no") if isinstance(body, dict) else None


def settle_and_check_money(drill: Drill, r: Round) -> None:
    """A read of every pending order, then reconcile; then the books, person by person."""
    c = drill.container
    person_ids = list(drill.members)
    with c.db.read() as session:
        pending = session.execute(select(Order.order_no, Order.buyer_person_id).where(
            Order.buyer_person_id.in_(person_ids), Order.status == "pending_payment")).all()
    for order_no, person_id in pending:
        member = drill.members[person_id]
        timed("read", drill.base_url, "GET", f"/api/v1/enrollments/{order_no}",
              timeout=RETRY_TIMEOUT_S, headers={"Authorization": f"Bearer {member.token}"})
    report = reconcile(c)
    r.note(f"{len(pending)} orders pending before the reads; reconcile settled "
           f"{report.settled_orders or 'none'}")
    for violation in report.violations:
        r.fail("reconcile found a violation", violation)

    now = c.clock.now()
    with c.db.read() as session:
        orders = session.execute(select(
            Order.order_no, Order.payment_request_no, Order.status, Order.payable_fen,
            Order.refunded_fen, Order.payer_person_id, Order.created_at,
        ).where(Order.buyer_person_id.in_(person_ids))).all()
        operations = session.execute(select(
            RegistryOperationRow.request_no, RegistryOperationRow.kind,
            RegistryOperationRow.id_number, RegistryOperationRow.amount_fen,
            RegistryOperationRow.original_request_no,
        ).where(RegistryOperationRow.status == "succeeded",
                RegistryOperationRow.id_number_index.in_(
                    [blind_index(m.id_number) for m in drill.members.values()]))).all()

    for order in orders:
        if order.status == "pending_payment":
            age = now - order.created_at
            check = ("an order pending for more than a minute" if age > PENDING_LIMIT
                     else "an order still pending after a read, a retry and reconcile")
            r.fail(check, f"{order.order_no}, {age.total_seconds():.0f}s old")

    order_by_request = {order.payment_request_no: order for order in orders}
    refunded: dict[str, int] = defaultdict(int)  # original request number -> fen back
    debits_by_request: dict[str, int] = defaultdict(int)
    net_by_person: dict[str, int] = defaultdict(int)
    for op in operations:
        if op.kind == "debit":
            debits_by_request[op.request_no] += 1
            net_by_person[op.id_number] += op.amount_fen
        else:
            refunded[op.original_request_no] += op.amount_fen
            net_by_person[op.id_number] -= op.amount_fen
    for request_no, count in debits_by_request.items():
        if count > 1:
            r.fail("a request number debited more than once", f"{request_no}: {count}×")
    kept_by_person: dict[str, int] = defaultdict(int)
    for op in operations:
        if op.kind != "debit":
            continue
        order = order_by_request.get(op.request_no)
        if order is not None and order.status == "issued" and order.payable_fen == op.amount_fen:
            kept_by_person[op.id_number] += 1
            continue
        if refunded[op.request_no] == op.amount_fen:
            continue
        where = f"order {order.order_no} is {order.status}" if order else "no order"
        r.fail("money lost: a successful debit with no issued order and no refund",
               f"debit {op.request_no} of {_yuan(op.amount_fen)}: {where}, "
               f"refunded {_yuan(refunded[op.request_no])}")
    for id_number, kept in kept_by_person.items():
        if kept > 1:
            r.fail("double debit: one person paid for more than one issued order",
                   f"person {drill_person_id(drill, id_number)}: {kept} debits kept")
    issued_by_person: dict[int, int] = defaultdict(int)
    for order in orders:
        if order.status == "issued" and order.payer_person_id is not None:
            issued_by_person[order.payer_person_id] += order.payable_fen - order.refunded_fen
    for member in drill.members.values():
        net, issued = net_by_person[member.id_number], issued_by_person[member.person_id]
        if net != issued:
            r.fail("registry debits less refunds differ from the issued orders' premiums",
                   f"person {member.person_id}: registry {_yuan(net)}, issued {_yuan(issued)}")


def drill_person_id(drill: Drill, id_number: str) -> int:
    return next(m.person_id for m in drill.members.values() if m.id_number == id_number)


def _yuan(fen: int) -> str:
    return f"¥{fen / 100:.2f}"


def check_recovery(drill: Drill, r: Round, member: PoolMember, pid: int | None) -> None:
    """The same process answers health 200 again by itself, and enrolls."""
    assert drill.server is not None
    deadline = time.monotonic() + RECOVERY_S
    probe = health(drill, timeout=RECOVERY_S)
    while (probe.answer is None or probe.answer.status != 200) and time.monotonic() < deadline:
        time.sleep(0.2)
        probe = health(drill, timeout=RECOVERY_S)
    if probe.answer is None or probe.answer.status != 200:
        r.fail(f"no health 200 within {RECOVERY_S:g}s after the fault", probe.describe())
        return
    if pid is not None and drill.server.process.pid != pid:
        r.fail("the server process changed", f"{pid} → {drill.server.process.pid}")
    outcome = enroll(drill, Attempt(member, f"drill-{secrets.token_hex(8)}"))
    if outcome.answer is None or outcome.answer.status != 201:
        r.fail("no enrollment after the fault", outcome.describe()
               + (f" {outcome.answer.body}" if outcome.answer else ""))


def check_logs(drill: Drill, r: Round, marks: dict[Path, int]) -> None:
    """No unhandled traceback: the API's catch-all ("unhandled error", a 500) or anything not
    logged by our own code (a worker or thread that died). Our code's deliberate warnings with
    their traceback (a failure it handled), and the pool's report of a connection that died
    under it (SQLAlchemy then discards the connection), are counted in the notes only."""
    handled = 0
    for line in drill.logs_since(marks).splitlines():
        if "Traceback" not in line:
            continue
        try:
            record = json.loads(line)
        except ValueError:
            r.fail("a traceback in the server log", line[:220])
            continue
        raised = [part for part in str(record.get("exc_info", "")).splitlines()
                  if _EXCEPTION_LINE.match(part)]
        message = str(record.get("message"))
        logger = str(record.get("logger", ""))
        if (logger.startswith("huiminbao.") and message != UNHANDLED) or (
                logger.startswith("sqlalchemy.pool") and message == POOL_RESET_FAILED):
            handled += 1
            continue
        r.fail("an unhandled traceback in the server log",
               f"{message}: {raised[-1] if raised else '?'}"[:220])
    r.note(f"{handled} handled failures logged with their traceback")


def finish_round(drill: Drill, r: Round, recovery: PoolMember, pid: int | None,
                 marks: dict[Path, int]) -> None:
    settle_and_check_money(drill, r)
    check_recovery(drill, r, recovery, pid)
    check_logs(drill, r, marks)
    r.assert_clean()
    drill.dirty = False


def burst(drill: Drill, attempts: Sequence[Attempt], strike: Callable[[], None]) -> list[Outcome]:
    """All enrollments at once; ``strike`` runs (the fault) while they are in flight."""
    with ThreadPoolExecutor(max_workers=len(attempts)) as pool:
        futures = [pool.submit(enroll, drill, attempt) for attempt in attempts]
        strike()
        return [future.result() for future in futures]


# ---------------------------------------------------------------- the rounds


@pytest.mark.parametrize("round_no", range(1, ROUNDS + 1))
def test_kill_9_mid_burst_then_restart_and_retry_every_key(drill: Drill, round_no: int) -> None:
    drill.ensure_serving()
    r = Round(f"kill -9 mid-burst #{round_no}")
    marks = drill.log_marks()
    *members, recovery = drill.sign_in(BURST + 1)
    attempts = attempts_for(members)
    victim = drill.server
    assert victim is not None
    delay = drill.rng.uniform(0.0, 0.3)
    killed_at = 0.0

    def kill() -> None:
        nonlocal killed_at
        # Mid-burst means mid-enrollment: once the first order is written, orders are being
        # written, debited and issued.
        wait_for_first_order(drill, [member.person_id for member in members])
        time.sleep(delay)
        server.kill(victim)
        killed_at = time.monotonic()

    firsts = burst(drill, attempts, kill)
    with drill.container.db.read() as session:
        statuses = Counter(session.scalars(select(Order.status).where(
            Order.buyer_person_id.in_([member.person_id for member in members]))))
    r.note(f"killed {delay:.2f}s after the first order; "
           f"{sum(o.answer is not None for o in firsts)} of {len(firsts)} answered before; "
           f"orders then: {dict(statuses)}")
    check_answers(r, [o for o in firsts if o.answer is not None], bound=REQUEST_TIMEOUT_S)
    drill.start_server()
    retry_after_lease(drill, r, attempts, firsts, lease_from=killed_at)
    finish_round(drill, r, recovery, None, marks)


def wait_for_first_order(drill: Drill, person_ids: Sequence[int], limit_s: float = 5.0) -> None:
    deadline = time.monotonic() + limit_s
    while time.monotonic() < deadline:
        with drill.container.db.read() as session:
            if session.scalar(select(Order.id).where(Order.buyer_person_id.in_(person_ids))
                              .limit(1)) is not None:
                return
        time.sleep(0.01)


def terminate_backends(drill: Drill) -> int:
    with drill.admin.connect() as connection:
        return int(connection.execute(text(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
            "WHERE application_name = :name AND pid <> pg_backend_pid()"),
            {"name": drill.application_name}).scalar_one())


@pytest.mark.parametrize("round_no", range(1, ROUNDS + 1))
def test_backends_terminated_mid_burst(drill: Drill, round_no: int) -> None:
    drill.ensure_serving()
    r = Round(f"backends terminated mid-burst #{round_no}")
    marks = drill.log_marks()
    assert drill.server is not None
    pid = drill.server.process.pid
    *members, recovery = drill.sign_in(BURST + 1)
    attempts = attempts_for(members)
    terminated: list[int] = []

    def terminate() -> None:
        for _ in range(2):
            time.sleep(drill.rng.uniform(0.05, 0.3))
            terminated.append(terminate_backends(drill))

    firsts = burst(drill, attempts, terminate)
    ended_at = time.monotonic()
    r.note(f"terminated {terminated} backends named {drill.application_name}")
    if not sum(terminated):
        r.fail("no backend of the server was terminated", "the drill did not bite")
    check_answers(r, firsts, bound=ANSWER_BOUND_S)
    retry_after_lease(drill, r, attempts, firsts, lease_from=ended_at)
    finish_round(drill, r, recovery, pid, marks)


@pytest.mark.parametrize("round_no", range(1, ROUNDS + 1))
def test_database_refused_then_blackholed_then_back(drill: Drill, round_no: int) -> None:
    drill.ensure_serving()
    r = Round(f"database refused, black-holed, back #{round_no}")
    marks = drill.log_marks()
    assert drill.server is not None
    pid = drill.server.process.pid
    *members, recovery = drill.sign_in(LOAD_PERSONS + 1)
    queue = iter(attempts_for(members))
    queue_lock = threading.Lock()
    stop = threading.Event()
    lock = threading.Lock()
    outcomes: list[Outcome] = []
    last_by_key: dict[str, tuple[Attempt, Outcome]] = {}

    def enrolling_client() -> None:
        while not stop.is_set():
            with queue_lock:
                attempt = next(queue, None)
            if attempt is None:
                return
            while True:  # a client retries its key until it gets a definite answer
                outcome = enroll(drill, attempt)
                with lock:
                    outcomes.append(outcome)
                    last_by_key[attempt.key] = (attempt, outcome)
                if outcome.definite or stop.is_set():
                    break
                time.sleep(0.3)
            time.sleep(0.2)

    def health_reader() -> None:
        while not stop.is_set():
            outcome = health(drill)
            with lock:
                outcomes.append(outcome)
            time.sleep(0.25)

    windows: dict[str, tuple[float, float]] = {}
    with ThreadPoolExecutor(max_workers=LOAD_CLIENTS + 1) as pool:
        clients = [pool.submit(enrolling_client) for _ in range(LOAD_CLIENTS)]
        clients.append(pool.submit(health_reader))
        time.sleep(1.0)
        started = time.monotonic()
        drill.proxy.refuse()
        time.sleep(REFUSE_S)
        drill.proxy.blackhole()
        blackholed = time.monotonic()
        time.sleep(BLACKHOLE_S)
        drill.proxy.passthrough()
        back = time.monotonic()
        windows = {"refused": (started, blackholed), "black-holed": (blackholed, back)}
        time.sleep(2.0)
        stop.set()
        for client in clients:
            client.result()
    ended_at = time.monotonic()

    check_answers(r, outcomes, bound=ANSWER_BOUND_S)
    for name, (begin, end) in windows.items():
        during = [o for o in outcomes if begin <= o.started < end]
        probes = [o for o in during if o.what == "health"]
        r.note(f"{name}: {len(during)} requests, statuses "
               f"{sorted(Counter(o.answer.status if o.answer else 0 for o in during).items())}")
        if not any(o.answer is not None and o.answer.status == 503 for o in probes):
            r.fail(f"/health did not answer 503 while the database was {name}",
                   "; ".join(o.describe() for o in probes[:3]) or "no health read started")
    attempts = [attempt for attempt, _outcome in last_by_key.values()]
    lasts = [outcome for _attempt, outcome in last_by_key.values()]
    retry_after_lease(drill, r, attempts, lasts, lease_from=ended_at)
    finish_round(drill, r, recovery, pid, marks)
