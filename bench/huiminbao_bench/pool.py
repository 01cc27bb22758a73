"""Signed-in pool members for the benchmark: accounts bound to registry persons, each with a
live session and a bearer token, prepared in bulk at the service level (no SMS round trips).

What a pool member gets is what ``login_with_code`` followed by ``bind_identity`` leaves behind
for a person who signs in with the phone the registry holds for them: a ``people`` row exactly as
``identity.services.person_for`` creates it (name from the registry, birth date and sex from the
ID number), a resident account on that phone bound to it and verified by ``registry_phone``
(only a verified binding spends a personal account), the two current consents,
and an ``auth_sessions`` row whose bearer token ``TokenService`` signs. Only the audit events of
those two steps are left out: they are not on the enrollment path being measured.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import cast

from sqlalchemy import ColumnElement, Table, select
from sqlalchemy.orm import Session

from huiminbao.audit.consents import CONSENT_TEXTS
from huiminbao.audit.models import Consent
from huiminbao.catalog.models import Product
from huiminbao.core import idnumber
from huiminbao.core.container import Container
from huiminbao.core.crypto import blind_index
from huiminbao.identity.domain import SESSION_TTL, BindingVerification, Role, hash_secret
from huiminbao.identity.models import AuthSession, Person, UserAccount
from huiminbao.registry.models import RegistryAccountRow, RegistryPersonRow
from huiminbao.registry.port import Assistance, BalanceKind, PersonStatus, Scheme

CHUNK = 2_000


@dataclass(frozen=True)
class PoolMember:
    account_id: int
    person_id: int
    id_number: str
    session_id: int
    token: str


Candidate = tuple[int, str, str, str | None]  # registry row id, ID number, name, phone


def one_click_body(product: Product, tier_code: str = "standard") -> dict[str, object]:
    """What a pool member posts to ``/api/v1/enrollments``: one click for oneself, paid from the
    personal account, the terms and the debit amount confirmed (the product's tiers and terms
    loaded)."""
    tier = product.tier(tier_code)
    terms = product.current_terms
    if tier is None or terms is None:
        raise LookupError(f"product {product.id} has no tier {tier_code!r} or no terms")
    return {"product_id": product.id, "tier": tier.code, "payment_method": "personal_account",
            "confirmations": {"terms_version": terms.version, "not_basic_insurance": True,
                              "debit_amount_fen": tier.premium_fen}}


def _chunks(items: Sequence[Candidate], size: int) -> Iterator[Sequence[Candidate]]:
    for start in range(0, len(items), size):
        yield items[start:start + size]


def eligible_persons(session: Session, product: Product,
                     limit: int) -> list[Candidate]:
    """(registry row id, ID number, name) of up to ``limit`` persons who can enroll themselves in
    one click with a personal-account debit: in the product's city, employee scheme (they have
    an account), active, not in a subsidized group (their premium would be subsidized), with
    enough on the balances the product accepts, and not yet known to the product (no ``people``
    row), so a rerun on the same database picks fresh persons; and with a phone on file, which
    they sign in with (only that, a face check or the counter verifies a binding)."""
    premium = min(tier.premium_fen for tier in product.tiers)
    sources = [BalanceKind(kind) for kind in product.payable_balances.split(",")]
    balances = [RegistryAccountRow.prior_years_fen if kind is BalanceKind.PRIOR_YEARS
                else RegistryAccountRow.current_year_fen for kind in sources]
    available: ColumnElement[int] = balances[0].expression
    for balance in balances[1:]:
        available = available + balance
    rows = session.execute(
        select(RegistryPersonRow.id, RegistryPersonRow.id_number, RegistryPersonRow.name,
               RegistryPersonRow.phone)
        .join(RegistryAccountRow, RegistryAccountRow.person_id == RegistryPersonRow.id)
        .outerjoin(Person, Person.id_number_index == RegistryPersonRow.id_number_index)
        .where(RegistryPersonRow.city_code == product.city_code,
               RegistryPersonRow.scheme == Scheme.EMPLOYEE.value,
               RegistryPersonRow.status == PersonStatus.ACTIVE.value,
               RegistryPersonRow.assistance == Assistance.NONE.value,
               available >= premium,
               RegistryPersonRow.phone.is_not(None),  # they sign in with the registry's phone
               Person.id.is_(None))
        .order_by(RegistryPersonRow.id)
        .limit(limit)
    ).all()
    return [(int(row_id), id_number, name, phone) for row_id, id_number, name, phone in rows]


def sign_in_pool(c: Container, product_id: int, size: int) -> list[PoolMember]:
    """Bind and sign in up to ``size`` eligible persons; fewer if the population has fewer."""
    with c.db.read() as session:
        product = session.get(Product, product_id)
        if product is None:
            raise LookupError(f"no product {product_id}")
        _ = product.tiers  # loaded before the session closes
        # Members sign in with the registry's phone for them: persons without one, or sharing
        # one with another person or an existing account, are left out.
        eligible = eligible_persons(session, product, size + 50)
        phones = [phone for _row, _id, _name, phone in eligible if phone]
        taken = set(session.scalars(select(UserAccount.phone).where(
            UserAccount.phone_index.in_([blind_index(p) for p in phones])))) if phones else set()
    counts: dict[str, int] = {}
    for phone in phones:
        counts[phone] = counts.get(phone, 0) + 1
    candidates = [(row_id, id_number, name, phone)
                  for row_id, id_number, name, phone in eligible
                  if phone and counts[phone] == 1 and phone not in taken][:size]
    members: list[PoolMember] = []
    for chunk in _chunks(candidates, CHUNK):
        members.extend(_sign_in_chunk(c, chunk))
    return members


def _sign_in_chunk(c: Container,
                   chunk: Sequence[Candidate]) -> list[PoolMember]:
    people = cast(Table, Person.__table__)
    accounts = cast(Table, UserAccount.__table__)
    consents = cast(Table, Consent.__table__)
    sessions = cast(Table, AuthSession.__table__)
    now = c.clock.now()
    today = now.date()
    secret = c.settings.secret_key
    phone_of = {id_number: phone for _row_id, id_number, _name, phone in chunk}
    with c.db.transaction() as session:
        person_rows = []
        for _row_id, id_number, name, _phone in chunk:
            parsed = idnumber.parse(id_number, today=today)  # as person_for does
            person_rows.append({"id_number": id_number, "name": name,
                                "birth_date": parsed.birth_date, "sex": parsed.sex.value,
                                "created_at": now})
        inserted = session.execute(
            people.insert().returning(people.c.id, people.c.id_number), person_rows).all()
        person_ids = {id_number: int(person_id) for person_id, id_number in inserted}
        account_rows = [
            {"phone": phone_of[id_number], "role": Role.RESIDENT.value,
             "person_id": person_id, "bound_at": now, "elderly_mode": False,
             "binding_verified_by": BindingVerification.REGISTRY_PHONE.value,
             "binding_verified_at": now,
             "created_at": now, "last_login_at": now}
            for id_number, person_id in person_ids.items()
        ]
        account_ids = {
            int(person_id): int(account_id)
            for account_id, person_id in session.execute(
                accounts.insert().returning(accounts.c.id, accounts.c.person_id), account_rows
            ).all()
        }
        session.execute(consents.insert().returning(consents.c.id), [
            {"account_id": account_id, "kind": kind.value, "text_version": text.version,
             "granted_at": now}
            for account_id in account_ids.values()
            for kind, text in CONSENT_TEXTS.items()
        ]).all()
        session_rows = [
            {"account_id": account_id,
             "cookie_token_hash": hash_secret(secret, secrets.token_urlsafe(32)),
             "csrf_token": secrets.token_urlsafe(24), "method": "sms",
             "authenticated_at": now, "expires_at": now + SESSION_TTL}
            for account_id in account_ids.values()
        ]
        session_ids = {
            int(account_id): int(session_id)
            for session_id, account_id in session.execute(
                sessions.insert().returning(sessions.c.id, sessions.c.account_id), session_rows
            ).all()
        }
    members = []
    for id_number, person_id in person_ids.items():
        account_id = account_ids[person_id]
        session_id = session_ids[account_id]
        token, _claims = c.tokens.issue(account_id, session_id)
        members.append(PoolMember(account_id, person_id, id_number, session_id, token))
    return members
