"""Identity resolution on a small world with known persons and shared identifiers."""

from __future__ import annotations

import pytest

from parcours.identity import events_with_profiles, resolve
from tests.identity import world


def _profile_sets(ws, zone="raw"):
    m = ws.lake.read("energie", zone, "identity_map").to_pylist()
    linked = {}
    for r in m:
        if r["status"] == "linked":
            linked.setdefault(r["profile_id"], set()).add((r["id_type"], r["identifier"]))
    return linked, m


@pytest.fixture()
def resolved(workspace):
    world.build(workspace)
    result = resolve(workspace, "energie")
    return workspace, result


def test_persons_recovered_and_shared_identifiers_cut(resolved):
    ws, result = resolved
    linked, rows = _profile_sets(ws)
    by_ident = {i: pid for pid, ids in linked.items() for i in ids}
    for person, idents in world.PERSONS.items():
        pids = {by_ident[i] for i in idents}
        assert len(pids) == 1, (person, pids)
    persons_pids = [by_ident[world.PERSONS[p][0]] for p in world.PERSONS]
    assert len(set(persons_pids)) == len(world.PERSONS)  # nobody merged with anybody
    shared = {(r["id_type"], r["identifier"]) for r in rows if r["status"] == "shared"}
    assert set(world.SHARED) <= shared
    tablet = {r["profile_id"] for r in rows if r["identifier"] == "a-household-tablet"}
    assert tablet == {by_ident[("user_id", "C001")], by_ident[("user_id", "C002")]}
    assert result.shared_identifiers == 2
    assert result.profiles == len(world.PERSONS) + 1  # + the not-yet-aliased app install


def test_zones_share_profile_ids(resolved):
    ws, _ = resolved
    raw, _ = _profile_sets(ws, "raw")
    ana, _ = _profile_sets(ws, "analytics")
    assert set(raw) == set(ana)
    assert {pid: len(v) for pid, v in raw.items()} == {pid: len(v) for pid, v in ana.items()}
    assert all(v.startswith("px") for ids in ana.values() for _, v in ids)


def test_events_with_profiles(resolved):
    ws, _ = resolved
    ev = events_with_profiles(ws, "energie", zone="raw").to_pyarrow().to_pylist()
    linked, _ = _profile_sets(ws)
    by_ident = {i: pid for pid, ids in linked.items() for i in ids}
    anne = by_ident[("user_id", "C001")]
    assert sum(1 for e in ev if e["profile_id"] == anne) == 4
    # the tablet's anonymous page view belongs to nobody
    anon_tablet = [e for e in ev if e["anonymous_id"] == "a-household-tablet" and not e["user_id"]]
    assert len(anon_tablet) == 1 and anon_tablet[0]["profile_id"] is None


def test_profile_traits_and_attributes(resolved):
    import json

    ws, _ = resolved
    linked, _ = _profile_sets(ws)
    by_ident = {i: pid for pid, ids in linked.items() for i in ids}
    profiles = {r["profile_id"]: r for r in ws.lake.read("energie", "raw", "profiles").to_pylist()}
    bruno = profiles[by_ident[("user_id", "C002")]]
    traits = json.loads(bruno["traits"])
    # CRM wins over identify traits; identify fills what the CRM lacks
    assert traits["firstName"] == "Bruno" and traits["lastName"] == "Petit"
    assert traits["phone"] == "+33 6 11 22 33 44"
    anne = profiles[by_ident[("user_id", "C001")]]
    a = json.loads(anne["attributes"])
    assert a["events"] == anne["events"] == 4
    assert a["events_per_channel"] == {"web": 4}
    assert a["last_seen"].startswith("2025-03-01T09:10")
    ana = {r["profile_id"]: r for r in ws.lake.read("energie", "analytics", "profiles").to_pylist()}
    assert json.loads(ana[anne["profile_id"]]["traits"])["email"].startswith("px")
