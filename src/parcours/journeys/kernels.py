"""Numpy kernels over events sorted by profile and time: the embedded engine's funnel.

DuckDB reads the few columns an analysis needs (profile code, microseconds, step code)
as Arrow; these functions take them in ``(profile, time)`` order (the journey store's
rows are in that order: :func:`is_sorted` checks it, :func:`sort_order` sorts what is
not) and answer with vectorized numpy, no window function and no pass per step over a
table.

The funnel (:func:`funnel_chains`) follows the contract of
:mod:`parcours.journeys.funnel` with the same greedy chains as its Ibis algorithm, the
reference on Spark: events at one ``(profile, time)`` form a *group*; a chain is
``(group, j, start)``, ``j`` the first step it took in that group. One step of every
live chain at once is a binary search in the sorted groups holding the next step's name
(stay in the group while it has an unused event of that name, else the next group
having one), so a level costs a search per live chain, not a pass over the events.
Chains stay ordered by start within a profile (a later start is never behind an
earlier one), so chains meeting in one state are neighbours and only the latest start
goes on, as in the Ibis algorithm.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


def is_sorted(pid: np.ndarray, u: np.ndarray) -> bool:
    """Whether the events are already in ``(pid, u)`` order (the journey store keeps its
    rows so, and DuckDB reads a table's rows in their order): one linear check instead
    of a sort."""
    if len(pid) < 2:
        return True
    a, b = pid[:-1], pid[1:]
    if not bool(np.all(b >= a)):
        return False
    return bool(np.all((b != a) | (u[1:] >= u[:-1])))


def sort_order(pid: np.ndarray, u: np.ndarray) -> np.ndarray:
    """Indexes ordering the events by ``(pid, u)`` (integers; ties in any order).

    Sorts on one packed 64-bit key, the profile in the high bits and the time in the
    low bits. When both do not fit, a linear radix pass first splits the profiles into
    buckets small enough for their key to fit, and each bucket is sorted alone (its
    events fit in the processor's cache: faster than one big sort, too).
    """
    n = len(pid)
    if n == 0:
        return np.empty(0, np.int64)
    t = u.astype(np.int64) - int(u.min())
    tbits = int(t.max()).bit_length()
    p = pid.astype(np.int64) - int(pid.min())
    room = 63 - tbits  # bits left for the profile in a key
    if room < 1:
        return np.lexsort((t, p))
    if int(p.max()).bit_length() <= room:
        return np.argsort((p << tbits) | t)
    bucket = p >> room
    # stable (radix on 16 bits): each bucket keeps the events' order
    by = np.argsort(bucket.astype(np.uint16) if int(bucket.max()) < 2**16 else bucket,
                    kind="stable")
    key = ((p[by] & ((1 << room) - 1)) << tbits) | t[by]
    del p, t
    edges = np.flatnonzero(np.diff(bucket[by])) + 1
    del bucket
    order = np.empty(n, np.int64)
    for lo, hi in zip(np.r_[0, edges], np.r_[edges, n], strict=True):
        order[lo:hi] = by[lo:hi][np.argsort(key[lo:hi])]
    return order


@dataclass
class Groups:
    """Sorted events as groups of one profile and one time.

    ``pid``/``u``: per group; ``profile``: per group, the profile's rank (0..P-1);
    ``of``: per event (sorted), its group.
    """

    pid: np.ndarray
    u: np.ndarray
    profile: np.ndarray
    of: np.ndarray

    @classmethod
    def of_sorted(cls, pid: np.ndarray, u: np.ndarray) -> Groups:
        n = len(pid)
        new = np.ones(n, bool)
        if n:
            new[1:] = (pid[1:] != pid[:-1]) | (u[1:] != u[:-1])
        of = np.cumsum(new) - 1
        gpid = pid[new]
        first = np.ones(len(gpid), bool)
        first[1:] = gpid[1:] != gpid[:-1]
        return cls(pid=gpid, u=u[new], profile=np.cumsum(first) - 1, of=of)

    @property
    def profiles(self) -> int:
        return int(self.profile[-1]) + 1 if len(self.profile) else 0


def runs(sorted_ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The distinct values of a sorted array and how many times each occurs."""
    if not len(sorted_ids):
        return sorted_ids, np.empty(0, np.int64)
    first = np.ones(len(sorted_ids), bool)
    first[1:] = sorted_ids[1:] != sorted_ids[:-1]
    at = np.flatnonzero(first)
    return sorted_ids[at], np.diff(np.append(at, len(sorted_ids)))


@dataclass
class Chains:
    """The funnel's answer per profile: ``reach`` (last step reached, 1-based, 0 when
    none), ``start`` (the best chain's step-1 group, -1 when none) and ``gaps[k]``
    (microseconds from step k to step k + 1 of the best chain, for the profiles
    reaching step k + 2: ``profile_at[k]`` are their ranks)."""

    groups: Groups
    reach: np.ndarray
    start: np.ndarray
    gaps: list[np.ndarray]
    profile_at: list[np.ndarray]


class _Steps:
    """Per step: the sorted groups holding its name, their counts, and how many events
    of that name a chain has used in its group (from the first step ``j`` it took there)."""

    def __init__(self, groups: Groups, code: np.ndarray, steps: list[int]) -> None:
        self.steps = steps
        # the events by name (a stable radix sort of small codes keeps each name's
        # groups in order), then each name's groups and their counts
        by = np.argsort(code, kind="stable")
        names, ids = code[by], groups.of[by]
        del by
        by_name: dict[int, tuple[np.ndarray, np.ndarray]] = {}
        for c in set(steps):
            lo, hi = np.searchsorted(names, [c, c + 1])
            by_name[c] = runs(ids[lo:hi])
        self.at = [by_name[c][0] for c in steps]
        self.count = [by_name[c][1] for c in steps]
        self.repeated = [steps.count(c) > 1 for c in steps]
        k = len(steps)
        # used[k][j]: events of step k's name taken by steps j..k-1 (0-based)
        self.used = [np.array([sum(steps[i] == steps[kk] for i in range(j, kk))
                               for j in range(k)], np.int64) for kk in range(k)]

    def advance(self, g: Groups, at: np.ndarray, j: np.ndarray, k: int
                ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """One greedy step to step ``k`` (0-based) of the chains in groups ``at`` that
        took their group's steps from ``j``: (new group, new j, whether the profile has
        such a next event). The window is the caller's."""
        gk = self.at[k]
        if not len(gk) or not len(at):
            return at, j, np.zeros(len(at), bool)
        i = np.searchsorted(gk, at)
        ic = np.minimum(i, len(gk) - 1)
        here = (i < len(gk)) & (gk[ic] == at)
        stay = here
        if self.repeated[k]:
            stay = here & (self.count[k][ic] > self.used[k][j])
        i = i + (here & ~stay)
        ok = i < len(gk)
        new = gk[np.minimum(i, len(gk) - 1)]
        ok &= g.pid[new] == g.pid[at]
        return new, np.where(stay, j, k).astype(j.dtype), ok


def funnel_chains(pid: np.ndarray, u: np.ndarray, code: np.ndarray, steps: list[int],
                  window_us: int) -> tuple[Chains, np.ndarray | None]:
    """The best chain of every profile (see module doc) from unsorted events.

    Args:
        pid, u, code: per event its profile (integer), microseconds and step name code.
        steps: the name code of each step, in order (codes may repeat).
        window_us: longest time from step 1 to the last step.

    Returns:
        The chains and the order that sorted the events (``groups.of`` follows it;
        None when they came sorted).
    """
    order = None if is_sorted(pid, u) else sort_order(pid, u)
    if order is not None:
        pid, u, code = pid[order], u[order], code[order]
    g = Groups.of_sorted(pid, u)
    del pid, u
    st = _Steps(g, code, steps)
    n_prof = g.profiles
    reach = np.zeros(n_prof, np.int16)
    start = np.full(n_prof, -1, np.int64)

    def note(at: np.ndarray, first: np.ndarray, level: int) -> None:
        # chains are ordered by start within a profile: its last one has the latest
        p = g.profile[at]
        last = np.ones(len(p), bool)
        last[:-1] = p[1:] != p[:-1]
        reach[p[last]] = level
        start[p[last]] = first[last]

    at = st.at[0]
    first, s = at, g.u[at]
    j = np.zeros(len(at), np.int16)
    note(at, first, 1)
    for k in range(1, len(steps)):
        at, j, ok = st.advance(g, at, j, k)
        ok &= g.u[at] - s <= window_us
        at, j, first, s = at[ok], j[ok], first[ok], s[ok]
        if not len(at):
            break
        # chains met in one state share their future: the latest start goes on
        keep = np.ones(len(at), bool)
        keep[:-1] = (at[1:] != at[:-1]) | (j[1:] != j[:-1])
        at, j, first, s = at[keep], j[keep], first[keep], s[keep]
        note(at, first, k + 1)

    # the best chains again, from their starts, for the times between steps
    prof = np.flatnonzero(reach >= 2)
    at = start[prof]
    j = np.zeros(len(at), np.int16)
    gaps, profile_at = [], []
    for k in range(1, int(reach.max(initial=0))):
        going = reach[prof] > k
        prof, at, j = prof[going], at[going], j[going]
        new, j, ok = st.advance(g, at, j, k)
        if not ok.all():  # cannot be: these chains were walked above
            raise AssertionError("a best chain lost its way")
        gaps.append(g.u[new] - g.u[at])
        profile_at.append(prof)
        at = new
    while len(gaps) < len(steps) - 1:  # steps nobody reaches
        gaps.append(np.empty(0, np.int64))
        profile_at.append(np.empty(0, np.int64))
    return Chains(groups=g, reach=reach, start=start, gaps=gaps, profile_at=profile_at), order


#: Events per thread from which :func:`funnel_reach` walks profile ranges in threads.
SPLIT_EVENTS = 500_000


def funnel_reach(pid: np.ndarray, u: np.ndarray, code: np.ndarray, steps: list[int],
                 window_us: int, parts: int | None = None
                 ) -> tuple[np.ndarray, list[np.ndarray]]:
    """What a funnel without a breakdown needs of :func:`funnel_chains`: per profile the
    last step reached (``reach``) and per step ``k`` the gaps from step ``k`` to ``k + 1``
    of the best chains (any order), with the profiles cut into ``parts`` ranges (default:
    one per processor, at most one per :data:`SPLIT_EVENTS` events) walked in threads:
    numpy releases the interpreter lock in its loops, and profiles are independent.
    """
    import os
    from concurrent.futures import ThreadPoolExecutor

    if not is_sorted(pid, u):
        order = sort_order(pid, u)
        pid, u, code = pid[order], u[order], code[order]
        del order
    n = len(pid)
    if parts is None:
        parts = max(1, min(os.cpu_count() or 1, n // SPLIT_EVENTS))
    cuts = [0]
    for i in range(1, parts if n else 1):  # at profile boundaries
        cuts.append(max(cuts[-1], int(np.searchsorted(pid, pid[n * i // parts]))))
    cuts.append(n)
    ranges = [(a, b) for a, b in zip(cuts[:-1], cuts[1:], strict=True) if b > a]

    def walk(r: tuple[int, int]) -> tuple[np.ndarray, list[np.ndarray]]:
        found, _ = funnel_chains(pid[r[0]:r[1]], u[r[0]:r[1]], code[r[0]:r[1]], steps,
                                 window_us)
        return found.reach, found.gaps

    if len(ranges) > 1:
        with ThreadPoolExecutor(len(ranges)) as pool:
            done = list(pool.map(walk, ranges))
    else:
        done = [walk(r) for r in ranges]
    reach = np.concatenate([d[0] for d in done]) if done else np.zeros(0, np.int16)
    gaps = [np.concatenate([d[1][k] for d in done]) if done else np.empty(0, np.int64)
            for k in range(len(steps) - 1)]
    return reach, gaps


def medians(values: np.ndarray, keys: np.ndarray | None = None, n_keys: int = 1
            ) -> np.ndarray:
    """The median of ``values`` per key (``keys`` 0..n_keys-1; one group when None),
    as DuckDB's ``median`` computes it (the mean of the two middle values); NaN for an
    empty group."""
    out = np.full(n_keys, np.nan)
    if keys is None:
        n = len(values)
        if n:
            lo, hi = (n - 1) // 2, n // 2
            part = np.partition(values, [lo, hi])
            out[0] = part[lo] * 0.5 + part[hi] * 0.5
        return out
    if not len(values):
        return out
    order = np.lexsort((values, keys))
    v, k = values[order], keys[order]
    key, count = runs(k)
    begin = np.concatenate(([0], np.cumsum(count)[:-1]))
    lo, hi = begin + (count - 1) // 2, begin + count // 2
    out[key] = v[lo] * 0.5 + v[hi] * 0.5
    return out


def walk_steps(prof: np.ndarray, step: np.ndarray, keep: np.ndarray | None,
               hit: np.ndarray | None, *, forward: bool, collapse: bool, steps: int,
               n_prof: int) -> tuple[np.ndarray, np.ndarray]:
    """The first ``steps`` steps of every profile from its anchor, as step codes.

    Args:
        prof: per event (sorted by profile, then in time order), the profile's rank.
        step: per event, its step code (equal codes: equal names).
        keep: which events are steps (None: all).
        hit: which events are the anchor's; the anchor is a profile's first (None:
            the journey's start, or its end walking backwards).
        forward: walk after the anchor in time order, else before it backwards.
        collapse: a step equal to the one before it (the anchor's included) is not
            counted again.
        steps: how many steps.
        n_prof: how many profiles.

    Returns:
        ``(anchored, codes)``: the profiles anchored (ranks) and, per anchored profile
        and level, the step code (-1 past the end of its path).
    """
    n = len(prof)
    pos = np.arange(n)
    if hit is not None:
        at = np.flatnonzero(hit)
        first = np.ones(len(at), bool)
        first[1:] = prof[at[1:]] != prof[at[:-1]]
        at = at[first]  # each profile's first hit
        anchor = np.full(n_prof + 1, -1, np.int64)
        anchor[prof[at]] = at
        mine = anchor[prof]
        side = ((pos > mine) & (mine >= 0)) if forward else pos < mine
        del mine
        if keep is not None:
            side &= keep
        side[at] = True
        sel = np.flatnonzero(side)
        del side
        base = 0  # the anchor row is level 0
    else:
        sel = pos if keep is None else np.flatnonzero(keep)
        base = 1
    del pos
    if not forward:
        sel = sel[::-1]
    sp, ss = prof[sel], step[sel]
    del sel
    new = np.ones(len(sp), bool)
    new[1:] = sp[1:] != sp[:-1]
    if collapse and len(sp):
        change = new.copy()
        change[1:] |= ss[1:] != ss[:-1]
        sp, ss, new = sp[change], ss[change], new[change]
    # the level of each row: its place among its profile's rows
    begin = np.flatnonzero(new)
    level = np.arange(len(sp)) - np.repeat(begin, np.diff(np.append(begin, len(sp)))) + base
    anchored = sp[begin]
    if not forward:
        anchored = anchored[::-1]
    rank = np.zeros(n_prof + 1, np.int64)
    rank[anchored] = np.arange(len(anchored))
    codes = np.full((len(anchored), steps), -1, np.int64)
    ok = (level >= 1) & (level <= steps)
    codes[rank[sp[ok]], level[ok] - 1] = ss[ok]
    return anchored, codes
