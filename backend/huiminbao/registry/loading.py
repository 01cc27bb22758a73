"""Bulk loading into the built-in registry: persons, accounts with their opening balances,
relations and deposits, for the importer, the synthetic population generator and the demo data.
Every ``*_in`` function works inside a caller's session so that an import is all or nothing."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from sqlalchemy import select
from sqlalchemy.orm import Session

from huiminbao.core.masking import normalize_name
from huiminbao.registry.models import (
    EntryKind,
    RegistryAccountEntryRow,
    RegistryAccountRow,
    RegistryPersonRow,
    RegistryRelationRow,
)
from huiminbao.registry.port import (
    Assistance,
    BalanceKind,
    PersonStatus,
    RegistryPerson,
    Relation,
    Scheme,
)
from huiminbao.registry.rows import (
    checked_amount,
    checked_id_number,
    get_balance,
    in_chunks,
    person_rows_by_id_number,
    set_balance,
)


class Change(StrEnum):
    """What an idempotent administration step did."""

    CREATED = "created"
    UPDATED = "updated"
    UNCHANGED = "unchanged"


def _person_values(person: RegistryPerson) -> dict[str, str | bool | None]:
    return {
        "name": normalize_name(person.name),
        "phone": person.phone or None,
        "city_code": person.city_code,
        "scheme": Scheme(person.scheme).value,
        "status": PersonStatus(person.status).value,
        "assistance": Assistance(person.assistance).value,
        "district_code": person.district_code,
        "other_relief_insurance": bool(person.other_relief_insurance),
    }


def upsert_persons_in(
    session: Session,
    persons: Sequence[RegistryPerson],
    now: datetime,
    *,
    update_existing: bool = True,
) -> tuple[dict[str, RegistryPersonRow], list[Change]]:
    """Create each person or bring their row in line (keyed by ID number); with
    ``update_existing=False`` an existing row is left as it is.

    Returns the rows by ID number and, per input, what happened to it. A later duplicate of an
    earlier input in the same call is applied on top of it.
    """
    id_numbers = [checked_id_number(person.id_number) for person in persons]
    rows = person_rows_by_id_number(session, id_numbers)
    changes: list[Change] = []
    for id_number, person in zip(id_numbers, persons, strict=True):
        values = _person_values(person)
        row = rows.get(id_number)
        if row is None:
            row = RegistryPersonRow(id_number=id_number, created_at=now, updated_at=now, **values)
            session.add(row)
            rows[id_number] = row
            changes.append(Change.CREATED)
        elif not update_existing or all(
            getattr(row, column) == value for column, value in values.items()
        ):
            changes.append(Change.UNCHANGED)
        else:
            for column, value in values.items():
                setattr(row, column, value)
            row.updated_at = now
            changes.append(Change.UPDATED)
    session.flush()
    return rows, changes


def upsert_person_in(session: Session, person: RegistryPerson, now: datetime) -> Change:
    _rows, changes = upsert_persons_in(session, [person], now)
    return changes[0]


def record_deposit_in(
    session: Session,
    account: RegistryAccountRow,
    balance_kind: BalanceKind,
    amount_fen: int,
    *,
    request_no: str,
    purpose: str,
    now: datetime,
) -> None:
    """Add money to a balance with its ledger entry; the caller holds the account row (locked)."""
    checked_amount(amount_fen)
    new_balance = get_balance(account, balance_kind) + amount_fen
    set_balance(account, balance_kind, new_balance)
    account.updated_at = now
    session.add(
        RegistryAccountEntryRow(
            account_id=account.id,
            request_no=request_no,
            kind=EntryKind.DEPOSIT.value,
            balance_kind=balance_kind.value,
            amount_fen=amount_fen,
            balance_after_fen=new_balance,
            purpose=purpose,
            occurred_at=now,
        )
    )


@dataclass(frozen=True)
class OpeningBalance:
    """Balances an account starts with when it is opened (fen)."""

    prior_years_fen: int = 0
    current_year_fen: int = 0

    def __post_init__(self) -> None:
        if self.prior_years_fen < 0 or self.current_year_fen < 0:
            raise ValueError("opening balances must not be negative")


OPENING_PURPOSE = "开户余额"


def opening_request_no(account_id: int) -> str:
    # Keyed by the account, not the ID number, so ledgers never carry a full ID number.
    return f"OPENING-{account_id}"


def ensure_accounts_in(
    session: Session,
    openings: Sequence[tuple[RegistryPersonRow, OpeningBalance]],
    now: datetime,
) -> list[Change]:
    """Open each person's account with its opening balances (recorded as deposit entries), or
    leave an existing account alone: its balances may have moved since it was opened."""
    person_ids = [person.id for person, _opening in openings]
    existing: set[int] = set()
    for chunk in in_chunks(person_ids):
        existing.update(
            session.scalars(
                select(RegistryAccountRow.person_id).where(RegistryAccountRow.person_id.in_(chunk))
            )
        )
    changes: list[Change] = []
    opened: list[tuple[RegistryAccountRow, OpeningBalance]] = []
    for person, opening in openings:
        if person.id in existing:
            changes.append(Change.UNCHANGED)
            continue
        account = RegistryAccountRow(
            person_id=person.id,
            prior_years_fen=0,
            current_year_fen=0,
            created_at=now,
            updated_at=now,
        )
        session.add(account)
        existing.add(person.id)
        opened.append((account, opening))
        changes.append(Change.CREATED)
    session.flush()  # account ids for the entries
    for account, opening in opened:
        for kind, amount in (
            (BalanceKind.PRIOR_YEARS, opening.prior_years_fen),
            (BalanceKind.CURRENT_YEAR, opening.current_year_fen),
        ):
            if amount:
                record_deposit_in(
                    session,
                    account,
                    kind,
                    amount,
                    request_no=opening_request_no(account.id),
                    purpose=OPENING_PURPOSE,
                    now=now,
                )
    session.flush()
    return changes


def link_all_in(
    session: Session,
    links: Sequence[tuple[RegistryPersonRow, RegistryPersonRow, Relation]],
    now: datetime,
    *,
    update_existing: bool = True,
) -> list[Change]:
    """For each ``(person, relative, relation)``: the relative is the person's ``relation``.
    Both directions are stored; an existing pair with another relation is corrected unless
    ``update_existing`` is False."""
    for person, relative, _relation in links:
        if person.id == relative.id:
            raise ValueError("a person cannot be their own relative")
    person_ids = list({row.id for link in links for row in link[:2]})
    existing: dict[tuple[int, int], RegistryRelationRow] = {}
    for chunk in in_chunks(person_ids):
        for row in session.scalars(
            select(RegistryRelationRow).where(RegistryRelationRow.person_id.in_(chunk))
        ):
            existing[(row.person_id, row.relative_id)] = row

    def link_one_way(person_id: int, relative_id: int, relation: Relation) -> Change:
        row = existing.get((person_id, relative_id))
        if row is None:
            row = RegistryRelationRow(
                person_id=person_id,
                relative_id=relative_id,
                relation=relation.value,
                created_at=now,
            )
            session.add(row)
            existing[(person_id, relative_id)] = row
            return Change.CREATED
        if row.relation == relation.value or not update_existing:
            return Change.UNCHANGED
        row.relation = relation.value
        return Change.UPDATED

    changes: list[Change] = []
    for person, relative, relation in links:
        relation = Relation(relation)
        both = (
            link_one_way(person.id, relative.id, relation),
            link_one_way(relative.id, person.id, relation.inverse),
        )
        if Change.CREATED in both:
            changes.append(Change.CREATED)
        elif Change.UPDATED in both:
            changes.append(Change.UPDATED)
        else:
            changes.append(Change.UNCHANGED)
    session.flush()
    return changes

