"""The live disclosure answers from a stored count of the figures (well under 100 ms at a
million policies): the count is at most ``MAX_AGE`` old and says when it was made; one request
at a time counts again; ``huiminbao disclosure refresh`` counts ahead of the requests; the
registry counts the schemes without handing out a row per person."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta
from typing import Any

from click.testing import CliRunner
from flask import Flask

from huiminbao.core.clock import MovableClock
from huiminbao.core.config import Settings
from huiminbao.core.container import Container
from huiminbao.disclosure import snapshots
from huiminbao.disclosure.cli import disclosure as disclosure_cli
from huiminbao.disclosure.models import DisclosureSnapshot
from huiminbao.registry.port import Scheme

from .enrollment_helpers import PEOPLE, enroll, sign_in
from .test_console_support import demo_product_id

WANG_ID_NUMBER = "33010219430618052X"  # 王秀英, residents' scheme, in the demo registry


def url(product_id: int) -> str:
    return f"/api/v1/disclosure/{product_id}"


def as_of(figures: dict[str, Any]) -> datetime:
    return datetime.fromisoformat(figures["as_of"])


def test_live_figures_are_a_count_at_most_max_age_old_and_say_when(
        app: Flask, clock: MovableClock) -> None:
    client = app.test_client()
    product_id = demo_product_id(client)
    assert enroll(sign_in(app.test_client(), "张伟"), "personal_account").status_code == 201
    before = clock.now()
    first = client.get(url(product_id)).get_json()
    assert first["live"] is True
    assert first["enrolled"]["total"] == 1
    counted_at = as_of(first)
    assert before <= counted_at <= clock.now()  # the clock runs at real speed

    clock.advance(timedelta(minutes=1))
    assert enroll(sign_in(app.test_client(), "孙丽"), "subsidy").status_code == 201
    same = client.get(url(product_id)).get_json()
    assert same["enrolled"]["total"] == 1  # the same count, a minute old, and said so
    assert as_of(same) == counted_at
    assert same["live"] is True

    # Stated instants are counted for that instant, never answered from the stored count.
    stated = client.get(url(product_id), query_string={"as_of": clock.now().isoformat()})
    assert stated.get_json()["enrolled"]["total"] == 2
    assert stated.get_json()["live"] is False

    clock.advance(snapshots.MAX_AGE)  # the stored count is now older than MAX_AGE
    before = clock.now()
    fresh = client.get(url(product_id)).get_json()
    assert fresh["enrolled"]["total"] == 2
    assert before <= as_of(fresh) <= clock.now()
    assert {b["key"]: b["count"] for b in fresh["enrolled"]["by_channel"]}["subsidy"] == 1
    csv_text = client.get(f"{url(product_id)}.csv").get_data().decode("utf-8-sig")
    assert "参保人数,合计,2" in csv_text


def test_one_request_counts_again_while_the_others_answer_with_the_previous_count(
        app: Flask, wired: Container, clock: MovableClock) -> None:
    client = app.test_client()
    product_id = demo_product_id(client)
    first = client.get(url(product_id)).get_json()
    assert first["enrolled"]["total"] == 0
    counted_at = as_of(first)
    assert enroll(sign_in(app.test_client(), "张伟"), "personal_account").status_code == 201
    clock.advance(snapshots.MAX_AGE + timedelta(seconds=1))

    with wired.db.transaction() as session:  # another request is counting again
        held = session.get(DisclosureSnapshot, product_id)
        assert held is not None
        held.refresh_claimed_at = clock.now()
    meanwhile = client.get(url(product_id)).get_json()
    assert meanwhile["enrolled"]["total"] == 0
    assert as_of(meanwhile) == counted_at

    clock.advance(snapshots.REFRESH_LEASE + timedelta(seconds=1))  # that count never finished
    before = clock.now()
    recounted = client.get(url(product_id)).get_json()
    assert recounted["enrolled"]["total"] == 1
    assert before <= as_of(recounted) <= clock.now()
    with wired.db.read() as session:
        stored = session.get(DisclosureSnapshot, product_id)
        assert stored is not None
        assert stored.as_of == as_of(recounted)
        assert stored.refresh_claimed_at is None  # the lease ends with the stored count
        assert stored.figures["enrolled_total"] == 1
        assert "张伟" not in str(stored.figures) and PEOPLE["张伟"][1] not in str(stored.figures)


def test_the_refresh_command_counts_every_published_product(
        app: Flask, wired: Container, settings: Settings) -> None:
    product_id = demo_product_id(app.test_client())
    assert enroll(sign_in(app.test_client(), "张伟"), "personal_account").status_code == 201
    env = {"DATABASE_URL": settings.database_url, "HUIMINBAO_MODE": "demo"}
    result = CliRunner().invoke(disclosure_cli, ["refresh"], env=env)
    assert result.exit_code == 0, result.output
    assert f"{product_id} " in result.output and "1 人参保" in result.output
    stored = snapshots.stored_figures(wired, product_id)
    assert stored is not None
    figures, counted_in_ms = stored
    assert figures.enrolled_total == 1 and figures.by_channel == {"personal_account": 1}
    assert figures.by_scheme == {"employee": 1}
    assert counted_in_ms >= 0

    only = CliRunner().invoke(disclosure_cli, ["refresh", "--product", str(product_id)], env=env)
    assert only.exit_code == 0, only.output
    unknown = CliRunner().invoke(disclosure_cli, ["refresh", "--product", "9999"], env=env)
    assert unknown.exit_code != 0
    assert "not a published product: 9999" in unknown.output


def test_the_registry_counts_schemes_without_answering_for_persons(wired: Container) -> None:
    employee, resident = PEOPLE["张伟"][1], PEOPLE["孙丽"][1]
    counts = wired.registry.scheme_counts(
        [employee, employee, resident, WANG_ID_NUMBER.lower(), "110101190001010000"])
    assert counts == {Scheme.EMPLOYEE: 1, Scheme.RESIDENT: 2}  # twice counts once; unknown out
    assert wired.registry.scheme_counts([]) == {}


def test_before_the_first_count_is_stored_one_request_counts_and_the_others_wait(
        app: Flask, wired: Container, monkeypatch: Any) -> None:
    product_id = demo_product_id(app.test_client())
    counts: list[int] = []
    real_count = snapshots.count_figures

    def counted(c: Container, pid: int, at: datetime) -> Any:
        counts.append(pid)
        return real_count(c, pid, at)

    monkeypatch.setattr(snapshots, "count_figures", counted)
    with ThreadPoolExecutor(max_workers=4) as pool:
        with snapshots._FIRST_COUNT[product_id]:  # all four arrive before anyone may count
            pending = [pool.submit(app.test_client().get, url(product_id)) for _ in range(4)]
            time.sleep(0.3)
        answers = [future.result() for future in pending]
    assert [answer.status_code for answer in answers] == [200] * 4
    # One count, shared: the ones that waited take it as it is (counted after they arrived,
    # it is not "from the future"), rather than counting again.
    assert len({answer.get_json()["as_of"] for answer in answers}) == 1
    assert counts == [product_id]


def test_a_second_count_as_of_a_stated_instant_waits_its_turn(
        app: Flask, clock: MovableClock) -> None:
    client = app.test_client()
    product_id = demo_product_id(client)
    stated = {"as_of": (clock.now() - timedelta(hours=1)).isoformat()}
    with snapshots._AS_OF_COUNT:  # another request is counting
        busy = client.get(url(product_id), query_string=stated)
    assert busy.status_code == 503
    assert busy.get_json()["code"] == "busy"
    assert busy.get_json()["message"] == snapshots.AS_OF_BUSY
    assert client.get(url(product_id), query_string=stated).status_code == 200
