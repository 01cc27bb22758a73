"""Paying approved claims: the payout port, its simulator, and the payout run.

A payout run takes every approved claim with a verified payee that is not yet paid and pays it
through the payout port (a bank's or a payment institution's 代付 / transfer API). Each claim's
payment is a ``ClaimPayout`` row with a status (``PAYOUT_TRANSITIONS``)::

    (none) → sending → paid
                     → failed → sending (the next run retries, with a new request number,
                                         at most MAX_ATTEMPTS attempts; a new card from the
                                         claimant allows MAX_ATTEMPTS more)

The request number is the key: the payout service pays one request number at most once (its
``transfer`` is idempotent per request number, like every real 代付 API) and answers ``query``
for it. Never paid twice:

1. the row goes to ``sending`` with its request number and is committed *before* the call;
2. the call is made outside any transaction;
3. its answer is recorded: paid (the claim moves to paid, the ledger books the payout once under
   the claim's unique reference), failed (a definite refusal: the next run may retry under a new
   number), or nothing (the call died half-way, a timeout): the row stays ``sending``.

A row left ``sending`` (a call that died, a run that crashed) is not sent again by a concurrent
run while its lease (``LEASE``) runs; after it, the next run first *queries* the request number:
paid or failed there is recorded as such, and only a request the service has never seen is sent
again - under the same number, so even a late arrival of the first call cannot pay twice.
Two runs at once never pick the same claim: the claims are locked ``FOR UPDATE SKIP LOCKED`` and
a claim with a fresh ``sending`` row is left alone.

A real adapter implements ``PayoutPort`` and is wired in ``wiring.build_payouts`` under
``CLAIM_PAYOUT_PROVIDER``; ``SimulatedPayouts`` (demo mode and tests; production refuses it)
keeps its transfers in ``sim_payout_transfers``.
"""

from __future__ import annotations

import logging
import secrets
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Protocol

from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from huiminbao.audit import services as audit
from huiminbao.audit.services import AuditEntry
from huiminbao.claims import filing, services
from huiminbao.claims.domain import OPEN_STATUSES, ClaimStatus
from huiminbao.claims.filing import PayeeInput
from huiminbao.claims.models import Claim, ClaimPayee, ClaimPayout, SimulatedTransfer
from huiminbao.claims.payees import mask_card, with_check_digit
from huiminbao.core.clock import Clock
from huiminbao.core.container import Container
from huiminbao.core.crypto import blind_index
from huiminbao.core.db import Database
from huiminbao.core.errors import NotFound, RuleViolation
from huiminbao.core.money import format_fen
from huiminbao.core.states import StateMachine
from huiminbao.identity.access import require_access
from huiminbao.identity.auth import Actor
from huiminbao.identity.domain import Action, Basis
from huiminbao.identity.models import Person

log = logging.getLogger(__name__)

MAX_ATTEMPTS = 3
LEASE = timedelta(minutes=5)
BATCH = 200


class PayoutStatus(StrEnum):
    SENDING = "sending"
    PAID = "paid"
    FAILED = "failed"

    @property
    def label(self) -> str:
        return {PayoutStatus.SENDING: "支付处理中", PayoutStatus.PAID: "已支付",
                PayoutStatus.FAILED: "支付失败，将重新支付"}[self]


PAYOUT_TRANSITIONS = StateMachine({
    PayoutStatus.SENDING: frozenset({PayoutStatus.PAID, PayoutStatus.FAILED}),
    PayoutStatus.FAILED: frozenset({PayoutStatus.SENDING}),
    PayoutStatus.PAID: frozenset(),
})


def payout_label(status: PayoutStatus, attempts: int, max_attempts: int = MAX_ATTEMPTS) -> str:
    if status is PayoutStatus.FAILED and attempts >= max_attempts:
        return "支付失败，请联系客服核对收款账户"
    return status.label


# ---------------------------------------------------------------- the port


class TransferStatus(StrEnum):
    SUCCEEDED = "succeeded"
    FAILED = "failed"  # a definite refusal (closed or frozen account, ...)
    PROCESSING = "processing"  # accepted, not finished: ask again later


@dataclass(frozen=True)
class TransferResult:
    request_no: str
    status: TransferStatus
    reference: str = ""
    reason: str | None = None


class PayoutUnavailable(Exception):
    """The call's outcome is unknown (no answer, a timeout, a broken connection)."""


class PayoutPort(Protocol):
    """A 代付 API. ``transfer`` pays a request number at most once: a repeat answers with the
    first result. ``query`` answers for a request number, or None if it never arrived. Both
    raise ``PayoutUnavailable`` when the outcome is unknown."""

    def transfer(self, request_no: str, card_no: str, holder_name: str, amount_fen: int,
                 purpose: str) -> TransferResult: ...

    def query(self, request_no: str) -> TransferResult | None: ...


# Cards the simulator refuses (a documented way to see a failed payout and its retry).
SIMULATED_REFUSED_CARDS = frozenset({with_check_digit("621700000000000000")})


@dataclass
class SimulatedPayouts:
    """The payout simulator. ``die_after_send`` (tests): the next transfers are recorded and
    then the call dies, as a connection lost after the bank got the request."""

    db: Database
    clock: Clock
    die_after_send: int = 0
    calls: list[str] = field(default_factory=list)

    def transfer(self, request_no: str, card_no: str, holder_name: str, amount_fen: int,
                 purpose: str) -> TransferResult:
        self.calls.append(f"transfer:{request_no}")
        refused = card_no in SIMULATED_REFUSED_CARDS
        row = SimulatedTransfer(
            request_no=request_no, card_hash=blind_index(f"card:{card_no}"),
            amount_fen=amount_fen,
            status=(TransferStatus.FAILED if refused else TransferStatus.SUCCEEDED).value,
            reason="收款账户状态异常（已冻结或销户）" if refused else None,
            reference=f"SIMPAY{secrets.token_hex(8).upper()}", created_at=self.clock.now())
        try:
            with self.db.transaction() as session:
                session.add(row)
        except IntegrityError:
            pass  # a repeat of this request number: the first result stands
        result = self.query(request_no)
        assert result is not None
        if self.die_after_send > 0:
            self.die_after_send -= 1
            raise PayoutUnavailable("connection lost after the request was sent")
        return result

    def query(self, request_no: str) -> TransferResult | None:
        self.calls.append(f"query:{request_no}")
        with self.db.read() as session:
            row = session.get(SimulatedTransfer, request_no)
            if row is None:
                return None
            return TransferResult(row.request_no, TransferStatus(row.status), row.reference,
                                  row.reason)

    def paid_fen(self, card_no: str) -> int:
        """What the simulator paid to this card (tests check nothing is paid twice)."""
        with self.db.read() as session:
            return sum(row.amount_fen for row in session.scalars(
                select(SimulatedTransfer).where(
                    SimulatedTransfer.card_hash == blind_index(f"card:{card_no}"),
                    SimulatedTransfer.status == TransferStatus.SUCCEEDED.value)))


# ---------------------------------------------------------------- the run


@dataclass(frozen=True)
class _Work:
    claim_no: str
    request_no: str
    amount_fen: int
    card_no: str
    holder_name: str
    query_first: bool


@dataclass
class RunReport:
    paid: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)
    pending: list[str] = field(default_factory=list)  # left sending: the next run queries

    @property
    def total(self) -> int:
        return len(self.paid) + len(self.failed) + len(self.pending)


class PayoutsUnavailable(Exception):
    """No payout port is wired (production without an adapter)."""


def run_payouts(c: Container, *, actor_account_id: int | None = None,
                actor_role: str | None = None) -> RunReport:
    """Pay every approved claim with a verified payee (see the module's description)."""
    port = c.payouts
    if port is None:
        raise PayoutsUnavailable()
    report = RunReport()
    for work in _take(c):
        try:
            result = _call(port, work)
        except PayoutUnavailable as exc:
            log.warning("payout %s: outcome unknown (%s); the next run queries it",
                        work.request_no, exc)
            _note_unknown(c, work, str(exc))
            report.pending.append(work.claim_no)
            continue
        if result.status is TransferStatus.PROCESSING:
            report.pending.append(work.claim_no)
            continue
        if _finish(c, work, result, actor_account_id, actor_role):
            (report.paid if result.status is TransferStatus.SUCCEEDED
             else report.failed).append(work.claim_no)
    return report


def _call(port: PayoutPort, work: _Work) -> TransferResult:
    if work.query_first:  # a request that may have arrived: never send it blind
        found = port.query(work.request_no)
        if found is not None:
            return found
    return port.transfer(work.request_no, work.card_no, work.holder_name, work.amount_fen,
                         f"惠民保理赔款（{work.claim_no}）")


def _request_no(claim_no: str, attempt: int) -> str:
    return f"PO{claim_no}{attempt:02d}"


def _take(c: Container) -> list[_Work]:
    """Mark this run's claims ``sending`` and commit, before any call."""
    now = c.clock.now()
    taken: list[_Work] = []
    with c.db.transaction() as session:
        claims = session.scalars(
            select(Claim).join(ClaimPayee, ClaimPayee.claim_id == Claim.id)
            .where(Claim.status == ClaimStatus.APPROVED.value, Claim.payout_fen > 0)
            .order_by(Claim.decided_at, Claim.id).limit(BATCH)
            .with_for_update(skip_locked=True, of=Claim)).all()
        for claim in claims:
            payee = session.get(ClaimPayee, claim.id)
            payout = session.scalars(select(ClaimPayout).where(
                ClaimPayout.claim_id == claim.id)).one_or_none()
            assert payee is not None and claim.payout_fen is not None
            query_first = False
            if payout is None:
                payout = ClaimPayout(claim_id=claim.id, status=PayoutStatus.SENDING.value,
                                     request_no=_request_no(claim.claim_no, 1), attempts=1,
                                     max_attempts=MAX_ATTEMPTS,
                                     amount_fen=claim.payout_fen, created_at=now, updated_at=now)
                session.add(payout)
            elif payout.status == PayoutStatus.FAILED.value:
                if payout.attempts >= payout.max_attempts:
                    continue  # left to the claimant (a new card) or staff
                payout.status = PAYOUT_TRANSITIONS.transition(
                    PayoutStatus.FAILED, PayoutStatus.SENDING).value
                payout.attempts += 1
                payout.request_no = _request_no(claim.claim_no, payout.attempts)
                payout.updated_at = now
            elif payout.status == PayoutStatus.SENDING.value:
                if payout.updated_at + LEASE > now:
                    continue  # another run is sending it
                payout.updated_at, query_first = now, True
            else:
                continue
            taken.append(_Work(claim.claim_no, payout.request_no, payout.amount_fen,
                               payee.card_no, payee.holder_name, query_first))
    return taken


def _note_unknown(c: Container, work: _Work, error: str) -> None:
    with c.db.transaction() as session:
        payout = session.scalars(select(ClaimPayout).where(
            ClaimPayout.request_no == work.request_no).with_for_update()).one_or_none()
        if payout is not None and payout.status == PayoutStatus.SENDING.value:
            payout.last_error = f"结果未知：{error}"[:200]


def _finish(c: Container, work: _Work, result: TransferResult, actor_account_id: int | None,
            actor_role: str | None) -> bool:
    """Record a definite answer; False if the row moved on meanwhile (nothing recorded)."""
    with c.db.read() as session:
        person_id = session.scalars(select(Claim.insured_person_id).where(
            Claim.claim_no == work.claim_no)).one()
    succeeded = result.status is TransferStatus.SUCCEEDED
    phone = services.claimant_phone(c, person_id) if succeeded else None
    now = c.clock.now()
    by = services.EventActor(actor_account_id, actor_role)
    with c.db.transaction() as session:
        payout = session.scalars(select(ClaimPayout).where(
            ClaimPayout.request_no == work.request_no).with_for_update()).one_or_none()
        if payout is None or payout.status != PayoutStatus.SENDING.value:
            return False
        claim = session.scalars(select(Claim).where(Claim.id == payout.claim_id)
                                .with_for_update()).one()
        if succeeded:
            _paid(session, c, claim, payout, work, result, by, phone, now)
        else:
            payout.status = PAYOUT_TRANSITIONS.transition(
                PayoutStatus.SENDING, PayoutStatus.FAILED).value
            payout.last_error = (result.reason or "支付失败")[:200]
            payout.updated_at = now
        audit.record(session, c.clock, AuditEntry(
            action=f"claim.payout_{result.status.value}", actor=by.audit,
            subject_person_id=claim.insured_person_id, object_type="claim",
            object_id=claim.claim_no,
            details={"request_no": work.request_no, "amount_fen": work.amount_fen,
                     "attempt": payout.attempts, "reference": result.reference,
                     "reason": result.reason},
        ))
    return True


def _paid(session: Session, c: Container, claim: Claim, payout: ClaimPayout, work: _Work,
          result: TransferResult, by: services.EventActor, phone: str | None,
          now: datetime) -> None:
    payout.status = PAYOUT_TRANSITIONS.transition(PayoutStatus.SENDING, PayoutStatus.PAID).value
    payout.reference, payout.paid_at, payout.updated_at = result.reference, now, now
    payout.last_error = None
    services.book_payout(session, claim, now)
    claim.paid_at = now
    services.record_status(
        session, c, claim, ClaimStatus.PAID, by,
        f"理赔款{format_fen(work.amount_fen)}已支付至尾号{work.card_no[-4:]}的银行卡"
        f"（{mask_card(work.card_no)}），请注意查收。")
    services.notify(session, c, phone, claim)


# ---------------------------------------------------------------- a new card


PAYEE_LOCKED = "赔款正在支付或已支付，不能更换收款账户"


def change_payee(c: Container, actor: Actor, number: str, payee: PayeeInput) -> None:
    """Name (or replace) the claim's payee, e.g. after the bank refused the first card: for the
    claimant or an agent with claims_submit, while the claim is open or approved and its money
    is neither being sent nor paid. A failed payout gets MAX_ATTEMPTS more attempts."""
    with c.db.read() as session:
        claim = session.scalars(select(Claim).where(Claim.claim_no == number)).one_or_none()
        if claim is None:
            raise NotFound()
        decision = require_access(c, session, actor, Action.SUBMIT_CLAIMS,
                                  claim.insured_person_id, object_type="claim", object_id=number)
        _check_payee_change(session, claim)
        insured = session.get(Person, claim.insured_person_id)
        agent = session.get(Person, actor.person_id) if (
            decision.basis is Basis.PROXY_GRANT and actor.person_id is not None) else None
        assert insured is not None
        insured_name, insured_id = insured.name, insured.id_number
        agent_id = agent.id_number if agent is not None else None
    checked = filing.check_payee(c, payee, insured_name=insured_name, insured_id=insured_id,
                                 agent_id=agent_id, today=c.clock.today())
    by = services.EventActor.of(actor, decision.grant_id)
    with c.db.transaction() as session:
        claim = session.scalars(select(Claim).where(Claim.claim_no == number)
                                .with_for_update()).one()
        payout = _check_payee_change(session, claim)
        session.execute(delete(ClaimPayee).where(ClaimPayee.claim_id == claim.id))
        session.add(checked.row(claim.id, c.clock.now()))
        if payout is not None:  # failed: the next run tries the new card
            payout.max_attempts = payout.attempts + MAX_ATTEMPTS
            payout.last_error = None
        audit.record(session, c.clock, services.claim_act(
            "claim.payee_change", by.audit, claim, decision,
            {"kind": checked.kind.value, "card_last4": checked.card_no[-4:]}))


def _check_payee_change(session: Session, claim: Claim) -> ClaimPayout | None:
    status = ClaimStatus(claim.status)
    if status not in OPEN_STATUSES and status is not ClaimStatus.APPROVED:
        raise RuleViolation(PAYEE_LOCKED if status is ClaimStatus.PAID
                            else "该理赔已审结，不能更换收款账户", code="payee_locked")
    payout = session.scalars(select(ClaimPayout).where(
        ClaimPayout.claim_id == claim.id)).one_or_none()
    if payout is not None and payout.status != PayoutStatus.FAILED.value:
        raise RuleViolation(PAYEE_LOCKED, code="payee_locked")
    return payout
