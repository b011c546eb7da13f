"""Funnels: how many profiles reach each of an ordered list of steps within a window.

The contract
------------
A profile *reaches step k* when there are **distinct** events ``e1 .. ek`` of the
profile, ``ei`` matching step ``i``, with ``t1 <= t2 <= ... <= tk`` and
``tk - t1 <= window``. ``e1`` may be any occurrence of step 1 (the best attempt
counts, not the first). Steps may repeat (``["home", "offer", "home"]``): an event
serves one step of a chain only. Events at the same timestamp may be used in any order.

The *best chain* of a profile that reaches step ``m`` (its last step) and no further
starts at the **latest** step-1 time ``s`` from which step ``m`` is reached within the
window, and takes every step as early as possible after it (greedy: stay at the current
timestamp while an unused event of the next step is there, else the earliest later
event). That chain gives:

* ``median_seconds_from_previous`` of step ``k``: the median, over the profiles reaching
  step ``k``, of ``t_k - t_(k-1)`` in their best chain (null for step 1);
* the breakdown value of the profile: ``channel`` or ``property:NAME`` (that JSON
  property as text) or any other column, read on the step-1 event of the best chain
  (if several step-1 events share time ``s``, the smallest value); a missing value
  is shown as ``(none)``.

Result rows (one per step, then one per step and breakdown value):
``step``, ``step_index`` (1-based), ``profiles``, ``conversion_from_previous``,
``conversion_from_first`` (step 1: 1.0; null when the previous step has no profile),
``median_seconds_from_previous``, ``breakdown`` (null on the overall rows).

How it runs
-----------
Events not matching a step are dropped first and step names become small integers.
Taking each step as early as possible never hurts, so a profile reaches step k exactly
when one of its greedy chains (one per step-1 time) does.

On DuckDB (:func:`sorted_counts`, the embedded default): one query reads the step
events as arrays (the journey store's integer profile code, microseconds, step code;
on the store the step code is looked up from the ENUM code, which keeps the store's
order by profile and time, so nothing is sorted), and numpy walks every chain a step at
a time with binary searches (:mod:`parcours.journeys.kernels`; ranges of profiles in
threads without a breakdown): no table is written, and a step costs a search per live
chain, so the cost follows the number of step events read, not the number of steps.

On Spark (and any other engine; :func:`chain_counts`, also the reference the DuckDB
path is tested against) the same chains are Ibis expressions. The chains advance one
step per pass, each pass one window over just the chains and the events of the next
step's name (20 steps cost about what the events of 20 names cost, not 20 passes over
all events):

* a chain is ``(profile, tau, j, s, prev)``: at time ``tau`` after taking steps
  ``j..k`` there, started at ``s``, at ``prev`` one step before;
* greedy step: stay at ``tau`` if an event of the next step's name is left there (how
  many are used follows from ``j..k``), else go to the next time holding one; drop the
  chain if that is past ``s + window``;
* chains meeting at the same ``(tau, j)`` share their future, so only the latest start
  goes on (it reaches at least as far): there are never more chains than step-1 times,
  and fewer at every step as profiles drop out.

The best chain's start is the latest start among a profile's chains at its last step;
that start wins every meeting on its way, so its states give the step times. Each
pass is materialized (a temporary table on DuckDB, Parquet on Spark: see ``_Scratch``)
and dropped when the answer is in. Times are microseconds since 1970 inside (integer
comparisons and differences).
"""

from __future__ import annotations

import datetime as dt
import shutil
import tempfile
import uuid
from pathlib import Path
from typing import TYPE_CHECKING, Any

import ibis

from parcours.journeys.base import (
    JourneyResult,
    check_events,
    check_step_by,
    duration_text,
    parse_duration,
    with_steps,
)
from parcours.journeys.errors import JourneysError
from parcours.journeys.store import PROFILE, enum_codes

if TYPE_CHECKING:
    import ibis.expr.types as ir
    import pyarrow as pa

#: Most steps a funnel may have.
MAX_STEPS = 30

#: Columns of a funnel result, in order.
RESULT_COLUMNS = ("step", "step_index", "profiles", "conversion_from_previous",
                  "conversion_from_first", "median_seconds_from_previous", "breakdown")

#: Breakdown label of a profile whose step-1 event has no value.
NO_VALUE = "(none)"

_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)


def check_steps(steps: object) -> list[str]:
    """``steps`` as a list of 1 to 30 non-empty names, or a :class:`JourneysError`."""
    if isinstance(steps, str) or not isinstance(steps, list | tuple):
        raise JourneysError(
            f"steps must be a list of step names, not {type(steps).__name__}", parameter="steps"
        )
    if not 1 <= len(steps) <= MAX_STEPS:
        raise JourneysError(
            f"a funnel has 1 to {MAX_STEPS} steps, not {len(steps)}", parameter="steps"
        )
    for i, s in enumerate(steps, 1):
        if not isinstance(s, str) or not s.strip():
            raise JourneysError(
                f"step {i} must be a non-empty name, not {s!r}", parameter="steps"
            )
    return list(steps)


def check_breakdown(t: ir.Table, breakdown: str | None) -> str | None:
    """``None``, ``"channel"``, ``"property:NAME"`` or another column of ``t``."""
    if breakdown is None:
        return None
    if not isinstance(breakdown, str) or not breakdown.strip():
        raise JourneysError(
            f"invalid breakdown {breakdown!r}: give channel, property:NAME or a column name",
            parameter="breakdown",
        )
    if breakdown.startswith("property:"):
        if not breakdown[len("property:"):].strip():
            raise JourneysError(
                "breakdown property:NAME needs a property name, as in property:plan",
                parameter="breakdown",
            )
        if "properties" not in t.columns:
            raise JourneysError(
                "breakdown by a property needs a properties column", parameter="breakdown"
            )
        return breakdown
    if breakdown not in t.columns or breakdown == "profile_id" or breakdown.startswith("_"):
        choices = ", ".join(c for c in t.columns if c != "profile_id" and not c.startswith("_"))
        raise JourneysError(
            f"invalid breakdown {breakdown!r}: use property:NAME or one of {choices}",
            parameter="breakdown",
        )
    return breakdown


def funnel(
    events: ir.Table,
    *,
    steps: list[str],
    window: str | int | float | dt.timedelta = "30d",
    breakdown: str | None = None,
    step_by: str = "event",
    scratch_dir: str | Path | None = None,
) -> JourneyResult:
    """Profiles reaching each of ``steps`` in order within ``window`` (see module doc).

    Args:
        events: a journey events table (:mod:`parcours.journeys.base`), DuckDB or Spark.
        steps: 1 to 30 step names, in order; names may repeat.
        window: longest time from step 1 to the last step reached (``"30d"``, ``"2h"``...).
        breakdown: ``"channel"``, ``"property:NAME"`` or another column: adds rows per
            value of the step-1 event of each profile's best chain.
        step_by: how events are named as steps (``event``, ``page``, ``channel_event``).
        scratch_dir: where Spark writes the intermediate tables (a temporary folder by
            default; on a cluster, give one every executor sees). Unused on DuckDB.

    Example:
        >>> funnel(events, steps=["home", "offer", "subscribe"], window="7d").to_pandas()
        ... # doctest: +SKIP
                step  step_index  profiles  conversion_from_previous  ...
        0       home           1      1200                      1.00  ...
        1      offer           2       420                      0.35  ...
        2  subscribe           3        63                      0.15  ...
    """
    steps = check_steps(steps)
    td = parse_duration(window)
    check_step_by(step_by)
    t = check_events(events)
    breakdown = check_breakdown(t, breakdown)
    window_us = td // dt.timedelta(microseconds=1)

    if t.get_backend().name == "duckdb":
        counts = sorted_counts(t, steps=steps, window_us=window_us, breakdown=breakdown,
                               step_by=step_by)
    else:
        counts = chain_counts(t, steps=steps, window_us=window_us, breakdown=breakdown,
                              step_by=step_by, scratch_dir=scratch_dir)
    table = _long(counts, steps, by_value=breakdown is not None)
    params = {"steps": steps, "window": duration_text(td), "breakdown": breakdown,
              "step_by": step_by}
    return JourneyResult("funnel", params, table)


def chain_counts(t: ir.Table, *, steps: list[str], window_us: int,
                 breakdown: str | None = None, step_by: str = "event",
                 scratch_dir: str | Path | None = None) -> pa.Table:
    """Per step (and breakdown value): profiles and median seconds from the previous
    step, by the Ibis chain algorithm (:func:`chains`), on any engine."""
    scratch = _Scratch(scratch_dir)
    try:
        chain = chains(t, steps=steps, window_us=window_us, scratch=scratch,
                       breakdown=breakdown, step_by=step_by)
        return _aggregate(chain, by_value=breakdown is not None).to_pyarrow()
    finally:
        scratch.close()


def sorted_counts(t: ir.Table, *, steps: list[str], window_us: int,
                  breakdown: str | None = None, step_by: str = "event",
                  parts: int | None = None) -> pa.Table:
    """What :func:`chain_counts` gives, in one sorted pass on DuckDB: the step events
    read once as arrays (profile code, microseconds, step code), the chains walked with
    numpy (:func:`parcours.journeys.kernels.funnel_chains`; without a breakdown, in
    ``parts`` ranges of profiles at once: :func:`~parcours.journeys.kernels.funnel_reach`)."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.compute as pc

    from parcours.journeys.kernels import funnel_chains, funnel_reach, medians

    names = list(dict.fromkeys(steps))
    code = [names.index(s) for s in steps]
    backend = t.get_backend()
    enum = _enum_names(t) if step_by != "channel_event" else None
    ev = _step_events(t, names, steps[0], breakdown, step_by, backend.name, coded=False,
                      enum=enum)
    data = backend.con.sql(backend.compile(ev)).to_arrow_table()
    pid = data["profile_id"].combine_chunks()
    if not pa.types.is_integer(pid.type):  # no journey store: the text ids as codes
        pid = pc.dictionary_encode(pid).indices
    step = (data["code"].to_numpy() if enum is not None else _codes(data["code"], names))
    # per step and key (the breakdown label; one overall key without a breakdown)
    keys: Any = None
    labels: list[str] = []
    if breakdown is None:
        reach, gaps_us = funnel_reach(pid.to_numpy(), data["u"].to_numpy(), step, code,
                                      window_us, parts)
    else:
        found, order = funnel_chains(pid.to_numpy(), data["u"].to_numpy(), step, code,
                                     window_us)
        reach, gaps_us = found.reach, found.gaps
        keys, labels = _start_values(found, data["v"], order)
    cols: dict[str, list] = {"step_index": [], "key": [], "profiles": [], "median": []}

    def add(k: int, label: str | None, n: int, m: float) -> None:
        if n:
            cols["step_index"].append(k + 1)
            cols["key"].append(label)
            cols["profiles"].append(n)
            cols["median"].append(None if np.isnan(m) else float(m))

    for k in range(len(steps)):
        going = reach > k
        gaps = gaps_us[k - 1] / 1e6 if k else np.empty(0)
        add(k, None, int(going.sum()), medians(gaps)[0])
        if keys is not None:
            n = np.bincount(keys[going], minlength=len(labels))
            m = (medians(gaps, keys[found.profile_at[k - 1]], len(labels)) if k
                 else np.full(len(labels), np.nan))
            for i, label in enumerate(labels):
                add(k, label, int(n[i]), m[i])
    return pa.table({
        "step_index": pa.array(cols["step_index"], pa.int16()),
        "key": pa.array(cols["key"], pa.string()),
        "profiles": pa.array(cols["profiles"], pa.int64()),
        "median": pa.array(cols["median"], pa.float64()),
    })


def _enum_names(t: ir.Table) -> list[str] | None:
    """The names of ``t``'s ``event`` column when DuckDB holds it as an ENUM (the
    journey store), in code order; None for text."""
    backend = t.get_backend()
    sql = backend.compile(t.select("event"))
    if not str(backend.con.sql(sql).types[0]).startswith("ENUM("):
        return None
    got = backend.con.sql(f"SELECT enum_range(event) FROM ({sql}) LIMIT 1").fetchall()
    return list(got[0][0]) if got else None


@ibis.udf.scalar.builtin(name="enum_code")
def _enum_code(value: str) -> int:
    """An ENUM value's code (DuckDB's function, run by the engine)."""
    raise NotImplementedError


def _codes(step: pa.ChunkedArray, names: list[str]) -> Any:
    """The step names as their index in ``names`` (int16; the names read are all there)."""
    import numpy as np

    codes, read = enum_codes(step)
    lookup = np.array([names.index(x) if x in names else -1 for x in read], np.int16)
    return lookup[codes]


def _start_values(found: Any, v: pa.ChunkedArray, order: Any) -> tuple[Any, list[str]]:
    """Per profile: the smallest breakdown value among the step-1 events at its best
    chain's start (:data:`NO_VALUE` when none), as a code into the returned labels.

    ``v`` is the value on step-1 events (null elsewhere), in the events' read order
    (``order`` sorts them; None: they came sorted).
    """
    import numpy as np
    import pyarrow as pa
    import pyarrow.compute as pc

    g = found.groups
    vals = v if order is None else pc.take(v, pa.array(order))
    uniq = pc.unique(vals.combine_chunks().drop_null())
    uniq = pc.take(uniq, pc.array_sort_indices(uniq))  # text order: min of ranks = min
    none = len(uniq)
    ranks = pc.fill_null(pc.index_in(vals, value_set=uniq), none).to_numpy()
    # the events are sorted by group: each group's smallest in one reduction
    begin = np.flatnonzero(np.diff(g.of, prepend=-1))
    smallest = np.minimum.reduceat(ranks, begin) if len(begin) else ranks
    per = np.full(g.profiles, none, np.int64)
    started = found.start >= 0
    per[started] = smallest[found.start[started]]
    # one label per text: a value spelled like NO_VALUE and a missing one are one row
    labels = [*uniq.to_pylist(), NO_VALUE]
    merged = list(dict.fromkeys(labels))
    remap = np.array([merged.index(x) for x in labels], np.int64)
    return remap[per], merged


def _step_events(t: ir.Table, names: list[str], first: str, breakdown: str | None,
                 step_by: str, engine: str, *, coded: bool = True,
                 enum: list[str] | None = None) -> ir.Table:
    """The events of the funnel's step names: profile (the journey store's integer code
    where there is one), microseconds, step code (``coded``; else the step name as
    read: the journey store's ENUM comes as dictionary codes) and, with a breakdown,
    the value of step-1 events.

    ``enum``: the names of an ENUM ``event`` column in code order (DuckDB; not with
    ``channel_event``): the step code is then looked up by the ENUM code in a list, and
    the rows come in the table's order (DuckDB turns an ``IN`` list into a join, whose
    output is not in order: the journey store's rows are sorted by profile and time).
    """
    ev = with_steps(t, step_by)
    # the store's profile code is null exactly when the profile is: test the integer
    profile = ev[PROFILE] if PROFILE in ev.columns else ev.profile_id
    if enum is not None:
        lookup = ibis.literal([names.index(x) if x in names else -1 for x in enum],
                              type="array<int16>")
        ev = ev.mutate(_code=lookup[_enum_code(ev.event)])
        ev = ev.filter(ev._code >= 0, profile.notnull(), ev.ts.notnull())
    else:
        ev = ev.filter(ev.step.isin(names), profile.notnull(), ev.ts.notnull())
    profile = ev[PROFILE] if PROFILE in ev.columns else ev.profile_id
    if enum is not None:
        step = ev._code
    else:
        step = (ev.step.cases(*[(n, i) for i, n in enumerate(names)]).cast("int16") if coded
                else ev.step)
    return ev.select(
        profile_id=profile, u=_micros(ev.ts, engine), code=step,
        **({} if breakdown is None else {"v": ibis.ifelse(
            ev.step == first, _value(ev, breakdown, engine), ibis.null("string"))}),
    )


@ibis.udf.scalar.builtin(name="epoch_us")
def _epoch_us(ts: dt.datetime) -> int:
    """Microseconds since 1970 (DuckDB's function, run by the engine)."""
    raise NotImplementedError


@ibis.udf.scalar.builtin(name="unix_micros")
def _unix_micros(ts: dt.datetime) -> int:
    """Microseconds since 1970 (Spark's function, run by the engine)."""
    raise NotImplementedError


def _micros(ts: ir.TimestampColumn, engine: str) -> ir.IntegerColumn:
    """Microseconds since 1970, with the engine's own function where it has one (ibis'
    portable date difference is 30 times slower on DuckDB, through the time zone)."""
    if engine == "duckdb":
        return _epoch_us(ts)
    if engine == "pyspark":
        return _unix_micros(ts)
    return ts.delta(ibis.literal(_EPOCH), unit="microsecond")


def _value(t: ir.Table, breakdown: str, engine: str) -> ir.Value:
    """The breakdown value of each event, as text."""
    if breakdown.startswith("property:"):
        name = breakdown[len("property:"):].strip()
        if engine == "pyspark":
            # get_json_object: strings unquoted, numbers and booleans as written, JSON
            # null and bad JSON as NULL (ibis' .str would run a Python UDF on Spark)
            return t.properties.cast("json")[name].cast("string")
        j = t.properties.try_cast("json")[name]
        return j.str.coalesce(j.cast("string").nullif("null"))
    return t[breakdown].cast("string")


class _Scratch:
    """The intermediate tables of one funnel run, dropped at the end.

    DuckDB: a temporary table made by one statement (``.cache()`` takes three and reads
    the new table's schema back: more than the query itself on small data). Spark: a
    cached table keeps its lineage, so each pass would carry the plans of all before it
    (20 steps ran out of driver memory planning them); Spark writes each table to
    Parquet under ``folder`` and reads it back, which cuts the lineage (a checkpoint
    with Ibis' own calls). Other engines: ``.cache()``.
    """

    def __init__(self, folder: str | Path | None = None) -> None:
        self.folder = Path(folder) if folder is not None else None
        self.run_dir: Path | None = None
        self.duck: list[tuple[Any, str]] = []  # (backend, temporary table)
        self.views: list[tuple[Any, str]] = []  # (backend, Spark view over Parquet)
        self.cached: list[ir.Table] = []

    def keep(self, t: ir.Table) -> ir.Table:
        backend = t.get_backend()
        name = f"parcours_funnel_{uuid.uuid4().hex}"
        if backend.name == "duckdb":
            backend.raw_sql(f'CREATE TEMP TABLE "{name}" AS {backend.compile(t)}')
            self.duck.append((backend, name))
            return backend.sql(f'SELECT * FROM "{name}"', schema=t.schema())
        if backend.name == "pyspark":
            if self.run_dir is None:
                if self.folder is None:
                    self.run_dir = Path(tempfile.mkdtemp(prefix="parcours-funnel-"))
                else:
                    self.run_dir = self.folder / f"funnel-{uuid.uuid4().hex}"
                    self.run_dir.mkdir(parents=True)
            path = str(self.run_dir / name)
            backend.to_parquet(t, path)
            self.views.append((backend, name))
            return backend.read_parquet(path, table_name=name)
        cached = t.cache()
        self.cached.append(cached)
        return cached

    def close(self) -> None:
        for backend, name in self.duck:
            backend.raw_sql(f'DROP TABLE IF EXISTS "{name}"')
        for backend, name in self.views:
            backend.raw_sql(f"DROP VIEW IF EXISTS `{name}`")
        for t in self.cached:
            t.release()
        if self.run_dir is not None:
            shutil.rmtree(self.run_dir, ignore_errors=True)
        self.duck, self.views, self.cached, self.run_dir = [], [], [], None


def _states_after(e: ir.Table, states: ir.Table, code: list[int], k: int,
                  window_us: int) -> ir.Table:
    """The chains at step ``k + 1`` from those at step ``k``: one greedy step each.

    A chain at ``tau`` that took steps ``j..k`` there has used ``c`` events of the next
    step's name at ``tau``; it stays at ``tau`` if that time has more than ``c`` of them,
    else moves to the next time with one. Sorting the chains among the times having the
    name, by ``(time, 2 * count)`` for those and ``(tau, 2 * c + 1)`` for a chain, puts
    exactly the target first among the rows from the chain onwards: one window pass.
    """
    name = code[k]
    lk = e.filter(e.code == name)
    # c for a chain that took steps j..k at tau: the steps of this name among them, so
    # 2c + 1 falls from one occurrence of the name before k to the next
    seen = [i + 1 for i in range(k) if code[i] == name]  # 1-based steps with this name
    key: ir.Value = ibis.literal(1, "int64")
    if seen:
        key = ibis.cases(*[(states.j <= at, 2 * (len(seen) - n) + 1)
                           for n, at in enumerate(seen)], else_=1).cast("int64")
    rows = lk.select(
        profile_id=lk.profile_id, u=lk.u, key=lk.n * 2, hit=lk.u,
        j=ibis.null("int16"), s=ibis.null("int64"),
    ).union(states.select(
        profile_id=states.profile_id, u=states.tau, key=key,
        hit=ibis.null("int64"), j=states.j.cast("int16"), s=states.s,
    ))
    # "from this row onwards" as a running frame in descending order: Spark computes an
    # UNBOUNDED FOLLOWING frame again for every row (quadratic), a running one in one go
    onwards = ibis.window(group_by="profile_id",
                          order_by=[ibis.desc("u"), ibis.desc("key")], rows=(None, 0))
    rows = rows.mutate(to=rows.hit.min().over(onwards))
    rows = rows.filter(rows.s.notnull(), rows.to.notnull(), rows.to - rows.s <= window_us)
    nxt = rows.select(
        profile_id=rows.profile_id, tau=rows.to,
        j=ibis.ifelse(rows.to == rows.u, rows.j, k + 1).cast("int16"),
        s=rows.s, prev=rows.u,
    )
    # chains met at one place go on as one: the latest start's (the others cannot
    # reach further); prev (the time of step k) is that chain's
    return nxt.group_by(["profile_id", "tau", "j"]).aggregate(
        s=nxt.s.max(), prev=nxt.prev.argmax(nxt.s))


def chains(
    t: ir.Table,
    *,
    steps: list[str],
    window_us: int,
    scratch: _Scratch,
    breakdown: str | None = None,
    step_by: str = "event",
) -> ir.Table:
    """The best chain of every profile reaching step 1: one row per profile and step
    reached, ``profile_id``, ``step_index``, ``gap`` (microseconds from the previous
    step, null at step 1) and, with a breakdown, ``value``.

    Intermediate tables go to ``scratch``; the result is valid until it is closed.
    """
    names = list(dict.fromkeys(steps))
    code = [names.index(s) for s in steps]
    k_steps = len(steps)
    engine = t.get_backend().name
    ev = _step_events(t, names, steps[0], breakdown, step_by, engine)
    if len(names) < k_steps:
        # a name used by several steps: a chain staying at one time needs as many events
        # of that name there, so count the events of each profile, time and name
        aggs: dict[str, ir.Value] = {"n": ev.count()}
        if breakdown is not None:
            aggs["v"] = ev.v.min()
        e = ev.group_by(["profile_id", "u", "code"]).aggregate(**aggs)
    else:
        e = ev.mutate(n=ibis.literal(1, "int64"))
    e = scratch.keep(e)

    first = e.filter(e.code == code[0])
    starts = first.select("profile_id", "u").distinct()
    states = starts.select(
        profile_id=starts.profile_id, tau=starts.u, j=ibis.literal(1, "int16"), s=starts.u,
        prev=ibis.null(starts.u.type()))
    levels = [states]
    for k in range(1, k_steps):
        states = scratch.keep(_states_after(e, states, code, k, window_us))
        levels.append(states)

    every = ibis.union(*[
        s.select(profile_id=s.profile_id, step_index=ibis.literal(k, "int16"),
                 tau=s.tau.cast("int64"), prev=s.prev.cast("int64"), s=s.s.cast("int64"))
        for k, s in enumerate(levels, 1)
    ])
    # the best chain starts at the latest start reaching the profile's last step; that
    # start is in one state at each step up to there
    latest = every.group_by(["profile_id", "step_index"]).aggregate(r=every.s.max())
    best = latest.group_by("profile_id").aggregate(
        start=latest.r.argmax(latest.step_index))
    if breakdown is not None:
        v = first.group_by(["profile_id", "u"]).aggregate(v=first.v.min())
        best = best.left_join(v, [best.profile_id == v.profile_id, best.start == v.u]).select(
            profile_id=best.profile_id, start=best.start, value=v.v)
    chain = every.join(best, [every.profile_id == best.profile_id, every.s == best.start])
    cols = {"profile_id": chain.profile_id, "step_index": chain.step_index,
            "gap": chain.tau - chain.prev}
    if breakdown is not None:
        cols["value"] = chain.value
    return chain.select(**cols)


def _aggregate(chain: ir.Table, *, by_value: bool) -> ir.Table:
    """Per step (and value): profiles reaching it, median seconds from the previous step."""
    keys = ["step_index"]
    if by_value:
        # each profile counts in its value's rows and in the overall rows (key null)
        label = chain.value.fill_null(NO_VALUE)
        chain = chain.mutate(key=ibis.array([label, ibis.null("string")]).unnest())
        keys.append("key")
    return chain.group_by(keys).aggregate(
        profiles=chain.count(), median=(chain.gap / 1e6).median())


def _long(counts: pa.Table, steps: list[str], *, by_value: bool) -> pa.Table:
    """The result rows from the per-step counts: every step of every group, in order."""
    import pyarrow as pa

    found: dict[str | None, dict[int, tuple[int, float | None]]] = {None: {}}
    for r in counts.to_pylist():
        key = r.get("key") if by_value else None
        found.setdefault(key, {})[int(r["step_index"])] = (int(r["profiles"]), r["median"])
    values = sorted((k for k in found if k is not None),
                    key=lambda k: (-found[k].get(1, (0, None))[0], k))
    cols: dict[str, list] = {name: [] for name in RESULT_COLUMNS}
    for key in [None, *values]:
        got = found[key]
        first = got.get(1, (0, None))[0]
        prev = first
        for k, name in enumerate(steps, 1):
            n, median = got.get(k, (0, None))
            cols["step"].append(name)
            cols["step_index"].append(k)
            cols["profiles"].append(n)
            cols["conversion_from_previous"].append(
                None if not prev else 1.0 if k == 1 else n / prev)
            cols["conversion_from_first"].append(n / first if first else None)
            cols["median_seconds_from_previous"].append(
                None if k == 1 or median is None else float(median))
            cols["breakdown"].append(key)
            prev = n
    return pa.table(cols, schema=_schema())


def _schema() -> pa.Schema:
    import pyarrow as pa

    return pa.schema([
        ("step", pa.string()), ("step_index", pa.int32()), ("profiles", pa.int64()),
        ("conversion_from_previous", pa.float64()), ("conversion_from_first", pa.float64()),
        ("median_seconds_from_previous", pa.float64()), ("breakdown", pa.string()),
    ])
