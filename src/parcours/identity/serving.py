"""Fill the serving store from the lake: keys, profiles (with their 360 document),
timeline and verbatims per profile. Run after each resolution."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import ibis

from parcours.engine.serving import ServingStore
from parcours.identity.api import events_with_profiles
from parcours.identity.summaries import summaries

if TYPE_CHECKING:
    import pyarrow as pa

    from parcours.progress import Progress
    from parcours.workspace import Workspace

#: Events kept per profile in the store; older pages are read from the lake.
TIMELINE_DEPTH = 1000
VERBATIMS_PER_PROFILE = 20

SCHEMA = [
    "CREATE TABLE keys (key TEXT NOT NULL, id_type TEXT NOT NULL, profile_id TEXT NOT NULL, "
    "status TEXT NOT NULL)",
    "CREATE TABLE profiles (profile_id TEXT PRIMARY KEY, merged_into TEXT, doc TEXT)",
    "CREATE TABLE timeline (profile_id TEXT NOT NULL, ts TEXT NOT NULL, channel TEXT, type TEXT, "
    "event TEXT, message_id TEXT, properties TEXT)",
    "CREATE TABLE verbatims (profile_id TEXT NOT NULL, ts TEXT NOT NULL, channel TEXT, "
    "verbatim_id TEXT, subject TEXT, text TEXT)",
    "CREATE TABLE meta (name TEXT PRIMARY KEY, value TEXT)",
    "CREATE INDEX keys_key ON keys (key)",
    "CREATE INDEX keys_profile ON keys (profile_id)",
    "CREATE INDEX timeline_profile ON timeline (profile_id, ts DESC)",
    "CREATE INDEX timeline_channel ON timeline (profile_id, channel, ts DESC)",
    "CREATE INDEX verbatims_profile ON verbatims (profile_id, ts DESC)",
]


def store(ws: Workspace, tenant: str, zone: str) -> ServingStore:
    return ServingStore(ws.serving_dir, tenant, zone)


def _batches(table: pa.Table, columns: list[str], convert: dict[str, Any] | None = None) -> Iterator[tuple]:
    convert = convert or {}
    for batch in table.to_batches(max_chunksize=100_000):
        cols = []
        for c in columns:
            values = batch.column(c).to_pylist()
            f = convert.get(c)
            cols.append([f(v) if (f and v is not None) else v for v in values])
        yield from zip(*cols, strict=True)


def _iso(v: Any) -> str:
    return v.isoformat()


def refresh(ws: Workspace, tenant: str, zone: str, *, progress: Progress | None = None) -> int:
    """Rebuild the serving store of one tenant zone; returns the profiles it holds."""
    m = ws.lake.read(tenant, zone, "identity_map", ["identifier", "id_type", "profile_id", "status"])
    prof = ws.lake.read(tenant, zone, "profiles")
    summ = summaries(ws, tenant, zone)
    docs = []
    for r in prof.to_pylist():
        doc = {
            "created_at": r["created_at"], "updated_at": r["updated_at"],
            "first_seen": r["first_seen"], "last_seen": r["last_seen"],
            "identifiers": r["identifiers"], "events": r["events"],
            "traits": json.loads(r["traits"]) if r["traits"] else {},
            "attributes": json.loads(r["attributes"]) if r["attributes"] else {},
            "summary": summ.get(r["profile_id"], {}),
        }
        docs.append((r["profile_id"], r["merged_into"], json.dumps(doc, default=str, ensure_ascii=False)))
    if progress is not None:
        progress(f"serving store ({zone})", 1, 3)
    ev = events_with_profiles(ws, tenant, zone)
    ev = ev.filter(ev.profile_id.notnull())
    rank = ibis.row_number().over(group_by="profile_id", order_by=[ibis.desc("timestamp"), "message_id"])
    ev = ev.mutate(_r=rank).filter(ibis._._r < TIMELINE_DEPTH)
    timeline = ev.select("profile_id", "timestamp", "channel", "type", "event", "message_id", "properties")
    timeline = timeline.to_pyarrow()
    if progress is not None:
        progress(f"serving store ({zone})", 2, 3)
    verb = _verbatims(ws, tenant, zone)
    store(ws, tenant, zone).rebuild(SCHEMA, {
        "keys": (["key", "id_type", "profile_id", "status"],
                 _batches(m, ["identifier", "id_type", "profile_id", "status"])),
        "profiles": (["profile_id", "merged_into", "doc"], docs),
        "timeline": (["profile_id", "ts", "channel", "type", "event", "message_id", "properties"],
                     _batches(timeline, ["profile_id", "timestamp", "channel", "type", "event",
                                         "message_id", "properties"], {"timestamp": _iso})),
        "verbatims": (["profile_id", "ts", "channel", "verbatim_id", "subject", "text"],
                      _batches(verb, ["profile_id", "ts", "channel", "verbatim_id", "subject", "text"],
                               {"ts": _iso}) if verb is not None else []),
        "meta": (["name", "value"], [("timeline_depth", str(TIMELINE_DEPTH))]),
    })
    if progress is not None:
        progress(f"serving store ({zone})", 3, 3)
    return prof.num_rows


def _verbatims(ws: Workspace, tenant: str, zone: str) -> pa.Table | None:
    if not ws.lake.exists(tenant, zone, "verbatims"):
        return None
    v = ws.table(tenant, "verbatims", zone)
    m = ws.table(tenant, "identity_map", zone)
    linked = m.filter(m.status == "linked")
    by_user = linked.filter(linked.id_type == "user_id").select(_u="identifier", _pu="profile_id")
    by_handle = linked.filter(linked.id_type == "social_handle").select(_h="identifier", _ph="profile_id")
    j = v.left_join(by_user, v.user_id == by_user._u).left_join(by_handle, v.author == by_handle._h)
    j = j.select(
        profile_id=ibis.coalesce(j._pu, j._ph), ts=j.ts, channel=j.channel,
        verbatim_id=j.verbatim_id, subject=j.subject, text=j.text,
    ).filter(ibis._.profile_id.notnull())
    rank = ibis.row_number().over(group_by="profile_id", order_by=ibis.desc("ts"))
    return j.mutate(_r=rank).filter(ibis._._r < VERBATIMS_PER_PROFILE).drop("_r").to_pyarrow()
