"""The built-in basic-insurance registry: ``RegistryPort`` over this application's own database.

Money rules, which hold on PostgreSQL under concurrency:

* Every money operation runs in one transaction that first locks the account row
  (``SELECT ... FOR UPDATE``), then looks up its request number. A known request number with the
  same content answers with the recorded result and moves nothing; with different content it is
  refused with ``RequestNumberReused``. Two first-time requests with one request number that lock
  different rows (or none) collide on the unique request number; the loser re-reads and replays.
* Failures that are answers (insufficient balance, no account, ...) are recorded like successes,
  so ``query`` always gives a definite outcome for a request number that arrived.
* Balances move only together with append-only entries; per account and balance kind the entries
  (opening balances included, as deposits) sum to the balance. CHECK constraints keep balances
  from going negative even if this code were wrong.

On SQLite, ``Database`` opens every transaction with ``BEGIN IMMEDIATE``, which serializes writers
in place of row locks.

Besides the port, the simulator has administration methods (persons, accounts, relations,
deposits) over the bulk loading in ``loading.py``.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import (
    Connection,
    Row,
    RowMapping,
    bindparam,
    case,
    func,
    insert,
    or_,
    select,
    update,
)
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, aliased
from sqlalchemy.sql import ColumnElement

from huiminbao.core import idnumber
from huiminbao.core.clock import Clock
from huiminbao.core.crypto import blind_index
from huiminbao.core.db import Database, table_of
from huiminbao.registry.loading import (
    Change,
    OpeningBalance,
    ensure_accounts_in,
    link_all_in,
    record_deposit_in,
    upsert_person_in,
)
from huiminbao.registry.models import (
    PURPOSE_MAX_LENGTH,
    REQUEST_NO_MAX_LENGTH,
    EntryKind,
    RegistryAccountEntryRow,
    RegistryAccountRow,
    RegistryDiagnosisRow,
    RegistryOperationRow,
    RegistryPersonRow,
    RegistryRelationRow,
    RegistrySettlementRow,
)
from huiminbao.registry.port import (
    AccountBalance,
    AccountEntry,
    Assistance,
    BalanceKind,
    DistrictCounts,
    FailureReason,
    FamilyLink,
    OperationKind,
    OperationResult,
    OperationStatus,
    PersonsAndBalances,
    PersonStatus,
    PriorDiagnosis,
    RegistryPerson,
    Relation,
    RequestNumberReused,
    Scheme,
    SettledItem,
    SettlementRecord,
    VisitType,
)
from huiminbao.registry.rows import (
    account_row_of,
    checked_amount,
    checked_id_number,
    find_person_row,
    in_chunks,
)

# An operation's columns by name: a stored row's mapping, or the values just inserted.
_Record = Mapping[Any, Any]
# Attempts at one money operation when a concurrent first-time request wins the request number.
_MAX_ATTEMPTS = 3
# How PostgreSQL and SQLite name the unique request number in their error messages.
_REQUEST_NO_CONFLICT_MARKERS = (
    "uq_registry_operations_request_no",
    "registry_operations.request_no",
)

# --- statements of the money operations and the batch lookup (built once: every enrollment
# runs them, and a stand-alone registry serves many) --------------------------------------------

_PERSONS = table_of(RegistryPersonRow)
_ACCOUNTS = table_of(RegistryAccountRow)
_OPERATIONS = table_of(RegistryOperationRow)
_ENTRIES = table_of(RegistryAccountEntryRow)

# The persons with these blind indexes, each with its account's balances (NULL without one).
_PERSONS_WITH_BALANCES = (
    select(_PERSONS.c.id_number, _PERSONS.c.name, _PERSONS.c.phone, _PERSONS.c.city_code,
           _PERSONS.c.scheme, _PERSONS.c.status, _PERSONS.c.assistance, _PERSONS.c.district_code,
           _PERSONS.c.other_relief_insurance, _ACCOUNTS.c.id.label("account_id"),
           _ACCOUNTS.c.prior_years_fen, _ACCOUNTS.c.current_year_fen)
    .select_from(_PERSONS.outerjoin(_ACCOUNTS, _ACCOUNTS.c.person_id == _PERSONS.c.id))
    .where(_PERSONS.c.id_number_index.in_(bindparam("indexes", expanding=True)))
)
# A debit's lock: the account of the person with this blind index, with the person's status.
_LOCK_ACCOUNT_OF_PERSON = (
    select(_PERSONS.c.status, _ACCOUNTS.c.id.label("account_id"), _ACCOUNTS.c.prior_years_fen,
           _ACCOUNTS.c.current_year_fen)
    .join_from(_PERSONS, _ACCOUNTS, _ACCOUNTS.c.person_id == _PERSONS.c.id)
    .where(_PERSONS.c.id_number_index == bindparam("person_index"))
    .with_for_update(of=_ACCOUNTS)
)
# A refund's lock: the account its original debit took from.
_LOCK_ACCOUNT = (
    select(_ACCOUNTS.c.id, _ACCOUNTS.c.prior_years_fen, _ACCOUNTS.c.current_year_fen)
    .where(_ACCOUNTS.c.id == bindparam("account"))
    .with_for_update()
)
_OPERATION_BY_REQUEST_NO = select(_OPERATIONS).where(
    _OPERATIONS.c.request_no == bindparam("wanted"))
# What the successful refunds of one original gave back so far, per balance.
_REFUNDED_SO_FAR = select(
    func.coalesce(func.sum(_OPERATIONS.c.prior_years_fen), 0),
    func.coalesce(func.sum(_OPERATIONS.c.current_year_fen), 0),
).where(
    _OPERATIONS.c.kind == OperationKind.REFUND.value,
    _OPERATIONS.c.status == OperationStatus.SUCCEEDED.value,
    _OPERATIONS.c.original_request_no == bindparam("original"),
)
# Without id_number_index in its values, the column default fills it from id_number.
_INSERT_OPERATION = insert(_OPERATIONS)
_SET_BALANCES = (
    update(_ACCOUNTS)
    .where(_ACCOUNTS.c.id == bindparam("account"))
    .values(prior_years_fen=bindparam("prior"), current_year_fen=bindparam("current"),
            updated_at=bindparam("now"))
)
_INSERT_ENTRY = insert(_ENTRIES)


# --- validation of port arguments -------------------------------------------------------------


def _checked_request_no(request_no: str, *, label: str = "request_no") -> str:
    if not isinstance(request_no, str) or not 0 < len(request_no) <= REQUEST_NO_MAX_LENGTH:
        raise ValueError(f"{label} must be a non-empty string of at most 64 characters")
    return request_no


def _checked_purpose(purpose: str) -> str:
    if len(purpose) > PURPOSE_MAX_LENGTH:
        raise ValueError("purpose must be at most 200 characters")
    return purpose


def _checked_sources(sources: Sequence[BalanceKind]) -> tuple[BalanceKind, ...]:
    if isinstance(sources, str):
        raise ValueError("sources must be a sequence of balance kinds, not a string")
    ordered: list[BalanceKind] = []
    for source in sources:
        kind = BalanceKind(source)
        if kind not in ordered:
            ordered.append(kind)
    if not ordered:
        raise ValueError("sources must name at least one balance kind")
    return tuple(ordered)


def _sources_text(sources: Iterable[BalanceKind]) -> str:
    return ",".join(kind.value for kind in sources)


# --- row <-> port value conversions ------------------------------------------------------------


def _person(row: RegistryPersonRow | Row[*tuple[Any, ...]]) -> RegistryPerson:
    return RegistryPerson(
        id_number=row.id_number,
        name=row.name,
        phone=row.phone,
        city_code=row.city_code,
        scheme=Scheme(row.scheme),
        status=PersonStatus(row.status),
        assistance=Assistance(row.assistance),
        district_code=row.district_code,
        other_relief_insurance=bool(row.other_relief_insurance),
    )


def _balance(id_number: str, row: RegistryAccountRow) -> AccountBalance:
    return AccountBalance(
        id_number=id_number,
        prior_years_fen=row.prior_years_fen,
        current_year_fen=row.current_year_fen,
    )


def _result(record: _Record) -> OperationResult:
    """The port's answer from an operation's columns (a stored row's, or those just inserted)."""
    by_balance = {
        kind: amount
        for kind, amount in (
            (BalanceKind.PRIOR_YEARS, record["prior_years_fen"]),
            (BalanceKind.CURRENT_YEAR, record["current_year_fen"]),
        )
        if amount
    }
    reason = record["failure_reason"]
    return OperationResult(
        request_no=record["request_no"],
        kind=OperationKind(record["kind"]),
        status=OperationStatus(record["status"]),
        id_number=record["id_number"] or "",
        amount_fen=record["amount_fen"],
        failure_reason=FailureReason(reason) if reason else None,
        by_balance=by_balance,
        occurred_at=record["occurred_at"],
        original_request_no=record["original_request_no"],
    )


def _settlement(row: RegistrySettlementRow) -> SettlementRecord:
    treatment = json.loads(row.treatment)
    return SettlementRecord(
        record_no=row.record_no, visit_type=VisitType(row.visit_type),
        visit_date=row.visit_date, end_date=row.end_date, hospital_name=row.hospital_name,
        in_policy_self_pay_fen=row.in_policy_self_pay_fen,
        items=tuple(SettledItem(code, name, amount) for code, name, amount in treatment["items"]),
        drug_codes=tuple(treatment["drug_codes"]),
        diagnosis_codes=tuple(treatment["diagnosis_codes"]))


# --- session-level helpers (shared with importer, generator and demo) --------------------------


def _person_is(id_number: str) -> ColumnElement[bool]:
    """The registry person with this ID number (compared through its blind index)."""
    return RegistryPersonRow.id_number_index == blind_index(idnumber.normalize(id_number))


# --- the port ----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _LockedAccount:
    """The account row a money operation locked, with its balances as they were when locked."""

    id: int
    balances: AccountBalance


@dataclass(frozen=True)
class _DebitRequest:
    request_no: str
    id_number: str
    amount_fen: int
    sources: tuple[BalanceKind, ...]
    purpose: str


@dataclass(frozen=True)
class _RefundRequest:
    request_no: str
    original_request_no: str
    amount_fen: int
    purpose: str


class SimulatedRegistry:
    """``RegistryPort`` backed by the ``registry_*`` tables, plus administration helpers."""

    def __init__(self, db: Database, clock: Clock) -> None:
        self._db = db
        self._clock = clock

    @property
    def db(self) -> Database:
        return self._db

    @property
    def clock(self) -> Clock:
        return self._clock

    # --- reads ---------------------------------------------------------------------------------

    def find_person(self, id_number: str) -> RegistryPerson | None:
        with self._db.read() as session:
            row = find_person_row(session, idnumber.normalize(id_number))
            return _person(row) if row else None

    def find_persons(self, id_numbers: Sequence[str]) -> dict[str, RegistryPerson]:
        """Keyed by the normalized ID number (upper-case X); unknown numbers are left out."""
        return self.persons_and_balances(id_numbers, ()).persons

    def persons_and_balances(self, id_numbers: Sequence[str],
                             balances_of: Sequence[str]) -> PersonsAndBalances:
        asked = [idnumber.normalize(n) for n in id_numbers]
        wanted = [idnumber.normalize(n) for n in balances_of]
        rows: dict[str, Row[*tuple[Any, ...]]] = {}
        with self._db.read() as session:  # one statement for up to LOOKUP_CHUNK numbers
            connection = session.connection()
            for chunk in in_chunks(list(dict.fromkeys([*asked, *wanted]))):
                found = connection.execute(_PERSONS_WITH_BALANCES,
                                           {"indexes": [blind_index(n) for n in chunk]})
                rows.update((row.id_number, row) for row in found)
        persons = {number: _person(rows[number]) for number in asked if number in rows}
        balances = {
            number: AccountBalance(number, row.prior_years_fen, row.current_year_fen)
            for number in wanted
            if (row := rows.get(number)) is not None and row.account_id is not None
        }
        return PersonsAndBalances(persons, balances)

    def contact_matches(self, id_number: str, phone: str) -> bool:
        """The phone on file equals ``phone`` (surrounding blanks ignored); False for a person
        the registry does not know or who has no phone on file."""
        wanted = phone.strip()
        if not wanted:
            return False
        with self._db.read() as session:
            on_file = session.scalar(
                select(RegistryPersonRow.phone)
                .where(_person_is(id_number)))
        return on_file is not None and on_file.strip() == wanted

    def relations(self, id_number: str) -> list[FamilyLink]:
        relative = aliased(RegistryPersonRow)
        with self._db.read() as session:
            rows = session.execute(
                select(relative.id_number, RegistryRelationRow.relation)
                .join(RegistryPersonRow, RegistryPersonRow.id == RegistryRelationRow.person_id)
                .join(relative, relative.id == RegistryRelationRow.relative_id)
                .where(_person_is(id_number))
                .order_by(RegistryRelationRow.id)
            ).all()
            return [
                FamilyLink(relative_id_number=row[0], relation=Relation(row[1])) for row in rows
            ]

    def prior_diagnoses(self, id_number: str, before: date) -> list[PriorDiagnosis]:
        with self._db.read() as session:
            rows = session.execute(
                select(RegistryDiagnosisRow.code, RegistryDiagnosisRow.diagnosed_on)
                .join(RegistryPersonRow, RegistryPersonRow.id == RegistryDiagnosisRow.person_id)
                .where(_person_is(id_number), RegistryDiagnosisRow.diagnosed_on < before)
                .order_by(RegistryDiagnosisRow.diagnosed_on, RegistryDiagnosisRow.id)
            ).all()
        return [PriorDiagnosis(code, diagnosed_on) for code, diagnosed_on in rows]

    def record_diagnosis(self, id_number: str, code: str, diagnosed_on: date) -> bool:
        """Administration (demo data, tests): add a diagnosis to a known person's records
        unless it is there already. False for an unknown person."""
        with self._db.transaction() as session:
            person_id = session.scalar(select(RegistryPersonRow.id).where(_person_is(id_number)))
            if person_id is None:
                return False
            existing = session.execute(
                select(RegistryDiagnosisRow.code, RegistryDiagnosisRow.diagnosed_on)
                .where(RegistryDiagnosisRow.person_id == person_id)).all()
            if (code, diagnosed_on) not in {(row[0], row[1]) for row in existing}:
                session.add(RegistryDiagnosisRow(person_id=person_id, code=code,
                                                 diagnosed_on=diagnosed_on))
            return True

    def settlements(self, id_number: str, since: date, until: date) -> list[SettlementRecord]:
        """Only settlements already made: a visit dated after today (the business clock's) is
        not in the records yet."""
        until = min(until, self._clock.today())
        with self._db.read() as session:
            rows = session.scalars(
                select(RegistrySettlementRow)
                .join(RegistryPersonRow, RegistryPersonRow.id == RegistrySettlementRow.person_id)
                .where(_person_is(id_number), RegistrySettlementRow.visit_date >= since,
                       RegistrySettlementRow.visit_date <= until)
                .order_by(RegistrySettlementRow.visit_date, RegistrySettlementRow.id)).all()
            return [_settlement(row) for row in rows]

    def record_settlement(self, id_number: str, record: SettlementRecord) -> bool:
        """Administration (demo data, tests): add a settlement to a known person's records
        unless one with its number is there already. False for an unknown person."""
        with self._db.transaction() as session:
            person_id = session.scalar(select(RegistryPersonRow.id).where(_person_is(id_number)))
            if person_id is None:
                return False
            exists = session.scalar(select(RegistrySettlementRow.id).where(
                RegistrySettlementRow.person_id == person_id,
                RegistrySettlementRow.record_no == record.record_no))
            if exists is None:
                session.add(RegistrySettlementRow(
                    person_id=person_id, record_no=record.record_no,
                    visit_type=record.visit_type.value, visit_date=record.visit_date,
                    end_date=record.end_date, hospital_name=record.hospital_name,
                    in_policy_self_pay_fen=record.in_policy_self_pay_fen,
                    treatment=json.dumps({
                        "items": [[i.code, i.name, i.amount_fen] for i in record.items],
                        "drug_codes": list(record.drug_codes),
                        "diagnosis_codes": list(record.diagnosis_codes)},
                        ensure_ascii=False)))
            return True

    def balance(self, id_number: str) -> AccountBalance | None:
        normalized = idnumber.normalize(id_number)
        with self._db.read() as session:
            account = session.scalars(
                select(RegistryAccountRow)
                .join(RegistryPersonRow, RegistryPersonRow.id == RegistryAccountRow.person_id)
                .where(RegistryPersonRow.id_number_index == blind_index(normalized))
            ).one_or_none()
            return _balance(normalized, account) if account else None

    def entries(self, id_number: str) -> list[AccountEntry]:
        """Debits and refunds of the person's account, newest first.

        Deposits (opening balances, top-ups) are left out: the port speaks only of operations.
        ``ledger_totals`` covers every entry.
        """
        with self._db.read() as session:
            rows = session.scalars(
                select(RegistryAccountEntryRow)
                .join(
                    RegistryAccountRow, RegistryAccountRow.id == RegistryAccountEntryRow.account_id
                )
                .join(RegistryPersonRow, RegistryPersonRow.id == RegistryAccountRow.person_id)
                .where(
                    _person_is(id_number),
                    RegistryAccountEntryRow.kind != EntryKind.DEPOSIT.value,
                )
                .order_by(RegistryAccountEntryRow.id.desc())
            ).all()
            return [
                AccountEntry(
                    request_no=row.request_no,
                    kind=OperationKind(row.kind),
                    balance_kind=BalanceKind(row.balance_kind),
                    amount_fen=row.amount_fen,
                    balance_after_fen=row.balance_after_fen,
                    purpose=row.purpose,
                    occurred_at=row.occurred_at,
                )
                for row in rows
            ]

    def query(self, request_no: str) -> OperationResult | None:
        with self._db.read() as session:
            row = self._operation(session.connection(), request_no)
            return _result(row) if row else None

    def statement(self, since: datetime | None = None,
                  until: datetime | None = None) -> list[OperationResult]:
        statement = select(_OPERATIONS).where(
            _OPERATIONS.c.status == OperationStatus.SUCCEEDED.value)
        if since is not None:
            statement = statement.where(_OPERATIONS.c.occurred_at >= since)
        if until is not None:
            statement = statement.where(_OPERATIONS.c.occurred_at < until)
        with self._db.read() as session:
            rows = session.connection().execute(statement.order_by(_OPERATIONS.c.id)).mappings()
            return [_result(row) for row in rows]

    # --- money ---------------------------------------------------------------------------------

    def debit(
        self,
        request_no: str,
        id_number: str,
        amount_fen: int,
        *,
        sources: Sequence[BalanceKind],
        purpose: str,
    ) -> OperationResult:
        request = _DebitRequest(
            request_no=_checked_request_no(request_no),
            id_number=checked_id_number(id_number),
            amount_fen=checked_amount(amount_fen),
            sources=_checked_sources(sources),
            purpose=_checked_purpose(purpose),
        )
        return self._settled(request, lambda session: self._debit_in(session, request))

    def refund(
        self, request_no: str, original_request_no: str, amount_fen: int, *, purpose: str
    ) -> OperationResult:
        request = _RefundRequest(
            request_no=_checked_request_no(request_no),
            original_request_no=_checked_request_no(
                original_request_no, label="original_request_no"
            ),
            amount_fen=checked_amount(amount_fen),
            purpose=_checked_purpose(purpose),
        )
        return self._settled(request, lambda session: self._refund_in(session, request))

    def _settled(
        self,
        request: _DebitRequest | _RefundRequest,
        run_in: Callable[[Session], OperationResult],
    ) -> OperationResult:
        """Run a money request in its own transaction, retried a few times when a concurrent
        first-time request took its request number while we held a different lock (or none):
        then the answer is that request's record."""
        for _attempt in range(_MAX_ATTEMPTS):
            try:
                with self._db.transaction() as session:
                    return run_in(session)
            except IntegrityError as exc:
                replayed = self._replay_after_conflict(request, exc)
                if replayed is not None:
                    return replayed
        kind = "debit" if isinstance(request, _DebitRequest) else "refund"
        raise RuntimeError(f"{kind} did not settle after repeated request-number conflicts")

    def _debit_in(self, session: Session, request: _DebitRequest) -> OperationResult:
        connection = session.connection()
        # Lock first, then look up the request number: every request for this account, replays
        # included, queues on this lock, so the lookup below sees whatever committed before us.
        # (Person and account in one statement; no row means no account, whatever the reason.)
        index = blind_index(request.id_number)
        found = connection.execute(_LOCK_ACCOUNT_OF_PERSON, {"person_index": index}).one_or_none()
        person_status, account = (found.status, _LockedAccount(found.account_id, AccountBalance(
            request.id_number, found.prior_years_fen, found.current_year_fen))) if found else (
            None, None)
        if (replayed := self._replayed(connection, request)) is not None:
            return replayed

        now = self._clock.now()
        # The blind index is the one the lock looked up with: what the column default would
        # compute from the same ID number, without hashing it twice.
        operation: dict[str, Any] = {
            "request_no": request.request_no, "kind": OperationKind.DEBIT.value,
            "id_number": request.id_number, "id_number_index": index,
            "account_id": account.id if account else None, "amount_fen": request.amount_fen,
            "sources": _sources_text(request.sources), "original_request_no": None,
            "purpose": request.purpose, "occurred_at": now,
        }
        if account is None:
            return self._record_failure(connection, operation, FailureReason.NO_ACCOUNT)
        if person_status != PersonStatus.ACTIVE.value:
            return self._record_failure(connection, operation, FailureReason.ACCOUNT_SUSPENDED)
        taken = self._take(account, request.sources, request.amount_fen)
        if not taken:
            return self._record_failure(connection, operation,
                                        FailureReason.INSUFFICIENT_BALANCE)
        return self._record_success(connection, operation, account, taken, EntryKind.DEBIT, now)

    @staticmethod
    def _take(
        account: _LockedAccount, sources: tuple[BalanceKind, ...], amount_fen: int
    ) -> dict[BalanceKind, int]:
        """How much to take from each source, in order; empty when they cannot cover it all."""
        remaining = amount_fen
        taken: dict[BalanceKind, int] = {}
        for kind in sources:
            part = min(account.balances.of(kind), remaining)
            if part:
                taken[kind] = part
                remaining -= part
        return taken if remaining == 0 else {}

    def _refund_in(self, session: Session, request: _RefundRequest) -> OperationResult:
        connection = session.connection()
        original = self._operation(connection, request.original_request_no)
        account: _LockedAccount | None = None
        if (
            original is not None
            and original["kind"] == OperationKind.DEBIT.value
            and original["account_id"] is not None
        ):
            # The same lock as debits: refunds of one original are serialized with each other.
            locked = connection.execute(
                _LOCK_ACCOUNT, {"account": original["account_id"]}).one()
            account = _LockedAccount(locked.id, AccountBalance(
                original["id_number"] or "", locked.prior_years_fen, locked.current_year_fen))
        if (replayed := self._replayed(connection, request)) is not None:
            return replayed

        now = self._clock.now()
        # The blind index comes from the column default, as for any other insert.
        operation: dict[str, Any] = {
            "request_no": request.request_no, "kind": OperationKind.REFUND.value,
            "id_number": original["id_number"] if original else None,
            "account_id": account.id if account else None, "amount_fen": request.amount_fen,
            "sources": "", "original_request_no": request.original_request_no,
            "purpose": request.purpose, "occurred_at": now,
        }
        if original is None or original["kind"] != OperationKind.DEBIT.value:
            return self._record_failure(connection, operation, FailureReason.UNKNOWN_ORIGINAL)
        if account is None:  # the original failed for want of an account: nothing was taken
            return self._record_failure(connection, operation, FailureReason.NOTHING_TO_REFUND)

        refundable = self._refundable(connection, original)
        if request.amount_fen > sum(refundable.values()):
            return self._record_failure(connection, operation, FailureReason.NOTHING_TO_REFUND)
        # Give back to the balances the debit took from, prior-years first, each at most what it
        # gave (less what earlier refunds already returned to it).
        returned: dict[BalanceKind, int] = {}
        remaining = request.amount_fen
        for kind in (BalanceKind.PRIOR_YEARS, BalanceKind.CURRENT_YEAR):
            part = min(refundable[kind], remaining)
            if part:
                returned[kind] = part
                remaining -= part
        return self._record_success(connection, operation, account, returned, EntryKind.REFUND,
                                    now)

    @staticmethod
    def _refundable(connection: Connection,
                    original: _Record) -> dict[BalanceKind, int]:
        """What each balance may still get back from ``original`` (zero if the debit failed)."""
        if original["status"] != OperationStatus.SUCCEEDED.value:
            return {BalanceKind.PRIOR_YEARS: 0, BalanceKind.CURRENT_YEAR: 0}
        refunded_prior, refunded_current = connection.execute(
            _REFUNDED_SO_FAR, {"original": original["request_no"]}).one()
        return {
            BalanceKind.PRIOR_YEARS: original["prior_years_fen"] - int(refunded_prior),
            BalanceKind.CURRENT_YEAR: original["current_year_fen"] - int(refunded_current),
        }

    @staticmethod
    def _record_failure(
        connection: Connection, operation: dict[str, Any], reason: FailureReason
    ) -> OperationResult:
        operation.update(status=OperationStatus.FAILED.value, failure_reason=reason.value,
                         prior_years_fen=0, current_year_fen=0)
        connection.execute(_INSERT_OPERATION, operation)
        return _result(operation)

    @staticmethod
    def _record_success(
        connection: Connection,
        operation: dict[str, Any],
        account: _LockedAccount,
        moved: dict[BalanceKind, int],
        entry_kind: EntryKind,
        now: datetime,
    ) -> OperationResult:
        sign = -1 if entry_kind is EntryKind.DEBIT else 1
        operation.update(status=OperationStatus.SUCCEEDED.value, failure_reason=None,
                         prior_years_fen=moved.get(BalanceKind.PRIOR_YEARS, 0),
                         current_year_fen=moved.get(BalanceKind.CURRENT_YEAR, 0))
        # Insert the operation first: a concurrent holder of the request number fails us here,
        # before any balance changed.
        connection.execute(_INSERT_OPERATION, operation)
        balances = {kind: account.balances.of(kind) for kind in BalanceKind}
        entries = []
        for kind, amount in moved.items():
            balances[kind] += sign * amount
            entries.append({
                "account_id": account.id, "request_no": operation["request_no"],
                "kind": entry_kind.value, "balance_kind": kind.value, "amount_fen": sign * amount,
                "balance_after_fen": balances[kind], "purpose": operation["purpose"],
                "occurred_at": now,
            })
        connection.execute(_SET_BALANCES, {
            "account": account.id, "prior": balances[BalanceKind.PRIOR_YEARS],
            "current": balances[BalanceKind.CURRENT_YEAR], "now": now})
        connection.execute(_INSERT_ENTRY, entries)
        return _result(operation)

    @staticmethod
    def _operation(connection: Connection, request_no: str) -> RowMapping | None:
        return connection.execute(
            _OPERATION_BY_REQUEST_NO, {"wanted": request_no}).mappings().one_or_none()

    @staticmethod
    def _replay(
        existing: _Record, request: _DebitRequest | _RefundRequest
    ) -> OperationResult:
        if isinstance(request, _DebitRequest):
            same = (
                existing["kind"] == OperationKind.DEBIT.value
                and existing["id_number"] == request.id_number
                and existing["amount_fen"] == request.amount_fen
                and existing["sources"] == _sources_text(request.sources)
            )
        else:
            same = (
                existing["kind"] == OperationKind.REFUND.value
                and existing["original_request_no"] == request.original_request_no
                and existing["amount_fen"] == request.amount_fen
            )
        if not same:
            raise RequestNumberReused(
                f"request number {request.request_no!r} was already used for another operation"
            )
        return _result(existing)

    def _replay_after_conflict(
        self, request: _DebitRequest | _RefundRequest, error: IntegrityError
    ) -> OperationResult | None:
        """The recorded result after losing the race for a request number; None to try again
        (the winner rolled back). Any other integrity error is a bug and is raised."""
        message = str(error.orig)
        if not any(marker in message for marker in _REQUEST_NO_CONFLICT_MARKERS):
            raise error
        with self._db.read() as session:
            return self._replayed(session.connection(), request)

    def _replayed(
        self, connection: Connection, request: _DebitRequest | _RefundRequest
    ) -> OperationResult | None:
        """The recorded answer when the request number has arrived before (``RequestNumberReused``
        when with other content); None for a first-time request."""
        existing = self._operation(connection, request.request_no)
        return self._replay(existing, request) if existing is not None else None

    # --- administration (simulator only) -------------------------------------------------------

    def upsert_person(self, person: RegistryPerson) -> Change:
        with self._db.transaction() as session:
            return upsert_person_in(session, person, self._clock.now())

    def open_account(
        self, id_number: str, *, prior_years_fen: int = 0, current_year_fen: int = 0
    ) -> Change:
        """Open an account with opening balances; an existing account is left as it is."""
        opening = OpeningBalance(prior_years_fen, current_year_fen)
        with self._db.transaction() as session:
            person = self._require_person(session, id_number)
            return ensure_accounts_in(session, [(person, opening)], self._clock.now())[0]

    def link(self, id_number: str, relative_id_number: str, relation: Relation) -> Change:
        """``relative_id_number`` is the person's ``relation``; the inverse is stored too."""
        with self._db.transaction() as session:
            person = self._require_person(session, id_number)
            relative = self._require_person(session, relative_id_number)
            return link_all_in(session, [(person, relative, relation)], self._clock.now())[0]

    def set_status(self, id_number: str, status: PersonStatus) -> None:
        with self._db.transaction() as session:
            person = self._require_person(session, id_number)
            person.status = PersonStatus(status).value
            person.updated_at = self._clock.now()

    def deposit(
        self,
        id_number: str,
        balance_kind: BalanceKind,
        amount_fen: int,
        *,
        request_no: str | None = None,
        purpose: str = "账户划入",
    ) -> AccountBalance:
        """Top up a balance (e.g. the yearly transfer into the current-year account).

        With a ``request_no`` already used for a deposit to this account, nothing moves again.
        """
        checked_amount(amount_fen)
        balance_kind = BalanceKind(balance_kind)
        deposit_no = _checked_request_no(request_no or f"DEPOSIT-{uuid.uuid4().hex}")
        with self._db.transaction() as session:
            person = self._require_person(session, id_number)
            account = account_row_of(session, person.id, for_update=True)
            if account is None:
                raise LookupError("this person has no personal account")
            already = session.scalar(
                select(func.count())
                .select_from(RegistryAccountEntryRow)
                .where(
                    RegistryAccountEntryRow.account_id == account.id,
                    RegistryAccountEntryRow.request_no == deposit_no,
                    RegistryAccountEntryRow.kind == EntryKind.DEPOSIT.value,
                )
            )
            if not already:
                record_deposit_in(
                    session,
                    account,
                    balance_kind,
                    amount_fen,
                    request_no=deposit_no,
                    purpose=_checked_purpose(purpose),
                    now=self._clock.now(),
                )
            return _balance(person.id_number, account)

    def ledger_totals(self, id_number: str) -> dict[BalanceKind, int]:
        """Sum of every entry (deposits included) per balance kind; equals the balance."""
        totals = {BalanceKind.PRIOR_YEARS: 0, BalanceKind.CURRENT_YEAR: 0}
        with self._db.read() as session:
            rows = session.execute(
                select(
                    RegistryAccountEntryRow.balance_kind,
                    func.sum(RegistryAccountEntryRow.amount_fen),
                )
                .join(
                    RegistryAccountRow, RegistryAccountRow.id == RegistryAccountEntryRow.account_id
                )
                .join(RegistryPersonRow, RegistryPersonRow.id == RegistryAccountRow.person_id)
                .where(_person_is(id_number))
                .group_by(RegistryAccountEntryRow.balance_kind)
            ).all()
        for kind, total in rows:
            totals[BalanceKind(kind)] = int(total)
        return totals

    def accounts_out_of_balance(self) -> list[str]:
        """Every account whose balances differ from the sum of its entries (masked ID numbers).
        One grouped query, so reconciling 100,000 accounts stays cheap."""
        from huiminbao.core.masking import mask_id_number

        totals = (
            select(
                RegistryAccountEntryRow.account_id.label("account_id"),
                func.sum(case((RegistryAccountEntryRow.balance_kind == "prior_years",
                               RegistryAccountEntryRow.amount_fen), else_=0)).label("prior"),
                func.sum(case((RegistryAccountEntryRow.balance_kind == "current_year",
                               RegistryAccountEntryRow.amount_fen), else_=0)).label("current"),
            )
            .group_by(RegistryAccountEntryRow.account_id)
            .subquery()
        )
        with self._db.read() as session:
            rows = session.execute(
                select(RegistryPersonRow.id_number)
                .join(RegistryAccountRow, RegistryAccountRow.person_id == RegistryPersonRow.id)
                .outerjoin(totals, totals.c.account_id == RegistryAccountRow.id)
                .where(or_(
                    RegistryAccountRow.prior_years_fen != func.coalesce(totals.c.prior, 0),
                    RegistryAccountRow.current_year_fen != func.coalesce(totals.c.current, 0),
                ))
            ).all()
        return [mask_id_number(id_number) for (id_number,) in rows]

    @staticmethod
    def _require_person(session: Session, id_number: str) -> RegistryPersonRow:
        person = find_person_row(session, idnumber.normalize(id_number))
        if person is None:
            raise LookupError("no such person in the registry")
        return person

    # --- aggregates for public statistics ------------------------------------------------------

    def scheme_counts(self, id_numbers: Sequence[str]) -> dict[Scheme, int]:
        """How many of the persons with these ID numbers are in each scheme, counted here: for
        public statistics, so no row per person leaves the registry. An ID number given more
        than once counts once; numbers the registry does not know are not counted."""
        from sqlalchemy import String, any_, bindparam
        from sqlalchemy.dialects.postgresql import ARRAY

        # Sorted: the unique index on id_number is then walked in order.
        wanted = sorted({blind_index(idnumber.normalize(n)) for n in id_numbers})
        scheme = RegistryPersonRow.scheme
        if self._db.is_postgresql:
            # One array parameter, not one bound parameter per number.
            ids = bindparam("ids", wanted, type_=ARRAY(String()))
            statements = [select(scheme, func.count()).where(
                RegistryPersonRow.id_number_index == any_(ids)).group_by(scheme)]
        else:
            statements = [select(scheme, func.count()).where(
                RegistryPersonRow.id_number_index.in_(chunk)).group_by(scheme)
                for chunk in in_chunks(wanted)]
        counts: dict[Scheme, int] = {}
        with self._db.read() as session:
            for statement in statements:
                for value, count in session.execute(statement):
                    counts[Scheme(value)] = counts.get(Scheme(value), 0) + int(count)
        return counts

    def district_counts(self, id_numbers: Sequence[str]) -> DistrictCounts:
        """Counted here like ``scheme_counts``; the persons without a district, or unknown,
        are named by the ID numbers the caller gave."""
        given = {blind_index(idnumber.normalize(n)): n for n in id_numbers}
        wanted = sorted(given)
        from sqlalchemy import String, any_, bindparam
        from sqlalchemy.dialects.postgresql import ARRAY

        index, district = RegistryPersonRow.id_number_index, RegistryPersonRow.district_code
        if self._db.is_postgresql:  # one array parameter, as in ``scheme_counts``
            statements = [select(index, district).where(
                index == any_(bindparam("ids", wanted, type_=ARRAY(String()))))]
        else:
            statements = [select(index, district).where(index.in_(chunk))
                          for chunk in in_chunks(wanted)]
        found: dict[str, str | None] = {}
        with self._db.read() as session:
            for statement in statements:
                found.update((key, code) for key, code in session.execute(statement))
        counts: dict[str, int] = {}
        for code in found.values():
            if code:
                counts[code] = counts.get(code, 0) + 1
        return DistrictCounts(counts, tuple(given[i] for i in wanted if not found.get(i)))
