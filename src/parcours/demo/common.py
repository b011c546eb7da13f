"""What both demo worlds share: seeded streams, the persons table, the world result."""

from __future__ import annotations

import zlib
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from parcours.progress import Progress


def stream(seed: int, tenant: str, name: str) -> np.random.Generator:
    """An independent random stream per (seed, tenant, component): changing one component
    (or the chunking of a write) never changes another's draws."""
    return np.random.default_rng(
        np.random.SeedSequence([seed, zlib.crc32(tenant.encode()), zlib.crc32(name.encode())])
    )


class Streams:
    def __init__(self, seed: int, tenant: str) -> None:
        self.seed = seed
        self.tenant = tenant

    def __call__(self, name: str) -> np.random.Generator:
        return stream(self.seed, self.tenant, name)


@dataclass
class PersonsBuilder:
    """Collects (id_type, identifier, person_id) rows: who is truly behind each identifier."""

    tenant: str
    parts: list[pa.Table] = field(default_factory=list)

    def add(self, id_type: str, identifiers: pa.Array, person: np.ndarray) -> None:
        ids = identifiers if isinstance(identifiers, pa.Array) else pa.array(identifiers)
        self.parts.append(
            pa.table(
                {
                    "id_type": pa.array(np.full(len(ids), id_type, dtype=object), pa.string()),
                    "identifier": ids.cast(pa.string()),
                    "person_id": pc.binary_join_element_wise(
                        pa.scalar(f"{self.tenant}-P"),
                        pc.utf8_lpad(pa.array(np.asarray(person, dtype=np.int64)).cast(pa.string()), 7, "0"),
                        "",
                    ),
                }
            )
        )

    def table(self, exclude: set[tuple[str, str]]) -> pa.Table:
        t = pa.concat_tables(self.parts)
        if exclude:
            keys = pc.binary_join_element_wise(t["id_type"], t["identifier"], "\x1f")
            drop = pa.array([f"{a}\x1f{b}" for a, b in exclude])
            t = t.filter(pc.invert(pc.is_in(keys, value_set=drop)))
        # one row per (id_type, identifier)
        return t.group_by(["id_type", "identifier", "person_id"]).aggregate([]).sort_by(
            [("id_type", "ascending"), ("identifier", "ascending")]
        )


@dataclass
class WorldResult:
    """What building one tenant produced: row counts and its part of the truth."""

    tenant: str
    counts: dict[str, int]
    truth: dict[str, Any]
    files: dict[str, pa.Table]  # demo/<name>.parquet -> table


class Reporter:
    """Progress over a world's steps (the CLI shows one bar per step)."""

    def __init__(self, progress: Progress | None, tenant: str) -> None:
        self.progress = progress
        self.tenant = tenant

    def __call__(self, step: str, done: int, total: int) -> None:
        if self.progress is not None:
            self.progress(f"{self.tenant}: {step}", done, total)


class ChunkWriter:
    """Buffers generated pieces of one table and writes them ~``max_rows`` at a time.

    Fewer, larger writes mean fewer lake commits; the buffer bounds memory.
    """

    def __init__(self, ws: Any, tenant: str, table: str, max_rows: int = 1_000_000) -> None:
        self.ws, self.tenant, self.table, self.max_rows = ws, tenant, table, max_rows
        self.pending: list[pa.Table] = []
        self.pending_rows = 0
        self.written = 0

    def add(self, data: pa.Table) -> None:
        self.pending.append(data)
        self.pending_rows += data.num_rows
        if self.pending_rows >= self.max_rows:
            self.flush()

    def flush(self) -> int:
        if self.pending:
            self.written += self.ws.write(self.tenant, self.table, pa.concat_tables(self.pending))
            self.pending, self.pending_rows = [], 0
        return self.written
