"""The co-insurance group (共保体, 002 三(一)) in the console: a product's insurers and shares, the
insurer each insurer-staff account works for, and each insurer's statement from the ledger.

Shares change only while no money has been split by them (a draft, or a published product with
no premium or payout booked yet): a premium refunded later is split by the shares it was paid
under. The lead insurer's name is also the product's ``insurer``.

A statement lists, for one insurer and one period (China dates, both ends included), every
ledger entry on its ``insurer_premium`` and ``insurer_payout`` accounts: premiums in, refunds out,
claim payouts out, and the totals; it is the ledger itself, so it equals the accounts' balances.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from huiminbao.audit import services as audit
from huiminbao.audit.services import AuditActor, AuditEntry
from huiminbao.catalog.coinsurance import MAX_NAME, Share, validate_shares
from huiminbao.catalog.domain import ProductStatus
from huiminbao.catalog.models import InsurerStaff, Product, ProductInsurer
from huiminbao.console.csvfiles import excel_csv
from huiminbao.core.clock import CHINA_TZ, to_china_time
from huiminbao.core.container import Container
from huiminbao.core.errors import Conflict, InvalidInput, NotFound, RuleViolation
from huiminbao.core.money import format_percent, format_yuan
from huiminbao.disclosure.services import previous_year_end
from huiminbao.identity.auth import Actor
from huiminbao.identity.domain import Role
from huiminbao.identity.models import UserAccount
from huiminbao.payments import ledger

SHARES_FIXED = "该产品已按现有份额记账，不能再修改共保份额"
INVALID_COINSURERS = "invalid_coinsurers"
THRESHOLD_RANGE = "共保复核金额须为正数（分），不设请留空"
NOT_YOUR_INSURER = "只能查看本机构的对账单"
NO_INSURER = "您的账号尚未关联承保机构，请联系管理员"
PERIOD_ORDER = "结束日期不能早于开始日期"
PERIOD_LENGTH = "对账期间最长一年"
NOT_A_MEMBER = "该机构不是本产品的承保机构"


@dataclass(frozen=True)
class CoinsuranceSetting:
    product_id: int
    insurers: list[ProductInsurer]
    contested_claim_threshold_fen: int | None
    editable: bool


def _product(session: Session, product_id: int, *, lock: bool = False) -> Product:
    query = select(Product).where(Product.id == product_id)
    if lock:
        query = query.with_for_update()
    product = session.scalars(query).one_or_none()
    if product is None:
        raise NotFound("未找到该产品")
    return product


def _members(session: Session, product_id: int) -> list[ProductInsurer]:
    return list(session.scalars(select(ProductInsurer).where(
        ProductInsurer.product_id == product_id).order_by(ProductInsurer.position,
                                                          ProductInsurer.id)))


def _money_booked(session: Session, product_id: int) -> bool:
    accounts = [ledger.premium_income(product_id), ledger.claims_payable(product_id)]
    return session.scalars(select(ledger.LedgerEntry.id).where(
        ledger.LedgerEntry.account.in_(accounts)).limit(1)).first() is not None


def coinsurance(c: Container, product_id: int) -> CoinsuranceSetting:
    with c.db.read() as session:
        product = _product(session, product_id)
        return CoinsuranceSetting(product.id, _members(session, product.id),
                                  product.contested_claim_threshold_fen,
                                  not _money_booked(session, product.id))


def set_coinsurance(c: Container, by: AuditActor, product_id: int, shares: list[Share],
                    threshold_fen: int | None) -> CoinsuranceSetting:
    """Replace the product's insurers and shares (validated as a whole, Chinese messages, all
    at once) and its contested-claim amount; audited."""
    shares = [Share(share.insurer.strip(), share.share_bp, share.lead) for share in shares]
    errors: dict[str, list[str]] = {}
    for problem in validate_shares(shares):
        errors.setdefault(problem.field, []).append(problem.message)
    if threshold_fen is not None and threshold_fen <= 0:
        errors.setdefault("contested_claim_threshold_fen", []).append(THRESHOLD_RANGE)
    if errors:
        raise RuleViolation(f"共保体设置不符合规则：共{sum(map(len, errors.values()))}项",
                            code=INVALID_COINSURERS, errors=errors)
    with c.db.transaction() as session:
        product = _product(session, product_id, lock=True)
        before = [(m.insurer, m.share_bp, m.is_lead) for m in _members(session, product.id)]
        after = [(s.insurer, s.share_bp, s.lead) for s in shares]
        if before != after and _money_booked(session, product.id):
            raise Conflict(SHARES_FIXED, code="shares_fixed")
        if before != after:
            for member in _members(session, product.id):
                session.delete(member)
            session.flush()
            session.add_all(ProductInsurer(product_id=product.id, position=index,
                                           insurer=share.insurer, share_bp=share.share_bp,
                                           is_lead=share.lead)
                            for index, share in enumerate(shares))
            product.insurer = next(share.insurer for share in shares if share.lead)
        product.contested_claim_threshold_fen = threshold_fen
        audit.record(session, c.clock, AuditEntry(
            action="product.coinsurers", actor=by, object_type="product",
            object_id=str(product.id),
            details={"insurers": [{"insurer": s.insurer, "share_bp": s.share_bp,
                                   "lead": s.lead} for s in shares],
                     "before": [{"insurer": i, "share_bp": bp, "lead": lead}
                                for i, bp, lead in before],
                     "contested_claim_threshold_fen": threshold_fen},
        ))
    return coinsurance(c, product_id)


# ---------------------------------------------------------------- staff of an insurer


def staff_insurer(session: Session, account_id: int) -> str | None:
    return session.scalars(select(InsurerStaff.insurer).where(
        InsurerStaff.account_id == account_id)).one_or_none()


def assign_staff(c: Container, by: AuditActor, account_id: int, insurer: str,
                 supervisor: bool = False) -> str:
    """Record which insurer an insurer-staff account works for and whether it is that insurer's
    supervisor (复核主管) (administrators); audited."""
    insurer = insurer.strip()
    if not insurer or len(insurer) > MAX_NAME:
        message = f"请填写承保机构名称（不超过{MAX_NAME}个字）"
        raise InvalidInput(message, errors={"insurer": [message]})
    now = c.clock.now()
    with c.db.transaction() as session:
        account = session.get(UserAccount, account_id)
        if account is None or account.role != Role.INSURER_STAFF.value:
            raise NotFound("未找到该承保机构工作人员账号")
        row = session.get(InsurerStaff, account_id)
        if row is None:
            session.add(InsurerStaff(account_id=account_id, insurer=insurer,
                                     is_supervisor=supervisor, updated_at=now))
        else:
            row.insurer, row.is_supervisor, row.updated_at = insurer, supervisor, now
        audit.record(session, c.clock, AuditEntry(
            action="insurer_staff.assign", actor=by, object_type="account",
            object_id=str(account_id), details={"insurer": insurer, "supervisor": supervisor},
        ))
    return insurer


# ---------------------------------------------------------------- statements


KIND_LABELS = {"premium": "保费收入", "refund": "退费", "payout": "理赔赔付"}


@dataclass(frozen=True)
class StatementLine:
    occurred_at: datetime
    kind: str  # premium | refund | payout
    reference: str
    amount_fen: int  # as the insurer sees it: premiums positive, refunds and payouts negative

    @property
    def kind_label(self) -> str:
        return KIND_LABELS[self.kind]


@dataclass(frozen=True)
class Statement:
    product_id: int
    product_name: str
    insurer: str
    share_bp: int
    lead: bool
    starts_on: date
    ends_on: date
    lines: list[StatementLine]

    def _sum(self, kind: str) -> int:
        return sum(line.amount_fen for line in self.lines if line.kind == kind)

    @property
    def premiums_fen(self) -> int:
        return self._sum("premium")

    @property
    def refunds_fen(self) -> int:
        """Positive: the premiums returned."""
        return -self._sum("refund")

    @property
    def payouts_fen(self) -> int:
        """Positive: the claim money paid."""
        return -self._sum("payout")

    @property
    def net_fen(self) -> int:
        return self.premiums_fen - self.refunds_fen - self.payouts_fen


def _bounds(starts_on: date, ends_on: date) -> tuple[datetime, datetime]:
    return (datetime.combine(starts_on, time(), CHINA_TZ).astimezone(UTC),
            datetime.combine(ends_on + timedelta(days=1), time(), CHINA_TZ).astimezone(UTC))


def statement(c: Container, actor: Actor, product_id: int, insurer: str, starts_on: date,
              ends_on: date) -> Statement:
    """One insurer's statement for a period: administrators read any insurer's, insurer staff
    only their own insurer's; audited."""
    if ends_on < starts_on:
        raise InvalidInput(PERIOD_ORDER, errors={"to": [PERIOD_ORDER]})
    if ends_on - starts_on > timedelta(days=366):
        raise InvalidInput(PERIOD_LENGTH, errors={"to": [PERIOD_LENGTH]})
    with c.db.transaction() as session:
        product = _product(session, product_id)
        if actor.role is Role.INSURER_STAFF:
            own = staff_insurer(session, actor.account_id)
            if own is None:
                raise RuleViolation(NO_INSURER, code="no_insurer")
            if own != insurer:
                raise RuleViolation(NOT_YOUR_INSURER, code="not_your_insurer")
        member = next((m for m in _members(session, product.id) if m.insurer == insurer), None)
        if member is None:
            raise NotFound(NOT_A_MEMBER)
        start, end = _bounds(starts_on, ends_on)
        premium = ledger.insurer_premium(product.id, member.id)
        payout = ledger.insurer_payout(product.id, member.id)
        rows = session.execute(
            select(ledger.LedgerTransaction.occurred_at, ledger.LedgerTransaction.reference,
                   ledger.LedgerEntry.account, ledger.LedgerEntry.amount_fen)
            .join(ledger.LedgerEntry,
                  ledger.LedgerEntry.transaction_id == ledger.LedgerTransaction.id)
            .where(ledger.LedgerEntry.account.in_([premium, payout]),
                   ledger.LedgerTransaction.occurred_at >= start,
                   ledger.LedgerTransaction.occurred_at < end)
            .order_by(ledger.LedgerTransaction.occurred_at, ledger.LedgerEntry.id)).all()
        lines = [StatementLine(
            occurred_at, "payout" if account == payout else
            ("premium" if amount > 0 else "refund"), reference, int(amount))
            for occurred_at, reference, account, amount in rows]
        audit.record(session, c.clock, AuditEntry(
            action="insurer.statement", actor=AuditActor(actor.account_id, actor.role.value),
            object_type="product", object_id=str(product.id),
            details={"insurer": insurer, "from": starts_on.isoformat(),
                     "to": ends_on.isoformat()},
        ))
        return Statement(product.id, product.name, insurer, member.share_bp, member.is_lead,
                         starts_on, ends_on, lines)


def account_balances(session: Session, product_id: int) -> dict[str, int]:
    """Every insurer account of a product and its balance (for checks)."""
    return {account: int(total) for account, total in session.execute(
        select(ledger.LedgerEntry.account, func.sum(ledger.LedgerEntry.amount_fen))
        .where(ledger.LedgerEntry.account.like(f"insurer_%:{product_id}:%"))
        .group_by(ledger.LedgerEntry.account))}


CSV_HEADER = ("日期时间", "类型", "业务编号", "金额（元）")


def statement_csv(s: Statement) -> bytes:
    """One line per ledger entry, then the totals (``excel_csv``)."""
    return excel_csv([
        ("产品", s.product_name), ("承保机构", s.insurer),
        ("共保份额", format_percent(s.share_bp) + ("（主承保）" if s.lead else "")),
        ("对账期间", f"{s.starts_on.isoformat()} 至 {s.ends_on.isoformat()}"), (), CSV_HEADER,
        *[(f"{to_china_time(line.occurred_at):%Y-%m-%d %H:%M:%S}", line.kind_label,
           line.reference, format_yuan(line.amount_fen)) for line in s.lines],
        (), ("保费收入合计", "", "", format_yuan(s.premiums_fen)),
        ("退费合计", "", "", format_yuan(-s.refunds_fen)),
        ("理赔赔付合计", "", "", format_yuan(-s.payouts_fen)),
        ("净额", "", "", format_yuan(s.net_fen))])


# ---------------------------------------------------------------- surplus (002 三(五))


SURPLUS_NOTE_MISSING = "请说明上年度结余的使用方式"
SURPLUS_NOTE_LENGTH = "结余使用说明不能超过500个字"
SURPLUS_UNKNOWN = ("暂无可使用的上年度结余：上年度产品不存在、保障期尚未结束或未设定目标赔付率")
SURPLUS_PUBLISHED = "产品已发布，结余使用方案随产品公布，不能再修改"


def _previous_surplus(c: Container, product_id: int) -> int | None:
    """The surplus of the city's previous-year product, as its disclosure shows it now (None
    while there is none to show)."""
    with c.db.read() as session:
        product = _product(session, product_id)
        year_end = previous_year_end(c, product)
    return None if year_end is None else year_end.surplus_fen


def _check_surplus_use(previous_surplus_fen: int | None, used_fen: int) -> None:
    """The amount used is at most the previous year's surplus (002 三(五)); nothing can be used
    of a shortfall or of a year not yet over."""
    if previous_surplus_fen is None:
        raise InvalidInput(SURPLUS_UNKNOWN, errors={"surplus_used_fen": [SURPLUS_UNKNOWN]})
    available = max(previous_surplus_fen, 0)
    if used_fen > available:
        message = f"结余使用金额不能超过上年度结余{format_yuan(available, grouping=True)}元"
        raise InvalidInput(message, errors={"surplus_used_fen": [message]})


@dataclass(frozen=True)
class SurplusSetting:
    product_id: int
    target_payout_ratio_bp: int | None
    surplus_used_fen: int | None
    surplus_use_note: str | None
    previous_year_surplus_fen: int | None = None  # what the amount used may not exceed


def surplus_setting(c: Container, product_id: int) -> SurplusSetting:
    previous = _previous_surplus(c, product_id)
    with c.db.read() as session:
        product = _product(session, product_id)
        return SurplusSetting(product.id, product.target_payout_ratio_bp,
                              product.surplus_used_fen, product.surplus_use_note, previous)


def set_surplus(c: Container, by: AuditActor, product_id: int, target_ratio_bp: int | None,
                used_fen: int | None, note: str | None) -> SurplusSetting:
    """The product's target payout ratio, and how it uses the previous year's surplus (an
    amount and a note, shown on its disclosure page); audited."""
    note = (note or "").strip() or None
    if used_fen is not None and note is None:
        raise InvalidInput(SURPLUS_NOTE_MISSING, errors={"surplus_use_note": [
            SURPLUS_NOTE_MISSING]})
    if note is not None and len(note) > 500:
        raise InvalidInput(SURPLUS_NOTE_LENGTH, errors={"surplus_use_note": [
            SURPLUS_NOTE_LENGTH]})
    previous = _previous_surplus(c, product_id)
    if used_fen is not None:
        _check_surplus_use(previous, used_fen)
    with c.db.transaction() as session:
        product = _product(session, product_id, lock=True)
        if product.status == ProductStatus.PUBLISHED.value and (
                (used_fen, note if used_fen is not None else None)
                != (product.surplus_used_fen, product.surplus_use_note)):
            raise RuleViolation(SURPLUS_PUBLISHED, code="surplus_published",
                                errors={"surplus_used_fen": [SURPLUS_PUBLISHED]})
        product.target_payout_ratio_bp = target_ratio_bp
        product.surplus_used_fen = used_fen
        product.surplus_use_note = note if used_fen is not None else None
        audit.record(session, c.clock, AuditEntry(
            action="product.surplus", actor=by, object_type="product",
            object_id=str(product.id),
            details={"target_payout_ratio_bp": target_ratio_bp, "surplus_used_fen": used_fen,
                     "surplus_use_note": product.surplus_use_note},
        ))
        return SurplusSetting(product.id, product.target_payout_ratio_bp,
                              product.surplus_used_fen, product.surplus_use_note, previous)
