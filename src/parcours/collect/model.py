"""The Segment tracking API as msgspec structs, and its validation rules.

One function, :func:`decode`, is used by the collector (to answer) and by the loader
(to write), so an event the collector acknowledged as valid is exactly an event the
loader writes, and every rejection carries the same reason in the HTTP answer and
in the quarantine table.

Rules (Segment's, plus what parcours needs for exactly-once loads):

* ``messageId`` is required (a server-made id would defeat dedupe of client retries);
* ``userId`` or ``anonymousId`` is required (strings, or integers sent as ids);
* ``type`` is one of track, identify, page, screen, group, alias; ``track`` needs
  ``event``, ``group`` needs ``groupId``, ``alias`` needs ``previousId`` and ``userId``;
* ``timestamp``, when given, is an RFC 3339 date-time between 1970 and 2100 (naive
  times are UTC); when missing, the time of arrival is used, as Segment does;
* ``properties``, ``traits`` and ``context`` are JSON objects; they are kept verbatim;
* one event is at most ``max_event_bytes`` (32 KB) of JSON.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Annotated, Any

import msgspec

EVENT_TYPES = frozenset(("track", "identify", "page", "screen", "group", "alias"))
ENDPOINTS = frozenset(EVENT_TYPES | {"batch"})
MAX_ID_CHARS = 1024
_UTC = dt.UTC
_MIN_TS = dt.datetime(1970, 1, 1, tzinfo=_UTC)
_MAX_TS = dt.datetime(2101, 1, 1, tzinfo=_UTC)


_Id = Annotated[str, msgspec.Meta(max_length=MAX_ID_CHARS)]
_IntId = Annotated[int, msgspec.Meta(ge=-(2**63), le=2**63 - 1)]


class _Common(msgspec.Struct, forbid_unknown_fields=False, kw_only=True):
    """The fields both decoders (``Event`` and the collector's ``_Strict``) read alike."""

    userId: _Id | _IntId | None = None
    anonymousId: _Id | _IntId | None = None
    timestamp: dt.datetime | None = None
    event: _Id | None = None
    name: _Id | None = None
    groupId: _Id | _IntId | None = None
    previousId: _Id | _IntId | None = None
    writeKey: str | None = None


class Event(_Common, kw_only=True):
    """One Segment call. Unknown fields (integrations, sentAt, _metadata…) are ignored.
    Length and range limits are msgspec constraints (checked while decoding)."""

    type: str | None = None
    messageId: _Id | None = None
    # kept verbatim (msgspec.Raw); empty when absent (Raw cannot be Optional)
    properties: msgspec.Raw = msgspec.Raw(b"")
    traits: msgspec.Raw = msgspec.Raw(b"")
    context: msgspec.Raw = msgspec.Raw(b"")


class _Batch(msgspec.Struct, forbid_unknown_fields=False):
    batch: list[Event]
    writeKey: str | None = None


class _RawBatch(msgspec.Struct, forbid_unknown_fields=False):
    batch: list[msgspec.Raw]
    writeKey: str | None = None


class _KeyOnly(msgspec.Struct, forbid_unknown_fields=False):
    writeKey: str | None = None


class _Context(msgspec.Struct, forbid_unknown_fields=False):
    channel: str | None = None


# -- the collector's fast check ---------------------------------------------------------
# The same rules as ``Event`` + ``check``, stated as msgspec types (a tagged union on
# ``type``, required non-empty ids, objects for the JSON columns), so that a valid batch
# is checked in C; the collector needs the verdict, not the events. Any failure falls back
# to :func:`decode`, whose messages are the ones users see.
_NonEmpty = Annotated[str, msgspec.Meta(min_length=1, max_length=MAX_ID_CHARS)]
# a naive timestamp (valid: it means UTC) fails here and goes through decode()
_Aware = Annotated[dt.datetime, msgspec.Meta(tz=True)]


# gc=False: these structs hold only strings, numbers, datetimes and each other, so they
# can never be part of a reference cycle; untracked, a batch's hundreds of them cost
# less to make and free and do not trigger collections of the server's young objects
class _Obj(msgspec.Struct, forbid_unknown_fields=False, gc=False):
    """Any JSON object (its content is skipped)."""


class _Strict(_Common, tag_field="type", kw_only=True, gc=False):
    messageId: _NonEmpty
    timestamp: _Aware | None = None
    properties: _Obj | None = None
    traits: _Obj | None = None
    context: _Obj | None = None


class _Track(_Strict, tag="track"):
    event: _NonEmpty


class _Identify(_Strict, tag="identify"):
    pass


class _Page(_Strict, tag="page"):
    pass


class _Screen(_Strict, tag="screen"):
    pass


class _Group(_Strict, tag="group"):
    groupId: _NonEmpty | _IntId


class _Alias(_Strict, tag="alias"):
    previousId: _NonEmpty | _IntId
    userId: _NonEmpty | _IntId


class _StrictBatch(msgspec.Struct, forbid_unknown_fields=False, gc=False):
    batch: list[_Track | _Identify | _Page | _Screen | _Group | _Alias]
    writeKey: str | None = None


_strict_batch_dec = msgspec.json.Decoder(_StrictBatch)
# a single call (``/v1/track`` …): the type's own struct; its tag may be absent (the
# endpoint says it) and is checked when present
_strict_single_dec = {
    cls.__struct_config__.tag: msgspec.json.Decoder(cls)
    for cls in (_Track, _Identify, _Page, _Screen, _Group, _Alias)
}


_batch_dec = msgspec.json.Decoder(_Batch)
_raw_batch_dec = msgspec.json.Decoder(_RawBatch)
_event_dec = msgspec.json.Decoder(Event)
_key_dec = msgspec.json.Decoder(_KeyOnly)
_context_dec = msgspec.json.Decoder(_Context)


@dataclass
class Rejection:
    """One rejected event: its position in the request, its id when known, and why."""

    index: int
    message_id: str | None
    reason: str
    payload: bytes = b""

    def to_dict(self) -> dict[str, Any]:
        return {"index": self.index, "messageId": self.message_id, "reason": self.reason}


@dataclass
class Decoded:
    """A request body, decoded: the valid events, the rejections, or a fatal problem."""

    write_key: str | None = None
    events: list[Event] = field(default_factory=list)
    rejections: list[Rejection] = field(default_factory=list)
    fatal: str | None = None  # the body as a whole is unusable (invalid JSON, not an object)

    @property
    def total(self) -> int:
        return len(self.events) + len(self.rejections)


def check(ev: Event, endpoint: str) -> str | None:
    """Semantic checks on a decoded event; returns the reason it is invalid, or None."""
    if endpoint != "batch":
        if ev.type is None:
            ev.type = endpoint
        elif ev.type != endpoint:
            return f"type {ev.type!r} sent to /v1/{endpoint}"
    typ = ev.type
    if typ is None:
        return "type is required"
    if typ not in EVENT_TYPES:
        return f"unknown type {typ[:40]!r}: one of {', '.join(sorted(EVENT_TYPES))}"
    if not ev.messageId:
        return "messageId is required"
    uid = ev.userId
    if (uid is None or uid == "") and (ev.anonymousId is None or ev.anonymousId == ""):
        return "userId or anonymousId is required"
    if typ != "track":
        if typ == "group" and ev.groupId in (None, ""):
            return "groupId is required for group"
        if typ == "alias" and (ev.previousId in (None, "") or uid in (None, "")):
            return "previousId and userId are required for alias"
    elif not ev.event:
        return "event is required for track"
    ts = ev.timestamp
    if ts is not None:
        if ts.tzinfo is None:
            ts = ev.timestamp = ts.replace(tzinfo=_UTC)
        if not _MIN_TS <= ts < _MAX_TS:
            return "timestamp out of range (1970-2100)"
    for name, raw in (("properties", ev.properties), ("traits", ev.traits), ("context", ev.context)):
        if raw and memoryview(raw)[:1] != b"{" and bytes(raw) != b"null":
            return f"{name} must be a JSON object"
    return None


def _message_id_of(raw: bytes) -> str | None:
    try:
        value = msgspec.json.decode(raw)
    except msgspec.DecodeError:
        return None
    mid = value.get("messageId") if isinstance(value, dict) else None
    return mid[:MAX_ID_CHARS] if isinstance(mid, str) else None


def _reason(exc: Exception) -> str:
    text = str(exc)
    return text.replace("$.", "") if text else "invalid event"


def decode(body: bytes, endpoint: str, max_event_bytes: int = 32 * 1024, keep_payloads: bool = False) -> Decoded:
    """Decode and validate a request body sent to ``/v1/<endpoint>``.

    Args:
        body: the (decompressed) JSON body.
        endpoint: ``batch`` or an event type (``track``, ``identify``, …).
        max_event_bytes: the per-event size limit.
        keep_payloads: keep each rejected event's raw JSON (the loader quarantines it).
    """
    out = Decoded()
    try:
        body.decode("utf-8")
    except UnicodeDecodeError as exc:
        out.fatal = f"body is not UTF-8 (byte {exc.start})"
        return out
    if endpoint != "batch":
        try:
            ev = _event_dec.decode(body)
        except msgspec.ValidationError as exc:
            out.write_key = _write_key_of(body)
            out.rejections.append(Rejection(0, _message_id_of(body), _reason(exc), body if keep_payloads else b""))
            return out
        except (msgspec.DecodeError, UnicodeDecodeError) as exc:
            out.fatal = f"invalid JSON: {exc}"
            return out
        out.write_key = ev.writeKey
        if len(body) > max_event_bytes:
            problem: str | None = f"event larger than {max_event_bytes} bytes"
        else:
            problem = check(ev, endpoint)
        if problem is None:
            out.events.append(ev)
        else:
            out.rejections.append(Rejection(0, ev.messageId if isinstance(ev.messageId, str) else None,
                                            problem, body if keep_payloads else b""))
        return out

    if len(body) <= max_event_bytes:  # no event can be over the limit: one decode
        try:
            batch = _batch_dec.decode(body)
        except (msgspec.DecodeError, UnicodeDecodeError):
            pass  # find out below which event is wrong, and why
        else:
            out.write_key = batch.writeKey
            for i, ev in enumerate(batch.batch):
                problem = check(ev, "batch")
                if problem is None:
                    out.events.append(ev)
                elif keep_payloads:  # the rejected events' own JSON is needed: per event
                    out = Decoded()
                    break
                else:
                    out.rejections.append(Rejection(i, ev.messageId, problem))
            else:
                return out
    try:
        raw_batch = _raw_batch_dec.decode(body)
    except msgspec.ValidationError as exc:
        out.write_key = _write_key_of(body)
        out.fatal = f"not a batch: {_reason(exc)}"
        return out
    except (msgspec.DecodeError, UnicodeDecodeError) as exc:
        out.fatal = f"invalid JSON: {exc}"
        return out
    out.write_key = raw_batch.writeKey
    for i, raw in enumerate(raw_batch.batch):
        if len(raw) > max_event_bytes:
            problem = f"event larger than {max_event_bytes} bytes"
            mid = _message_id_of(raw)
        else:
            try:
                ev = _event_dec.decode(raw)
            except (msgspec.DecodeError, UnicodeDecodeError) as exc:
                problem, mid = _reason(exc), _message_id_of(raw)
            else:
                problem, mid = check(ev, "batch"), ev.messageId
        if problem is None:
            out.events.append(ev)
        else:
            out.rejections.append(Rejection(i, mid, problem, bytes(raw) if keep_payloads else b""))
    return out


@dataclass
class Verdict:
    """What the collector answers for a body: accepted events, rejections, fatal."""

    write_key: str | None = None
    accepted: int = 0
    rejections: list[Rejection] = field(default_factory=list)
    fatal: str | None = None

    @property
    def total(self) -> int:
        return self.accepted + len(self.rejections)


def validate(body: bytes, endpoint: str, max_event_bytes: int = 32 * 1024) -> Verdict:
    """The verdict :func:`decode` would give ``body``, without building the events.

    A batch whose events are all valid is checked by msgspec in one pass (plus the
    cross-field rules: an id, a timestamp in range); anything else goes through
    :func:`decode`, so every rejection carries its usual reason.
    """
    if endpoint == "batch":
        try:
            if len(body) > max_event_bytes:  # then one event might be over the limit
                raws = _raw_batch_dec.decode(body).batch
                if any(len(r) > max_event_bytes for r in raws):
                    raise ValueError
            strict = _strict_batch_dec.decode(body)
            _check_utf8(body)
        except (ValueError, msgspec.DecodeError):  # ValidationError is a DecodeError
            pass
        else:
            if _all_fine(strict.batch):
                return Verdict(strict.writeKey, len(strict.batch))
    elif len(body) <= max_event_bytes and (dec := _strict_single_dec.get(endpoint)) is not None:
        try:
            single = dec.decode(body)
            _check_utf8(body)
        except (ValueError, msgspec.DecodeError):
            pass
        else:
            if _all_fine((single,)):
                return Verdict(single.writeKey, 1)
    d = decode(body, endpoint, max_event_bytes)
    return Verdict(d.write_key, len(d.events), d.rejections, d.fatal)


def _check_utf8(body: bytes) -> None:
    """msgspec accepts invalid UTF-8 inside strings; raises UnicodeDecodeError (a
    ValueError). ASCII, the usual case, is checked without making a string."""
    if not body.isascii():
        body.decode("utf-8")


def _all_fine(events: Iterable[_Strict]) -> bool:
    """The rules msgspec types cannot state: an id of either kind, a timestamp in range
    (its time zone is a msgspec constraint). One loop, no call per event."""
    lo, hi = _MIN_TS, _MAX_TS
    for ev in events:
        uid = ev.userId
        if (uid is None or uid == "") and ((aid := ev.anonymousId) is None or aid == ""):
            return False
        ts = ev.timestamp
        if ts is not None and not lo <= ts < hi:
            return False
    return True


def _write_key_of(body: bytes) -> str | None:
    try:
        return _key_dec.decode(body).writeKey
    except (msgspec.DecodeError, UnicodeDecodeError):
        return None


def channel_of(ev: Event, default: str | None) -> str:
    """The event's channel: ``context.channel`` if set, else the write key's channel,
    else ``app`` for screen calls and ``web`` for the rest."""
    if ev.context and b'"channel"' in bytes(ev.context):
        try:
            ch = _context_dec.decode(ev.context).channel
        except (msgspec.DecodeError, UnicodeDecodeError):
            ch = None
        if ch:
            return ch[:64]
    if default:
        return default
    return "app" if ev.type == "screen" else "web"


def event_name(ev: Event) -> str | None:
    """The ``event`` column: track's event name, page/screen's name, else the type."""
    if ev.type == "track":
        return ev.event
    if ev.type in ("page", "screen"):
        return ev.name
    return ev.type
