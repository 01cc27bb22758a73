"""The bureau report use case: one product, one period. Every figure comes from the
disclosure's own figure functions (``disclosure.figures``, ``claims_figures``,
``complaints.complaint_figures``), so the report, the public page and the ledger agree.

A report counts the product's figures twice (at the period's start and end): seconds at a
million policies, like a disclosure as of an instant; it is for staff only.
"""

from __future__ import annotations

from datetime import date

from huiminbao.catalog.domain import ProductStatus
from huiminbao.catalog.models import Product
from huiminbao.core.container import Container
from huiminbao.core.csvrows import excel_csv
from huiminbao.core.errors import InvalidInput, NotFound
from huiminbao.disclosure.claims_figures import period_claims
from huiminbao.disclosure.complaints import complaint_figures
from huiminbao.disclosure.figures import consistent_read, count_figures
from huiminbao.reports.domain import PeriodProblem, Report, build_report, period_of, report_rows


def bureau_report(c: Container, product_id: int, month: str | None, first_day: date | None,
                  last_day: date | None) -> Report:
    try:
        period = period_of(month, first_day, last_day, c.clock.today())
    except PeriodProblem as exc:
        raise InvalidInput(exc.message, errors={exc.field: [exc.message]}) from exc
    with c.db.read() as session:
        product = session.get(Product, product_id)
        if product is None or product.status != ProductStatus.PUBLISHED.value:
            raise NotFound("未找到该产品")
        name, year = product.name, product.year
    end = min(period.end, c.clock.now())
    opening = count_figures(c, product_id, period.start)
    closing = count_figures(c, product_id, end)
    with consistent_read(c.db) as session:
        claims = period_claims(session, product_id, period.start, end)
        complaints = complaint_figures(session, product_id, period.start, end)
    return build_report(product_id, name, year, period, opening, closing, claims, complaints)


def report_csv(report: Report) -> bytes:
    return excel_csv(report_rows(report))
