"""One JSON-safe conversion for every output: CLI --json, REST, SQL, GDPR export."""

from __future__ import annotations

import datetime as dt
import json

from parcours.values import jsonable


def test_every_kind_of_lake_value_becomes_json() -> None:
    value = {
        "ts": dt.datetime(2026, 3, 1, 10, 0, 5, 250000, tzinfo=dt.UTC),
        "day": dt.date(2026, 3, 1),
        "at": dt.time(7, 30),
        "took": dt.timedelta(minutes=2, milliseconds=500),
        "raw": b"\x00\xffA",
        "nan": float("nan"),
        "inf": float("-inf"),
        "x": 1.5,
        "n": 3,
        "none": None,
        "nested": [(1, dt.date(2020, 1, 2)), {"k": float("inf")}],
        7: "int key",
    }
    out = jsonable(value)
    assert out == {
        "ts": "2026-03-01T10:00:05.250000+00:00", "day": "2026-03-01", "at": "07:30:00",
        "took": 120.5, "raw": "00ff41", "nan": None, "inf": None, "x": 1.5, "n": 3, "none": None,
        "nested": [[1, "2020-01-02"], {"k": None}], "7": "int key",
    }
    assert json.loads(json.dumps(out, allow_nan=False)) == out
