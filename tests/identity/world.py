"""A small identity world with known persons, built through ws.write like real data."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator
from itertools import count

import pyarrow as pa

T0 = dt.datetime(2025, 3, 1, 9, 0, tzinfo=dt.UTC)
_ids: Iterator[int] = count()


def event(
    *, type: str = "track", user_id: str | None = None, anonymous_id: str | None = None,
    previous_id: str | None = None, traits: dict | None = None, channel: str = "web",
    event_name: str | None = None, minutes: int = 0, context: dict | None = None,
) -> dict:
    ts = T0 + dt.timedelta(minutes=minutes)
    return {
        "message_id": f"m{next(_ids):06d}",
        "tenant": "energie",
        "type": type,
        "event": event_name or type,
        "channel": channel,
        "user_id": user_id,
        "anonymous_id": anonymous_id,
        "previous_id": previous_id,
        "group_id": None,
        "timestamp": ts,
        "received_at": ts,
        "properties": None,
        "traits": json.dumps(traits) if traits else None,
        "context": json.dumps(context) if context else None,
    }


def events_table(rows: list[dict]) -> pa.Table:
    return pa.Table.from_pylist(rows)


#: person -> identifiers (id_type, value) that must end in one profile
PERSONS = {
    "anne": [("user_id", "C001"), ("anonymous_id", "a-anne-1"),
             ("email", "anne@example.org"), ("customer_number", "C001")],
    "bruno": [("user_id", "C002"), ("anonymous_id", "a-bruno-1"), ("email", "bruno@example.org"),
              ("customer_number", "C002"), ("phone", "+33 6 11 22 33 44")],
    "chloe": [("user_id", "C003"), ("anonymous_id", "a-chloe-1"), ("customer_number", "C003")],
    "david": [("user_id", "C004"), ("anonymous_id", "a-david-1"), ("customer_number", "C004")],
}
#: identifiers that several persons share: must not merge them
SHARED = [("anonymous_id", "a-household-tablet"), ("email", "contact@family.example")]


def base_events() -> list[dict]:
    return [
        event(anonymous_id="a-anne-1", event_name="page_viewed", minutes=1),
        event(type="identify", user_id="C001", anonymous_id="a-anne-1",
              traits={"email": "anne@example.org", "firstName": "Anne"}, minutes=2),
        event(user_id="C001", anonymous_id="a-anne-1", event_name="invoice_viewed", minutes=3),
        event(anonymous_id="a-anne-2", channel="app", event_name="screen_viewed", minutes=4),
        event(anonymous_id="a-bruno-1", event_name="page_viewed", minutes=5),
        event(type="identify", user_id="C002", anonymous_id="a-bruno-1",
              traits={"email": "bruno@example.org", "phone": "+33 6 11 22 33 44"}, minutes=6),
        event(type="identify", user_id="C003", anonymous_id="a-chloe-1", minutes=7),
        event(type="identify", user_id="C004", anonymous_id="a-david-1",
              traits={"email": "contact@family.example"}, minutes=8),
        event(type="identify", user_id="C003", traits={"email": "contact@family.example"}, minutes=9),
        # the household tablet: Anne and Bruno both log in on it
        event(user_id="C001", anonymous_id="a-household-tablet", minutes=10),
        event(user_id="C002", anonymous_id="a-household-tablet", minutes=11),
        event(anonymous_id="a-household-tablet", event_name="page_viewed", minutes=12),
    ]


def customers_table() -> pa.Table:
    rows = [
        {"customer_number": "C001", "first_name": "Anne", "last_name": "Martin",
         "email": "anne@example.org", "phone": None, "segment": "residential"},
        {"customer_number": "C002", "first_name": "Bruno", "last_name": "Petit",
         "email": "bruno@example.org", "phone": "+33 6 11 22 33 44", "segment": "residential"},
        {"customer_number": "C003", "first_name": "Chloé", "last_name": "Roux",
         "email": None, "phone": None, "segment": "residential"},
        {"customer_number": "C004", "first_name": "David", "last_name": "Roux",
         "email": None, "phone": None, "segment": "residential"},
    ]
    return pa.Table.from_pylist(rows)


def build(ws) -> None:
    ws.write("energie", "events", events_table(base_events()))
    ws.write("energie", "customers", customers_table())
