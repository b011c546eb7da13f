"""The customer 360° view: one person's profile, identifiers, timeline, verbatims and
domain summaries, read from the serving store (deep timeline pages from the lake)."""

from __future__ import annotations

import contextlib
import json
import re
import threading
from dataclasses import dataclass, field, fields
from typing import TYPE_CHECKING, Any

from parcours.identity import serving
from parcours.identity.errors import AmbiguousKeyError, NotResolvedError, UnknownCustomerError
from parcours.identity.serving import current, refresh, store

if TYPE_CHECKING:
    from parcours.workspace import Workspace

_PROFILE_ID = re.compile(r"^pf[0-9a-f]{22}$")
MAX_PAGE_SIZE = 200
#: Verbatims listed in the view (the store keeps serving.VERBATIMS_PER_PROFILE).
VERBATIMS_SHOWN = 10
_refresh_lock = threading.Lock()


@dataclass
class Customer360:
    """Everything about one customer; ``to_dict()`` is the API's JSON."""

    tenant: str
    zone: str
    profile_id: str
    profile: dict[str, Any]
    identifiers: list[dict[str, Any]]
    timeline: list[dict[str, Any]]
    page: int
    page_size: int
    next_page: int | None
    verbatims: list[dict[str, Any]]
    summary: dict[str, Any]
    merged_from: list[str] = field(default_factory=list)
    channel: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """The view as plain JSON-ready values (its fields are already plain: a shallow
        dict, no deep copy)."""
        return {f.name: getattr(self, f.name) for f in fields(self)}


def _is_profile_id(key: str) -> bool:
    return bool(_PROFILE_ID.match(key))


def _open(ws: Workspace, tenant: str, zone: str):  # noqa: ANN202 - ServingStore
    ws.require_tenant(tenant)
    s = store(ws, tenant, zone)
    if not current(s):
        if not ws.lake.exists(tenant, zone, "profiles"):
            raise NotResolvedError(tenant, zone)
        with _refresh_lock:  # one rebuild, however many requests arrive at once
            if not current(s):
                refresh(ws, tenant, zone)
    return s


def find_profile(ws: Workspace, tenant: str, key: str, zone: str = "raw") -> str:
    """The live profile id behind ``key`` (any identifier, or a profile id).

    In the analytics zone a key that is not yet a pseudonym is pseudonymized with the
    tenant's secret first, so a data scientist may type a customer number and still only
    ever see pseudonyms.
    """
    s = _open(ws, tenant, zone)
    key = key.strip()
    if zone == "analytics" and not _is_profile_id(key):
        from parcours.privacy.pseudonymize import is_pseudonym, pseudonym

        if not is_pseudonym(key):
            key = pseudonym(ws.keys.get(tenant), key)
    rows = s.query("SELECT profile_id, status FROM keys WHERE key = ?", (key,))
    linked = sorted({r["profile_id"] for r in rows if r["status"] == "linked"})
    if len(linked) == 1:
        return linked[0]
    if len(linked) > 1:
        raise AmbiguousKeyError(tenant, key, linked)
    shared = sorted({r["profile_id"] for r in rows})
    if shared:
        raise AmbiguousKeyError(tenant, key, shared)
    pid = key
    for _ in range(20):  # follow merges to the survivor
        hit = s.query("SELECT merged_into FROM profiles WHERE profile_id = ?", (pid,))
        if not hit:
            break
        if hit[0]["merged_into"] is None:
            return pid
        pid = hit[0]["merged_into"]
    raise UnknownCustomerError(tenant, key)


def linked_identifiers(ws: Workspace, tenant: str, profile_id: str, zone: str = "raw") -> list[dict[str, Any]]:
    """The linked identifiers of one profile (``id_type``, ``identifier``), by type then
    value, from the serving store (one indexed read)."""
    rows = _open(ws, tenant, zone).values(
        "SELECT id_type, key FROM keys WHERE profile_id = ? AND status = 'linked' ORDER BY id_type, key",
        (profile_id,),
    )
    return [{"id_type": t, "identifier": k} for t, k in rows]


def customer(
    ws: Workspace,
    tenant: str,
    key: str,
    *,
    zone: str = "raw",
    channel: str | None = None,
    page: int = 1,
    page_size: int = 50,
    who: Any = None,
) -> Customer360:
    """The 360° view of the customer behind ``key``.

    Args:
        zone: ``raw`` (nominative, audited) or ``analytics`` (pseudonymized).
        channel: only timeline events of this channel.
        page, page_size: timeline paging, newest first.
        who: the principal reading (audited for the raw zone); default the operator.

    Example:
        >>> view = ws.customer("energie", "C0010042")                    # doctest: +SKIP
        >>> view.profile["traits"]["lastName"], len(view.timeline)        # doctest: +SKIP
    """
    from parcours.errors import ParcoursError

    if page < 1 or not 1 <= page_size <= MAX_PAGE_SIZE:
        raise ParcoursError(
            f"page must be >= 1 and page_size between 1 and {MAX_PAGE_SIZE}", page=page,
            page_size=page_size,
        )
    pid = find_profile(ws, tenant, key, zone)
    s = store(ws, tenant, zone)
    prof = s.values("SELECT doc FROM profiles WHERE profile_id = ?", (pid,))
    doc = json.loads(prof[0][0]) if prof else {}
    idents = [
        {"identifier": k, "id_type": t, "status": st}
        for k, t, st in s.values(
            "SELECT key, id_type, status FROM keys WHERE profile_id = ? ORDER BY id_type, key", (pid,)
        )
    ]
    timeline, has_more = _timeline(ws, tenant, zone, pid, channel, page, page_size)
    vrows = s.values("SELECT items FROM verbatims WHERE profile_id = ?", (pid,))
    verbatims = json.loads(vrows[0][0])[:VERBATIMS_SHOWN] if vrows else []
    merged = [r[0] for r in s.values(
        "SELECT profile_id FROM profiles WHERE merged_into = ? ORDER BY profile_id", (pid,)
    )]
    if zone == "raw":
        from parcours.privacy import audit

        audit.record(
            ws, who if who is not None else audit.OPERATOR, action="view_360", customer=pid,
            detail={"key": key, "channel": channel, "page": page}, tenant=tenant,
        )
    summary = doc.pop("summary", {})
    return Customer360(
        tenant=tenant, zone=zone, profile_id=pid, profile=doc, identifiers=idents,
        timeline=timeline, page=page, page_size=page_size,
        next_page=page + 1 if has_more else None, verbatims=verbatims, summary=summary,
        merged_from=merged, channel=channel,
    )


def _timeline(
    ws: Workspace, tenant: str, zone: str, pid: str, channel: str | None, page: int, size: int
) -> tuple[list[dict[str, Any]], bool]:
    """One page of the timeline, newest first, and whether an older page exists.

    Pages within the store's depth are one key-range read of the stored chunks (the
    all-channels list, or the channel's own list); deeper pages are read from the lake.
    """
    offset = (page - 1) * size
    if offset + size + 1 <= serving.TIMELINE_DEPTH:
        first, last = offset // serving.CHUNK, (offset + size) // serving.CHUNK
        chunks = store(ws, tenant, zone).values(
            "SELECT events FROM timeline WHERE profile_id = ? AND channel = ? "
            "AND chunk BETWEEN ? AND ? ORDER BY chunk", (pid, channel or "", first, last),
        )
        events: list[list[Any]] = []
        for (text,) in chunks:
            events.extend(json.loads(text))
        start = offset - first * serving.CHUNK
        names = serving.EVENT_FIELDS
        rows = [dict(zip(names, e, strict=True)) for e in events[start : start + size + 1]]
        return rows[:size], len(rows) > size
    # deeper than the store keeps: read the lake through the identity map
    import ibis

    from parcours.identity.api import events_with_profiles

    ev = events_with_profiles(ws, tenant, zone)
    ev = ev.filter(ev.profile_id == pid)
    if channel:
        ev = ev.filter(ev.channel == channel)
    ev = ev.order_by([ibis.desc("timestamp"), ibis.desc("message_id")]).limit(size + 1, offset=offset)
    rows = [
        {"ts": r["timestamp"].isoformat(), **{k: r[k] for k in ("channel", "type", "event", "message_id", "properties")}}
        for r in ev.to_pyarrow().to_pylist()
    ]
    for r in rows:
        if r.get("properties"):
            with contextlib.suppress(ValueError):
                r["properties"] = json.loads(r["properties"])
    return rows[:size], len(rows) > size
