"""Public disclosure figures of a product (002 三(五)): who is enrolled (by scheme, age band and
payment channel), premium income, claims and payouts — counts and sums only, never a person.

Live figures are those of the product's latest count, at most ``snapshots.MAX_AGE`` old, and
say when they were counted (``as_of``); figures as of a stated instant are counted for that
instant. How a count is made (set-based, one database snapshot, the registry counting schemes)
is in ``disclosure.figures``; how the latest count is kept, in ``disclosure.snapshots``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from huiminbao.catalog.domain import ProductStatus
from huiminbao.catalog.models import Product
from huiminbao.core.clock import to_china_time
from huiminbao.core.container import Container
from huiminbao.core.csvrows import excel_csv, text_cell
from huiminbao.core.db import Database
from huiminbao.core.errors import InvalidInput, NotFound
from huiminbao.core.money import format_percent, format_yuan
from huiminbao.disclosure import snapshots
from huiminbao.disclosure.claims_figures import ClaimFigures
from huiminbao.disclosure.domain import (
    AGE_BANDS,
    SCHEME_LABELS,
    Channel,
    payout_ratio_hundredths,
    surplus_fen,
)
from huiminbao.disclosure.figures import UNKNOWN_SCHEME, Figures
from huiminbao.payments import ledger

AS_OF_IN_FUTURE = "统计时点不能晚于当前时间"


@dataclass(frozen=True)
class Bucket:
    key: str
    label: str
    count: int


@dataclass(frozen=True)
class YearEnd:
    """002 三(五): once the coverage year has ended, the payout ratio against the product's
    target and the surplus (结余), from the ledger."""

    target_ratio_bp: int
    premium_income_fen: int
    payout_fen: int  # the product's claim payouts booked in the ledger

    @property
    def surplus_fen(self) -> int:
        return surplus_fen(self.premium_income_fen, self.payout_fen, self.target_ratio_bp)

    @property
    def payout_ratio(self) -> str | None:
        return format_percent(payout_ratio_hundredths(self.payout_fen, self.premium_income_fen),
                              fixed=True)

    @property
    def target_ratio(self) -> str:
        return format_percent(self.target_ratio_bp, fixed=True)


@dataclass(frozen=True)
class Disclosure:
    product: Product
    as_of: datetime
    live: bool
    enrolled_total: int
    by_scheme: list[Bucket]
    by_age_band: list[Bucket]
    by_channel: list[Bucket]
    premium_income_fen: int
    claims: ClaimFigures
    year_end: YearEnd | None = None
    day_end_stored: bool = False  # the stored figures of a day end (``snapshots.AsOf``)

    @property
    def payout_ratio_hundredths(self) -> int | None:
        return payout_ratio_hundredths(self.claims.payout_fen, self.premium_income_fen)

    @property
    def payout_ratio(self) -> str | None:
        return format_percent(self.payout_ratio_hundredths, fixed=True)


def published_products(db: Database, city_code: str | None = None) -> Sequence[Product]:
    """Every published product (newest year first): the ones with public figures. From the
    replica: a product published a moment ago may be missing for the replica's lag."""
    with db.replica_read() as session:
        query = (select(Product).where(Product.status == ProductStatus.PUBLISHED.value)
                 .order_by(Product.year.desc(), Product.id.desc()))
        if city_code is not None:
            query = query.where(Product.city_code == city_code)
        return session.scalars(query).all()


def disclosure(c: Container, product_id: int, as_of: datetime | None = None) -> Disclosure:
    """Live (``as_of`` None): the latest count's figures, at most a few minutes old. As of a
    day end (00:00 China time): that day's stored figures. As of another instant: counted for
    that instant.

    Public figures, so every read is from the replica (``Database.replica_read``); only
    storing a recount (``snapshots``) writes, on the primary."""
    if as_of is not None and as_of > c.clock.now():
        raise InvalidInput(AS_OF_IN_FUTURE, errors={"as_of": [AS_OF_IN_FUTURE]})
    with c.db.replica_read() as session:
        product = session.get(Product, product_id)
        if product is None or product.status != ProductStatus.PUBLISHED.value:
            raise NotFound("未找到该产品")
    day_end_stored = False
    if as_of is None:
        figures = snapshots.live_figures(c, product.id)
    else:
        counted = snapshots.as_of_figures(c, product.id, as_of)
        figures, day_end_stored = counted.figures, counted.day_end_stored
    return replace(_disclosure(product, figures, live=as_of is None),
                   year_end=_year_end(c, product, figures), day_end_stored=day_end_stored)


def _year_end(c: Container, product: Product, figures: Figures) -> YearEnd | None:
    """The year-end figures, once the coverage year has ended and a target ratio is set."""
    if (product.target_payout_ratio_bp is None
            or to_china_time(figures.as_of).date() <= product.coverage_ends_on):
        return None
    with c.db.replica_read() as session:
        payable = _account_total(session, ledger.claims_payable(product.id), figures.as_of)
    return YearEnd(product.target_payout_ratio_bp, figures.premium_income_fen, -payable)


def _account_total(session: Session, account: str, as_of: datetime) -> int:
    """A ledger account's balance as of an instant."""
    return int(session.scalar(
        select(func.coalesce(func.sum(ledger.LedgerEntry.amount_fen), 0))
        .join(ledger.LedgerTransaction,
              ledger.LedgerTransaction.id == ledger.LedgerEntry.transaction_id)
        .where(ledger.LedgerEntry.account == account,
               ledger.LedgerTransaction.occurred_at <= as_of)) or 0)


def previous_year_end(c: Container, product: Product) -> YearEnd | None:
    """The year-end figures of the city's published product of the year before ``product``'s,
    now, from the ledger (what its disclosure page shows); None while there is none: no such
    product, its coverage year not over, or no target ratio set."""
    now = c.clock.now()
    with c.db.read() as session:
        previous = session.scalars(
            select(Product).where(Product.city_code == product.city_code,
                                  Product.year == product.year - 1,
                                  Product.status == ProductStatus.PUBLISHED.value)
            .order_by(Product.id.desc())).first()
        if (previous is None or previous.target_payout_ratio_bp is None
                or to_china_time(now).date() <= previous.coverage_ends_on):
            return None
        premium = _account_total(session, ledger.premium_income(previous.id), now)
        payable = _account_total(session, ledger.claims_payable(previous.id), now)
    return YearEnd(previous.target_payout_ratio_bp, premium, -payable)


def _disclosure(product: Product, figures: Figures, *, live: bool) -> Disclosure:
    schemes = figures.by_scheme
    return Disclosure(
        product=product, as_of=figures.as_of, live=live, enrolled_total=figures.enrolled_total,
        by_scheme=[Bucket(key, label, schemes.get(key, 0))
                   for key, label in SCHEME_LABELS.items()
                   if key != UNKNOWN_SCHEME or schemes.get(key)],
        by_age_band=[Bucket(band.key, band.label, figures.by_age_band.get(band.key, 0))
                     for band in AGE_BANDS],
        by_channel=[Bucket(channel.value, channel.label,
                           figures.by_channel.get(channel.value, 0)) for channel in Channel],
        premium_income_fen=figures.premium_income_fen, claims=figures.claims,
    )


# ---------------------------------------------------------------- CSV

CSV_HEADER = ("指标", "分类", "数值")


def disclosure_rows(d: Disclosure) -> list[tuple[str, str, str]]:
    """The figures as (indicator, breakdown, value) rows for the CSV download."""
    product = d.product
    claims = d.claims
    rows: list[tuple[str, str, str]] = [
        ("产品名称", "", text_cell(product.name)),
        ("城市", "", text_cell(product.city_name)),
        ("年度", "", str(product.year)),
        ("承保机构", "", text_cell(product.insurer)),
        ("统计时点", "", to_china_time(d.as_of).isoformat(timespec="seconds")),
        ("参保人数", "合计", str(d.enrolled_total)),
    ]
    rows += [("参保人数（按医保类型）", b.label, str(b.count)) for b in d.by_scheme]
    rows += [("参保人数（按年龄段）", b.label, str(b.count)) for b in d.by_age_band]
    rows += [("参保人数（按缴费渠道）", b.label, str(b.count)) for b in d.by_channel]
    rows.append(("保费收入（元）", "", format_yuan(d.premium_income_fen)))
    if claims.available:
        rows += [
            ("理赔受理件数", "", str(claims.accepted)),
            ("理赔赔付件数", "", str(claims.paid)),
            ("赔付金额（元）", "", format_yuan(claims.payout_fen)),
            ("赔付率（赔付金额÷保费收入）", "", d.payout_ratio or "—"),
            ("单笔最高赔付（元）", "", format_yuan(claims.largest_payout_fen)),
        ]
    else:
        rows.append(("理赔数据", "", "暂未接入"))
    if d.year_end is not None:
        rows += [
            ("年度赔付率（账面）", "", d.year_end.payout_ratio or "—"),
            ("目标赔付率", "", d.year_end.target_ratio),
            ("年度结余（元）", "目标赔付率×保费收入−赔付金额", format_yuan(d.year_end.surplus_fen)),
        ]
    if product.surplus_used_fen is not None:
        rows.append(("使用上年度结余（元）", text_cell(product.surplus_use_note or ""),
                     format_yuan(product.surplus_used_fen)))
    return rows


def disclosure_csv(d: Disclosure) -> bytes:
    return excel_csv([CSV_HEADER, *disclosure_rows(d)])
