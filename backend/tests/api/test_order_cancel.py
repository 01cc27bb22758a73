"""Cancelling an unpaid order asks the payment side first: a debit that went through
completes the order instead, one that may still be on its way is not closed under it, and a
registry that cannot answer gets a 503 with Retry-After. The buyer is told which, in words."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta
from typing import Any

from flask.testing import FlaskClient

from huiminbao.core.clock import MovableClock
from huiminbao.core.container import Container
from huiminbao.enrollment.domain import PAYMENT_ATTEMPT_WINDOW
from huiminbao.registry.port import (
    BalanceKind,
    OperationResult,
    RegistryPort,
    RegistryUnavailable,
)

from .enrollment_helpers import enroll, sign_in

ZHANG_ID = "330106198803150130"


class LostAnswers:
    """The registry as a bad network shows it: a debit that is made but whose answer is lost,
    or never made; queries that time out."""

    def __init__(self, inner: RegistryPort, *, debit_lands: bool) -> None:
        self._inner, self.debit_lands, self.queries_fail = inner, debit_lands, False

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)

    def debit(self, request_no: str, id_number: str, amount_fen: int, *,
              sources: Sequence[BalanceKind], purpose: str) -> OperationResult:
        if self.debit_lands:
            self._inner.debit(request_no, id_number, amount_fen, sources=sources,
                              purpose=purpose)
        raise RegistryUnavailable("timed out waiting for the registry")

    def query(self, request_no: str) -> OperationResult | None:
        if self.queries_fail:
            raise RegistryUnavailable("timed out waiting for the registry")
        return self._inner.query(request_no)


def _pending_order(client: FlaskClient, wired: Container, *, debit_lands: bool) -> tuple[
        Any, LostAnswers, str]:
    registry = LostAnswers(wired.registry, debit_lands=debit_lands)
    wired.registry = registry
    zhang = sign_in(client, "张伟")
    created = enroll(zhang, "personal_account")
    assert created.status_code == 201, created.get_json()
    assert created.get_json()["status"] == "pending_payment"
    return zhang, registry, created.get_json()["order_no"]


def _cancel(zhang: Any, order_no: str) -> Any:
    return zhang.client.post(f"/api/v1/enrollments/{order_no}/cancel", headers=zhang.bearer)


def _available(wired: Container) -> int:
    balance = wired.registry.balance(ZHANG_ID)
    assert balance is not None
    return balance.prior_years_fen


def test_a_debit_that_went_through_is_completed_not_cancelled(
        client: FlaskClient, wired: Container) -> None:
    before = _available(wired)
    zhang, _registry, order_no = _pending_order(client, wired, debit_lands=True)
    answer = _cancel(zhang, order_no)
    assert answer.status_code == 409
    assert answer.get_json()["code"] == "order_paid"
    assert "已付款成功并已出单" in answer.get_json()["message"]
    order = zhang.client.get(f"/api/v1/enrollments/{order_no}", headers=zhang.bearer).get_json()
    assert order["status"] == "issued"
    assert _available(wired) == before - 15000  # debited once, kept for the policy


def test_a_debit_that_may_be_on_its_way_is_not_cancelled_under_it_until_the_window_passes(
        client: FlaskClient, wired: Container, clock: MovableClock) -> None:
    zhang, registry, order_no = _pending_order(client, wired, debit_lands=False)
    before = _available(wired)
    early = _cancel(zhang, order_no)
    assert early.status_code == 409
    assert early.get_json()["code"] == "payment_in_progress"
    assert "正在从医保个人账户扣款" in early.get_json()["message"]

    registry.queries_fail = True
    unknown = _cancel(zhang, order_no)
    assert unknown.status_code == 503
    assert unknown.headers["Retry-After"].isdigit()
    assert unknown.get_json()["code"] == "payment_unknown"
    assert "暂时无法确认" in unknown.get_json()["message"]

    registry.queries_fail = False
    clock.advance(PAYMENT_ATTEMPT_WINDOW + timedelta(seconds=1))
    cancelled = _cancel(zhang, order_no)
    assert cancelled.status_code == 200, cancelled.get_json()
    assert cancelled.get_json()["status"] == "cancelled"
    assert _available(wired) == before


class SilentRegistry(LostAnswers):
    """A registry that answers nothing at all (a timed-out look-up)."""

    def find_persons(self, id_numbers: Sequence[str]) -> Any:
        raise RegistryUnavailable("timed out waiting for the registry")

    def persons_and_balances(self, id_numbers: Sequence[str], balances_of: Sequence[str]) -> Any:
        raise RegistryUnavailable("timed out waiting for the registry")


def test_a_registry_that_does_not_answer_is_a_503_with_retry_after_and_writes_nothing(
        client: FlaskClient, wired: Container) -> None:
    zhang = sign_in(client, "张伟")
    wired.registry = SilentRegistry(wired.registry, debit_lands=False)
    answer = enroll(zhang, "personal_account")
    assert answer.status_code == 503
    assert answer.headers["Retry-After"].isdigit()
    assert answer.get_json()["code"] == "remote_unavailable"
    assert "暂时无法访问" in answer.get_json()["message"]
    orders = zhang.client.get("/api/v1/enrollments", headers=zhang.bearer).get_json()["items"]
    assert orders == []
