"""Who receives a claim's money, and the bank-card verification port.

Rules (pure, ``payee_problem``):

- ``self``: the insured person's own bank card (the default);
- ``guardian``: for an insured person under 18, a parent the registry records as such;
- ``heir``: for a deceased insured, an heir named with the documents that prove it (death
  certificate, proof of kinship or inheritance), checked by the reviewer;
- an agent acting under a proxy grant never receives the money: the payee's ID number may not
  be the agent's (a parent filing for their minor child as guardian is not "an agent" here:
  the law makes them the guardian).

The card must be the payee's: ``BankCardVerifier.verify`` asks the bank side (银行卡三要素核验:
card number, holder name, ID number) and answers matched, mismatched or invalid. A real adapter
(a bank's or UnionPay's verification API) implements ``BankCardVerifier`` and is wired in
``wiring.build_bank_cards`` under ``BANK_CARD_CHECK_PROVIDER``. ``SimulatedBankCards`` (demo mode
and tests; production refuses it) keeps its book in ``sim_bank_cards``: a Luhn-valid card is
registered to the first ID number it is checked for, and later checks for anyone else answer
mismatched; cards in ``SIMULATED_OTHERS_CARDS`` always belong to somebody else.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import date
from enum import StrEnum
from typing import Protocol

from sqlalchemy.exc import IntegrityError

from huiminbao.core.clock import Clock
from huiminbao.core.crypto import blind_index
from huiminbao.core.db import Database


class PayeeKind(StrEnum):
    SELF = "self"
    GUARDIAN = "guardian"
    HEIR = "heir"

    @property
    def label(self) -> str:
        return {PayeeKind.SELF: "被保险人本人", PayeeKind.GUARDIAN: "监护人",
                PayeeKind.HEIR: "法定继承人"}[self]


HEIR_DOCUMENTS = ("被保险人死亡证明", "继承权公证书或亲属关系证明", "继承人身份证件")
ADULT_AGE = 18


def payee_problem(kind: PayeeKind, *, insured_age: int, payee_is_insured: bool,
                  payee_is_parent: bool, payee_is_agent: bool) -> tuple[str, str] | None:
    """(field, Chinese reason) why this payee cannot receive the claim's money, or None."""
    if kind is PayeeKind.SELF:
        if not payee_is_insured:
            return "payee.kind", "收款人为本人时，须为被保险人本人的银行卡"
        return None
    if payee_is_insured:
        return "payee.id_number", "监护人或继承人不能是被保险人本人"
    if payee_is_agent and kind is not PayeeKind.GUARDIAN:
        return "payee.id_number", "代办人不能作为收款人，理赔款只能支付给被保险人或其监护人、继承人"
    if kind is PayeeKind.GUARDIAN:
        if insured_age >= ADULT_AGE:
            return "payee.kind", "被保险人已成年，理赔款应支付给本人"
        if not payee_is_parent:
            return "payee.id_number", "医保登记信息中该人不是被保险人的父母，不能作为监护人收款"
    return None


# ---------------------------------------------------------------- bank cards


def normalize_card(raw: str) -> str:
    return "".join(raw.split())


def luhn_ok(card_no: str) -> bool:
    if not card_no.isdigit() or not 12 <= len(card_no) <= 19:
        return False
    total = 0
    for index, digit in enumerate(reversed(card_no)):
        value = int(digit) * (2 if index % 2 else 1)
        total += value - 9 if value > 9 else value
    return total % 10 == 0


def with_check_digit(body: str) -> str:
    """``body`` with the Luhn check digit appended (tests and demo data make cards with it)."""
    return next(body + str(d) for d in range(10) if luhn_ok(body + str(d)))


_BANKS = {"622202": "中国工商银行", "622848": "中国农业银行", "621700": "中国建设银行",
          "621661": "中国银行", "622262": "交通银行", "621483": "招商银行"}


def bank_of(card_no: str) -> str:
    return _BANKS.get(card_no[:6], "银联借记卡")


class CardOutcome(StrEnum):
    MATCHED = "matched"
    MISMATCHED = "mismatched"  # the card is not this person's
    INVALID = "invalid"  # no such card


@dataclass(frozen=True)
class CardCheck:
    outcome: CardOutcome
    bank_name: str
    reference: str


class BankServiceUnavailable(Exception):
    """The verification service did not answer."""


class BankCardVerifier(Protocol):
    """银行卡三要素核验: is this card this person's? Raises ``BankServiceUnavailable``."""

    def verify(self, card_no: str, holder_name: str, holder_id_number: str) -> CardCheck: ...


# A documented card that always belongs to someone else (to see the mismatch in a demo).
SIMULATED_OTHERS_CARDS = frozenset({with_check_digit("622202000000000000")})


class SimulatedBankCards:
    def __init__(self, db: Database, clock: Clock) -> None:
        self.db, self.clock = db, clock

    def verify(self, card_no: str, holder_name: str, holder_id_number: str) -> CardCheck:
        from huiminbao.claims.models import SimulatedBankCard

        reference = f"SIMCARD{secrets.token_hex(6).upper()}"
        if not luhn_ok(card_no):
            return CardCheck(CardOutcome.INVALID, "", reference)
        bank = bank_of(card_no)
        if card_no in SIMULATED_OTHERS_CARDS or not holder_name.strip():
            return CardCheck(CardOutcome.MISMATCHED, bank, reference)
        card_hash, holder_hash = blind_index(f"card:{card_no}"), blind_index(holder_id_number)
        try:
            with self.db.transaction() as session:
                found = session.get(SimulatedBankCard, card_hash)
                if found is None:
                    session.add(SimulatedBankCard(card_hash=card_hash, holder_hash=holder_hash,
                                                  registered_at=self.clock.now()))
                    return CardCheck(CardOutcome.MATCHED, bank, reference)
                holder = found.holder_hash
        except IntegrityError:  # registered at the same moment by another check
            return self.verify(card_no, holder_name, holder_id_number)
        outcome = CardOutcome.MATCHED if holder == holder_hash else CardOutcome.MISMATCHED
        return CardCheck(outcome, bank, reference)


def mask_card(card_no: str) -> str:
    return f"{card_no[:4]} **** **** {card_no[-4:]}"


def is_minor(birth_date: date, today: date) -> bool:
    from huiminbao.core.idnumber import age_on

    return age_on(birth_date, today) < ADULT_AGE
