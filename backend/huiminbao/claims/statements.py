"""Statements of one-stop payables: what the platform owes each hospital or designated pharmacy
for the payouts it deducted at its counter, for a period, and the clearing of it.

A one-stop settlement books its payout to ``settlement_payable:<client>`` (``settlement``). A
statement for a client and a period (China dates, inclusive, by the day the settlement arrived)
lists those settlements with the amount the ledger booked to the client for each; its total is
what the period added to the payable. Clearing a statement (the insurer paid the client) records
it and moves its total from ``settlement_payable`` to ``settlement_paid`` in one ledger
transaction under the statement's number: clearing the same period again answers with the same
statement and moves nothing; a period overlapping a cleared one is refused, so no settlement is
ever cleared twice; only a period that has ended can be cleared, so nothing can arrive in it
afterwards.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from huiminbao.audit import services as audit
from huiminbao.audit.services import AuditActor, AuditEntry
from huiminbao.claims.clients import kind_of
from huiminbao.claims.models import Claim, Settlement, SettlementStatement
from huiminbao.core.clock import CHINA_TZ, to_china_time
from huiminbao.core.container import Container
from huiminbao.core.csvrows import excel_csv, text_cell
from huiminbao.core.errors import InvalidInput, NotFound, RuleViolation
from huiminbao.core.money import format_fen
from huiminbao.identity.models import ServiceClient
from huiminbao.payments import ledger

MAX_PERIOD_DAYS = 366
KIND_LABELS = {"hospital": "医院", "pharmacy": "定点药店"}


@dataclass(frozen=True)
class StatementLine:
    settlement_no: str
    claim_no: str
    received_on: date
    patient: str  # the ID number, masked
    claimed_fen: int
    payout_fen: int  # the claim's payout
    booked_fen: int  # what the ledger booked to the client for it


@dataclass(frozen=True)
class Cleared:
    statement_no: str
    cleared_at: datetime
    ledger_reference: str | None


@dataclass(frozen=True)
class Statement:
    client_id: str
    client_name: str
    client_kind: str
    period_from: date
    period_to: date
    lines: tuple[StatementLine, ...]
    cleared: Cleared | None

    @property
    def client_kind_label(self) -> str:
        return KIND_LABELS.get(self.client_kind, self.client_kind)

    @property
    def settlement_count(self) -> int:
        return len(self.lines)

    @property
    def total_fen(self) -> int:
        return sum(line.booked_fen for line in self.lines)

    @property
    def statement_no(self) -> str:
        return self.cleared.statement_no if self.cleared else ""


def _check_period(period_from: date, period_to: date) -> None:
    if period_to < period_from:
        raise InvalidInput("截止日期不能早于起始日期", errors={"to": ["截止日期不能早于起始日期"]})
    if (period_to - period_from).days >= MAX_PERIOD_DAYS:
        raise InvalidInput("对账期间最长一年", errors={"to": ["对账期间最长一年"]})


def _client(session: Session, client_id: str, *, lock: bool = False) -> ServiceClient:
    query = select(ServiceClient).where(ServiceClient.client_id == client_id)
    if lock:  # one clearing per client at a time: the overlap check then holds
        query = query.with_for_update()
    client = session.scalars(query).one_or_none()
    if client is None or client.kind != "hospital":
        raise NotFound("未找到该医院或定点药店的结算接入凭证")
    return client


def _lines(session: Session, client: ServiceClient, period_from: date,
           period_to: date) -> tuple[StatementLine, ...]:
    starts = datetime.combine(period_from, time.min, CHINA_TZ)
    ends = datetime.combine(period_to + timedelta(days=1), time.min, CHINA_TZ)
    rows = session.execute(
        select(Settlement, Claim.claim_no, Claim.payout_fen)
        .join(Claim, Claim.id == Settlement.claim_id)
        .where(Settlement.client_id == client.id, Settlement.outcome == "settled",
               Settlement.received_at >= starts, Settlement.received_at < ends)
        .order_by(Settlement.received_at, Settlement.id)).all()
    numbers = [number for _settlement, number, _payout in rows]
    booked: dict[str, int] = {}
    if numbers:
        for number, amount in session.execute(
                select(ledger.LedgerTransaction.order_no, ledger.LedgerEntry.amount_fen)
                .join(ledger.LedgerEntry,
                      ledger.LedgerEntry.transaction_id == ledger.LedgerTransaction.id)
                .where(ledger.LedgerTransaction.kind == "claim",
                       ledger.LedgerTransaction.order_no.in_(numbers),
                       ledger.LedgerEntry.account == ledger.settlement_payable(client.id))):
            booked[number] = booked.get(number, 0) + int(amount)
    return tuple(StatementLine(
        settlement.settlement_no, number, to_china_time(settlement.received_at).date(),
        settlement.id_number_masked, settlement.claimed_fen, int(payout or 0),
        booked.get(number, 0)) for settlement, number, payout in rows)


def _cleared(session: Session, client: ServiceClient, period_from: date,
             period_to: date) -> SettlementStatement | None:
    return session.scalars(select(SettlementStatement).where(
        SettlementStatement.client_id == client.id,
        SettlementStatement.period_from == period_from,
        SettlementStatement.period_to == period_to)).one_or_none()


def _statement(session: Session, client: ServiceClient, period_from: date, period_to: date,
               row: SettlementStatement | None) -> Statement:
    return Statement(
        client.client_id, client.name, kind_of(client), period_from, period_to,
        _lines(session, client, period_from, period_to),
        Cleared(row.statement_no, row.cleared_at, row.ledger_reference) if row else None)


def statement(c: Container, client_id: str, period_from: date, period_to: date) -> Statement:
    """A client's statement for a period (cleared or not)."""
    _check_period(period_from, period_to)
    with c.db.read() as session:
        client = _client(session, client_id)
        return _statement(session, client, period_from, period_to,
                          _cleared(session, client, period_from, period_to))


def statement_no(client: ServiceClient, period_from: date, period_to: date) -> str:
    return f"ST{client.id}-{period_from:%Y%m%d}-{period_to:%Y%m%d}"


def clear(c: Container, client_id: str, period_from: date, period_to: date, *,
          actor: AuditActor) -> Statement:
    """Record the statement as paid and clear its payable (idempotent per client and period)."""
    _check_period(period_from, period_to)
    if period_to >= c.clock.today():
        raise RuleViolation("只能结清已经结束的期间：截止日期须早于今天",
                            code="statement_period_open")
    with c.db.transaction() as session:
        client = _client(session, client_id, lock=True)
        existing = _cleared(session, client, period_from, period_to)
        if existing is not None:
            return _statement(session, client, period_from, period_to, existing)
        overlapping = session.scalars(select(SettlementStatement).where(
            SettlementStatement.client_id == client.id,
            SettlementStatement.period_from <= period_to,
            SettlementStatement.period_to >= period_from)).first()
        if overlapping is not None:
            raise RuleViolation(
                f"该期间与已结清的对账单 {overlapping.statement_no}（"
                f"{overlapping.period_from:%Y年%m月%d日}至{overlapping.period_to:%Y年%m月%d日}）"
                "重叠，不能重复结清", code="statement_overlaps")
        found = _statement(session, client, period_from, period_to, None)
        number = statement_no(client, period_from, period_to)
        now = c.clock.now()
        reference = None
        if found.total_fen:
            reference = f"statement:{number}"
            ledger.post(session, kind="claim", reference=reference, order_no=number,
                        purpose=f"一站式结算对账单结清：{client.name[:60]}（{number}）",
                        moves=[(ledger.settlement_payable(client.id), -found.total_fen),
                               (ledger.settlement_paid(client.id), found.total_fen)], now=now)
        row = SettlementStatement(
            statement_no=number, client_id=client.id, period_from=period_from,
            period_to=period_to, settlement_count=found.settlement_count,
            total_fen=found.total_fen, ledger_reference=reference, cleared_at=now,
            cleared_by_account_id=actor.account_id)
        session.add(row)
        session.flush()
        audit.record(session, c.clock, AuditEntry(
            action="settlement_statement.clear", actor=actor, object_type="settlement_statement",
            object_id=number, details={"client_id": client.client_id,
                                       "settlements": found.settlement_count,
                                       "total_fen": found.total_fen}))
        return _statement(session, client, period_from, period_to, row)


CSV_HEADER = ("结算单号", "理赔编号", "结算日期", "患者证件号（脱敏）", "医疗费用（元）",
              "惠民保赔付（元）", "应付金额（分）")


def statement_csv(found: Statement) -> bytes:
    """The statement as a CSV (UTF-8 with BOM): a title row, the header, one row per
    settlement, then the total row. The payable is in fen as booked; the other money in yuan."""
    rows: list[tuple[str, ...]] = [
        (text_cell(f"{found.client_kind_label}：{found.client_name}"),
         f"对账期间：{found.period_from:%Y-%m-%d}至{found.period_to:%Y-%m-%d}",
         f"对账单号：{found.statement_no or '未结清'}"),
        CSV_HEADER]
    rows += [(text_cell(line.settlement_no), line.claim_no, line.received_on.isoformat(),
              line.patient, _yuan(line.claimed_fen), _yuan(line.payout_fen),
              str(line.booked_fen)) for line in found.lines]
    rows.append(("合计", f"{found.settlement_count}笔", "", "", "",
                 _yuan(sum(line.payout_fen for line in found.lines)), str(found.total_fen)))
    return excel_csv(rows)


def _yuan(fen: int) -> str:
    return format_fen(fen).removeprefix("¥").replace(",", "")
