"""Reading through the identity map: events with their profile, lookups by any key."""

from __future__ import annotations

from typing import TYPE_CHECKING

import ibis

from parcours.identity.errors import NotResolvedError

if TYPE_CHECKING:
    import ibis.expr.types as ir

    from parcours.workspace import Workspace

#: Which identifier of an event names its person, in order of trust.
EVENT_KEYS = (("user_id", "user_id"), ("anonymous_id", "anonymous_id"), ("previous_id", "previous_id"))


def identity_map(ws: Workspace, tenant: str, zone: str = "analytics") -> ir.Table:
    """The identity map of a zone (``identifier, id_type, profile_id, status, ...``)."""
    ws.require_tenant(tenant)
    if not ws.lake.exists(tenant, zone, "identity_map"):
        raise NotResolvedError(tenant, zone)
    return ws.table(tenant, "identity_map", zone)


def events_with_profiles(ws: Workspace, tenant: str, zone: str = "analytics") -> ir.Table:
    """The tenant's events plus a ``profile_id`` column, through the identity map.

    Events are never rewritten: a merge recorded after an event was loaded applies to it
    at once. The profile comes from the event's ``user_id``, else its ``anonymous_id``,
    else the ``previous_id`` of an alias; events whose identifiers are all unknown or
    shared (cut by a guard rail) have a null ``profile_id``.

    Example:
        >>> ev = events_with_profiles(ws, "energie")                      # doctest: +SKIP
        >>> ev.group_by("profile_id").count().to_pandas()                 # doctest: +SKIP
    """
    return with_profiles(ws, tenant, zone, ws.table(tenant, "events", zone))


def with_profiles(ws: Workspace, tenant: str, zone: str, table: ir.Table) -> ir.Table:
    """``table`` plus a ``profile_id`` column, found as :func:`events_with_profiles`
    finds an event's: ``table`` needs the :data:`EVENT_KEYS` columns only.

    Applied to events aggregated per identifier (``group_by`` of the key columns), it
    gives each aggregate row the profile every event of that row would get: the
    profile depends on the key columns alone.
    """
    m = identity_map(ws, tenant, zone)
    linked = m.filter(m.status == "linked")
    out = table
    pids = []
    for i, (col, id_type) in enumerate(EVENT_KEYS):
        sub = linked.filter(linked.id_type == id_type).select(
            **{f"_k{i}": "identifier", f"_p{i}": "profile_id"}
        )
        out = out.left_join(sub, out[col] == sub[f"_k{i}"])
        pids.append(f"_p{i}")
    cols = [out[c] for c in table.columns]
    return out.select(*cols, profile_id=ibis.coalesce(*(out[p] for p in pids)))


def profiles_of(ws: Workspace, tenant: str, key: str, zone: str = "analytics") -> list[str]:
    """Live profile ids holding ``key`` (any identifier value, or a profile id)."""
    m = identity_map(ws, tenant, zone)
    hits = m.filter((m.identifier == key) | (m.profile_id == key)).filter(m.status == "linked")
    return sorted(set(hits.select("profile_id").to_pyarrow().column("profile_id").to_pylist()))
