"""The registry protocol's message bodies: port values to JSON objects and back.

Field names and shapes are those of the JSON Schemas in ``docs/registry-protocol.openapi.yaml``.
Times are ISO 8601 with an offset; money is integer fen. A malformed body raises ``ValueError``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import date, datetime
from typing import Any

from huiminbao.core.idnumber import normalize as normalize_id_number
from huiminbao.registry.port import (
    AccountBalance,
    AccountEntry,
    Assistance,
    BalanceKind,
    FailureReason,
    FamilyLink,
    OperationKind,
    OperationResult,
    OperationStatus,
    PersonStatus,
    PriorDiagnosis,
    RegistryPerson,
    Relation,
    Scheme,
    SettledItem,
    SettlementRecord,
    VisitType,
)

# Most ID numbers in one batch lookup or scheme-count message (callers split larger sets).
MAX_BATCH = 500
MAX_COUNT_BATCH = 5000
# Most codes (drugs, diagnoses) on one settlement.
MAX_CODES = 200
# Operations per statement page.
STATEMENT_PAGE = 1000


def text(body: Mapping[str, Any], name: str, *, optional: bool = False) -> str:
    value = body.get(name)
    if value is None and optional:
        return ""
    if not isinstance(value, str):
        raise ValueError(f"{name} must be a string")
    return value


def id_number(body: Mapping[str, Any], name: str, *, optional: bool = False) -> str:
    """An ID number in the one form the platform keys persons by (upper-case X, ASCII): a
    bridge that answers 11010519491231002x for 11010519491231002X still means that person."""
    return normalize_id_number(text(body, name, optional=optional))


def integer(body: Mapping[str, Any], name: str) -> int:
    value = body.get(name)
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"{name} must be an integer")
    return value


def text_list(body: Mapping[str, Any], name: str, limit: int) -> list[str]:
    value = body.get(name)
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise ValueError(f"{name} must be a list of strings")
    if len(value) > limit:
        raise ValueError(f"{name} holds at most {limit} items")
    return list(value)


def id_number_list(body: Mapping[str, Any], name: str, limit: int) -> list[str]:
    """A list of ID numbers in an answer, each read as ``id_number`` reads one."""
    return [normalize_id_number(item) for item in text_list(body, name, limit)]


def instant(value: object, name: str) -> datetime | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise ValueError(f"{name} must be an ISO 8601 time")
    parsed = datetime.fromisoformat(value)
    if parsed.tzinfo is None:
        raise ValueError(f"{name} must carry a UTC offset")
    return parsed


def iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


_DISTRICT = re.compile(r"[0-9]{6}")
_MOBILE = re.compile(r"1[3-9][0-9]{9}")

# --- values ------------------------------------------------------------------------------------


def person_out(person: RegistryPerson) -> dict[str, Any]:
    # ``phone`` is the agency's reserved phone (预留手机号): the product texts it, never shows it,
    # to reach the person about their own account (a relative's verification code, a renewal
    # notice). Whether a phone someone typed is that one is asked with the contact check.
    return {
        "id_number": person.id_number,
        "name": person.name,
        "phone": person.phone,
        "city_code": person.city_code,
        "scheme": person.scheme.value,
        "status": person.status.value,
        "assistance": person.assistance.value,
        "district_code": person.district_code,
        "other_relief_insurance": person.other_relief_insurance,
    }


def person_in(value: Mapping[str, Any]) -> RegistryPerson:
    return RegistryPerson(
        id_number=id_number(value, "id_number"),
        name=text(value, "name"),
        phone=_optional_matching(value.get("phone"), _MOBILE,
                                 "phone must be an 11-digit mainland mobile number or null"),
        city_code=text(value, "city_code"),
        scheme=Scheme(text(value, "scheme")),
        status=PersonStatus(text(value, "status")),
        assistance=Assistance(text(value, "assistance")),
        # Optional fields: a registry that does not send them knows no district and
        # no other poverty-relief insurance.
        district_code=_optional_matching(value.get("district_code"), _DISTRICT,
                                         "district_code must be 6 digits or null"),
        other_relief_insurance=_optional_flag(value.get("other_relief_insurance")),
    )


def _optional_matching(value: object, pattern: re.Pattern[str], problem: str) -> str | None:
    """An optional text field: None, or a string the whole of which matches ``pattern``."""
    if value is None:
        return None
    if not isinstance(value, str) or not pattern.fullmatch(value):
        raise ValueError(problem)
    return value


def _optional_flag(value: object) -> bool:
    if value is None:
        return False
    if not isinstance(value, bool):
        raise ValueError("other_relief_insurance must be a boolean")
    return value


def link_out(link: FamilyLink) -> dict[str, Any]:
    return {"relative_id_number": link.relative_id_number, "relation": link.relation.value}


def link_in(value: Mapping[str, Any]) -> FamilyLink:
    return FamilyLink(id_number(value, "relative_id_number"), Relation(text(value, "relation")))


def diagnosis_out(diagnosis: PriorDiagnosis) -> dict[str, Any]:
    return {"code": diagnosis.code, "diagnosed_on": diagnosis.diagnosed_on.isoformat()}


def diagnosis_in(value: Mapping[str, Any]) -> PriorDiagnosis:
    return PriorDiagnosis(text(value, "code"), day(value.get("diagnosed_on"), "diagnosed_on"))


def settlement_out(record: SettlementRecord) -> dict[str, Any]:
    return {
        "record_no": record.record_no,
        "visit_type": record.visit_type.value,
        "visit_date": record.visit_date.isoformat(),
        "end_date": record.end_date.isoformat(),
        "hospital_name": record.hospital_name,
        "in_policy_self_pay_fen": record.in_policy_self_pay_fen,
        "items": [{"code": item.code, "name": item.name, "amount_fen": item.amount_fen}
                  for item in record.items],
        "drug_codes": list(record.drug_codes),
        "diagnosis_codes": list(record.diagnosis_codes),
    }


def settlement_in(value: Mapping[str, Any]) -> SettlementRecord:
    visit_date = day(value.get("visit_date"), "visit_date")
    end_date = day(value.get("end_date"), "end_date")
    if end_date < visit_date:
        raise ValueError("end_date must not be before visit_date")
    self_pay = integer(value, "in_policy_self_pay_fen")
    items = tuple(SettledItem(text(item, "code"), text(item, "name"),
                              integer(item, "amount_fen"))
                  for item in list_of(value.get("items"), "items"))
    if self_pay < 0 or any(item.amount_fen < 0 for item in items):
        raise ValueError("amounts must not be negative")
    return SettlementRecord(
        record_no=text(value, "record_no"),
        visit_type=VisitType(text(value, "visit_type")),
        visit_date=visit_date, end_date=end_date,
        hospital_name=text(value, "hospital_name"),
        in_policy_self_pay_fen=self_pay, items=items,
        drug_codes=tuple(text_list(value, "drug_codes", MAX_CODES)),
        diagnosis_codes=tuple(text_list(value, "diagnosis_codes", MAX_CODES)),
    )


def day(value: object, name: str) -> date:
    """An ISO 8601 date (``2026-03-01``)."""
    if not isinstance(value, str):
        raise ValueError(f"{name} must be an ISO 8601 date")
    try:
        return date.fromisoformat(value)
    except ValueError as exc:
        raise ValueError(f"{name} must be an ISO 8601 date") from exc


def balance_out(balance: AccountBalance) -> dict[str, Any]:
    return {"id_number": balance.id_number, "prior_years_fen": balance.prior_years_fen,
            "current_year_fen": balance.current_year_fen}


def balance_in(value: Mapping[str, Any]) -> AccountBalance:
    return AccountBalance(id_number(value, "id_number"), integer(value, "prior_years_fen"),
                          integer(value, "current_year_fen"))


def entry_out(entry: AccountEntry) -> dict[str, Any]:
    return {
        "request_no": entry.request_no,
        "kind": entry.kind.value,
        "balance_kind": entry.balance_kind.value,
        "amount_fen": entry.amount_fen,
        "balance_after_fen": entry.balance_after_fen,
        "purpose": entry.purpose,
        "occurred_at": iso(entry.occurred_at),
    }


def entry_in(value: Mapping[str, Any]) -> AccountEntry:
    occurred_at = instant(value.get("occurred_at"), "occurred_at")
    if occurred_at is None:
        raise ValueError("occurred_at is required")
    return AccountEntry(
        request_no=text(value, "request_no"),
        kind=OperationKind(text(value, "kind")),
        balance_kind=BalanceKind(text(value, "balance_kind")),
        amount_fen=integer(value, "amount_fen"),
        balance_after_fen=integer(value, "balance_after_fen"),
        purpose=text(value, "purpose"),
        occurred_at=occurred_at,
    )


def result_out(result: OperationResult) -> dict[str, Any]:
    return {
        "request_no": result.request_no,
        "kind": result.kind.value,
        "status": result.status.value,
        "id_number": result.id_number,
        "amount_fen": result.amount_fen,
        "failure_reason": result.failure_reason.value if result.failure_reason else None,
        "by_balance": {kind.value: amount for kind, amount in result.by_balance.items()},
        "occurred_at": iso(result.occurred_at),
        "original_request_no": result.original_request_no,
    }


def result_in(value: Mapping[str, Any]) -> OperationResult:
    by_balance = value.get("by_balance") or {}
    if not isinstance(by_balance, dict):
        raise ValueError("by_balance must be an object")
    reason = value.get("failure_reason")
    original = value.get("original_request_no")
    return OperationResult(
        request_no=text(value, "request_no"),
        kind=OperationKind(text(value, "kind")),
        status=OperationStatus(text(value, "status")),
        id_number=id_number(value, "id_number", optional=True),
        amount_fen=integer(value, "amount_fen"),
        failure_reason=FailureReason(reason) if reason else None,
        by_balance={BalanceKind(kind): integer(by_balance, kind) for kind in by_balance},
        occurred_at=instant(value.get("occurred_at"), "occurred_at"),
        original_request_no=original if isinstance(original, str) else None,
    )


def object_of(value: object, name: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise ValueError(f"{name} must be an object")
    return value


def list_of(value: object, name: str) -> list[dict[str, Any]]:
    if not isinstance(value, list) or not all(isinstance(item, dict) for item in value):
        raise ValueError(f"{name} must be a list of objects")
    return value
