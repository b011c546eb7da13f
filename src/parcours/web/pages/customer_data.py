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

from parcours.errors import NotFoundError, ParcoursError

if TYPE_CHECKING:
    import ibis.expr.types as ir

    from parcours.workspace import Workspace

#: Event columns that name a person, with the identifier type they hold (identity order).
EVENT_KEYS = (("user_id", "user_id"), ("anonymous_id", "anonymous_id"), ("previous_id", "user_id"))
TIMELINE_PAGE = 100


class AmbiguousCustomerError(ParcoursError):
    """The key belongs to several profiles (a shared identifier)."""

    status_code = 409

    def __init__(self, key: str, profiles: list[str]) -> None:
        super().__init__(f"{key!r} is shared by {len(profiles)} profiles", key=key, profiles=profiles)


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
        return name or self.key


def find_profile(ws: Workspace, tenant: str, key: str, zone: str) -> str:
    """The profile id holding ``key`` (an identifier value or a profile id)."""
    if not ws.lake.exists(tenant, zone, "identity_map"):
        raise NotFoundError(
            f"identity not resolved for tenant {tenant!r}: run `parcours identity resolve`",
            tenant=tenant,
        )
    m = ws.table(tenant, "identity_map", zone)
    hits = m.filter(((m.identifier == key) | (m.profile_id == key)) & (m.status == "linked"))
    found = sorted(set(hits.select("profile_id").to_pyarrow().column(0).to_pylist()))
    if not found:
        raise NotFoundError(f"no customer with identifier {key!r}", tenant=tenant, key=key)
    if len(found) > 1:
        raise AmbiguousCustomerError(key, found)
    return found[0]


def profile_events(ws: Workspace, tenant: str, profile_id: str, zone: str) -> ir.Table:
    """The events of one profile (identity semantics), as an Ibis table."""
    m = ws.table(tenant, "identity_map", zone)
    linked = m.filter(m.status == "linked")
    mine = linked.filter(linked.profile_id == profile_id)
    ids = mine.select("identifier", "id_type").to_pyarrow().to_pylist()
    by_type: dict[str, list[str]] = {}
    for r in ids:
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
    # the profile an event belongs to: first of its keys that is linked at all
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
    from parcours.web.pages.customer_domains import domain_blocks, traits_and_numbers

    pid = find_profile(ws, tenant, key, zone)
    m = ws.table(tenant, "identity_map", zone)
    idents = (
        m.filter((m.profile_id == pid) & (m.status == "linked"))
        .select("id_type", "identifier").order_by(["id_type", "identifier"]).to_pyarrow().to_pylist()
    )
    ev = profile_events(ws, tenant, pid, zone)
    counts = ev.group_by("channel").agg(n=ev.count(), first=ev.timestamp.min(), last=ev.timestamp.max())
    cdf = counts.to_pyarrow().to_pylist()
    channel_counts = {r["channel"]: int(r["n"]) for r in sorted(cdf, key=lambda r: -r["n"])}
    shown = ev.filter(ev.channel.isin(channels)) if channels else ev
    shown_total = sum(n for c, n in channel_counts.items() if not channels or c in channels)
    rows = (
        shown.select("timestamp", "channel", "type", "event", "properties")
        .order_by([ibis.desc("timestamp")]).limit(limit, offset=offset).to_pyarrow().to_pylist()
    )
    timeline = [
        {"ts": r["timestamp"], "channel": r["channel"], "type": r["type"], "event": r["event"],
         "detail": _detail(r["properties"])}
        for r in rows
    ]
    traits, numbers = traits_and_numbers(ws, tenant, zone, idents)
    view = CustomerView(
        key=key, profile_id=pid, zone=zone, identifiers=idents, traits=traits,
        channel_counts=channel_counts, total_events=sum(channel_counts.values()),
        shown_total=shown_total, timeline=timeline,
        first_seen=min((r["first"] for r in cdf), default=None),
        last_seen=max((r["last"] for r in cdf), default=None),
    )
    if offset + limit < shown_total:
        view.next_offset = offset + limit
        from urllib.parse import urlencode

        view.more_query = urlencode([("channel", c) for c in channels or []] + [("offset", view.next_offset)])
    view.verbatims, view.domains = domain_blocks(ws, tenant, zone, idents, numbers)
    return view
