"""The ``huiminbao`` command line."""

from __future__ import annotations

import os
import sys
from importlib.metadata import entry_points
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from huiminbao.commands import CommandGroup, settings_from_env, wired_from_env
from huiminbao.core.config import Settings

if TYPE_CHECKING:
    from huiminbao.core.container import Container
    from huiminbao.identity.sms import SmsProvider


@click.group(cls=CommandGroup)  # a database that does not answer: one line, exit 1
def main() -> None:
    """惠民保 enrollment platform."""




def _add_tool_commands() -> None:
    """Commands of development tools kept out of the product (the load benchmarks in bench/:
    ``huiminbao bench ...``), found through the ``huiminbao.commands`` entry points of the
    distributions that declare them: installed with the dev extra, absent from a production
    install. Nothing is imported unless such a tool is installed."""
    for entry in entry_points(group="huiminbao.commands"):
        command = entry.load()
        if isinstance(command, click.Command):
            main.add_command(command, entry.name)


_add_tool_commands()


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8000, show_default=True, type=int)
@click.option("--workers", type=int, default=None, help="gunicorn workers (default: by mode)")
@click.option("--threads", type=int, default=None, help="threads per gunicorn worker")
@click.option("--dev-server", is_flag=True, help="use Flask's development server")
def serve(host: str, port: int, workers: int | None, threads: int | None, dev_server: bool) -> None:
    """Apply migrations (and demo data in demo mode), then serve the API and the frontend."""
    from huiminbao.app import create_app, start_background_workers

    settings = settings_from_env()
    _upgrade(settings)
    if settings.is_demo:
        _load_demo_data(settings)
    app = create_app(settings)
    if dev_server or not _gunicorn_available():
        start_background_workers(app)
        app.run(host=host, port=port, threaded=True)
        return
    # Demo mode runs one process: its SQLite database and movable clock live in that process.
    # Production: one process per core, four threads each (the app is CPU-bound Python; the
    # threads cover its database waits). README "Worker model" has the measurements.
    default_workers = 1 if settings.is_demo else (os.cpu_count() or 1)
    _run_gunicorn(app, {
        "bind": f"{host}:{port}",
        "workers": workers or default_workers,
        "worker_class": "gthread",
        "threads": threads or (8 if settings.is_demo else 4),
        "accesslog": None,  # the app logs every request itself, as JSON, with its request id
        "graceful_timeout": 10,
        # The worker timeout. A gthread worker's main thread reports to the arbiter about once a
        # second whatever its request threads do, so this does not cut a slow request: it
        # restarts a worker whose whole process stopped (a deadlock, a C call holding the GIL).
        # Requests are bounded by the database limits instead (connect, statement, lock and
        # answer deadlines in core/db.py: a stuck request answers 503 within ~7 s). Thirty
        # seconds is far above any pause of a healthy main loop, and a frozen worker's threads
        # are back within half a minute.
        "timeout": 30,
        # Connections opened in the master (migrations, app set-up) must not be shared with
        # the forked workers; each worker then starts its own background workers.
        "post_fork": lambda _server, _worker: app.extensions["huiminbao"].db.dispose(
            close=False),
        "post_worker_init": lambda _worker: start_background_workers(app),
    })


def _gunicorn_available() -> bool:
    try:
        import gunicorn  # noqa: F401
    except ImportError:
        return False
    return sys.platform != "win32"


def _run_gunicorn(app: Any, options: dict[str, Any]) -> None:
    from gunicorn.app.base import BaseApplication

    class Server(BaseApplication):  # type: ignore[misc]
        def load_config(self) -> None:
            for key, value in options.items():
                self.cfg.set(key, value)

        def load(self) -> Any:
            return app

    Server().run()


@main.command()
def doctor() -> None:
    """Show which adapter each port (registry, payment, SMS, documents) is wired to, where it
    points (secrets masked) and whether it answers; also the database and Redis. Exits 1 when
    anything is missing, wrong or silent: run it after every change of settings."""
    from huiminbao.doctor import diagnose

    diagnosis = diagnose(settings_from_env(check_ports=False))
    click.echo(diagnosis.format())
    if not diagnosis.ok:
        sys.exit(1)


@main.group()
def db() -> None:
    """Database schema."""


@db.command("upgrade")
@click.argument("revision", default="head")
def db_upgrade(revision: str) -> None:
    """Apply migrations up to REVISION (default: head)."""
    _upgrade(settings_from_env(), revision)
    click.echo("数据库已升级到最新版本")


@db.command("downgrade")
@click.argument("revision")
def db_downgrade(revision: str) -> None:
    """Revert migrations down to REVISION ('base' removes every table)."""
    from alembic import command

    from huiminbao.core.migrate import alembic_config

    command.downgrade(alembic_config(settings_from_env().database_url), revision)
    click.echo(f"数据库已回退到 {revision}")


def _upgrade(settings: Settings, revision: str = "head") -> None:
    from huiminbao.core.migrate import upgrade

    upgrade(settings.database_url, revision)


@main.command("demo-data")
def demo_data() -> None:
    """Load the fixed demo city (persons, accounts, relations, product); safe to run again."""
    settings = settings_from_env()
    _upgrade(settings)
    _load_demo_data(settings)
    click.echo("演示数据已就绪")


def _load_demo_data(settings: Settings) -> None:
    from huiminbao.app import build_container
    from huiminbao.catalog.demo import ensure_demo_product
    from huiminbao.console.payers import ensure_demo_payers
    from huiminbao.registry.demo import load_demo_population

    wired = build_container(settings)
    try:
        load_demo_population(wired.db, wired.clock)
        ensure_demo_product(wired.db, wired.clock)
        ensure_demo_payers(wired.db, wired.clock)
    finally:
        wired.db.dispose()


@main.group()
def registry() -> None:
    """The basic-insurance registry: the built-in simulator, its protocol server, the bridge
    contract kit."""


@registry.command("import")
@click.argument("directory", type=click.Path(exists=True, file_okay=False, path_type=Path))
def registry_import(directory: Path) -> None:
    """Load persons.csv (and optional accounts.csv, relations.csv) from DIRECTORY.

    Every bad row is reported with its line number; a file with errors loads nothing.
    """
    from huiminbao.app import build_container
    from huiminbao.registry.importer import import_directory

    settings = settings_from_env()
    _upgrade(settings)
    wired = build_container(settings)
    try:
        report = import_directory(wired.db, wired.clock, directory)
    finally:
        wired.db.dispose()
    click.echo(report.format())
    if report.errors:
        sys.exit(1)


@registry.command("generate")
@click.argument("count", type=click.IntRange(1, 10_000_000))
@click.option("--city-code", default="330100", show_default=True)
@click.option("--seed", default=0, show_default=True, type=int)
def registry_generate(count: int, city_code: str, seed: int) -> None:
    """Add COUNT synthetic persons with valid ID numbers and accounts (for load tests)."""
    from huiminbao.app import build_container
    from huiminbao.registry.generator import generate_population

    settings = settings_from_env()
    _upgrade(settings)
    wired = build_container(settings)
    try:
        created = generate_population(wired.db, wired.clock, count, city_code=city_code, seed=seed)
    finally:
        wired.db.dispose()
    click.echo(f"已生成 {len(created)} 名参保人")


def _attach_registry_protocol_commands() -> None:
    from huiminbao.registry.cli import contract_test, serve_simulator

    registry.add_command(serve_simulator)  # huiminbao registry serve-simulator
    registry.add_command(contract_test)  # huiminbao registry contract-test URL


_attach_registry_protocol_commands()


@main.command()
def reconcile() -> None:
    """Settle unknown payment outcomes, refund money that arrived for closed orders, resend
    unconfirmed refunds, then check every money invariant against the registry's and the
    gateway's statements; records the run for the console. Exits 0 when all is clear, 1 when
    anything did not add up (or the database cannot be reached), 2 when the run itself broke.
    Run on a schedule: it never migrates the schema (only deploys do)."""
    from huiminbao.core.db import is_database_unavailable
    from huiminbao.enrollment.reconcile import reconcile as run

    with wired_from_env(migrate=False) as wired:
        try:
            report = run(wired)
        except Exception as exc:  # recorded as a broken run; the schedule tries again
            if is_database_unavailable(exc):
                raise  # explained in one line like every command's (exit 1): nothing recorded
            click.echo(f"对账中断：{type(exc).__name__}，已记录，请查看日志", err=True)
            sys.exit(2)
    click.echo(report.format())
    if not report.ok:
        sys.exit(1)


@main.command()
@click.option("--once", is_flag=True, help="deliver everything due now, then exit")
@click.option("--batch", default=20, show_default=True, type=click.IntRange(1, 500),
              help="messages claimed per round")
@click.option("--lease-seconds", default=60, show_default=True, type=click.IntRange(10, 3600),
              help="how long a claimed message is held before another worker may retry it")
@click.option("--max-attempts", default=12, show_default=True, type=click.IntRange(1, 100))
@click.option("--heartbeat", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="a file touched after every round that reached the database (health checks)")
def worker(once: bool, batch: int, lease_seconds: int, max_attempts: int,
           heartbeat: Path | None) -> None:
    """Deliver the SMS outbox through the configured provider (SMS_PROVIDER, …): due messages
    are leased (several workers never send one message at once), sent, and retried with
    exponential back-off; a message is given up after --max-attempts. Demo mode without a
    provider marks them delivered (simulator). Never migrates the schema."""
    import signal
    from datetime import timedelta

    from huiminbao.identity.sms_domain import RetryPolicy
    from huiminbao.identity.sms_worker import SmsWorker

    with wired_from_env(migrate=False) as wired:
        provider = _sms_provider(wired)
        runner = SmsWorker(wired, provider, batch=batch, lease=timedelta(seconds=lease_seconds),
                           policy=RetryPolicy(max_attempts=max_attempts))
        if once:
            click.echo(runner.run_once().format())
            return
        for signum in (signal.SIGTERM, signal.SIGINT):
            signal.signal(signum, lambda *_: runner.stop())
        click.echo(f"短信发送进程已启动：{provider.name}")
        runner.run(on_round=lambda counts: click.echo(counts.format()),
                   alive=heartbeat.touch if heartbeat is not None else None)


def _sms_provider(wired: Container) -> SmsProvider:
    """The configured provider; in demo mode without one, the simulator (production never gets
    here without a provider: wiring.py refuses it)."""
    from huiminbao.identity.sms import SimulatedSmsProvider

    if wired.sms_provider is not None:
        return wired.sms_provider
    if not wired.settings.is_demo:  # wiring.py refuses this first; never fall back silently
        raise click.ClickException(
            "生产模式需要配置短信服务商（SMS_PROVIDER 等），不能使用模拟发送")
    return SimulatedSmsProvider()


@main.group()
def renewal() -> None:
    """Auto-renewal by consent: notify first, debit only after the notice period."""


@renewal.command("notify")
@click.option("--next-product", "next_product_id", required=True, type=int)
@click.option("--notice-days", default=7, show_default=True, type=click.IntRange(1, 60))
def renewal_notify(next_product_id: int, notice_days: int) -> None:
    """Text every payer whose policy has auto-renewal on; record when the debit may come."""
    from datetime import timedelta

    from huiminbao.enrollment import renewal as renewals

    with wired_from_env() as wired:
        counts = renewals.notify(wired, next_product_id, timedelta(days=notice_days))
    click.echo(counts.format())


@renewal.command("run")
@click.option("--next-product", "next_product_id", required=True, type=int)
def renewal_run(next_product_id: int) -> None:
    """Debit the renewals whose notice period has passed and whose consent still stands."""
    from huiminbao.enrollment import renewal as renewals

    with wired_from_env() as wired:
        counts = renewals.run(wired, next_product_id)
    click.echo(counts.format())


@renewal.command("revoke-unconsented")
@click.option("--dry-run", is_flag=True, help="list the policies, change nothing")
def renewal_revoke_unconsented(dry_run: bool) -> None:
    """Turn off auto-renewals not switched on by the paying holder; audit and text the payer."""
    from huiminbao.enrollment.auto_renew_fix import revoke_unconsented

    with wired_from_env() as wired:
        report = revoke_unconsented(wired, dry_run=dry_run)
    click.echo(report.format())


@main.group()
def staff() -> None:
    """Staff accounts (never created by self-sign-up)."""


@staff.command("create")
@click.option("--phone", required=True, help="the staff member's mobile number (SMS login)")
@click.option("--role", required=True,
              type=click.Choice(["counter_staff", "insurer_staff", "admin"]))
@click.option("--name", "display_name", required=True, help="shown in the audit log and console")
def staff_create(phone: str, role: str, display_name: str) -> None:
    """Create a staff account, or change an existing account's role."""
    from huiminbao.app import build_container
    from huiminbao.core.errors import DomainError
    from huiminbao.identity.domain import Role
    from huiminbao.identity.services import create_staff

    settings = settings_from_env()
    _upgrade(settings)
    wired = build_container(settings)
    try:
        account = create_staff(wired, phone, Role(role), display_name)
    except DomainError as exc:
        raise click.ClickException(exc.message) from exc
    finally:
        wired.db.dispose()
    click.echo(f"已创建工作人员账号 #{account.id}（{Role(role).label}），使用手机号验证码登录")


def _attach_domain_commands() -> None:
    from huiminbao.claims.cli import claims, clients
    from huiminbao.disclosure.cli import disclosure
    from huiminbao.key_rotation import keys
    from huiminbao.payments.cli import wechatpay

    main.add_command(clients)
    main.add_command(claims)  # huiminbao claims payout-run (run from cron)
    main.add_command(disclosure)  # huiminbao disclosure refresh (run from cron)
    main.add_command(keys)  # huiminbao keys rotate (after a new field key is put first)
    main.add_command(wechatpay)  # huiminbao wechatpay serve-standin (local testing only)


_attach_domain_commands()

if __name__ == "__main__":
    main()
