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
"""

from __future__ import annotations

import threading
import time
from collections import defaultdict
from datetime import datetime, timedelta

from sqlalchemy import or_, select, update
from sqlalchemy.exc import IntegrityError

from huiminbao.core.container import Container
from huiminbao.core.errors import Busy
from huiminbao.disclosure.figures import Figures, count_figures
from huiminbao.disclosure.models import DisclosureSnapshot

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


def as_of_figures(c: Container, product_id: int, as_of: datetime) -> Figures:
    """Counted now for a stated past instant (never stored): one such count at a time in this
    process; a second request meanwhile is told to come back shortly."""
    if not _AS_OF_COUNT.acquire(blocking=False):
        raise Busy(AS_OF_BUSY)
    try:
        return count_figures(c, product_id, as_of)
    finally:
        _AS_OF_COUNT.release()


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
