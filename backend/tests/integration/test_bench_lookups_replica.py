"""``huiminbao bench lookups --replica`` at a small size: on its own primary and hot standby
(``huiminbao_bench.replica``), each lookup is served where the app routes it, as the servers
count it (``pg_stat_database`` transactions of the benchmark's database on each)."""

from __future__ import annotations

import pytest

from huiminbao_bench import lookups
from huiminbao_bench.replica import PairUnavailable

pytestmark = pytest.mark.postgres

# Routed to the replica (README, production topology): read there, and nothing else read there.
ON_THE_REPLICA = ("policy_list", "disclosure_json", "disclosure_csv", "as_of_day_end",
                  "disclosure_count", "as_of_counted")
# Public pages that read nothing but the replica (no session, no count to store).
ONLY_ON_THE_REPLICA = ("disclosure_json", "disclosure_csv", "as_of_day_end")
# Reads that must see the caller's own write, and a day end's count stored for good.
ON_THE_PRIMARY = ("person_row", "registry_person", "one_policy", "day_end_store")


def test_the_lookups_on_a_replica_pair_are_served_where_the_app_routes_them() -> None:
    lines: list[str] = []
    try:
        report = lookups.run(persons=2_000, samples=5, database_url="", keep_database=False,
                             echo=lines.append, replica=True)
    except PairUnavailable as exc:
        pytest.skip(str(exc))
    found = report.by_key()
    assert set(found) == {*ON_THE_REPLICA, *ON_THE_PRIMARY}, lines
    served = {key: lookup.served for key, lookup in found.items()}
    for key in ON_THE_REPLICA:
        counted = served[key]
        assert counted is not None and counted.replica >= counted.lookups, (key, counted)
    for key in ONLY_ON_THE_REPLICA:
        counted = served[key]
        assert counted is not None and counted.primary == 0, (key, counted)
    for key in ON_THE_PRIMARY:
        counted = served[key]
        assert counted is not None, key
        assert counted.replica == 0 and counted.primary >= counted.lookups, (key, counted)
    # The policy list's session is checked on the primary (a logout there ends it at once).
    policy_list = served["policy_list"]
    assert policy_list is not None and policy_list.primary >= policy_list.lookups
    assert any("served by: replica" in line for line in lines), lines
