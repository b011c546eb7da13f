"""The loader's columnar path gives exactly what the per-event path gives.

The reference below is the per-event transcription of the loader's rules: each body
through :func:`decode` (the collector's verdicts and reasons), then one row per valid
event built with ``event_name``/``channel_of`` and the first of each messageId kept.
The loader decodes ``/v1/batch`` bodies with msgspec and checks them on Arrow columns
instead; both must agree on every accept/reject decision, every reason and every value.
"""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import pyarrow as pa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from parcours.collect.loader import Batch, EventRows, _table, fast_events
from parcours.collect.model import channel_of, decode, event_name
from parcours.collect.quarantine import quarantine_id
from parcours.collect.spool import Meta, Record
from tests.collect.test_collector_fuzz import bad_event
from tests.collect.test_verdict import any_event, valid_event

_UTC = dt.UTC
_RECEIVED_US = 1_772_000_000_123_456


def _sid(v: Any) -> str | None:
    return None if v is None or v == "" else str(v)


def _json(raw: Any) -> str | None:
    text = bytes(raw).decode("utf-8")
    return None if text in ("", "null") else text


def reference(records: list[tuple[str | None, int, bytes]], limit: int = 32 * 1024
              ) -> tuple[list[dict[str, Any]], list[tuple[str, str, str]], int]:
    """(rows, quarantined (id, reason, payload) sorted, in-batch duplicates) the
    per-event rules give."""
    rows: list[dict[str, Any]] = []
    quarantined: list[tuple[str, str, str]] = []
    seen: set[str] = set()
    dups = 0
    for i, (channel, received_us, body) in enumerate(records):
        received = dt.datetime(1970, 1, 1, tzinfo=_UTC) + dt.timedelta(microseconds=received_us)
        d = decode(body, "batch", limit, keep_payloads=True)
        if d.fatal:
            quarantined.append((quarantine_id(f"seg@{i}"), d.fatal, body.decode("utf-8", "replace")))
        quarantined.extend((quarantine_id(f"seg@{i}", r.index), f"event {r.index}: {r.reason}",
                            r.payload.decode("utf-8", "replace")) for r in d.rejections)
        for e in d.events:
            if e.messageId in seen:
                dups += 1
                continue
            seen.add(e.messageId)  # type: ignore[arg-type]
            ts = e.timestamp or received
            rows.append({
                "message_id": e.messageId, "tenant": "energie", "type": e.type,
                "event": event_name(e), "channel": channel_of(e, channel),
                "user_id": _sid(e.userId), "anonymous_id": _sid(e.anonymousId),
                "previous_id": _sid(e.previousId), "group_id": _sid(e.groupId),
                "timestamp": ts.astimezone(_UTC), "received_at": received,
                "properties": _json(e.properties), "traits": _json(e.traits), "context": _json(e.context),
            })
    return rows, sorted(quarantined), dups


def loaded(records: list[tuple[str | None, int, bytes]], limit: int = 32 * 1024
           ) -> tuple[list[dict[str, Any]], list[tuple[str, str, str]], int]:
    """What the loader's batch builds from the same records."""
    batch = Batch("http", limit)
    for i, (channel, received_us, body) in enumerate(records):
        batch.add(Record("seg", i, Meta("energie", channel, "batch", received_us), body))
    batch.prepare()
    table = batch.tables.get("energie")
    rows = table.to_pylist() if table is not None else []
    buf = batch.quarantine.get("energie")
    quarantined = sorted(zip(buf.rows["quarantine_id"], buf.rows["reason"], buf.rows["payload"],
                             strict=True)) if buf is not None else []
    dups = batch.events["energie"].in_batch_duplicates if "energie" in batch.events else 0
    return rows, quarantined, dups


def assert_same(records: list[tuple[str | None, int, bytes]], limit: int = 32 * 1024) -> None:
    assert loaded(records, limit) == reference(records, limit)


def column_verdict(body: bytes, limit: int = 32 * 1024) -> list[int] | None:
    """Indexes of the events the column checks reject, or None if the fast path declines."""
    events = fast_events(body, limit)
    if events is None:
        return None
    rows = EventRows()
    rows.add_unchecked(events, "energie", None, _RECEIVED_US, record=object())
    if not events:
        return []
    bad = _table(rows.events, rows.runs, 0, len(events)).column("__bad").to_pylist()
    return [i for i, b in enumerate(bad) if b]


channels = st.sampled_from([None, "", "web", "call_center"])
contexts = st.sampled_from([None, {}, {"channel": "store"}, {"channel": ""}, {"channel": 3},
                            {"ip": "10.0.0.1", "channel": "x" * 80}, {"note": "\"channel\" in text"}])


_EDGES = {
    "type": ["track", "page", "alias", "group", "screen", "identify", "Track", None, 3],
    "messageId": ["m", "", None, 7], "userId": ["u", "", None, 0, -1], "anonymousId": ["a", "", None, 0],
    "event": ["E", "", None], "name": ["N", "", None], "groupId": ["g", "", None, 0],
    "previousId": ["p", "", None, 0],
    "timestamp": ["2026-01-01T00:00:00Z", "2026-01-01T00:00:00", "1969-12-31T23:59:59.999999Z",
                  "2100-12-31T23:59:59.999999Z", "2101-01-01T00:00:00Z", "1970-01-01T01:00:00+02:00", None],
    "properties": [{}, None, [], "x", 0], "traits": [{}, None, [1]], "context": [{}, None, "c"],
}


@st.composite
def near_valid(draw: st.DrawFn) -> dict:
    """A valid event with one or two fields moved to an edge (absent, empty, 0, odd):
    where the rules' boundaries are."""
    e = valid_event(draw(st.integers(0, 3)), draw(st.sampled_from(
        ["track", "identify", "page", "screen", "group", "alias"])))
    e["anonymousId"] = "a"
    for name in draw(st.lists(st.sampled_from(sorted(_EDGES)), min_size=1, max_size=2, unique=True)):
        if draw(st.booleans()):
            e.pop(name, None)
        else:
            e[name] = draw(st.sampled_from(_EDGES[name]))
    return e


@st.composite
def body(draw: st.DrawFn) -> bytes:
    """A batch mixing events of every shape, valid ones, hostile ones and shared ids."""
    events = []
    for _ in range(draw(st.integers(0, 6))):
        kind = draw(st.sampled_from(["any", "near", "near", "near", "valid", "bad"]))
        if kind == "near":
            e = draw(near_valid())
        elif kind == "any":
            e = draw(any_event())
        elif kind == "valid":
            e = valid_event(draw(st.integers(0, 3)), draw(st.sampled_from(
                ["track", "identify", "page", "screen", "group", "alias"])))
            if draw(st.booleans()):
                e["context"] = draw(contexts)
            if draw(st.booleans()):
                e["timestamp"] = draw(st.sampled_from([
                    "2026-01-01T00:00:00.5+02:00", "2026-01-01T00:00:00", "2026-06-30T23:59:59.999999-05:30",
                    "2100-12-31T23:59:59.999999Z", "1970-01-01T00:00:00Z"]))
        else:
            e = draw(bad_event())
        events.append(e)
    doc: dict[str, Any] = {"batch": events}
    if draw(st.booleans()):
        doc["writeKey"] = draw(st.sampled_from(["wk", 5]))
    return json.dumps(doc, ensure_ascii=draw(st.booleans())).encode()


@settings(max_examples=800, deadline=None, database=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(body())
def test_column_checks_reject_exactly_what_decode_rejects(b: bytes) -> None:
    verdict = column_verdict(b)
    d = decode(b, "batch", keep_payloads=True)
    if verdict is None:  # declined bodies go through decode() itself
        return
    assert d.fatal is None
    assert verdict == [r.index for r in d.rejections]


@settings(max_examples=150, deadline=None, database=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(st.lists(st.tuples(channels, st.integers(0, 2**52), body()), min_size=1, max_size=4))
def test_batches_load_as_the_per_event_rules_say(records: list[tuple[str | None, int, bytes]]) -> None:
    assert_same(records)


def test_fast_path_is_taken_for_valid_batches_and_values_are_exact() -> None:
    events = [valid_event(i, k) for i, k in enumerate(["track", "identify", "page", "screen", "group", "alias"])]
    events[0]["context"] = {"channel": "store", "ip": "10.0.0.1"}
    events[1]["userId"] = ""  # empty user id, anonymous id set: valid
    events[1]["anonymousId"] = "a1"
    events[2]["timestamp"] = "2026-03-01T10:00:00.25+01:00"
    events[3].pop("timestamp")  # arrival time is used
    b = json.dumps({"batch": events}).encode()
    assert fast_events(b) is not None and column_verdict(b) == []
    rows, quarantined, dups = loaded([("web", _RECEIVED_US, b)])
    assert (quarantined, dups) == ([], 0)
    got = {r["message_id"]: r for r in rows}
    assert got["m0"]["channel"] == "store" and got["m0"]["event"] == "E"
    assert got["m1"]["user_id"] is None and got["m1"]["anonymous_id"] == "a1"
    assert got["m2"]["timestamp"] == dt.datetime(2026, 3, 1, 9, 0, 0, 250000, tzinfo=_UTC)
    assert got["m3"]["timestamp"] == got["m3"]["received_at"] == dt.datetime(2026, 2, 25, 6, 13, 20, 123456,
                                                                              tzinfo=_UTC)
    assert got["m4"]["group_id"] == "g" and got["m5"]["previous_id"] == "p"
    assert got["m5"]["user_id"] == "5"  # an integer id, as text
    assert [got[f"m{i}"]["channel"] for i in range(1, 6)] == ["web"] * 5
    assert_same([("web", _RECEIVED_US, b)])


def test_duplicates_across_fast_and_redone_records_keep_the_first() -> None:
    first = valid_event(1, "track")
    first["properties"] = {"v": "first"}
    again = dict(valid_event(1, "track"), properties={"v": "second"})
    bad = {"type": "track", "messageId": "x", "event": "E"}  # no user id: its record is redone
    records = [
        (None, 1, json.dumps({"batch": [bad, first]}).encode()),  # redone by decode()
        (None, 2, json.dumps({"batch": [again, valid_event(2, "page")]}).encode()),  # fast
        (None, 3, json.dumps({"batch": [valid_event(2, "page")]}).encode()),
    ]
    rows, quarantined, dups = loaded(records)
    assert dups == 2 and [r for _, r, _ in quarantined] == ["event 0: userId or anonymousId is required"]
    assert [(r["message_id"], r["properties"]) for r in rows if r["message_id"] == "m1"] == [
        ("m1", '{"v": "first"}')]
    assert_same(records)


def test_size_limit_utf8_and_declined_bodies() -> None:
    big = dict(valid_event(9, "track"), properties={"s": "x" * 2000})
    b = json.dumps({"batch": [valid_event(i, "page") for i in range(30)] + [big]}).encode()
    assert fast_events(b, 1500) is None and fast_events(b, 4000) is not None
    assert_same([(None, 5, b)], limit=1500)
    assert_same([(None, 5, b)], limit=4000)
    latin = json.dumps({"batch": [dict(valid_event(1, "track"), properties={"n": "Élodie"})]},
                       ensure_ascii=False).encode()
    assert fast_events(latin) is not None
    broken = b'{"batch": [{"type": "page", "messageId": "m\xff", "userId": "u"}]}'
    assert fast_events(broken) is None
    assert_same([(None, 5, latin), (None, 6, broken), (None, 7, b'{"batch": 3}'), (None, 8, b"nope")])


def test_event_rows_from_checked_events_match_the_old_table() -> None:
    d = decode(json.dumps({"batch": [valid_event(1, "track"), valid_event(2, "screen")]}).encode(), "batch")
    rows = EventRows()
    for e in d.events:
        rows.add(e, "energie", None, dt.datetime(2026, 1, 1, tzinfo=_UTC))
    t = rows.to_arrow()
    assert t.schema.field("message_id").nullable is False
    assert t.column("channel").to_pylist() == ["web", "app"]
    assert t.column("received_at").to_pylist() == [dt.datetime(2026, 1, 1, tzinfo=_UTC)] * 2
    assert t.column("user_id").type == pa.string() and t.column("user_id").to_pylist() == ["1", "2"]
