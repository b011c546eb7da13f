"""Keyed pseudonyms for the analytics zone.

Every direct identifier listed in a table's spec is replaced by
``HMAC-SHA256(tenant secret, value)``, truncated to 128 bits and written as
``px`` + 32 hex digits. The same value always gives the same pseudonym within a
tenant (joins and journeys still work), whatever column it appears in (a customer
number in ``events.user_id`` and in ``invoices.customer_number`` join); without the
secret, a pseudonym cannot be reversed or recomputed.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import msgspec
import pyarrow as pa
import pyarrow.compute as pc

from parcours.events import TableSpec
from parcours.privacy.keys import TenantSecret

PREFIX = "px"
_PSEUDO = re.compile(r"^px[0-9a-f]{32}$")


def pseudonym(secret: TenantSecret, value: str) -> str:
    """The pseudonym of one identifier value."""
    digest = hmac.new(secret.reveal(), value.encode("utf-8"), hashlib.sha256).hexdigest()
    return PREFIX + digest[:32]


def _pseudonymizer(secret: TenantSecret) -> Callable[[str], str]:
    """:func:`pseudonym` for many values: the key's inner and outer SHA-256 states are
    computed once (RFC 2104) and copied per value, about twice as fast as ``hmac.new``
    per value, with the same digest."""
    inner_pad, outer_pad = _pads(secret)
    inner = hashlib.sha256(inner_pad)
    outer = hashlib.sha256(outer_pad)

    def one(value: str) -> str:
        i = inner.copy()
        i.update(value.encode("utf-8"))
        o = outer.copy()
        o.update(i.digest())
        return PREFIX + o.hexdigest()[:32]

    return one


_BLOCK = hashlib.sha256().block_size


def _pads(secret: TenantSecret) -> tuple[bytes, bytes]:
    """The key's inner and outer padded blocks (RFC 2104)."""
    key = secret.reveal()
    if len(key) > _BLOCK:
        key = hashlib.sha256(key).digest()
    key = key.ljust(_BLOCK, b"\0")
    return bytes(b ^ 0x36 for b in key), bytes(b ^ 0x5C for b in key)


def pseudonymize_array_bulk(
    secret: TenantSecret, array: pa.ChunkedArray | pa.Array, con: Any = None
) -> pa.Array:
    """:func:`pseudonymize_array`'s result (byte-identical), computed by DuckDB's SHA-256
    on every core: HMAC from the key's padded blocks (RFC 2104) in one SQL expression, for
    millions of values (the identity map's raw identifiers), where hashing in Python takes
    seconds per million on one core. The key's blocks are query parameters only.

    Args:
        con: a DuckDB connection to run on (the embedded engine's, within its memory
            limit); default a private in-memory one.
    """
    import uuid

    import duckdb

    if isinstance(array, pa.ChunkedArray):
        array = array.combine_chunks()
    inner_pad, outer_pad = _pads(secret)
    own = con is None
    db = duckdb.connect(":memory:") if own else con
    name = f"_parcours_values_{uuid.uuid4().hex}"
    try:
        db.register(name, pa.table({"v": array.cast(pa.string())}))
        # the result keeps the input's row order (DuckDB's preserve_insertion_order,
        # on by default, holds for a projection without ORDER BY)
        out = db.sql(
            f"SELECT '{PREFIX}' || left(sha256($outer || unhex(sha256($inner || encode(v)))), 32) AS p "
            f"FROM {name}",
            params={"inner": inner_pad, "outer": outer_pad},
        ).to_arrow_table()
    finally:
        if own:
            db.close()
        else:
            db.unregister(name)
    return out.column("p").combine_chunks()


def is_pseudonym(value: str) -> bool:
    return bool(_PSEUDO.match(value))


def pseudonymize_array(secret: TenantSecret, array: pa.ChunkedArray | pa.Array) -> pa.Array:
    """Pseudonymize a string column; hashes each distinct value once."""
    if isinstance(array, pa.ChunkedArray):
        array = array.combine_chunks()
    return _map_distinct(array, _pseudonymizer(secret))


def _map_distinct(array: pa.Array, fn: Callable[[str], str]) -> pa.Array:
    """``fn`` of each value of a string column, called once per distinct value."""
    encoded = pc.dictionary_encode(array)
    mapped = pa.array([fn(v) for v in encoded.dictionary.to_pylist()], type=pa.string())
    return pc.take(mapped, encoded.indices)


class _Pseudonyms(dict[str, str]):
    """Pseudonyms computed once per distinct value within one call (IPs, emails repeat)."""

    def __init__(self, secret: TenantSecret) -> None:
        super().__init__()
        self.secret = secret
        self._one = _pseudonymizer(secret)

    def __missing__(self, value: str) -> str:
        out = self[value] = self._one(value)
        return out


def _walk(obj: Any, keys: dict[str, str], pseudonyms: _Pseudonyms) -> bool:
    changed = False
    if isinstance(obj, dict):
        for k, v in obj.items():
            if k in keys and isinstance(v, str | int) and not isinstance(v, bool) and v != "":
                obj[k] = pseudonyms[str(v)]
                changed = True
            elif isinstance(v, dict | list):
                changed |= _walk(v, keys, pseudonyms)
    elif isinstance(obj, list):
        for item in obj:
            changed |= _walk(item, keys, pseudonyms)
    return changed


def _pseudonymize_json(text: str, keys: dict[str, str], pseudonyms: _Pseudonyms) -> str:
    try:
        obj = _decode(text)
    except msgspec.DecodeError:
        return text
    if not _walk(obj, keys, pseudonyms):
        return text
    return _encode(obj).decode("utf-8")


_decode = msgspec.json.Decoder().decode
_encode = msgspec.json.Encoder().encode


def pseudonymize_json_array(
    secret: TenantSecret, array: pa.ChunkedArray | pa.Array, keys: dict[str, str]
) -> pa.Array:
    """Pseudonymize the identifier keys inside a JSON string column.

    Each distinct text is rewritten once (events repeat their ``context`` verbatim:
    same library, same IP within a session); only texts that mention one of the keys
    are parsed (one vectorized regex scan finds them), only those cross into Python,
    and each distinct identifier is hashed once per call.
    """
    if isinstance(array, pa.ChunkedArray):
        array = array.combine_chunks()
    if len(array) == 0 or not keys:
        return array
    encoded = pc.dictionary_encode(array)  # nulls stay null indices
    if 2 * len(encoded.dictionary) <= len(array):
        texts = _pseudonymize_json_rows(secret, encoded.dictionary, keys)
        return pc.take(texts, encoded.indices)
    return _pseudonymize_json_rows(secret, array, keys)


def _pseudonymize_json_rows(secret: TenantSecret, array: pa.Array, keys: dict[str, str]) -> pa.Array:
    """:func:`pseudonymize_json_array` row by row (no distinct step)."""
    pattern = '"(' + "|".join(re.escape(k) for k in keys) + ')"'
    hits = pc.fill_null(pc.match_substring_regex(array, pattern), False)
    if not pc.any(hits).as_py():
        return array
    pseudonyms = _Pseudonyms(secret)
    array, hits = _rewrite_simple(array, hits, keys, pseudonyms)
    if not pc.any(hits).as_py():
        return array
    rewritten = [
        _pseudonymize_json(v, keys, pseudonyms) for v in pc.filter(array, hits).to_pylist()
    ]
    return pc.replace_with_mask(array, hits, pa.array(rewritten, type=pa.string()))


def _rewrite_simple(
    array: pa.Array, hits: pa.Array, keys: dict[str, str], pseudonyms: _Pseudonyms
) -> tuple[pa.Array, pa.Array]:
    """Rewrite in Arrow kernels the rows where each key present appears once, as a key,
    with a plain string value (``"ip": "10.0.0.1"``: what SDKs send); returns the new
    column and the rows still to parse in Python.

    Exact only without escapes: in a row with no backslash every quote delimits a
    string, so ``"key"`` followed by a colon is a key and its value's text is the
    string itself. Rows with a backslash, a repeated key, a non-string value or
    another shape are left to the parser (as are rows that are not JSON).
    """
    simple = pc.and_(hits, pc.invert(pc.fill_null(pc.match_substring(array, "\\"), True)))
    counts = []
    for key in keys:
        quoted = '"' + key + '"'
        n = pc.fill_null(pc.count_substring(array, quoted), 0)
        # absent, or once as a key with a string value; anything else goes to the parser
        shaped = pc.match_substring_regex(array, re.escape(quoted) + r'\s*:\s*"[^"]*"')
        simple = pc.and_(simple, pc.or_(pc.equal(n, 0), pc.and_(
            pc.equal(n, 1), pc.fill_null(shaped, False))))
        counts.append((quoted, n))
    out = array
    for quoted, n in counts:  # decided on the input above: rewriting never changes it
        rows = pc.and_(simple, pc.equal(n, 1))
        if not pc.any(rows).as_py():
            continue
        before, after = _split_once(pc.filter(out, rows), quoted)
        head = pc.extract_regex(after, r'^(?P<p>\s*:\s*")(?P<v>[^"]*)"')
        if head.null_count:  # cannot happen (shape checked above); never write a null
            raise RuntimeError(f"JSON identifier rewrite lost the value of {quoted}")
        p, v = pc.struct_field(head, "p"), pc.struct_field(head, "v")
        rest = pc.replace_substring_regex(after, r'^\s*:\s*"[^"]*', "", max_replacements=1)
        new_v = _map_distinct(v, lambda x: pseudonyms[x] if x else "")  # "" stays ""
        joined = pc.binary_join_element_wise(before, quoted, p, new_v, rest, "")
        out = pc.replace_with_mask(out, rows, joined)
    return out, pc.and_(hits, pc.invert(simple))


def _split_once(array: pa.Array, sep: str) -> tuple[pa.Array, pa.Array]:
    """The text before and after the (only) occurrence of ``sep`` in each row."""
    parts = pc.split_pattern(array, sep, max_splits=1)
    return pc.list_element(parts, 0), pc.list_element(parts, 1)


def pseudonymize_table(
    spec: TableSpec,
    data: pa.Table,
    secret: TenantSecret,
    identities: Mapping[str, Iterable[Any]] | None = None,
) -> pa.Table:
    """The analytics-zone copy of ``data``: identifiers pseudonymized, free text redacted.

    Args:
        identities: customer key -> that customer's identifier values (names, email …),
            masked in the free text of rows whose ``user_id`` is that key. Read from the
            raw reference tables by :func:`parcours.privacy.zones.analytics_copy`.
    """
    from parcours.privacy.redact import redact_array

    owners = data.column("user_id") if "user_id" in data.column_names else None
    for column in spec.free_text:  # before user_id is pseudonymized: it keys the identities
        if column in data.column_names:
            idx = data.column_names.index(column)
            data = data.set_column(
                idx, column, redact_array(data.column(column), owners, identities)
            )
    for column in spec.identifiers:
        if column in data.column_names:
            idx = data.column_names.index(column)
            data = data.set_column(idx, column, pseudonymize_array(secret, data.column(column)))
    for column, keys in spec.json_identifiers.items():
        if column in data.column_names:
            idx = data.column_names.index(column)
            data = data.set_column(
                idx, column, pseudonymize_json_array(secret, data.column(column), keys)
            )
    return data
