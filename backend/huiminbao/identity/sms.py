"""Sending SMS: an interface, and the built-in sender that keeps every message in an outbox.

Texts are checked before sending: an SMS never carries an ID number (nor, by the callers'
discipline, a diagnosis).
"""

from __future__ import annotations

import re
from typing import Protocol

from sqlalchemy import insert
from sqlalchemy.orm import Session

from huiminbao.core.clock import Clock
from huiminbao.core.db import table_of
from huiminbao.identity.models import SmsMessage

SIGNATURE = "【西湖益联保】"
_ID_NUMBER = re.compile(r"\d{17}[\dXx]")


class SmsSender(Protocol):
    def send(self, session: Session, phone: str, text: str) -> None:
        """Queue one message in the caller's transaction: it goes out only if that commits."""
        ...


class UnsafeSmsText(ValueError):
    pass


def check_sms_text(text: str) -> None:
    if _ID_NUMBER.search(text):
        raise UnsafeSmsText("an SMS must not contain an ID number")


class OutboxSmsSender:
    """Stores messages in ``sms_outbox``; a delivery worker or provider adapter reads it."""

    def __init__(self, clock: Clock) -> None:
        self._clock = clock

    def send(self, session: Session, phone: str, text: str) -> None:
        body = text if text.startswith(SIGNATURE) else SIGNATURE + text
        check_sms_text(body)
        session.execute(insert(table_of(SmsMessage)).values(phone=phone, text=body,
                                                   created_at=self._clock.now()))
