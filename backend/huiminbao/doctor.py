"""``huiminbao doctor``: what each port is wired to, where it points, and whether it answers.

Meant for the operator switching a city on: it reads the same settings as the app, shows every
problem at once (not just the first), makes one harmless call to each service, and says in one
line per check what is wrong. Secrets never appear: each adapter's ``describe()`` masks them.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from huiminbao.commands import masked_url
from huiminbao.core.clock import SystemClock
from huiminbao.core.config import Settings
from huiminbao.core.db import Database
from huiminbao.wiring import Port, PortChoice, build_port, choose_ports

PROBE_REQUEST_NO = "DOCTORPROBE0000000001"  # never used by an order: orders have other shapes


@dataclass(frozen=True)
class Check:
    name: str
    adapter: str
    target: str
    ok: bool
    detail: str

    def format(self) -> str:
        verdict = "正常" if self.ok else "有问题"
        return f"[{verdict}] {self.name}：{self.adapter}｜{self.target}｜{self.detail}"


@dataclass(frozen=True)
class Diagnosis:
    mode: str
    checks: list[Check]

    @property
    def ok(self) -> bool:
        return all(check.ok for check in self.checks)

    def format(self) -> str:
        lines = [f"huiminbao doctor（{self.mode} 模式）"]
        lines += [check.format() for check in self.checks]
        failing = sum(not check.ok for check in self.checks)
        lines.append("结论：全部正常" if not failing else f"结论：{failing} 项有问题，见上")
        return "\n".join(lines)


def diagnose(settings: Settings) -> Diagnosis:
    db = Database(settings.database_url, replica_url=settings.replica_database_url,
                  statement_timeout=settings.db_statement_timeout)
    try:
        checks = [_database(settings, db), *_replica(settings, db), _redis(settings)]
        checks += [_port(choice, settings, db) for choice in choose_ports(settings)]
    finally:
        db.dispose()
    return Diagnosis(settings.mode.value, checks)


def _timed(call: Callable[[], Any]) -> tuple[bool, str]:
    started = time.monotonic()
    try:
        call()
    except Exception as exc:  # the doctor reports every failure; it never stops at one
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
        return False, f"无应答或出错：{type(exc).__name__}{'：' + reason[:200] if reason else ''}"
    return True, f"应答正常（{(time.monotonic() - started) * 1000:.0f} ms）"


def _database(settings: Settings, db: Database) -> Check:
    from alembic.runtime.migration import MigrationContext
    from alembic.script import ScriptDirectory

    from huiminbao.core.migrate import alembic_config

    target = masked_url(settings.database_url)
    if not db.ping():
        return Check("数据库", db.engine.dialect.name, target, False, "无法连接或无应答")
    head = ScriptDirectory.from_config(alembic_config(settings.database_url)).get_current_head()
    with db.engine.connect() as conn:
        current = MigrationContext.configure(conn).get_current_revision()
    if current != head:
        return Check("数据库", db.engine.dialect.name, target, False,
                     f"结构版本为 {current or '空'}，最新为 {head}：请运行 huiminbao db upgrade")
    return Check("数据库", db.engine.dialect.name, target, True, f"应答正常，结构为最新（{head}）")


def _replica(settings: Settings, db: Database) -> list[Check]:
    """The streaming replica, when one is configured: reachable, a standby, and its lag."""
    status = db.replica_status()
    if status is None or settings.replica_database_url is None:
        return []
    target = masked_url(settings.replica_database_url)
    if not status.reachable:
        return [Check("只读副本", "PostgreSQL", target, False, "无法连接或无应答")]
    if not status.standby:
        return [Check("只读副本", "PostgreSQL", target, True,
                      "应答正常，但不是备库（指向了主库？）")]
    lag = ("尚无回放记录" if status.lag_seconds is None
           else f"最近回放的事务距今 {status.lag_seconds:.1f} 秒")
    return [Check("只读副本", "PostgreSQL", target, True, f"应答正常，{lag}")]


def _redis(settings: Settings) -> Check:
    if not settings.redis_url:
        ok = settings.is_demo
        detail = ("未设置 REDIS_URL：限流与验证码存于本进程（仅适合单进程演示）" if ok else
                  "生产模式须设置 REDIS_URL：多个应用服务器共享限流与验证码")
        return Check("Redis", "本进程内存", "—", ok, detail)
    import redis

    client = redis.Redis.from_url(settings.redis_url, socket_connect_timeout=3, socket_timeout=3)
    ok, detail = _timed(client.ping)
    return Check("Redis", "Redis", masked_url(settings.redis_url), ok, detail)


def _port(choice: PortChoice, settings: Settings, db: Database) -> Check:
    name = choice.port.label
    if choice.problem:
        return Check(name, choice.adapter, choice.target, False, choice.problem)
    try:
        adapter = build_port(choice, settings, db, SystemClock())
    except Exception as exc:  # a key file that cannot be read, say
        return Check(name, choice.adapter, choice.target, False,
                     f"无法创建：{type(exc).__name__}：{exc}")
    ok, detail = _timed(lambda: _probe(choice.port, adapter))
    target = choice.target
    if choice.simulated and isinstance(getattr(adapter, "root", None), Path):
        target = f"{adapter.root}（仅演示模式）"  # the local documents folder
    return Check(name, choice.adapter, target, ok, detail)


def _probe(port: Port, adapter: Any) -> None:
    """One harmless call: real adapters know their own; the stand-ins answer a lookup."""
    if hasattr(adapter, "probe"):
        adapter.probe()
    elif port is Port.REGISTRY or port is Port.GATEWAY:
        adapter.query(PROBE_REQUEST_NO)
    elif port is Port.DOCUMENTS:
        adapter.put("doctor/probe", b"probe", "text/plain")
        adapter.delete("doctor/probe")
