"""Schema validation: good and bad records, exact error messages."""

from __future__ import annotations

import datetime as dt

import pyarrow as pa
import pytest

from parcours.events import TABLES, conform, spec, validate_records
from parcours.events.errors import SchemaError

UTC = dt.UTC


def _event(**over):
    base = {
        "message_id": "m-1",
        "tenant": "energie",
        "type": "track",
        "event": "invoice_viewed",
        "channel": "web",
        "user_id": "C0000001",
        "timestamp": "2025-03-01T10:15:00+01:00",
        "received_at": "2025-03-01T09:15:02Z",
        "properties": {"amount": 42.5},
    }
    base.update(over)
    return base


def test_good_event_is_typed_and_gets_its_day():
    good, bad = validate_records(spec("events"), [_event()])
    assert bad == []
    row = good.to_pylist()[0]
    assert row["timestamp"] == dt.datetime(2025, 3, 1, 9, 15, tzinfo=UTC)
    assert row["day"] == dt.date(2025, 3, 1)
    assert row["properties"] == '{"amount":42.5}'
    assert good.schema == spec("events").schema


@pytest.mark.parametrize(
    ("record", "field", "reason"),
    [
        (_event(message_id=None), "message_id", "required field is missing"),
        (_event(timestamp="yesterday"), "timestamp", "not an ISO 8601 timestamp: 'yesterday'"),
        (_event(timestamp=12), "timestamp", "expected an ISO 8601 timestamp, got int"),
        (_event(timestamp="1850-01-01T00:00:00Z"), "timestamp",
         "timestamp out of range (1970-2100): 1850-01-01T00:00:00+00:00"),
        (_event(user_id=True), "user_id", "expected a string, got bool"),
        (_event(colour="red"), "colour", "unknown field"),
    ],
)
def test_bad_event_names_field_and_reason(record, field, reason):
    good, bad = validate_records(spec("events"), [_event(message_id="ok"), record])
    assert good.num_rows == 1 and good.column("message_id").to_pylist() == ["ok"]
    assert len(bad) == 1
    assert (bad[0].index, bad[0].field, bad[0].reason) == (1, field, reason)
    assert bad[0].message == f"{field}: {reason}"


def test_numbers_and_integers_are_checked():
    s = spec("meter_readings")
    base = {"meter_point": "12345678901234", "site_id": "S1", "ts": "2025-01-01T00:00:00Z",
            "interval_minutes": 30, "kwh": "0,75"}
    good, bad = validate_records(s, [base, {**base, "kwh": "lots"}, {**base, "interval_minutes": 1e9},
                                      {**base, "kwh": float("nan")}])
    assert good.column("kwh").to_pylist() == [0.75]
    assert [(b.field, b.reason) for b in bad] == [
        ("kwh", "expected a number, got 'lots'"),
        ("interval_minutes", "integer out of range for int16"),
        ("kwh", "expected a finite number"),
    ]


def test_not_an_object():
    _, bad = validate_records(spec("weather"), ["nope"])
    assert (bad[0].field, bad[0].reason) == ("(record)", "expected an object")


def test_conform_derives_day_and_rejects_unknown_or_null():
    s = spec("weather")
    t = pa.table({"region": ["IDF"], "date": [dt.date(2025, 1, 2)], "temp_mean_c": [1]})
    out = conform(s, t)
    assert out.schema == s.schema and out.column("temp_mean_c").to_pylist() == [1.0]
    with pytest.raises(SchemaError, match=r"^weather\.colour: unknown column$"):
        conform(s, t.append_column("colour", pa.array(["x"])))
    with pytest.raises(SchemaError, match=r"^weather\.region: 1 null value\(s\) in a required column$"):
        conform(s, t.set_column(0, "region", pa.array([None], pa.string())))
    ev = conform(spec("events"), validate_records(spec("events"), [_event()])[0].drop(["day"]))
    assert ev.column("day").to_pylist() == [dt.date(2025, 3, 1)]


def test_every_spec_is_consistent():
    for name, s in TABLES.items():
        assert s.name == name
        assert set(s.key) <= set(s.schema.names), name
        assert set(s.identifiers) <= set(s.schema.names), name
        assert set(s.free_text) <= set(s.schema.names), name
        if s.time_column:
            assert s.schema.names[-1] == "day" and s.time_column in s.schema.names
