"""Erasure outside the lake: spool segments, serving store, side files.

* **Spool** segments (the collector's durable log, :mod:`parcours.collect.spool`) not yet
  loaded are rewritten without the person's events (a batch keeps its other events).
  A segment a live writer holds cannot be rewritten: it is counted as in use and the
  erasure is reported incomplete (run it again once the loader has taken the segment).
* **Serving store** files are a cache rebuilt from the lake: files that mention the
  person or belong to the tenant are removed.
* **Side files** (JSON, CSV, text anywhere else in the workspace, e.g. an export left
  there, ``demo/truth.json``) have the person's values replaced by a marker. A binary
  file that still holds one is listed as remaining.
"""

from __future__ import annotations

import json
import os
import re
import shutil
from pathlib import Path
from typing import TYPE_CHECKING, Any

from parcours.privacy.files import write_private

if TYPE_CHECKING:
    from parcours.workspace import Workspace

_TEXT_SUFFIXES = {".json", ".jsonl", ".ndjson", ".csv", ".tsv", ".txt", ".log", ".md", ".toml"}


def _pattern(values: set[str]) -> re.Pattern[bytes] | None:
    vals = sorted({v.encode("utf-8") for v in values if v and len(v) >= 4}, key=len, reverse=True)
    if not vals:
        return None
    return re.compile(b"|".join(re.escape(v) for v in vals))


def _mentions(obj: Any, pattern: re.Pattern[bytes]) -> bool:
    return bool(pattern.search(json.dumps(obj, ensure_ascii=False).encode("utf-8")))


def rewrite_spool(ws: Workspace, tenant: str, values: set[str]) -> tuple[int, int, int]:
    """Rewrite the tenant's spool segments without the person's events.

    Returns (segments rewritten, events removed, segments in use and holding the person).
    """
    pattern = _pattern(values)
    folder = ws.spool_dir
    if pattern is None or not folder.is_dir():
        return 0, 0, 0
    try:
        from parcours.collect import spool
    except ImportError:  # no collector in this build: nothing could have spooled
        return 0, 0, 0
    rewritten = removed = in_use = 0
    for path in sorted(folder.rglob("*" + spool.SUFFIX)):
        if not pattern.search(path.read_bytes()):
            continue
        segment = next((s for s in spool.sealed_segments(path.parent) if s.path == path), None)
        if segment is None:
            in_use += 1
            continue
        try:
            out = []
            for rec in segment.records():
                body: bytes | None = rec.body
                if rec.meta.tenant == tenant and pattern.search(rec.body):
                    body, n = _drop_events(rec.body, pattern)
                    removed += n
                if body is not None:
                    out.append(spool.encode_record(rec.meta, body))
            write_private(path, b"".join(out))
            rewritten += 1
        finally:
            segment.release()
    return rewritten, removed, in_use


def _drop_events(body: bytes, pattern: re.Pattern[bytes]) -> tuple[bytes | None, int]:
    """A request body without the person's events: (new body or None, events removed)."""
    try:
        doc = json.loads(body)
    except ValueError:
        return None, 1
    if isinstance(doc, dict) and isinstance(doc.get("batch"), list):
        kept = [e for e in doc["batch"] if not _mentions(e, pattern)]
        n = len(doc["batch"]) - len(kept)
        if not kept:
            return None, n
        doc["batch"] = kept
        new = json.dumps(doc, ensure_ascii=False).encode("utf-8")
        return (new, n) if not pattern.search(new) else (None, n + len(kept))
    return None, 1


def drop_serving(ws: Workspace, tenant: str, values: set[str]) -> int:
    """Remove serving-store files of the tenant or mentioning the person; returns count."""
    folder = ws.serving_dir
    if not folder.is_dir():
        return 0
    pattern = _pattern(values)
    removed = 0
    for path in sorted(folder.rglob("*"), reverse=True):
        if not path.is_file():
            continue
        rel = path.relative_to(folder).as_posix()
        if tenant in rel.split("/")[0] or (pattern and pattern.search(path.read_bytes())):
            path.unlink()
            removed += 1
    for sub in sorted((p for p in folder.rglob("*") if p.is_dir()), reverse=True):
        if not any(sub.iterdir()):
            shutil.rmtree(sub, ignore_errors=True)
    return removed


def scrub_files(ws: Workspace, values: set[str], marker: str) -> tuple[list[str], list[str]]:
    """Replace the person's values in text files outside the lake, spool, serving store
    and secrets. Returns (files scrubbed, binary files still holding a value)."""
    pattern = _pattern(values)
    if pattern is None:
        return [], []
    skip = {ws.lake.root.resolve(), ws.keys.folder.resolve(), ws.serving_dir.resolve(),
            ws.spool_dir.resolve()}
    scrubbed: list[str] = []
    remaining: list[str] = []
    for dirpath, dirnames, filenames in os.walk(ws.path):
        here = Path(dirpath).resolve()
        dirnames[:] = [d for d in dirnames if (here / d).resolve() not in skip]
        for name in filenames:
            path = here / name
            if name.endswith(".lock"):
                continue
            data = path.read_bytes()
            if path.suffix.lower() != ".parquet" and not pattern.search(data):
                continue
            rel = path.relative_to(ws.path.resolve()).as_posix()
            if path.suffix.lower() == ".parquet":
                if _rewrite_parquet(path, values):
                    scrubbed.append(rel)
                continue
            if path.suffix.lower() in _TEXT_SUFFIXES:
                new = pattern.sub(json.dumps(marker)[1:-1].encode(), data)
                mode = path.stat().st_mode & 0o777
                write_private(path, new, private_parent=False)
                os.chmod(path, mode)
                scrubbed.append(rel)
            else:
                remaining.append(rel)
    return scrubbed, remaining


def _rewrite_parquet(path: Path, values: set[str]) -> bool:
    """Drop the rows of a Parquet side file that hold one of ``values`` (its pages are
    compressed: a byte search cannot tell). Returns True if the file changed."""
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    from parcours.privacy.subject import token_matcher

    table = pq.read_table(path)
    cols = [f.name for f in table.schema if pa.types.is_string(f.type) or pa.types.is_large_string(f.type)]
    mask = pc.fill_null(token_matcher(values, cols)(table), False)
    if not pc.any(mask).as_py():
        return False
    kept = table.filter(pc.invert(mask))
    tmp = path.with_name(f".{path.name}.tmp")
    pq.write_table(kept, tmp)
    os.replace(tmp, path)
    return True
