"""Searching a workspace's files for values: Parquet pages decoded, other files as bytes.

Used by the zone-separation and erasure-proof tests. A file's "tokens" are the runs of
characters identifiers are made of (letters, digits, ``@ . + - _``), so a needle is found
whether it sits alone in a Parquet cell, inside a JSON string or inside free text.

Every file becomes text columns: each Parquet column (nested ones down to their leaves,
non-strings cast to strings), or a non-Parquet file's whole text as one value. Files are
matched in batches of a few tens of MB, all their columns in one Arrow kernel call (the
substring needles as one regular expression, so each byte is read once whatever the
number of needles): a demo world has thousands of small files, and a call per file,
column and needle cost more than the matching. Only a batch with a hit is searched again
file by file, needle by needle, to say which needles each file holds.
"""

from __future__ import annotations

import collections
import re
from collections.abc import Iterable, Iterator
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

#: The characters identifiers are made of: a token is a run of them.
_CHARS = r"A-Za-z0-9_@.+\-"
_TOKEN = re.compile(f"[{_CHARS}]+")
_SEPARATORS = f"[^{_CHARS}]+"
#: What a token may also be found as, without these at its ends ("a@b.fr." ends a sentence).
_TRIM = ".-_+"
#: Decoded text matched in one kernel call (bytes of Arrow buffers).
_BATCH_BYTES = 64 << 20
#: Characters with a meaning in an RE2 pattern (escaped to match themselves).
_RE2_SPECIAL = re.compile(r"([\\.+*?()|\[\]{}^$])")


def file_text(path: Path) -> str:
    """Everything a file that is not Parquet says, as text."""
    return path.read_bytes().decode("utf-8", errors="replace")


def tokens(text: str) -> set[str]:
    out = set()
    for t in _TOKEN.findall(text):
        out.add(t)
        out.add(t.strip(_TRIM))
    return out


def any_of(needles: Iterable[str]) -> str:
    """An RE2 pattern (Arrow's ``match_substring_regex``) matching any of ``needles`` as a
    substring: one pass over a cell finds them all."""
    return "|".join(_RE2_SPECIAL.sub(r"\\\1", n) for n in sorted(needles))


def search(files: Iterable[Path], needles: set[str]) -> dict[str, set[str]]:
    """file -> needles found in it: as substrings when few, else as whole tokens (and
    needles with spaces as substrings)."""
    if len(needles) <= 200:  # a few needles: plain substring search, stricter and faster
        spaced, plain = set(needles), set()
    else:
        spaced = {n for n in needles if not _TOKEN.fullmatch(n)}
        plain = needles - spaced
    matcher = _Matcher(plain, spaced)
    found: dict[str, set[str]] = {}
    if plain:  # tokens: file by file (a batch's words deduplicated at once were slower)
        for path in files:
            hits = set().union(*(matcher.which(c) for c in text_columns(path)))
            if hits:
                found[str(path)] = hits
        return found
    batch: list[tuple[Path, list[pa.ChunkedArray]]] = []
    size = 0
    for path in files:
        columns = text_columns(path)
        batch.append((path, columns))
        size += sum(c.nbytes for c in columns)
        if size >= _BATCH_BYTES:
            _search_batch(batch, matcher, found)
            batch, size = [], 0
    _search_batch(batch, matcher, found)
    return found


def text_columns(path: Path) -> list[pa.ChunkedArray]:
    """A file's text, as string columns: every cell of a Parquet file (pages decoded,
    whatever the compression), the whole text of any other file."""
    if path.suffix != ".parquet":
        return [pa.chunked_array([pa.array([file_text(path)], pa.large_string())])]
    table = pq.ParquetFile(path).read()
    return [_as_text(leaf) for column in table.columns for leaf in _leaves(column)]


def _leaves(column: pa.ChunkedArray) -> Iterator[pa.ChunkedArray]:
    """A column's values, nested ones (struct, list, map) down to their leaves."""
    t = column.type
    if pa.types.is_struct(t):
        for child in column.flatten():
            yield from _leaves(child)
    elif pa.types.is_map(t):
        for part in ("keys", "items"):
            yield from _leaves(pa.chunked_array([getattr(c, part) for c in column.chunks],
                                                getattr(t, "key_type" if part == "keys" else "item_type")))
    elif pa.types.is_list(t) or pa.types.is_large_list(t) or pa.types.is_fixed_size_list(t):
        yield from _leaves(pc.list_flatten(column))
    else:
        yield column


def _as_text(column: pa.ChunkedArray) -> pa.ChunkedArray:
    if pa.types.is_string(column.type) or pa.types.is_large_string(column.type):
        return column
    try:
        return pc.cast(column, pa.string())
    except pa.ArrowInvalid:  # bytes that are not UTF-8: the text of their values, in Python
        text = "\n".join(str(v) for v in column.to_pylist() if v is not None)
        return pa.chunked_array([pa.array([text], pa.large_string())])


class _Matcher:
    """``plain`` needles as whole tokens (what :func:`tokens` finds), ``spaced`` ones as
    substrings, in Arrow kernels."""

    def __init__(self, plain: set[str], spaced: set[str]):
        self.plain, self.spaced = plain, spaced
        self._pattern = any_of(spaced)

    def any(self, column: pa.ChunkedArray) -> bool:
        """Might any cell hold any ``spaced`` needle? Never no when one does (cells are
        matched end to end, so a needle across two cells is a yes: :meth:`which` says for
        sure). Token needles are not batched (:func:`search` takes them file by file)."""
        if not self.spaced:
            return False
        text = pa.array([_cell_bytes(column)], pa.large_binary())
        return bool(pc.any(pc.match_substring_regex(text, self._pattern)).as_py())

    def which(self, column: pa.ChunkedArray) -> set[str]:
        """The needles some cell holds."""
        hits: set[str] = set()
        if self.plain:
            for w in self._words(column):
                hits |= self.plain.intersection(w.to_pylist())
        for n in self.spaced:
            if pc.any(pc.match_substring(column, n)).as_py():
                hits.add(n)
        return hits

    @staticmethod
    def _words(column: pa.ChunkedArray) -> tuple[pa.Array, pa.Array]:
        words = pc.unique(pc.list_flatten(pc.split_pattern_regex(column, _SEPARATORS)))
        return words, pc.utf8_trim(words, _TRIM)


def _cell_bytes(column: pa.ChunkedArray) -> bytes:
    """The bytes of a string column's cells, end to end (its chunks' data buffers)."""
    views = []
    for a in column.chunks:
        if not len(a) or a.buffers()[2] is None:
            continue
        wide = pa.types.is_large_string(a.type) or pa.types.is_large_binary(a.type)
        offsets = np.frombuffer(a.buffers()[1], np.int64 if wide else np.int32, len(a) + 1,
                                a.offset * (8 if wide else 4))
        views.append(memoryview(a.buffers()[2])[offsets[0]:offsets[-1]])
    return b"\n".join(views)


def _search_batch(batch: list[tuple[Path, list[pa.ChunkedArray]]], matcher: _Matcher,
                  found: dict[str, set[str]]) -> None:
    """Match a batch of files' columns in one kernel call per type; on a hit, say which
    needles each file holds."""
    by_type: dict[pa.DataType, list[pa.Array]] = collections.defaultdict(list)
    for _, columns in batch:
        for c in columns:
            by_type[c.type].extend(c.chunks)
    if not any(matcher.any(pa.chunked_array(chunks, t)) for t, chunks in by_type.items()):
        return
    for path, columns in batch:
        hits = set().union(*(matcher.which(c) for c in columns))
        if hits:
            found[str(path)] = hits


def all_files(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*") if p.is_file())
