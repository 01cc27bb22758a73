"""The gate's grant lookup and the payment check under a grant (``identity.access.GrantFinder``),
backed by ``proxy_grants``.

Asked on every request that acts for someone, inside that request's own session; nothing is
cached, so a revoked or expired grant stops the very next request.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from huiminbao.core.container import Container
from huiminbao.identity.domain import Action
from huiminbao.proxy import payments
from huiminbao.proxy.domain import GrantStatus, allows, parse_scopes
from huiminbao.proxy.models import ProxyGrant


class ProxyGrantFinder:
    def active_grant_id(self, session: Session, agent_person_id: int, principal_person_id: int,
                        action: Action, now: datetime) -> int | None:
        # Columns, not entities: the session's identity map can never hand back a stale grant.
        rows = session.execute(
            select(ProxyGrant.id, ProxyGrant.scopes)
            .where(ProxyGrant.agent_person_id == agent_person_id,
                   ProxyGrant.principal_person_id == principal_person_id,
                   ProxyGrant.status == GrantStatus.ACTIVE.value,
                   ProxyGrant.valid_until > now)
            .order_by(ProxyGrant.id)
        ).all()
        for grant_id, scopes in rows:
            if allows(parse_scopes(scopes), action):
                return int(grant_id)
        return None

    def check_payment_allowed(self, c: Container, session: Session, grant_id: int | None,
                              amount_fen: int, *, lock: bool = False) -> None:
        payments.check_payment_allowed(c, session, grant_id, amount_fen, lock=lock)
