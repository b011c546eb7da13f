"""The collector's fast check (``validate``) gives exactly the verdict of ``decode``,
the function the loader writes with: same accepted count, same rejections and reasons,
same fatal error, on valid and hostile batches alike."""

from __future__ import annotations

import json

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from parcours.collect.model import decode, validate
from tests.collect.test_collector_fuzz import bad_event

ids = st.one_of(st.text(min_size=1, max_size=8), st.integers(-5, 5), st.just(""), st.none())
timestamps = st.sampled_from([
    None, "2026-01-01T00:00:00Z", "2026-01-01T00:00:00", "2026-01-01T00:00:00+02:00",
    "1970-01-01T00:00:00Z", "1969-12-31T23:59:59Z", "2100-12-31T23:59:59Z", "2101-01-01T00:00:00Z",
])
objects = st.sampled_from([None, {}, {"a": 1}, {"channel": "call_center"}, [], "x", 3])


@st.composite
def any_event(draw: st.DrawFn) -> dict:
    """An event of any type with each field present, absent, empty or odd."""
    e: dict = {"type": draw(st.sampled_from(["track", "identify", "page", "screen", "group",
                                             "alias", "other"]))}
    for name in ("messageId", "userId", "anonymousId", "event", "name", "groupId", "previousId"):
        if draw(st.booleans()):
            e[name] = draw(ids)
    if draw(st.booleans()):
        e["timestamp"] = draw(timestamps)
    for name in ("properties", "traits", "context"):
        if draw(st.booleans()):
            e[name] = draw(objects)
    return e


def valid_event(i: int, kind: str) -> dict:
    e = {"type": kind, "messageId": f"m{i}", "userId": i, "timestamp": "2026-01-01T00:00:00Z",
         "properties": {"n": i}, "context": None}
    e.update({"track": {"event": "E"}, "group": {"groupId": "g"},
              "alias": {"previousId": "p"}}.get(kind, {}))
    return e


def same_verdict(body: bytes, limit: int = 32 * 1024, endpoint: str = "batch") -> None:
    d, v = decode(body, endpoint, limit), validate(body, endpoint, limit)
    assert (v.write_key, v.accepted, v.fatal) == (d.write_key, len(d.events), d.fatal)
    assert [r.to_dict() for r in v.rejections] == [r.to_dict() for r in d.rejections]


@settings(max_examples=600, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(any_event(), min_size=1, max_size=6), st.sampled_from([None, "wk", 5]))
def test_any_batch_gets_the_verdict_of_decode(events: list[dict], key: object) -> None:
    body: dict = {"batch": events}
    if key is not None:
        body["writeKey"] = key
    same_verdict(json.dumps(body).encode())


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.sampled_from(["track", "identify", "page", "screen", "group", "alias"]),
                min_size=1, max_size=8), st.data())
def test_valid_batches_and_one_bad_event(kinds: list[str], data: st.DataObject) -> None:
    events = [valid_event(i, k) for i, k in enumerate(kinds)]
    same_verdict(json.dumps({"batch": events}).encode())
    assert validate(json.dumps({"batch": events}).encode(), "batch").accepted == len(events)
    events.insert(data.draw(st.integers(0, len(events))), data.draw(bad_event()))
    same_verdict(json.dumps({"batch": events}).encode())


def test_odd_bodies_get_the_verdict_of_decode() -> None:
    good = json.dumps(valid_event(1, "track"))
    bodies = [
        b'{"batch": [' + good.encode() + b"]}",
        b'{"batch": []}',
        b'{"batch": {}}',
        b"[]",
        b"",
        b'{"batch": [' + good.encode() + b", 3]}",
        # a repeated type: msgspec's tagged union refuses it, decode keeps the last one
        b'{"batch": [{"type": "page", "messageId": "m", "userId": "u", "type": "track"}]}',
        b'{"batch": [{"type": "track", "messageId": "m", "userId": "u", "event": "E", "type": "page"}]}',
        # invalid UTF-8 inside a string
        b'{"batch": [{"type": "page", "messageId": "m\xff", "userId": "u"}]}',
        b'{"batch": [{"type": "page", "messageId": "m", "userId": "u", "timestamp": "2026-02-30T00:00:00Z"}]}',
    ]
    for body in bodies:
        same_verdict(body)
    # over the per-event limit inside a body larger than it
    big = {"type": "track", "messageId": "big", "userId": "u", "event": "E",
           "properties": {"s": "x" * 2000}}
    body = json.dumps({"batch": [valid_event(i, "page") for i in range(30)] + [big]}).encode()
    same_verdict(body, limit=1500)
    assert validate(body, "batch", 1500).accepted == 30
    same_verdict(body, limit=4000)
    assert validate(body, "batch", 4000).accepted == 31


ENDPOINTS = ["track", "identify", "page", "screen", "group", "alias"]


@settings(max_examples=600, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(any_event(), st.booleans(), st.sampled_from(ENDPOINTS), st.sampled_from([None, "wk", 5]))
def test_any_single_call_gets_the_verdict_of_decode(event: dict, typed: bool, endpoint: str,
                                                    key: object) -> None:
    """``/v1/track`` and the others: the body's ``type`` may be absent (the endpoint
    says it), equal to the endpoint, or another type (rejected)."""
    if not typed:
        del event["type"]
    if key is not None:
        event["writeKey"] = key
    same_verdict(json.dumps(event).encode(), endpoint=endpoint)


def test_valid_and_odd_single_calls() -> None:
    for kind in ENDPOINTS:
        e = valid_event(1, kind)
        assert validate(json.dumps(e).encode(), kind).accepted == 1
        del e["type"]
        assert validate(json.dumps(e).encode(), kind).accepted == 1
        other = "page" if kind != "page" else "track"
        v = validate(json.dumps({**e, "type": other}).encode(), kind)
        assert v.accepted == 0 and v.rejections[0].reason == f"type {other!r} sent to /v1/{kind}"
    good = json.dumps(valid_event(1, "track"))
    bodies = [
        good.encode(), b"", b"[]", b"3", b'{"batch": []}',
        b'{"type": "page", "messageId": "m", "userId": "u", "event": "E", "type": "track"}',
        b'{"messageId": "m\xff", "userId": "u", "event": "E"}',
        b'{"messageId": "m", "userId": "u", "event": "E", "properties": {"a": "\xff"}}',  # skipped by msgspec
        b'{"messageId": "m", "userId": "u", "event": "E", "timestamp": "2026-02-30T00:00:00Z"}',
        b'{"messageId": "m", "userId": "u", "event": "E", "timestamp": "2101-01-01T00:00:00Z"}',
        b'{"messageId": "m", "anonymousId": "", "userId": null, "event": "E"}',
    ]
    for body in bodies:
        for endpoint in ENDPOINTS:
            same_verdict(body, endpoint=endpoint)
    big = json.dumps({**valid_event(1, "track"), "properties": {"s": "x" * 2000}}).encode()
    same_verdict(big, limit=1500, endpoint="track")
    assert validate(big, "track", 1500).accepted == 0
