"""The journeys pages' view models, from the journeys package's analyses.

This module is the only place that calls :mod:`parcours.journeys` (through
``ws.journeys``); it turns each result into what a template shows and the chart it
draws. Results are cached per version of the tables they read (events and the
identity map), so a page revisited with the same parameters answers at once.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

from parcours.web.pages.cache import cached
from parcours.web.pages.charts import colour, figure

if TYPE_CHECKING:
    import pandas as pd

    from parcours.workspace import Workspace

#: Tables every journey analysis reads.
DEPS = (("analytics", "events"), ("analytics", "identity_map"))


def _col(df: pd.DataFrame, *names: str) -> str | None:
    """The first of ``names`` that ``df`` has (result columns, by their documented names)."""
    for n in names:
        if n in df.columns:
            return n
    return None


def _num(value: Any) -> float | None:
    if value is None:
        return None
    try:
        f = float(value)
    except (TypeError, ValueError):
        return None
    return None if math.isnan(f) else f


def _seconds(value: Any) -> float | None:
    """Seconds from a number of seconds or a timedelta."""
    if value is None:
        return None
    if hasattr(value, "total_seconds"):
        s = value.total_seconds()
        return None if s != s else float(s)
    return _num(value)


def _steps(value: Any) -> str:
    """A path or sequence (a list; a numpy array once through pandas) as ``a → b``."""
    if hasattr(value, "tolist"):
        value = value.tolist()
    if isinstance(value, list | tuple):
        return " → ".join(str(v) for v in value)
    return str(value)


def _journeys(ws: Any) -> Any:
    """The workspace's journeys API (``ws.journeys``, from the journeys package)."""
    return ws.journeys


def event_names(ws: Workspace, tenant: str, limit: int = 300) -> list[str]:
    """Event names by frequency (for the pickers), cached per events version."""

    def compute() -> list[str]:
        if not ws.lake.exists(tenant, "analytics", "events"):
            return []
        ev = ws.table(tenant, "events")
        named = ev.filter(ev.event.notnull())
        df = named.group_by("event").agg(n=named.count()).to_pandas()
        return df.sort_values(["n", "event"], ascending=[False, True])["event"].head(limit).tolist()

    return cached(ws, tenant, ("event_names", limit), [("analytics", "events")], compute)


def _run(ws: Workspace, tenant: str, key: tuple[Any, ...], fn: Any) -> Any:
    return cached(ws, tenant, key, DEPS, fn)


# -- paths ----------------------------------------------------------------------------
def paths_view(ws: Workspace, tenant: str, event: str | None, direction: str, steps: int,
               step_by: str) -> dict[str, Any]:
    def compute() -> dict[str, Any]:
        res = _journeys(ws).paths(tenant, event=event, direction=direction, steps=steps, step_by=step_by)
        nodes = list(res.nodes)
        links = list(res.links)
        labels = [n["label"] if isinstance(n, dict) else str(n) for n in nodes]
        chart = figure(
            [{"type": "sankey", "arrangement": "snap",
              "node": {"label": labels, "pad": 12, "thickness": 14,
                       "color": [colour(i) for i in range(len(labels))]},
              "link": {"source": [lk["source"] for lk in links], "target": [lk["target"] for lk in links],
                       "value": [lk["value"] for lk in links]}}],
        )
        df = res.to_pandas()
        path_c = _col(df, "path", "steps")
        n_c = _col(df, "profiles", "count", "n")
        total = float(df[n_c].sum()) if n_c and len(df) else 0.0
        rows = [
            {"path": _steps(r[path_c]),
             "count": int(r[n_c]), "share": (float(r[n_c]) / total) if total else None}
            for _, r in df.head(30).iterrows()
        ] if path_c and n_c else []
        return {"chart": chart, "rows": rows}

    return _run(ws, tenant, ("paths", event, direction, steps, step_by), compute)


# -- funnel ---------------------------------------------------------------------------
def funnel_view(ws: Workspace, tenant: str, steps: list[str], window_days: int,
                breakdown: str | None) -> dict[str, Any]:
    def compute() -> dict[str, Any]:
        res = _journeys(ws).funnel(tenant, steps=steps, window=f"{window_days}d", breakdown=breakdown)
        df = res.to_pandas()
        rows = df
        bcol = _col(df, "breakdown", breakdown or "")
        if breakdown and bcol:
            rows = df[df[bcol].isna()] if df[bcol].isna().any() else df.groupby(
                _col(df, "step_index", "step_no", "position") or "step", sort=False
            ).sum(numeric_only=True).reset_index()
        out_steps = _funnel_steps(rows, steps)
        chart = figure(
            [{"type": "bar", "x": [f"{i + 1}. {s['step']}" for i, s in enumerate(out_steps)],
              "y": [s["reached"] for s in out_steps], "marker": {"color": colour(0)},
              "text": [f"{100 * (s['conv_first'] or 0):.1f} %" for s in out_steps],
              "textposition": "outside", "name": "profiles",
              "hovertemplate": "%{x}<br>%{y} profiles<br>%{text} of step 1<extra></extra>"}],
            yaxis={"title": {"text": "profiles"}}, showlegend=False,
        )
        blocks = []
        if breakdown and bcol:
            for value, part in df[df[bcol].notna()].groupby(bcol, sort=True):
                st = _funnel_steps(part, steps)
                first = st[0]["reached"] if st else 0
                blocks.append({"value": value, "reached": [s["reached"] for s in st],
                               "conversion": (st[-1]["reached"] / first) if first else None})
        return {"steps": out_steps, "chart": chart, "breakdown": blocks}

    return _run(ws, tenant, ("funnel", tuple(steps), window_days, breakdown), compute)


def _funnel_steps(df: pd.DataFrame, steps: list[str]) -> list[dict[str, Any]]:
    reached_c = _col(df, "profiles", "reached", "count")
    prev_c = _col(df, "conversion_from_previous", "conversion_previous", "conv_prev")
    first_c = _col(df, "conversion_from_first", "conversion_first", "conv_first")
    med_c = _col(df, "median_seconds_from_previous", "median_time_from_previous", "median_seconds",
                 "median_time")
    step_c = _col(df, "step", "name")
    out = []
    for i, (_, r) in enumerate(df.iterrows()):
        out.append({
            "step": r[step_c] if step_c else steps[i],
            "reached": int(r[reached_c]) if reached_c else 0,
            "conv_prev": _num(r[prev_c]) if prev_c else None,
            "conv_first": _num(r[first_c]) if first_c else None,
            "median_s": _seconds(r[med_c]) if med_c else None,
        })
    return out


# -- precursors -----------------------------------------------------------------------
def precursors_view(ws: Workspace, tenant: str, target: str, lookback_days: int,
                    max_length: int) -> dict[str, Any]:
    def compute() -> dict[str, Any]:
        res = _journeys(ws).precursors(tenant, target=target, lookback=f"{lookback_days}d",
                                     max_length=max_length)
        df = res.to_pandas()
        seq_c = _col(df, "sequence", "pattern", "steps")
        rows = []
        for _, r in df.head(40).iterrows():
            seq = r[seq_c] if seq_c else ""
            rows.append({
                "sequence": _steps(seq),
                # shares of the target and control windows holding the sequence
                "support_target": _num(r.get(_col(df, "rate_target", "support_target") or "", None)),
                "support_control": _num(r.get(_col(df, "rate_control", "support_control") or "", None)),
                "lift": _num(r.get(_col(df, "lift") or "", None)),
                "odds_ratio": _num(r.get(_col(df, "odds_ratio") or "", None)),
                "ci_low": _num(r.get(_col(df, "ci_low", "or_ci_low", "odds_ratio_low") or "", None)),
                "ci_high": _num(r.get(_col(df, "ci_high", "or_ci_high", "odds_ratio_high") or "", None)),
                "p_value": _num(r.get(_col(df, "p_adjusted", "p_value_adjusted", "q_value", "p_value") or "", None)),
            })
        return {"rows": rows}

    return _run(ws, tenant, ("precursors", target, lookback_days, max_length), compute)


# -- channels -------------------------------------------------------------------------
def channels_view(ws: Workspace, tenant: str) -> dict[str, Any]:
    def compute() -> dict[str, Any]:
        res = _journeys(ws).channels(tenant)
        df = res.to_pandas()
        from_c = _col(df, "from_channel", "source", "from")
        to_c = _col(df, "to_channel", "target", "to")
        n_c = _col(df, "transitions", "count", "n")
        channels = sorted(set(df[from_c]) | set(df[to_c]))
        idx = {c: i for i, c in enumerate(channels)}
        matrix = [[0] * len(channels) for _ in channels]
        for _, r in df.iterrows():
            matrix[idx[r[from_c]]][idx[r[to_c]]] += int(r[n_c])
        shares = [[(n / sum(row)) if sum(row) else 0.0 for n in row] for row in matrix]
        chart = figure(
            [{"type": "heatmap", "z": shares, "x": channels, "y": channels, "colorscale": "Blues", "reversescale": True,
              "hovertemplate": "%{y} → %{x}: %{z:.1%}<extra></extra>"}],
            xaxis={"title": {"text": "to"}}, yaxis={"title": {"text": "from"}, "autorange": "reversed"},
            margin={"l": 96, "r": 16, "t": 16, "b": 80},
        )
        return {"channels": channels, "matrix": matrix, "chart": chart}

    return _run(ws, tenant, ("channels",), compute)


# -- retention ------------------------------------------------------------------------
def retention_view(ws: Workspace, tenant: str, by: str) -> dict[str, Any]:
    def compute() -> dict[str, Any]:
        res = _journeys(ws).retention(tenant, by=by)
        df = res.to_pandas()
        cohort_c = _col(df, "cohort", "cohort_month")
        off_c = _col(df, "month", "period", "months_since", "offset")
        rate_c = _col(df, "rate", "return_rate", "retention")
        size_c = _col(df, "cohort_size", "size", "profiles")
        months = int(df[off_c].max()) + 1 if len(df) else 0
        cohorts = []
        for cohort, part in df.groupby(cohort_c, sort=True):
            rates: list[float | None] = [None] * months
            for _, r in part.iterrows():
                rates[int(r[off_c])] = _num(r[rate_c])
            cohorts.append({"cohort": str(cohort)[:7], "size": int(part[size_c].max()) if size_c else None,
                            "rates": rates})
        chart = figure(
            [{"type": "heatmap", "z": [c["rates"] for c in cohorts], "x": [f"M{m}" for m in range(months)],
              "y": [c["cohort"] for c in cohorts], "colorscale": "Blues", "reversescale": True, "zmin": 0, "zmax": 1,
              "hovertemplate": "cohort %{y}, %{x}: %{z:.1%}<extra></extra>"}],
            yaxis={"autorange": "reversed", "type": "category"}, margin={"l": 72, "r": 16, "t": 16, "b": 40},
        )
        return {"cohorts": cohorts, "months": months, "chart": chart}

    return _run(ws, tenant, ("retention", by), compute)


# -- start-up warm-up -----------------------------------------------------------------
def warm_journeys(ws: Workspace, tenant: str) -> None:
    """Compute the journeys pages' default views (paths from the journey start, channel
    transitions, retention by first seen, the event pickers) so a first visit is a
    cache hit. Precursors and funnels depend on what the user picks: not warmed."""
    if not ws.lake.exists(tenant, "analytics", "identity_map"):
        return  # identities not resolved yet: the pages say so themselves
    event_names(ws, tenant)
    paths_view(ws, tenant, None, "next", 3, "event")
    channels_view(ws, tenant)
    retention_view(ws, tenant, "first_seen")
