"""Funnels: a brute-force reference on random logs, exact small cases, breakdowns,
DuckDB/Spark parity and the input errors."""

from __future__ import annotations

import datetime as dt
import itertools
import json
import random
import statistics

import ibis
import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from parcours.journeys import JourneysError
from parcours.journeys.errors import InvalidDurationError
from parcours.journeys.funnel import NO_VALUE, RESULT_COLUMNS, funnel
from tests.journeys.logs import connect, stored

T0 = dt.datetime(2025, 3, 1, tzinfo=dt.UTC)
SCHEMA = pa.schema([("profile_id", pa.string()), ("ts", pa.timestamp("us", tz="UTC")),
                    ("event", pa.string()), ("channel", pa.string()), ("type", pa.string()),
                    ("properties", pa.string())])
_names = itertools.count()


def _log(rows: list[tuple]) -> pa.Table:
    """(profile, minute, event[, channel[, properties]]) rows as a journey events table."""
    full = [{"profile_id": r[0], "ts": T0 + dt.timedelta(minutes=r[1]), "event": r[2],
             "channel": r[3] if len(r) > 3 else "web", "type": "track",
             "properties": r[4] if len(r) > 4 else "{}"} for r in rows]
    return pa.Table.from_pylist(full, SCHEMA)


@pytest.fixture(scope="module")
def duck():
    """One DuckDB connection; ``duck(rows)`` registers a log and returns its table."""
    con = ibis.duckdb.connect()
    con.raw_sql("SET TimeZone = 'UTC'")

    def table(rows: list[tuple] | pa.Table) -> ibis.Table:
        name = f"funnel_ev_{next(_names)}"
        con.con.register(name, rows if isinstance(rows, pa.Table) else _log(rows))
        return con.table(name)

    yield table
    con.disconnect()


def _steps(res) -> list[tuple]:
    """The overall rows as (step_index, profiles, median seconds)."""
    return [(r["step_index"], r["profiles"], r["median_seconds_from_previous"])
            for r in res.table.to_pylist() if r["breakdown"] is None]


# -- the reference: every chain, by backtracking over distinct events ----------------------
def _profile_ref(events: list[tuple], steps: list[str], window: float):
    """(last step reached, times of the best chain, breakdown channel) of one profile.

    ``events`` are (minute, name, channel). Enumerates every chain of distinct events
    (non-decreasing times, last - first <= window); the best chain starts at the latest
    start reaching the last step and is, among the chains from that start, the one with
    the earliest times (lexicographically smallest).
    """
    latest: dict[int, float] = {}  # step reached -> latest start
    chains: dict[float, list[tuple]] = {}  # start -> time tuples of full-depth chains

    def walk(chain: list[int]) -> None:
        k = len(chain)
        t1 = events[chain[0]][0]
        latest[k] = max(latest.get(k, t1), t1)
        chains.setdefault(t1, []).append(tuple(events[i][0] for i in chain))
        if k == len(steps):
            return
        for i, (t, name, _) in enumerate(events):
            if (i not in chain and name == steps[k] and t >= events[chain[-1]][0]
                    and t - t1 <= window):
                walk([*chain, i])

    for i, (_, name, _) in enumerate(events):
        if name == steps[0]:
            walk([i])
    if not latest:
        return 0, (), None
    m = max(latest)
    start = latest[m]
    times = min(c for c in chains[start] if len(c) == m)
    channel = min(ch for t, name, ch in events if t == start and name == steps[0])
    return m, times, channel


def reference(rows: list[tuple], steps: list[str], window: float):
    """Overall (step_index, profiles, median seconds) and {(channel, step): profiles}."""
    per = {}
    for p in sorted({r[0] for r in rows}):
        evs = [(r[1], r[2], r[3] if len(r) > 3 else "web") for r in rows if r[0] == p]
        m, times, channel = _profile_ref(evs, steps, window)
        if m:
            per[p] = (m, times, channel)
    overall = []
    for k in range(1, len(steps) + 1):
        reach = [v for v in per.values() if v[0] >= k]
        gaps = [60.0 * (v[1][k - 1] - v[1][k - 2]) for v in reach] if k > 1 else []
        overall.append((k, len(reach), statistics.median(gaps) if gaps else None))
    by_channel: dict[tuple[str, int], int] = {}
    for m, _, channel in per.values():
        for k in range(1, m + 1):
            by_channel[(channel, k)] = by_channel.get((channel, k), 0) + 1
    return overall, by_channel


def _by_channel(res) -> dict[tuple[str, int], int]:
    return {(r["breakdown"], r["step_index"]): r["profiles"] for r in res.table.to_pylist()
            if r["breakdown"] is not None and r["profiles"]}


def test_reference_sees_ties_repeats_and_the_window():
    """The reference itself, on cases small enough to check by hand."""
    assert _profile_ref([(5, "b", "web"), (5, "a", "web")], ["a", "b"], 0)[:2] == (2, (5, 5))
    assert _profile_ref([(1, "h", "web"), (2, "o", "web")], ["h", "o", "h"], 9)[0] == 2
    assert _profile_ref([(0, "a", "web"), (3, "b", "web")], ["a", "b"], 3)[0] == 2
    assert _profile_ref([(0, "a", "web"), (4, "b", "web")], ["a", "b"], 3)[0] == 1
    # two starts reach step 2: the later one is the best chain
    assert _profile_ref([(0, "a", "w"), (5, "b", "w"), (6, "a", "x"), (8, "b", "w")],
                        ["a", "b"], 99) == (2, (6, 8), "x")


# -- property: random small logs against the reference, on DuckDB ---------------------------
NAMES = ["a", "b", "c"]
#: up to 8 profiles of up to 7 events: few names, minutes 0..6 (many ties), two channels
profile_logs = st.lists(
    st.lists(st.tuples(st.integers(0, 6), st.sampled_from([*NAMES, "x"]),
                       st.sampled_from(["app", "web"])), max_size=7),
    max_size=8,
)


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(logs=profile_logs, steps=st.lists(st.sampled_from(NAMES), min_size=1, max_size=5),
       window=st.sampled_from([0.5, 1, 2, 3, 1000]))
def test_random_logs_match_the_reference(duck, logs, steps, window):
    rows = [(f"p{i}", *e) for i, log in enumerate(logs) for e in log]
    res = funnel(duck(rows), steps=steps, window=dt.timedelta(minutes=window),
                 breakdown="channel")
    overall, by_channel = reference(rows, steps, window)
    assert _steps(res) == overall
    assert _by_channel(res) == by_channel


_store_con = []


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(logs=profile_logs, steps=st.lists(st.sampled_from(NAMES), min_size=1, max_size=5),
       window=st.sampled_from([0.5, 1, 3, 1000]))
def test_random_logs_through_the_store_match_the_reference(logs, steps, window):
    """The journey store's table (ENUM names, order key) gives the same funnels."""
    if not _store_con:  # one connection for every example (one each cost more)
        _store_con.append(connect())
    rows = [(f"p{i}", *e) for i, log in enumerate(logs) for e in log]
    res = funnel(stored(_log(rows), f"funnel_store_{next(_names)}", _store_con[0]),
                 steps=steps, window=dt.timedelta(minutes=window), breakdown="channel")
    overall, by_channel = reference(rows, steps, window)
    assert _steps(res) == overall
    assert _by_channel(res) == by_channel


# -- exact cases -------------------------------------------------------------------------------
def test_result_columns_and_conversions(duck):
    rows = [("p1", 0, "home"), ("p1", 1, "offer"), ("p1", 3, "buy"),
            ("p2", 0, "home"), ("p2", 2, "offer"),
            ("p3", 0, "home"), ("p4", 5, "offer")]
    res = funnel(duck(rows), steps=["home", "offer", "buy"], window="1h")
    assert tuple(res.table.column_names) == RESULT_COLUMNS
    assert res.table.to_pylist() == [
        {"step": "home", "step_index": 1, "profiles": 3, "conversion_from_previous": 1.0,
         "conversion_from_first": 1.0, "median_seconds_from_previous": None, "breakdown": None},
        {"step": "offer", "step_index": 2, "profiles": 2, "conversion_from_previous": 2 / 3,
         "conversion_from_first": 2 / 3, "median_seconds_from_previous": 90.0,
         "breakdown": None},
        {"step": "buy", "step_index": 3, "profiles": 1, "conversion_from_previous": 0.5,
         "conversion_from_first": 1 / 3, "median_seconds_from_previous": 120.0,
         "breakdown": None},
    ]
    assert res.params == {"steps": ["home", "offer", "buy"], "window": "1h",
                          "breakdown": None, "step_by": "event"}
    assert res.to_dict()["rows"][1]["profiles"] == 2


@pytest.mark.parametrize("rows", [
    [("p", 5, "a"), ("p", 5, "b")],
    [("p", 5, "b"), ("p", 5, "a")],
])
def test_events_at_the_same_time_serve_in_either_order(duck, rows):
    res = funnel(duck(rows), steps=["a", "b"], window="1m")
    assert _steps(res) == [(1, 1, None), (2, 1, 0.0)]


def test_a_later_event_of_an_earlier_step_does_not_count(duck):
    res = funnel(duck([("p", 4, "b"), ("p", 5, "a")]), steps=["a", "b"], window="1d")
    assert _steps(res) == [(1, 1, None), (2, 0, None)]


def test_a_repeated_step_needs_its_own_event(duck):
    steps = ["home", "offer", "home"]
    one_home = funnel(duck([("p", 1, "home"), ("p", 2, "offer")]), steps=steps)
    assert [n for _, n, _ in _steps(one_home)] == [1, 1, 0]
    tie = funnel(duck([("p", 1, "home"), ("p", 1, "offer")]), steps=steps)
    assert [n for _, n, _ in _steps(tie)] == [1, 1, 0]
    two_at_once = funnel(duck([("p", 1, "home"), ("p", 1, "offer"), ("p", 1, "home")]),
                         steps=steps)
    assert _steps(two_at_once) == [(1, 1, None), (2, 1, 0.0), (3, 1, 0.0)]
    later = funnel(duck([("p", 1, "home"), ("p", 2, "offer"), ("p", 4, "home")]), steps=steps)
    assert _steps(later) == [(1, 1, None), (2, 1, 60.0), (3, 1, 120.0)]


def test_same_step_twice_in_a_row(duck):
    res = funnel(duck([("p", 0, "a"), ("p", 0, "a"), ("q", 0, "a"), ("q", 3, "a")]),
                 steps=["a", "a"], window="2m")
    # p: two events at one time; q: the second is past the window
    assert _steps(res) == [(1, 2, None), (2, 1, 0.0)]


def test_window_boundary_counts(duck):
    rows = [("on", 0, "a"), ("on", 30, "b"), ("past", 0, "a"), ("past", 31, "b")]
    assert _steps(funnel(duck(rows), steps=["a", "b"], window="30m")) == [
        (1, 2, None), (2, 1, 1800.0)]
    # a window in seconds, to the microsecond
    t = duck(pa.Table.from_pylist([
        {"profile_id": "p", "ts": T0, "event": "a", "channel": "web"},
        {"profile_id": "p", "ts": T0 + dt.timedelta(seconds=90), "event": "b", "channel": "web"},
        {"profile_id": "q", "ts": T0, "event": "a", "channel": "web"},
        {"profile_id": "q", "ts": T0 + dt.timedelta(seconds=90, microseconds=1), "event": "b",
         "channel": "web"},
    ], SCHEMA))
    assert [n for _, n, _ in _steps(funnel(t, steps=["a", "b"], window="90s"))] == [2, 1]


def test_the_best_attempt_counts_not_the_first(duck):
    # the first home is too early for the window; the second one converts
    rows = [("p", 0, "home"), ("p", 100, "home"), ("p", 105, "offer"), ("p", 107, "buy")]
    res = funnel(duck(rows), steps=["home", "offer", "buy"], window="10m")
    assert _steps(res) == [(1, 1, None), (2, 1, 300.0), (3, 1, 120.0)]


def test_best_chain_is_the_latest_start_reaching_the_last_step(duck):
    # starts at 0 and 6 both reach "b"; the latest one (6) gives the time: 2 minutes
    rows = [("p", 0, "a"), ("p", 5, "b"), ("p", 6, "a"), ("p", 8, "b"),
            # a later start that only reaches step 1 does not win
            ("p", 20, "a")]
    assert _steps(funnel(duck(rows), steps=["a", "b"], window="1d")) == [
        (1, 1, None), (2, 1, 120.0)]


def test_step_by_channel_event(duck):
    rows = [("p", 0, "home", "web"), ("p", 1, "call", "call_center"), ("q", 0, "home", "app"),
            ("q", 1, "call", "call_center")]
    res = funnel(duck(rows), steps=["web:home", "call_center:call"], window="1h",
                 step_by="channel_event")
    assert [n for _, n, _ in _steps(res)] == [1, 1]


def test_no_matching_event(duck):
    res = funnel(duck([("p", 0, "other")]), steps=["a", "b"], breakdown="channel")
    assert res.table.to_pylist() == [
        {"step": s, "step_index": i, "profiles": 0, "conversion_from_previous": None,
         "conversion_from_first": None, "median_seconds_from_previous": None,
         "breakdown": None}
        for i, s in enumerate(["a", "b"], 1)
    ]


def test_twenty_steps(duck):
    steps = [f"s{i}" for i in range(20)]
    rows = [("full", i, s) for i, s in enumerate(steps)]
    rows += [("half", i, s) for i, s in enumerate(steps[:10])]
    rows += [("late", 0, "s0"), ("late", 60 * 24 * 31, "s1")]
    res = funnel(duck(rows), steps=steps, window="30d")
    assert [n for _, n, _ in _steps(res)] == [3] + [2] * 9 + [1] * 10
    assert {m for _, _, m in _steps(res)[1:]} == {60.0}


# -- breakdowns --------------------------------------------------------------------------------
def test_breakdown_by_channel_of_the_best_chain_start(duck):
    rows = [
        ("p1", 0, "home", "web"), ("p1", 1, "offer", "app"),           # web, reaches 2
        ("p2", 0, "home", "app"),                                        # app, reaches 1
        ("p3", 0, "home", "web"), ("p3", 90, "home", "app"), ("p3", 91, "offer", "web"),
        ("p4", 5, "home", "web"), ("p4", 5, "home", "app"), ("p4", 6, "offer", "web"),
        ("p5", 0, "offer", "web"),                                       # never starts
    ]
    res = funnel(duck(rows), steps=["home", "offer"], window="1h", breakdown="channel")
    table = res.table.to_pylist()
    # overall first, then values by step-1 profiles (most first), then name
    assert [(r["breakdown"], r["step_index"], r["profiles"]) for r in table] == [
        (None, 1, 4), (None, 2, 3),
        ("app", 1, 3), ("app", 2, 2),   # p2, p3 (its later attempt), p4 (smallest value)
        ("web", 1, 1), ("web", 2, 1),   # p1
    ]
    app = [r for r in table if r["breakdown"] == "app"]
    assert [r["conversion_from_first"] for r in app] == [1.0, 2 / 3]
    assert app[1]["median_seconds_from_previous"] == 60.0
    assert res.params["breakdown"] == "channel"


def test_breakdown_by_property_and_other_columns(duck):
    rows = [
        ("p1", 0, "home", "web", json.dumps({"plan": "basic"})), ("p1", 1, "buy"),
        ("p2", 0, "home", "web", json.dumps({"plan": "pro"})),
        ("p3", 0, "home", "web", json.dumps({"plan": 2})), ("p3", 1, "buy"),
        ("p4", 0, "home", "web", json.dumps({"other": 1})),
        ("p5", 0, "home", "web", "not json"),
    ]
    res = funnel(duck(rows), steps=["home", "buy"], window="1h", breakdown="property:plan")
    got = {(r["breakdown"], r["step_index"]): r["profiles"] for r in res.table.to_pylist()}
    assert got == {(None, 1): 5, (None, 2): 2, (NO_VALUE, 1): 2, (NO_VALUE, 2): 0,
                   ("basic", 1): 1, ("basic", 2): 1, ("pro", 1): 1, ("pro", 2): 0,
                   ("2", 1): 1, ("2", 2): 1}
    by_type = funnel(duck(rows), steps=["home", "buy"], breakdown="type")
    assert {r["breakdown"] for r in by_type.table.to_pylist()} == {None, "track"}


# -- DuckDB and Spark agree ----------------------------------------------------------------------
def _random_rows(seed: int, profiles: int = 12) -> list[tuple]:
    rnd = random.Random(seed)
    plans = ['{"plan": "basic"}', '{"plan": "pro"}', "{}"]
    return [(f"p{rnd.randrange(profiles)}", rnd.randrange(40), rnd.choice("abcx"),
             rnd.choice(["web", "app", "email"]), rnd.choice(plans)) for _ in range(150)]


@pytest.mark.spark
def test_same_funnels_on_duckdb_and_spark(spark_session, duck):
    con = ibis.pyspark.connect(spark_session)
    cases = [  # repeated steps and ties (counted events); distinct steps, a property and
        # a last step nobody reaches (an empty pass written and read back)
        (2, {"steps": ["a", "b", "a", "c"], "window": "15m", "breakdown": "channel"}, 15.0),
        (1, {"steps": ["a", "b", "c", "never"], "window": "10m",
             "breakdown": "property:plan"}, 10.0),
    ]
    for seed, kw, minutes in cases:
        rows = _random_rows(seed)
        log = _log(rows)
        name = f"funnel_parity_{seed}"
        spark_session.createDataFrame(log.to_pandas()).createOrReplaceTempView(name)
        on_spark = funnel(con.table(name), **kw)
        on_duck = funnel(duck(log), **kw)
        assert on_spark.table.to_pylist() == on_duck.table.to_pylist(), kw
        # and DuckDB's journey store (ENUM names, order key) gives Spark's answer too
        on_store = funnel(stored(log, f"funnel_parity_store_{seed}"), **kw)
        assert on_store.table.to_pylist() == on_spark.table.to_pylist(), kw
        overall, _ = reference([r[:4] for r in rows], kw["steps"], minutes)
        assert _steps(on_spark) == overall
        assert overall[2][1] > 0  # some profiles go as far as step 3
        assert len({r["breakdown"] for r in on_spark.table.to_pylist()}) >= 3
        spark_session.catalog.dropTempView(name)


# -- errors ------------------------------------------------------------------------------------
@pytest.mark.parametrize(("kw", "message"), [
    ({"steps": []}, "a funnel has 1 to 30 steps, not 0"),
    ({"steps": [f"s{i}" for i in range(31)]}, "a funnel has 1 to 30 steps, not 31"),
    ({"steps": "home"}, "steps must be a list of step names, not str"),
    ({"steps": ["home", " "]}, "step 2 must be a non-empty name, not ' '"),
    ({"steps": ["home", 3]}, "step 2 must be a non-empty name, not 3"),
    ({"steps": ["a"], "window": "soon"}, "invalid window 'soon'"),
    ({"steps": ["a"], "window": 0}, "invalid window 0"),
    ({"steps": ["a"], "breakdown": "colour"},
     "invalid breakdown 'colour': use property:NAME or one of ts, event, channel, type, "
     "properties"),
    ({"steps": ["a"], "breakdown": "profile_id"}, "invalid breakdown 'profile_id'"),
    ({"steps": ["a"], "breakdown": "property:"}, "breakdown property:NAME needs a property"),
    ({"steps": ["a"], "breakdown": ""}, "invalid breakdown ''"),
    ({"steps": ["a"], "step_by": "word"}, "invalid step_by 'word'"),
])
def test_bad_inputs_say_what_to_do(duck, kw, message):
    with pytest.raises(JourneysError) as info:
        funnel(duck([("p", 0, "a")]), **kw)
    assert info.value.message.startswith(message)


def test_bad_window_is_a_duration_error_and_missing_columns_are_named(duck):
    with pytest.raises(InvalidDurationError):
        funnel(duck([("p", 0, "a")]), steps=["a"], window="-3d")
    t = duck([("p", 0, "a")])
    with pytest.raises(JourneysError, match="missing: channel"):
        funnel(t.drop("channel"), steps=["a"])
