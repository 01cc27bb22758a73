"""Synthetic registry populations for load tests and demos of scale.

``synthetic_persons`` is pure and deterministic for a seed; ``generate_population`` writes its
output with bulk inserts (executemany in chunks), skipping ID numbers that already exist, so that
100,000 persons take seconds rather than minutes.
"""

from __future__ import annotations

import random
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import cast

from sqlalchemy import Table, select

from huiminbao.core import idnumber
from huiminbao.core.clock import Clock
from huiminbao.core.crypto import blind_index
from huiminbao.core.db import Database
from huiminbao.registry.loading import OPENING_PURPOSE, opening_request_no
from huiminbao.registry.models import (
    EntryKind,
    RegistryAccountEntryRow,
    RegistryAccountRow,
    RegistryPersonRow,
)
from huiminbao.registry.port import Assistance, BalanceKind, PersonStatus, RegistryPerson, Scheme

INSERT_CHUNK = 2_000

_SURNAMES = (
    "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜"
    "叶程苏魏吕丁任沈姚卢姜崔钟谭陆汪范金石廖贾夏韦付方白邹孟熊秦邱江尹薛闫段雷侯龙史陶"
)
_GIVEN_NAME_CHARS = (
    "伟芳娜秀英敏静丽强磊军洋勇艳杰娟涛明超兰霞平刚桂华玉萍红玲芬燕彬斌宇浩凯健俊帆帅旭"
    "宁龙林欣怡佳琪子涵梓萱一诺晨轩博文思远雨桐嘉"
)
_FIRST_BIRTH = date(1935, 1, 1)
_LAST_BIRTH = date(2020, 12, 31)  # in the past whatever today is: generation needs no clock
# Minors are always in the residents scheme; only those born before this may be employees.
_ADULT_IF_BORN_BEFORE = date(2003, 1, 1)


@dataclass(frozen=True)
class SyntheticPerson:
    person: RegistryPerson
    # Opening balances in fen; None without an account (residents scheme).
    prior_years_fen: int | None
    current_year_fen: int | None

    @property
    def id_number(self) -> str:
        return self.person.id_number


def _district_codes(city_code: str) -> list[str]:
    """County-level area codes of the city: 6-digit codes sharing its first four digits."""
    if not (len(city_code) == 6 and city_code.isdigit()):
        raise ValueError("city_code must be 6 digits")
    return [f"{city_code[:4]}{district:02d}" for district in range(1, 19)]


def synthetic_persons(
    count: int, seed: int = 0, city_code: str = "330100"
) -> Iterator[SyntheticPerson]:
    """``count`` persons with unique, valid ID numbers; the same seed gives the same persons.

    About 70 % of adults are in the employee scheme with an account, 60 % have a phone, 2 % are
    suspended and 3 % receive assistance.
    """
    if count < 0:
        raise ValueError("count must not be negative")
    rng = random.Random(seed)  # noqa: S311 - synthetic data, not security
    districts = _district_codes(city_code)
    span_days = (_LAST_BIRTH - _FIRST_BIRTH).days
    seen: set[str] = set()
    while len(seen) < count:
        birth = _FIRST_BIRTH + timedelta(days=rng.randrange(span_days + 1))
        id_number = idnumber.make(rng.choice(districts), birth, rng.randrange(1000))
        if id_number in seen:
            continue
        seen.add(id_number)
        adult = birth < _ADULT_IF_BORN_BEFORE
        employee = adult and rng.random() < 0.7
        name = rng.choice(_SURNAMES) + "".join(
            rng.choice(_GIVEN_NAME_CHARS) for _ in range(rng.choice((1, 2, 2)))
        )
        phone = (
            f"1{rng.choice('3456789')}{rng.randrange(10**9):09d}" if rng.random() < 0.6 else None
        )
        assistance = (
            rng.choice([Assistance.TEKUN, Assistance.DIBAO, Assistance.DIBIAN, Assistance.DISABLED])
            if rng.random() < 0.03
            else Assistance.NONE
        )
        status = PersonStatus.SUSPENDED if rng.random() < 0.02 else PersonStatus.ACTIVE
        yield SyntheticPerson(
            person=RegistryPerson(
                id_number=id_number,
                name=name,
                phone=phone,
                city_code=city_code,
                scheme=Scheme.EMPLOYEE if employee else Scheme.RESIDENT,
                status=status,
                assistance=assistance,
            ),
            prior_years_fen=rng.randrange(0, 2_000_001) if employee else None,
            current_year_fen=rng.randrange(0, 300_001) if employee else None,
        )


def generate_population(
    db: Database, clock: Clock, count: int, *, city_code: str = "330100", seed: int = 0
) -> list[str]:
    """Insert ``synthetic_persons(count, seed, city_code)``; returns all their ID numbers.

    Persons whose ID number already exists are skipped (with their accounts), so running again
    with the same seed adds nothing. Opening balances are recorded as deposit entries, as
    everywhere else in the simulator. Each chunk is its own transaction.
    """
    now = clock.now()
    id_numbers: list[str] = []
    batch: list[SyntheticPerson] = []
    for synthetic in synthetic_persons(count, seed, city_code):
        id_numbers.append(synthetic.id_number)
        batch.append(synthetic)
        if len(batch) == INSERT_CHUNK:
            _insert_chunk(db, batch, now)
            batch = []
    if batch:
        _insert_chunk(db, batch, now)
    return id_numbers


def _insert_chunk(db: Database, batch: Sequence[SyntheticPerson], now: datetime) -> None:
    # INSERT ... RETURNING with executemany is what SQLAlchemy turns into multi-row INSERTs
    # ("insertmanyvalues"); without RETURNING the driver sends one INSERT per row. The natural
    # keys come back with the surrogate keys, so the order of the returned rows does not matter.
    persons = cast(Table, RegistryPersonRow.__table__)
    accounts = cast(Table, RegistryAccountRow.__table__)
    entries = cast(Table, RegistryAccountEntryRow.__table__)
    with db.transaction() as session:
        existing = set(
            session.scalars(
                select(RegistryPersonRow.id_number).where(
                    RegistryPersonRow.id_number_index.in_(
                        [blind_index(s.id_number) for s in batch])
                )
            )
        )
        fresh = [s for s in batch if s.id_number not in existing]
        if not fresh:
            return
        by_id_number = {s.id_number: s for s in fresh}
        inserted_persons = session.execute(
            persons.insert().returning(persons.c.id, persons.c.id_number),
            [
                {
                    "id_number": s.person.id_number,
                    "name": s.person.name,
                    "phone": s.person.phone,
                    "city_code": s.person.city_code,
                    "scheme": s.person.scheme.value,
                    "status": s.person.status.value,
                    "assistance": s.person.assistance.value,
                    "created_at": now,
                    "updated_at": now,
                }
                for s in fresh
            ],
        ).all()
        employees = {
            person_id: by_id_number[id_number]
            for person_id, id_number in inserted_persons
            if by_id_number[id_number].prior_years_fen is not None
        }
        if not employees:
            return
        inserted_accounts = session.execute(
            accounts.insert().returning(accounts.c.id, accounts.c.person_id),
            [
                {
                    "person_id": person_id,
                    "prior_years_fen": s.prior_years_fen or 0,
                    "current_year_fen": s.current_year_fen or 0,
                    "created_at": now,
                    "updated_at": now,
                }
                for person_id, s in employees.items()
            ],
        ).all()
        opening_entries = [
            {
                "account_id": account_id,
                "request_no": opening_request_no(account_id),
                "kind": EntryKind.DEPOSIT.value,
                "balance_kind": kind.value,
                "amount_fen": amount,
                "balance_after_fen": amount,
                "purpose": OPENING_PURPOSE,
                "occurred_at": now,
            }
            for account_id, person_id in inserted_accounts
            for kind, amount in (
                (BalanceKind.PRIOR_YEARS, employees[person_id].prior_years_fen or 0),
                (BalanceKind.CURRENT_YEAR, employees[person_id].current_year_fen or 0),
            )
            if amount
        ]
        if opening_entries:
            session.execute(entries.insert().returning(entries.c.id), opening_entries).all()
