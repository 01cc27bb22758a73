"""Revision 0011_disclosure widens the CHECK on orders.payment_method (employer, counter_cash).
On SQLite it edits the stored table definition in place: existing orders, their items and
policies stay exactly as they were (a batch copy-drop-rename would fail on them)."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.exc import IntegrityError

from huiminbao.app import build_container
from huiminbao.audit.consents import CONSENT_TEXTS
from huiminbao.audit.models import Consent
from huiminbao.catalog.demo import ensure_demo_product
from huiminbao.core.clock import MovableClock
from huiminbao.core.config import Settings
from huiminbao.core.db import make_engine
from huiminbao.core.migrate import downgrade_engine, upgrade, upgrade_engine
from huiminbao.enrollment import completing, ordering, quoting
from huiminbao.enrollment.domain import PaymentMethod
from huiminbao.identity.access import Subject
from huiminbao.identity.auth import Actor
from huiminbao.identity.domain import Basis, Role
from huiminbao.identity.models import UserAccount
from huiminbao.identity.services import person_for
from huiminbao.registry.demo import load_demo_population


def _one_subsidized_order(url: str, clock: MovableClock) -> None:
    wired = build_container(Settings(database_url=url, testing=True), clock=clock)
    try:
        load_demo_population(wired.db, clock)
        product = ensure_demo_product(wired.db, clock)
        with wired.db.transaction() as session:
            person = person_for(session, "330110196504300923", "孙丽", clock.now())
            account = UserAccount(phone="13800000009", role="resident", person_id=person.id,
                                  created_at=clock.now())
            session.add(account)
            session.flush()
            # Bound as the API binds: with both consents standing (the consent gate checks them).
            session.add_all(Consent(account_id=account.id, kind=kind.value,
                                    text_version=consent.version, granted_at=clock.now())
                            for kind, consent in CONSENT_TEXTS.items())
            actor = Actor(account.id, Role.RESIDENT, person.id, 0, clock.now(), "test")
        subject = Subject(person.id, Basis.SELF)
        request = quoting.EnrollmentRequest(
            product.id, [quoting.InsuredChoice(person.id, "standard")], PaymentMethod.SUBSIDY,
            quoting.Confirmations(None, True, None, None))
        order = ordering.create_order(wired, actor, subject,
                                      quoting.quote(wired, actor, subject, request))
        completing.complete_payment(wired, order.order_no, transaction_id=None)
    finally:
        wired.db.dispose()


COUNTS = text("SELECT (SELECT COUNT(*) FROM orders), (SELECT COUNT(*) FROM order_items), "
              "(SELECT COUNT(*) FROM policies)")


def _downgrade(url: str, revision: str) -> None:
    engine = make_engine(url)
    try:
        downgrade_engine(engine, revision)
    finally:
        engine.dispose()


def _counts(engine_url: str) -> tuple[int, ...]:
    engine = create_engine(engine_url)
    try:
        with engine.connect() as conn:
            return tuple(int(value) for value in conn.execute(COUNTS).one())
    finally:
        engine.dispose()


def test_sqlite_upgrade_keeps_existing_orders_and_admits_the_new_methods(
    tmp_path: Path, clock: MovableClock
) -> None:
    url = f"sqlite:///{tmp_path / 'populated.sqlite3'}"
    # The order is made by today's code (on today's schema), then the database is taken back to
    # where it was before 0011, keeping the order: what a city upgrading from 0010 would have.
    upgrade(url)
    _one_subsidized_order(url, clock)
    _downgrade(url, "0010_proxy")
    assert _counts(url) == (1, 1, 1)

    upgrade(url)
    assert _counts(url) == (1, 1, 1)
    # The product's SQLite engine (make_engine): every migration runs inside one transaction, so
    # a downgrade refused half-way leaves nothing half-done (pysqlite alone commits each DDL).
    engine = make_engine(url)
    try:
        with engine.begin() as conn:
            assert conn.execute(text("PRAGMA integrity_check")).scalar_one() == "ok"
            conn.execute(text("UPDATE orders SET payment_method = 'counter_cash'"))
        with pytest.raises(IntegrityError), engine.begin() as conn:
            conn.execute(text("UPDATE orders SET payment_method = 'cheque'"))

        with pytest.raises(RuntimeError, match="employer or counter_cash"):
            downgrade_engine(engine, "0010_proxy")
        with engine.begin() as conn:
            conn.execute(text("UPDATE orders SET payment_method = 'subsidy'"))
        downgrade_engine(engine, "0010_proxy")
        with pytest.raises(IntegrityError), engine.begin() as conn:
            conn.execute(text("UPDATE orders SET payment_method = 'employer'"))
        upgrade_engine(engine)
        with engine.begin() as conn:
            conn.execute(text("UPDATE orders SET payment_method = 'employer'"))
    finally:
        engine.dispose()
    assert _counts(url) == (1, 1, 1)


@pytest.mark.postgres
def test_postgresql_check_admits_the_new_methods(pg_url: str) -> None:
    engine = create_engine(pg_url)
    try:
        with engine.connect() as conn:
            definition = conn.execute(text(
                "SELECT pg_get_constraintdef(oid) FROM pg_constraint "
                "WHERE conname = 'ck_orders_payment_method_values' "
                "AND conrelid = 'orders'::regclass")).scalar_one()  # this schema's table
    finally:
        engine.dispose()
    assert "'employer'" in definition and "'counter_cash'" in definition
