"""What every ``huiminbao`` command that works on the data needs: settings from the environment
(a bad one is a clear command-line error), the schema migrated, and a wired container that is
disposed of afterwards. The domain command groups (claims, disclosure) and cli.py share it.

A database that cannot be reached (or times out) is explained in one line, with the URL's
password masked, and the command exits 1: ``CommandGroup`` does it for every command."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import IO, Any

import click
import psycopg
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, SQLAlchemyError

from huiminbao.core.config import ConfigError, Settings
from huiminbao.core.container import Container
from huiminbao.core.db import is_database_unavailable

_DATABASE_URL_KEY = "huiminbao.database_url"

# The driver's reason, as an operator reads it: (a piece of the driver's message, Chinese, whether
# it means the connection could not be made at all).
_REASONS = (
    ("connection refused", "连接被拒绝（数据库未启动，或地址、端口不对）", True),
    ("timeout expired", "连接超时（数据库无响应，或网络不通）", True),
    ("could not translate host name", "无法解析数据库主机名", True),
    ("failed to resolve host", "无法解析数据库主机名", True),
    ("name or service not known", "无法解析数据库主机名", True),
    ("password authentication failed", "用户名或密码错误", True),
    ("does not exist", "数据库或用户不存在", True),
    ("remaining connection slots", "数据库连接数已满", True),
    ("too many clients", "数据库连接数已满", True),
    ("no answer from the database", "数据库无响应（网络中断或数据库卡住）", False),
    ("server closed the connection", "连接被数据库关闭", False),
    ("canceling statement due to statement timeout", "语句执行超时", False),
    ("canceling statement due to lock timeout", "等待锁超时", False),
    ("database is locked", "数据库文件被其他进程锁定", False),
    ("queuepool limit", "连接池已满，等待超时", False),
)


class DatabaseUnavailable(click.ClickException):
    """Shown as the one line itself (no "Error:" prefix, no traceback); exit status 1."""

    def show(self, file: IO[Any] | None = None) -> None:
        click.echo(self.format_message(), err=True, file=file)


class CommandGroup(click.Group):
    """The ``huiminbao`` group: every command under it explains database trouble in one line."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except (SQLAlchemyError, psycopg.Error) as exc:
            if not is_database_unavailable(exc):
                raise
            url = ctx.meta.get(_DATABASE_URL_KEY)
            raise DatabaseUnavailable(database_trouble_message(url, exc)) from exc


def database_trouble_message(database_url: str | None, error: BaseException) -> str:
    """``无法连接数据库 postgresql://app:***@db:5432/hmb：连接被拒绝（…）`` - one line."""
    cause = getattr(error, "orig", None) or error
    driver_line = next(iter(str(cause).strip().splitlines()), type(cause).__name__)
    lowered = str(cause).lower()
    reason, connecting = next(((chinese, connecting) for piece, chinese, connecting in _REASONS
                               if piece in lowered), (driver_line, False))
    connecting = connecting or lowered.startswith("connection failed")
    what = "无法连接数据库" if connecting else "数据库暂不可用"
    where = f" {masked_url(database_url)}" if database_url else ""
    return f"{what}{where}：{reason}"


def masked_url(database_url: str) -> str:
    try:
        return make_url(database_url).render_as_string(hide_password=True)
    except ArgumentError:
        return "（DATABASE_URL 格式不正确）"


def settings_from_env(*, check_ports: bool = True) -> Settings:
    """The settings, or a one-line error. ``check_ports``: also refuse, before anything else
    happens (no migration, no connection), a production that would run on a built-in simulator
    or on a port's incomplete settings (``huiminbao doctor`` alone looks without refusing)."""
    from huiminbao.wiring import checked_ports

    try:
        settings = Settings.from_env()
        if check_ports:
            checked_ports(settings)
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from exc
    context = click.get_current_context(silent=True)
    if context is not None:  # for CommandGroup's message, should the database not answer
        context.meta[_DATABASE_URL_KEY] = settings.database_url
    return settings


@contextmanager
def wired_from_env(*, migrate: bool = True) -> Iterator[Container]:
    """``migrate=False`` for jobs run on a schedule: only deploys (``serve``, ``db upgrade``)
    change the schema, never a job from an image that may be newer than the running app."""
    from huiminbao.app import build_container
    from huiminbao.core.migrate import upgrade

    settings = settings_from_env()
    if migrate:
        upgrade(settings.database_url)
    wired = build_container(settings)
    try:
        yield wired
    finally:
        wired.db.dispose()
