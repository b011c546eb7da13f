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

#: The characters identifiers are made of: a token is a run of them.
_CHARS = r"A-Za-z0-9_@.+\-"
_TOKEN = re.compile(f"[{_CHARS}]+")
_SEPARATORS = f"[^{_CHARS}]+"


def file_text(path: Path) -> str:
    """Everything a file that is not Parquet says, as text."""
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
            hits = _parquet_hits(path, plain, spaced)
            if hits:
                found[str(path)] = hits
            continue
        text = file_text(path)
        hits = (tokens(text) & plain if plain else set()) | {n for n in spaced if n in text}
        if hits:
            found[str(path)] = hits
    return found


def _parquet_hits(path: Path, plain: set[str], spaced: set[str]) -> set[str]:
    """Needles in any cell of a Parquet file (every column, pages decoded): ``plain``
    ones as whole tokens (what :func:`tokens` finds), ``spaced`` ones as substrings,
    matched by Arrow kernels."""
    import pyarrow.compute as pc

    table = pq.read_table(path)  # decodes every page, whatever the compression
    hits: set[str] = set()
    for column in table.columns:
        if pa.types.is_nested(column.type):
            continue
        try:
            col = column if pa.types.is_string(column.type) else pc.cast(column, pa.string())
        except pa.ArrowInvalid:  # bytes that are not UTF-8: the text of their values, in Python
            text = "\n".join(str(v) for v in column.to_pylist() if v is not None)
            hits |= (tokens(text) & plain) | {n for n in spaced if n in text}
            continue
        if plain:
            words = pc.unique(pc.list_flatten(pc.split_pattern_regex(col, _SEPARATORS)))
            for w in (words, pc.utf8_trim(words, ".-_+")):
                hits |= plain.intersection(w.to_pylist())
        for n in spaced - hits:
            if pc.any(pc.match_substring(col, n)).as_py():
                hits.add(n)
    return hits


def all_files(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*") if p.is_file())
