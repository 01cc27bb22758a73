"""A product's first booking against a change of its co-insurer shares, on PostgreSQL: the
booking reads the shares under a share lock on the product, the console changes them under its
update lock, so the two never interleave. A change that waited for the booking finds money
booked and is refused; the shares the booking used (and the ledger now keeps) are the ones in
force."""

from __future__ import annotations

import threading
from datetime import UTC, datetime

import pytest
from sqlalchemy import select

from huiminbao.audit.services import AuditActor
from huiminbao.catalog.coinsurance import Share
from huiminbao.catalog.demo import ensure_demo_product
from huiminbao.catalog.models import ProductInsurer
from huiminbao.console.coinsurers import set_coinsurance
from huiminbao.core.clock import MovableClock
from huiminbao.core.container import Container
from huiminbao.core.errors import Conflict
from huiminbao.payments import ledger

pytestmark = pytest.mark.postgres

TWO = [Share("甲财产保险杭州分公司", 6000, True), Share("乙人寿保险杭州分公司", 4000)]
ALONE = [Share("甲财产保险杭州分公司", 10000, True)]


def test_a_change_of_shares_waits_for_the_first_booking_and_is_then_refused(
        pg_wired: Container, clock: MovableClock) -> None:
    product = ensure_demo_product(pg_wired.db, clock)
    set_coinsurance(pg_wired, AuditActor(), product.id, TWO, None)
    outcome: list[object] = []

    def change_shares() -> None:
        try:
            outcome.append(set_coinsurance(pg_wired, AuditActor(), product.id, ALONE, None))
        except Conflict as exc:
            outcome.append(exc.code)

    with pg_wired.db.transaction() as session:
        ledger.post(session, kind="payment", reference="race-1", order_no="race-1",
                    purpose="测试", now=datetime(2026, 11, 20, tzinfo=UTC),
                    moves=[(ledger.premium_income(product.id), 100), (ledger.GATEWAY, -100)])
        change = threading.Thread(target=change_shares)
        change.start()
        change.join(timeout=1.0)
        assert change.is_alive(), "the change did not wait for the booking's share lock"
    change.join(timeout=10)
    assert outcome == ["shares_fixed"]
    with pg_wired.db.read() as session:
        kept = session.scalars(select(ProductInsurer.share_bp).where(
            ProductInsurer.product_id == product.id).order_by(ProductInsurer.position)).all()
    assert kept == [6000, 4000]
