"""Profiles: one row per person, with resolved traits and computed attributes."""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING

import pyarrow as pa

if TYPE_CHECKING:
    from parcours.progress import Progress
    from parcours.workspace import Workspace


def build_profiles(
    ws: Workspace,
    tenant: str,
    created: dict[str, dt.datetime],
    merges: list[tuple[str, str]],
    run_at: dt.datetime,
    *,
    progress: Progress | None = None,
) -> int:
    """Write ``profiles`` in both zones; returns the number of live profiles."""
    import json

    from parcours.events import conform, spec
    from parcours.identity.attributes import activity, domain, profile_events, traits
    from parcours.identity.resolve import _scratch

    merged_rows = _merged_rows(ws, tenant, created, merges, run_at)
    s = spec("profiles")
    for step, zone in enumerate(("analytics", "raw"), start=1):
        m = ws.table(tenant, "identity_map", zone)
        linked = m.filter(m.status == "linked")
        stats = linked.group_by("profile_id").agg(
            first_seen=linked.first_seen.min(),
            last_seen=linked.last_seen.max(),
            identifiers=linked.identifier.count(),
        ).to_pyarrow()
        scratch = _scratch(ws, run_at)
        try:
            events = None
            if ws.lake.exists(tenant, zone, "events"):
                events = scratch.keep(profile_events(ws, tenant, zone))
            tr = traits(ws, tenant, zone, events)
            act = activity(ws, tenant, zone, events)
            dom = domain(ws, tenant, zone)
        finally:
            scratch.release()
        ids = stats.column("profile_id").to_pylist()
        attrs, trait_col, events = [], [], []
        for pid in ids:
            a = act.get(pid, {})
            attrs.append(json.dumps({**a, **dom.get(pid, {})}, ensure_ascii=False, default=str))
            trait_col.append(json.dumps(tr.get(pid, {}), ensure_ascii=False))
            events.append(a.get("events", 0))
        n = len(ids)
        live = pa.table({
            "profile_id": stats.column("profile_id"),
            "merged_into": pa.nulls(n, pa.string()),
            "created_at": pa.array([created.get(i, run_at) for i in ids], pa.timestamp("us", tz="UTC")),
            "updated_at": pa.array([run_at] * n, pa.timestamp("us", tz="UTC")),
            "first_seen": stats.column("first_seen"),
            "last_seen": stats.column("last_seen"),
            "identifiers": stats.column("identifiers").cast(pa.int64()),
            "events": pa.array(events, pa.int64()),
            "traits": pa.array(trait_col, pa.string()),
            "attributes": pa.array(attrs, pa.string()),
        })
        out = pa.concat_tables([conform(s, live), conform(s, merged_rows)])
        ws.lake.overwrite(tenant, zone, "profiles", out)
        if progress is not None:
            progress("identity: profiles", step, 2)
    return len(created)


def _merged_rows(
    ws: Workspace, tenant: str, created: dict[str, dt.datetime], merges: list[tuple[str, str]],
    run_at: dt.datetime,
) -> pa.Table:
    """Profiles merged into others, now and before (chains re-pointed to the survivor)."""
    into: dict[str, str] = {}
    born: dict[str, dt.datetime] = {}
    if ws.lake.exists(tenant, "analytics", "profiles"):
        old = ws.lake.read(tenant, "analytics", "profiles", ["profile_id", "merged_into", "created_at"])
        for r in old.to_pylist():
            born[r["profile_id"]] = r["created_at"]
            if r["merged_into"]:
                into[r["profile_id"]] = r["merged_into"]
    for loser, winner in merges:
        into[loser] = winner

    def final(pid: str) -> str:
        seen = set()
        while pid in into and pid not in seen:
            seen.add(pid)
            pid = into[pid]
        return pid

    rows = [
        (pid, final(pid), born.get(pid, run_at)) for pid in into if pid not in created
    ]
    n = len(rows)
    return pa.table({
        "profile_id": pa.array([r[0] for r in rows], pa.string()),
        "merged_into": pa.array([r[1] for r in rows], pa.string()),
        "created_at": pa.array([r[2] for r in rows], pa.timestamp("us", tz="UTC")),
        "updated_at": pa.array([run_at] * n, pa.timestamp("us", tz="UTC")),
        "first_seen": pa.nulls(n, pa.timestamp("us", tz="UTC")),
        "last_seen": pa.nulls(n, pa.timestamp("us", tz="UTC")),
        "identifiers": pa.nulls(n, pa.int64()),
        "events": pa.nulls(n, pa.int64()),
        "traits": pa.nulls(n, pa.string()),
        "attributes": pa.nulls(n, pa.string()),
    })
