"""The profiles step's pre-aggregated inputs give what one row per event gives."""

from __future__ import annotations

import json

import pytest

from parcours.identity.attributes import activity, identify_events, profile_events, traits


@pytest.mark.parametrize("tenant", ["energie", "fidelite"])
@pytest.mark.parametrize("zone", ["raw", "analytics"])
def test_activity_from_aggregates_equals_activity_from_events(demo_resolved_ws, tenant, zone):
    ws = demo_resolved_ws
    fast = activity(ws, tenant, zone).sort_by("profile_id")
    reference = activity(ws, tenant, zone, profile_events(ws, tenant, zone)).sort_by("profile_id")
    assert fast.num_rows == reference.num_rows > 100
    assert fast.to_pylist() == reference.to_pylist()
    # the figures are real ones: event counts add up to the events that have a profile,
    # and some profiles have several channels, a call-center contact
    parsed = [json.loads("{" + a + "}") for a in fast.column("activity").to_pylist()]
    assert sum(fast.column("events").to_pylist()) == profile_events(ws, tenant, zone).count().execute()
    assert any(len(p["channels"]) > 1 for p in parsed)
    if tenant == "energie":
        assert any(p["last_call_center_contact"] for p in parsed)
        assert any(p["open_complaints"] > 0 for p in parsed)


@pytest.mark.parametrize("zone", ["raw", "analytics"])
def test_traits_from_identify_calls_equal_traits_from_events(demo_resolved_ws, zone):
    ws = demo_resolved_ws
    fast = traits(ws, "energie", zone, identify_events(ws, "energie", zone))
    reference = traits(ws, "energie", zone, profile_events(ws, "energie", zone))
    assert fast.num_rows > 100
    assert fast.to_pylist() == reference.to_pylist()


def test_profiles_hold_the_reference_activity(demo_resolved_ws):
    ws = demo_resolved_ws
    reference = activity(ws, "energie", "raw", profile_events(ws, "energie", "raw"))
    want = {r["profile_id"]: json.loads("{" + r["activity"] + "}") for r in reference.to_pylist()}
    prof = ws.table("energie", "profiles", "raw").to_pyarrow().to_pylist()
    got = {r["profile_id"]: json.loads(r["attributes"]) for r in prof if r["merged_into"] is None}
    assert want.keys() <= got.keys()
    for pid, attrs in want.items():
        assert {k: attrs[k] for k in attrs} == {k: got[pid][k] for k in attrs}, pid
