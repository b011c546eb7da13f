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
import json
import re
from collections.abc import Iterable, Mapping
from typing import Any

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


def is_pseudonym(value: str) -> bool:
    return bool(_PSEUDO.match(value))


def pseudonymize_array(secret: TenantSecret, array: pa.ChunkedArray | pa.Array) -> pa.Array:
    """Pseudonymize a string column; hashes each distinct value once."""
    if isinstance(array, pa.ChunkedArray):
        array = array.combine_chunks()
    encoded = pc.dictionary_encode(array)
    uniques = encoded.dictionary.to_pylist()
    mapped = pa.array([pseudonym(secret, v) for v in uniques], type=pa.string())
    return pc.take(mapped, encoded.indices)


def _pseudonymize_json(text: str, keys: dict[str, str], secret: TenantSecret) -> str:
    try:
        obj = json.loads(text)
    except ValueError:
        return text
    changed = _walk(obj, keys, secret)
    return json.dumps(obj, ensure_ascii=False, separators=(",", ":")) if changed else text


def _walk(obj: Any, keys: dict[str, str], secret: TenantSecret) -> bool:
    changed = False
    if isinstance(obj, dict):
        for k, v in obj.items():
            if k in keys and isinstance(v, str | int) and v != "":
                obj[k] = pseudonym(secret, str(v))
                changed = True
            elif isinstance(v, dict | list):
                changed |= _walk(v, keys, secret)
    elif isinstance(obj, list):
        for item in obj:
            changed |= _walk(item, keys, secret)
    return changed


def pseudonymize_json_array(
    secret: TenantSecret, array: pa.ChunkedArray | pa.Array, keys: dict[str, str]
) -> pa.Array:
    """Pseudonymize the identifier keys inside a JSON string column.

    Only rows whose text mentions one of the keys are parsed, so the common case
    (properties without personal data) costs one vectorized regex scan.
    """
    if isinstance(array, pa.ChunkedArray):
        array = array.combine_chunks()
    if len(array) == 0 or not keys:
        return array
    pattern = '"(' + "|".join(re.escape(k) for k in keys) + ')"'
    hits = pc.fill_null(pc.match_substring_regex(array, pattern), False)
    if not pc.any(hits).as_py():
        return array
    values = array.to_pylist()
    mask = hits.to_pylist()
    out = [
        _pseudonymize_json(v, keys, secret) if m and v is not None else v
        for v, m in zip(values, mask, strict=True)
    ]
    return pa.array(out, type=pa.string())


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
