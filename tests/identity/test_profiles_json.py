"""Profiles' JSON is built by vectorized Arrow kernels: it must be what json.dumps writes."""

from __future__ import annotations

import datetime as dt
import json

import pyarrow as pa

from parcours.identity.attributes import json_text, json_time

UTC = dt.UTC


def test_json_text_matches_json_dumps():
    values = [
        "plain", 'say "hi"', "back\\slash", "tab\there", "new\nline", "bell\x07", "", "é ü 中文 😀",
        '\\"', "\x00", "end\\", None,
    ]
    got = json_text(pa.array(values, pa.string())).to_pylist()
    assert got == [json.dumps(v, ensure_ascii=False) for v in values]
    assert [json.loads(g) for g in got] == values


def test_json_time_matches_isoformat():
    values = [
        dt.datetime(2025, 1, 2, 3, 4, 5, tzinfo=UTC),            # no microseconds: none written
        dt.datetime(2025, 1, 2, 3, 4, 5, 120, tzinfo=UTC),       # leading zeros kept
        dt.datetime(1999, 12, 31, 23, 59, 59, 999999, tzinfo=UTC),
        None,
    ]
    got = json_time(pa.array(values, pa.timestamp("us", tz="UTC"))).to_pylist()
    assert got == [json.dumps(v.isoformat() if v else None) for v in values]
    naive = [dt.datetime(2025, 6, 1, 12, 0, 0, 5)]
    assert json_time(pa.array(naive, pa.timestamp("us"))).to_pylist() == [json.dumps(naive[0].isoformat())]
