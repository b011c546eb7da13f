"""Paths: the most frequent next (or previous) steps from an event, for a Sankey.

Every profile is *anchored* once:

* with ``event``: at its **first** occurrence of ``event`` (an event name, or a step
  name such as ``web:offres`` with ``step_by="channel_event"``);
* without: at the start of its journey (``direction="next"``: the path is the
  profile's first ``steps`` steps) or at its end (``"previous"``: its last steps).

From the anchor the profile's steps (named by :func:`parcours.journeys.base.with_steps`)
are read in time order (``"next"``) or walking backwards (``"previous"``), repeats of
the same step in a row counted once when ``collapse_repeats`` (the anchor's own step
included: a page viewed twice in a row is one step). A profile's events are ordered by
time, then channel, event and type, so ties come out the same on every engine.

At each level (distance from the anchor) only the ``top`` most frequent step names
are kept; the others are grouped as ``"other"``. A path shorter than ``steps`` ends
with ``"(end)"`` steps (for ``"previous"``: the journey began there).
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import ibis

from parcours.journeys.base import (
    JourneyResult,
    check_events,
    check_int,
    check_step_by,
    with_steps,
)
from parcours.journeys.errors import JourneysError
from parcours.journeys.store import ORDER, PROFILE, enum_codes

if TYPE_CHECKING:
    import ibis.expr.types as ir
    import pyarrow as pa

#: Directions a path is read in.
DIRECTIONS = ("next", "previous")
MAX_STEPS = 10
MAX_TOP = 50
#: The step of a path that stopped before ``steps`` steps.
END = "(end)"
#: The step name grouping the steps outside a level's ``top``.
OTHER = "other"
#: Level-0 labels when no ``event`` anchors the paths.
JOURNEY_START = "(journey start)"
JOURNEY_END = "(journey end)"


@dataclass
class PathsResult(JourneyResult):
    """Paths, plus the Sankey they draw (``nodes``, ``links``; also in ``extra``)."""

    @property
    def nodes(self) -> list[dict[str, Any]]:
        """``{"label", "level"}`` per Sankey node; level 0 is the anchor."""
        return list(self.extra.get("nodes", []))

    @property
    def links(self) -> list[dict[str, Any]]:
        """``{"source", "target", "value"}`` per Sankey link: node indexes and profiles."""
        return list(self.extra.get("links", []))


def _ordered(t: ir.Table) -> list[Any]:
    """A profile's events in time order, ties broken the same way on every engine
    (nulls as empty strings: engines sort nulls first or last); the journey store's
    order key when the table has it (the same order, one integer to sort)."""
    if ORDER in t.columns:
        return [t[ORDER]]
    keys = [t.ts, t.channel.fill_null(""), t.event.fill_null("")]
    if "type" in t.columns:
        keys.append(t.type.fill_null(""))
    return keys


def paths(
    events: ir.Table,
    *,
    event: str | None = None,
    direction: str = "next",
    steps: int = 3,
    step_by: str = "event",
    collapse_repeats: bool = True,
    top: int = 8,
) -> PathsResult:
    """The most frequent paths of ``steps`` steps after (or before) ``event``.

    Args:
        events: a journey events table (see :mod:`parcours.journeys.base`).
        event: the anchor; ``None`` anchors every profile at its journey's start
            (``"next"``) or end (``"previous"``).
        direction: ``"next"`` or ``"previous"`` (walking backwards from the anchor).
        steps: steps per path, 1 to 10.
        step_by: how a step is named (``event``, ``page``, ``channel_event``).
        collapse_repeats: count the same step repeated in a row once.
        top: step names kept per level, 1 to 50; the others become ``"other"``.

    Returns:
        Rows ``path`` (the ``steps`` steps from the anchor, ``"(end)"``-padded),
        ``profiles`` and ``share`` (of the anchored profiles), most frequent first; the
        Sankey in ``.nodes`` / ``.links``; ``extra["levels"]``: per level the profiles
        still going (``profiles``), ``drop_off`` and ``drop_off_rate``. When no profile
        has ``event``, no rows and ``extra["message"]`` says so.

    Example:
        >>> res = paths(events, event="price_increase_notified", steps=2)  # doctest: +SKIP
        >>> res.to_pandas().iloc[0]["path"]                                  # doctest: +SKIP
        ['offer_comparison_viewed', 'termination_page_viewed']
    """
    if direction not in DIRECTIONS:
        raise JourneysError(f"invalid direction {direction!r}: use next or previous",
                            parameter="direction")
    check_int(steps, "steps", 1, MAX_STEPS)
    check_int(top, "top", 1, MAX_TOP)
    check_step_by(step_by)
    if event is not None and (not isinstance(event, str) or not event):
        raise JourneysError(f"invalid event {event!r}: give an event or step name",
                            parameter="event")
    params = {"event": event, "direction": direction, "steps": steps, "step_by": step_by,
              "collapse_repeats": collapse_repeats, "top": top}

    t = check_events(events)
    forward = direction == "next"
    start_label = event if event is not None else (JOURNEY_START if forward else JOURNEY_END)
    cols = [f"_s{k}" for k in range(1, steps + 1)]
    if ORDER in t.columns and PROFILE in t.columns and t.get_backend().name == "duckdb":
        agg = _sorted_paths(t, event, forward, steps, step_by, collapse_repeats, top)
        return _result(agg, cols, params, start_label, forward, event)
    if PROFILE in t.columns:  # the journey store's profile code: integers to partition on
        t = t.mutate(profile_id=t[PROFILE])
    # step names on every event (a page path may be anchored at a track event); the
    # page filter of with_steps becomes a flag so the anchor row stays
    t = with_steps(t, "channel_event" if step_by == "channel_event" else "event")
    keep = t.type.isin(["page", "screen"]) if step_by == "page" else ibis.literal(True)
    if ORDER in t.columns and collapse_repeats:
        rows = _keyed_rows(t, event, forward, keep)
    else:
        rows = _numbered_rows(t, event, forward, keep)
    rows = rows.select("profile_id", "_seq", step=rows.step.fill_null("(none)"))

    def away(r: ir.Table) -> Any:  # walking away from the anchor
        return ibis.window(group_by=r.profile_id,
                           order_by=r._seq if forward else ibis.desc(r._seq))

    if collapse_repeats:
        rows = rows.mutate(_prev=rows.step.lag().over(away(rows)))
        rows = rows.filter(rows._prev.isnull() | (rows.step != rows._prev))
    first = 0 if event is not None else 1  # level 0 is the anchor row
    rows = rows.mutate(_level=ibis.row_number().over(away(rows)) + first)
    rows = rows.filter(rows._level <= steps)
    rows = rows.mutate(_n=rows._level.count().over(group_by=[rows._level, rows.step]))
    rows = rows.mutate(_rk=ibis.dense_rank().over(
        group_by=rows._level, order_by=[ibis.desc(rows._n), rows.step]))
    rows = rows.mutate(label=(rows._rk < top).ifelse(rows.step, OTHER))
    wide = rows.group_by("profile_id").agg(**{
        c: (rows._level == k).ifelse(rows.label, ibis.null("string")).max()
        for k, c in enumerate(cols, start=1)
    })
    wide = wide.select(**{c: wide[c].fill_null(END) for c in cols})
    agg = wide.group_by(cols).agg(profiles=wide.count()).to_pyarrow()
    return _result(agg, cols, params, start_label, forward, event)


#: Events per piece of the numpy paths: profiles are read in ranges of their code so
#: that no more than about this many events are in memory at once.
PIECE_EVENTS = 20_000_000


def _sorted_paths(t: ir.Table, event: str | None, forward: bool, steps: int, step_by: str,
                  collapse: bool, top: int) -> pa.Table:
    """The paths of the journey store's table ``t`` with numpy: per range of profile
    codes (:data:`PIECE_EVENTS` events at most; the store's rows are sorted by profile
    code, so a range is contiguous), one read of the profile code, order key and ENUM
    names as dictionary codes (in the store's order by profile and order key: no sort,
    else one), then :func:`parcours.journeys.kernels.walk_steps`; the top names per
    level over all profiles, names decoded at the end.

    Gives the rows the Ibis expression gives (equal order keys are equal rows, so their
    order among themselves changes no path)."""
    import numpy as np

    backend = t.get_backend()
    t = t.filter(t[PROFILE].notnull())
    size = t.aggregate(n=t.count(), low=t[PROFILE].min(), high=t[PROFILE].max())
    n, low, high = backend.con.sql(backend.compile(size)).fetchall()[0]
    labels: dict[str, int] = {}
    found = [np.empty((0, steps), np.int64)]
    if n:
        pieces = max(1, -(-int(n) // PIECE_EVENTS))
        bounds = np.linspace(int(low), int(high) + 1, pieces + 1).astype(np.int64)
        for lo, hi in zip(bounds[:-1], bounds[1:], strict=True):
            piece = t.filter(t[PROFILE] >= int(lo), t[PROFILE] < int(hi)) if pieces > 1 else t
            found.append(_piece_paths(piece, event, forward, steps, step_by, collapse, labels))
    return _top_paths(np.concatenate(found), list(labels), top)


def _piece_paths(t: ir.Table, event: str | None, forward: bool, steps: int, step_by: str,
                 collapse: bool, labels: dict[str, int]) -> Any:
    """The step codes (into ``labels``, which grows) of the anchored profiles of ``t``,
    one row per profile, -1 past a path's end."""
    import numpy as np

    from parcours.journeys.kernels import is_sorted, sort_order, walk_steps

    cols = {"p": t[PROFILE], "o": t[ORDER], "e": t.event}
    if step_by == "channel_event":
        cols["c"] = t.channel
    if step_by == "page":
        cols["y"] = t.type
    backend = t.get_backend()
    data = backend.con.sql(backend.compile(t.select(**cols))).to_arrow_table()
    pid, okey = data["p"].to_numpy(), data["o"].to_numpy()
    ev, ev_names = enum_codes(data["e"])
    names: list[str | None] = list(ev_names)
    combo = ev
    if step_by == "channel_event":
        ch, ch_names = enum_codes(data["c"])
        combo = ch.astype(np.int32) * len(ev_names) + ev
        names = [None if c is None or e is None else f"{c}:{e}"
                 for c in ch_names for e in ev_names]
    keep = None
    if step_by == "page":
        ty, ty_names = enum_codes(data["y"])
        keep = np.array([y in ("page", "screen") for y in ty_names], bool)[ty]
    del data
    hit = None
    if event is not None and len(pid):
        hit = np.array([e == event for e in ev_names], bool)[ev]
        if step_by == "channel_event":
            hit |= np.array([n == event for n in names], bool)[combo]
        # only the anchor's side of each profile's first hit is sorted (the store's
        # profile codes are small integers: an array indexed by them)
        none = np.iinfo(np.int64).max
        first = np.full(int(pid.max()) + 1, none)
        np.minimum.at(first, pid[hit], okey[hit])
        mine = first[pid]
        side = (okey >= mine) if forward else (okey <= mine) & (mine < none)
        del first, mine
        pid, okey, combo, hit = pid[side], okey[side], combo[side], hit[side]
        keep = None if keep is None else keep[side]
        del side
    elif event is not None:
        hit = np.zeros(0, bool)
    del ev
    if not is_sorted(pid, okey):  # the store keeps its rows sorted: no sort then
        order = sort_order(pid, okey)
        pid, combo = pid[order], combo[order]
        hit = None if hit is None else hit[order]
        keep = None if keep is None else keep[order]
        del order
    del okey
    new = np.ones(len(pid), bool)
    new[1:] = pid[1:] != pid[:-1]
    prof = np.cumsum(new) - 1
    n_prof = int(prof[-1]) + 1 if len(prof) else 0
    del pid, new
    # one code per step name (as text: equal names are one step), "(none)" for a null
    for name in names:
        labels.setdefault("(none)" if name is None else name, len(labels))
    step = np.array([labels["(none)" if n is None else n] for n in names], np.int32)[combo]
    del combo
    _, codes = walk_steps(prof, step, keep, hit, forward=forward, collapse=collapse,
                          steps=steps, n_prof=n_prof)
    return codes


def _top_paths(codes: Any, labels: list[str], top: int) -> pa.Table:
    """Per level the ``top`` most frequent names (ties by name), the others as
    :data:`OTHER`, a path's missing levels as :data:`END`; profiles per path."""
    import numpy as np
    import pyarrow as pa

    n, steps = codes.shape
    text = np.array([*labels, OTHER, END], dtype=object)
    other, end = len(labels), len(labels) + 1
    shown = np.empty_like(codes)
    for k in range(steps):
        col = codes[:, k]
        counts = np.bincount(col[col >= 0], minlength=len(labels))
        ranked = sorted((i for i in range(len(labels)) if counts[i]),
                        key=lambda i: (-counts[i], labels[i]))
        keep = np.full(len(labels), other, np.int64)
        keep[ranked[:top]] = np.array(ranked[:top], np.int64)
        shown[:, k] = np.where(col >= 0, keep[np.maximum(col, 0)], end)
    base = len(labels) + 2
    if base ** steps < 2**62:  # one integer per path: a 1-d unique
        weights = base ** np.arange(steps, dtype=np.int64)
        packed, count = np.unique(shown @ weights, return_counts=True)
        paths = (packed[:, None] // weights) % base
    else:
        paths, count = np.unique(shown, axis=0, return_counts=True)
    found: dict[tuple[str, ...], int] = {}
    for path, c in zip(paths.tolist(), list(count), strict=True):
        key = tuple(text[path].tolist())  # "other" or "(end)" as a real name: one path
        found[key] = found.get(key, 0) + int(c)
    cols = [f"_s{k}" for k in range(1, steps + 1)]
    return pa.table({**{c: [p[i] for p in found] for i, c in enumerate(cols)},
                     "profiles": list(found.values())})


def _keyed_rows(t: ir.Table, event: str | None, forward: bool, keep: Any) -> ir.Table:
    """The anchor row and the steps on its side, ``_seq`` the store's order key.

    Collapsing repeats only: rows with equal keys are equal rows (same time, channel,
    event and type), so they collapse into one step and need no numbering; the anchor
    is the smallest key among the profile's hits, and no window numbers every event.
    """
    t = t.mutate(_keep=keep, _seq=t[ORDER])
    if event is None:
        return t.filter(t._keep)
    hits = t.filter((t.event == event) | (t.step == event))
    first = hits.group_by(_p=hits.profile_id).agg(_a=hits._seq.min())
    t = t.inner_join(first, t.profile_id == first._p)
    side = t._seq > t._a if forward else t._seq < t._a
    # the anchor row (and its copies, which collapse into it) leads each profile's rows
    return t.filter((t._seq == t._a) | (t._keep & side))


def _numbered_rows(t: ir.Table, event: str | None, forward: bool, keep: Any) -> ir.Table:
    """The anchor row and the steps on its side, ``_seq`` numbering a profile's events."""
    if event is not None:
        # only profiles with the event, and only their events on the anchor's side of
        # its first time: the windows below then sort those rows, not the whole table.
        # Rows dropped are strictly before (next) or after (previous) the first
        # occurrence's time, so they are never steps; the order of the others is kept.
        hits = t.filter((t.event == event) | (t.step == event))
        first_at = hits.group_by(_p=hits.profile_id).agg(_at=hits.ts.min())
        t = t.inner_join(first_at, t.profile_id == first_at._p)
        t = t.filter(t.ts >= t._at if forward else t.ts <= t._at).drop("_p", "_at")
    t = t.mutate(_keep=keep, _seq=ibis.row_number().over(group_by=t.profile_id,
                                                        order_by=_ordered(t)))
    if event is None:
        return t.filter(t._keep)
    hit = (t.event == event) | (t.step == event)
    t = t.mutate(_a=ibis.ifelse(hit, t._seq, ibis.null("int64")).min().over(
        group_by=t.profile_id))
    side = t._seq > t._a if forward else t._seq < t._a
    # the anchor row itself leads each profile's rows: it anchors the collapse of
    # repeats and keeps a profile with no step after it
    return t.filter(t._a.notnull() & ((t._seq == t._a) | (t._keep & side)))


def _result(agg: pa.Table, cols: list[str], params: dict[str, Any], start_label: str,
            forward: bool, event: str | None) -> PathsResult:
    import pyarrow as pa

    rows = sorted(
        ((tuple(r[c] for c in cols), int(r["profiles"])) for r in agg.to_pylist()),
        key=lambda pr: (-pr[1], pr[0]),
    )
    anchored = sum(n for _, n in rows)
    table = pa.table({
        "path": pa.array([list(p) for p, _ in rows], pa.list_(pa.string())),
        "profiles": pa.array([n for _, n in rows], pa.int64()),
        "share": pa.array([n / anchored for _, n in rows], pa.float64()),
    })
    extra: dict[str, Any] = {"anchored": anchored,
                             "levels": _levels(rows, len(cols), anchored) if anchored else []}
    extra.update(_sankey(rows, start_label, forward))
    if not anchored:
        extra["message"] = (f"no profile has the event {event!r}" if event is not None
                            else "no profile has a step")
    return PathsResult("paths", params, table, extra)


def _levels(rows: list[tuple[tuple[str, ...], int]], steps: int,
            anchored: int) -> list[dict[str, Any]]:
    out = []
    going = anchored
    for k in range(steps):
        now = sum(n for p, n in rows if p[k] != END)
        out.append({"level": k + 1, "profiles": now, "drop_off": going - now,
                    "drop_off_rate": (going - now) / going if going else None})
        going = now
    return out


def _sankey(rows: list[tuple[tuple[str, ...], int]], start_label: str,
            forward: bool) -> dict[str, Any]:
    """Nodes per (level, label) and links between consecutive levels (none after
    ``(end)``). For ``previous`` links run in time order: from the farther step in."""
    flows: dict[tuple[tuple[int, str], tuple[int, str]], int] = defaultdict(int)
    for path, n in rows:
        prev = (0, start_label)
        for k, label in enumerate(path, start=1):
            flows[(prev, (k, label))] += n
            if label == END:
                break
            prev = (k, label)
    size: dict[tuple[int, str], int] = defaultdict(int)
    for (a, b), n in flows.items():
        size[b] += n
        if a[0] == 0:
            size[a] += n
    # per level: the biggest steps first, then "other", then "(end)"
    last = {OTHER: 1, END: 2}
    order = sorted(size, key=lambda node: (node[0], last.get(node[1], 0), -size[node], node[1]))
    index = {node: i for i, node in enumerate(order)}
    links = []
    for (a, b), n in sorted(flows.items(), key=lambda f: (index[f[0][0]], index[f[0][1]])):
        src, dst = (a, b) if forward else (b, a)
        links.append({"source": index[src], "target": index[dst], "value": n})
    return {"nodes": [{"label": label, "level": level} for level, label in order],
            "links": links}
