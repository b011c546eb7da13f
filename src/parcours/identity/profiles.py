"""Profiles: one row per person, with resolved traits and computed attributes."""

from __future__ import annotations

import datetime as dt
import json
from typing import TYPE_CHECKING

import pyarrow as pa
import pyarrow.compute as pc

if TYPE_CHECKING:
    from parcours.progress import Progress
    from parcours.workspace import Workspace

_TS = pa.timestamp("us", tz="UTC")


def build_profiles(
    ws: Workspace,
    tenant: str,
    created: pa.Table,
    merges: list[tuple[str, str]],
    run_at: dt.datetime,
    *,
    progress: Progress | None = None,
) -> int:
    """Write ``profiles`` in both zones; returns the number of live profiles.

    Args:
        created: ``(profile_id, created_at)`` of every live profile.
        merges: ``(profile_id, merged_into)`` recorded by this run.
    """
    live_ids = created.column("profile_id")
    merged_rows = _merged_rows(ws, tenant, live_ids, merges, run_at)
    zones = ("analytics", "raw")
    if ws.engine.kind != "duckdb":
        for step, zone in enumerate(zones, start=1):
            _zone_profiles(ws, tenant, zone, created, merged_rows, run_at)
            if progress is not None:
                progress("identity: profiles", step, 2)
        return created.num_rows
    # the zones are independent: built side by side, each on its own DuckDB cursor; the
    # Arrow and Delta work between queries runs on one core, so two threads fill both
    from concurrent.futures import ThreadPoolExecutor, as_completed

    with ThreadPoolExecutor(max_workers=len(zones), thread_name_prefix="parcours-profiles") as pool:
        futures = [
            pool.submit(_zone_profiles, ws, tenant, zone, created, merged_rows, run_at) for zone in zones
        ]
        for step, future in enumerate(as_completed(futures), start=1):
            future.result()
            if progress is not None:
                progress("identity: profiles", step, 2)
    return created.num_rows


def _zone_profiles(
    ws: Workspace, tenant: str, zone: str, created: pa.Table, merged_rows: pa.Table, run_at: dt.datetime
) -> None:
    """Write one zone's ``profiles``."""
    from parcours.events import conform, spec
    from parcours.identity.attributes import activity, domain, identify_events, traits
    from parcours.identity.resolve import _scratch

    s = spec("profiles")
    m = ws.table(tenant, "identity_map", zone)
    linked = m.filter(m.status == "linked")
    stats = linked.group_by("profile_id").agg(
        first_seen=linked.first_seen.min(),
        last_seen=linked.last_seen.max(),
        identifiers=linked.identifier.count(),
    ).to_pyarrow()
    scratch = _scratch(ws, run_at)
    try:
        identify = None
        if ws.lake.exists(tenant, zone, "events"):
            identify = scratch.keep(identify_events(ws, tenant, zone))
        tr = traits(ws, tenant, zone, identify, keep=scratch.keep, drop=scratch.drop)
        act = activity(ws, tenant, zone)  # events aggregated per identifier, then per profile
        dom = domain(ws, tenant, zone)
    finally:
        scratch.release()
    # the domain's members (few profiles, nested rows) as JSON text without braces
    dom_t = pa.table({
        "profile_id": pa.array(list(dom), pa.string()),
        "domain": pa.array(
            [json.dumps(d, ensure_ascii=False, default=str)[1:-1] for d in dom.values()], pa.string()
        ),
    })
    t = (
        stats.join(created, "profile_id", join_type="left outer")
        .join(act, "profile_id", join_type="left outer")
        .join(tr, "profile_id", join_type="left outer")
        .join(dom_t, "profile_id", join_type="left outer")
    )
    n = t.num_rows
    members = pc.binary_join_element_wise(
        t.column("activity"), t.column("domain"), ", ", null_handling="skip"
    )
    attrs = pc.binary_join_element_wise("{", pc.fill_null(members, ""), "}", "")
    live = pa.table({
        "profile_id": t.column("profile_id"),
        "merged_into": pa.nulls(n, pa.string()),
        "created_at": pc.fill_null(t.column("created_at").cast(_TS), pa.scalar(run_at, _TS)),
        "updated_at": pa.array([run_at] * n, _TS),
        "first_seen": t.column("first_seen"),
        "last_seen": t.column("last_seen"),
        "identifiers": t.column("identifiers").cast(pa.int64()),
        "events": pc.fill_null(t.column("events"), 0).cast(pa.int64()),
        "traits": pc.fill_null(t.column("traits"), "{}"),
        "attributes": attrs,
    })
    out = pa.concat_tables([conform(s, live), conform(s, merged_rows)])
    ws.lake.overwrite(tenant, zone, "profiles", out)


def _merged_rows(
    ws: Workspace, tenant: str, live_ids: pa.ChunkedArray, merges: list[tuple[str, str]],
    run_at: dt.datetime,
) -> pa.Table:
    """Profiles merged into others, now and before (chains re-pointed to the survivor)."""
    into: dict[str, str] = {}
    born: dict[str, dt.datetime] = {}
    if ws.lake.exists(tenant, "analytics", "profiles"):
        old = ws.lake.read(tenant, "analytics", "profiles", ["profile_id", "merged_into", "created_at"])
        losers = {p for p, _ in merges}
        keep = pc.or_(
            pc.is_valid(old.column("merged_into")),
            pc.is_in(old.column("profile_id"), pa.array(sorted(losers), pa.string())),
        )
        for r in old.filter(keep).to_pylist():
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

    alive = set(pc.filter(live_ids, pc.is_in(live_ids, pa.array(list(into), pa.string()))).to_pylist())
    rows = [(pid, final(pid), born.get(pid, run_at)) for pid in into if pid not in alive]
    n = len(rows)
    return pa.table({
        "profile_id": pa.array([r[0] for r in rows], pa.string()),
        "merged_into": pa.array([r[1] for r in rows], pa.string()),
        "created_at": pa.array([r[2] for r in rows], _TS),
        "updated_at": pa.array([run_at] * n, _TS),
        "first_seen": pa.nulls(n, _TS),
        "last_seen": pa.nulls(n, _TS),
        "identifiers": pa.nulls(n, pa.int64()),
        "events": pa.nulls(n, pa.int64()),
        "traits": pa.nulls(n, pa.string()),
        "attributes": pa.nulls(n, pa.string()),
    })
