"""The customer 360° view: one person's profile, identifiers, timeline, verbatims and
domain summaries, read from the serving store (deep timeline pages from the lake).

The store holds the view's parts as the JSON text the API returns; the view keeps that
text and parses it only when Python code asks for a part (``view.timeline``…), so the
API's response is spliced together from the stored text (:meth:`Customer360.to_json`)
with no parsing and no re-encoding of the events.
"""

from __future__ import annotations

import contextlib
import json
import re
import threading
from dataclasses import dataclass, field
from functools import cached_property
from typing import TYPE_CHECKING, Any

import msgspec

from parcours.engine.serving import unpack
from parcours.identity import serving
from parcours.identity.errors import AmbiguousKeyError, NotResolvedError, UnknownCustomerError
from parcours.identity.serving import current, refresh, store

if TYPE_CHECKING:
    from parcours.engine.serving import ServingStore
    from parcours.workspace import Workspace

_PROFILE_ID = re.compile(r"^pf[0-9a-f]{22}$")
#: Channel names whose JSON string is the same whoever writes it (no escapes): for these
#: a stored event's channel is recognised by its text, without parsing the event.
_PLAIN_CHANNEL = re.compile(r"^[A-Za-z0-9_.:-]+$")
MAX_PAGE_SIZE = 200
#: Verbatims listed in the view (the store keeps serving.VERBATIMS_PER_PROFILE).
VERBATIMS_SHOWN = 10
_refresh_lock = threading.Lock()
_encode = msgspec.json.Encoder().encode


def _parse(items: list[str]) -> list[dict[str, Any]]:
    return [json.loads(x) for x in items]


@dataclass
class Customer360:
    """Everything about one customer; ``to_dict()`` is the API's JSON, ``to_json()``
    the same as bytes, spliced from the stored JSON text.

    ``profile``, ``timeline``, ``verbatims`` and ``summary`` are parsed from that text
    on first use."""

    tenant: str
    zone: str
    profile_id: str
    page: int
    page_size: int
    next_page: int | None
    merged_from: list[str] = field(default_factory=list)
    channel: str | None = None
    #: the parts as JSON text: the profile and summary objects, the identifiers array,
    #: one object per timeline event and per verbatim
    profile_json: str = field(default="{}", repr=False)
    identifiers_json: str = field(default="[]", repr=False)
    summary_json: str = field(default="{}", repr=False)
    timeline_json: list[str] = field(default_factory=list, repr=False)
    verbatims_json: list[str] = field(default_factory=list, repr=False)

    @cached_property
    def profile(self) -> dict[str, Any]:
        return json.loads(self.profile_json)

    @cached_property
    def identifiers(self) -> list[dict[str, Any]]:
        """Every identifier of the profile (``identifier``, ``id_type``, ``status``), by
        type then value."""
        return json.loads(self.identifiers_json)

    @cached_property
    def summary(self) -> dict[str, Any]:
        return json.loads(self.summary_json)

    @cached_property
    def timeline(self) -> list[dict[str, Any]]:
        return _parse(self.timeline_json)

    @cached_property
    def verbatims(self) -> list[dict[str, Any]]:
        return _parse(self.verbatims_json)

    def to_dict(self) -> dict[str, Any]:
        """The view as plain JSON-ready values."""
        return {
            "tenant": self.tenant, "zone": self.zone, "profile_id": self.profile_id,
            "profile": self.profile, "identifiers": self.identifiers, "timeline": self.timeline,
            "page": self.page, "page_size": self.page_size, "next_page": self.next_page,
            "verbatims": self.verbatims, "summary": self.summary, "merged_from": self.merged_from,
            "channel": self.channel,
        }

    def to_json(self) -> bytes:
        """``to_dict()`` as UTF-8 JSON, built from the stored text as it is."""
        e = _encode
        return b"".join((
            b'{"tenant":', e(self.tenant), b',"zone":', e(self.zone), b',"profile_id":', e(self.profile_id),
            b',"profile":', self.profile_json.encode(), b',"identifiers":', self.identifiers_json.encode(),
            b',"timeline":[', ",".join(self.timeline_json).encode(), b'],"page":', e(self.page),
            b',"page_size":', e(self.page_size), b',"next_page":', e(self.next_page),
            b',"verbatims":[', ",".join(self.verbatims_json).encode(), b'],"summary":',
            self.summary_json.encode(), b',"merged_from":', e(self.merged_from), b',"channel":',
            e(self.channel), b"}",
        ))


def _is_profile_id(key: str) -> bool:
    return bool(_PROFILE_ID.match(key))


def _open(ws: Workspace, tenant: str, zone: str) -> ServingStore:
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
    rows = s.values("SELECT profile_id, status FROM keys WHERE key = ?", (key,))
    linked = sorted({p for p, st in rows if st == "linked"})
    if len(linked) == 1:
        return linked[0]
    if len(linked) > 1:
        raise AmbiguousKeyError(tenant, key, linked)
    shared = sorted({p for p, _ in rows})
    if shared:
        raise AmbiguousKeyError(tenant, key, shared)
    pid = key
    for _ in range(20):  # follow merges to the survivor
        hit = s.values("SELECT merged_into FROM profiles WHERE profile_id = ?", (pid,))
        if not hit:
            break
        if hit[0][0] is None:
            return pid
        pid = hit[0][0]
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
    # the document, identifiers, verbatims and merged profiles in one statement
    row = s.values(_PARTS, (pid,))
    blob, idents, vblob, merged = row[0] if row else (None, "[]", None, "[]")
    doc, _, summary = unpack(blob).partition("\n") if blob else ("{}", "", "{}")
    timeline, has_more = _timeline(ws, tenant, zone, pid, channel, page, page_size)
    verbatims = unpack(vblob).split("\n")[:VERBATIMS_SHOWN] if vblob else []
    if zone == "raw":
        from parcours.privacy import audit

        audit.record(
            ws, who if who is not None else audit.OPERATOR, action="view_360", customer=pid,
            detail={"key": key, "channel": channel, "page": page}, tenant=tenant,
        )
    return Customer360(
        tenant=tenant, zone=zone, profile_id=pid, page=page, page_size=page_size,
        next_page=page + 1 if has_more else None, merged_from=json.loads(merged), channel=channel,
        profile_json=doc, identifiers_json=idents, summary_json=summary or "{}", timeline_json=timeline, verbatims_json=verbatims,
    )


#: One profile's parts but the timeline, in one read: its document, its identifiers (by
#: type then value) and merged profiles as JSON arrays, its verbatims.
_PARTS = """
    SELECT p.doc,
           (SELECT json_group_array(json_object('identifier', key, 'id_type', id_type, 'status', status))
            FROM (SELECT key, id_type, status FROM keys WHERE profile_id = ?1 ORDER BY id_type, key)),
           (SELECT items FROM verbatims WHERE profile_id = ?1),
           (SELECT json_group_array(profile_id)
            FROM (SELECT profile_id FROM profiles WHERE merged_into = ?1 ORDER BY profile_id))
    FROM (SELECT ?1 AS id) AS q LEFT JOIN profiles AS p ON p.profile_id = q.id
"""


def _lines(s: ServingStore, pid: str, chunks: list[int]) -> list[str]:
    """The events (JSON text, newest first) of some of a profile's stored chunks."""
    if not chunks:
        return []
    if chunks[-1] - chunks[0] + 1 == len(chunks):
        rows = s.values("SELECT events FROM timeline WHERE profile_id = ? AND chunk BETWEEN ? AND ? "
                        "ORDER BY chunk", (pid, chunks[0], chunks[-1]))
    else:
        marks = ",".join("?" * len(chunks))
        rows = s.values(f"SELECT events FROM timeline WHERE profile_id = ? AND chunk IN ({marks}) "
                        "ORDER BY chunk", (pid, *chunks))
    out: list[str] = []
    for (blob,) in rows:
        out.extend(unpack(blob).split("\n"))
    return out


def _of_channel(lines: list[str], channel: str) -> list[str]:
    """The events of ``channel`` among stored events (JSON objects whose first key is
    ``ts`` and second ``channel``)."""
    if not _PLAIN_CHANNEL.match(channel):
        return [x for x in lines if json.loads(x).get("channel") == channel]
    needle = json.dumps(channel) + ","
    # the ts value (an ISO string or null) cannot hold ',"channel":': the first match is the key
    return [x for x in lines if x.startswith(needle, x.find(',"channel":') + 11)]


def _timeline(
    ws: Workspace, tenant: str, zone: str, pid: str, channel: str | None, page: int, size: int
) -> tuple[list[str], bool]:
    """One page of the timeline (each event as JSON text), newest first, and whether an
    older page exists.

    A page of all channels within the stored depth is one key-range read of one or two
    chunks. Otherwise the profile's index entries (each chunk's size and events per
    channel, from the covering index) say which chunks hold the page: only those are
    read. A page the store cannot answer — past the stored depth of a profile with more
    events than that — is read from the lake.
    """
    s = store(ws, tenant, zone)
    meta = s.meta()
    per = int(meta.get("chunk", serving.CHUNK))
    depth = min(serving.TIMELINE_DEPTH, int(meta.get("timeline_depth", serving.TIMELINE_DEPTH)))
    offset = (page - 1) * size
    want = offset + size + 1  # the page and one look-ahead event
    if not channel and want <= depth:
        first, last = offset // per, (offset + size - 1) // per
        got = _lines(s, pid, list(range(first, last + 1)))[offset - first * per:]
        if len(got) > size:
            return got[:size], True
        # the look-ahead event opens the next chunk: whether it exists is in the index,
        # no need to read and unpack that chunk
        more = len(got) == size and bool(s.values(
            "SELECT 1 FROM timeline WHERE profile_id = ? AND chunk = ?", (pid, last + 1)))
        return got, more
    index = s.values("SELECT chunk, size, channels FROM timeline WHERE profile_id = ? ORDER BY chunk", (pid,))
    complete = sum(n for _, n, _ in index) < depth  # the store holds every event of the profile
    if channel:
        counts = [(c, json.loads(chs).get(channel, 0)) for c, _, chs in index]
    else:
        counts = [(c, n) for c, n, _ in index]
    if not complete:  # only whole chunks within the depth count
        counts = [(c, n) for c, n in counts if (c + 1) * per <= depth]
    if complete or want <= sum(n for _, n in counts):
        need: list[int] = []
        before = skip = 0
        for c, n in counts:
            if n and before <= offset + size and before + n > offset:
                if not need:
                    skip = offset - before
                need.append(c)
            before += n
        lines = _lines(s, pid, need)
        got = (_of_channel(lines, channel) if channel else lines)[skip:][: size + 1]
        return got[:size], len(got) > size
    return _lake_page(ws, tenant, zone, pid, channel, offset, size)


def _lake_page(
    ws: Workspace, tenant: str, zone: str, pid: str, channel: str | None, offset: int, size: int
) -> tuple[list[str], bool]:
    """A timeline page read from the lake through the identity map (past the store)."""
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
    lines = [json.dumps(r, ensure_ascii=False, default=str) for r in rows]
    return lines[:size], len(lines) > size
