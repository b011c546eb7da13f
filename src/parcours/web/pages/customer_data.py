"""The Customer 360° page's data: one profile's identifiers, timeline, verbatims and
domain summaries, read in one zone (raw for nominative roles, analytics otherwise).

The profile comes from identity resolution (``identity_map``): a key is any linked
identifier or a profile id. An event belongs to the profile of its ``user_id``, else
its ``anonymous_id``, else the ``previous_id`` of an alias — the semantics of
:func:`parcours.identity.events_with_profiles` — computed here on the few candidate
events of this profile only, so the page stays fast on a large lake.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

import ibis

if TYPE_CHECKING:
    import ibis.expr.types as ir

    from parcours.workspace import Workspace

#: Event columns that name a person, with the identifier type they hold (identity order).
EVENT_KEYS = (("user_id", "user_id"), ("anonymous_id", "anonymous_id"), ("previous_id", "user_id"))
TIMELINE_PAGE = 50


@dataclass
class CustomerView:
    """What the 360 page shows."""

    key: str
    profile_id: str
    zone: str
    identifiers: list[dict[str, Any]]
    traits: dict[str, Any]
    channel_counts: dict[str, int]
    total_events: int
    shown_total: int
    timeline: list[dict[str, Any]]
    first_seen: datetime | None
    last_seen: datetime | None
    verbatims: list[dict[str, Any]] = field(default_factory=list)
    domains: list[dict[str, Any]] = field(default_factory=list)
    next_offset: int | None = None
    more_query: str = ""

    @property
    def pseudonymized(self) -> bool:
        return self.zone == "analytics"

    @property
    def title(self) -> str:
        name = " ".join(str(self.traits[k]) for k in ("first_name", "last_name") if self.traits.get(k))
        return name or (self.profile_id if self.pseudonymized else self.key)


def find_profile(ws: Workspace, tenant: str, key: str, zone: str) -> str:
    """The live profile behind ``key``: identity's own lookup (any identifier or a profile
    id, merges followed to the survivor; in the analytics zone a plain identifier is
    pseudonymized first, so a data scientist only ever sees pseudonyms).

    Raises:
        UnknownCustomerError, AmbiguousKeyError, NotResolvedError (parcours.identity.errors).
    """
    from parcours.identity.view import find_profile as identity_find

    return identity_find(ws, tenant, key, zone)


def profile_identifiers(ws: Workspace, tenant: str, profile_id: str, zone: str) -> list[dict[str, Any]]:
    """The linked identifiers of one profile, by type then value (identity's serving
    store: an indexed read instead of a scan of the identity map)."""
    from parcours.identity.view import linked_identifiers

    return linked_identifiers(ws, tenant, profile_id, zone)


def profile_events(
    ws: Workspace, tenant: str, profile_id: str, zone: str, idents: list[dict[str, Any]]
) -> ir.Table:
    """The events of one profile (identity semantics), as an Ibis table.

    Candidates are the events holding one of the profile's identifiers (a filter the
    engine pushes into the scan); the identity join then runs on those few rows only.
    """
    m = ws.table(tenant, "identity_map", zone)
    linked = m.filter(m.status == "linked")
    by_type: dict[str, list[str]] = {}
    for r in idents:
        by_type.setdefault(r["id_type"], []).append(r["identifier"])
    ev = ws.table(tenant, "events", zone)
    cond = None
    for col, id_type in EVENT_KEYS:
        values = by_type.get(id_type)
        if values:
            c = ev[col].isin(values)
            cond = c if cond is None else cond | c
    if cond is None:
        return ev.filter(ibis.literal(False))
    cand = ev.filter(cond)
    out = cand
    pids = []
    for i, (col, id_type) in enumerate(EVENT_KEYS):
        sub = linked.filter(linked.id_type == id_type).select(
            **{f"_k{i}": "identifier", f"_p{i}": "profile_id"}
        )
        out = out.left_join(sub, out[col] == sub[f"_k{i}"])
        pids.append(f"_p{i}")
    owner = ibis.coalesce(*(out[p] for p in pids))
    return out.filter(owner == profile_id).select(*[out[c] for c in ev.columns])


def _detail(properties: str | None) -> str:
    """A short line from an event's properties (a few key=value pairs)."""
    if not properties:
        return ""
    try:
        obj = json.loads(properties)
    except ValueError:
        return ""
    if not isinstance(obj, dict):
        return ""
    parts = [f"{k}={v}" for k, v in obj.items() if not isinstance(v, dict | list)][:4]
    return ", ".join(parts)[:160]


def _profile_data(
    ws: Workspace, tenant: str, zone: str, pid: str, idents: list[dict[str, Any]]
) -> tuple[list[dict[str, Any]], dict[str, Any], list[dict[str, Any]], list[dict[str, Any]]]:
    """The profile's events (newest first), traits, verbatims and domain blocks, cached
    per version of the tables they read: filtering the timeline or paging through it
    reuses them, and any new commit (a load, an erasure) is seen on the next request."""
    from concurrent.futures import ThreadPoolExecutor

    from parcours.web.pages.cache import cached
    from parcours.web.pages.customer_domains import TABLES_360, domain_blocks, traits_and_numbers

    def read_events() -> list[dict[str, Any]]:
        q = profile_events(ws, tenant, pid, zone, idents)
        rows = q.select("timestamp", "channel", "type", "event", "properties").to_pyarrow().to_pylist()
        rows.sort(key=lambda r: r["timestamp"], reverse=True)
        return rows

    def read_domains() -> tuple[dict[str, Any], list[dict[str, Any]], list[dict[str, Any]]]:
        traits, numbers = traits_and_numbers(ws, tenant, zone, idents)
        return traits, *domain_blocks(ws, tenant, zone, idents, numbers)

    def compute() -> tuple[list[dict[str, Any]], dict[str, Any], list[dict[str, Any]], list[dict[str, Any]]]:
        # the events and the domain blocks are read side by side
        with ThreadPoolExecutor(max_workers=2, thread_name_prefix="parcours-360") as pool:
            ev_future = pool.submit(read_events)
            dom_future = pool.submit(read_domains)
            traits, verbatims, domains = dom_future.result()
            return ev_future.result(), traits, verbatims, domains

    deps = [(zone, name) for name in TABLES_360]
    return cached(ws, tenant, ("360", zone, pid), deps, compute)


def customer_view(
    ws: Workspace,
    tenant: str,
    key: str,
    zone: str,
    channels: list[str] | None = None,
    offset: int = 0,
    limit: int = TIMELINE_PAGE,
) -> CustomerView:
    """Everything the 360 page shows for ``key`` in ``zone``."""
    pid = find_profile(ws, tenant, key, zone)
    idents = profile_identifiers(ws, tenant, pid, zone)
    events, traits, verbatims, domains = _profile_data(ws, tenant, zone, pid, idents)
    per: dict[str, int] = {}
    for r in events:
        per[r["channel"]] = per.get(r["channel"], 0) + 1
    channel_counts = dict(sorted(per.items(), key=lambda kv: -kv[1]))
    shown = [r for r in events if not channels or r["channel"] in channels]
    shown_total = len(shown)
    timeline = [
        {"ts": r["timestamp"], "channel": r["channel"], "type": r["type"], "event": r["event"],
         "detail": _detail(r["properties"])}
        for r in shown[offset : offset + limit]
    ]
    view = CustomerView(
        key=key, profile_id=pid, zone=zone, identifiers=idents, traits=traits,
        channel_counts=channel_counts, total_events=sum(channel_counts.values()),
        shown_total=shown_total, timeline=timeline,
        first_seen=events[-1]["timestamp"] if events else None,
        last_seen=events[0]["timestamp"] if events else None,
    )
    if offset + limit < shown_total:
        view.next_offset = offset + limit
        from urllib.parse import urlencode

        params: list[tuple[str, object]] = [("channel", c) for c in channels or []]
        params.append(("offset", view.next_offset))
        if limit != TIMELINE_PAGE:
            params.append(("limit", limit))
        view.more_query = urlencode(params)
    view.verbatims, view.domains = verbatims, domains
    return view
