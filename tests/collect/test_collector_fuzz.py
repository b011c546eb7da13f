"""Property test: hostile and malformed payloads never get a 5xx, every rejection
names its reason, and the valid events of a partly invalid batch are all loaded."""

from __future__ import annotations

import gzip
import itertools
import json

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from parcours.collect.loader import load_spool
from tests.collect.conftest import Harness

_ids = itertools.count()

junk = st.one_of(
    st.none(), st.booleans(), st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=False), st.text(max_size=30), st.lists(st.integers(), max_size=3),
    st.dictionaries(st.text(max_size=5), st.integers(), max_size=3),
)
bad_timestamps = st.sampled_from([
    "yesterday", "", "2026-13-01T00:00:00Z", "2026-02-30T00:00:00Z", "1969-12-31T23:59:59Z",
    "9999-01-01T00:00:00Z", "2026-01-01", "01/02/2026", "2026-01-01T25:00:00Z", 1700000000,
])
huge = st.sampled_from(["h" * 40_000, "\u00e9" * 20_000])


@st.composite
def bad_event(draw: st.DrawFn, single: bool = False) -> dict:
    e = {"type": "track", "messageId": f"bad-{next(_ids)}", "userId": "u", "event": "E",
         "timestamp": "2026-01-01T00:00:00Z"}
    how = draw(st.sampled_from(["type", "field", "missing", "timestamp", "huge", "object", "noid"]))
    if how == "type":
        e[draw(st.sampled_from(["messageId", "userId", "event", "timestamp", "type"]))] = draw(
            # integers are valid ids (SDKs send numeric user ids), so never drawn here
            junk.filter(lambda v: v is not None and (isinstance(v, bool) or not isinstance(v, str | int))))
    elif how == "field":
        e["type"] = draw(st.text(max_size=12).filter(lambda t: t not in {"track", "identify", "page", "screen"}))
    elif how == "missing":
        # /v1/track implies the type: dropping it there would make the event valid
        del e[draw(st.sampled_from(["messageId", "event"] if single else ["messageId", "type", "event"]))]
    elif how == "timestamp":
        e["timestamp"] = draw(bad_timestamps)
    elif how == "huge":
        e["properties"] = {"s": draw(huge)}
    elif how == "object":
        e[draw(st.sampled_from(["properties", "traits", "context"]))] = draw(
            st.one_of(st.integers(), st.text(max_size=5), st.lists(st.integers(), max_size=2)))
    else:
        del e["userId"]
    return e


def good_event() -> dict:
    i = next(_ids)
    return {"type": "track", "messageId": f"good-{i}", "anonymousId": f"a{i}", "event": "Ok",
            "timestamp": "2026-01-01T00:00:00+02:00", "properties": {"i": i}}


@st.composite
def request(draw: st.DrawFn) -> tuple[str, bytes, dict, list[str], int]:
    """(path, body, headers, valid message ids inside, invalid events inside)."""
    kind = draw(st.sampled_from(["mixed", "mixed", "mixed", "json", "gzip", "key", "shape", "single"]))
    if kind == "mixed":
        events = [good_event() for _ in range(draw(st.integers(0, 4)))]
        bad = [draw(bad_event()) for _ in range(draw(st.integers(0, 3)))]
        mixed = draw(st.permutations(events + bad))
        body = json.dumps({"batch": mixed}).encode()
        if len(body) > 500 * 1024:  # pragma: no cover - sizes above stay far below
            return "/v1/batch", body, {}, [], 0
        return "/v1/batch", body, {}, [e["messageId"] for e in events], len(bad)
    if kind == "json":
        return "/v1/batch", draw(st.binary(max_size=200)), {}, [], 0
    if kind == "gzip":
        raw = draw(st.binary(max_size=100))
        if draw(st.booleans()):  # a truncated real gzip stream
            raw = gzip.compress(json.dumps({"batch": [good_event()]}).encode())[: draw(st.integers(1, 30))]
        return "/v1/batch", raw, {"content-encoding": "gzip"}, [], 0
    if kind == "key":
        return "/v1/batch", json.dumps({"batch": [good_event()]}).encode(), {"authorization": draw(
            st.sampled_from(["Basic d2tfbm9wZTo=", "Bearer x", "Basic !!!", "Basic "]))}, [], 0
    if kind == "shape":
        items = draw(st.lists(junk.filter(lambda v: not isinstance(v, dict)), max_size=3))
        if draw(st.booleans()):  # a batch of non-objects: each one is rejected
            return "/v1/batch", json.dumps({"batch": items}).encode(), {}, [], len(items)
        return "/v1/batch", json.dumps(draw(st.one_of(
            st.lists(st.integers(), max_size=3), st.dictionaries(st.text(max_size=4), junk, max_size=3),
            st.just({"batch": "nope"})))).encode(), {}, [], 0
    e = draw(st.one_of(bad_event(single=True), st.builds(good_event)))
    if e.get("type") == "track":
        del e["type"]
    path = "/v1/track"
    good = [e["messageId"]] if str(e.get("messageId", "")).startswith("good-") else []
    return path, json.dumps(e).encode(), {}, good, 0 if good else 1


def test_hostile_payloads(workspace):
    h = Harness(workspace)
    key = h.keys.create("energie")
    expected: set[str] = set()
    stats = {"requests": 0, "rejected_events": 0, "statuses": set()}

    @settings(max_examples=1200, deadline=None, database=None,
              suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
    @given(request())
    def check(req: tuple[str, bytes, dict, list[str], int]) -> None:
        path, body, headers, good, n_bad = req
        headers = {"content-type": "application/json", **headers}
        auth = None if "authorization" in headers else (key, "")
        r = h.post(path, content=body, headers=headers, auth=auth)
        stats["requests"] += 1
        stats["statuses"].add(r.status_code)
        assert r.status_code < 500, r.text
        if r.status_code == 200:
            assert r.json() == {"success": True} and n_bad == 0
            expected.update(good)
            return
        err = r.json()["error"]
        assert err["type"] and err["message"]
        if err["type"] == "InvalidEvents":
            assert err["accepted"] == len(good)
            assert len(err["rejected"]) == n_bad
            assert all(x["reason"] for x in err["rejected"])
            stats["rejected_events"] += n_bad
            expected.update(good)
        else:
            assert not good or "authorization" in headers or r.status_code in (400, 413), err

    check()
    h.seal()
    res = load_spool(workspace)
    h.close()
    assert stats["requests"] >= 1000
    assert {200, 400, 401}.issubset(stats["statuses"])
    loaded = set(workspace.lake.read("energie", "raw", "events").column("message_id").to_pylist())
    assert loaded == expected  # every valid event of an accepted request, nothing else
    assert res.quarantined >= stats["rejected_events"]
