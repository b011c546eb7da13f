"""Stable ids, merges and late aliases."""

from __future__ import annotations

import datetime as dt

from parcours.identity import events_with_profiles, resolve
from tests.identity import world

RUN1 = dt.datetime(2025, 4, 1, tzinfo=dt.UTC)
RUN2 = dt.datetime(2025, 4, 2, tzinfo=dt.UTC)
RUN3 = dt.datetime(2025, 4, 3, tzinfo=dt.UTC)


def _pid(ws, id_type, value, zone="raw"):
    m = ws.lake.read("energie", zone, "identity_map").to_pylist()
    hits = {r["profile_id"] for r in m if r["status"] == "linked"
            and r["id_type"] == id_type and r["identifier"] == value}
    assert len(hits) == 1, hits
    return hits.pop()


def test_late_alias_moves_past_events_without_reload(workspace):
    ws = workspace
    world.build(ws)
    resolve(ws, "energie", run_at=RUN1)
    anne = _pid(ws, "user_id", "C001")
    app = _pid(ws, "anonymous_id", "a-anne-2")
    assert anne != app
    ev = events_with_profiles(ws, "energie", zone="raw")
    before = ev.filter(ev.profile_id == anne).count().to_pyarrow().as_py()
    app_events = ev.filter(ev.profile_id == app).count().to_pyarrow().as_py()
    assert (before, app_events) == (4, 1)
    events_version = ws.lake.version("energie", "raw", "events")

    # a month later the app install is aliased to Anne's account
    ws.write("energie", "events", world.events_table([
        world.event(type="alias", previous_id="a-anne-2", user_id="C001", minutes=60 * 24 * 30)
    ]))
    result = resolve(ws, "energie", run_at=RUN2)
    assert result.incremental
    # Anne's profile is older (created at RUN1 like the app's, smaller id wins the tie or
    # it is older): the survivor is one of the two, the other is recorded as merged into it
    survivor = _pid(ws, "user_id", "C001")
    assert _pid(ws, "anonymous_id", "a-anne-2") == survivor
    assert survivor in {anne, app}
    loser = ({anne, app} - {survivor}).pop()
    profiles = {r["profile_id"]: r for r in ws.lake.read("energie", "raw", "profiles").to_pylist()}
    assert profiles[loser]["merged_into"] == survivor
    assert profiles[survivor]["merged_into"] is None
    assert result.merges == [(loser, survivor)]
    ev = events_with_profiles(ws, "energie", zone="raw")
    after = ev.filter(ev.profile_id == survivor).count().to_pyarrow().as_py()
    assert after == before + app_events + 1  # past events and the alias call itself
    # nothing was rewritten: only the alias was appended to the events table
    assert ws.lake.version("energie", "raw", "events") == events_version + 1


def test_older_profile_survives_and_unrelated_data_keeps_ids(workspace):
    ws = workspace
    world.build(ws)
    resolve(ws, "energie", run_at=RUN1)
    ids_before = {p: _pid(ws, *world.PERSONS[p][0]) for p in world.PERSONS}
    # a newcomer appears, then later links to the app install created at RUN1
    ws.write("energie", "events", world.events_table([
        world.event(type="identify", user_id="C009", anonymous_id="a-new-1", minutes=500)
    ]))
    resolve(ws, "energie", run_at=RUN2)
    newcomer = _pid(ws, "user_id", "C009")
    assert {p: _pid(ws, *world.PERSONS[p][0]) for p in world.PERSONS} == ids_before
    app = _pid(ws, "anonymous_id", "a-anne-2")
    ws.write("energie", "events", world.events_table([
        world.event(user_id="C009", anonymous_id="a-anne-2", minutes=600)
    ]))
    resolve(ws, "energie", run_at=RUN3)
    assert _pid(ws, "user_id", "C009") == app  # the RUN1 profile is older than the RUN2 one
    profiles = {r["profile_id"]: r for r in ws.lake.read("energie", "raw", "profiles").to_pylist()}
    assert profiles[newcomer]["merged_into"] == app
    assert {p: _pid(ws, *world.PERSONS[p][0]) for p in world.PERSONS} == ids_before
