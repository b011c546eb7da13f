"""The demo world: determinism, channels, and planted truth recovered independently."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest

import parcours
from parcours.demo import DemoError, build_demo
from tests.demo.helpers import events_by_person, persons, raw, sequence_lift, truth

ENERGIE_CHANNELS = {"web", "app", "call_center", "email", "advisor", "complaint", "social",
                    "contract", "billing", "meter"}


def test_same_seed_same_world_and_rebuild_replaces(tmp_path):
    calls: list[tuple[str, int, int]] = []
    a = build_demo(parcours.init(tmp_path / "a"), customers=150, seed=3,
                   progress=lambda step, done, total: calls.append((step, done, total)))
    finished = {step for step, done, total in calls if done == total}
    assert {"energie: events", "energie: load curves", "fidelite: transactions", "fidelite: events"} <= finished
    assert "energie" in a.describe() and "planted churn" in a.describe()
    ws_b = parcours.init(tmp_path / "b")
    b = build_demo(ws_b, customers=150, seed=3)
    assert a.counts == b.counts
    assert a.truth == b.truth
    ta = json.loads((tmp_path / "a" / "demo" / "truth.json").read_text())
    tb = json.loads((tmp_path / "b" / "demo" / "truth.json").read_text())
    assert ta == tb
    for name in ("persons_energie", "persons_fidelite", "verbatim_pii_energie", "campaign_fidelite"):
        assert pq.read_table(tmp_path / "a" / "demo" / f"{name}.parquet").equals(
            pq.read_table(tmp_path / "b" / "demo" / f"{name}.parquet")), name
    for tenant, table in (("energie", "events"), ("fidelite", "transactions"), ("energie", "meter_readings")):
        key = "message_id" if table == "events" else ("transaction_id" if table == "transactions" else "ts")
        ea = parcours.open(tmp_path / "a").lake.read(tenant, "raw", table).sort_by([(key, "ascending")] if key != "ts" else [("site_id", "ascending"), ("ts", "ascending")])
        eb = ws_b.lake.read(tenant, "raw", table).sort_by([(key, "ascending")] if key != "ts" else [("site_id", "ascending"), ("ts", "ascending")])
        if table == "transactions":
            ea, eb = ea.sort_by([("transaction_id", "ascending"), ("line_no", "ascending")]), eb.sort_by([("transaction_id", "ascending"), ("line_no", "ascending")])
        assert ea.equals(eb), table
    # another seed, another world; rebuilding in place replaces the tenants' tables
    c = build_demo(ws_b, customers=150, seed=4)
    assert c.truth != a.truth
    assert ws_b.lake.info("energie", "raw", "events").rows == c.counts["energie"]["events"]
    assert ws_b.lake.info("fidelite", "analytics", "transactions").rows == c.counts["fidelite"]["transactions"]


def test_bad_size_is_a_clear_error(tmp_path):
    with pytest.raises(DemoError, match="customers must be"):
        build_demo(parcours.init(tmp_path / "w"), customers=5)


def test_every_energie_channel_present(demo_ws):
    channels = raw(demo_ws, "energie", "events", ["channel"]).channel.value_counts()
    assert set(channels.index) >= ENERGIE_CHANNELS, channels
    assert (channels[list(ENERGIE_CHANNELS)] > 0).all()


def test_segment_call_types_and_analytics_zone_pseudonymized(demo_ws):
    types = set(raw(demo_ws, "energie", "events", ["type"]).type)
    assert {"track", "page", "screen", "identify", "alias"} <= types
    ana = demo_ws.lake.read("energie", "analytics", "events", columns=["user_id"]).column("user_id")
    values = [v for v in ana.to_pylist() if v is not None]
    assert values and all(v.startswith("px") for v in values)


def test_fidelite_tables_present(demo_ws):
    t = truth(demo_ws)["fidelite"]
    tx = raw(demo_ws, "fidelite", "transactions", ["transaction_id", "amount_eur", "card_id"])
    assert len(tx) > 50 * t["customers"]  # bulk volume: basket lines
    assert (tx.amount_eur > 0).all()
    cards = raw(demo_ws, "fidelite", "cards", ["card_id"])
    assert set(tx.card_id) <= set(cards.card_id)
    coupons = raw(demo_ws, "fidelite", "coupons", ["card_id", "campaign_id"])
    red = raw(demo_ws, "fidelite", "redemptions", ["coupon_id", "transaction_id"])
    assert len(coupons) == t["campaign"]["treated_cards"]
    assert len(red) >= t["campaign"]["redeemed_cards"]
    assert set(red.transaction_id) <= set(tx.transaction_id)
    channels = set(raw(demo_ws, "fidelite", "events", ["channel"]).channel)
    assert {"web", "app", "store", "email", "call_center"} <= channels


@pytest.mark.parametrize("tenant", ["energie", "fidelite"])
@pytest.mark.parametrize("which", ["churn", "call"])
def test_planted_sequence_lift_recovered(demo_ws, tenant, which):
    planted = truth(demo_ws)[tenant][which]
    assert len(planted["sequence"]) == 3 and planted["lookback_days"] == 30
    ev = events_by_person(demo_ws, tenant)
    assert ev.person_id.notna().all()  # every event belongs to a known person
    got = sequence_lift(ev, planted["target"], planted["sequence"], planted["lookback_days"])
    assert got["positives"] == planted["positives"]
    assert got["negatives"] == planted["negatives"]
    assert got["lift"] == pytest.approx(planted["lift"], rel=0.10)
    assert planted["lift"] > 5  # a real signal, not noise


def test_sequence_steps_are_not_trivially_tied_to_target(demo_ws):
    """Steps also occur alone (noise), so a step is not the target in disguise."""
    planted = truth(demo_ws)["energie"]["churn"]
    ev = events_by_person(demo_ws, "energie")
    step1 = set(ev[ev.event == planted["sequence"][0]].person_id)
    with_target = set(ev[ev.event == planted["target"]].person_id)
    assert len(step1 - with_target) > planted["negatives_with_sequence"]


def test_site_gradients_recoverable_by_least_squares(demo_ws):
    t = truth(demo_ws)["energie"]
    readings = raw(demo_ws, "energie", "meter_readings", ["site_id", "ts", "kwh"])
    readings["date"] = readings.ts.dt.tz_convert("UTC").dt.date
    daily = readings.groupby(["site_id", "date"], as_index=False).kwh.sum()
    sites = raw(demo_ws, "energie", "sites", ["site_id", "region", "kind"])
    weather = raw(demo_ws, "energie", "weather", ["region", "date", "temp_mean_c"])
    daily = daily.merge(sites, on="site_id").merge(weather, on=["region", "date"])
    daily["dd"] = np.maximum(0.0, t["degree_day_base_c"] - daily.temp_mean_c)
    daily["weekend"] = pd.to_datetime(daily.date).dt.dayofweek >= 5
    anomalous = {a["site_id"] for a in t["anomalies"]}
    expected = {s["site_id"]: s for s in t["sites"]}
    assert len(expected) >= 12 and len(anomalous) >= 3
    rel_errors = []
    for site_id, g in daily.groupby("site_id"):
        if site_id in anomalous:
            continue
        weekend = g.weekend.to_numpy() & (g.kind.to_numpy() == "business")
        x = np.column_stack([np.ones(len(g)), g.dd.to_numpy(), weekend])
        (base, grad, _), *_ = np.linalg.lstsq(x, g.kwh.to_numpy(), rcond=None)
        want = expected[site_id]
        # tolerance: 10 % of the planted gradient plus 0.1 kWh/DD for nearly flat (gas-heated) sites
        assert abs(grad - want["heating_gradient_kwh_per_degree_day"]) <= (
            0.10 * want["heating_gradient_kwh_per_degree_day"] + 0.1), site_id
        assert base == pytest.approx(want["base_load_kwh_per_day"], rel=0.05), site_id
        rel_errors.append(abs(grad / want["heating_gradient_kwh_per_degree_day"] - 1))
    assert np.median(rel_errors) < 0.03


def test_planted_anomalies_visible(demo_ws):
    t = truth(demo_ws)["energie"]
    readings = raw(demo_ws, "energie", "meter_readings", ["site_id", "ts", "kwh"])
    for a in t["anomalies"]:
        r = readings[readings.site_id == a["site_id"]]
        inside = (r.ts >= pd.Timestamp(a["start"])) & (r.ts < pd.Timestamp(a["end"]))
        before = r[~inside & (r.ts < pd.Timestamp(a["start"]))].kwh.mean()
        if a["kind"] == "zero":
            assert (r[inside].kwh == 0).all() and before > 0
        elif a["kind"] == "spike":
            assert r[inside].kwh.mean() > 3 * before
        else:
            assert r[inside].kwh.mean() > 1.3 * r[r.ts < pd.Timestamp(a["start"])].kwh.mean() * 0.8


def test_campaign_control_group_is_random_and_uplift_recovered(demo_ws):
    c = truth(demo_ws)["fidelite"]["campaign"]
    groups = pq.read_table(demo_ws.path / c["treated"]).to_pandas()
    assert (groups.group == "treated").sum() == c["treated_cards"]
    assert (groups.group == "control").sum() == c["control_cards"]
    tx = raw(demo_ws, "fidelite", "transactions", ["card_id", "ts", "category", "amount_eur"])
    day = tx.ts.dt.tz_convert("UTC").dt.strftime("%Y-%m-%d")

    def per_card(mask: pd.Series) -> pd.Series:
        spend = tx[mask].groupby("card_id").amount_eur.sum()
        return groups.set_index("card_id").assign(spend=spend).spend.fillna(0.0)

    pre = per_card((day >= c["pre_period"]["start"]) & (day <= c["pre_period"]["end"]))
    g = groups.set_index("card_id").group
    t_pre, c_pre = pre[g == "treated"], pre[g == "control"]
    se_pre = np.sqrt(t_pre.var() / len(t_pre) + c_pre.var() / len(c_pre))
    assert abs(t_pre.mean() - c_pre.mean()) < 3 * se_pre  # randomized: no pre-period gap
    assert abs(t_pre.mean() / c_pre.mean() - 1) < 0.08
    win = per_card((tx.category == c["category"]) & (day >= c["window_start"]) & (day <= c["window_end"]))
    diff = win[g == "treated"].mean() - win[g == "control"].mean()
    assert diff == pytest.approx(c["observed_difference_eur_per_card"], abs=1e-3)
    assert abs(diff - c["true_uplift_eur_per_card"]) < 3 * c["standard_error_eur"]
    assert c["true_uplift_eur_per_card"] > 4 * c["standard_error_eur"]  # detectable


@pytest.mark.parametrize("tenant", ["energie", "fidelite"])
def test_persons_match_the_lake_and_are_resolvable(demo_ws, tenant):
    """Every identifier in persons is in the raw zone, and linking identifiers that appear
    together (same CRM row, same identify call…) — except the deliberately shared ones —
    rebuilds exactly the true persons (pairwise precision and recall 1)."""
    t = truth(demo_ws)[tenant]
    p = persons(demo_ws, tenant)
    assert not p.duplicated(["id_type", "identifier"]).any()
    shared = {(s["id_type"], s["identifier"]) for s in t["shared_identifiers"]}
    assert shared and all(s["persons"] >= 2 for s in t["shared_identifiers"])
    edges = _raw_edges(demo_ws, tenant)
    seen = {n for e in edges for n in e}
    in_lake = {(a, b) for a, b in zip(p.id_type, p.identifier, strict=True)}
    missing = in_lake - seen
    assert not missing, sorted(missing)[:5]
    assert shared <= seen  # the shared identifiers are really in the data
    parent: dict[tuple[str, str], tuple[str, str]] = {}

    def find(x):
        parent.setdefault(x, x)
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    for a, b in edges:
        if a in shared or b in shared:
            continue
        parent[find(a)] = find(b)
    truth_of = dict(zip(zip(p.id_type, p.identifier, strict=True), p.person_id, strict=True))
    comp = {k: find(k) for k in truth_of}
    # each true person is one component, and each component holds one true person
    assert pd.Series(comp).groupby(pd.Series(truth_of)).nunique().max() == 1
    assert pd.Series(truth_of).groupby(pd.Series(comp)).nunique().max() == 1
    # the shared identifiers would wrongly merge persons
    merged = {}
    for a, b in edges:
        for s, o in ((a, b), (b, a)):
            if s in shared and o in truth_of:
                merged.setdefault(s, set()).add(truth_of[o])
    assert all(len(v) >= 2 for v in merged.values()) and len(merged) == len(shared)


def _raw_edges(ws, tenant) -> list[tuple[tuple[str, str], tuple[str, str]]]:
    """Pairs of identifiers seen together in one raw-zone row."""
    edges: list[tuple[tuple[str, str], tuple[str, str]]] = []

    def link(df: pd.DataFrame, a: str, a_type: str, b: str, b_type: str) -> None:
        sub = df[[a, b]].dropna()
        edges.extend(((a_type, x), (b_type, y)) for x, y in zip(sub[a], sub[b], strict=True))

    cust = raw(ws, tenant, "customers")
    for col, typ in (("email", "email"), ("phone", "phone"), ("iban", "iban")):
        link(cust, "customer_number", "customer_number", col, typ)
    if tenant == "energie":
        link(raw(ws, tenant, "sites"), "customer_number", "customer_number", "meter_point", "meter_point")
        link(raw(ws, tenant, "payments"), "customer_number", "customer_number", "iban", "iban")
    else:
        link(raw(ws, tenant, "cards"), "customer_number", "customer_number", "card_id", "card_id")
    ev = raw(ws, tenant, "events", ["user_id", "anonymous_id", "previous_id", "traits"])
    # events.user_id holds the CRM customer number (docs/demo.md): same value, same customer
    edges.extend((("user_id", u), ("customer_number", u)) for u in ev.user_id.dropna().unique())
    link(ev, "user_id", "user_id", "anonymous_id", "anonymous_id")
    link(ev, "user_id", "user_id", "previous_id", "anonymous_id")
    keys = {"email": "email", "phone": "phone", "customerNumber": "customer_number", "cardId": "card_id"}
    tr = ev.dropna(subset=["traits", "user_id"])
    for uid, text in zip(tr.user_id, tr.traits, strict=True):
        for k, v in json.loads(text).items():
            if k in keys:
                edges.append((("user_id", uid), (keys[k], v)))
    ver = raw(ws, tenant, "verbatims", ["user_id", "author", "channel"])
    link(ver, "user_id", "user_id", "author", "social_handle")  # social handles and advisor ids
    return edges
