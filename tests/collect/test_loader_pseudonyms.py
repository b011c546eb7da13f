"""The analytics copy the loader writes: JSON texts rewritten once per distinct value
give exactly what the row-by-row rewrite gives."""

from __future__ import annotations

import pyarrow as pa
from hypothesis import given, settings
from hypothesis import strategies as st

from parcours.events import spec
from parcours.privacy.keys import TenantSecret
from parcours.privacy.pseudonymize import _pseudonymize_json_rows, pseudonymize_json_array

SECRET = TenantSecret("energie", b"k" * 32)
CONTEXT = spec("events").json_identifiers["context"]

texts = st.sampled_from([
    '{"library": {"name": "analytics.js"}, "ip": "10.0.0.1"}',
    '{"ip": "10.0.0.2", "deviceId": "d-1"}',
    '{"ip": "", "deviceId": 42}',
    '{"page": {"url": "https://x/?a=\\"ip\\""}, "ip": "10.0.0.1"}',
    '{"ip": "1", "ip": "2"}',
    '{"channel": "web"}',
    "not json",
    "null",
])


@settings(max_examples=60, deadline=None, database=None)
@given(st.lists(st.one_of(st.none(), texts), min_size=1, max_size=40))
def test_distinct_texts_rewrite_like_each_row(values: list[str | None]) -> None:
    array = pa.array(values, pa.string())
    got = pseudonymize_json_array(SECRET, array, CONTEXT)
    assert got.to_pylist() == _pseudonymize_json_rows(SECRET, array, CONTEXT).to_pylist()
    assert got.type == pa.string()
    assert not any("10.0.0." in v or "d-1" in v for v in got.to_pylist() if v is not None)
