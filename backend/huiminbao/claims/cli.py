"""``huiminbao clients …``: credentials for hospitals' settlement feeds.

Attach to the main command line with ``main.add_command(clients)``.
"""

from __future__ import annotations

from datetime import datetime

import click

from huiminbao.commands import wired_from_env


@click.group()
def clients() -> None:
    """Service clients: hospitals that send one-stop settlements (signed requests)."""


@clients.command("create")
@click.option("--kind", required=True, type=click.Choice(["hospital", "pharmacy"]))
@click.option("--name", required=True, help="the hospital's name, e.g. 浙江大学医学院附属第一医院")
@click.option("--pharmacy-code", default=None,
              help="a pharmacy's code, as in the products' designated-pharmacy lists")
def clients_create(kind: str, name: str, pharmacy_code: str | None) -> None:
    """Create a client and print its id and signing key (shown once, never again). A
    designated pharmacy (--kind pharmacy --pharmacy-code YD001) settles special drugs."""
    from huiminbao.claims.clients import create_client
    from huiminbao.core.errors import DomainError

    with wired_from_env() as wired:
        try:
            issued = create_client(wired, kind, name, pharmacy_code)
        except DomainError as exc:
            raise click.ClickException(exc.message) from exc
    click.echo(f"已创建接入凭证：{issued.name}")
    click.echo(f"X-Client-Id: {issued.client_id}")
    click.echo(f"签名密钥（仅显示这一次，请安全转交医院）: {issued.signing_key}")


@clients.command("disable")
@click.argument("client_id")
def clients_disable(client_id: str) -> None:
    """Stop accepting a client's requests (to rotate a key: create a new client, then disable
    the old one)."""
    from huiminbao.claims.clients import disable_client
    from huiminbao.core.errors import DomainError

    with wired_from_env() as wired:
        try:
            disable_client(wired, client_id)
        except DomainError as exc:
            raise click.ClickException(exc.message) from exc
    click.echo(f"已停用接入凭证 {client_id}")


@click.group()
def claims() -> None:
    """Claims: paying approved claims."""


@claims.command("payout-run")
def claims_payout_run() -> None:
    """Pay every approved claim with a verified payee through the payout service (run it from
    cron, e.g. every 30 minutes). Safe to run twice at once, and after a crash: a payment whose
    outcome is unknown is queried by its request number before anything is sent again."""
    from huiminbao.claims.payouts import PayoutsUnavailable, run_payouts

    with wired_from_env() as wired:
        try:
            report = run_payouts(wired)
        except PayoutsUnavailable as exc:
            raise click.ClickException(
                "未接入赔款支付通道（CLAIM_PAYOUT_PROVIDER），无法支付") from exc
    click.echo(f"已支付 {len(report.paid)} 件，支付失败 {len(report.failed)} 件（下次重试），"
               f"结果待确认 {len(report.pending)} 件（下次先查询）")
    for number in report.paid:
        click.echo(f"  已支付 {number}")
    for number in report.failed:
        click.echo(f"  失败 {number}")
    for number in report.pending:
        click.echo(f"  待确认 {number}")


@claims.command("statement")
@click.option("--client", "client_id", required=True,
              help="the hospital's or pharmacy's X-Client-Id")
@click.option("--from", "period_from", required=True, type=click.DateTime(["%Y-%m-%d"]))
@click.option("--to", "period_to", required=True, type=click.DateTime(["%Y-%m-%d"]))
@click.option("--csv", "csv_path", type=click.Path(dir_okay=False, writable=True),
              help="also write the statement as a CSV file")
@click.option("--clear", is_flag=True,
              help="record the statement as paid and clear its payable (once per period)")
def claims_statement(client_id: str, period_from: datetime, period_to: datetime,
                     csv_path: str | None, clear: bool) -> None:
    """A hospital's or pharmacy's statement of one-stop payouts for a period (China dates,
    inclusive), and with --clear its clearing in the ledger."""
    from huiminbao.audit.services import AuditActor
    from huiminbao.claims import statements
    from huiminbao.core.errors import DomainError
    from huiminbao.core.money import format_fen

    with wired_from_env() as wired:
        try:
            found = (statements.clear(wired, client_id, period_from.date(), period_to.date(),
                                      actor=AuditActor(client="cli")) if clear
                     else statements.statement(wired, client_id, period_from.date(),
                                               period_to.date()))
        except DomainError as exc:
            raise click.ClickException(exc.message) from exc
    if csv_path:
        with open(csv_path, "wb") as out:
            out.write(statements.statement_csv(found))
    click.echo(f"{found.client_kind_label}：{found.client_name}  "
               f"{found.period_from:%Y-%m-%d}至{found.period_to:%Y-%m-%d}")
    click.echo(f"一站式结算 {found.settlement_count} 笔，应付 {format_fen(found.total_fen)}")
    click.echo(f"已结清，对账单号 {found.statement_no}" if found.cleared else "未结清")
