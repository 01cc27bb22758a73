"""The stored snapshot of each product's public figures, which the live disclosure answers from.

Counting a product's figures reads every live policy: seconds at a million policies, too slow
for a public page and a denial of service waiting to happen. Disclosure is periodic publication
(002 三(五): 定期向社会公开参保、赔付、结算、收支等情况), so the live page shows the figures of
the latest count and says when that was (``as_of``):

* ``huiminbao disclosure refresh`` counts every published product now (run it from cron every
  minute or two; at a million policies one count takes a few seconds);
* a request finding the snapshot older than ``MAX_AGE`` counts again itself. One request at a
  time does so, holding a lease on the row for ``REFRESH_LEASE``; the others keep answering
  with the previous figures meanwhile. (Before a product's first count is stored there is
  nothing to answer with: the first requests count.) With the cron job running, no request
  ever waits for a count.

Nothing is added to enrollment: no counter row is touched when someone enrolls (a single hot
row would serialize the enrollment rush).

Day ends (截至某日)
-------------------
The figures as at the end of each China-time day (``as_of`` = 00:00 Asia/Shanghai of the next
day) are stored once per product per day (``DisclosureDayEnd``) and answered from there: the
cron's ``refresh`` stores the days missing since the product's window opened (a few per run, so
a tick stays short), ``huiminbao disclosure backfill`` a range of days, and a request for a day
end not stored yet counts it (one at a time, like any as-of count) and stores it. Any other
instant is counted on request.

Why a past day's figures never change once the day has ended: every instant the count compares
with ``as_of`` is the instant something was recorded, taken from the clock when it happened and
never written again with an earlier value —

* policies: ``issued_at`` (set when the order is paid and issued) and ``cancelled_at`` (set
  when it is cancelled; active → cancelled is the only transition, so a policy live at ``as_of``
  is one issued by then and not cancelled by then, whatever happens later);
* premium income: the ledger's ``occurred_at``, set by ``ledger.post`` at posting; entries are
  never changed, a refund is a new transaction;
* claims (``claims_figures``): ``created_at`` (received), ``paid_at``/``decided_at`` of paid
  and settled claims (both final statuses), and for the clock the claim's status and latest
  decision *at* ``as_of`` read from its timeline (``claim_events``, written at each change)
  rather than from ``claims.status`` and ``claims.decided_at``, which are today's: a claim
  overdue at the day end and decided the next morning stays overdue in that day's figures, and
  an appeal decided later (which overwrites ``decided_at``) does not move the earlier decision.

Nothing is back-dated, but the instants are taken when a transaction starts, not when it
commits: a policy issued at 23:59:59.9 may commit after midnight. So a day end is counted only
``DAY_END_SETTLE`` after it (far beyond the idle-in-transaction timeout and any statement
limit), and on the primary, not the replica, which may not have replayed the day's last
commits yet. Before that, a request for the day end is counted like any other instant.

Two inputs are not the database's: the insured persons' schemes are the registry's answer when
the day end is counted (the stored figures keep that answer; a recount months later would ask
the registry afresh), and ages and districts follow birth dates and ID numbers, which are not
corrected in place. The stored row is the record of what the day's figures were.
"""

from __future__ import annotations

import threading
import time
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from datetime import time as day_time

from sqlalchemy import or_, select, update
from sqlalchemy.exc import IntegrityError

from huiminbao.catalog.models import Product
from huiminbao.core.clock import CHINA_TZ, to_china_time
from huiminbao.core.container import Container
from huiminbao.core.errors import Busy
from huiminbao.disclosure.figures import Figures, count_figures
from huiminbao.disclosure.models import DisclosureDayEnd, DisclosureSnapshot

# How old the live figures may be before a request counts again.
MAX_AGE = timedelta(minutes=5)
# How long one request's claim to count again keeps the others from counting too (a count that
# failed is retried by a later request after this).
REFRESH_LEASE = timedelta(minutes=2)
# A count holds every insured person's ID number in memory (hundreds of MB at a million): in one
# process, one count of a product at a time, and one count "as of" a stated instant at a time.
# (Across processes the lease above and the rate limits on as_of keep counts rare.)
_FIRST_COUNT: defaultdict[int, threading.Lock] = defaultdict(threading.Lock)
_AS_OF_COUNT = threading.Lock()
AS_OF_BUSY = "正在统计另一个历史时点的数据，请稍后再试"
# How long after a day's end its figures are counted for good: every transaction that took its
# instant before midnight has committed by then (see the module's docstring).
DAY_END_SETTLE = timedelta(minutes=30)
# Day ends ``refresh`` stores per product per run (each a full count: seconds at a million
# policies); the cron's next ticks store the rest.
DAY_ENDS_PER_RUN = 2


def live_figures(c: Container, product_id: int) -> Figures:
    """The product's latest figures: the stored snapshot while it is at most ``MAX_AGE`` old,
    else counted again now (by one request at a time)."""
    row = _stored_row(c, product_id)
    if row is None:
        # Nothing to answer with yet: the first request counts, the others wait for its count.
        with _FIRST_COUNT[product_id]:
            # On the primary: a count that the request we waited for stored a moment ago may
            # not have reached the replica yet.
            row = _stored_row(c, product_id, replica=False)
            if row is None:
                return refresh(c, product_id)
    now = c.clock.now()  # read after any wait: a count stored meanwhile is not from the future
    stored = Figures.from_json(row.as_of, row.figures)
    if row.as_of <= now and now - row.as_of <= MAX_AGE:
        return stored
    if not _claim_refresh(c, product_id, row.as_of, now):
        return stored  # another request is counting: the previous figures meanwhile
    return refresh(c, product_id)


def _stored_row(c: Container, product_id: int, *,
                replica: bool = True) -> DisclosureSnapshot | None:
    """The stored snapshot; from the replica unless asked otherwise (a snapshot a moment old
    there at worst makes this request claim a recount, which ``_claim_refresh`` then refuses
    on the primary when a newer count is stored)."""
    with (c.db.replica_read() if replica else c.db.read()) as session:
        return session.get(DisclosureSnapshot, product_id)


@dataclass(frozen=True)
class AsOf:
    """Figures as of a stated instant, and whether they were the stored day end's (no count)."""

    figures: Figures
    day_end_stored: bool


def day_end(day: date) -> datetime:
    """The instant China-time ``day`` ends: 00:00 Asia/Shanghai of the next day."""
    return datetime.combine(day + timedelta(days=1), day_time(), tzinfo=CHINA_TZ)


def day_ended_at(instant: datetime) -> date | None:
    """The China-time day ``instant`` is the end of, if it is exactly a day end."""
    china = to_china_time(instant)
    if china.timetz().replace(tzinfo=None) != day_time():
        return None
    return china.date() - timedelta(days=1)


def settled(c: Container, day: date) -> bool:
    """Whether ``day`` ended long enough ago for its figures to be counted for good."""
    return day_end(day) + DAY_END_SETTLE <= c.clock.now()


def as_of_figures(c: Container, product_id: int, as_of: datetime) -> AsOf:
    """As of a stated past instant: a day end's stored figures; else counted now, one such
    count at a time in this process (a second request meanwhile is told to come back shortly).
    A settled day end not stored yet is counted and stored."""
    day = day_ended_at(as_of)
    if day is not None:
        stored = stored_day_end(c, product_id, day)
        if stored is not None:
            return AsOf(stored, day_end_stored=True)
    if not _AS_OF_COUNT.acquire(blocking=False):
        raise Busy(AS_OF_BUSY)
    try:
        if day is not None and settled(c, day):
            return AsOf(store_day_end(c, product_id, day), day_end_stored=False)
        return AsOf(count_figures(c, product_id, as_of), day_end_stored=False)
    finally:
        _AS_OF_COUNT.release()


def stored_day_end(c: Container, product_id: int, day: date) -> Figures | None:
    """The stored figures at the end of ``day``, without counting anything."""
    with c.db.replica_read() as session:
        row = session.get(DisclosureDayEnd, (product_id, day))
    return None if row is None else Figures.from_json(row.as_of, row.figures)


def store_day_end(c: Container, product_id: int, day: date) -> Figures:
    """Count the figures at the end of ``day`` (settled, see ``DAY_END_SETTLE``) on the primary
    and store them; a row stored meanwhile by another process is kept (the same figures)."""
    if not settled(c, day):
        raise ValueError(f"day {day} has not ended {DAY_END_SETTLE} ago")
    at = day_end(day)
    started = time.perf_counter()
    figures = count_figures(c, product_id, at, on_primary=True)
    counted_in_ms = round((time.perf_counter() - started) * 1000)
    try:
        with c.db.transaction() as session:
            if session.get(DisclosureDayEnd, (product_id, day)) is None:
                session.add(DisclosureDayEnd(
                    product_id=product_id, day=day, as_of=at, figures=figures.to_json(),
                    counted_in_ms=counted_in_ms, stored_at=c.clock.now()))
    except IntegrityError:
        pass  # stored by another process between the check and the insert
    return figures


def missing_day_ends(c: Container, product: Product, first: date | None = None,
                     last: date | None = None) -> list[date]:
    """Settled days from ``first`` (default: the window's opening) to ``last`` (default: the
    latest settled day) whose figures are not stored, newest first."""
    newest = to_china_time(c.clock.now() - DAY_END_SETTLE).date() - timedelta(days=1)
    first = product.window_opens_on if first is None else first
    last = newest if last is None else min(last, newest)
    if last < first:
        return []
    with c.db.read() as session:
        stored = set(session.scalars(
            select(DisclosureDayEnd.day).where(DisclosureDayEnd.product_id == product.id,
                                               DisclosureDayEnd.day >= first,
                                               DisclosureDayEnd.day <= last)))
    days = (last - first).days + 1
    return [day for day in (last - timedelta(days=n) for n in range(days)) if day not in stored]


def store_missing_day_ends(c: Container, product: Product, limit: int | None,
                           first: date | None = None, last: date | None = None
                           ) -> Sequence[date]:
    """Store up to ``limit`` (None: all) missing day ends of the product, newest first."""
    days = missing_day_ends(c, product, first, last)
    if limit is not None:
        days = days[:limit]
    for day in days:
        store_day_end(c, product.id, day)
    return days


def refresh(c: Container, product_id: int) -> Figures:
    """Count the product's figures now and store them as its snapshot."""
    at = c.clock.now()
    started = time.perf_counter()
    figures = count_figures(c, product_id, at)
    _store(c, product_id, figures, round((time.perf_counter() - started) * 1000))
    return figures


def stored_figures(c: Container, product_id: int) -> tuple[Figures, int] | None:
    """The stored snapshot and how long its count took (ms), without counting anything."""
    with c.db.replica_read() as session:
        row = session.get(DisclosureSnapshot, product_id)
    if row is None:
        return None
    return Figures.from_json(row.as_of, row.figures), row.counted_in_ms


def _claim_refresh(c: Container, product_id: int, seen_as_of: datetime, now: datetime) -> bool:
    """Take the lease to count again, unless someone holds it or has stored newer figures."""
    with c.db.transaction() as session:
        claimed = session.execute(
            update(DisclosureSnapshot)
            .where(DisclosureSnapshot.product_id == product_id,
                   DisclosureSnapshot.as_of == seen_as_of,
                   or_(DisclosureSnapshot.refresh_claimed_at.is_(None),
                       DisclosureSnapshot.refresh_claimed_at < now - REFRESH_LEASE,
                       DisclosureSnapshot.refresh_claimed_at > now))
            .values(refresh_claimed_at=now)
            .execution_options(synchronize_session=False)
        )
        return bool(getattr(claimed, "rowcount", 0) == 1)


def _store(c: Container, product_id: int, figures: Figures, counted_in_ms: int) -> None:
    """Replace the snapshot, unless a newer one is stored already; clears the lease."""
    for attempt in (1, 2):
        try:
            with c.db.transaction() as session:
                row = session.scalars(
                    select(DisclosureSnapshot)
                    .where(DisclosureSnapshot.product_id == product_id)
                    .with_for_update()
                ).one_or_none()
                if row is None:
                    session.add(DisclosureSnapshot(
                        product_id=product_id, as_of=figures.as_of, figures=figures.to_json(),
                        counted_in_ms=counted_in_ms, refresh_claimed_at=None))
                elif row.as_of <= figures.as_of or row.as_of > c.clock.now():  # (clock set back)
                    row.as_of, row.figures = figures.as_of, figures.to_json()
                    row.counted_in_ms, row.refresh_claimed_at = counted_in_ms, None
            return
        except IntegrityError:
            # Two first counts of one product inserted at once; the second pass updates.
            if attempt == 2:
                raise
