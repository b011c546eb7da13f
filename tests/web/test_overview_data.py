"""The Overview figures against a world whose every count is known."""

from __future__ import annotations

from parcours.web.pages import cache
from parcours.web.pages.overview_data import overview


def test_overview_counts_exact(small_world):
    cache.clear()
    ov = overview(small_world, "energie")
    assert ov.events == 9
    assert ov.customers == 3
    assert ov.profiles is None  # identity resolution has not run in this world
    assert {c["channel"]: c["events"] for c in ov.channels} == {"web": 5, "app": 2, "call_center": 2}
    per_day = {}
    for day, channel, n in ov.daily:
        per_day[(day.isoformat(), channel)] = n
    assert per_day == {
        ("2026-03-02", "web"): 2,
        ("2026-03-03", "call_center"): 1, ("2026-03-03", "web"): 1, ("2026-03-03", "app"): 1,
        ("2026-03-04", "app"): 1, ("2026-03-04", "web"): 2, ("2026-03-04", "call_center"): 1,
    }
    assert ov.quarantined == 2
    assert ov.quarantine == [{"source": "http", "reason": "missing timestamp", "count": 2}]
    assert ov.last_event.isoformat() == "2026-03-04T09:08:00+00:00"
    loads = {(r["table"], r["rows"]) for r in ov.loads}
    assert ("events", 9) in loads and ("customers", 3) in loads


def test_overview_cache_follows_table_version(small_world):
    cache.clear()
    first = overview(small_world, "energie")
    assert overview(small_world, "energie") is first  # unchanged lake: from the cache
    from tests.web.conftest import T0, events_table

    small_world.write("energie", "events", events_table(
        [{"message_id": "late", "channel": "email", "user_id": "C1", "event": "open", "timestamp": T0}]
    ))
    again = overview(small_world, "energie")
    assert again is not first
    assert again.events == 10
    assert {c["channel"] for c in again.channels} == {"web", "app", "call_center", "email"}
