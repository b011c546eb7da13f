"""Precursor sequences: exact counts on hand-made logs, a brute-force reference on random
logs, the demo world's planted sequences, DuckDB/Spark parity and input errors."""

from __future__ import annotations

import datetime as dt
import itertools
import json
import math
import random
from collections import Counter

import ibis
import pyarrow as pa
import pytest

from parcours.journeys import JourneysError
from parcours.journeys.errors import InvalidDurationError
from parcours.journeys.precursors import (
    UnknownTargetError,
    _log_fisher_greater,
    _mine_local,
    _window_events,
    benjamini_hochberg,
    mine,
    odds_ratio_ci,
    precursors,
)
from tests.journeys.logs import SCHEMA, T0

Z95 = 1.959963984540054


def log(rows: list[tuple[str, dt.datetime, str]], channel: str = "web") -> pa.Table:
    """A journey events table from (profile, time, event) rows."""
    return pa.table({
        "profile_id": [r[0] for r in rows],
        "ts": [r[1] for r in rows],
        "event": [r[2] for r in rows],
        "channel": [channel] * len(rows),
        "type": ["track"] * len(rows),
        "properties": ["{}"] * len(rows),
    }, schema=SCHEMA)


def day(n: float) -> dt.datetime:
    return T0 + dt.timedelta(days=n)


def by_sequence(res) -> dict[tuple[str, ...], dict]:
    return {tuple(r["sequence"]): r for r in res.table.to_pylist()}


# -- (1) a hand-made log with every count worked out ---------------------------------------
# look-back 10 days, target T.
# positives (window = [first T - 10d, first T)):
#   p1: a b c, T, T again later       -> a b c | ab ac bc | abc
#   p2: b a c, T                       -> a b c | ba ac bc | bac
#   p3: a at -11d (out), b at exactly -10d (in: the start is inclusive), c -> b c | bc
#   p4: T is the first event           -> empty window
#   p5: a and b at the same instant    -> a b, no pair (later means strictly later)
# controls (window = [last - 10d, last)):
#   n1: a b, then x as the last event  -> a b | ab (the last event itself is out)
#   n2: c a b, then z                  -> a b c | ca cb ab | cab
#   n3: a at -20d, z                   -> empty window
#   n4: a a, then y                    -> a | aa
HAND = log([
    ("p1", day(1), "a"), ("p1", day(2), "b"), ("p1", day(3), "c"), ("p1", day(5), "T"),
    ("p1", day(8), "T"), ("p1", day(9), "a"),
    ("p2", day(1), "b"), ("p2", day(2), "a"), ("p2", day(3), "c"), ("p2", day(4), "T"),
    ("p3", day(4), "a"), ("p3", day(5), "b"), ("p3", day(7), "c"), ("p3", day(15), "T"),
    ("p4", day(1), "T"), ("p4", day(2), "a"), ("p4", day(3), "b"),
    ("p5", day(1), "a"), ("p5", day(1), "b"), ("p5", day(2), "T"),
    ("n1", day(1), "a"), ("n1", day(2), "b"), ("n1", day(3), "x"),
    ("n2", day(1), "c"), ("n2", day(2), "a"), ("n2", day(3), "b"), ("n2", day(4), "z"),
    ("n3", day(0), "a"), ("n3", day(20), "z"),
    ("n4", day(1), "a"), ("n4", day(2), "a"), ("n4", day(3), "y"),
])
# sequence: (positive windows, control windows)
HAND_SUPPORT = {
    ("a",): (3, 3), ("b",): (4, 2), ("c",): (3, 1),
    ("a", "b"): (1, 2), ("b", "a"): (1, 0), ("a", "c"): (2, 0), ("b", "c"): (3, 0),
    ("a", "b", "c"): (1, 0), ("b", "a", "c"): (1, 0),
}


def test_hand_made_log_exact_supports_and_statistics():
    res = precursors(ibis.memtable(HAND), target="T", lookback="10d", min_support=1)
    got = by_sequence(res)
    # only sequences held by a positive window are reported (x, y, z, ca, aa, cab are not)
    assert {s: (r["support_target"], r["support_control"]) for s, r in got.items()} == HAND_SUPPORT
    assert res.extra["targets"] == 5 and res.extra["controls"] == 4
    assert res.extra["tested"] == 9
    b = got[("b",)]
    assert (b["targets"], b["controls"], b["length"]) == (5, 4, 1)
    assert b["rate_target"] == pytest.approx(4 / 5) and b["rate_control"] == pytest.approx(2 / 4)
    assert b["lift"] == pytest.approx((4 / 5) / (2 / 4))
    # 2x2 table [[4, 1], [2, 2]]: no zero cell, plain odds ratio and Woolf interval
    se = math.sqrt(1 / 4 + 1 / 1 + 1 / 2 + 1 / 2)
    assert b["odds_ratio"] == pytest.approx(4 * 2 / (1 * 2))
    assert b["ci_low"] == pytest.approx(math.exp(math.log(4) - Z95 * se))
    assert b["ci_high"] == pytest.approx(math.exp(math.log(4) + Z95 * se))
    # one-sided Fisher: P(X >= 4), X ~ hypergeometric(9 windows, 6 holding it, 5 positives)
    p_b = (math.comb(6, 4) * math.comb(3, 1) + math.comb(6, 5) * math.comb(3, 0)) / math.comb(9, 5)
    assert b["p_value"] == pytest.approx(p_b)
    # a -> c: no control window holds it -> lift null, Haldane-corrected odds ratio
    ac = got[("a", "c")]
    assert ac["rate_control"] == 0.0 and ac["lift"] is None
    cells = [2.5, 3.5, 0.5, 4.5]
    or_ac = cells[0] * cells[3] / (cells[1] * cells[2])
    se = math.sqrt(sum(1 / x for x in cells))
    assert ac["odds_ratio"] == pytest.approx(or_ac)
    assert (ac["ci_low"], ac["ci_high"]) == pytest.approx(
        (or_ac * math.exp(-Z95 * se), or_ac * math.exp(Z95 * se)))
    # Benjamini-Hochberg over the 9 reported sequences, by its definition
    ps = {s: r["p_value"] for s, r in got.items()}
    m = len(ps)
    ranked = sorted(ps.values())
    for s, r in got.items():
        expected = min(min(1.0, ranked[j] * m / (j + 1)) for j in range(m) if ranked[j] >= ps[s])
        assert r["p_adjusted"] == pytest.approx(expected), s


def test_hand_made_log_pruning_order_and_top():
    # min_support=2: ab, ba, abc, bac (1 positive window each) are left out; apriori
    # never builds a length-3 candidate (ab and ba are infrequent)
    res = precursors(ibis.memtable(HAND), target="T", lookback="10d", min_support=2)
    assert set(by_sequence(res)) == {("a",), ("b",), ("c",), ("a", "c"), ("b", "c")}
    assert 3 not in res.extra["candidates"]
    rows = res.table.to_pylist()
    assert [r["p_value"] for r in rows] == sorted(r["p_value"] for r in rows)
    by_lift = precursors(ibis.memtable(HAND), target="T", lookback="10d", min_support=1,
                         sort="lift").table.to_pylist()
    finite = [r["lift"] for r in by_lift if r["lift"] is not None]
    assert finite == sorted(finite, reverse=True)
    # c 2.4, b 1.6, a 0.8, a -> b 0.4
    assert [tuple(r["sequence"]) for r in by_lift[:4]] == [("c",), ("b",), ("a",), ("a", "b")]
    assert all(r["lift"] is None for r in by_lift[len(finite):])  # null lifts last
    top = precursors(ibis.memtable(HAND), target="T", lookback="10d", min_support=1, top=3)
    assert top.table.to_pylist() == precursors(
        ibis.memtable(HAND), target="T", lookback="10d", min_support=1).table.to_pylist()[:3]
    assert top.extra["tested"] == 9  # p-values adjusted over all, not over the top 3
    assert top.to_dict()["params"]["lookback"] == "10d"


def test_max_length_and_channel_event_steps():
    one = precursors(ibis.memtable(HAND), target="T", lookback="10d", min_support=1,
                     max_length=1)
    assert set(by_sequence(one)) == {("a",), ("b",), ("c",)}
    ce = precursors(ibis.memtable(HAND), target="web:T", lookback="10d", min_support=1,
                    step_by="channel_event")
    assert by_sequence(ce)[("web:b", "web:c")]["support_target"] == 3
    assert not any("web:T" in s for s in by_sequence(ce))
    # page steps only: the log has none, so nothing is reported, but windows are counted
    pages = precursors(ibis.memtable(HAND), target="T", lookback="10d", step_by="page")
    assert len(pages) == 0 and pages.table.schema == one.table.schema
    assert (pages.extra["targets"], pages.extra["controls"]) == (5, 4)


def test_odds_ratio_and_bh_helpers():
    o, lo, hi = odds_ratio_ci(30, 70, 10, 190)
    se = math.sqrt(1 / 30 + 1 / 70 + 1 / 10 + 1 / 190)
    assert o == pytest.approx(30 * 190 / (70 * 10))
    assert (lo, hi) == pytest.approx((o * math.exp(-Z95 * se), o * math.exp(Z95 * se)))
    assert benjamini_hochberg([0.01, 0.04, 0.03, 0.5]) == pytest.approx([0.04, 0.04 * 4 / 3,
                                                                         0.04 * 4 / 3, 0.5])
    assert benjamini_hochberg([]) == []


# -- (2) a brute-force reference on random logs ---------------------------------------------
def random_log(seed: int, profiles: int = 100) -> list[tuple[str, dt.datetime, str]]:
    rng = random.Random(seed)
    rows = []
    for i in range(profiles):
        n = rng.randint(1, 16)
        for _ in range(n):
            # hours on a coarse grid: ties (same instant) happen and must not count as order
            rows.append((f"u{i}", T0 + dt.timedelta(hours=6 * rng.randint(0, 24)),
                         rng.choice("abcde")))
        if rng.random() < 0.6:
            rows.append((f"u{i}", T0 + dt.timedelta(hours=6 * rng.randint(0, 24)), "T"))
    return rows


def reference(rows, target: str, lookback: dt.timedelta, max_length: int):
    """{sequence: [positive windows, control windows]} by enumerating every combination of
    events with strictly increasing times in each window, plus the two window counts."""
    by_profile: dict[str, list[tuple[dt.datetime, str]]] = {}
    for pid, ts, ev in rows:
        by_profile.setdefault(pid, []).append((ts, ev))
    counts: Counter = Counter()
    n = [0, 0]
    for evs in by_profile.values():
        targets = [ts for ts, ev in evs if ev == target]
        positive = bool(targets)
        end = min(targets) if positive else max(ts for ts, _ in evs)
        n[0 if positive else 1] += 1
        window = sorted((ts, ev) for ts, ev in evs if end - lookback <= ts < end and ev != target)
        held = set()
        for k in range(1, max_length + 1):
            for combo in itertools.combinations(window, k):
                if all(combo[i][0] < combo[i + 1][0] for i in range(k - 1)):
                    held.add(tuple(ev for _, ev in combo))
        for s in held:
            counts[(s, positive)] += 1
    seqs = {s for s, _ in counts}
    return {s: [counts[(s, True)], counts[(s, False)]] for s in seqs}, n


@pytest.mark.parametrize(("seed", "min_support", "max_length"),
                         [(1, 1, 3), (2, 3, 3), (3, 2, 2), (4, 4, 3)])
def test_supports_match_a_brute_force_reference(seed, min_support, max_length):
    rows = random_log(seed)
    lookback = dt.timedelta(days=4)
    res = precursors(ibis.memtable(log(rows)), target="T", lookback=lookback,
                     max_length=max_length, min_support=min_support)
    ref, (n_pos, n_neg) = reference(rows, "T", lookback, max_length)
    expected = {s: tuple(v) for s, v in ref.items() if v[0] >= min_support}
    got = {s: (r["support_target"], r["support_control"]) for s, r in by_sequence(res).items()}
    assert got == expected
    assert sum(len(s) == 3 for s in expected) > (5 if max_length == 3 else -1)
    assert (res.extra["targets"], res.extra["controls"]) == (n_pos, n_neg)


@pytest.mark.parametrize("where", ["local", "engine"])
@pytest.mark.parametrize(("seed", "min_support", "max_length"), [(5, 1, 3), (6, 3, 3), (7, 2, 2)])
def test_both_miners_match_the_reference(where, seed, min_support, max_length):
    """The local (numpy) and the engine (Ibis) miner give the reference's supports and
    count the same candidates."""
    rows = random_log(seed, profiles=120)
    lookback = dt.timedelta(days=3)
    t = ibis.memtable(log(rows))
    supports, candidates, n_pos, n_neg = mine(t, target="T", window=lookback,
                                              max_length=max_length, min_support=min_support,
                                              step_by="event", where=where)
    ref, n = reference(rows, "T", lookback, max_length)
    # every sequence held by a window is counted (not only those reported), exactly
    assert {s: tuple(v) for s, v in supports.items()} == {
        s: tuple(v) for s, v in ref.items() if s in supports}
    assert {s for s, v in ref.items() if v[0] >= min_support} <= set(supports)
    assert [n_pos, n_neg] == n
    other = mine(t, target="T", window=lookback, max_length=max_length,
                 min_support=min_support, step_by="event",
                 where="engine" if where == "local" else "local")
    assert (supports, candidates) == other[:2]


def test_events_without_time_on_both_miners():
    """An event without a time is in no window; a profile with only such events is an
    empty control window, on both miners (as the engine miner always counted it)."""
    rows = [("p1", day(1), "a"), ("p1", day(2), "T"), ("p2", None, "a"),
            ("p3", day(1), "a"), ("p3", day(2), "b"), ("p3", None, "c")]
    t = ibis.memtable(log(rows))
    for where in ("local", "engine"):
        got = mine(t, target="T", window=dt.timedelta(days=3), max_length=3, min_support=1,
                   step_by="event", where=where)
        assert got == ({("a",): [1, 1]}, {1: 1, 2: 1}, 1, 2), where


def test_local_miner_in_small_chunks():
    """Cutting every expansion into chunks of 7 rows changes nothing."""
    rows = random_log(8, profiles=150)
    w = _window_events(ibis.memtable(log(rows)), "T", "event", dt.timedelta(days=4)).to_pyarrow()
    assert _mine_local(w, 3, 2, chunk=7) == _mine_local(w, 3, 2)
    assert 3 in _mine_local(w, 3, 2)[1]


def test_local_miner_reads_dictionary_columns():
    """Window events whose step and profile columns come back dictionary-encoded (with
    values no row uses, as an ENUM gives) count the same, candidates included."""
    rows = random_log(9, profiles=60)
    w = _window_events(ibis.memtable(log(rows)), "T", "event", dt.timedelta(days=4)).to_pyarrow()
    step = w.column("step").combine_chunks()
    codes = pa.array(["zz_unused", *sorted(set(step.drop_null().to_pylist()))])
    index = {v: i for i, v in enumerate(codes.to_pylist())}
    enum = pa.DictionaryArray.from_arrays(
        pa.array([None if v is None else index[v] for v in step.to_pylist()], pa.int16()), codes)
    pid = w.column("profile_id").combine_chunks().dictionary_encode()
    w2 = w.set_column(2, "step", enum).set_column(0, "profile_id", pid)
    assert _mine_local(w2, 3, 2) == _mine_local(w, 3, 2)


def test_fisher_log_p_matches_scipy():
    """log P(X >= k) against scipy's exact logsf on tables from tiny to underflowing:
    below, at and above the mode, at both ends of the support. The log pmf is a sum of
    lgamma terms of the size of n log n, so at 2 M windows it is exact to about 1e-8."""
    import numpy as np
    from scipy.stats import hypergeom

    rng = np.random.default_rng(3)
    cases = []
    for n_pos, n_neg in [(5, 4), (40, 900), (2463, 17537), (3345, 29988), (60_000, 1_940_000)]:
        total = n_pos + n_neg
        held = rng.integers(1, total // 3, 40)
        k = rng.integers(0, n_pos + 1, 40)
        mode = (held + 1) * (n_pos + 1) // (total + 2)
        k = np.concatenate([k, mode, mode + 1, np.maximum(mode - 3, 0), np.minimum(held, n_pos)])
        held = np.concatenate([held, held, held, held, held])
        # within the support (a support is at most the windows holding it, or positive)
        k = np.clip(k, np.maximum(0, held + n_pos - total), np.minimum(held, n_pos))
        cases.append((k, held - k, n_pos, n_neg))
    for sp, sc, n_pos, n_neg in cases:
        got = _log_fisher_greater(sp, sc, n_pos, n_neg)
        want = hypergeom.logsf(sp - 1, n_pos + n_neg, sp + sc, n_pos)
        assert np.isfinite(got).all()
        rel = 1e-9 if n_pos + n_neg < 100_000 else 1e-7
        assert got == pytest.approx(np.minimum(want, 0.0), rel=rel, abs=1e-13)


# -- (3) the demo world's planted sequences ------------------------------------------------
@pytest.fixture(scope="module")
def demo_truth(demo_resolved_ws):
    """The resolved demo world (shared, read-only) and its planted truth."""
    ws = demo_resolved_ws
    return ws, json.loads((ws.path / "demo" / "truth.json").read_text())


@pytest.mark.parametrize("tenant", ["energie", "fidelite"])
@pytest.mark.parametrize("key", ["churn", "call"])
def test_demo_planted_sequence_found_at_its_lift(demo_truth, tenant, key):
    ws, truth = demo_truth
    planted = truth[tenant][key]
    lookback = f"{planted['lookback_days']}d"
    res = ws.journeys.precursors(tenant, target=planted["target"], lookback=lookback)
    df = res.to_pandas()
    threes = df[df.length == 3]
    assert list(threes.iloc[0].sequence) == planted["sequence"]
    row = by_sequence(res)[tuple(planted["sequence"])]
    assert row["lift"] == pytest.approx(planted["lift"], rel=0.15)
    # identity resolution is near perfect, so the counts are the planted ones within 2 %
    assert res.extra["targets"] == pytest.approx(planted["positives"], rel=0.02)
    assert row["support_target"] == pytest.approx(planted["positives_with_sequence"], rel=0.02)
    assert row["support_control"] == pytest.approx(planted["negatives_with_sequence"], rel=0.05)
    assert row["p_adjusted"] < 1e-50
    # ordered by lift, the three steps are the top three single steps
    steps = ws.journeys.precursors(tenant, target=planted["target"], lookback=lookback,
                                   max_length=1, sort="lift", top=3)
    assert sorted(s[0] for s in by_sequence(steps)) == sorted(planted["sequence"])


# -- (4) DuckDB and Spark agree ------------------------------------------------------------
@pytest.mark.spark
def test_same_result_on_duckdb_and_spark(spark_session):
    rows = random_log(11, profiles=40)
    arrow = log(rows)
    spark_session.createDataFrame(arrow.to_pandas()).createOrReplaceTempView("prec_events")
    spark = ibis.pyspark.connect(spark_session).table("prec_events")
    lookback = dt.timedelta(days=4, microseconds=500)  # exercises the microsecond interval
    kwargs = {"target": "T", "lookback": lookback, "min_support": 2}
    on_duck = precursors(ibis.memtable(arrow), **kwargs)
    on_spark = precursors(spark, **kwargs)
    assert len(on_duck) > 40 and any(r["length"] == 3 for r in on_duck.table.to_pylist())
    assert on_spark.table.to_pylist() == on_duck.table.to_pylist()
    assert on_spark.extra == on_duck.extra
    # on Spark precursors mines in the engine; the local miner over Spark's window events
    # (one Spark query) gives the same supports
    args = {"target": "T", "window": lookback, "max_length": 3, "min_support": 2,
            "step_by": "event"}
    assert mine(spark, **args, where="local") == mine(ibis.memtable(arrow), **args)


# -- (5) errors ----------------------------------------------------------------------------
def test_unknown_target_names_it_and_suggests_frequent_events():
    with pytest.raises(UnknownTargetError) as err:
        precursors(ibis.memtable(HAND), target="churn")
    assert isinstance(err.value, JourneysError)
    assert "'churn'" in str(err.value)
    # the most frequent event names, most frequent first (a: 11 events, b: 7, T: 6)
    assert err.value.details["suggestions"][:3] == ["a", "b", "T"]
    assert "a, b, T" in str(err.value)
    with pytest.raises(UnknownTargetError) as err:
        precursors(ibis.memtable(log([("p", day(1), "contract_terminated"),
                                      ("q", day(1), "page_viewed"),
                                      ("q", day(2), "page_viewed")])),
                   target="contract_terminatd")
    assert err.value.details["suggestions"][0] == "contract_terminated"  # close spelling first


@pytest.mark.parametrize(("kwargs", "parameter"), [
    ({"max_length": 0}, "max_length"),
    ({"max_length": 4}, "max_length"),
    ({"max_length": 2.0}, "max_length"),
    ({"min_support": 0}, "min_support"),
    ({"top": 0}, "top"),
    ({"sort": "support"}, "sort"),
    ({"step_by": "page_title"}, "step_by"),
    ({"target": ""}, "target"),
])
def test_bad_parameters_are_named(kwargs, parameter):
    with pytest.raises(JourneysError) as err:
        precursors(ibis.memtable(HAND), **{"target": "T", **kwargs})
    assert err.value.details["parameter"] == parameter
    assert parameter in str(err.value)


@pytest.mark.parametrize("lookback", ["30 days", "-3d", 0, "d30", True])
def test_bad_lookback(lookback):
    with pytest.raises(InvalidDurationError, match="lookback"):
        precursors(ibis.memtable(HAND), target="T", lookback=lookback)


def test_missing_columns():
    with pytest.raises(JourneysError, match="missing: ts"):
        precursors(ibis.memtable(HAND.drop(["ts"])), target="T")


def test_log_p_value_where_p_underflows():
    """On large tables p underflows to 0; the rows are still ordered by log p, which
    matches scipy's exact (slow) logsf."""
    import numpy as np
    from scipy.stats import hypergeom

    sp, sc = np.array([2000, 521, 300, 224, 10]), np.array([100, 0, 200, 105, 10])
    got = _log_fisher_greater(sp, sc, 3345, 29988)
    assert hypergeom.sf(sp[:2] - 1, 3345 + 29988, sp[:2] + sc[:2], 3345).tolist() == [0, 0]
    assert got == pytest.approx(hypergeom.logsf(sp - 1, 3345 + 29988, sp + sc, 3345),
                                rel=1e-9)
