"""Channel transitions and steps before a call: exact logs, a reference, parity, the demo."""

from __future__ import annotations

import datetime as dt
import json
import random
import re
from collections import Counter

import pyarrow as pa
import pytest

from parcours.journeys import JourneysError
from parcours.journeys.channels import before_call, channels
from tests.journeys.logs import SCHEMA, T0, duck, spark_table


def _log(rows: list[tuple]) -> pa.Table:
    """(profile, time, event, channel[, type[, properties]]) rows; time in minutes or a
    timedelta from T0."""
    def at(x):
        return T0 + (x if isinstance(x, dt.timedelta) else dt.timedelta(minutes=x))

    full = [(r[0], at(r[1]), r[2], r[3], r[4] if len(r) > 4 else "track",
             r[5] if len(r) > 5 else None) for r in rows]
    return pa.Table.from_pylist([dict(zip(SCHEMA.names, r, strict=True)) for r in full], SCHEMA)




def _tuples(res) -> list[tuple]:
    return [tuple(r.values()) for r in res.table.to_pylist()]


# -- channels -------------------------------------------------------------------------------
def test_channel_transitions_exact():
    log = [
        # a: at minute 3 the tie is broken by channel: call_center before web
        ("a", 0, "home", "web"), ("a", 1, "offers", "web"), ("a", 2, "home", "app"),
        ("a", 3, "call", "call_center"), ("a", 3, "aa", "web"),
        ("b", 0, "x", "app"), ("b", 0, "y", "app"), ("b", 5, "z", "web"),
        ("c", 0, "home", "web"),                        # one event: no transition
        ("d", 0, "sent", None), ("d", 1, "home", "web"),  # no channel: "(none)"
        ("e", 0, "a", "web"), ("e", 1, "b", "web"), ("e", 2, "c", "web"),
    ]
    res = channels(duck(_log(log)))
    assert res.table.column_names == ["from_channel", "to_channel", "transitions", "share_of_from"]
    assert _tuples(res) == [
        ("(none)", "web", 1, 1.0),
        ("app", "app", 1, 1 / 3), ("app", "call_center", 1, 1 / 3), ("app", "web", 1, 1 / 3),
        ("call_center", "web", 1, 1.0),
        ("web", "web", 3, 0.75), ("web", "app", 1, 0.25),
    ]
    assert res.extra == {"channels": ["(none)", "app", "call_center", "web"], "transitions": 9}


def test_channels_without_transitions():
    res = channels(duck(_log([("a", 0, "home", "web")])))
    assert len(res) == 0 and res.extra["transitions"] == 0 and "message" in res.extra


def reference_channels(rows):
    by_p: dict[str, list] = {}
    for r in rows:
        by_p.setdefault(r["profile_id"], []).append(r)
    c: Counter = Counter()
    for evs in by_p.values():
        chans = [r["channel"] or "(none)" for r in
                 sorted(evs, key=lambda r: (r["ts"], r["channel"] or "(none)", r["event"]))]
        c.update(zip(chans, chans[1:], strict=False))
    out_of = Counter()
    for (a, _), n in c.items():
        out_of[a] += n
    return sorted(((a, b, n, n / out_of[a]) for (a, b), n in c.items()),
                  key=lambda r: (r[0], -r[2], r[1]))


# -- before_call ------------------------------------------------------------------------------
DAY = dt.timedelta(days=1)
MIN = dt.timedelta(minutes=1)
BILLING = '{"reason":"billing","duration_s":120}'
CALL_LOG = [
    # a: two calls (day 10 and day 12), both for billing
    ("a", 10 * DAY, "call", "call_center", "track", BILLING),
    ("a", 12 * DAY, "call", "call_center", "track", BILLING),
    ("a", 3 * DAY, "login_error", "web", "page"),             # exactly 7 days before call 1: in
    ("a", 3 * DAY - MIN, "old_page", "web", "page"),          # just outside every window
    ("a", 9 * DAY, "screen_x", "app", "screen"),              # twice: one call each
    ("a", 9 * DAY + MIN, "screen_x", "app", "screen"),
    ("a", 9 * DAY, "email_opened", "email"),                  # not a digital channel
    ("a", 9 * DAY, "identify", "web", "identify"),            # an identity call, not a step
    ("a", 10 * DAY, "at_call", "web", "page"),                # at call 1: only in call 2's window
    # b: no reason in the properties; c: no properties at all
    ("b", 20 * DAY, "call", "call_center", "track", '{"duration_s":60}'),
    ("b", 19 * DAY, "login_error", "web", "page"),
    ("c", 20 * DAY, "call", "call_center", "track"),
    # d: no call; e: "reason" must be a key of its own, not the end of another
    ("d", 19 * DAY, "login_error", "web", "page"),
    ("e", 20 * DAY, "call", "call_center", "track", '{"other_reason":"x", "reason" : "payment"}'),
    ("e", 19 * DAY, "faq", "web", "page"),
    # call-center identify calls outnumber the calls; a rarer call-center event
] + [("c", 20 * DAY + k * MIN, "identify", "call_center", "identify") for k in range(6)] + [
    ("c", 21 * DAY, "callback_scheduled", "call_center"),
]


def test_before_call_exact():
    res = before_call(duck(_log(CALL_LOG)), days=7)
    assert res.params["call_event"] == "call"  # identify calls are not call events
    assert res.table.column_names == ["reason", "step", "calls", "share", "calls_with_reason"]
    assert _tuples(res) == [
        ("(none)", "login_error", 1, 0.5, 2),
        ("billing", "screen_x", 2, 1.0, 2),
        ("billing", "at_call", 1, 0.5, 2),
        ("billing", "login_error", 1, 0.5, 2),
        ("payment", "faq", 1, 1.0, 1),
    ]
    assert res.extra["calls"] == 5
    assert res.extra["reasons"] == [{"reason": "(none)", "calls": 2},
                                    {"reason": "billing", "calls": 2},
                                    {"reason": "payment", "calls": 1}]
    # top per reason: ties broken by step name
    top2 = before_call(duck(_log(CALL_LOG)), days=7, top=2)
    assert [r[:2] for r in _tuples(top2)] == [("(none)", "login_error"), ("billing", "screen_x"),
                                              ("billing", "at_call"), ("payment", "faq")]
    # a shorter window: only the day before each call
    one = before_call(duck(_log(CALL_LOG)), days=1, call_event="call")
    assert _tuples(one) == [("(none)", "login_error", 1, 0.5, 2),
                            ("billing", "screen_x", 1, 0.5, 2), ("payment", "faq", 1, 1.0, 1)]


def test_before_call_other_event_and_missing_event():
    res = before_call(duck(_log(CALL_LOG)), call_event="callback_scheduled", days=2)
    assert res.extra["calls"] == 1 and len(res) == 0
    assert res.extra["reasons"] == [{"reason": "(none)", "calls": 1}]
    none = before_call(duck(_log(CALL_LOG)), call_event="nope")
    assert len(none) == 0 and "nope" in none.extra["message"]
    empty = before_call(duck(_log([("a", 0, "home", "web")])))
    assert len(empty) == 0 and "call_center" in empty.extra["message"]


@pytest.mark.parametrize("kw", [{"days": 0}, {"days": True}, {"days": 1.5}, {"top": 0},
                                {"digital_channels": []}])
def test_before_call_invalid(kw):
    with pytest.raises(JourneysError):
        before_call(duck(_log(CALL_LOG)), **kw)


def reference_before_call(rows, call_event, days, top):
    calls = [r for r in rows if r["channel"] == "call_center" and r["event"] == call_event
             and r["type"] not in ("identify", "alias", "group")]
    steps = [r for r in rows if r["channel"] in ("web", "app")
             and r["type"] not in ("identify", "alias", "group")]
    per_reason: Counter = Counter()
    held: Counter = Counter()
    for c in calls:
        m = re.search(r'"reason"\s*:\s*"([^"]*)"', c["properties"] or "")
        reason = m.group(1) if m and m.group(1) else "(none)"
        per_reason[reason] += 1
        seen = {s["event"] for s in steps if s["profile_id"] == c["profile_id"]
                and c["ts"] - dt.timedelta(days=days) <= s["ts"] < c["ts"]}
        held.update((reason, s) for s in seen)
    out = []
    for reason in per_reason:
        mine = sorted(((s, n) for (r, s), n in held.items() if r == reason),
                      key=lambda sn: (-sn[1], sn[0]))[:top]
        out += [(reason, s, n, n / per_reason[reason], per_reason[reason]) for s, n in mine]
    return sorted(out, key=lambda r: (-r[4], r[0], -r[2], r[1]))


def random_log(seed: int, profiles: int = 40) -> pa.Table:
    rng = random.Random(seed)
    kinds = [("home", "web", "page"), ("error", "web", "page"), ("cart", "web", "track"),
             ("home", "app", "screen"), ("identify", "app", "identify"),
             ("email_sent", "email", "track"), ("invoice", "billing", "track"),
             ("call", "call_center", "track"), ("identify", "call_center", "identify")]
    reasons = ['{"reason":"billing"}', '{"reason":"move"}', None]
    rows = []
    for p in range(profiles):
        for _ in range(rng.randint(2, 16)):
            e, c, ty = rng.choice(kinds)
            props = rng.choice(reasons) if e == "call" else None
            rows.append((f"p{p:02d}", dt.timedelta(hours=rng.randint(0, 24 * 10)), e,
                         rng.choice([c, c, None]) if c == "email" else c, ty, props))
    return _log(rows)


@pytest.mark.parametrize("seed", [11, 12])
def test_match_references_on_random_logs(seed):
    tbl = random_log(seed)
    t, rows = duck(tbl), tbl.to_pylist()
    assert _tuples(channels(t)) == reference_channels(rows)
    for days, top in ((3, 10), (7, 2)):
        got = before_call(t, days=days, top=top)
        assert got.params["call_event"] == "call"
        want = reference_before_call(rows, "call", days, top)
        assert len(want) >= 4 and _tuples(got) == want


@pytest.mark.spark
def test_same_results_on_duckdb_and_spark(spark_session):
    tbl = random_log(13, profiles=25)
    on_duck, spark = duck(tbl), spark_table(spark_session, tbl, "channels_parity_events")
    a, b = channels(on_duck), channels(spark)
    assert len(a) > 5 and a.to_dict() == b.to_dict()
    a, b = before_call(on_duck, days=5, top=3), before_call(spark, days=5, top=3)
    assert len(a) > 3 and a.to_dict() == b.to_dict()


# -- the demo world's planted call precursors -------------------------------------------------
@pytest.fixture(scope="module")
def energie_ws(demo_resolved_ws):
    """The resolved demo world (shared, read-only)."""
    return demo_resolved_ws


def test_demo_payment_error_comes_before_calls(energie_ws):
    truth = json.loads((energie_ws.path / "demo" / "truth.json").read_text())["energie"]["call"]
    res = energie_ws.journeys.before_call("energie", days=7, top=5)
    assert res.extra["call_event"] == truth["target"]
    rows = res.table.to_pylist()
    reasons = {r["reason"] for r in rows}
    assert len(reasons) >= 5  # the demo's call reasons, all with digital steps before calls
    # payment_page_error (web) is the planted digital precursor: every reason's top step
    for reason in reasons:
        mine = [r for r in rows if r["reason"] == reason]
        assert mine[0]["step"] == "payment_page_error", (reason, mine[:3])
    # the two other planted steps are billing events, not digital steps
    steps = {r["step"] for r in rows}
    assert "payment_page_error" in truth["sequence"]
    assert not steps & (set(truth["sequence"]) - {"payment_page_error"})
    # transitions exist from every digital channel
    ch = energie_ws.journeys.channels("energie")
    assert {"web", "app", "call_center"} <= set(ch.table["from_channel"].to_pylist())
