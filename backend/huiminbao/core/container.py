"""The wired adapters of one application instance (cosmicpython's bootstrap).

``create_app`` builds one ``Container``; tests build theirs with fakes instead. Routes fetch it with
``container()`` and hand it to services; nothing else reaches for globals.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, cast

from flask import current_app

from huiminbao.core.clock import Clock
from huiminbao.core.config import Settings
from huiminbao.core.db import Database

if TYPE_CHECKING:
    from huiminbao.catalog.cache import PublishedProducts
    from huiminbao.claims.payees import BankCardVerifier
    from huiminbao.claims.payouts import PayoutPort
    from huiminbao.claims.storage import DocumentStore
    from huiminbao.identity.access import GrantFinder
    from huiminbao.identity.sms import SmsProvider, SmsSender
    from huiminbao.identity.tokens import TokenService
    from huiminbao.identity.verification import IdentityVerifier
    from huiminbao.payments.gateway.port import PaymentGateway
    from huiminbao.registry.port import RegistryPort


@dataclass
class Container:
    settings: Settings
    db: Database
    clock: Clock
    registry: RegistryPort
    sms: SmsSender
    tokens: TokenService
    grants: GrantFinder
    gateway: PaymentGateway
    documents: DocumentStore  # claim documents (a local directory by default)
    products: PublishedProducts  # published products, kept briefly in memory
    # The SMS provider (identity/sms_tencent.py) when one is configured: one-time codes are then
    # sent by the request itself. None (demo): texts stay in the outbox for /api/v1/dev/sms.
    sms_provider: SmsProvider | None = None
    # Face / eID verification of a binding (identity/verification.py): the simulator in demo
    # mode; None where none is offered.
    identity_checks: IdentityVerifier | None = None
    # Bank-card verification of a claim's payee and the payout service paying approved claims
    # (claims/payees.py, claims/payouts.py): simulators in demo mode; None where none is wired.
    bank_cards: BankCardVerifier | None = None
    payouts: PayoutPort | None = None


def container() -> Container:
    return cast(Container, current_app.extensions["huiminbao"])
