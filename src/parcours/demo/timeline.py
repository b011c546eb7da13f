"""Events as compact numpy columns until the moment they are written.

A demo world first builds its events as an :class:`EventFrame`: integer columns
(time in microseconds, person, event kind, anonymous-id index, property index, trait
variant). Only when a month is written are the string columns materialized with
vectorized Arrow kernels, so memory stays bounded and no Python loop runs per event.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from parcours.demo.people import digits, take

US = 1_000_000
HOUR = 3600 * US
DAY = 24 * HOUR
YEAR_START = dt.datetime(2025, 1, 1, tzinfo=dt.UTC)
YEAR_END = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
T0 = int(YEAR_START.timestamp()) * US
T1 = int(YEAR_END.timestamp()) * US


def month_bounds() -> list[tuple[int, int]]:
    """The twelve months of the demo calendar as [start, end) microseconds."""
    out = []
    for m in range(12):
        a = dt.datetime(2025, m + 1, 1, tzinfo=dt.UTC)
        b = dt.datetime(2025 + (m == 11), (m + 1) % 12 + 1, 1, tzinfo=dt.UTC)
        out.append((int(a.timestamp()) * US, int(b.timestamp()) * US))
    return out


def to_ts(us: np.ndarray) -> pa.Array:
    return pa.array(np.asarray(us, dtype=np.int64), pa.timestamp("us", tz="UTC"))


def iso(us: int) -> str:
    return dt.datetime.fromtimestamp(us / US, tz=dt.UTC).isoformat()


class Interner:
    """Distinct strings (event kinds' properties, contexts) numbered in insertion order."""

    def __init__(self) -> None:
        self.values: list[str] = []
        self._index: dict[str, int] = {}

    def __call__(self, value: str) -> int:
        idx = self._index.get(value)
        if idx is None:
            idx = self._index[value] = len(self.values)
            self.values.append(value)
        return idx

    def many(self, values: list[str]) -> np.ndarray:
        return np.array([self(v) for v in values], dtype=np.int32)


@dataclass
class Kinds:
    """Event kinds of a tenant: (Segment type, event name, channel)."""

    types: list[str] = field(default_factory=list)
    names: list[str] = field(default_factory=list)
    channels: list[str] = field(default_factory=list)
    _index: dict[tuple[str, str, str], int] = field(default_factory=dict)

    def __call__(self, type_: str, name: str, channel: str) -> int:
        key = (type_, name, channel)
        if key not in self._index:
            self._index[key] = len(self.types)
            self.types.append(type_)
            self.names.append(name)
            self.channels.append(channel)
        return self._index[key]


@dataclass
class EventFrame:
    """Events as numpy columns (one entry per event)."""

    ts: list[np.ndarray] = field(default_factory=list)
    person: list[np.ndarray] = field(default_factory=list)
    kind: list[np.ndarray] = field(default_factory=list)
    anon: list[np.ndarray] = field(default_factory=list)  # index into the anonymous ids, -1 none
    logged: list[np.ndarray] = field(default_factory=list)  # user_id set
    prop: list[np.ndarray] = field(default_factory=list)  # index into properties, -1 none
    trait: list[np.ndarray] = field(default_factory=list)  # trait variant, 0 none

    def add(
        self,
        ts: np.ndarray,
        person: np.ndarray,
        kind: int | np.ndarray,
        *,
        anon: np.ndarray | int = -1,
        logged: np.ndarray | bool = True,
        prop: np.ndarray | int = -1,
        trait: np.ndarray | int = 0,
    ) -> None:
        n = len(ts)
        if n == 0:
            return
        self.ts.append(np.asarray(ts, dtype=np.int64))
        self.person.append(np.asarray(person, dtype=np.int32))
        self.kind.append(np.broadcast_to(np.asarray(kind, dtype=np.int16), n).copy())
        self.anon.append(np.broadcast_to(np.asarray(anon, dtype=np.int32), n).copy())
        self.logged.append(np.broadcast_to(np.asarray(logged, dtype=bool), n).copy())
        self.prop.append(np.broadcast_to(np.asarray(prop, dtype=np.int32), n).copy())
        self.trait.append(np.broadcast_to(np.asarray(trait, dtype=np.int8), n).copy())

    def __len__(self) -> int:
        return int(sum(len(t) for t in self.ts))

    def freeze(self) -> FrozenEvents:
        """Concatenate and sort by time (stable, so equal times keep generation order)."""
        cols = {
            name: np.concatenate(getattr(self, name))
            for name in ("ts", "person", "kind", "anon", "logged", "prop", "trait")
        }
        order = np.argsort(cols["ts"], kind="stable")
        return FrozenEvents(**{k: v[order] for k, v in cols.items()})


@dataclass
class FrozenEvents:
    ts: np.ndarray
    person: np.ndarray
    kind: np.ndarray
    anon: np.ndarray
    logged: np.ndarray
    prop: np.ndarray
    trait: np.ndarray

    def __len__(self) -> int:
        return len(self.ts)

    def last_per_person(self, n_persons: int) -> np.ndarray:
        last = np.full(n_persons, np.iinfo(np.int64).min, dtype=np.int64)
        np.maximum.at(last, self.person, self.ts)
        return last


@dataclass
class EventTexts:
    """What turns integer columns into the ``events`` table's strings."""

    tenant: str
    prefix: str  # message id prefix
    kinds: Kinds
    props: Interner
    user_ids: pa.Array  # per person
    anon_ids: pa.Array  # per anonymous-id index
    #: trait variant -> per-person JSON strings (variant 0 = no traits)
    traits: dict[int, pa.Array]
    #: channel -> context JSON (or absent)
    contexts: dict[str, str]


def materialize(ev: FrozenEvents, lo: int, hi: int, texts: EventTexts, rng: np.random.Generator) -> pa.Table:
    """Rows ``lo:hi`` of the sorted events as an Arrow table of the ``events`` schema."""
    sl = slice(lo, hi)
    ts = ev.ts[sl]
    person = ev.person[sl]
    kind = ev.kind[sl]
    anon = ev.anon[sl]
    n = len(ts)
    kinds = texts.kinds
    user = take(texts.user_ids, np.where(ev.logged[sl], person, -1))
    anon_s = take(texts.anon_ids, anon)
    is_alias = np.array([t == "alias" for t in kinds.types])[kind]
    previous = pc.if_else(pa.array(is_alias), anon_s, pa.nulls(n, pa.string()))
    trait = ev.trait[sl]
    traits = pa.nulls(n, pa.string())
    for variant, per_person in texts.traits.items():
        mask = trait == variant
        if mask.any():
            traits = pc.if_else(pa.array(mask), take(per_person, person), traits)
    ctx_values = [texts.contexts.get(c) for c in kinds.channels]
    context = take(pa.array(ctx_values, pa.string()), kind)
    received = ts + rng.integers(50_000, 4 * US, n)
    return pa.table(
        {
            "message_id": pc.binary_join_element_wise(
                pa.scalar(texts.prefix), digits(np.arange(lo, hi), 10), ""
            ),
            "tenant": pa.array(np.full(n, texts.tenant)) if n else pa.array([], pa.string()),
            "type": take(kinds.types, kind),
            "event": take(kinds.names, kind),
            "channel": take(kinds.channels, kind),
            "user_id": user,
            "anonymous_id": anon_s,
            "previous_id": previous,
            "group_id": pa.nulls(n, pa.string()),
            "timestamp": pa.array(ts, pa.timestamp("us", tz="UTC")),
            "received_at": pa.array(received, pa.timestamp("us", tz="UTC")),
            "properties": take(pa.array(texts.props.values, pa.string()), ev.prop[sl]),
            "traits": traits,
            "context": context,
        }
    )


def row_chunks(ev: FrozenEvents, max_rows: int = 1_000_000) -> Iterator[tuple[int, int]]:
    """[lo, hi) ranges of the time-sorted events, at most ``max_rows`` each."""
    for start in range(0, len(ev), max_rows):
        yield start, min(len(ev), start + max_rows)


def write_events(
    ws: object,
    ev: FrozenEvents,
    texts: EventTexts,
    rng: np.random.Generator,
    report: Callable[[int], None] | None = None,
    max_rows: int = 1_000_000,
) -> int:
    """Materialize and write the time-sorted events in chunks; returns rows written."""
    written = 0
    for lo, hi in row_chunks(ev, max_rows):
        table = materialize(ev, lo, hi, texts, rng)
        ws.write(texts.tenant, "events", table)  # type: ignore[attr-defined]
        written += table.num_rows
        if report:
            report(written)
    return written


# -- vectorized time helpers ------------------------------------------------------------
def uniform_between(rng: np.random.Generator, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    """One uniform time in [lo, hi) per entry (hi > lo)."""
    span = np.maximum(np.asarray(hi) - np.asarray(lo), 1)
    return np.asarray(lo) + (rng.random(len(span)) * span).astype(np.int64)


def expand(counts: np.ndarray) -> np.ndarray:
    """Index ``i`` repeated ``counts[i]`` times."""
    return np.repeat(np.arange(len(counts), dtype=np.int64), counts)


#: Hour-of-day weights (UTC, the demo calendar ignores daylight saving).
HOURS = {
    "web": [1, 0.6, 0.3, 0.2, 0.2, 0.4, 1, 2, 3, 4, 4, 4.5, 5.5, 5, 4, 4, 4, 4.5, 5.5, 6.5, 7, 6, 4, 2],
    "app": [1.5, 0.8, 0.4, 0.2, 0.2, 0.5, 1.5, 3, 3.5, 3, 3, 3.5, 4.5, 4, 3, 3, 3.5, 4.5, 5.5, 6.5, 7, 6.5, 5, 3],
    "office": [0, 0, 0, 0, 0, 0, 0, 0, 3, 6, 7, 6.5, 4, 4.5, 6, 6, 5.5, 4.5, 3, 1, 0, 0, 0, 0],
    "store": [0, 0, 0, 0, 0, 0, 0, 0, 2, 4, 5, 6, 5, 3, 3, 3.5, 4.5, 6, 7, 5.5, 2, 0, 0, 0],
}


def at_hours(rng: np.random.Generator, ts: np.ndarray, profile: str,
             lo: np.ndarray | None = None, hi: np.ndarray | None = None) -> np.ndarray:
    """Keep each time's day, redraw its time of day from an hour-of-day profile.

    ``lo``/``hi`` (optional) clip the result back into an allowed interval.
    """
    w = np.asarray(HOURS[profile], dtype=float)
    hour = rng.choice(24, size=len(ts), p=w / w.sum())
    out = np.asarray(ts) // DAY * DAY + hour * HOUR + rng.integers(0, HOUR, len(ts))
    if lo is not None:
        out = np.maximum(out, lo)
    if hi is not None:
        out = np.minimum(out, hi)
    return out
