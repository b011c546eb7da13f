"""Precursor sequences: what happens more often before a target event than elsewhere.

For a target event (``contract_terminated``, ``call_center_call`` ...) and a look-back
``L``, every profile gets one window:

* *positives* (profiles with at least one target event): ``[t − L, t)`` where ``t`` is
  their **first** target event;
* *controls* (every other profile): ``[last − L, last)`` where ``last`` is their last
  event of any kind.

A window *holds* the ordered sequence ``(s1, …, sk)`` (k = 1..3) when a step named
``s1``, then a strictly later ``s2``, then a strictly later ``s3`` fall inside it (other
events may come between). Target events are never sequence elements. For each sequence,
``lift = P(holds | positive) / P(holds | control)`` — the definition of docs/demo.md, so
the planted sequences of the demo world are measured at the lift of truth.json.

Mining is apriori: only steps held by at least ``min_support`` positive windows are
extended, a length-3 candidate needs its three 2-subsequences frequent, and a window is
read through the first and last time of each of its steps:

* length 1: per window and step, the first and last time it occurs (``occ``);
* length 2: ``a → b`` is held iff ``first(a) < last(b)``;
* length 3: ``a → b → c`` is held iff ``next_b(first(a)) < last(c)``, where ``next_b(x)``
  is the first ``b`` strictly after ``x``. Proofs next to the code (:func:`_pairs`,
  :func:`_holding_triples`).

Two miners count the same thing (:func:`mine`). On DuckDB one query reads the log once
(a window function gives each event its profile's anchor) and returns only the window
events, which are mined in this process with numpy on integer codes; elsewhere (Spark)
each length is one Ibis query in the engine, so windows that do not fit on one machine
are still counted. Tests hold both to a brute-force reference and to each other.

Ranking. By default rows are ordered by evidence (the one-sided Fisher p-value, then
lift), not by raw lift: a lift measured on few windows is noisy, and with thousands of
candidates the top of a lift ordering is made of rare combinations (on the demo world,
20–30 positive windows against 0–2 control windows, lifts of 50–300) while the planted
3-step sequence (224 against 105 windows, lift 15) ranks 57th to 175th among length-3
sequences; ordered by evidence it ranks first in all four planted cases.
``sort="lift"`` gives the lift ordering (then support; a null lift last).

Statistics (per sequence, on the 2×2 table positives/controls × holds/does not) are
computed in Python on the small aggregated table: rates, lift, odds ratio with its 95 %
Woolf interval, Fisher's one-sided exact p-value (summed in numpy: scipy is no
dependency of the core, and importing scipy.stats took 1–3 s of a first request) and
Benjamini–Hochberg adjusted p-values over every reported sequence.
"""

from __future__ import annotations

import datetime as dt
import difflib
import math
from typing import TYPE_CHECKING, Any

import ibis

from parcours.journeys.base import (
    JourneyResult,
    check_events,
    check_int,
    check_step_by,
    duration_text,
    parse_duration,
    with_steps,
)
from parcours.journeys.errors import JourneysError

if TYPE_CHECKING:
    import ibis.expr.types as ir
    import numpy as np
    import pyarrow as pa

#: Longest sequence mined (the cost of a longer one grows with the vocabulary).
MAX_LENGTH = 3

#: Orders of the result (see :func:`precursors`).
SORTS = ("p_value", "lift")

#: z for the 95 % confidence interval of the odds ratio.
_Z95 = 1.959963984540054

Seq = tuple[str, ...]


def _schema() -> pa.Schema:
    import pyarrow as pa

    f64 = pa.float64()
    return pa.schema([
        ("sequence", pa.list_(pa.string())), ("length", pa.int64()),
        ("support_target", pa.int64()), ("support_control", pa.int64()),
        ("targets", pa.int64()), ("controls", pa.int64()),
        ("rate_target", f64), ("rate_control", f64), ("lift", f64), ("odds_ratio", f64),
        ("ci_low", f64), ("ci_high", f64), ("p_value", f64), ("p_adjusted", f64),
    ])


class UnknownTargetError(JourneysError):
    """No profile has the target event; the message suggests event names that exist."""

    def __init__(self, target: str, suggestions: list[str]) -> None:
        hint = f"; did you mean one of: {', '.join(suggestions)}?" if suggestions else ""
        super().__init__(
            f"no profile has the target event {target!r}{hint}",
            parameter="target",
            target=target,
            suggestions=suggestions,
        )


def precursors(
    events: ir.Table,
    *,
    target: str,
    lookback: Any = "30d",
    max_length: int = 3,
    min_support: int = 20,
    step_by: str = "event",
    top: int | None = None,
    sort: str = "p_value",
) -> JourneyResult:
    """Steps and ordered sequences (length 1..``max_length``) over-represented before
    ``target``, against the control windows of profiles that never reach it.

    Args:
        events: a journey events table (see :mod:`parcours.journeys.base`).
        target: the target event name (with ``step_by="channel_event"`` also
            ``channel:event``).
        lookback: the window before the anchor (``"30d"``, ``"12h"``, a timedelta...).
        max_length: longest sequence mined, 1 to 3.
        min_support: positive windows a sequence must be held by to be reported (and,
            for its prefixes, to be extended).
        step_by: how steps are named (``event``, ``page``, ``channel_event``).
        top: keep only the first ``top`` rows (after the adjustment of p-values).
        sort: ``"p_value"`` (strongest evidence first, then lift) or ``"lift"`` (lift,
            then support; a null lift sorts last). See "Ranking" in the module doc.

    Returns:
        A :class:`JourneyResult`, one row per reported sequence: ``sequence``
        (list of step names), ``length``, ``support_target``, ``support_control``,
        ``targets``, ``controls``, ``rate_target``, ``rate_control``, ``lift`` (null when
        no control window holds it), ``odds_ratio``, ``ci_low``, ``ci_high``,
        ``p_value``, ``p_adjusted``, ordered by ``sort``. ``extra`` holds ``targets``,
        ``controls``, ``tested`` (the sequences reported, over which ``p_adjusted`` is
        computed) and the number of ``candidates`` counted per length.

    Example:
        >>> res = precursors(events, target="contract_terminated", lookback="30d")
        >>> res.to_pandas()[["sequence", "lift", "p_adjusted"]].head(3)  # doctest: +SKIP
    """
    t = check_events(events)
    t = t.filter(t.profile_id.notnull())
    check_step_by(step_by)
    if not isinstance(target, str) or not target.strip():
        raise JourneysError("give the target event name (target=...)", parameter="target")
    window = parse_duration(lookback, "lookback")
    max_length = check_int(max_length, "max_length", 1, MAX_LENGTH)
    min_support = check_int(min_support, "min_support", 1, None)
    if top is not None:
        top = check_int(top, "top", 1, None)
    if sort not in SORTS:
        raise JourneysError(f"invalid sort {sort!r}: use one of {', '.join(SORTS)}",
                            parameter="sort")
    params = {"target": target, "lookback": duration_text(window), "max_length": max_length,
              "min_support": min_support, "step_by": step_by, "top": top, "sort": sort}

    supports, candidates, n_pos, n_neg = mine(t, target=target, window=window,
                                              max_length=max_length,
                                              min_support=min_support, step_by=step_by)
    if n_pos == 0:
        raise UnknownTargetError(target, _suggestions(t, target))

    reported = {s: v for s, v in supports.items() if v[0] >= min_support}
    table = _table(reported, n_pos, n_neg, sort)
    if top is not None:
        table = table.slice(0, top)
    extra = {"targets": n_pos, "controls": n_neg, "tested": len(reported),
             "candidates": candidates}
    return JourneyResult("precursors", params, table, extra)


# -- mining -----------------------------------------------------------------------------
#: Engines whose windows are mined in this process (see :func:`mine`).
LOCAL_ENGINES = frozenset({"duckdb"})

#: Most rows a mining step expands at once (bounds the local miner's memory).
_CHUNK = 1 << 22


def mine(
    t: ir.Table,
    *,
    target: str,
    window: dt.timedelta,
    max_length: int,
    min_support: int,
    step_by: str,
    where: str = "auto",
) -> tuple[dict[Seq, list[int]], dict[int, int], int, int]:
    """Supports of every candidate: ``({sequence: [positive windows, control windows]},
    {length: candidates counted}, positive windows, control windows)``.

    Two miners compute the same counts (the parity and brute-force tests hold them to
    it). ``where="local"`` runs one engine query, the window events with their profile's
    anchor (:func:`_window_events`, one pass over ``t``), and mines them in this process
    with numpy on integer codes (:func:`_mine_local`): the windows are a small part of
    the log (a 30-day look-back keeps about a tenth of a year's events), and the
    joins of the engine miner cost more in planning and hashing strings than the
    counting itself. ``where="engine"`` counts each length with one Ibis query in the
    engine (:func:`_mine_in_engine`), for logs whose windows do not fit in this
    process. ``"auto"``: local on the engines of :data:`LOCAL_ENGINES` (DuckDB, where
    the data is on this machine anyway), in the engine elsewhere (Spark).
    """
    if where == "auto":
        where = "local" if t.get_backend().name in LOCAL_ENGINES else "engine"
    if where == "local":
        return _mine_local(_window_events(t, target, step_by, window).to_pyarrow(),
                           max_length, min_support)
    if where == "engine":
        return _mine_in_engine(t, target, window, max_length, min_support, step_by)
    raise ValueError(f"where must be auto, local or engine, not {where!r}")


def _window_events(t: ir.Table, target: str, step_by: str, window: dt.timedelta) -> ir.Table:
    """One query, one pass over ``t``: every event of a window (``step`` set) and the
    events at each profile's anchor (``step`` null, so that every profile, even with an
    empty window, has a row: they count the windows).

    Columns ``profile_id``, ``positive`` (the profile reaches the target), ``step``,
    ``ts``. The anchor is a window function over the profile's events, not an aggregate
    joined back, which would read ``t`` twice.
    """
    is_target = _is_target(t, target, step_by)
    if step_by == "channel_event":
        step = t.channel.concat(":", t.event)
    elif step_by == "page":  # as base.with_steps: page and screen views only
        step = ibis.ifelse(t.type.isin(["page", "screen"]), t.event, ibis.null("string"))
    else:
        step = t.event
    by_profile = ibis.window(group_by=t.profile_id)
    e = t.select(
        "profile_id", "ts", step=step, is_target=is_target,
        first_target=ibis.ifelse(is_target, t.ts, ibis.null("timestamp")).min().over(by_profile),
        last_event=t.ts.max().over(by_profile),
    )
    anchor = e.first_target.coalesce(e.last_event)
    # (a profile whose events all lack a time has no anchor: an empty control window)
    e = e.filter(((e.ts >= anchor - _interval(window)) & (e.ts <= anchor)) | anchor.isnull())
    in_window = (e.ts < anchor) & ~e.is_target
    return e.select(
        "profile_id",
        positive=e.first_target.notnull(),
        step=ibis.ifelse(in_window, e.step, ibis.null("string")),
        ts="ts",
    )


def _mine_local(
    w: pa.Table, max_length: int, min_support: int, chunk: int = _CHUNK
) -> tuple[dict[Seq, list[int]], dict[int, int], int, int]:
    """The apriori miner of the module doc on the window events ``w`` (see
    :func:`_window_events`), in numpy.

    Windows and steps become integer codes, and times their dense rank in the window
    (so "strictly later" is a comparison of small integers, ties equal). Events are
    sorted by (window, step, rank): a (window, step) run is one ``occ`` row with its
    first and last rank. Pairs are the occ rows of one window crossed (a window has a
    handful of distinct steps); next_b(first(a)) is a binary search in b's run; the c
    of a triple are, among the window's occ rows sorted by last rank, those after
    next_b (one more binary search). Every expansion is cut into chunks of about
    ``chunk`` rows.
    """
    import numpy as np
    import pyarrow as pa
    import pyarrow.compute as pc

    w = w.combine_chunks()
    for i, field in enumerate(w.schema):  # a dictionary column's codes may name absent values
        if pa.types.is_dictionary(field.type):
            w = w.set_column(i, field.name, w.column(i).cast(field.type.value_type))
    pid = pc.dictionary_encode(w.column("profile_id")).combine_chunks()
    n_win = len(pid.dictionary)
    win_all = pid.indices.to_numpy(zero_copy_only=False).astype(np.int64)
    positive = np.zeros(n_win, dtype=bool)
    positive[win_all] = w.column("positive").to_numpy(zero_copy_only=False)
    n_pos = int(positive.sum())
    n_neg = n_win - n_pos
    control = (~positive).astype(np.int64)  # the tally's column: 0 positive, 1 control

    step = w.column("step")
    keep = step.is_valid().to_numpy(zero_copy_only=False)
    steps = pc.dictionary_encode(pc.filter(step, keep)).combine_chunks()
    names: list[str] = steps.dictionary.to_pylist()
    n_steps = len(names)
    if n_steps == 0:
        return {}, {1: 0}, n_pos, n_neg
    stp = steps.indices.to_numpy(zero_copy_only=False).astype(np.int64)
    win = win_all[keep]
    ts = pc.cast(pc.filter(w.column("ts"), keep), "int64").to_numpy(zero_copy_only=False)

    # dense rank of the time within the window
    o = np.lexsort((ts, win))
    win, stp, ts = win[o], stp[o], ts[o]
    n = len(win)
    new_win = np.ones(n, dtype=bool)
    new_win[1:] = win[1:] != win[:-1]
    change = new_win.copy()
    change[1:] |= ts[1:] != ts[:-1]
    grank = np.cumsum(change) - 1
    rank = grank - np.maximum.accumulate(np.where(new_win, grank, 0))
    span = int(rank.max()) + 1

    # occ: one row per (window, step) with its first and last rank; events sorted so
    # that each occ row's events are one run, in rank order
    if n_win * n_steps * span < 1 << 62:
        o = np.argsort((win * n_steps + stp) * span + rank, kind="stable")
    else:
        o = np.lexsort((rank, stp, win))
    win, stp, rank = win[o], stp[o], rank[o]
    run = np.ones(n, dtype=bool)
    run[1:] = (win[1:] != win[:-1]) | (stp[1:] != stp[:-1])
    o_start = np.flatnonzero(run)
    o_end = np.append(o_start[1:], n)
    o_win, o_step = win[o_start], stp[o_start]
    o_first, o_last = rank[o_start], rank[o_end - 1]
    o_ctl = control[o_win]

    supports: dict[Seq, list[int]] = {}
    c1 = np.bincount(o_step * 2 + o_ctl, minlength=2 * n_steps).reshape(n_steps, 2)
    nz = np.flatnonzero(c1.sum(axis=1))
    for i, v in zip(nz.tolist(), c1[nz].tolist(), strict=True):
        supports[(names[i],)] = v
    candidates = {1: n_steps}
    frequent = c1[:, 0] >= min_support
    n_freq = int(frequent.sum())
    if max_length < 2 or n_freq == 0:
        return supports, candidates, n_pos, n_neg

    # the occ rows of frequent steps, with steps renumbered 0..n_freq-1 (sorted names,
    # as the engine miner); per row, where its window's rows start and how many
    f_code = np.full(n_steps, -1, dtype=np.int64)
    f_names = sorted(names[i] for i in np.flatnonzero(frequent).tolist())
    code_of = {name: i for i, name in enumerate(f_names)}
    for i in np.flatnonzero(frequent).tolist():
        f_code[i] = code_of[names[i]]
    sel = np.flatnonzero(frequent[o_step])
    s_win, s_code = o_win[sel], f_code[o_step[sel]]
    s_first, s_last, s_ctl = o_first[sel], o_last[sel], o_ctl[sel]
    w_new = np.ones(len(sel), dtype=bool)
    w_new[1:] = s_win[1:] != s_win[:-1]
    w_start = np.flatnonzero(w_new)
    w_size = np.diff(np.append(w_start, len(sel)))
    w_of = np.cumsum(w_new) - 1  # window number of each row (0.. among windows with rows)

    w_end = (w_start + w_size)[w_of]  # where the rows of each row's window end
    pair_size = n_freq * n_freq
    c2 = np.zeros(2 * pair_size, dtype=np.int64)
    pre2 = s_code * (2 * n_freq) + s_ctl  # bin of (a, b, control): pre2[a] + 2 code(b)
    for rows, owner, b in _ranges(w_start[w_of], w_size[w_of], chunk):
        held = np.repeat(s_first[rows], owner) < s_last[b]
        c2 += np.bincount((np.repeat(pre2[rows], owner) + 2 * s_code[b])[held],
                          minlength=2 * pair_size)
    n2 = c2.reshape(pair_size, 2)
    nz = np.flatnonzero(n2.sum(axis=1))
    for k, v in zip(nz.tolist(), n2[nz].tolist(), strict=True):
        supports[(f_names[k // n_freq], f_names[k % n_freq])] = v
    candidates[2] = pair_size
    c3 = _triples({s for s, (p, _) in supports.items() if len(s) == 2 and p >= min_support})
    if max_length < 3 or not c3:
        return supports, candidates, n_pos, n_neg
    candidates[3] = len(c3)

    trip = np.array([[code_of[a], code_of[b], code_of[c]] for a, b, c in c3], dtype=np.int64)
    trip_key = (trip[:, 0] * n_freq + trip[:, 1]) * n_freq + trip[:, 2]  # sorted, as c3
    ab = np.zeros(pair_size, dtype=bool)
    ab[trip[:, 0] * n_freq + trip[:, 1]] = True
    dense = 2 * n_freq ** 3 <= 1 << 25  # the bin of a (key, control): a lookup table
    if dense:
        trip_bin = np.full(2 * n_freq ** 3, 2 * len(c3), dtype=np.int64)  # else: not counted
        trip_bin[2 * trip_key] = 2 * np.arange(len(c3))
        trip_bin[2 * trip_key + 1] = 2 * np.arange(len(c3)) + 1
    # each event's key (its occ row, its rank), sorted: the binary search of next_b
    ev_key = np.repeat(np.arange(len(o_start), dtype=np.int64), o_end - o_start) * span + rank
    # a window's rows by last rank: the c held after next_b are a suffix of them
    by_last = np.argsort(w_of * span + s_last, kind="stable")
    last_key = (w_of * span + s_last)[by_last]
    code2_by_last = 2 * s_code[by_last]
    c3n = np.zeros(2 * len(c3) + 1, dtype=np.int64)
    for rows, owner, b in _ranges(w_start[w_of], w_size[w_of], chunk):
        a = np.repeat(rows, owner)
        pair = s_code[a] * n_freq + s_code[b]
        keep = (s_first[a] < s_last[b]) & ab[pair]  # held: next_b exists
        a, b, pair = a[keep], b[keep], pair[keep]
        q = np.searchsorted(ev_key, sel[b] * span + s_first[a], side="right")
        lo = np.searchsorted(last_key, w_of[a] * span + rank[q], side="right")
        ctl = s_ctl[a]
        pre3 = 2 * pair * n_freq + ctl  # the bin: pre3 + 2 code(c), dense or not
        for sub, owner3, c in _ranges(lo, w_end[a] - lo, chunk):
            key = np.repeat(pre3[sub], owner3) + code2_by_last[c]
            if dense:
                c3n += np.bincount(trip_bin[key], minlength=len(c3n))
            else:
                ctl3 = np.repeat(ctl[sub], owner3)
                key = (key - ctl3) // 2
                i = np.minimum(np.searchsorted(trip_key, key), len(c3) - 1)
                hit = trip_key[i] == key
                c3n += np.bincount(2 * i[hit] + ctl3[hit], minlength=len(c3n))
    n3 = c3n[:-1].reshape(len(c3), 2)
    nz = np.flatnonzero(n3.sum(axis=1))
    for k, v in zip(nz.tolist(), n3[nz].tolist(), strict=True):
        supports[c3[k]] = v
    return supports, candidates, n_pos, n_neg


def _ranges(starts: np.ndarray, sizes: np.ndarray, chunk: int) -> Any:
    """For rows ``i``, the positions ``starts[i] .. starts[i] + sizes[i] - 1``, in chunks
    of about ``chunk`` positions (a row larger than a chunk is a chunk of its own):
    ``(rows, sizes[rows], positions)``, the rows a slice."""
    import numpy as np

    ends = np.cumsum(sizes)
    begin = 0
    while begin < len(sizes):
        base = ends[begin - 1] if begin else 0
        stop = max(int(np.searchsorted(ends, base + chunk, side="right")), begin + 1)
        size = sizes[begin:stop]
        total = int(ends[stop - 1] - base)
        if total:
            shift = starts[begin:stop] - (np.cumsum(size) - size)
            yield np.arange(begin, stop), size, np.arange(total) + np.repeat(shift, size)
        begin = stop


def _mine_in_engine(
    t: ir.Table, target: str, window: dt.timedelta, max_length: int, min_support: int,
    step_by: str,
) -> tuple[dict[Seq, list[int]], dict[int, int], int, int]:
    """The apriori miner of the module doc, one Ibis query per length in the engine."""
    anchors = _anchors(t, target, step_by)
    counts = {bool(r["positive"]): int(r["n"]) for r in
              anchors.group_by("positive").agg(n=anchors.count()).to_pyarrow().to_pylist()}
    n_pos, n_neg = counts.get(True, 0), counts.get(False, 0)
    supports: dict[Seq, list[int]] = {}
    candidates: dict[int, int] = {}
    if n_pos == 0:
        return supports, candidates, n_pos, n_neg

    steps = with_steps(t, step_by)
    steps = steps.filter(steps.step.notnull() & ~_is_target(steps, target, step_by))
    steps = steps.select("profile_id", "ts", "step")
    span = _interval(window)
    w = steps.join(anchors, steps.profile_id == anchors.anchor_pid).filter(
        lambda j: (j.ts >= j.anchor - span) & (j.ts < j.anchor)
    ).select("profile_id", "positive", "step", "ts")

    # Each length is one query over ``w`` (recomputed, not cached: a cached table keeps
    # its lineage on Spark, and the queries are few).
    occ = w.group_by("profile_id", "positive", "step").agg(first=w.ts.min(), last=w.ts.max())
    s1 = _count(occ.group_by("step", "positive").agg(n=occ.count()), ["step"])
    candidates[1] = len(s1)
    supports.update(s1)
    f1 = sorted(s[0] for s, (p, _) in s1.items() if p >= min_support)
    if max_length >= 2 and f1:
        s2 = _count(_pairs(occ, f1), ["a", "b"])
        candidates[2] = len(f1) ** 2
        supports.update(s2)
        f2 = {s for s, (p, _) in s2.items() if p >= min_support}
        c3 = _triples(f2)
        if max_length >= 3 and c3:
            candidates[3] = len(c3)
            supports.update(_count(_holding_triples(w, occ, c3), ["a", "b", "c"]))
    return supports, candidates, n_pos, n_neg


# -- windows --------------------------------------------------------------------------
def _is_target(t: ir.Table, target: str, step_by: str) -> ir.BooleanValue:
    cond = t.event == target
    if step_by == "channel_event":
        cond = cond | (t.channel.concat(":", t.event) == target)
    return cond.fill_null(False)


def _anchors(t: ir.Table, target: str, step_by: str) -> ir.Table:
    """One row per profile: ``anchor_pid``, ``positive`` and the window's end ``anchor``
    (first target event, else last event), in one aggregation."""
    a = t.group_by("profile_id").agg(
        first_target=t.ts.min(where=_is_target(t, target, step_by)), last_event=t.ts.max()
    )
    return a.select(
        anchor_pid=a.profile_id,
        positive=a.first_target.notnull(),
        anchor=a.first_target.coalesce(a.last_event),
    )


def _interval(td: dt.timedelta) -> ir.IntervalScalar:
    """An interval literal both engines take: whole seconds, else microseconds."""
    us = round(td.total_seconds() * 1_000_000)
    if us % 1_000_000 == 0:
        return ibis.interval(seconds=us // 1_000_000)
    return ibis.interval(microseconds=us)


def _suggestions(t: ir.Table, target: str, n: int = 5) -> list[str]:
    """Close spellings of ``target`` first, then the most frequent event names."""
    rows = t.group_by("event").agg(n=t.count()).order_by(ibis.desc("n"), "event").limit(200)
    names = [r["event"] for r in rows.to_pyarrow().to_pylist() if r["event"] is not None]
    out = difflib.get_close_matches(target, names, n=3, cutoff=0.6)
    out += [x for x in names if x not in out]
    return out[:n]


# -- counting ---------------------------------------------------------------------------
def _count(expr: ir.Table, keys: list[str]) -> dict[Seq, list[int]]:
    """``{sequence: [positive windows, control windows]}`` from a count per keys and
    ``positive``."""
    out: dict[Seq, list[int]] = {}
    for r in expr.to_pyarrow().to_pylist():
        seq = tuple(r[k] for k in keys)
        out.setdefault(seq, [0, 0])[0 if r["positive"] else 1] += int(r["n"])
    return out


def _pairs(occ: ir.Table, items: list[str]) -> ir.Table:
    """Windows holding ``a → b`` per (a, b, positive), a and b among ``items``.

    A window holds a → b iff first(a) < last(b): if some a at t_a precedes some b at
    t_b, then first(a) <= t_a < t_b <= last(b); conversely first(a) < last(b) *is* such
    a pair. (a = b is the same: two occurrences of a at different times.)
    ``occ`` has one row per (window, step), so the join has one row per held pair.
    """
    o = occ.filter(occ.step.isin(items))
    a = o.select(profile_id="profile_id", positive="positive", a="step", a_first="first")
    b = o.select(b_pid="profile_id", b="step", b_last="last")
    j = a.join(b, [a.profile_id == b.b_pid, a.a_first < b.b_last])
    return j.group_by("a", "b", "positive").agg(n=j.count())


def _triples(f2: set[Seq]) -> list[Seq]:
    """Length-3 candidates: (a, b, c) with a → b, b → c and a → c all frequent (a window
    holding a → b → c holds each of them, so support cannot grow with length)."""
    by_prefix: dict[str, list[str]] = {}
    for a, b in f2:
        by_prefix.setdefault(a, []).append(b)
    return sorted((a, b, c) for a, b in f2 for c in by_prefix.get(b, ()) if (a, c) in f2)


def _holding_triples(w: ir.Table, occ: ir.Table, c3: list[Seq]) -> ir.Table:
    """Windows holding ``a → b → c`` per (a, b, c, positive), for the candidates ``c3``.

    Let next_b(x) be the first b strictly after x in the window. The window holds
    a → b → c iff next_b(first(a)) exists and next_b(first(a)) < last(c):
    if t_a < t_b < t_c are a, b, c times, then first(a) <= t_a < t_b, so
    next_b(first(a)) <= t_b < t_c <= last(c); conversely (first(a), next_b(first(a)),
    last(c)) is such a triple. This is the earliest-first greedy match, exact for
    existence. next_b(first(a)) is computed for the frequent pairs (a, b) only.
    """
    import pyarrow as pa

    ab = sorted({(a, b) for a, b, _ in c3})
    pairs = ibis.memtable(pa.table({"pa": [x[0] for x in ab], "pb": [x[1] for x in ab]}))
    trip = ibis.memtable(pa.table({"ta": [x[0] for x in c3], "tb": [x[1] for x in c3],
                                   "tc": [x[2] for x in c3]}))
    a = occ.filter(occ.step.isin(sorted({x[0] for x in ab}))).select(
        profile_id="profile_id", positive="positive", a="step", a_first="first")
    a = a.join(pairs, a.a == pairs.pa).select("profile_id", "positive", "a", b="pb",
                                               a_first="a_first")
    bs = w.filter(w.step.isin(sorted({x[1] for x in ab}))).select(
        b_pid="profile_id", b_step="step", b_ts="ts")
    nb = a.join(bs, [a.profile_id == bs.b_pid, a.b == bs.b_step, bs.b_ts > a.a_first])
    nb = nb.group_by("profile_id", "positive", "a", "b").agg(next_b=nb.b_ts.min())
    x = nb.join(trip, [nb.a == trip.ta, nb.b == trip.tb]).select(
        "profile_id", "positive", "a", "b", "next_b", c="tc")
    c = occ.filter(occ.step.isin(sorted({s[2] for s in c3}))).select(
        c_pid="profile_id", c_step="step", c_last="last")
    j = x.join(c, [x.profile_id == c.c_pid, x.c == c.c_step, x.next_b < c.c_last])
    return j.group_by("a", "b", "c", "positive").agg(n=j.count())


# -- statistics -----------------------------------------------------------------------
def odds_ratio_ci(a: int, b: int, c: int, d: int) -> tuple[float, float, float]:
    """Odds ratio of the 2×2 table [[a, b], [c, d]] and its 95 % Woolf interval.

    ``a``/``b``: positives holding / not holding, ``c``/``d``: controls holding / not.
    When any cell is 0, 0.5 is added to every cell (Haldane–Anscombe), so the ratio
    and its interval stay finite.

    Example:
        >>> [round(x, 3) for x in odds_ratio_ci(30, 70, 10, 190)]
        [8.143, 3.784, 17.523]
    """
    cells = [float(v) for v in (a, b, c, d)]
    if min(cells) == 0:
        cells = [v + 0.5 for v in cells]
    a_, b_, c_, d_ = cells
    log_or = math.log(a_ * d_ / (b_ * c_))
    se = math.sqrt(1 / a_ + 1 / b_ + 1 / c_ + 1 / d_)
    return math.exp(log_or), math.exp(log_or - _Z95 * se), math.exp(log_or + _Z95 * se)


def _odds_ratios(sp: np.ndarray, sc: np.ndarray, n_pos: int,
                 n_neg: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """:func:`odds_ratio_ci` of every row at once (odds ratio, low, high)."""
    import numpy as np

    cells = np.stack([sp, n_pos - sp, sc, n_neg - sc]).astype(float)
    cells += np.where((cells == 0).any(axis=0), 0.5, 0.0)
    a, b, c, d = cells
    log_or = np.log(a * d / (b * c))
    se = np.sqrt(1 / a + 1 / b + 1 / c + 1 / d)
    return np.exp(log_or), np.exp(log_or - _Z95 * se), np.exp(log_or + _Z95 * se)


def benjamini_hochberg(p: list[float]) -> list[float]:
    """Benjamini–Hochberg adjusted p-values (step-up, monotone, at most 1).

    Example:
        >>> benjamini_hochberg([0.01, 0.04, 0.03])
        [0.03, 0.04, 0.04]
    """
    m = len(p)
    order = sorted(range(m), key=lambda i: p[i])
    out = [1.0] * m
    running = 1.0
    for rank in range(m, 0, -1):
        i = order[rank - 1]
        running = min(running, p[i] * m / rank)
        out[i] = min(1.0, running)
    return out


def _table(supports: dict[Seq, list[int]], n_pos: int, n_neg: int, sort: str) -> pa.Table:
    import numpy as np
    import pyarrow as pa

    seqs = list(supports)
    sp = np.array([supports[q][0] for q in seqs], dtype=np.int64)
    sc = np.array([supports[q][1] for q in seqs], dtype=np.int64)
    # Fisher's exact test, one-sided (over-represented before the target): with the
    # margins fixed, the positives among the windows holding it are hypergeometric.
    log_p = _log_fisher_greater(sp, sc, n_pos, n_neg) if seqs else np.array([])
    # column by column, in Python floats (the arithmetic of a row at a time, faster)
    a_, c_ = sp.tolist(), sc.tolist()
    lp = [min(0.0, x) for x in log_p.tolist()]
    rate_t = [a / n_pos for a in a_]
    rate_c = [c / n_neg if n_neg else None for c in c_]
    lift = [t / c if c else None for t, c in zip(rate_t, rate_c, strict=True)]
    ci = _odds_ratios(sp, sc, n_pos, n_neg)
    p_value = [math.exp(x) for x in lp]
    p_adjusted = benjamini_hochberg(p_value)
    lengths = [len(q) for q in seqs]
    if sort == "lift":  # lift descending, a null lift (no control window) last, then support
        key = [(x is None, -(-1.0 if x is None else x), -a, n, q)
               for x, a, n, q in zip(lift, a_, lengths, seqs, strict=True)]
    else:  # log p ascending, then lift (a null lift is unbounded: first), then support
        key = [(x, -(math.inf if y is None else y), -a, n, q)
               for x, y, a, n, q in zip(lp, lift, a_, lengths, seqs, strict=True)]
    order = sorted(range(len(seqs)), key=key.__getitem__)
    cols: dict[str, list[Any]] = {
        "sequence": [list(q) for q in seqs], "length": lengths, "support_target": a_,
        "support_control": c_, "targets": [n_pos] * len(seqs),
        "controls": [n_neg] * len(seqs), "rate_target": rate_t, "rate_control": rate_c,
        "lift": lift, "odds_ratio": ci[0].tolist(), "ci_low": ci[1].tolist(),
        "ci_high": ci[2].tolist(), "p_value": p_value, "p_adjusted": p_adjusted,
    }
    schema = _schema()
    return pa.table({k: pa.array([cols[k][i] for i in order], type=schema.field(k).type)
                     for k in schema.names}, schema=schema)


def _log_fisher_greater(sp: np.ndarray, sc: np.ndarray, n_pos: int, n_neg: int) -> np.ndarray:
    """log P(X >= sp), X hypergeometric: sp + sc windows hold the sequence, n_pos of the
    n_pos + n_neg windows are positive (Fisher's exact test, one-sided).

    The log orders the rows, because p underflows to 0 on large tables (the planted
    sequence of the 3,000-customer demo world has log p = -347, of a 5 M-event log
    -5,000). Summed from the end nearer the tail, in ratios of successive terms (no
    scipy: it is not a dependency of the core, and importing scipy.stats takes 1-3 s):
    above the mode, P(X >= k) = pmf(k) (1 + r_k + r_k r_k+1 + ...), every ratio below 1,
    so log p = log pmf(k) + log(that sum) holds where p itself underflows; at or below
    the mode, p = 1 - P(X <= k - 1), the lower tail summed downwards the same way (p is
    then at least about 1/3, nothing underflows). Terms are added until they no longer
    change the sum.
    """
    import numpy as np

    total = n_pos + n_neg
    k = np.asarray(sp, dtype=np.int64)
    held = k + np.asarray(sc, dtype=np.int64)
    lo = np.maximum(0, held + n_pos - total)  # the support of X
    hi = np.minimum(held, n_pos)
    mode = (held + 1) * (n_pos + 1) // (total + 2)
    out = np.zeros(len(k))

    def log_pmf(x: np.ndarray, n: np.ndarray) -> np.ndarray:
        return (_log_choose(n, x) + _log_choose(total - n, n_pos - x)
                - _log_choose(np.array([total]), np.array([n_pos])))

    up = (k > mode) & (k <= hi)
    if up.any():
        out[up] = log_pmf(k[up], held[up]) + np.log(
            _tail_sum(k[up], held[up], hi[up], total, n_pos, upwards=True))
    down = (k <= mode) & (k > lo)  # k <= lo: p = 1
    if down.any():
        log_cdf = log_pmf(k[down] - 1, held[down]) + np.log(
            _tail_sum(k[down] - 1, held[down], lo[down], total, n_pos, upwards=False))
        # log of the double 1 - cdf, not log1p(-cdf): a p within an ulp of 1 is 1, so the
        # rows that tie at p = 1 are ordered by lift
        out[down] = np.log(np.maximum(1.0 - np.exp(log_cdf), np.finfo(float).tiny))
    return out


def _log_choose(n: np.ndarray, k: np.ndarray) -> np.ndarray:
    return _log_factorial(n) - _log_factorial(k) - _log_factorial(n - k)


_LOG_FACTORIALS = [math.lgamma(k + 1) for k in range(64)]


def _log_factorial(n: np.ndarray) -> np.ndarray:
    """log n! for whole numbers n >= 0: a table below 64, Stirling's series above (its
    first omitted term is below 1e-19 there), as exact as math.lgamma and vectorized."""
    import numpy as np

    n = np.asarray(n)
    out = np.empty(n.shape)
    small = n < len(_LOG_FACTORIALS)
    out[small] = np.asarray(_LOG_FACTORIALS)[n[small]]
    x = n[~small].astype(float) + 1.0
    inv = 1.0 / x
    inv2 = inv * inv
    series = inv * (1 / 12 - inv2 * (1 / 360 - inv2 * (1 / 1260 - inv2 / 1680)))
    out[~small] = (x - 0.5) * np.log(x) - x + 0.5 * math.log(2 * math.pi) + series
    return out


def _tail_sum(k: np.ndarray, held: np.ndarray, stop: np.ndarray, total: int, n_pos: int,
              *, upwards: bool) -> np.ndarray:
    """pmf(k) + pmf(k ± 1) + ... + pmf(stop), over pmf(k), by the ratio of successive
    hypergeometric terms (each below 1 on the side of the mode it walks away from)."""
    import numpy as np

    x = k.astype(float)
    n = held.astype(float)
    end = stop.astype(float)
    term = np.ones(len(x))
    acc = np.ones(len(x))
    live = np.flatnonzero(x != end)
    while len(live):
        xi, ni = x[live], n[live]
        if upwards:  # pmf(x + 1) / pmf(x)
            r = (ni - xi) * (n_pos - xi) / ((xi + 1) * (total - ni - n_pos + xi + 1))
        else:  # pmf(x - 1) / pmf(x)
            r = xi * (total - ni - n_pos + xi) / ((ni - xi + 1) * (n_pos - xi + 1))
        term[live] *= r
        acc[live] += term[live]
        x[live] += 1 if upwards else -1
        live = live[(x[live] != end[live]) & (term[live] > acc[live] * 1e-17)]
    return acc


__all__ = ["UnknownTargetError", "benjamini_hochberg", "odds_ratio_ci", "precursors"]
