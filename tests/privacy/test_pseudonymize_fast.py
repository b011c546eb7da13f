"""The column pseudonymizer (HMAC states computed once per key) writes exactly what the
one-value :func:`pseudonym` (``hmac.new``) writes."""

from __future__ import annotations

import random

import pyarrow as pa

from parcours.privacy.keys import TenantSecret
from parcours.privacy.pseudonymize import pseudonym, pseudonymize_array, pseudonymize_json_array


def test_column_pseudonyms_equal_one_value_pseudonyms():
    rnd = random.Random(3)
    alphabet = "abcXYZ019@.+ -_éü中😀\"\\\t"
    # keys shorter than, equal to and longer than SHA-256's 64-byte block (hashed first)
    for size in (0, 1, 16, 32, 63, 64, 65, 100):
        secret = TenantSecret("t", bytes(rnd.randrange(256) for _ in range(size)))
        values = ["".join(rnd.choice(alphabet) for _ in range(rnd.randrange(0, 70))) for _ in range(300)]
        values += values[:50] + [None]  # repeats and a null
        got = pseudonymize_array(secret, pa.array(values, pa.string())).to_pylist()
        assert got == [None if v is None else pseudonym(secret, v) for v in values]
        assert len({g for g in got if g}) == len({v for v in values if v is not None})


def test_json_pseudonyms_equal_one_value_pseudonyms():
    secret = TenantSecret("t", b"k" * 32)
    texts = ['{"email": "a@b.c"}', '{"email": "a@b.c", "x": {"email": "d\\"e"}}', None]
    got = pseudonymize_json_array(secret, pa.array(texts, pa.string()), {"email": "email"}).to_pylist()
    assert got[0] == '{"email": "' + pseudonym(secret, "a@b.c") + '"}'
    assert pseudonym(secret, 'd"e') in got[1] and pseudonym(secret, "a@b.c") in got[1]
    assert got[2] is None
