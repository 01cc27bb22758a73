"""As of a day end (00:00 China time, 截至前一日): answered from that day's stored figures,
without counting; any other instant is counted. ``refresh`` stores a few missing day ends per
run, ``backfill`` a range."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any
from urllib.parse import unquote

from click.testing import CliRunner
from flask import Flask

from huiminbao.core.clock import MovableClock, to_china_time
from huiminbao.core.config import Settings
from huiminbao.core.container import Container
from huiminbao.disclosure import snapshots
from huiminbao.disclosure.cli import disclosure as disclosure_cli
from huiminbao.disclosure.figures import Figures

from .enrollment_helpers import enroll, sign_in
from .test_console_support import demo_product_id


def url(product_id: int) -> str:
    return f"/api/v1/disclosure/{product_id}"


def counting_spy(monkeypatch: Any) -> list[datetime]:
    """Replaces the count the snapshots module calls; returns the instants it was asked for."""
    asked: list[datetime] = []
    real = snapshots.count_figures

    def spy(c: Container, product_id: int, at: datetime, **options: Any) -> Figures:
        asked.append(at)
        return real(c, product_id, at, **options)

    monkeypatch.setattr(snapshots, "count_figures", spy)
    return asked


def test_day_ends_are_recognised_in_any_offset() -> None:
    day = date(2026, 11, 22)
    end = snapshots.day_end(day)
    assert end.isoformat() == "2026-11-23T00:00:00+08:00"
    assert snapshots.day_ended_at(datetime.fromisoformat("2026-11-22T16:00:00+00:00")) == day
    assert snapshots.day_ended_at(end) == day
    assert snapshots.day_ended_at(end + timedelta(microseconds=1)) is None
    assert snapshots.day_ended_at(datetime.fromisoformat("2026-11-23T00:00:00+00:00")) is None


def test_a_day_end_is_served_from_its_stored_figures_without_counting(
        app: Flask, wired: Container, clock: MovableClock, monkeypatch: Any) -> None:
    client = app.test_client()
    product_id = demo_product_id(client)
    assert enroll(sign_in(app.test_client(), "张伟"), "personal_account").status_code == 201
    day = to_china_time(clock.now()).date()
    end = snapshots.day_end(day)

    # Before the day has settled, its end is counted like any instant, and not stored.
    clock.travel_to(end + timedelta(minutes=1))
    asked = counting_spy(monkeypatch)
    early = client.get(url(product_id), query_string={"as_of": end.isoformat()}).get_json()
    assert early["enrolled"]["total"] == 1 and early["day_end_stored"] is False
    assert asked == [end]
    assert snapshots.stored_day_end(wired, product_id, day) is None

    # Settled: the first request counts and stores it, the next are served from the store.
    clock.travel_to(end + snapshots.DAY_END_SETTLE)
    assert enroll(sign_in(app.test_client(), "孙丽"), "subsidy").status_code == 201
    first = client.get(url(product_id), query_string={"as_of": end.isoformat()}).get_json()
    assert first["day_end_stored"] is False and first["enrolled"]["total"] == 1
    assert len(asked) == 2
    asked.clear()
    for stated in (end.isoformat(), end.astimezone(UTC).isoformat()):
        again = client.get(url(product_id), query_string={"as_of": stated}).get_json()
        assert asked == []  # nothing counted
        assert again["day_end_stored"] is True and again["live"] is False
        assert again["enrolled"]["total"] == 1  # 孙丽 enrolled the next day
        assert datetime.fromisoformat(again["as_of"]) == end
        assert datetime.fromisoformat(unquote(again["csv_url"].split("?as_of=")[1])) == end
    csv_text = client.get(f"{url(product_id)}.csv",
                          query_string={"as_of": end.isoformat()}).get_data().decode("utf-8-sig")
    assert "参保人数,合计,1" in csv_text and asked == []

    # Any other instant is counted, for that instant.
    midday = end - timedelta(hours=12)
    counted = client.get(url(product_id), query_string={"as_of": midday.isoformat()}).get_json()
    assert counted["day_end_stored"] is False and counted["enrolled"]["total"] == 1
    assert asked == [midday]
    live = client.get(url(product_id)).get_json()
    assert live["day_end_stored"] is False and live["enrolled"]["total"] == 2


def test_stored_day_ends_are_not_rate_limited_like_counts(
        app: Flask, wired: Container, clock: MovableClock) -> None:
    client = app.test_client()
    product_id = demo_product_id(client)
    day = to_china_time(clock.now()).date()
    clock.travel_to(snapshots.day_end(day) + snapshots.DAY_END_SETTLE)
    product = wired.products.get(product_id)
    assert product is not None
    assert list(snapshots.store_missing_day_ends(wired, product, 1)) == [day]
    stated = {"as_of": snapshots.day_end(day).isoformat()}
    answers = {client.get(url(product_id), query_string=stated).status_code for _ in range(12)}
    assert answers == {200}
    midday = {"as_of": (snapshots.day_end(day) - timedelta(hours=12)).isoformat()}
    statuses = [client.get(url(product_id), query_string=midday).status_code
                for _ in range(11)]
    assert statuses[:10] == [200] * 10 and statuses[10] == 429


def test_refresh_stores_a_few_missing_day_ends_and_backfill_a_range(
        app: Flask, wired: Container, settings: Settings) -> None:
    product_id = demo_product_id(app.test_client())
    assert enroll(sign_in(app.test_client(), "张伟"), "personal_account").status_code == 201
    product = wired.products.get(product_id)
    assert product is not None
    env = {"DATABASE_URL": settings.database_url, "HUIMINBAO_MODE": "demo"}
    # The commands run on the real clock: every day from the window's opening has ended.
    result = CliRunner().invoke(disclosure_cli, ["refresh", "--day-ends", "2"], env=env)
    assert result.exit_code == 0, result.output
    assert "day ends stored for" in result.output
    assert len(_stored_days(wired, product_id)) == 2

    enrolled_on = date(2026, 11, 22)  # the test clock's day
    backfill = CliRunner().invoke(disclosure_cli, [
        "backfill", "--product", str(product_id), "--from", "2026-11-21", "--to", "2026-11-23"],
        env=env)
    assert backfill.exit_code == 0, backfill.output
    assert {enrolled_on - timedelta(days=1), enrolled_on,
            enrolled_on + timedelta(days=1)} <= _stored_days(wired, product_id)
    totals = {day: figures.enrolled_total for day in _stored_days(wired, product_id)
              if (figures := snapshots.stored_day_end(wired, product_id, day)) is not None
              and day <= enrolled_on + timedelta(days=1)}
    assert totals[enrolled_on - timedelta(days=1)] == 0 and totals[enrolled_on] == 1
    again = CliRunner().invoke(disclosure_cli, [
        "backfill", "--product", str(product_id), "--from", "2026-11-21", "--to", "2026-11-23"],
        env=env)
    assert again.exit_code == 0 and "day ends stored" not in again.output  # nothing missing


def _stored_days(wired: Container, product_id: int) -> set[date]:
    from sqlalchemy import select

    from huiminbao.disclosure.models import DisclosureDayEnd

    with wired.db.read() as session:
        return set(session.scalars(select(DisclosureDayEnd.day).where(
            DisclosureDayEnd.product_id == product_id)))
