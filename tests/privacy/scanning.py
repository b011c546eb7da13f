"""Searching a workspace's files for values: Parquet pages decoded, other files as bytes.

Used by the zone-separation and erasure-proof tests. A file's "tokens" are the runs of
characters identifiers are made of (letters, digits, ``@ . + - _``), so a needle is found
whether it sits alone in a Parquet cell, inside a JSON string or inside free text.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

_TOKEN = re.compile(r"[A-Za-z0-9_@.+\-]+")
#: What separates two tokens: any run of other characters.
_SEPARATORS = r"[^A-Za-z0-9_@.+\-]+"


def _texts_of_parquet(path: Path) -> Iterable[str]:
    table = pq.read_table(path)  # decodes every page, whatever the compression
    for column in table.columns:
        if pa.types.is_string(column.type) or pa.types.is_large_string(column.type):
            for value in column.to_pylist():
                if value is not None:
                    yield value
        elif not pa.types.is_nested(column.type):
            for value in column.to_pylist():
                if value is not None:
                    yield str(value)


def file_text(path: Path) -> str:
    """Everything a file says, as text (Parquet decoded)."""
    if path.suffix == ".parquet":
        return "\n".join(_texts_of_parquet(path))
    return path.read_bytes().decode("utf-8", errors="replace")


def tokens(text: str) -> set[str]:
    out = set()
    for t in _TOKEN.findall(text):
        out.add(t)
        out.add(t.strip(".-_+"))
    return out


def search(files: Iterable[Path], needles: set[str]) -> dict[str, set[str]]:
    """file -> needles found in it: as substrings when few, else as whole tokens (and
    needles with spaces as substrings)."""
    if len(needles) <= 200:  # a few needles: plain substring search, stricter and faster
        spaced, plain = set(needles), set()
    else:
        spaced = {n for n in needles if not _TOKEN.fullmatch(n)}
        plain = needles - spaced
    found: dict[str, set[str]] = {}
    for path in files:
        if path.suffix == ".parquet":
            hits = (_parquet_tokens(path, plain) if plain else set()) | (
                _parquet_substrings(path, spaced) if spaced else set())
            if hits:
                found[str(path)] = hits
            continue
        text = file_text(path)
        hits = (tokens(text) & plain if plain else set()) | {n for n in spaced if n in text}
        if hits:
            found[str(path)] = hits
    return found


def _parquet_substrings(path: Path, needles: set[str]) -> set[str]:
    """Needles inside any cell of a Parquet file (every column, pages decoded), vectorized."""
    import pyarrow.compute as pc

    table = pq.read_table(path)
    hits = set()
    for column in table.columns:
        if pa.types.is_nested(column.type):
            continue
        col = column if pa.types.is_string(column.type) else pc.cast(column, pa.string())
        for n in needles - hits:
            if pc.any(pc.match_substring(col, n)).as_py():
                hits.add(n)
    return hits


def _parquet_tokens(path: Path, needles: set[str]) -> set[str]:
    """Needles that are whole tokens of a Parquet file's cells — what :func:`tokens`
    finds in :func:`file_text` — split and matched by Arrow kernels, not in Python."""
    import pyarrow.compute as pc

    table = pq.read_table(path)
    hits: set[str] = set()
    for column in table.columns:
        if pa.types.is_nested(column.type):
            continue
        try:
            col = column if pa.types.is_string(column.type) else pc.cast(column, pa.string())
        except pa.ArrowInvalid:  # bytes that are not UTF-8: tokens of their text, in Python
            hits |= tokens("\n".join(str(v) for v in column.to_pylist() if v is not None)) & needles
            continue
        words = pc.unique(pc.list_flatten(pc.split_pattern_regex(col, _SEPARATORS)))
        for w in (words, pc.utf8_trim(words, ".-_+")):
            hits |= needles.intersection(w.to_pylist())
    return hits


def all_files(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*") if p.is_file())
