"""Public disclosure figures of a product (002 三(五)): who is enrolled (by scheme, age band and
payment channel), premium income, claims and payouts — counts and sums only, never a person.

Figures are live (as of now) or as of a stated instant: a policy counts if it was issued by
then and not cancelled by then; premium income is the product's ledger account up to then;
claims as received and paid by then. The scheme (职工/城乡居民) is the registry's answer at the
time of asking, looked up in chunks between short database reads (never inside one).
"""

from __future__ import annotations

import csv
import io
import logging
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, or_, select

from huiminbao.catalog.domain import ProductStatus
from huiminbao.catalog.models import Product
from huiminbao.core.clock import to_china_time
from huiminbao.core.container import Container
from huiminbao.core.db import Database
from huiminbao.core.errors import InvalidInput, NotFound
from huiminbao.disclosure.claims_figures import ClaimFigures, claim_figures
from huiminbao.disclosure.domain import (
    AGE_BANDS,
    SCHEME_LABELS,
    Channel,
    age_band,
    channel_of,
    format_percent,
    format_yuan,
    payout_ratio_hundredths,
)
from huiminbao.enrollment.domain import PolicyStatus
from huiminbao.enrollment.models import Order, OrderItem, Policy
from huiminbao.identity.models import Person
from huiminbao.payments import ledger
from huiminbao.registry.port import RegistryError

log = logging.getLogger(__name__)

REGISTRY_CHUNK = 500
AS_OF_IN_FUTURE = "统计时点不能晚于当前时间"


@dataclass(frozen=True)
class Bucket:
    key: str
    label: str
    count: int


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

    @property
    def payout_ratio_hundredths(self) -> int | None:
        return payout_ratio_hundredths(self.claims.payout_fen, self.premium_income_fen)

    @property
    def payout_ratio(self) -> str | None:
        return format_percent(self.payout_ratio_hundredths)


def published_products(db: Database, city_code: str | None = None) -> Sequence[Product]:
    """Every published product (newest year first): the ones with public figures."""
    with db.read() as session:
        query = (select(Product).where(Product.status == ProductStatus.PUBLISHED.value)
                 .order_by(Product.year.desc(), Product.id.desc()))
        if city_code is not None:
            query = query.where(Product.city_code == city_code)
        return session.scalars(query).all()


def disclosure(c: Container, product_id: int, as_of: datetime | None = None) -> Disclosure:
    now = c.clock.now()
    if as_of is not None and as_of > now:
        raise InvalidInput(AS_OF_IN_FUTURE, errors={"as_of": [AS_OF_IN_FUTURE]})
    at = as_of or now
    with c.db.read() as session:
        product = session.get(Product, product_id)
        if product is None or product.status != ProductStatus.PUBLISHED.value:
            raise NotFound("未找到该产品")
        insured = session.execute(
            select(Person.id_number, Person.birth_date, Order.payment_method)
            .select_from(Policy)
            .join(Person, Person.id == Policy.insured_person_id)
            .join(OrderItem, OrderItem.id == Policy.order_item_id)
            .join(Order, Order.id == OrderItem.order_id)
            .where(Policy.product_id == product.id, Policy.issued_at <= at,
                   or_(Policy.status == PolicyStatus.ACTIVE.value, Policy.cancelled_at > at))
        ).all()
        premium = session.scalar(
            select(func.coalesce(func.sum(ledger.LedgerEntry.amount_fen), 0))
            .join(ledger.LedgerTransaction,
                  ledger.LedgerTransaction.id == ledger.LedgerEntry.transaction_id)
            .where(ledger.LedgerEntry.account == ledger.premium_income(product.id),
                   ledger.LedgerTransaction.occurred_at <= at)
        ) or 0
        claims = claim_figures(session, product.id, at)

    schemes = _schemes(c, [row.id_number for row in insured])
    day = to_china_time(at).date()
    ages = Counter(age_band(row.birth_date, day).key for row in insured)
    channels = Counter(channel_of(row.payment_method).value for row in insured)
    return Disclosure(
        product=product, as_of=at, live=as_of is None, enrolled_total=len(insured),
        by_scheme=[Bucket(key, label, schemes.get(key, 0))
                   for key, label in SCHEME_LABELS.items()
                   if key != "unknown" or schemes.get(key)],
        by_age_band=[Bucket(band.key, band.label, ages.get(band.key, 0)) for band in AGE_BANDS],
        by_channel=[Bucket(channel.value, channel.label, channels.get(channel.value, 0))
                    for channel in Channel],
        premium_income_fen=int(premium), claims=claims,
    )


def _schemes(c: Container, id_numbers: list[str]) -> Counter[str]:
    """Counts by scheme; persons the registry cannot answer for (or while it is unreachable)
    count as "unknown" rather than failing the public page."""
    counts: Counter[str] = Counter()
    for start in range(0, len(id_numbers), REGISTRY_CHUNK):
        chunk = id_numbers[start:start + REGISTRY_CHUNK]
        try:
            found = c.registry.find_persons(chunk)
        except RegistryError:
            log.warning("registry unavailable: %s insured persons counted as unknown scheme",
                        len(chunk))
            found = {}
        for id_number in chunk:
            person = found.get(id_number)
            counts[person.scheme.value if person is not None else "unknown"] += 1
    return counts


# ---------------------------------------------------------------- CSV

CSV_HEADER = ("指标", "分类", "数值")


def disclosure_rows(d: Disclosure) -> list[tuple[str, str, str]]:
    """The figures as (indicator, breakdown, value) rows for the CSV download."""
    product = d.product
    claims = d.claims
    rows: list[tuple[str, str, str]] = [
        ("产品名称", "", _text_cell(product.name)),
        ("城市", "", _text_cell(product.city_name)),
        ("年度", "", str(product.year)),
        ("承保机构", "", _text_cell(product.insurer)),
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
    return rows


def _text_cell(text: str) -> str:
    """Free text that a spreadsheet would run as a formula (=, +, -, @) is quoted with '."""
    return f"'{text}" if text[:1] in {"=", "+", "-", "@", "\t", "\r"} else text


def disclosure_csv(d: Disclosure) -> bytes:
    """UTF-8 with a byte-order mark, so that Excel opens the Chinese text correctly."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(CSV_HEADER)
    writer.writerows(disclosure_rows(d))
    return ("\ufeff" + buffer.getvalue()).encode("utf-8")
