"""The yearly limit on an agent paying from the principal's personal account.

``check_payment_allowed`` is called by enrollment (through ``c.grants``) twice: while quoting (a
plain read, so the confirm sheet already says no) and inside the transaction that creates the
order, with ``lock=True``. There it locks the grant row ``FOR UPDATE`` before summing what was
already paid under the grant; the lock is held until the new order commits, so a second payment
under the same grant waits, then sums again and sees the first order. Two simultaneous payments can
therefore never together exceed the limit. (On SQLite every writing transaction begins IMMEDIATE,
which serializes them the same way.)
"""

from __future__ import annotations

from datetime import date

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from huiminbao.core.container import Container
from huiminbao.core.errors import Forbidden, RuleViolation
from huiminbao.enrollment.domain import OrderStatus, PaymentMethod
from huiminbao.enrollment.models import Order
from huiminbao.identity.access import NOT_AUTHORIZED_TO_ACT
from huiminbao.proxy.domain import (
    GrantStatus,
    Scope,
    effective_status,
    parse_scopes,
    payment_problem,
    year_bounds,
)
from huiminbao.proxy.models import ProxyGrant

# Orders whose money is taken or about to be: a cancelled, expired or refunded order gave it back.
_COUNTED = (OrderStatus.PENDING_PAYMENT.value, OrderStatus.PAID.value, OrderStatus.ISSUED.value)


def paid_this_year(session: Session, grant_id: int, today: date) -> int:
    """Fen taken (or being taken) from the principal's personal account under this grant in the
    current calendar year, net of partial refunds."""
    start, end = year_bounds(today)
    total = session.scalar(
        select(func.coalesce(func.sum(Order.payable_fen - Order.refunded_fen), 0))
        .where(Order.acted_for_grant_id == grant_id,
               Order.payment_method == PaymentMethod.PERSONAL_ACCOUNT.value,
               Order.status.in_(_COUNTED),
               Order.created_at >= start, Order.created_at < end)
    )
    return int(total or 0)


def check_payment_allowed(c: Container, session: Session, grant_id: int | None, amount_fen: int,
                          *, lock: bool = False) -> None:
    """Refuse unless the grant is active, includes paying from the principal's account, and
    this payment fits in what is left of this year's limit. ``lock``: hold the grant row until
    the caller's transaction ends (call before adding the new order to the session)."""
    statement = select(ProxyGrant).where(ProxyGrant.id == grant_id)
    if lock:
        statement = statement.with_for_update().execution_options(populate_existing=True)
    grant = session.scalars(statement).one_or_none() if grant_id is not None else None
    now = c.clock.now()
    if grant is None or effective_status(
            GrantStatus(grant.status), pending_expires_at=grant.pending_expires_at,
            valid_until=grant.valid_until, now=now) is not GrantStatus.ACTIVE:
        raise Forbidden(NOT_AUTHORIZED_TO_ACT, code="not_authorized")
    scopes = parse_scopes(grant.scopes)
    problem = payment_problem(scopes, grant.pay_limit_fen,
                              paid_this_year(session, grant.id, c.clock.today()), amount_fen)
    if problem is None:
        return
    if Scope.PAY_FROM_PRINCIPAL_ACCOUNT not in scopes:
        raise Forbidden(problem, code="pay_not_authorized")
    raise RuleViolation(problem, code="proxy_pay_limit")
