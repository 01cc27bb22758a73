"""The bureau report endpoints (staff: administrators). Routes validate, call one service, and
shape the answer."""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any
from urllib.parse import urlencode

from flask import Response, url_for
from flask.views import MethodView
from flask_smorest import Blueprint

from huiminbao.core.container import container
from huiminbao.core.web import csv_download
from huiminbao.identity.auth import staff_only
from huiminbao.identity.domain import Role
from huiminbao.reports import services
from huiminbao.reports.domain import Report
from huiminbao.reports.schemas import ReportQuerySchema, ReportSchema

blp = Blueprint("reports", __name__, url_prefix="/api/v1", description="监管报表（运营管理）")



@dataclass(frozen=True)
class ReportAnswer(Report):
    """The report with the address of the same report as a CSV download."""

    csv_url: str = ""

    @classmethod
    def of(cls, report: Report, csv_url: str) -> ReportAnswer:
        return cls(**{f.name: getattr(report, f.name) for f in fields(report)}, csv_url=csv_url)


def _report(product_id: int, query: dict[str, Any]) -> Report:
    return services.bureau_report(container(), product_id, query["month"], query["first_day"],
                                  query["last_day"])


@blp.route("/admin/products/<int:product_id>/report")
class BureauReport(MethodView):
    # The operating bureau's figures: administrators (there is no separate bureau role).
    @staff_only(Role.ADMIN)
    @blp.arguments(ReportQuerySchema, location="query")
    @blp.response(200, ReportSchema)
    @blp.alt_response(404, description="No such published product")
    def get(self, query: dict[str, Any], product_id: int) -> ReportAnswer:
        """The bureau's report for a month (`month=2027-03`) or a period (`from`, `to`):
        enrolled persons by district, scheme, channel and age band; premiums; claims received
        and paid and payouts by kind; median days to decision and to payment; complaints by
        category and timeliness. Stock figures equal the disclosure's as of `as_of`."""
        report = _report(product_id, query)
        period = report.period
        same = ({"month": query["month"].strip()} if (query["month"] or "").strip()
                else {"from": period.first_day.isoformat(), "to": period.last_day.isoformat()})
        csv_url = url_for("reports.BureauReportCsv", product_id=product_id) + "?" + urlencode(same)
        return ReportAnswer.of(report, csv_url)


@blp.route("/admin/products/<int:product_id>/report.csv")
class BureauReportCsv(MethodView):
    @staff_only(Role.ADMIN)
    @blp.arguments(ReportQuerySchema, location="query")
    @blp.response(200, content_type="text/csv")
    @blp.alt_response(404, description="No such published product")
    def get(self, query: dict[str, Any], product_id: int) -> Response:
        """The same report as a CSV download (UTF-8 with BOM; money in yuan)."""
        report = _report(product_id, query)
        period = report.period
        name = f"{report.product_name}-{period.label}-监管报表.csv"
        return csv_download(services.report_csv(report),
                            f"report-{product_id}-{period.first_day:%Y%m%d}-"
                            f"{period.last_day:%Y%m%d}.csv", name)
