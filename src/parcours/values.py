"""Python values read from the lake, made JSON-safe: one rule for the CLI's ``--json``,
the REST API, the SQL entry point, GDPR exports and analysis results."""

from __future__ import annotations

import datetime as dt
import math
from typing import Any


def jsonable(value: Any) -> Any:
    """``value`` with dates and times as ISO 8601 text, durations as seconds, bytes as
    hex, NaN and infinities as null (JSON has neither); dicts and lists converted
    throughout (keys as text)."""
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [jsonable(v) for v in value]
    if isinstance(value, float):
        return None if math.isnan(value) or math.isinf(value) else value
    if isinstance(value, dt.datetime | dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, dt.timedelta):
        return value.total_seconds()
    if isinstance(value, bytes):
        return value.hex()
    return value
