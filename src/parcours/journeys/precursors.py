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
extended, a length-3 candidate needs its three 2-subsequences frequent, and each length
is counted in one Ibis query (DuckDB or Spark), whatever the number of candidates:

* length 1: per window and step, the first and last time it occurs (``occ``);
* length 2: ``a → b`` is held iff ``first(a) < last(b)`` (one self-join of ``occ``);
* length 3: ``a → b → c`` is held iff ``next_b(first(a)) < last(c)``, where ``next_b(x)``
  is the first ``b`` strictly after ``x`` (one join of ``occ`` with the ``b`` events,
  one join with ``occ`` again). Proofs next to the code.

Ranking. By default rows are ordered by evidence (the one-sided Fisher p-value, then
lift), not by raw lift: a lift measured on few windows is noisy, and with thousands of
candidates the top of a lift ordering is made of rare combinations (on the demo world,
20–30 positive windows against 0–2 control windows, lifts of 50–300) while the planted
3-step sequence (224 against 105 windows, lift 15) ranks 57th to 175th among length-3
sequences; ordered by evidence it ranks first in all four planted cases.
``sort="lift"`` gives the lift ordering (then support; a null lift last).

Statistics (per sequence, on the 2×2 table positives/controls × holds/does not) are
computed in Python on the small aggregated table: rates, lift, odds ratio with its 95 %
Woolf interval, Fisher's one-sided exact p-value and Benjamini–Hochberg adjusted
p-values over every reported sequence.
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

    anchors = _anchors(t, target, step_by)
    counts = {bool(r["positive"]): int(r["n"]) for r in
              anchors.group_by("positive").agg(n=anchors.count()).to_pyarrow().to_pylist()}
    n_pos, n_neg = counts.get(True, 0), counts.get(False, 0)
    if n_pos == 0:
        raise UnknownTargetError(target, _suggestions(t, target))

    steps = with_steps(t, step_by)
    steps = steps.filter(steps.step.notnull() & ~_is_target(steps, target, step_by))
    steps = steps.select("profile_id", "ts", "step")
    span = _interval(window)
    w = steps.join(anchors, steps.profile_id == anchors.anchor_pid).filter(
        lambda j: (j.ts >= j.anchor - span) & (j.ts < j.anchor)
    ).select("profile_id", "positive", "step", "ts")

    supports: dict[Seq, list[int]] = {}
    candidates: dict[int, int] = {}
    # Each length is one query over ``w`` (recomputed, not cached: ibis' temp tables
    # cannot be dropped with the sqlglot this project runs, and a leak per call would
    # grow a long-lived connection).
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

    reported = {s: v for s, v in supports.items() if v[0] >= min_support}
    table = _table(reported, n_pos, n_neg, sort)
    if top is not None:
        table = table.slice(0, top)
    extra = {"targets": n_pos, "controls": n_neg, "tested": len(reported),
             "candidates": candidates}
    return JourneyResult("precursors", params, table, extra)


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
    rows: list[dict[str, Any]] = []
    for i, q in enumerate(seqs):
        a, c = int(sp[i]), int(sc[i])
        rate_t = a / n_pos
        rate_c = c / n_neg if n_neg else None
        lift = rate_t / rate_c if rate_c else None
        odds, lo, hi = odds_ratio_ci(a, n_pos - a, c, n_neg - c)
        lp = min(0.0, float(log_p[i]))
        rows.append({"_log_p": lp, "sequence": list(q), "length": len(q), "support_target": a,
                     "support_control": c, "targets": n_pos, "controls": n_neg,
                     "rate_target": rate_t, "rate_control": rate_c, "lift": lift,
                     "odds_ratio": odds, "ci_low": lo, "ci_high": hi, "p_value": math.exp(lp)})
    adjusted = benjamini_hochberg([r["p_value"] for r in rows])
    for r, adj in zip(rows, adjusted, strict=True):
        r["p_adjusted"] = adj
    rows.sort(key=_by_lift if sort == "lift" else _by_evidence)
    schema = _schema()
    return pa.Table.from_pylist([{k: r[k] for k in schema.names} for r in rows], schema=schema)


def _lift_key(r: dict[str, Any]) -> float:
    return -1.0 if r["lift"] is None else r["lift"]


def _log_fisher_greater(sp: np.ndarray, sc: np.ndarray, n_pos: int, n_neg: int) -> np.ndarray:
    """log P(X >= sp), X hypergeometric: sp + sc windows hold the sequence, n_pos of the
    n_pos + n_neg windows are positive (Fisher's exact test, one-sided).

    The log orders the rows, because p underflows to 0 on large tables (the planted
    sequence of the 3,000-customer demo world has log p = -347, of a 5 M-event log
    -5,000). Where it underflows, log p is taken as log pmf(sp) - log(1 - r), r the
    ratio pmf(sp + 1) / pmf(sp): the tail is pmf(sp) (1 + r + r r' + ...) with
    decreasing ratios, so this is an upper bound within log(1 / (1 - r)) of the truth
    (scipy's exact logsf is too slow there: seconds per thousand rows).
    """
    import numpy as np
    from scipy.stats import hypergeom

    total, held = n_pos + n_neg, sp + sc
    with np.errstate(divide="ignore"):
        log_p = np.log(hypergeom.sf(sp - 1, total, held, n_pos))
    tiny = ~np.isfinite(log_p)
    if tiny.any():
        k, n = sp[tiny].astype(float), held[tiny].astype(float)
        r = (n - k) * (n_pos - k) / ((k + 1) * (total - n - n_pos + k + 1))
        log_p[tiny] = hypergeom.logpmf(sp[tiny], total, held[tiny], n_pos) - np.log1p(
            -np.minimum(r, 1 - 1e-12))
    return log_p


def _by_lift(r: dict[str, Any]) -> tuple[Any, ...]:
    """Lift descending, a null lift (no control window) last, then support."""
    return (r["lift"] is None, -_lift_key(r), -r["support_target"], r["length"], r["sequence"])


def _by_evidence(r: dict[str, Any]) -> tuple[Any, ...]:
    """p-value ascending (by its logarithm), then lift (a null lift is unbounded:
    first), then support."""
    lift = math.inf if r["lift"] is None else r["lift"]
    return (r["_log_p"], -lift, -r["support_target"], r["length"], r["sequence"])


__all__ = ["UnknownTargetError", "benjamini_hochberg", "odds_ratio_ci", "precursors"]
