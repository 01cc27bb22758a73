"""Sending SMS: the outbox every text is written to, and the provider port that delivers it.

``SmsSender.send`` writes one ``sms_outbox`` row in the caller's transaction: a text goes out only
if the event that causes it commits, and a provider outage never blocks that event. Delivery is
``identity/sms_worker.py``'s (``huiminbao worker``); one-time codes are sent at once by the
request that asks for them (``identity/services.send_code``).

Texts are made from named templates (``sms_domain.SmsTemplate``) and checked: an SMS never
carries an ID number (nor, by the callers' discipline, a diagnosis).
"""

from __future__ import annotations

import itertools
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol

from sqlalchemy import insert
from sqlalchemy.orm import Session

from huiminbao.core.clock import Clock
from huiminbao.core.db import table_of
from huiminbao.identity.models import SmsMessage
from huiminbao.identity.sms_domain import (
    SIGNATURE,
    SmsStatus,
    SmsTemplate,
    SmsText,
    UnsafeSmsText,
    check_sms_text,
)

__all__ = [
    "SIGNATURE",
    "OutboxSmsSender",
    "SimulatedSmsProvider",
    "SmsProvider",
    "SmsProviderError",
    "SmsSender",
    "UnsafeSmsText",
    "check_sms_text",
]


class SmsSender(Protocol):
    def send(self, session: Session, phone: str, template: SmsTemplate,
             params: Mapping[str, str]) -> int:
        """Queue one message in the caller's transaction (it goes out only if that commits);
        returns the outbox row's id. Raises ``UnsafeSmsText`` for an ID number, ``ValueError``
        for parameters that do not match the template."""
        ...


class OutboxSmsSender:
    """Writes ``sms_outbox`` rows, ``queued``, with the rendered text (the demo outbox and the
    console show it) and the template parameters (what a provider is sent)."""

    def __init__(self, clock: Clock) -> None:
        self._clock = clock

    def send(self, session: Session, phone: str, template: SmsTemplate,
             params: Mapping[str, str]) -> int:
        text = SmsText(template, dict(params))  # checks the parameters and the text
        body = SIGNATURE + text.render()
        check_sms_text(body)
        now = self._clock.now()
        row_id = session.execute(_QUEUE_MESSAGE, dict(
            phone=phone, text=body, created_at=now, template=template.value,
            params=dict(text.params), status=SmsStatus.QUEUED.value, attempts=0,
            next_attempt_at=now, updated_at=now)).scalar_one()
        return int(row_id)


# Built once, given its values as parameters (it runs with every enrollment's debit notice).
_QUEUE_MESSAGE = insert(table_of(SmsMessage)).returning(table_of(SmsMessage).c.id)


# ---------------------------------------------------------------- providers


class SmsProviderError(Exception):
    """The provider did not take the message. ``code`` is the provider's (or ours:
    ``network``, ``timeout``); ``outcome_unknown`` when the request may have reached it (a
    timeout after sending): a retry may then deliver the text twice."""

    def __init__(self, code: str, message: str, *, outcome_unknown: bool = False) -> None:
        super().__init__(f"{code}: {message}")
        self.code, self.message, self.outcome_unknown = code, message, outcome_unknown


class SmsProvider(Protocol):
    """A provider adapter: Tencent Cloud SMS (identity/sms_tencent.py) or the simulator."""

    name: str

    def template_id(self, template: SmsTemplate) -> str:
        """The provider's id of the template registered for this key."""
        ...

    def send(self, phone: str, template_id: str, params: Sequence[str], *,
             session_context: str = "") -> str:
        """Send one text; returns the provider's message id or raises ``SmsProviderError``.
        ``session_context`` travels with the message (the provider's status reports carry it):
        the outbox row and attempt, so a duplicate can be traced."""
        ...

    def probe(self) -> str:
        """A harmless authenticated call for ``huiminbao doctor``; a one-line Chinese summary,
        or raises ``SmsProviderError``."""
        ...


@dataclass(frozen=True)
class SimulatedDelivery:
    phone: str
    template_id: str
    params: tuple[str, ...]
    message_id: str
    session_context: str


class SimulatedSmsProvider:
    """Demo mode: every text counts as delivered at once (the demo outbox shows it)."""

    name = "simulator"

    def __init__(self) -> None:
        self.delivered: list[SimulatedDelivery] = []
        self._numbers = itertools.count(1)
        self._lock = threading.Lock()

    def template_id(self, template: SmsTemplate) -> str:
        return template.value

    def send(self, phone: str, template_id: str, params: Sequence[str], *,
             session_context: str = "") -> str:
        with self._lock:
            message_id = f"sim-{next(self._numbers)}"
            self.delivered.append(SimulatedDelivery(phone, template_id, tuple(params),
                                                    message_id, session_context))
        return message_id

    def probe(self) -> str:
        return "短信：演示模拟器（不发送真实短信）"
