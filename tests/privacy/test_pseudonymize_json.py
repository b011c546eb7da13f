"""Identifiers inside JSON columns: the Arrow-kernel rewrite of simple rows gives the
same objects as parsing every row in Python, and never leaves an identifier value."""

from __future__ import annotations

import json

import pyarrow as pa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from parcours.privacy.keys import TenantSecret
from parcours.privacy.pseudonymize import (
    _pseudonymize_json,
    _Pseudonyms,
    pseudonym,
    pseudonymize_json_array,
)

SECRET = TenantSecret("t", b"k" * 32)
KEYS = {"ip": "ip", "email": "email", "deviceId": "device_id"}

texts = st.one_of(
    st.sampled_from(["10.0.0.1", "", "a@b.fr", 'quote " inside', "back\\slash", "é ünï", "ip",
                     '"ip": "x"', "\n", "email"]),
    st.text(max_size=8),
)
scalars = st.one_of(texts, st.integers(-3, 10**12), st.booleans(), st.none(), st.floats(-1, 1))
names = st.sampled_from(["ip", "email", "deviceId", "name", "library", "x", "IP", "e mail"])
values = st.recursive(
    scalars,
    lambda inner: st.one_of(st.lists(inner, max_size=3),
                            st.dictionaries(names, inner, max_size=4)),
    max_leaves=8,
)
objects = st.dictionaries(names, values, max_size=5)
layouts = st.sampled_from([
    {}, {"separators": (",", ":")}, {"indent": 1}, {"ensure_ascii": False},
    {"separators": (" , ", " :  ")},
])


def by_python(text: str | None) -> str | None:
    if text is None:
        return None
    return _pseudonymize_json(text, KEYS, _Pseudonyms(SECRET))


def _loads(text: str | None) -> object:
    return None if text is None else json.loads(text)


@settings(max_examples=500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.one_of(st.none(), st.tuples(objects, layouts)), min_size=1, max_size=12))
def test_kernel_rewrite_equals_parsing_every_row(rows: list) -> None:
    texts_in = [None if r is None else json.dumps(r[0], **r[1]) for r in rows]
    got = pseudonymize_json_array(SECRET, pa.array(texts_in, pa.string()), KEYS).to_pylist()
    want = [by_python(t) for t in texts_in]
    assert [_loads(g) for g in got] == [_loads(w) for w in want]


def test_sdk_contexts_are_rewritten_in_place() -> None:
    rows = [
        '{"library": {"name": "analytics-python"}, "ip": "10.0.0.1"}',
        '{"ip": "10.0.0.2", "deviceId": "D-1", "locale": "fr-FR"}',
        '{"ip": ""}',
        '{"library": {"name": "x"}}',
        '{"ip": "10.0.0.1", "note": "say \\"hi\\""}',  # an escape: parsed in Python
        '{"ip": 42}',
        '{"a": {"ip": "10.0.0.3"}, "b": [{"ip": "10.0.0.3"}]}',  # twice: parsed in Python
        '{"ip": "10.0.0.4", "email": 5}',  # one simple key, one not: the whole row parsed
    ]
    out = pseudonymize_json_array(SECRET, pa.array(rows), KEYS).to_pylist()
    p = lambda v: pseudonym(SECRET, v)  # noqa: E731
    # simple rows keep their text, only the value changes
    assert out[0] == '{"library": {"name": "analytics-python"}, "ip": "' + p("10.0.0.1") + '"}'
    assert out[1] == f'{{"ip": "{p("10.0.0.2")}", "deviceId": "{p("D-1")}", "locale": "fr-FR"}}'
    assert out[2] == rows[2] and out[3] == rows[3]
    assert json.loads(out[4]) == {"ip": p("10.0.0.1"), "note": 'say "hi"'}
    assert json.loads(out[5]) == {"ip": p("42")}
    assert json.loads(out[6]) == {"a": {"ip": p("10.0.0.3")}, "b": [{"ip": p("10.0.0.3")}]}
    assert json.loads(out[7]) == {"ip": p("10.0.0.4"), "email": p("5")}
    joined = "".join(out)
    assert "10.0.0." not in joined and "D-1" not in joined
