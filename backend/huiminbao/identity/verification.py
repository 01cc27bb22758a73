"""The identity-verification port: a face or eID check that proves the person at the phone is the
person whose name and ID number were typed (DESIGN §2.11).

Real services work in two steps, and so does the port:

1. ``start(id_number, name)``: the server asks the service for a check of this person and gets a
   ticket (WeChat 人脸核身: the ``BizToken`` of ``DetectAuth``; 公安 eID / CTID: the
   ``certToken`` of the "实人认证" order). The client hands the ticket to the service's own page
   or SDK, where the person shows their face (or their eID-enabled card), never to us.
2. ``result(ticket)``: the server asks the service how the check ended. Only a PASSED result
   naming the same ID number binds; the service, not the client, says whose face it saw.

An adapter for WeChat 人脸核身 (``faceid.tencentcloudapi.com`` ``DetectAuth`` /
``GetDetectInfoEnhanced``) or for the 公安一所 eID service implements ``IdentityVerifier`` and is
wired in ``wiring.build_identity_checks`` under ``IDENTITY_CHECK_PROVIDER``. None ships yet: in
production the check is then simply not offered (the registry's phone and the counter remain),
and the simulator below is refused.

``SimulatedIdentityVerifier`` (demo mode and tests only) is deterministic: a ticket is the ID
number, the name and the time it was issued, encrypted and authenticated (Fernet, so the
client never holds the ID number in clear), and ``result`` answers

- PASSED for a genuine ticket younger than ``TICKET_TTL`` whose person the registry knows under
  that very name (the simulator "sees" the registered person's face);
- FAILED for a genuine ticket whose person the registry does not know under that name, and for
  any ticket whose ID number is in ``SIMULATED_FAILURES`` (a person whose face never matches);
- EXPIRED for a genuine ticket older than ``TICKET_TTL``; INVALID for anything else.
"""

from __future__ import annotations

import base64
import hashlib
import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Protocol

from cryptography.fernet import Fernet, InvalidToken

from huiminbao.core.clock import Clock
from huiminbao.core.masking import normalize_name
from huiminbao.registry.port import RegistryPort

TICKET_TTL = timedelta(minutes=10)
# Demo people whose simulated face check always fails (a documented way to see the failure).
SIMULATED_FAILURES = frozenset({"330104197411270865"})  # 赵敏


class CheckOutcome(StrEnum):
    PASSED = "passed"
    FAILED = "failed"  # the face (or eID) was not this person's
    EXPIRED = "expired"  # the ticket is too old: start again
    INVALID = "invalid"  # not a ticket of this service


@dataclass(frozen=True)
class CheckStart:
    ticket: str
    # Where the client goes to take the check (the service's page or SDK parameter); None for
    # the simulator, whose demo page confirms in place.
    url: str | None
    expires_at: datetime


@dataclass(frozen=True)
class CheckResult:
    outcome: CheckOutcome
    id_number: str | None = None  # whose identity the service confirmed (PASSED only)

    @property
    def passed(self) -> bool:
        return self.outcome is CheckOutcome.PASSED and self.id_number is not None


class IdentityVerifier(Protocol):
    """A face / eID verification service."""

    name: str  # shown in the audit log ("simulator", "wechat_face", "eid")

    def start(self, id_number: str, name: str) -> CheckStart: ...

    def result(self, ticket: str) -> CheckResult: ...


class SimulatedIdentityVerifier:
    """Demo mode only (``wiring.build_identity_checks`` refuses it in production)."""

    name = "simulator"

    def __init__(self, secret_key: str, clock: Clock, registry: RegistryPort) -> None:
        key = hashlib.sha256(b"identity-check-simulator:" + secret_key.encode()).digest()
        self._fernet = Fernet(base64.urlsafe_b64encode(key))
        self._clock = clock
        self._registry = registry

    def start(self, id_number: str, name: str) -> CheckStart:
        issued = self._clock.now()
        payload = json.dumps({"id": id_number, "name": normalize_name(name),
                              "at": int(issued.timestamp())}, separators=(",", ":")).encode()
        ticket = self._fernet.encrypt_at_time(payload, int(issued.timestamp())).decode()
        return CheckStart(ticket=ticket, url=None, expires_at=issued + TICKET_TTL)

    def result(self, ticket: str) -> CheckResult:
        try:
            data = json.loads(self._fernet.decrypt(ticket.encode()[:2048]))
        except (InvalidToken, ValueError, UnicodeError):
            return CheckResult(CheckOutcome.INVALID)
        if not isinstance(data, dict) or not all(k in data for k in ("id", "name", "at")):
            return CheckResult(CheckOutcome.INVALID)
        issued = datetime.fromtimestamp(int(data["at"]), tz=UTC)
        if self._clock.now() - issued > TICKET_TTL:
            return CheckResult(CheckOutcome.EXPIRED)
        id_number = str(data["id"])
        registered = self._registry.find_person(id_number)
        if (id_number in SIMULATED_FAILURES or registered is None
                or normalize_name(registered.name) != data["name"]):
            return CheckResult(CheckOutcome.FAILED)
        return CheckResult(CheckOutcome.PASSED, id_number)
