"""Cross-channel journeys: channel-to-channel transitions, and what precedes a call.

* :func:`channels` counts, over each profile's consecutive events, the moves from one
  channel to the next (staying on a channel counts too: ``web → web``).
* :func:`before_call` answers "what failed before a call": for each call-center call,
  the digital steps (web and app events) of the ``days`` days before it, per call
  reason (the call's ``properties.reason``).

A profile's events are ordered by time, then channel and event, so simultaneous events
come out in the same order on every engine. Identity calls (``identify``, ``alias``,
``group``) are bookkeeping, not steps: :func:`before_call` leaves them out of the
digital steps and of the choice of the default call event; :func:`channels` keeps
every event (the table is about where events happen).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import ibis
import pyarrow as pa

from parcours.journeys.base import JourneyResult, check_events, check_int
from parcours.journeys.errors import JourneysError

if TYPE_CHECKING:
    from collections.abc import Sequence

    import ibis.expr.types as ir

#: The channel of call-center calls.
CALL_CHANNEL = "call_center"
#: The channels whose events are digital steps.
DIGITAL_CHANNELS = ("web", "app")
#: Segment calls that tie identifiers together rather than record something done.
IDENTITY_TYPES = ("identify", "alias", "group")
#: The channel (or reason) of an event that has none.
NONE = "(none)"
MAX_DAYS = 366
MAX_TOP = 100

# ``"reason": "…"`` as a key of the properties object; a regular expression rather than
# a JSON function because Ibis' JSON access on PySpark runs a Python UDF.
_REASON = r'[{,]\s*"reason"\s*:\s*"((?:[^"\\]|\\.)*)"'


def channels(events: ir.Table) -> JourneyResult:
    """Transitions between the channels of each profile's consecutive events.

    Returns:
        Rows ``from_channel``, ``to_channel``, ``transitions`` and ``share_of_from``
        (``transitions`` over every transition out of ``from_channel``), by
        ``from_channel`` then most transitions first. Events without a channel count
        as channel ``"(none)"``. ``extra``: ``channels`` (sorted) and ``transitions``.

    Example:
        >>> channels(events).to_pandas().head(2)                           # doctest: +SKIP
          from_channel to_channel  transitions  share_of_from
        0          app        app         2741       0.612
        1          app        web          918       0.205
    """
    t = check_events(events)
    t = t.mutate(channel=t.channel.fill_null(NONE))
    w = ibis.window(group_by=t.profile_id, order_by=[t.ts, t.channel, t.event])
    x = t.select(from_channel=t.channel.lag().over(w), to_channel=t.channel)
    x = x.filter(x.from_channel.notnull())
    agg = x.group_by(["from_channel", "to_channel"]).agg(transitions=x.count())
    agg = agg.mutate(share_of_from=agg.transitions.cast("float64")
                     / agg.transitions.sum().over(group_by=agg.from_channel))
    table = agg.order_by(
        [agg.from_channel, ibis.desc(agg.transitions), agg.to_channel]
    ).to_pyarrow()
    names = sorted(set(table["from_channel"].to_pylist()) | set(table["to_channel"].to_pylist()))
    total = sum(table["transitions"].to_pylist())
    extra: dict[str, Any] = {"channels": names, "transitions": total}
    if not total:
        extra["message"] = "no profile has two events"
    return JourneyResult("channels", {}, table, extra)


def before_call(
    events: ir.Table,
    *,
    call_event: str | None = None,
    days: int = 7,
    top: int = 10,
    call_channel: str = CALL_CHANNEL,
    digital_channels: Sequence[str] = DIGITAL_CHANNELS,
) -> JourneyResult:
    """The digital steps most often seen in the ``days`` before a call, per call reason.

    Every call counts (a profile calling twice has two windows). A call is an event of
    ``call_channel`` named ``call_event`` — by default that channel's most frequent
    event other than identity calls. Its window is ``[call − days, call)``; its reason
    is ``properties.reason`` (``"(none)"`` when absent). Steps are the event names of
    ``digital_channels`` (identity calls left out).

    Returns:
        Rows ``reason``, ``step``, ``calls`` (calls whose window holds the step at least
        once), ``share`` (of the reason's calls), ``calls_with_reason``; the ``top``
        steps per reason by calls, most frequent reasons first. ``extra``:
        ``call_event``, ``calls`` and ``reasons`` (``{"reason", "calls"}`` for every
        reason, with digital steps or not). No calls: no rows and ``extra["message"]``.

    Example:
        >>> before_call(events, days=7, top=3).to_pandas().head(1)       # doctest: +SKIP
          reason                step  calls  share  calls_with_reason
        0 outage  payment_page_error     49  0.236                208
    """
    check_int(days, "days", 1, MAX_DAYS)
    check_int(top, "top", 1, MAX_TOP)
    digital = [digital_channels] if isinstance(digital_channels, str) else list(digital_channels)
    if not digital:
        raise JourneysError("digital_channels is empty: name at least one channel",
                            parameter="digital_channels")
    t = check_events(events)
    steps_of = t.filter(t.channel.isin(digital))
    calls_of = t.filter(t.channel == call_channel)
    if "type" in t.columns:
        steps_of = steps_of.filter(steps_of.type.isnull() | ~steps_of.type.isin(IDENTITY_TYPES))
        calls_of = calls_of.filter(calls_of.type.isnull() | ~calls_of.type.isin(IDENTITY_TYPES))
    params: dict[str, Any] = {"call_event": call_event, "days": days, "top": top,
                              "call_channel": call_channel, "digital_channels": digital}

    if call_event is None:
        named = calls_of.filter(calls_of.event.notnull())
        freq = named.group_by("event").agg(_n=named.count())
        first = freq.order_by([ibis.desc(freq._n), freq.event]).limit(1).to_pyarrow()
        if not first.num_rows:
            return _empty(params, f"no {call_channel} events")
        call_event = str(first["event"][0])
        params["call_event"] = call_event

    calls = calls_of.filter(calls_of.event == call_event)
    found = calls.properties.re_extract(_REASON, 1) if "properties" in t.columns else None
    reason = (ibis.literal(NONE) if found is None
              else ibis.ifelse(found.isnull() | (found == ""), NONE, found.replace('\\"', '"')))
    calls = calls.select("profile_id", "ts", reason=reason)
    calls = calls.mutate(_call=ibis.row_number().over(
        group_by=calls.profile_id, order_by=[calls.ts, calls.reason]))
    per_reason = calls.group_by("reason").agg(_n=calls.count())
    per_reason = per_reason.order_by([ibis.desc(per_reason._n), per_reason.reason]).to_pyarrow()
    reasons = [{"reason": r["reason"], "calls": int(r["_n"])} for r in per_reason.to_pylist()]
    n_calls = sum(r["calls"] for r in reasons)
    if not n_calls:
        return _empty(params, f"no {call_event!r} events on channel {call_channel}")

    s = steps_of.select(_p=steps_of.profile_id, _ts=steps_of.ts, step=steps_of.event)
    held = calls.join(s, [calls.profile_id == s._p, s._ts < calls.ts,
                          s._ts >= calls.ts - ibis.interval(days=days)])
    held = held.select("reason", "profile_id", "_call", "step").distinct()
    agg = held.group_by(["reason", "step"]).agg(calls=held.count())
    agg = agg.mutate(_rk=ibis.row_number().over(group_by=agg.reason,
                                                order_by=[ibis.desc(agg.calls), agg.step]))
    got = agg.filter(agg._rk < top).select("reason", "step", "calls").to_pyarrow().to_pylist()

    size = {r["reason"]: r["calls"] for r in reasons}
    got.sort(key=lambda r: (-size[r["reason"]], r["reason"], -r["calls"], r["step"]))
    table = pa.table({
        "reason": pa.array([r["reason"] for r in got], pa.string()),
        "step": pa.array([r["step"] for r in got], pa.string()),
        "calls": pa.array([r["calls"] for r in got], pa.int64()),
        "share": pa.array([r["calls"] / size[r["reason"]] for r in got], pa.float64()),
        "calls_with_reason": pa.array([size[r["reason"]] for r in got], pa.int64()),
    })
    return JourneyResult("before_call", params, table,
                         {"call_event": call_event, "calls": n_calls, "reasons": reasons})


def _empty(params: dict[str, Any], message: str) -> JourneyResult:
    table = pa.table({
        "reason": pa.array([], pa.string()), "step": pa.array([], pa.string()),
        "calls": pa.array([], pa.int64()), "share": pa.array([], pa.float64()),
        "calls_with_reason": pa.array([], pa.int64()),
    })
    extra = {"call_event": params["call_event"], "calls": 0, "reasons": [], "message": message}
    return JourneyResult("before_call", params, table, extra)
