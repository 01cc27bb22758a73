"""How the console's reports look in responses (masked names and ID numbers only)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from huiminbao.catalog.coinsurance import percent_label
from huiminbao.catalog.domain import AssistanceCategory
from huiminbao.console import bulk, coinsurers, payers, roster
from huiminbao.console.counter import CounterResult
from huiminbao.core.clock import to_china_time
from huiminbao.core.masking import mask_phone, scrub_text
from huiminbao.disclosure.domain import Channel
from huiminbao.enrollment.domain import PayerKind
from huiminbao.enrollment.models import ReconcileRun
from huiminbao.identity.sms_domain import SmsStatus
from huiminbao.identity.sms_worker import OutboxEntry


def batch_view(report: bulk.BatchReport) -> dict[str, Any]:
    batch, employer = report.batch, report.employer
    counts = {"total": len(batch.rows), "enrolled": 0, "already": 0, "failed": 0}
    for row in batch.rows:
        if row.outcome in counts:
            counts[row.outcome] += 1
    message = (f"共{counts['total']}行：{counts['enrolled']}人参保成功，"
               f"{counts['already']}人此前已由本单位投保，{counts['failed']}行未通过")
    if report.replayed:
        message = (f"该文件已于{to_china_time(batch.created_at):%Y年%m月%d日 %H:%M}上传处理"
                   f"（批次号{batch.batch_no}），本次未重复投保。上次结果：{message}")
    return {
        "batch_no": batch.batch_no, "employer_code": employer.code,
        "employer_name": employer.name, "product_id": batch.product_id,
        "product_name": report.product_name, "filename": batch.filename,
        "file_sha256": batch.file_sha256, "status": batch.status,
        "replayed": report.replayed, "message": message, "created_at": batch.created_at,
        "finished_at": batch.finished_at, "counts": counts,
        "rows": [{
            "line": row.line, "id_number": row.id_number_masked, "name": row.name_masked,
            "tier": row.tier_code, "outcome": row.outcome,
            "outcome_label": bulk.OUTCOME_LABELS[row.outcome], "reason": row.reason,
            "policy_no": row.policy_no,
        } for row in batch.rows],
    }


def roster_view(report: roster.RosterReport) -> dict[str, Any]:
    imported = report.roster_import
    counts = {"total": len(imported.rows), "enrolled": 0, "skipped": 0, "failed": 0}
    for row in imported.rows:
        if row.outcome in counts:
            counts[row.outcome] += 1
    return {
        "import_no": imported.import_no, "product_id": imported.product_id,
        "product_name": report.product_name, "year": imported.year,
        "filename": imported.filename, "status": imported.status,
        "message": (f"共{counts['total']}行：{counts['enrolled']}人资助参保成功，"
                    f"{counts['skipped']}人已跳过，{counts['failed']}行未通过"),
        "created_at": imported.created_at, "counts": counts,
        "donor": imported.donor_code,
        "rows": [{
            "line": row.line, "id_number": row.id_number_masked, "name": row.name_masked,
            "category": row.category,
            "category_label": AssistanceCategory(row.category).label if row.category else None,
            "outcome": row.outcome, "outcome_label": roster.OUTCOME_LABELS[row.outcome],
            "reason": row.reason, "policy_no": row.policy_no, "payer": row.payer_code,
            "subsidy_fen": row.subsidy_fen,
        } for row in imported.rows],
    }


def counter_view(result: CounterResult) -> dict[str, Any]:
    product = result.product
    tier = product.tier(result.tier_code)
    return {
        "order_no": result.order_no, "policy_no": result.policy_no,
        "channel": Channel.COUNTER.value, "channel_label": Channel.COUNTER.label,
        "product_id": product.id, "product_name": product.name, "tier": result.tier_code,
        "tier_name": tier.name if tier else result.tier_code,
        "insured_name": result.insured_name, "id_number": result.id_number,
        "premium_fen": result.premium_fen, "subsidy_fen": result.subsidy_fen,
        "paid_fen": result.paid_fen, "payment": result.payment.value,
        "payment_label": result.payment.label, "receipt_no": result.receipt_no,
        "staff_name": result.staff_name, "coverage_starts_on": product.coverage_starts_on,
        "coverage_ends_on": product.coverage_ends_on,
    }


def reconcile_runs_view(runs: list[ReconcileRun]) -> dict[str, Any]:
    """``runs`` newest first; ``latest_ok`` is null until reconcile has run once."""
    return {
        "items": [{
            "started_at": run.started_at, "finished_at": run.finished_at, "ok": run.ok,
            "settled_orders": run.settled_orders, "settled_refunds": run.settled_refunds,
            "healed": run.healed, "violations": list(run.violations),
        } for run in runs],
        "latest_ok": runs[0].ok if runs else None,
    }


def sms_outbox_view(entries: Sequence[OutboxEntry]) -> dict[str, Any]:
    """Never the text itself (it may hold a one-time code): its template, state and error."""
    counts: dict[str, int] = {}
    for entry in entries:
        counts[entry.status] = counts.get(entry.status, 0) + 1
    return {
        "items": [{
            "id": entry.id, "phone": mask_phone(entry.phone), "template": entry.template,
            "status": entry.status, "status_label": SmsStatus(entry.status).label,
            "attempts": entry.attempts, "created_at": entry.created_at,
            "next_attempt_at": entry.next_attempt_at, "sent_at": entry.sent_at,
            "last_error": scrub_text(entry.last_error) if entry.last_error else None,
            "provider_message_id": entry.provider_message_id,
        } for entry in entries],
        "counts": counts,
    }


def coinsurance_view(setting: coinsurers.CoinsuranceSetting) -> dict[str, Any]:
    return {
        "product_id": setting.product_id,
        "insurers": [{"id": m.id, "insurer": m.insurer, "share_bp": m.share_bp,
                      "share_label": percent_label(m.share_bp), "lead": m.is_lead}
                     for m in setting.insurers],
        "contested_claim_threshold_fen": setting.contested_claim_threshold_fen,
        "editable": setting.editable,
    }


def statement_view(s: coinsurers.Statement) -> dict[str, Any]:
    return {
        "product_id": s.product_id, "product_name": s.product_name, "insurer": s.insurer,
        "share_bp": s.share_bp, "lead": s.lead, "starts_on": s.starts_on, "ends_on": s.ends_on,
        "lines": [{"occurred_at": line.occurred_at, "kind": line.kind,
                   "kind_label": line.kind_label, "reference": line.reference,
                   "amount_fen": line.amount_fen} for line in s.lines],
        "premiums_fen": s.premiums_fen, "refunds_fen": s.refunds_fen,
        "payouts_fen": s.payouts_fen, "net_fen": s.net_fen,
    }


def payer_view(found: payers.PayerView) -> dict[str, Any]:
    row = found.row
    return {"id": row.id, "city_code": row.city_code, "code": row.code, "name": row.name,
            "kind": row.kind, "kind_label": PayerKind(row.kind).label,
            "district_code": row.district_code,
            "categories": [group for group in row.categories.split(",") if group],
            "active": row.active, "fund_account": found.fund_account,
            "paid_fen": found.paid_fen}
