"""The customer 360° view: one person's profile, identifiers, timeline, verbatims and
domain summaries, read from the serving store (deep timeline pages from the lake)."""

from __future__ import annotations

import contextlib
import json
import re
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

from parcours.identity.errors import AmbiguousKeyError, NotResolvedError, UnknownCustomerError
from parcours.identity.serving import refresh, store

if TYPE_CHECKING:
    from parcours.workspace import Workspace

_PROFILE_ID = re.compile(r"^pf[0-9a-f]{22}$")
MAX_PAGE_SIZE = 200


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
        return asdict(self)


def _is_profile_id(key: str) -> bool:
    return bool(_PROFILE_ID.match(key))


def _open(ws: Workspace, tenant: str, zone: str):  # noqa: ANN202 - ServingStore
    ws.require_tenant(tenant)
    s = store(ws, tenant, zone)
    if not s.exists():
        if not ws.lake.exists(tenant, zone, "profiles"):
            raise NotResolvedError(tenant, zone)
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
    prof = s.query("SELECT doc FROM profiles WHERE profile_id = ?", (pid,))
    doc = json.loads(prof[0]["doc"]) if prof else {}
    idents = s.query(
        "SELECT key AS identifier, id_type, status FROM keys WHERE profile_id = ? "
        "ORDER BY id_type, key", (pid,),
    )
    timeline, has_more = _timeline(ws, tenant, zone, pid, channel, page, page_size)
    verbatims = s.query(
        "SELECT ts, channel, verbatim_id, subject, text FROM verbatims WHERE profile_id = ? "
        "ORDER BY ts DESC LIMIT 10", (pid,),
    )
    merged = [r["profile_id"] for r in s.query(
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
    from parcours.identity.serving import TIMELINE_DEPTH

    s = store(ws, tenant, zone)
    offset = (page - 1) * size
    where, params = "profile_id = ?", [pid]
    if channel:
        where += " AND channel = ?"
        params.append(channel)
    cols = "ts, channel, type, event, message_id, properties"
    if offset + size + 1 <= TIMELINE_DEPTH:
        rows = s.query(
            f"SELECT {cols} FROM timeline WHERE {where} ORDER BY ts DESC, message_id DESC "
            "LIMIT ? OFFSET ?", (*params, size + 1, offset),
        )
    else:  # deeper than the store keeps: read the lake through the identity map
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
