"""Independent measurements over the demo lake, for the demo tests (plain pandas/duckdb)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import duckdb
import pandas as pd
import pyarrow.parquet as pq


def truth(ws: Any) -> dict[str, Any]:
    return json.loads((Path(ws.path) / "demo" / "truth.json").read_text(encoding="utf-8"))


def persons(ws: Any, tenant: str) -> pd.DataFrame:
    return pq.read_table(Path(ws.path) / truth(ws)[tenant]["persons"]).to_pandas()


def raw(ws: Any, tenant: str, table: str, columns: list[str] | None = None) -> pd.DataFrame:
    return ws.lake.read(tenant, "raw", table, columns=columns).to_pandas()


def events_by_person(ws: Any, tenant: str) -> pd.DataFrame:
    """Every raw event with the true person behind it (user_id first, else anonymous_id)."""
    ev = ws.lake.read(tenant, "raw", "events", columns=["event", "user_id", "anonymous_id", "timestamp"])
    p = persons(ws, tenant)
    con = duckdb.connect()
    con.register("ev", ev)
    con.register("p", p)
    return con.execute(
        """
        select coalesce(pu.person_id, pa.person_id) as person_id, ev.event, ev.timestamp as ts
        from ev
        left join p pu on pu.id_type = 'user_id' and pu.identifier = ev.user_id
        left join p pa on pa.id_type = 'anonymous_id' and pa.identifier = ev.anonymous_id
        """
    ).df()


def sequence_lift(ev: pd.DataFrame, target: str, steps: list[str], lookback_days: int) -> dict[str, float]:
    """The lift of an ordered 3-step sequence before a target, as docs/demo.md defines it.

    Positives: persons with a target event, window = the ``lookback_days`` before their
    first one. Negatives: every other person, window = the ``lookback_days`` before their
    last event. A window holds the sequence when step 1, then step 2, then step 3 occur
    in it, in that order.
    """
    ev = ev.dropna(subset=["person_id"])
    first_target = ev[ev.event == target].groupby("person_id").ts.min()
    last_event = ev.groupby("person_id").ts.max()
    anchor = last_event.copy()
    anchor.loc[first_target.index] = first_target
    positive = pd.Series(False, index=anchor.index)
    positive.loc[first_target.index] = True
    st = ev[ev.event.isin(steps)].copy()
    st["anchor"] = st.person_id.map(anchor)
    st = st[(st.ts < st.anchor) & (st.ts >= st.anchor - pd.Timedelta(days=lookback_days))]
    found = set()
    for person, g in st.sort_values("ts").groupby("person_id"):
        k = 0
        for name in g.event:  # greedy in time order: finds an ordered subsequence if one exists
            if name == steps[k]:
                k += 1
                if k == len(steps):
                    found.add(person)
                    break
    has = positive.index.isin(list(found))
    pos, neg = positive.to_numpy(), ~positive.to_numpy()
    p = has[pos].mean()
    q = has[neg].mean()
    return {"positives": int(pos.sum()), "negatives": int(neg.sum()), "p": p, "q": q, "lift": p / q}
