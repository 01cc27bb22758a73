"""The registry's rows: argument checks, lookups by ID number (in chunks) and balance accessors,
shared by the simulator's port and its bulk loading."""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Sequence
from typing import TypeVar

from sqlalchemy import select
from sqlalchemy.orm import Session

from huiminbao.core import idnumber
from huiminbao.core.crypto import blind_index
from huiminbao.registry.models import (
    RegistryAccountRow,
    RegistryPersonRow,
)
from huiminbao.registry.port import (
    BalanceKind,
)

_ID_NUMBER_SHAPE = re.compile(r"[0-9]{17}[0-9X]")
# Chunk size for IN (...) lookups: well under SQLite's and PostgreSQL's parameter limits.
LOOKUP_CHUNK = 500
_T = TypeVar("_T")


def checked_id_number(raw: str) -> str:
    value = idnumber.normalize(raw)
    if not _ID_NUMBER_SHAPE.fullmatch(value):
        raise ValueError("id_number must be 17 digits followed by a digit or X")
    return value


def checked_amount(amount_fen: int) -> int:
    # bool is an int subclass; True fen is a programming error, not one fen.
    if isinstance(amount_fen, bool) or not isinstance(amount_fen, int) or amount_fen <= 0:
        raise ValueError("amount_fen must be a positive integer number of fen")
    return amount_fen


def get_balance(account: RegistryAccountRow, kind: BalanceKind) -> int:
    return account.prior_years_fen if kind is BalanceKind.PRIOR_YEARS else account.current_year_fen


def set_balance(account: RegistryAccountRow, kind: BalanceKind, value: int) -> None:
    if kind is BalanceKind.PRIOR_YEARS:
        account.prior_years_fen = value
    else:
        account.current_year_fen = value


def find_person_row(session: Session, id_number: str) -> RegistryPersonRow | None:
    return session.scalars(
        select(RegistryPersonRow).where(RegistryPersonRow.id_number_index == blind_index(id_number))
    ).one_or_none()


def in_chunks(values: Sequence[_T], size: int = LOOKUP_CHUNK) -> Iterator[Sequence[_T]]:
    for start in range(0, len(values), size):
        yield values[start : start + size]


def person_rows_by_id_number(
    session: Session, id_numbers: Iterable[str]
) -> dict[str, RegistryPersonRow]:
    found: dict[str, RegistryPersonRow] = {}
    for chunk in in_chunks(list(dict.fromkeys(id_numbers))):
        rows = session.scalars(
            select(RegistryPersonRow).where(
                RegistryPersonRow.id_number_index.in_([blind_index(n) for n in chunk]))
        )
        found.update((row.id_number, row) for row in rows)
    return found


def account_row_of(
    session: Session, person_id: int, *, for_update: bool = False
) -> RegistryAccountRow | None:
    statement = select(RegistryAccountRow).where(RegistryAccountRow.person_id == person_id)
    if for_update:
        # populate_existing: a row already in this session must show the locked, current values.
        statement = statement.with_for_update().execution_options(populate_existing=True)
    return session.scalars(statement).one_or_none()

