"""The funnel's single sorted pass (DuckDB, numpy) against the Ibis chain algorithm (the
one Spark runs) and the brute-force reference, on random logs with ties and repeats."""

from __future__ import annotations

import itertools
import math
import statistics

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from parcours.journeys.funnel import _long, chain_counts, sorted_counts
from parcours.journeys.kernels import funnel_chains, funnel_reach, medians, sort_order
from tests.journeys.logs import connect, duck, stored
from tests.journeys.test_funnel import _log, _profile_ref

_names = itertools.count()
NAMES = ["a", "b", "c"]

#: up to 8 profiles of up to 8 events; times in minutes, some 1/256 minute (234,375
#: microseconds, exact in binary: the reference's float times compare exactly) off the
#: minute so medians are not round; few distinct times (many ties), two channels
events = st.tuples(
    st.integers(0, 5), st.sampled_from([0.0, 0.0, 1 / 256, 0.5]),
    st.sampled_from([*NAMES, "x"]), st.sampled_from(["app", "web"]),
)
profile_logs = st.lists(st.lists(events, max_size=8), max_size=8)


def _both(t, steps, window_min, breakdown):
    fast = _fast(t, steps, window_min, breakdown)
    kw = {"steps": steps, "window_us": round(window_min * 60e6), "breakdown": breakdown}
    slow = _long(chain_counts(t, **kw), steps, by_value=breakdown is not None).to_pylist()
    return fast, slow


def _fast(t, steps, window_min, breakdown):
    kw = {"steps": steps, "window_us": round(window_min * 60e6), "breakdown": breakdown}
    return _long(sorted_counts(t, **kw), steps, by_value=breakdown is not None).to_pylist()


_con = None


def _table(logs, through):
    """The random log's rows and its table (plain or through the store) on one DuckDB
    connection for the module (a connection per example cost more than the example)."""
    global _con
    if _con is None:
        _con = connect()
    rows = [(f"p{i}", minute + frac, name, channel)
            for i, log in enumerate(logs) for minute, frac, name, channel in log]
    tbl = _log(rows)
    name = f"sorted_{next(_names)}"
    return rows, duck(tbl, name, _con) if through == "plain" else stored(tbl, name, _con)


def _expected(rows, steps, window):
    """{(breakdown, step_index): (profiles, median seconds)} by brute force: overall
    (breakdown None) and per channel of the best chain's start, steps reached only."""
    per = {}
    for p in sorted({r[0] for r in rows}):
        m, times, channel = _profile_ref([r[1:] for r in rows if r[0] == p], steps, window)
        if m:
            per[p] = (m, times, channel)
    out = {}
    for key in [None, *sorted({v[2] for v in per.values()})]:
        for k in range(1, len(steps) + 1):
            reach = [v for v in per.values() if v[0] >= k and key in (None, v[2])]
            gaps = [60.0 * (v[1][k - 1] - v[1][k - 2]) for v in reach] if k > 1 else []
            if reach:
                out[(key, k)] = (len(reach), statistics.median(gaps) if gaps else None)
    return out


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(logs=profile_logs,
       steps=st.lists(st.sampled_from(NAMES), min_size=1, max_size=6),
       window=st.sampled_from([0.5, 1, 2, 1000]),
       through=st.sampled_from(["plain", "store"]))
def test_one_pass_equals_the_reference(logs, steps, window, through):
    rows, t = _table(logs, through)
    fast = _fast(t, steps, window, "channel")
    got = {(r["breakdown"], r["step_index"]): (r["profiles"], r["median_seconds_from_previous"])
           for r in fast if r["profiles"]}
    want = _expected(rows, steps, window)
    assert got.keys() == want.keys()
    # every count, and every median, per breakdown value included
    for key, (n, m) in got.items():
        assert n == want[key][0], key
        w = want[key][1]
        assert (m is None and w is None) or math.isclose(m, w, rel_tol=1e-9, abs_tol=1e-9), key
    # without a breakdown the profiles are walked in ranges (threads): the overall rows
    kw = {"steps": steps, "window_us": round(window * 60e6)}
    split = _long(sorted_counts(t, **kw, parts=3), steps, by_value=False).to_pylist()
    assert split == [r for r in fast if r["breakdown"] is None]


@settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(logs=profile_logs,
       steps=st.lists(st.sampled_from(NAMES), min_size=2, max_size=6),
       window=st.sampled_from([1, 1000]),
       through=st.sampled_from(["plain", "store"]))
def test_one_pass_equals_the_chain_algorithm(logs, steps, window, through):
    """Row for row (the Ibis chain algorithm, Spark's, is itself tested against the
    reference in test_funnel; it is slow, hence few examples)."""
    _, t = _table(logs, through)
    fast, slow = _both(t, steps, window, "channel")
    assert fast == slow


@pytest.mark.parametrize(("rows", "steps", "reached"), [
    # three events at one time serve a three-step funnel of two names in any order
    ([("p", 1, "a"), ("p", 1, "b"), ("p", 1, "a")], ["a", "b", "a"], [1, 1, 1]),
    # two a's at one time: the second a-step needs the second event, not a later b
    ([("p", 1, "a"), ("p", 1, "a"), ("p", 2, "b")], ["a", "a", "b"], [1, 1, 1]),
    ([("p", 1, "a"), ("p", 2, "b")], ["a", "a", "b"], [1, 0, 0]),
    # the third a must be a third event: only two at time 1, the next one later
    ([("p", 1, "a"), ("p", 1, "a"), ("p", 3, "a")], ["a", "a", "a"], [1, 1, 1]),
    ([("p", 1, "a"), ("p", 1, "a")], ["a", "a", "a"], [1, 1, 0]),
])
def test_ties_and_repeats_by_hand(rows, steps, reached):
    fast, slow = _both(stored(_log(rows), f"hand_{next(_names)}"), steps, 10, None)
    assert [r["profiles"] for r in fast] == reached
    assert fast == slow


def test_sort_order_with_a_key_too_wide_for_64_bits():
    # profiles and times spanning 2**40 * 2**30: the packed key drops the time's low
    # bits, a second stable sort puts them back
    rng = np.random.default_rng(3)
    pid = rng.integers(0, 2**30, 5000, dtype=np.int64).astype(np.int32)
    pid[:2500] = pid[2500:]  # profiles with several events
    u = rng.integers(0, 2**40, 5000)
    u[100:200] = u[300:400]  # equal times
    u[:50] = u[50:100] ^ 1  # one profile's times a microsecond apart (the dropped bits)
    pid[:50] = pid[50:100]
    order = sort_order(pid, u)
    assert sorted(order.tolist()) == list(range(5000))
    got = list(zip(pid[order].tolist(), u[order].tolist(), strict=True))
    assert got == sorted(got)


def test_medians_as_duckdb():
    assert np.isnan(medians(np.empty(0))[0])
    assert medians(np.array([3.0, 1.0, 2.0]))[0] == 2.0
    assert medians(np.array([4.0, 1.0, 2.0, 3.0]))[0] == 2.5
    got = medians(np.array([5.0, 1.0, 7.0, 2.0, 9.0]), np.array([1, 0, 1, 0, 1]), 3)
    assert got[:2].tolist() == [1.5, 7.0] and np.isnan(got[2])


def test_window_in_microseconds_on_the_boundary():
    rows = [("on", 0, "a"), ("on", 30, "b"), ("past", 0, "a"), ("past", 30 + 1e-6 / 60, "b")]
    t = stored(_log(rows), f"edge_{next(_names)}")
    fast, slow = _both(t, ["a", "b"], 30, None)
    assert [r["profiles"] for r in fast] == [2, 1] and fast == slow


def test_profile_ranges_in_threads_give_the_one_walk():
    rng = np.random.default_rng(5)
    n = 20_000
    pid = np.sort(rng.integers(0, 900, n)).astype(np.int32)
    u = rng.integers(0, 40, n) * 60_000_000  # minutes: many ties
    order = np.lexsort((u, pid))
    pid, u = pid[order], u[order]
    code = rng.integers(0, 3, n).astype(np.int16)
    steps = [0, 1, 2, 0, 1]
    found, _ = funnel_chains(pid, u, code, steps, 10 * 60_000_000)
    for parts in (1, 2, 7):
        reach, gaps = funnel_reach(pid, u, code, steps, 10 * 60_000_000, parts=parts)
        assert reach.tolist() == found.reach.tolist()
        assert [sorted(g.tolist()) for g in gaps] == [sorted(g.tolist()) for g in found.gaps]
    assert (found.reach == 5).sum() > 50
