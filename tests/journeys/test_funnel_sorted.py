"""The funnel's single sorted pass (DuckDB, numpy) against the Ibis chain algorithm (the
one Spark runs) and the brute-force reference, on random logs with ties and repeats."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from parcours.journeys.funnel import _long, chain_counts, sorted_counts
from parcours.journeys.kernels import medians, sort_order
from tests.journeys.logs import duck, stored
from tests.journeys.test_funnel import _log, reference

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
    kw = {"steps": steps, "window_us": round(window_min * 60e6), "breakdown": breakdown}
    by_value = breakdown is not None
    fast = _long(sorted_counts(t, **kw), steps, by_value=by_value).to_pylist()
    slow = _long(chain_counts(t, **kw), steps, by_value=by_value).to_pylist()
    return fast, slow


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(logs=profile_logs,
       steps=st.lists(st.sampled_from(NAMES), min_size=1, max_size=6),
       window=st.sampled_from([0.5, 1, 2, 1000]),
       through=st.sampled_from(["plain", "store"]))
def test_one_pass_equals_the_chain_algorithm_and_the_reference(logs, steps, window, through):
    rows = [(f"p{i}", minute + frac, name, channel)
            for i, log in enumerate(logs) for minute, frac, name, channel in log]
    tbl = _log(rows)
    name = f"sorted_{next(_names)}"
    t = duck(tbl, name) if through == "plain" else stored(tbl, name)
    fast, slow = _both(t, steps, window, "channel")
    # every row, medians per breakdown value included, exactly as the chain algorithm
    assert fast == slow
    overall, by_channel = reference(rows, steps, window)
    got = [(r["step_index"], r["profiles"], r["median_seconds_from_previous"])
           for r in fast if r["breakdown"] is None]
    assert [g[:2] for g in got] == [o[:2] for o in overall]
    for (_, _, m), (_, _, want) in zip(got, overall, strict=True):
        assert (m is None and want is None) or math.isclose(m, want, rel_tol=1e-9, abs_tol=1e-9)
    assert {(r["breakdown"], r["step_index"]): r["profiles"] for r in fast
            if r["breakdown"] is not None and r["profiles"]} == by_channel


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
