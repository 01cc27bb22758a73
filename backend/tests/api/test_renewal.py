"""Renewal by consent only: notice first, debit after the notice period, never without consent."""

from __future__ import annotations

from datetime import date, timedelta

from flask.testing import FlaskClient
from sqlalchemy import select
from sqlalchemy.orm import selectinload

from huiminbao.catalog.models import Benefit, Product, ProductTerms, Tier
from huiminbao.core.clock import MovableClock
from huiminbao.core.container import Container
from huiminbao.enrollment import renewal
from huiminbao.enrollment.models import RenewalNotice

from .enrollment_helpers import balance, enroll, sign_in


def _next_year_product(wired: Container) -> int:
    """Next year's product, its window opening when this year's coverage begins."""
    with wired.db.transaction() as session:
        current = session.scalars(select(Product).options(
            selectinload(Product.tiers).selectinload(Tier.benefits),
            selectinload(Product.terms))).first()
        assert current is not None
        opens = current.coverage_starts_on + timedelta(days=300)
        nxt = Product(
            code=f"{current.code}-NEXT", city_code=current.city_code,
            city_name=current.city_name, year=current.year + 1, name=current.name,
            insurer=current.insurer, status="published", payable_balances="prior_years",
            created_at=wired.clock.now(), window_opens_on=opens,
            window_closes_on=opens + timedelta(days=40),
            coverage_starts_on=opens + timedelta(days=41),
            coverage_ends_on=opens + timedelta(days=41 + 364),
        )
        for tier in current.tiers:
            nxt.tiers.append(Tier(code=tier.code, name=tier.name, position=tier.position,
                                  premium_fen=tier.premium_fen, benefits=[
                                      Benefit(category=b.category, position=b.position,
                                              deductible_fen=b.deductible_fen,
                                              ratio_bp=b.ratio_bp, cap_fen=b.cap_fen)
                                      for b in tier.benefits]))
        terms = current.terms[0]
        nxt.terms.append(ProductTerms(version=f"{nxt.year}.1", notice=terms.notice,
                                      coverage=terms.coverage, claim_scope=terms.claim_scope,
                                      exclusions=terms.exclusions,
                                      published_at=wired.clock.now()))
        session.add(nxt)
        session.flush()
        return nxt.id


def _window_day(wired: Container, product_id: int) -> date:
    with wired.db.read() as session:
        product = session.get(Product, product_id)
        assert product is not None
        return product.window_opens_on


def test_renewal_is_announced_then_debited_only_with_consent(
    client: FlaskClient, wired: Container, clock: MovableClock
) -> None:
    zhang = sign_in(client, "张伟")
    policy_no = enroll(zhang, "personal_account").get_json()["policies"][0]["policy_no"]
    consent = client.get("/api/v1/auto-renew-consent").get_json()
    client.put(f"/api/v1/policies/{policy_no}/auto-renew", headers=zhang.bearer,
               json={"enabled": True, "consent_version": consent["version"]})
    before = balance(zhang)["prior_years_fen"]
    next_id = _next_year_product(wired)

    counts = renewal.notify(wired, next_id)
    assert counts.notified == 1
    sms = client.get("/api/v1/dev/sms?phone=13800000001").get_json()["items"][0]["text"]
    assert "自动续保" in sms and "¥150.00" in sms and "关闭自动续保" in sms
    assert renewal.notify(wired, next_id).notified == 0  # announced once

    assert renewal.run(wired, next_id).renewed == 0  # not before the notice period
    window = _window_day(wired, next_id)
    from datetime import UTC, datetime, time

    clock.travel_to(datetime.combine(window, time(9), UTC))
    assert renewal.run(wired, next_id).renewed == 1
    with wired.db.read() as session:
        notice = session.scalars(select(RenewalNotice)).one()
    assert notice.status == "renewed" and notice.order_no
    registry_balance = wired.registry.balance("330106198803150130")
    assert registry_balance is not None
    assert registry_balance.prior_years_fen == before - 15000


def test_turning_auto_renew_off_after_the_notice_stops_the_debit(
    client: FlaskClient, wired: Container, clock: MovableClock
) -> None:
    zhang = sign_in(client, "张伟")
    policy_no = enroll(zhang, "personal_account").get_json()["policies"][0]["policy_no"]
    consent = client.get("/api/v1/auto-renew-consent").get_json()
    client.put(f"/api/v1/policies/{policy_no}/auto-renew", headers=zhang.bearer,
               json={"enabled": True, "consent_version": consent["version"]})
    next_id = _next_year_product(wired)
    renewal.notify(wired, next_id)
    client.put(f"/api/v1/policies/{policy_no}/auto-renew", headers=zhang.bearer,
               json={"enabled": False})
    before = wired.registry.balance("330106198803150130")
    from datetime import UTC, datetime, time

    clock.travel_to(datetime.combine(_window_day(wired, next_id), time(9), UTC))
    counts = renewal.run(wired, next_id)
    assert (counts.renewed, counts.skipped) == (0, 1)
    assert wired.registry.balance("330106198803150130") == before


def test_no_consent_no_notice_no_debit(client: FlaskClient, wired: Container) -> None:
    zhang = sign_in(client, "张伟")
    enroll(zhang, "personal_account")
    next_id = _next_year_product(wired)
    assert renewal.notify(wired, next_id).notified == 0


def test_a_renewal_debits_only_an_account_whose_binding_is_verified(
    client: FlaskClient, wired: Container, clock: MovableClock
) -> None:
    """The standing consent of a verified owner confirms a renewal debit; a binding
    that is no longer verified (e.g. displaced and bound again by name and ID number only)
    spends nothing."""
    from datetime import UTC, datetime, time

    from huiminbao.identity.models import UserAccount

    zhang = sign_in(client, "张伟")
    policy_no = enroll(zhang, "personal_account").get_json()["policies"][0]["policy_no"]
    consent = client.get("/api/v1/auto-renew-consent").get_json()
    client.put(f"/api/v1/policies/{policy_no}/auto-renew", headers=zhang.bearer,
               json={"enabled": True, "consent_version": consent["version"]})
    next_id = _next_year_product(wired)
    renewal.notify(wired, next_id)
    with wired.db.transaction() as session:
        account = session.get(UserAccount, zhang.me["account_id"])
        assert account is not None and account.binding_verified_by == "registry_phone"
        account.binding_verified_by = None
    before = wired.registry.balance("330106198803150130")
    clock.travel_to(datetime.combine(_window_day(wired, next_id), time(9), UTC))
    counts = renewal.run(wired, next_id)
    assert (counts.renewed, counts.failed) == (0, 1)
    assert wired.registry.balance("330106198803150130") == before
    with wired.db.read() as session:
        notice = session.scalars(select(RenewalNotice)).one()
    assert notice.status == "failed" and "身份核验" in (notice.reason or "")
