"""A small world with exactly known figures, for the pages' data functions."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pyarrow as pa
import pytest

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def events_table(rows: list[dict]) -> pa.Table:
    base = {
        "tenant": "energie", "type": "track", "user_id": None, "anonymous_id": None,
        "previous_id": None, "group_id": None, "properties": "{}", "traits": None, "context": None,
    }
    full = [{**base, **r} for r in rows]
    for r in full:
        r.setdefault("received_at", r["timestamp"])
    return pa.Table.from_pylist(full)


@pytest.fixture()
def small_world(workspace):
    """energie: 3 customers, 9 events on 3 channels over 3 days (2 of customer C1 on web
    day 1 …), 2 quarantined rows with the same reason."""
    ws = workspace
    rows = []
    plan = [  # (customer, channel, day offset, event)
        ("C1", "web", 0, "page_view"), ("C1", "web", 0, "quote"), ("C1", "call_center", 1, "call"),
        ("C2", "web", 1, "page_view"), ("C2", "app", 1, "login"), ("C2", "app", 2, "login"),
        ("C3", "web", 2, "page_view"), ("C3", "call_center", 2, "call"), ("C3", "web", 2, "subscribe"),
    ]
    for i, (cust, channel, day, event) in enumerate(plan):
        rows.append({"message_id": f"m{i}", "channel": channel, "user_id": cust, "event": event,
                     "timestamp": T0 + timedelta(days=day, minutes=i),
                     "properties": json.dumps({"i": i})})
    ws.write("energie", "events", events_table(rows))
    ws.write("energie", "customers", pa.Table.from_pylist([
        {"customer_number": c, "first_name": "Ann", "last_name": f"Doe{c}", "email": f"{c}@x.example",
         "segment": "residential"} for c in ("C1", "C2", "C3")
    ]))
    ws.lake.append("energie", "raw", "quarantine", pa.Table.from_pylist([
        {"quarantine_id": f"q{i}", "received_at": T0, "source": "http", "target_table": "events",
         "reason": "missing timestamp", "payload": "{}"} for i in range(2)
    ]))
    return ws
